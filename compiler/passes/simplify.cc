// simplify: algebraic identities that remove nodes without changing any value:
// x+0, 0+x, x-0, x*1, 1*x, x/1, Identity, inference Dropout, Cast to the same
// type, and chains of Reshape/Flatten/Squeeze/Unsqueeze (collapsed into one
// Reshape, or removed when they restore the input's shape). A rewrite applies
// only when the result has the replaced value's exact type (broadcasting x+0
// may not), and graph outputs keep their names.
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
