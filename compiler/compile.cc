#include "compiler/compile.h"

namespace kiln {

StatusOr<proto::Plan> CompileToPlan(Graph& graph, const CompileOptions& options) {
  PassOptions pass_options;
  pass_options.batch_size = options.batch_size;
  pass_options.fusion_decisions = options.fusion_decisions;
  // Layouts are a choice among oneDNN kernels: a reference-only plan needs none.
  pass_options.assign_layouts = options.assign_layouts && options.use_onednn;
  RETURN_IF_ERROR(PrepareForInference(graph, pass_options, options.observer));
  CpuCompileOptions cpu;
  cpu.use_onednn = options.use_onednn;
  return CompileForCpu(graph, cpu);
}

}  // namespace kiln
