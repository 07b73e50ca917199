// The CPU backend: lowers a shape-inferred graph to a Plan of oneDNN-backed and
// reference kernels over one arena.
#pragma once

#include <string>
#include <vector>

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
/// The same for `node` with its inputs and outputs laid out as `inputs` / `outputs` say
/// (the value layouts the assign-layouts pass considers).
std::string OneDnnUnsupportedReason(const Node& node, const std::vector<Layout>& inputs,
                                    const std::vector<Layout>& outputs);

/// Lowers `graph` (after PrepareForInference) to a Plan. Every node without a
/// kernel is reported in one error.
StatusOr<proto::Plan> CompileForCpu(const Graph& graph, const CpuCompileOptions& options = {});

}  // namespace kiln
