// The CPU backend: lowers a shape-inferred graph to a Plan of oneDNN-backed and
// reference kernels over one arena.
#pragma once

#include <string>

#include "ir/core/status.h"
#include "ir/graph.h"
#include "runtime/plan.pb.h"

namespace kiln {

struct CpuCompileOptions {
  bool use_onednn = true;  // false: reference kernels only (for testing backends against them)
  /// FusedElementwise steps run generated code named <prefix><n> (n counts them in
  /// plan order); plans whose kernels share one binary need distinct prefixes.
  std::string kernel_symbol_prefix = "kiln_fused_";
};

/// Why the oneDNN path cannot run `node` ("" when it can). Mirrors the checks
/// the oneDNN kernel factories make, so lowering never picks a kernel that fails.
std::string OneDnnUnsupportedReason(const Node& node);

/// Lowers `graph` (after PrepareForInference) to a Plan. Every node without a
/// kernel is reported in one error.
StatusOr<proto::Plan> CompileForCpu(const Graph& graph, const CpuCompileOptions& options = {});

}  // namespace kiln
