#include "compiler/memory_planner.h"

#include <algorithm>
#include <map>

namespace kiln {

static constexpr int64_t kAlignment = 64;

static int64_t AlignUp(int64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

// Ops whose kernels read element i of every input before writing element i of
// any output, so output j may share a buffer with the input it replaces.
static int InPlaceInputFor(const Node& node, int output) {
  static const char* const kUpdates[] = {"SGDUpdate",      "MomentumUpdate", "AdagradUpdate",
                                         "AdadeltaUpdate", "RMSpropUpdate",  "AdamUpdate"};
  for (const char* op : kUpdates) {
    if (node.op_type() == op) return output == 0 ? 0 : output + 1;  // (p, g, s1, s2...) -> (p', s1', s2'...)
  }
  return -1;
}

// The state `update` may overwrite in place: its producer replaces that state
// element by element, and nothing after the producer reads the state.
static bool CanUpdateInPlace(const StateVar& state, const std::vector<Node*>& nodes,
                             const std::map<const Node*, int>& index) {
  const Node* producer = state.update ? state.update->producer() : nullptr;
  if (!producer) return false;
  const int in = InPlaceInputFor(*producer, state.update->producer_output());
  if (in < 0 || producer->input(in) != state.value) return false;
  for (size_t i = index.at(producer) + 1; i < nodes.size(); ++i) {
    for (Value* v : nodes[i]->inputs()) {
      if (v == state.value) return false;
    }
  }
  return true;
}

MemoryPlan PlanMemory(const Graph& graph) {
  struct Interval {
    const Value* value;
    int begin, end;
    int64_t bytes;
  };
  std::vector<Node*> nodes = graph.NodeList();
  const int end_of_program = static_cast<int>(nodes.size());
  std::map<const Value*, Interval> live;
  std::vector<const Value*> order;
  auto define = [&](const Value* v, int at) {
    if (!v || v->is_constant() || live.count(v)) return;
    live[v] = Interval{v, at, at, AlignUp(std::max<int64_t>(1, ElementCount(v->dims()) * DTypeSize(v->dtype())))};
    order.push_back(v);
  };
  auto use = [&](const Value* v, int at) {
    auto it = live.find(v);
    if (it != live.end()) it->second.end = std::max(it->second.end, at);
  };
  std::map<const Node*, int> index;
  for (int i = 0; i < end_of_program; ++i) index[nodes[i]] = i;
  std::map<const Value*, const Value*> in_place;  // update -> state
  for (const StateVar& st : graph.states()) {
    define(st.value, -1);
    use(st.value, end_of_program);
    if (CanUpdateInPlace(st, nodes, index)) in_place[st.update] = st.value;
  }
  // Inputs stay intact for the whole run: callers may set them once and run again.
  for (Value* in : graph.inputs()) {
    define(in, -1);
    use(in, end_of_program);
  }
  for (int i = 0; i < end_of_program; ++i) {
    for (Value* in : nodes[i]->inputs()) use(in, i);
    for (Value* out : nodes[i]->outputs()) {
      if (!in_place.count(out)) define(out, i);
    }
  }
  for (Value* out : graph.outputs()) use(out, end_of_program);
  for (const StateVar& st : graph.states()) {
    if (st.update) use(st.update, end_of_program);  // copied into the state after the run
  }

  MemoryPlan plan;
  std::vector<std::pair<Interval, int64_t>> placed;  // interval, offset
  for (const Value* v : order) {
    const Interval& iv = live[v];
    // Occupied ranges of values whose lifetime overlaps this one, by offset.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (const auto& [other, offset] : placed) {
      if (other.begin <= iv.end && iv.begin <= other.end) busy.emplace_back(offset, offset + other.bytes);
    }
    std::sort(busy.begin(), busy.end());
    int64_t offset = 0;
    // Best fit: the smallest gap that holds the value, else the end.
    int64_t best = -1, best_gap = 0;
    for (const auto& [lo, hi] : busy) {
      if (lo - offset >= iv.bytes && (best < 0 || lo - offset < best_gap)) {
        best = offset;
        best_gap = lo - offset;
      }
      offset = std::max(offset, hi);
    }
    if (best < 0) best = offset;
    plan.offsets[v] = best;
    plan.arena_size = std::max(plan.arena_size, best + iv.bytes);
    placed.emplace_back(iv, best);
  }
  for (const auto& [update, state] : in_place) plan.offsets[update] = plan.offsets[state];
  return plan;
}

}  // namespace kiln
