#include "compiler/autodiff.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "ir/core/shape_util.h"
#include "ir/gradient.h"

namespace kiln {
namespace {

// Sums the gradient contributions of one value (a value used twice gets two).
StatusOr<Value*> Accumulate(Graph& graph, const Value* v, const std::vector<Value*>& parts) {
  if (parts.empty()) return static_cast<Value*>(nullptr);
  if (parts.size() == 1) return parts[0];
  Node* n = graph.AddNode("Sum", v->name() + "/grad/accumulate", parts);
  ASSIGN_OR_RETURN(std::vector<TensorType> types, InferNodeTypes(*n));
  n->output(0)->set_type(types[0]);
  return n->output(0);
}

}  // namespace

StatusOr<std::vector<Value*>> AppendGradients(Graph& graph, Value* loss, const std::vector<Value*>& wrt) {
  if (!loss || ElementCount(loss->dims()) != 1 || !IsFloatingType(loss->dtype())) {
    return InvalidArgument("autodiff: the loss must be a float scalar, got '", loss ? loss->name() : "null", "' ",
                           loss ? loss->type().ToString() : "");
  }
  const std::vector<Node*> forward = graph.NodeList();

  // Values that depend on a parameter, and nodes whose outputs reach the loss.
  std::unordered_set<const Value*> depends(wrt.begin(), wrt.end());
  for (Node* n : forward) {
    bool any = false;
    for (Value* in : n->inputs()) any = any || (in && depends.count(in));
    if (any) {
      for (Value* out : n->outputs()) depends.insert(out);
    }
  }
  std::unordered_set<const Value*> reaches = {loss};
  std::vector<Node*> relevant;
  for (auto it = forward.rbegin(); it != forward.rend(); ++it) {
    Node* n = *it;
    bool any = false;
    for (Value* out : n->outputs()) any = any || reaches.count(out);
    if (!any || !depends.count(n->output(0))) continue;
    relevant.push_back(n);  // reverse topological order
    for (Value* in : n->inputs()) {
      if (in) reaches.insert(in);
    }
  }

  std::vector<std::string> missing;
  for (Node* n : relevant) {
    if (!n->def() || !FindGradient(n->def()->kind)) missing.push_back(n->Label());
  }
  if (!missing.empty()) {
    std::reverse(missing.begin(), missing.end());
    std::string msg = "autodiff: no gradient rule for " + std::to_string(missing.size()) + " node(s) between the " +
                      "parameters and the loss: ";
    for (size_t i = 0; i < missing.size(); ++i) msg += (i ? ", " : "") + missing[i];
    return Unimplemented(msg);
  }

  std::unordered_map<const Value*, std::vector<Value*>> pending;
  {
    Tensor one(loss->dtype(), loss->dims());
    if (loss->dtype() == proto::DT_DOUBLE) {
      *one.mutable_data_as<double>() = 1.0;
    } else {
      *one.mutable_data_as<float>() = 1.0f;
    }
    pending[loss].push_back(graph.AddConstant(loss->name() + "/grad/seed", std::move(one)));
  }
  std::vector<std::string> errors;
  for (Node* n : relevant) {
    GradientContext ctx(graph, *n);
    bool any = false;
    for (Value* out : n->outputs()) {
      ASSIGN_OR_RETURN(Value * g, Accumulate(graph, out, pending[out]));
      pending.erase(out);
      ctx.output_grads.push_back(g);
      any = any || g;
    }
    if (!any) continue;
    for (Value* in : n->inputs()) ctx.wanted.push_back(in && depends.count(in) && IsFloatingType(in->dtype()));
    ctx.input_grads.assign(n->num_inputs(), nullptr);
    Status st = FindGradient(n->def()->kind)(ctx);
    if (!st.ok()) {
      errors.push_back(st.message());
      continue;
    }
    for (int i = 0; i < n->num_inputs(); ++i) {
      Value* g = ctx.input_grads[i];
      if (!g || !ctx.wanted[i]) continue;
      if (g->type() != n->input(i)->type()) {
        return Internal(n->Label(), ": the gradient rule gives input ", i, " a gradient of type ", g->type().ToString(),
                        " but the input is ", n->input(i)->type().ToString());
      }
      pending[n->input(i)].push_back(g);
    }
  }
  if (!errors.empty()) {
    std::string msg;
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "\n" : "") + errors[i];
    return Unimplemented(msg);
  }
  std::vector<Value*> result;
  for (Value* w : wrt) {
    ASSIGN_OR_RETURN(Value * g, Accumulate(graph, w, pending[w]));
    result.push_back(g);
  }
  return result;
}

std::vector<std::string> OpsWithGradientRules() {
  std::vector<std::string> names;
  for (const OpDef* def : AllOpDefs()) {
    if (FindGradient(def->kind)) names.push_back(def->name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace kiln
