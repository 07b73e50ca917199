#include "ir/gradient.h"

#include <algorithm>

namespace kiln {

GradientFn FindGradient(OpKind kind) {
  static const GradientRules* rules = [] {
    auto* r = new GradientRules();
    RegisterElementwiseGradients(*r);
    RegisterNnGradients(*r);
    RegisterShapeGradients(*r);
    RegisterRecurrentGradients(*r);
    RegisterLossGradients(*r);
    RegisterArrayGradients(*r);
    RegisterEinsumGradients(*r);
    return r;
  }();
  return rules->Find(kind);
}

StatusOr<std::vector<Value*>> GradientContext::Emit(const std::string& op_type, const std::vector<Value*>& inputs,
                                                    Attrs attrs, int num_outputs) {
  Node* n = graph.AddNode(op_type, node.name() + "/grad/" + op_type, inputs, num_outputs, std::move(attrs));
  auto types = InferNodeTypes(*n);
  if (!types.ok()) return types.status().WithContext("gradient of " + node.Label());
  for (int i = 0; i < num_outputs; ++i) n->output(i)->set_type((*types)[i]);
  return n->outputs();
}

StatusOr<Value*> GradientContext::ForwardOutput(int i) {
  if (i < node.num_outputs()) return node.output(i);
  Node* forward = graph.FindNode(node.name());
  if (forward != &node) return Internal(node.Label(), ": not a node of the graph being differentiated");
  graph.ExtendOutputs(forward, i + 1);
  auto types = InferNodeTypes(*forward);
  if (!types.ok()) return types.status().WithContext("gradient of " + node.Label());
  for (int o = 0; o < forward->num_outputs(); ++o) {
    if (!forward->output(o)->has_type()) forward->output(o)->set_type((*types)[o]);
  }
  if (!forward->output(i)->has_type()) return Internal(node.Label(), ": the op does not define output ", i);
  return forward->output(i);
}

StatusOr<Value*> GradientContext::Emit1(const std::string& op_type, const std::vector<Value*>& inputs, Attrs attrs) {
  ASSIGN_OR_RETURN(std::vector<Value*> outs, Emit(op_type, inputs, std::move(attrs), 1));
  return outs[0];
}

StatusOr<Value*> GradientContext::ReduceTo(Value* g, const Dims& target) {
  const Dims& dims = g->dims();
  if (dims == target) return g;
  const int lead = static_cast<int>(dims.size()) - static_cast<int>(target.size());
  if (lead < 0)
    return Internal(node.Label(), ": gradient ", DimsToString(dims), " has fewer dims than ", DimsToString(target));
  std::vector<int64_t> axes;
  for (int i = 0; i < static_cast<int>(dims.size()); ++i) {
    if (i < lead || (target[i - lead] == 1 && dims[i] != 1)) axes.push_back(i);
  }
  Value* reduced = g;
  if (!axes.empty()) {
    Attrs a;
    a.SetInt("keepdims", 1);
    ASSIGN_OR_RETURN(reduced, Emit1("ReduceSum", {g, Ints(axes)}, a));
  }
  return ReshapeTo(reduced, target);
}

StatusOr<Value*> GradientContext::ReshapeTo(Value* g, const Dims& dims) {
  if (g->dims() == dims) return g;
  return Emit1("Reshape", {g, Ints(std::vector<int64_t>(dims.begin(), dims.end()))});
}

Value* GradientContext::Scalar(double v, DType dtype) {
  Tensor t(dtype, {});
  if (dtype == proto::DT_DOUBLE) {
    *t.mutable_data_as<double>() = v;
  } else {
    *t.mutable_data_as<float>() = static_cast<float>(v);
  }
  return graph.AddConstant(node.name() + "/grad/const", std::move(t));
}

Value* GradientContext::Ints(const std::vector<int64_t>& values) {
  return graph.AddConstant(node.name() + "/grad/ints",
                           Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(values.size())}, values));
}

}  // namespace kiln
