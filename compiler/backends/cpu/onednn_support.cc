// The compiler's view of the oneDNN kernels: it asks the kernel factories
// themselves (on a private engine), so what lowering picks always builds.
#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/target.h"
#include "runtime/kernel.h"

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

namespace {

// The CPU target: fused post-ops run as one oneDNN primitive, or not at all (fusion never
// trades a oneDNN kernel for a reference one).
class CpuTarget final : public Target {
 public:
  const char* name() const override { return "cpu"; }
  std::string PostOpFusionUnsupportedReason(const Node& fused) const override { return OneDnnUnsupportedReason(fused); }
};

}  // namespace

const Target& DefaultTarget() {
  static const CpuTarget target;
  return target;
}

}  // namespace kiln
