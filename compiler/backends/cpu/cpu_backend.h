// The CPU backend: lowers a shape-inferred graph to a Plan of oneDNN-backed and
// reference kernels over one arena.
#pragma once

#include <string>
#include <vector>

#include "compiler/backend.h"
#include "ir/core/status.h"
#include "ir/graph.h"
#include "runtime/plan.pb.h"

namespace kiln {

using CpuCompileOptions = LowerOptions;

/// Why the oneDNN path cannot run `node` ("" when it can). Mirrors the checks
/// the oneDNN kernel factories make, so lowering never picks a kernel that fails.
std::string OneDnnUnsupportedReason(const Node& node);
/// The same for `node` with its inputs and outputs laid out as `inputs` / `outputs` say
/// (the value layouts the assign-layouts pass considers).
std::string OneDnnUnsupportedReason(const Node& node, const std::vector<Layout>& inputs,
                                    const std::vector<Layout>& outputs);

/// The kernel kind ("jit", "onednn", "ref") the CPU runs `node` with; "" when it has none.
std::string CpuKernelFor(const Node& node, const CpuCompileOptions& options);

/// Lowers `graph` (after PrepareForInference) to a Plan. Every node without a
/// kernel is reported in one error. (CpuBackend().Lower.)
StatusOr<proto::Plan> CompileForCpu(const Graph& graph, const CpuCompileOptions& options = {});

}  // namespace kiln
