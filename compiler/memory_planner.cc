#include "compiler/memory_planner.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <queue>
#include <set>
#include <unordered_map>

#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "ir/printer.h"

namespace kiln {

static constexpr int64_t kAlignment = 64;
// Live values scanned for a best-fit gap; past it a value goes on top (see PlanMemory).
static constexpr size_t kMaxBestFitScan = 1024;

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
static bool CanUpdateInPlace(const StateVar& state, const std::unordered_map<const Node*, int>& index) {
  const Node* producer = state.update ? state.update->producer() : nullptr;
  if (!producer) return false;
  const int in = InPlaceInputFor(*producer, state.update->producer_output());
  if (in < 0 || producer->input(in) != state.value) return false;
  const int at = index.at(producer);
  for (const Use& u : state.value->uses()) {
    if (index.at(u.node) > at) return false;
  }
  return true;
}

// The value whose buffer `node`'s output may share (see PlanMemory), or null.
static const Value* ViewedValue(const Graph& graph, const Node& node, const std::set<const Value*>& outside) {
  if (!IsViewOp(node.op_type()) || node.num_inputs() < 1 || node.num_outputs() != 1) return nullptr;
  const Value* in = node.input(0);
  const Value* out = node.output(0);
  if (!in || !out || in->is_constant() || outside.count(in) || outside.count(out)) return nullptr;
  if (in->layout() != proto::LAYOUT_PLAIN || out->layout() != proto::LAYOUT_PLAIN) return nullptr;
  if (in->dtype() != out->dtype() || ElementCount(in->dims()) != ElementCount(out->dims())) return nullptr;
  return in;
}

// The input whose bytes `node`'s output may take (see PlanMemory): a FusedConv's residual Z,
// which its kernels add to the convolution (oneDNN's sum post-op accumulates into the
// destination, so Z is otherwise first copied there). Whether Z dies here is the caller's.
static const Value* TakenResidual(const Node& node, const std::set<const Value*>& outside) {
  if (node.op_type() != "FusedConv" || node.num_inputs() <= kFusedResidualInput || node.num_outputs() != 1)
    return nullptr;
  const Value* z = node.input(kFusedResidualInput);
  const Value* out = node.output(0);
  if (!z || !out || z->is_constant() || outside.count(z) || outside.count(out)) return nullptr;
  if (z->dtype() != out->dtype() || z->dims() != out->dims() || z->layout() != out->layout()) return nullptr;
  return z;
}

MemoryPlan PlanMemory(const Graph& graph, bool share) {
  struct Interval {
    const Value* value;
    int begin, end;
    int64_t bytes;
  };
  std::vector<Node*> nodes = graph.NodeList();
  const int end_of_program = static_cast<int>(nodes.size());
  std::unordered_map<const Value*, Interval> live;
  std::vector<const Value*> order;
  auto define = [&](const Value* v, int at) {
    if (!v || v->is_constant() || live.count(v)) return;
    live[v] = Interval{v, at, at, AlignUp(std::max<int64_t>(1, ElementCount(v->dims()) * DTypeSize(v->dtype())))};
    order.push_back(v);
  };
  // A view's buffer is its root's (the value it reshapes, through views): uses of the view
  // extend the root's life.
  std::unordered_map<const Value*, const Value*> root_of;
  auto root = [&](const Value* v) {
    auto it = root_of.find(v);
    return it == root_of.end() ? v : it->second;
  };
  auto use = [&](const Value* v, int at) {
    auto it = live.find(root(v));
    if (it != live.end()) it->second.end = std::max(it->second.end, at);
  };
  std::unordered_map<const Node*, int> index;
  for (int i = 0; i < end_of_program; ++i) index[nodes[i]] = i;
  // The last step that reads each value (graph outputs and state updates: the end), and per
  // root the last that reads it or anything sharing its buffer.
  std::unordered_map<const Value*, int> last_read, root_last;
  for (int i = 0; i < end_of_program; ++i) {
    for (const Value* in : nodes[i]->inputs()) last_read[in] = i;
  }
  for (const Value* out : graph.outputs()) last_read[out] = end_of_program;
  for (const StateVar& st : graph.states()) last_read[st.update] = end_of_program;
  auto read_until = [&](const Value* v) {
    auto it = last_read.find(v);
    return it == last_read.end() ? -1 : it->second;
  };
  auto share_root = [&](const Value* v, const Value* r) {
    root_of[v] = r;
    auto it = root_last.try_emplace(r, read_until(r)).first;
    it->second = std::max(it->second, read_until(v));
  };
  auto root_read_until = [&](const Value* r) {
    auto it = root_last.find(r);
    return it == root_last.end() ? read_until(r) : it->second;
  };
  std::map<const Value*, const Value*> in_place;  // update -> state
  for (const StateVar& st : graph.states()) {
    define(st.value, -1);
    use(st.value, end_of_program);
    if (CanUpdateInPlace(st, index)) in_place[st.update] = st.value;
  }
  // Inputs stay intact for the whole run: callers may set them once and run again.
  for (Value* in : graph.inputs()) {
    define(in, -1);
    use(in, end_of_program);
  }
  // What a caller writes (inputs, states) is never a view or viewed. A graph output may be a
  // view: its buffer is then the viewed value's, which lives to the end.
  std::set<const Value*> outside;
  if (share) {
    for (const Value* v : graph.inputs()) outside.insert(v);
    for (const StateVar& st : graph.states()) outside.insert({st.value, st.update});
  }
  for (int i = 0; i < end_of_program; ++i) {
    for (Value* in : nodes[i]->inputs()) use(in, i);
    const Value* viewed = share ? ViewedValue(graph, *nodes[i], outside) : nullptr;
    if (viewed) {
      share_root(nodes[i]->output(0), root(viewed));
      continue;
    }
    // A residual that nothing after this step reads (through any value sharing its buffer),
    // and that no other input of the step shares, gives its buffer to the output.
    const Value* residual = share ? TakenResidual(*nodes[i], outside) : nullptr;
    if (residual && live.count(root(residual)) && root_read_until(root(residual)) == i) {
      bool read_otherwise = false;
      for (int k = 0; k < nodes[i]->num_inputs(); ++k) {
        const Value* in = nodes[i]->input(k);
        read_otherwise |= k != kFusedResidualInput && in && root(in) == root(residual);
      }
      if (!read_otherwise) {
        share_root(nodes[i]->output(0), root(residual));
        continue;
      }
    }
    for (Value* out : nodes[i]->outputs()) {
      if (!in_place.count(out)) define(out, i);
    }
  }
  for (Value* out : graph.outputs()) use(out, end_of_program);
  for (const StateVar& st : graph.states()) {
    if (st.update) use(st.update, end_of_program);  // copied into the state after the run
  }

  MemoryPlan plan;
  // `order` is sorted by begin, so a placed value overlaps this one iff it ends at or
  // after this one's begin: only those stay in `active` (offset -> end, bytes), and an
  // expiry heap drops the rest. Cost O(N * live width), not O(N^2).
  std::map<int64_t, std::pair<int, int64_t>> active;
  std::priority_queue<std::pair<int, int64_t>, std::vector<std::pair<int, int64_t>>, std::greater<>> expiry;
  for (const Value* v : order) {
    const Interval& iv = live.at(v);
    while (!expiry.empty() && expiry.top().first < iv.begin) {
      active.erase(expiry.top().second);
      expiry.pop();
    }
    int64_t best = -1, best_gap = 0, offset = 0;
    if (active.size() <= kMaxBestFitScan) {
      // Best fit: the smallest gap that holds the value, else the end.
      for (const auto& [lo, entry] : active) {
        if (lo - offset >= iv.bytes && (best < 0 || lo - offset < best_gap)) {
          best = offset;
          best_gap = lo - offset;
        }
        offset = std::max(offset, lo + entry.second);
      }
    } else {
      // Very wide graphs (thousands of simultaneously live values): the end, in O(log N),
      // trading gap reuse for bounded compile time.
      offset = active.rbegin()->first + active.rbegin()->second.second;
    }
    if (best < 0) best = offset;
    plan.offsets[v] = best;
    plan.arena_size = std::max(plan.arena_size, best + iv.bytes);
    active[best] = {iv.end, iv.bytes};
    expiry.emplace(iv.end, best);
  }
  for (const auto& [update, state] : in_place) plan.offsets[update] = plan.offsets[state];
  for (const auto& [shared, owner] : root_of) plan.offsets[shared] = plan.offsets[owner];
  return plan;
}

}  // namespace kiln

