// resolve-symbolic-dims and infer-shapes (with constant folding of small
// all-constant subgraphs, which turns ONNX shape computations into constants).
#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"
#include "ir/op_registry.h"

namespace kiln {
namespace {

class ResolveSymbolicDimsPass : public Pass {
 public:
  std::string name() const override { return "resolve-symbolic-dims"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    bool changed = false;
    for (Value* in : graph.inputs()) {
      TensorType t = in->type();
      for (size_t i = 0; i < t.dims.size(); ++i) {
        if (t.dims[i] >= 0) continue;
        if (i != 0) {
          std::string symbol = "?";
          for (auto& [idx, sym] : in->symbolic_dims()) {
            if (idx == static_cast<int>(i)) symbol = sym;
          }
          return InvalidArgument("input '", in->name(), "': dimension ", i, " is symbolic ('", symbol,
                                 "'); only the batch dimension (0) may be, and it is fixed by --batch");
        }
        t.dims[i] = options.batch_size;
        changed = true;
      }
      in->set_type(t);
      in->symbolic_dims().clear();
    }
    return changed;
  }
};

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

class DeadCodeEliminationPass : public Pass {
 public:
  std::string name() const override { return "dce"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    const int nodes_before = graph.num_nodes();
    RemoveUnusedNodes(graph);
    const bool changed = graph.num_nodes() != nodes_before;
    size_t before = graph.values().size();
    graph.RemoveDeadValues();
    return changed || graph.values().size() != before;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateResolveSymbolicDimsPass() { return std::make_unique<ResolveSymbolicDimsPass>(); }
std::unique_ptr<Pass> CreateInferShapesPass() { return std::make_unique<InferShapesPass>(); }
std::unique_ptr<Pass> CreateDeadCodeEliminationPass() { return std::make_unique<DeadCodeEliminationPass>(); }

}  // namespace kiln
