#include "compiler/compile.h"

namespace kiln {

StatusOr<proto::Plan> CompileToPlan(Graph& graph, const CompileOptions& options) {
  ASSIGN_OR_RETURN(const Backend* backend, FindBackend(options.device));
  if (options.prepare_for_inference) {
    PassOptions pass_options;
    pass_options.batch_size = options.batch_size;
    pass_options.fusion_decisions = options.fusion_decisions;
    pass_options.target = &backend->target();
    // Layouts are a choice among oneDNN kernels: a reference-only plan needs none.
    pass_options.assign_layouts = options.assign_layouts && options.use_onednn;
    RETURN_IF_ERROR(PrepareForInference(graph, pass_options, options.observer));
  }
  LowerOptions lower;
  lower.use_onednn = options.use_onednn;
  lower.kernel_symbol_prefix = options.kernel_symbol_prefix;
  lower.cpu_fallback = options.cpu_fallback;
  return backend->Lower(graph, lower);
}

}  // namespace kiln
