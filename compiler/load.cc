#include "compiler/load.h"

#include "compiler/codegen/jit.h"
#include "runtime/device.h"

namespace kiln {

StatusOr<std::unique_ptr<runtime::Session>> LoadPlan(proto::Plan plan, runtime::SessionOptions options) {
  if (!options.compiled_kernels) {
    ASSIGN_OR_RETURN(options.compiled_kernels, codegen::JitCompileKernels(plan));
  }
  return runtime::Session::Create(std::move(plan), options);
}

StatusOr<std::unique_ptr<runtime::Session>> CompileAndLoad(Graph& graph, const CompileOptions& options,
                                                           runtime::SessionOptions session_options) {
  RETURN_IF_ERROR(runtime::DeviceAvailable(options.device));
  ASSIGN_OR_RETURN(proto::Plan plan, CompileToPlan(graph, options));
  return LoadPlan(std::move(plan), std::move(session_options));
}

}  // namespace kiln
