// The one path from a loaded graph to a Plan, used by the CLI, the conformance
// runner and the tests alike; compiler/load.h adds loading it into a Session.
#pragma once

#include <string>

#include "compiler/backend.h"
#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/pass.h"
#include "ir/graph.h"
#include "runtime/plan.pb.h"

namespace kiln {

struct CompileOptions {
  /// The backend (compiler/backend.h): "cpu" or "cuda" (kiln --device).
  std::string device = "cpu";
  int64_t batch_size = 1;
  bool use_onednn = true;
  /// Run the assign-layouts pass (false: every value plain, as for --no-layouts).
  bool assign_layouts = true;
  /// Run the inference pipeline first (false: `graph` is optimized already, e.g. a training
  /// step built by BuildTrainingProgram or gradcheck's graph; it is only lowered).
  bool prepare_for_inference = true;
  PassObserver observer;  // called after each pass (kiln dump --after)
  /// fuse-elementwise's verdict on every node, when set (kiln dump --explain-fusion).
  std::vector<FusionDecision>* fusion_decisions = nullptr;
  /// cpu: FusedElementwise steps' symbols are <prefix><n> (AOT plans sharing one binary).
  std::string kernel_symbol_prefix = "kiln_fused_";
  /// A device backend runs what it cannot lower on the host (LowerOptions::cpu_fallback).
  bool cpu_fallback = false;
};

/// Runs the inference pipeline on `graph` (in place) for the device's target and lowers it
/// with the device's backend.
StatusOr<proto::Plan> CompileToPlan(Graph& graph, const CompileOptions& options = {});

}  // namespace kiln
