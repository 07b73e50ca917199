// expand-gradients: replaces each Gradient node (ONNX's ai.onnx.preview.training.Gradient:
// dy/dx for the node's inputs x, y a float scalar named by an attribute) by autodiff's
// backward graph of y, seeded with dy = 1. An x that y does not depend on gets zeros.
#include "compiler/autodiff.h"
#include "compiler/pass.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

class ExpandGradientsPass : public Pass {
 public:
  std::string name() const override { return "expand-gradients"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions&) override {
    bool changed = false;
    for (Node* node : graph.NodeList()) {
      if (node->op_type() != "Gradient") continue;
      const std::string y_name = node->attrs().GetString("y", "");
      Value* y = graph.FindValue(y_name);
      if (!y || !y->has_type()) return InvalidArgument(node->Label(), ": y '", y_name, "' is not a value of the graph");
      if (ElementCount(y->dims()) != 1 || !IsFloatingType(y->dtype())) {
        return Unimplemented(node->Label(), ": y '", y_name, "' must be a float scalar, got ", y->type().ToString());
      }
      for (Value* out : node->outputs()) {
        if (!graph.Users(out).empty()) {
          return Unimplemented(node->Label(), ": its outputs may only be graph outputs (", out->name(),
                               " feeds other nodes)");
        }
      }
      std::vector<Value*> xs(node->inputs().begin(), node->inputs().end());
      ASSIGN_OR_RETURN(std::vector<Value*> grads, AppendGradients(graph, y, xs));
      std::vector<std::string> names;
      for (int i = 0; i < node->num_outputs(); ++i) {
        if (!grads[i]) grads[i] = graph.AddConstant(node->output(i)->name(), Tensor(xs[i]->dtype(), xs[i]->dims()));
        names.push_back(node->output(i)->name());
        graph.ReplaceAllUsesWith(node->output(i), grads[i]);
      }
      graph.RemoveNode(node);
      graph.RemoveDeadValues();
      // The graph outputs keep their names (the model's interface).
      for (size_t i = 0; i < grads.size(); ++i) {
        if (grads[i]->name() != names[i]) graph.RenameValue(grads[i], names[i]);
      }
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateExpandGradientsPass() { return std::make_unique<ExpandGradientsPass>(); }

}  // namespace kiln
