// Einsum's gradient, itself an Einsum: dL/dX_t = einsum(dY, the other operands -> X_t's term).
// That holds when X_t's indices are distinct (no diagonal) and each also appears in the output
// or another operand (none summed inside X_t alone), without ellipses: matrix products, batched
// products, transposes, inner and outer products. Other equations report no gradient.
#include <cctype>
#include <set>

#include "ir/gradient.h"

namespace kiln {
namespace {

using Ctx = GradientContext;

// The equation's operand terms and its output term (the implicit output made explicit);
// false when it has an ellipsis or another character than letters, ',', '->' and spaces.
bool SplitEquation(const std::string& equation, std::vector<std::string>* terms, std::string* output) {
  std::string lhs, rhs;
  bool explicit_output = false;
  for (size_t i = 0; i < equation.size(); ++i) {
    const char ch = equation[i];
    if (ch == ' ') continue;
    if (ch == '-' && i + 1 < equation.size() && equation[i + 1] == '>' && !explicit_output) {
      explicit_output = true;
      ++i;
    } else if (std::isalpha(static_cast<unsigned char>(ch)) || (ch == ',' && !explicit_output)) {
      (explicit_output ? rhs : lhs) += ch;
    } else {
      return false;
    }
  }
  terms->assign(1, "");
  for (char ch : lhs) ch == ',' ? terms->push_back("") : terms->back().push_back(ch);
  if (explicit_output) {
    *output = rhs;
  } else {  // implicit: the letters seen once, sorted
    std::multiset<char> seen(lhs.begin(), lhs.end());
    output->clear();
    for (char ch : std::set<char>(lhs.begin(), lhs.end())) {
      if (ch != ',' && seen.count(ch) == 1) *output += ch;
    }
  }
  return true;
}

Status EinsumGrad(Ctx& c) {
  const std::string equation = c.node.attrs().GetString("equation", "");
  std::vector<std::string> terms;
  std::string output;
  if (!SplitEquation(equation, &terms, &output) || static_cast<int>(terms.size()) != c.node.num_inputs()) {
    return c.Unsupported("equation '", equation, "' (ellipses are not differentiated)");
  }
  for (int t = 0; t < c.node.num_inputs(); ++t) {
    if (!c.wants(t)) continue;
    std::set<char> elsewhere(output.begin(), output.end());
    for (int j = 0; j < c.node.num_inputs(); ++j) {
      if (j != t) elsewhere.insert(terms[j].begin(), terms[j].end());
    }
    const std::set<char> own(terms[t].begin(), terms[t].end());
    for (char ch : own) {
      if (own.size() != terms[t].size() || !elsewhere.count(ch)) {
        return c.Unsupported("operand ", t, " of equation '", equation,
                             "' (a repeated index, or one summed within the operand alone)");
      }
    }
    std::string grad_equation = output;
    std::vector<Value*> inputs = {c.dY()};
    for (int j = 0; j < c.node.num_inputs(); ++j) {
      if (j == t) continue;
      grad_equation += "," + terms[j];
      inputs.push_back(c.X(j));
    }
    Attrs attrs;
    attrs.SetString("equation", grad_equation + "->" + terms[t]);
    ASSIGN_OR_RETURN(Value * g, c.Emit1("Einsum", inputs, attrs));
    c.set_grad(t, g);
  }
  return Status::Ok();
}

}  // namespace

void RegisterEinsumGradients(GradientRules& r) { r.SetGradient(OpKind::kEinsum, EinsumGrad); }

}  // namespace kiln
