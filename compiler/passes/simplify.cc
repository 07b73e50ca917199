// simplify: algebraic identities that remove nodes without changing any value:
// x+0, 0+x, x-0, x*1, 1*x, x/1, Identity, inference Dropout, Cast to the same
// type, and chains of Reshape/Flatten/Squeeze/Unsqueeze (collapsed into one
// Reshape, or removed when they restore the input's shape); and a ReduceMean over the
// spatial axes of a 4-D tensor becomes GlobalAveragePool, the same value. A rewrite applies
// only when the result has the replaced value's exact type (broadcasting x+0
// may not), and graph outputs keep their names.
#include <algorithm>

#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

// A constant of the identity element `x` that is not a trainable parameter: a
// parameter's value is the model's initialization (zero biases), not its structure.
bool IsIdentityConstant(const Value* v, double x) { return !v->is_parameter() && IsConstantFilledWith(v, x); }

// The operand a node passes through unchanged, or null.
Value* PassThroughOperand(const Graph& graph, const Node& node) {
  const std::string& op = node.op_type();
  Value* a = node.input(0);
  Value* b = node.input(1);
  if (op == "Identity") return a;
  if (op == "Cast") return a && a->has_type() && node.attrs().GetInt("to", -1) == a->dtype() ? a : nullptr;
  if (op == "Dropout") {
    // Inference Dropout is the identity unless training_mode is (or may be) true.
    Value* training = node.input(2);
    if (training && !IsConstantFilledWith(training, 0)) return nullptr;
    if (node.num_outputs() > 1 && graph.NumUses(node.output(1)) > 0) return nullptr;  // the mask is used
    return a;
  }
  if (!a || !b) return nullptr;
  if (op == "Add") return IsIdentityConstant(b, 0) ? a : IsIdentityConstant(a, 0) ? b : nullptr;
  if (op == "Mul") return IsIdentityConstant(b, 1) ? a : IsIdentityConstant(a, 1) ? b : nullptr;
  if (op == "Sub") return IsIdentityConstant(b, 0) ? a : nullptr;
  if (op == "Div") return IsIdentityConstant(b, 1) ? a : nullptr;
  return nullptr;
}

// ReduceMean over the spatial axes of a 4-D float tensor (how PyTorch's x.mean([2, 3]) and
// Keras-style global pooling export) is GlobalAveragePool, which has oneDNN kernels that
// take layout regions; a keepdims=0 result becomes a Reshape of it. Returns whether it
// rewrote `node`.
bool SpatialMeanAsGlobalAveragePool(Graph& graph, Node* node) {
  if (node->op_type() != "ReduceMean") return false;
  Value* x = node->input(0);
  if (!x || !x->has_type() || x->dtype() != proto::DT_FLOAT || x->dims().size() != 4) return false;
  auto axes = ReductionAxes(*node);
  if (!axes) return false;
  for (int64_t& a : *axes) a = a < 0 ? a + 4 : a;
  std::sort(axes->begin(), axes->end());
  if (*axes != std::vector<int64_t>{2, 3}) return false;
  const Dims& d = x->dims();
  Node* gap = graph.InsertNodeBefore(node, "GlobalAveragePool", node->name() + "/GlobalAveragePool", {x});
  gap->output(0)->set_type({proto::DT_FLOAT, {d[0], d[1], 1, 1}});
  if (!ReplaceWithReshapeOf(graph, node, gap->output(0))) {
    graph.RemoveNode(gap);
    return false;
  }
  return true;
}

class SimplifyPass : public Pass {
 public:
  std::string name() const override { return "simplify"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions&) override {
    bool changed = false;
    for (Node* node : graph.NodeList()) {
      if (IsReshapeLike(*node)) {
        changed = CollapseReshapeChain(graph, node) || changed;
        continue;
      }
      if (SpatialMeanAsGlobalAveragePool(graph, node)) {
        changed = true;
        continue;
      }
      Value* through = PassThroughOperand(graph, *node);
      Value* out = node->output(0);
      if (through && through->type() == out->type() && graph.NumUses(out) > 0) {
        changed = ReplaceValue(graph, out, through) || changed;
      }
    }
    if (changed) RemoveUnusedNodes(graph);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateSimplifyPass() { return std::make_unique<SimplifyPass>(); }

}  // namespace kiln
