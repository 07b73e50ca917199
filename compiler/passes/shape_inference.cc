// infer-shapes, with constant folding of small all-constant subgraphs (which turns
// ONNX shape computations into constants).
#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"
#include "ir/core/op_registry.h"

namespace kiln {
namespace {

class InferShapesPass : public Pass {
 public:
  std::string name() const override { return "infer-shapes"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    std::vector<std::string> errors;
    bool changed = false;
    for (Value* in : graph.inputs()) {
      if (!in->has_type()) errors.push_back("input '" + in->name() + "' has no declared type");
    }
    for (Node* node : graph.NodeList()) {
      bool inputs_ready = true;
      for (Value* in : node->inputs()) inputs_ready = inputs_ready && (!in || in->has_type());
      if (!inputs_ready) continue;  // an earlier error already covers this node
      auto types = InferNodeTypes(*node);
      if (!types.ok()) {
        errors.push_back(types.status().message());
        continue;
      }
      for (int i = 0; i < node->num_outputs(); ++i) {
        if (node->output(i)->type() != (*types)[i]) changed = true;
        node->output(i)->set_type((*types)[i]);
      }
      auto folded = FoldNode(graph, node, options);
      if (!folded.ok()) {
        errors.push_back(folded.status().message());
        continue;
      }
      changed = changed || *folded;
    }
    if (!errors.empty()) {
      std::string msg;
      for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "\n" : "") + errors[i];
      return InvalidArgument(msg);
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateInferShapesPass() { return std::make_unique<InferShapesPass>(); }

}  // namespace kiln
