// The compiler's view of the oneDNN kernels: it asks the kernel factories
// themselves (on a private engine), so what lowering picks always builds.
#include "compiler/backends/cpu/cpu_backend.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln {

std::string OneDnnUnsupportedReason(const Node& node) {
  runtime::KernelSpec spec;
  spec.name = node.name();
  spec.op_type = node.op_type();
  spec.attrs = node.attrs();
  for (const Value* v : node.inputs()) {
    if (v && !v->has_type()) return "input '" + v->name() + "' has no type";
    spec.inputs.push_back(v ? TensorRef{v->dtype(), v->dims(), nullptr} : TensorRef{});
  }
  for (const Value* v : node.outputs()) {
    if (!v->has_type()) return "output '" + v->name() + "' has no type";
    spec.outputs.push_back(TensorRef{v->dtype(), v->dims(), nullptr});
  }
  return runtime::OneDnnUnsupportedReason(spec);
}

}  // namespace kiln
