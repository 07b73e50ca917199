// Static memory planning: liveness over the node order -> arena offsets with reuse.
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ir/graph.h"
#include "runtime/plan.pb.h"

namespace kiln {

struct MemoryPlan {
  std::unordered_map<const Value*, int64_t> offsets;  // every non-constant value
  int64_t arena_size = 0;                             // exact peak, in bytes
};

/// Assigns each non-constant value an arena offset (64-byte aligned) so that
/// values live at the same time never overlap. Graph inputs live for the whole
/// program (a run never overwrites them), graph outputs to the end, state for the whole program. A state's update
/// shares the state's offset (updated in place) when its producer is an elementwise update op that reads the state
/// last; otherwise it lives to the end and the runtime copies it into the state after the run.
///
/// With `share` (host plans), two kinds of output take an input's buffer:
/// - views: the output of a reshape-like op (IsViewOp, ir/core/shape_util.h) over a plain
///   value that is neither a graph input nor a state is that value's buffer. The bytes are
///   the same, so its kernel copies nothing, and the buffer lives until both are dead (to the
///   end when the view is a graph output: a batch-first LSTM's Squeeze into the output).
/// - residuals: a FusedConv's output takes its residual input's buffer when nothing after the
///   step reads the residual (nor any value sharing its buffer), no other input of the step
///   shares it, and shape, dtype and layout match; the sum post-op then accumulates in place
///   instead of copying the residual first. Every FusedConv kernel reads the residual before
///   it writes the output (plan_validator.cc checks the plan's side of this).
MemoryPlan PlanMemory(const Graph& graph, bool share = false);

}  // namespace kiln

namespace kiln {

/// What the arena of a lowered plan holds: per buffer its offset, size and the steps
/// between which it is live (inputs, outputs and state: the whole run), and totals —
/// the arena size (the exact peak the session allocates), the bytes all buffers would
/// take without reuse, and the largest sum of simultaneously live buffers.
struct MemoryReport {
  struct Row {
    std::string name;
    std::string kind;  // "input", "output", "state", "temp"
    int64_t offset = 0, bytes = 0;
    int first_step = 0, last_step = 0;  // -1 / num_steps: live before / after the steps
  };
  std::vector<Row> rows;  // by offset
  int64_t arena_bytes = 0;
  int64_t without_reuse_bytes = 0;
  int64_t peak_live_bytes = 0;
  int64_t constant_bytes = 0;
  int num_steps = 0;
  std::string device;  // the report of a device's arena (Plan.device): its name
};
/// The report of the host arena, or of the device arena (MEM_DEVICE buffers) of a device plan.
MemoryReport ReportMemory(const proto::Plan& plan, proto::MemorySpace space = proto::MEM_HOST);
/// Both: the host arena's report, then the device arena's when the plan has one.
std::string FormatPlanMemory(const proto::Plan& plan);
/// The report as text; at most `max_rows` buffer rows (the largest), 0 for all.
std::string FormatMemoryReport(const MemoryReport& report, int max_rows = 0);

}  // namespace kiln
