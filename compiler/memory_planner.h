// Static memory planning: liveness over the node order -> arena offsets with reuse.
#pragma once

#include <unordered_map>

#include "ir/graph.h"

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
MemoryPlan PlanMemory(const Graph& graph);

}  // namespace kiln
