// The compiler's view of the oneDNN kernels: it asks the kernel factories
// themselves (on a private engine), so what lowering picks always builds.
#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/target.h"
#include "runtime/kernel.h"

namespace kiln {

namespace {

std::vector<Layout> LayoutsOf(const std::vector<Value*>& values) {
  std::vector<Layout> layouts;
  for (const Value* v : values) layouts.push_back(v ? v->layout() : proto::LAYOUT_PLAIN);
  return layouts;
}

}  // namespace

std::string OneDnnUnsupportedReason(const Node& node, const std::vector<Layout>& inputs,
                                    const std::vector<Layout>& outputs) {
  runtime::KernelSpec spec;
  spec.name = node.name();
  spec.op_type = node.op_type();
  spec.attrs = node.attrs();
  for (int i = 0; i < node.num_inputs(); ++i) {
    const Value* v = node.input(i);
    if (v && !v->has_type()) return "input '" + v->name() + "' has no type";
    spec.inputs.push_back(v ? TensorRef{v->dtype(), v->dims(), nullptr, inputs.at(i)} : TensorRef{});
  }
  for (int i = 0; i < node.num_outputs(); ++i) {
    const Value* v = node.output(i);
    if (!v->has_type()) return "output '" + v->name() + "' has no type";
    spec.outputs.push_back(TensorRef{v->dtype(), v->dims(), nullptr, outputs.at(i)});
  }
  return runtime::OneDnnUnsupportedReason(spec);
}

std::string OneDnnUnsupportedReason(const Node& node) {
  return OneDnnUnsupportedReason(node, LayoutsOf(node.inputs()), LayoutsOf(node.outputs()));
}

namespace {

// The CPU target: fused post-ops run as one oneDNN primitive, or not at all (fusion never
// trades a oneDNN kernel for a reference one).
class CpuTarget final : public Target {
 public:
  const char* name() const override { return "cpu"; }
  std::string PostOpFusionUnsupportedReason(const Node& fused) const override { return OneDnnUnsupportedReason(fused); }
  // oneDNN's convolutions pick channels-last (acdb) for the small channel counts of these
  // models and run it with their fastest jit kernels on AVX2 and AVX-512 alike; pooling,
  // batch norm, binary and eltwise primitives take it directly.
  Layout RegionLayout() const override { return proto::LAYOUT_CHANNELS_LAST; }
  std::string LayoutUnsupportedReason(const Node& node, const std::vector<Layout>& inputs,
                                      const std::vector<Layout>& outputs) const override {
    return OneDnnUnsupportedReason(node, inputs, outputs);
  }
  bool FusesReductions() const override { return true; }  // compiler/codegen/fused_elementwise.cc
};

}  // namespace

const Target& DefaultTarget() {
  static const CpuTarget target;
  return target;
}

}  // namespace kiln
