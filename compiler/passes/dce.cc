// dce: removes the nodes no graph output or state update depends on, then the values
// nothing uses (unused initializers, folded shape computations).
#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

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

std::unique_ptr<Pass> CreateDeadCodeEliminationPass() { return std::make_unique<DeadCodeEliminationPass>(); }

}  // namespace kiln
