// assign-layouts: whole-graph layout propagation. Every oneDNN convolution wants its
// activations in a layout of its own (channels-last on the CPU here); with plain tensors
// between the steps each one reorders its input in and its output back. This pass gives
// the target's region layout (Target::RegionLayout) to every 4-D float temporary whose
// producer and consumers all accept it (Target::LayoutUnsupportedReason: the kernels'
// own answer), so that inside such a region the kernels bind each other's buffers
// directly and layouts change only at the region's edges: the edge kernels convert,
// as any oneDNN kernel converts a plain tensor into the layout it runs in.
//
// A region is kept only when it holds a convolution (the op that chose the layout):
// pooling or elementwise ops alone gain nothing from it. Graph inputs, outputs,
// constants and state stay plain (the verifier checks it), and so do values whose
// channels-last order is the plain one (one channel or one spatial position).
#include <algorithm>
#include <numeric>
#include <unordered_map>
#include <unordered_set>

#include "compiler/pass.h"

namespace kiln {
namespace {

bool AnchorsRegion(const Node& node) { return node.op_type() == "Conv" || node.op_type() == "FusedConv"; }

// Union-find over value indices.
struct Regions {
  std::vector<int> parent;
  int Find(int v) { return parent[v] == v ? v : parent[v] = Find(parent[v]); }
  void Join(int a, int b) { parent[Find(a)] = Find(b); }
};

class AssignLayoutsPass : public Pass {
 public:
  std::string name() const override { return "assign-layouts"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    const Layout layout = options.target->RegionLayout();
    if (!options.assign_layouts || layout == proto::LAYOUT_PLAIN) return false;

    // Candidates: computed float 4-D temporaries that no caller sees.
    std::unordered_set<const Value*> boundary(graph.outputs().begin(), graph.outputs().end());
    for (const StateVar& st : graph.states()) boundary.insert(st.update);
    std::unordered_map<Value*, int> index;  // candidate -> region index
    std::vector<Value*> candidates;
    for (const auto& node : graph.nodes()) {
      for (Value* v : node->outputs()) {
        if (v->is_constant() || v->is_state() || !v->has_type() || v->dtype() != proto::DT_FLOAT ||
            v->dims().size() != 4 || boundary.count(v) || IsPlainOrder(v->dims(), layout)) {
          continue;
        }
        index[v] = static_cast<int>(candidates.size());
        candidates.push_back(v);
      }
    }
    std::unordered_map<Value*, Layout> chosen;
    for (Value* v : candidates) chosen[v] = layout;
    auto layout_of = [&](const Value* v) {
      auto it = chosen.find(const_cast<Value*>(v));
      return it == chosen.end() ? proto::LAYOUT_PLAIN : it->second;
    };

    // Nodes that touch a candidate, re-asked whenever a neighbour's value falls back to plain:
    // a node the target cannot run with its values' layouts gets them all plain.
    auto touched = [&](const Node& node) {
      std::vector<Value*> vs;
      for (Value* v : node.inputs()) {
        if (v && layout_of(v) != proto::LAYOUT_PLAIN) vs.push_back(v);
      }
      for (Value* v : node.outputs()) {
        if (layout_of(v) != proto::LAYOUT_PLAIN) vs.push_back(v);
      }
      return vs;
    };
    std::vector<Node*> work;
    for (const auto& node : graph.nodes()) {
      if (!touched(*node).empty()) work.push_back(node.get());
    }
    while (!work.empty()) {
      Node* node = work.back();
      work.pop_back();
      std::vector<Value*> laid_out = touched(*node);
      if (laid_out.empty()) continue;
      std::vector<Layout> ins, outs;
      for (const Value* v : node->inputs()) ins.push_back(v ? layout_of(v) : proto::LAYOUT_PLAIN);
      for (const Value* v : node->outputs()) outs.push_back(layout_of(v));
      if (options.target->LayoutUnsupportedReason(*node, ins, outs).empty()) continue;
      for (Value* v : laid_out) {
        chosen[v] = proto::LAYOUT_PLAIN;
        if (v->producer() && v->producer() != node) work.push_back(v->producer());
        for (const Use& use : v->uses()) {
          if (use.node != node) work.push_back(use.node);
        }
      }
    }

    // Regions: the laid-out values joined through the nodes between them; one without a
    // convolution goes back to plain.
    Regions regions{std::vector<int>(candidates.size())};
    std::iota(regions.parent.begin(), regions.parent.end(), 0);
    for (const auto& node : graph.nodes()) {
      std::vector<Value*> vs = touched(*node);
      for (size_t i = 1; i < vs.size(); ++i) regions.Join(index[vs[i]], index[vs[0]]);
    }
    std::unordered_set<int> anchored;
    for (const auto& node : graph.nodes()) {
      std::vector<Value*> vs = touched(*node);
      if (!vs.empty() && AnchorsRegion(*node)) anchored.insert(regions.Find(index[vs[0]]));
    }
    bool changed = false;
    for (Value* v : candidates) {
      const bool kept = layout_of(v) != proto::LAYOUT_PLAIN && anchored.count(regions.Find(index[v]));
      const Layout l = kept ? layout : proto::LAYOUT_PLAIN;
      changed |= v->layout() != l;
      v->set_layout(l);
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateAssignLayoutsPass() { return std::make_unique<AssignLayoutsPass>(); }

}  // namespace kiln
