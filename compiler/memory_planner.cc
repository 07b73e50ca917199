#include "compiler/memory_planner.h"

#include <algorithm>
#include <map>

namespace kiln {

static constexpr int64_t kAlignment = 64;

static int64_t AlignUp(int64_t n) { return (n + kAlignment - 1) / kAlignment * kAlignment; }

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
  for (Value* in : graph.inputs()) define(in, -1);
  for (int i = 0; i < end_of_program; ++i) {
    for (Value* in : nodes[i]->inputs()) use(in, i);
    for (Value* out : nodes[i]->outputs()) define(out, i);
  }
  for (Value* out : graph.outputs()) use(out, end_of_program);

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
  return plan;
}

}  // namespace kiln
