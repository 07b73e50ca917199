// cse: common-subexpression elimination. Small constants equal by content
// (dtype, shape and bytes) become one value; then a node with the same op, the
// same inputs and equal attributes as an earlier node reuses that node's
// outputs. One forward sweep suffices: nodes are in topological order, so a
// node's inputs are already deduplicated when it is visited.
#include <cstring>
#include <map>
#include <unordered_map>

#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

// Larger constants are weights: comparing them costs more than sharing saves.
constexpr int64_t kMaxCseConstantElements = 4096;

// Ops whose outputs differ between two evaluations of the same inputs.
bool IsNondeterministic(const Node& node) { return node.op_type() == "DropoutTraining"; }

std::string NodeKey(const Node& node) {
  std::string key = node.op_type() + "/" + std::to_string(node.num_outputs());
  for (Value* in : node.inputs()) key += "/" + std::to_string(reinterpret_cast<uintptr_t>(in));
  // Attributes by their serialized protos: exact, unlike their printed (rounded) form.
  for (const auto& [name, attr] : node.attrs().all()) key += "/" + name + "=" + attr.SerializeAsString();
  return key;
}

bool SameConstant(const Tensor& a, const Tensor& b) {
  // (memcmp of empty tensors would pass null pointers: undefined, UBSan reports it)
  return a.dtype() == b.dtype() && a.dims() == b.dims() &&
         (a.num_bytes() == 0 || std::memcmp(a.data(), b.data(), a.num_bytes()) == 0);
}

class CsePass : public Pass {
 public:
  std::string name() const override { return "cse"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions&) override {
    bool changed = false;
    // Constants, bucketed by (dtype, shape, first bytes) and compared in full within a bucket.
    std::map<std::string, std::vector<Value*>> buckets;
    for (Value* c : graph.constants()) {
      const Tensor& t = c->constant();
      if (c->is_parameter() || c->is_state() || t.num_elements() > kMaxCseConstantElements || t.empty()) continue;
      std::string key = DTypeName(t.dtype()) + DimsToString(t.dims());
      key.append(static_cast<const char*>(t.data()), std::min<int64_t>(t.num_bytes(), 16));
      Value* same = nullptr;
      for (Value* earlier : buckets[key]) {
        if (SameConstant(earlier->constant(), t)) same = earlier;
      }
      if (!same) {
        buckets[key].push_back(c);
      } else if (graph.NumUses(c) > 0) {
        changed = ReplaceValue(graph, c, same) || changed;
      }
    }
    std::unordered_map<std::string, Node*> seen;
    for (Node* node : graph.NodeList()) {
      if (IsNondeterministic(*node)) continue;
      auto [it, inserted] = seen.emplace(NodeKey(*node), node);
      if (inserted) continue;
      for (int i = 0; i < node->num_outputs(); ++i) {
        if (graph.NumUses(node->output(i)) > 0) {
          changed = ReplaceValue(graph, node->output(i), it->second->output(i)) || changed;
        }
      }
    }
    if (changed) RemoveUnusedNodes(graph);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateCsePass() { return std::make_unique<CsePass>(); }

}  // namespace kiln
