// What a gradient rule sees and emits. Each differentiable op's rule (attached to
// its single registry entry) appends the nodes that compute the gradients of the
// op's inputs from the gradients of its outputs; autodiff (compiler/autodiff.h)
// calls the rules in reverse topological order and sums gradients of shared values.
#pragma once

#include <string>
#include <vector>

#include "ir/core/op_registry.h"
#include "ir/graph.h"

namespace kiln {

struct GradientContext {
  GradientContext(Graph& g, const Node& n) : graph(g), node(n) {}

  Graph& graph;
  const Node& node;
  /// dL/d(output i); null when output i does not reach the loss.
  std::vector<Value*> output_grads;
  /// Whether dL/d(input i) is wanted (it leads back to a parameter).
  std::vector<bool> wanted;
  /// Filled in by the rule: dL/d(input i), null for none. Same type as the input.
  std::vector<Value*> input_grads;

  Value* X(int i) const { return node.input(i); }
  Value* Y(int i = 0) const { return node.output(i); }
  /// dL/dY(i); rules may assume it is non-null for the outputs they differentiate.
  Value* dY(int i = 0) const { return output_grads[i]; }
  bool wants(int i) const { return i < static_cast<int>(wanted.size()) && wanted[i]; }
  void set_grad(int i, Value* g) { input_grads[i] = g; }

  /// Appends `op_type` (named "<node>/grad/<op>") with inferred output types.
  StatusOr<std::vector<Value*>> Emit(const std::string& op_type, const std::vector<Value*>& inputs, Attrs attrs = {},
                                     int num_outputs = 1);
  StatusOr<Value*> Emit1(const std::string& op_type, const std::vector<Value*>& inputs, Attrs attrs = {});
  /// Sums `g` over the axes numpy broadcasting expanded, so it has shape `target`.
  StatusOr<Value*> ReduceTo(Value* g, const Dims& target);
  /// Reshape of `g` to `dims` (no-op when it already has them).
  StatusOr<Value*> ReshapeTo(Value* g, const Dims& dims);
  /// The forward node's output `i`, added (typed by the op's shape inference) when the node
  /// lacks it: an optional output only the backward reads, such as LSTM's workspace.
  StatusOr<Value*> ForwardOutput(int i);
  /// A scalar constant of `dtype`, shape [].
  Value* Scalar(double v, DType dtype);
  /// An int64 1-D constant.
  Value* Ints(const std::vector<int64_t>& values);
  /// The error for an unsupported configuration of this node.
  template <typename... Args>
  Status Unsupported(const Args&... args) const {
    return Unimplemented(node.Label(), ": no gradient for ", args...);
  }
};

/// Gradient rules by op. Kept apart from the op registry: the registry (signatures,
/// shape inference) is shared with the runtime, which validates plans with it,
/// while the rules build graph nodes and live in the IR.
class GradientRules {
 public:
  void SetGradient(OpKind kind, GradientFn fn) { fns_[static_cast<int>(kind)] = fn; }
  GradientFn Find(OpKind kind) const { return fns_[static_cast<int>(kind)]; }

 private:
  GradientFn fns_[static_cast<int>(OpKind::kNumOps)] = {};
};
/// The rule of `kind`, or null when the op is not differentiable.
GradientFn FindGradient(OpKind kind);

/// Registers gradient rules (called once by FindGradient's table).
void RegisterElementwiseGradients(GradientRules& r);
void RegisterNnGradients(GradientRules& r);
void RegisterShapeGradients(GradientRules& r);
void RegisterRecurrentGradients(GradientRules& r);  // ir/gradients/recurrent_grad.cc
void RegisterLossGradients(GradientRules& r);       // ir/gradients/loss_grad.cc
void RegisterArrayGradients(GradientRules& r);      // ir/gradients/array_grad.cc
void RegisterEinsumGradients(GradientRules& r);     // ir/gradients/einsum_grad.cc

}  // namespace kiln
