// Compile and load: the one way a graph or a lowered Plan becomes a ready Session
// (kiln run, bench, predict, train, gradcheck, dump, the conformance runner, the Python
// module). A plan for the CPU gets its generated kernels JIT-compiled; a plan for a
// device opens it (runtime/device.h). Compiled programs (kiln compile) and the C API
// load the plans `kiln compile` lowered with CompileToPlan through the same
// runtime::Session::Create, with kernels linked in instead of JIT-compiled.
// Built into kiln_codegen (it uses the JIT), not kiln_compiler.
#pragma once

#include <memory>

#include "compiler/compile.h"
#include "runtime/session.h"

namespace kiln {

/// Loads a lowered plan: the CPU's "jit" steps JIT-compiled (unless `options` brings
/// kernels), the plan's device opened.
StatusOr<std::unique_ptr<runtime::Session>> LoadPlan(proto::Plan plan, runtime::SessionOptions options = {});

/// CompileToPlan, then LoadPlan. A device that cannot run here (no driver) is reported
/// before anything is compiled, as one line ("cuda: no CUDA driver found (...)").
StatusOr<std::unique_ptr<runtime::Session>> CompileAndLoad(Graph& graph, const CompileOptions& options,
                                                           runtime::SessionOptions session_options = {});

}  // namespace kiln
