// The one path from a loaded graph to a Plan, used by the CLI, the conformance
// runner and the tests alike.
#pragma once

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/pass.h"
#include "ir/graph.h"
#include "runtime/plan.pb.h"

namespace kiln {

struct CompileOptions {
  int64_t batch_size = 1;
  bool use_onednn = true;
  /// Run the assign-layouts pass (false: every value plain, as for --no-layouts).
  bool assign_layouts = true;
  PassObserver observer;  // called after each pass (kiln dump --after)
  /// fuse-elementwise's verdict on every node, when set (kiln dump --explain-fusion).
  std::vector<FusionDecision>* fusion_decisions = nullptr;
};

/// Runs the inference pipeline on `graph` (in place) and lowers it for the CPU.
StatusOr<proto::Plan> CompileToPlan(Graph& graph, const CompileOptions& options = {});

}  // namespace kiln
