// eliminate-transposes: Transpose(Transpose(x, p1), p2) becomes one Transpose
// with the composed permutation, identity permutations disappear, Transposes
// and Reshapes of constants are computed at compile time whatever their size
// (they move data, never grow it: exporters transpose weights this way),
// reshapes to the shape their input already has are removed, and a transpose
// that moves only axes of size 1 (batch-first RNN exports at batch 1) becomes a
// Reshape, merged with the reshapes before it.
#include <numeric>

#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

std::vector<int64_t> Permutation(const Node& transpose) {
  std::vector<int64_t> perm(transpose.input(0)->dims().size());
  std::iota(perm.rbegin(), perm.rend(), 0);  // ONNX default: reverse the axes
  return transpose.attrs().GetInts("perm", perm);
}

bool IsIdentity(const std::vector<int64_t>& perm) {
  for (size_t i = 0; i < perm.size(); ++i) {
    if (perm[i] != static_cast<int64_t>(i)) return false;
  }
  return true;
}

// Whether `perm` keeps the axes of `dims` longer than 1 in order: the elements' order
// does not change.
bool KeepsOrder(const Dims& dims, const std::vector<int64_t>& perm) {
  int64_t last = -1;
  for (int64_t p : perm) {
    if (dims[p] == 1) continue;
    if (p < last) return false;
    last = p;
  }
  return true;
}

class EliminateTransposesPass : public Pass {
 public:
  std::string name() const override { return "eliminate-transposes"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    bool changed = false;
    PassOptions unbounded = options;
    unbounded.max_fold_elements = std::numeric_limits<int64_t>::max();
    for (Node* node : graph.NodeList()) {
      const std::string& op = node->op_type();
      if (op != "Transpose" && !IsReshapeLike(*node)) continue;
      if (node->input(0)->is_constant()) {
        ASSIGN_OR_RETURN(bool folded, FoldNode(graph, node, unbounded));
        changed = changed || folded;
        continue;
      }
      Value* out = node->output(0);
      if (op != "Transpose") {
        if (node->input(0)->type() == out->type()) changed = ReplaceValue(graph, out, node->input(0)) || changed;
        continue;
      }
      std::vector<int64_t> perm = Permutation(*node);
      const Node* inner = node->input(0)->producer();
      if (inner && inner->op_type() == "Transpose") {
        // out[i] = t[perm[i]] and t[j] = x[inner_perm[j]], so out[i] = x[inner_perm[perm[i]]].
        const std::vector<int64_t> inner_perm = Permutation(*inner);
        for (int64_t& p : perm) p = inner_perm[p];
        node->set_input(0, inner->input(0));
        node->attrs().SetInts("perm", perm);
        changed = true;
      }
      if (IsIdentity(perm)) {
        changed = ReplaceValue(graph, out, node->input(0)) || changed;
      } else if (node->input(0)->has_type() && KeepsOrder(node->input(0)->dims(), perm)) {
        Value* src = node->input(0);
        while (src->producer() && IsReshapeLike(*src->producer())) src = src->producer()->input(0);
        changed = ReplaceWithReshapeOf(graph, node, src) || changed;
      }
    }
    if (changed) RemoveUnusedNodes(graph);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateEliminateTransposesPass() { return std::make_unique<EliminateTransposesPass>(); }

}  // namespace kiln
