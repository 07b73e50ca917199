#include "runtime/kernel.h"

#include <cstdlib>

namespace kiln::runtime {

uint8_t* ExecEnv::ScratchBase(int64_t bytes) {
  if (scratch_parent) {
    uint8_t* base = scratch_parent->ScratchBase(scratch_offset + bytes);
    return base ? base + scratch_offset : nullptr;
  }
  if (bytes > scratch_allocated_) {
    const int64_t rounded = (bytes + kScratchAlignment - 1) / kScratchAlignment * kScratchAlignment;
    auto* mem = static_cast<uint8_t*>(std::aligned_alloc(kScratchAlignment, rounded));
    if (!mem) return nullptr;
    scratch_.reset(mem, std::free);
    scratch_allocated_ = rounded;
  }
  return scratch_.get();
}

KernelRegistry& KernelRegistry::Global() {
  static KernelRegistry* registry = [] {
    auto* r = new KernelRegistry();
    RegisterReferenceElementwiseKernels(*r);
    RegisterReferenceBinaryKernels(*r);
    RegisterReferenceLinalgKernels(*r);
    RegisterReferenceNnKernels(*r);
    RegisterReferenceShapeKernels(*r);
    RegisterReferenceReductionKernels(*r);
    RegisterReferenceLogicalKernels(*r);
    RegisterReferenceSignalKernels(*r);
    RegisterReferenceIndexingKernels(*r);
    RegisterReferenceLossKernels(*r);
    RegisterReferenceArrayKernels(*r);
    RegisterReferenceResizeKernels(*r);
    RegisterReferenceQuantizeKernels(*r);
    RegisterReferenceAttentionKernels(*r);
    RegisterReferenceGradientKernels(*r);
    RegisterReferenceTrainingKernels(*r);
    RegisterReferenceFusedKernels(*r);
    RegisterReferenceBitwiseKernels(*r);
    RegisterReferenceEinsumKernels(*r);
    RegisterReferenceNormalizationKernels(*r);
    RegisterReferenceValueShapedKernels(*r);
    RegisterOneDnnKernels(*r);
    RegisterReferenceFusedElementwiseKernels(*r);
    RegisterCompiledKernels(*r);
    RegisterCudaKernels(*r);
    return r;
  }();
  return *registry;
}

void KernelRegistry::Register(const std::string& backend, const std::string& op_type, KernelFactory factory) {
  factories_[{backend, op_type}] = std::move(factory);
}

const KernelFactory* KernelRegistry::Find(const std::string& backend, const std::string& op_type) const {
  auto it = factories_.find({backend, op_type});
  if (it == factories_.end()) it = factories_.find({backend, kAnyOp});
  return it == factories_.end() ? nullptr : &it->second;
}

StatusOr<std::unique_ptr<Kernel>> KernelRegistry::Create(const std::string& backend, const KernelSpec& spec) const {
  const KernelFactory* f = Find(backend, spec.op_type);
  if (!f) return Unimplemented(spec.Label(), ": no '", backend, "' kernel for op ", spec.op_type);
  return (*f)(spec);
}

namespace {
class SimpleKernel : public Kernel {
 public:
  SimpleKernel(KernelSpec spec, SimpleKernelFn fn) : spec_(std::move(spec)), fn_(std::move(fn)) {}
  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    return fn_(spec_, in, out);
  }

 private:
  KernelSpec spec_;
  SimpleKernelFn fn_;
};
}  // namespace

KernelFactory MakeSimpleKernel(SimpleKernelFn fn) {
  return [fn](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(new SimpleKernel(spec, fn));
  };
}

Status RunReferenceOp(const std::string& op_type, const std::string& name, const Attrs& attrs,
                      const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) {
  KernelSpec spec;
  spec.name = name;
  spec.op_type = op_type;
  spec.attrs = attrs;
  spec.inputs = inputs;
  spec.outputs = outputs;
  ASSIGN_OR_RETURN(auto kernel, KernelRegistry::Global().Create("ref", spec));
  return kernel->Run(inputs, outputs);
}

}  // namespace kiln::runtime
