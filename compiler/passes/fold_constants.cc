// fold-constants: evaluates nodes whose inputs are all constants with their
// reference kernels (the same helper infer-shapes folds shape subgraphs with),
// for what later passes expose: simplified subgraphs, folded BatchNorm params.
#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

class FoldConstantsPass : public Pass {
 public:
  std::string name() const override { return "fold-constants"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    bool changed = false;
    for (Node* node : graph.NodeList()) {
      ASSIGN_OR_RETURN(bool folded, FoldNode(graph, node, options));
      changed = changed || folded;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateFoldConstantsPass() { return std::make_unique<FoldConstantsPass>(); }

}  // namespace kiln