namespace kiln {

MemoryReport ReportMemory(const proto::Plan& plan, proto::MemorySpace space) {
  MemoryReport report;
  report.num_steps = plan.step_size();
  report.arena_bytes = space == proto::MEM_DEVICE ? plan.device_arena_size() : plan.arena_size();
  if (space == proto::MEM_DEVICE) report.device = plan.device();
  report.constant_bytes = static_cast<int64_t>(plan.constants().size());
  std::map<int, MemoryReport::Row> rows;  // by buffer index
  auto row_of = [&](int index, const char* kind, int first, int last) {
    const proto::Buffer& b = plan.buffer(index);
    if (b.kind() == proto::BUF_CONSTANT || b.space() != space) return;
    auto [it, inserted] = rows.try_emplace(index);
    MemoryReport::Row& row = it->second;
    if (inserted) {
      row.name = b.name();
      row.kind = b.kind() == proto::BUF_STATE ? "state" : kind;
      row.offset = b.offset();
      int64_t elements = 1;
      for (int64_t d : b.dims()) elements *= d;
      row.bytes = elements * DTypeSize(b.dtype());
      row.first_step = first;
      row.last_step = last;
      return;
    }
    row.first_step = std::min(row.first_step, first);
    row.last_step = std::max(row.last_step, last);
    if (row.kind == "temp" && std::string(kind) != "temp") row.kind = kind;
  };
  const int steps = plan.step_size();
  for (int idx : plan.input()) row_of(idx, "input", -1, steps);
  for (int idx : plan.state()) row_of(idx, "state", -1, steps);
  for (int s = 0; s < steps; ++s) {
    for (int idx : plan.step(s).input()) {
      if (idx >= 0) row_of(idx, "temp", s, s);
    }
    for (int idx : plan.step(s).output()) row_of(idx, "temp", s, s);
  }
  for (int idx : plan.output()) row_of(idx, "output", steps, steps);
  for (auto& [index, row] : rows) {
    report.without_reuse_bytes += row.bytes;
    report.rows.push_back(row);
  }
  // Buffers sharing an offset and lifetime (in-place updates) count once when live.
  for (int s = -1; s <= steps; ++s) {
    std::map<std::pair<int64_t, int64_t>, bool> counted;
    int64_t live = 0;
    for (const auto& row : report.rows) {
      if (row.first_step <= s && s <= row.last_step && !counted[{row.offset, row.bytes}]) {
        counted[{row.offset, row.bytes}] = true;
        live += row.bytes;
      }
    }
    report.peak_live_bytes = std::max(report.peak_live_bytes, live);
  }
  std::sort(report.rows.begin(), report.rows.end(), [](const auto& a, const auto& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.first_step < b.first_step;
  });
  return report;
}

std::string FormatMemoryReport(const MemoryReport& report, int max_rows) {
  auto percent = [](int64_t part, int64_t whole) { return whole > 0 ? 100.0 * part / whole : 0.0; };
  char line[512];
  std::string out = report.device.empty() ? "Memory plan\n" : "Device memory plan (" + report.device + ")\n";
  std::snprintf(line, sizeof(line), "  arena (peak, allocated once per session): %s (%lld bytes)\n",
                FormatBytes(report.arena_bytes).c_str(), static_cast<long long>(report.arena_bytes));
  out += line;
  std::snprintf(line, sizeof(line), "  largest sum of live buffers:              %s (arena overhead %.1f%%)\n",
                FormatBytes(report.peak_live_bytes).c_str(),
                percent(report.arena_bytes - report.peak_live_bytes, report.peak_live_bytes));
  out += line;
  std::snprintf(line, sizeof(line), "  %zu buffers without reuse would take:     %s (reuse saves %.1f%%)\n",
                report.rows.size(), FormatBytes(report.without_reuse_bytes).c_str(),
                percent(report.without_reuse_bytes - report.arena_bytes, report.without_reuse_bytes));
  out += line;
  std::snprintf(line, sizeof(line), "  constants (weights, read-only):           %s\n",
                FormatBytes(report.constant_bytes).c_str());
  out += line;
  std::vector<const MemoryReport::Row*> shown;
  for (const auto& row : report.rows) shown.push_back(&row);
  if (max_rows > 0 && static_cast<int>(shown.size()) > max_rows) {
    std::stable_sort(shown.begin(), shown.end(), [](auto* a, auto* b) { return a->bytes > b->bytes; });
    shown.resize(max_rows);
    std::stable_sort(shown.begin(), shown.end(), [](auto* a, auto* b) { return a->offset < b->offset; });
    std::snprintf(line, sizeof(line), "  the %d largest of %zu buffers:\n", max_rows, report.rows.size());
    out += line;
  }
  std::snprintf(line, sizeof(line), "  %12s %10s  %-6s  %-11s  %s\n", "offset", "size", "kind", "live steps", "buffer");
  out += line;
  auto step_label = [&](int s) {
    if (s < 0) return std::string("start");
    if (s >= report.num_steps) return std::string("end");
    return std::to_string(s);
  };
  for (const auto* row : shown) {
    const std::string live = step_label(row->first_step) + ".." + step_label(row->last_step);
    std::snprintf(line, sizeof(line), "  %12lld %10s  %-6s  %-11s  %%%s\n", static_cast<long long>(row->offset),
                  FormatBytes(row->bytes).c_str(), row->kind.c_str(), live.c_str(), row->name.c_str());
    out += line;
  }
  return out;
}

std::string FormatPlanMemory(const proto::Plan& plan) {
  std::string out = FormatMemoryReport(ReportMemory(plan));
  if (plan.device_arena_size() > 0) out += FormatMemoryReport(ReportMemory(plan, proto::MEM_DEVICE));
  return out;
}

}  // namespace kiln
