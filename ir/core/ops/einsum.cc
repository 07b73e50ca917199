// Einsum: the equation's parser and resolution (einsum.h) and the op's registration.
#include "ir/core/ops/einsum.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln::einsum {
namespace {

constexpr int kEllipsis = -1;  // a term's "..." before expansion

std::string Trim(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

// A term's labels: letters as themselves, "..." as kEllipsis (at most once).
StatusOr<std::vector<int>> ParseTerm(const std::string& term) {
  std::vector<int> labels;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term.compare(i, 3, "...") == 0) {
      if (ellipsis) return InvalidArgument("term '", term, "' has two ellipses");
      ellipsis = true;
      labels.push_back(kEllipsis);
      i += 2;
    } else if (std::isalpha(static_cast<unsigned char>(term[i]))) {
      labels.push_back(term[i]);
    } else {
      return InvalidArgument("unexpected character '", term.substr(i, 1), "' in term '", term, "'");
    }
  }
  return labels;
}

}  // namespace

StatusOr<Plan> Resolve(const std::string& equation_in, const std::vector<Dims>& dims) {
  const std::string equation = Trim(equation_in);
  const size_t arrow = equation.find("->");
  const std::string lhs = equation.substr(0, arrow);
  std::vector<std::vector<int>> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    ASSIGN_OR_RETURN(std::vector<int> term, ParseTerm(lhs.substr(start, comma - start)));
    terms.push_back(std::move(term));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != dims.size()) {
    return InvalidArgument("equation '", equation_in, "' has ", terms.size(), " operands but the node has ",
                           dims.size(), " inputs");
  }
  // Ellipsis dims: right-aligned across operands, broadcasting (1 against n).
  int64_t ellipsis_rank = 0;
  std::vector<int64_t> ellipsis_sizes;
  for (size_t t = 0; t < terms.size(); ++t) {
    const int64_t letters = std::count_if(terms[t].begin(), terms[t].end(), [](int l) { return l != kEllipsis; });
    const bool has_ellipsis = letters != static_cast<int64_t>(terms[t].size());
    const int64_t rank = static_cast<int64_t>(dims[t].size());
    if (has_ellipsis ? rank < letters : rank != letters) {
      return InvalidArgument("operand ", t, " has shape ", DimsToString(dims[t]), " but its term has ", letters,
                             " letters", has_ellipsis ? " and an ellipsis" : "");
    }
    if (has_ellipsis) ellipsis_rank = std::max(ellipsis_rank, rank - letters);
  }
  ellipsis_sizes.assign(ellipsis_rank, 1);
  std::map<int, int64_t> letter_size;
  std::map<int, int> letter_count;
  for (size_t t = 0; t < terms.size(); ++t) {
    const int64_t rank = static_cast<int64_t>(dims[t].size());
    const int64_t covered = rank - static_cast<int64_t>(terms[t].size()) + 1;  // dims under the ellipsis
    int64_t d = 0;
    for (int label : terms[t]) {
      if (label == kEllipsis) {
        for (int64_t e = 0; e < covered; ++e, ++d) {
          int64_t& size = ellipsis_sizes[ellipsis_rank - covered + e];
          if (size != 1 && dims[t][d] != 1 && dims[t][d] != size) {
            return InvalidArgument("the ellipsis dims of operand ", t, " (", DimsToString(dims[t]),
                                   ") do not broadcast with the others'");
          }
          if (dims[t][d] != 1) size = dims[t][d];
        }
        continue;
      }
      auto [it, fresh] = letter_size.emplace(label, dims[t][d]);
      if (!fresh && it->second != dims[t][d]) {
        return InvalidArgument("index '", static_cast<char>(label), "' has sizes ", it->second, " and ", dims[t][d]);
      }
      ++letter_count[label];
      ++d;
    }
  }
  // The output's labels: explicit, or (implicit form) the ellipsis then the letters seen once, sorted.
  std::vector<int> output;
  if (arrow != std::string::npos) {
    ASSIGN_OR_RETURN(output, ParseTerm(equation.substr(arrow + 2)));
    std::vector<int> seen;
    for (int label : output) {
      if (std::count(seen.begin(), seen.end(), label)) return InvalidArgument("the output repeats an index");
      if (label != kEllipsis && !letter_size.count(label)) {
        return InvalidArgument("output index '", static_cast<char>(label), "' is not in any operand");
      }
      seen.push_back(label);
    }
    if (ellipsis_rank > 0 && !std::count(output.begin(), output.end(), kEllipsis)) {
      return InvalidArgument("the operands have an ellipsis but the output does not");
    }
  } else {
    if (ellipsis_rank > 0) output.push_back(kEllipsis);
    for (const auto& [label, count] : letter_count) {
      if (count == 1) output.push_back(label);
    }
  }
  // Index numbering: the output's dims first, then the summed letters.
  Plan plan;
  std::map<int, int> index_of;
  for (int label : output) {
    if (label == kEllipsis) {
      for (int64_t e = 0; e < ellipsis_rank; ++e) plan.sizes.push_back(ellipsis_sizes[e]);
      continue;
    }
    index_of[label] = static_cast<int>(plan.sizes.size());
    plan.sizes.push_back(letter_size[label]);
  }
  plan.num_output = static_cast<int>(plan.sizes.size());
  const int first_ellipsis = [&] {
    int i = 0;
    for (int label : output) {
      if (label == kEllipsis) return i;
      ++i;
    }
    return 0;
  }();
  for (const auto& [label, size] : letter_size) {
    if (!index_of.count(label)) {
      index_of[label] = static_cast<int>(plan.sizes.size());
      plan.sizes.push_back(size);
    }
  }
  for (size_t t = 0; t < terms.size(); ++t) {
    const int64_t covered = static_cast<int64_t>(dims[t].size()) - static_cast<int64_t>(terms[t].size()) + 1;
    std::vector<int> walk;
    for (int label : terms[t]) {
      if (label != kEllipsis) {
        walk.push_back(index_of[label]);
        continue;
      }
      for (int64_t e = 0; e < covered; ++e)
        walk.push_back(first_ellipsis + static_cast<int>(ellipsis_rank - covered + e));
    }
    plan.operand.push_back(std::move(walk));
  }
  plan.operand_dims = dims;
  return plan;
}

}  // namespace kiln::einsum

namespace kiln {
namespace {

// Einsum(Inputs...): one numeric dtype; the output's shape from the equation.
Status InferEinsum(InferContext& ctx) {
  std::vector<Dims> dims;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input ", i, " is missing");
    RETURN_IF_ERROR(ops::CheckDType(ctx, i, ops::TypeClass::kNumeric));
    RETURN_IF_ERROR(ops::CheckSameDType(ctx, i, 0));
    dims.push_back(ctx.input_dims(i));
  }
  ASSIGN_OR_RETURN_CTX(ctx, einsum::Plan plan, einsum::Resolve(ctx.attrs().GetString("equation", ""), dims));
  ctx.set_output(0, ctx.input_dtype(0), plan.output_dims());
  return Status::Ok();
}

}  // namespace

void RegisterEinsumOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kEinsum,
         .max_inputs = ops::kVariadic,
         .attrs = {{"equation", AttrType::kString, true}},
         .infer_shape = InferEinsum,
         .doc = "Einstein summation over the equation's indices ('ij,jk->ik', '...ii->...i', implicit 'ij,jk'): "
                "repeated indices take diagonals, indices missing from the output are summed"});
}

}  // namespace kiln
