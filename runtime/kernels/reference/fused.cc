// Reference kernels of the fused inference ops (ir/core/fused_ops.h): literally the
// reference kernels of the ops they replace, run one after another, so they are
// the oracle for the oneDNN post-op kernels and for the fuse-postops pass.
#include <cstring>
#include <optional>

#include "ir/core/fused_ops.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using Refs = std::vector<TensorRef>;

// out = op(out, other...): runs `op` on a copy of `out` so no kernel reads what it writes.
Status ApplyInPlace(const KernelSpec& spec, const std::string& op, const Attrs& attrs, const TensorRef& out,
                    const Refs& others) {
  auto copy = Tensor::FromBytes(out.dtype, out.dims, out.data, out.num_bytes());
  if (!copy.ok()) return copy.status();
  Refs ins = {copy->ref()};
  ins.insert(ins.end(), others.begin(), others.end());
  return RunReferenceOp(op, spec.name, attrs, ins, {out});
}

// Y = activation(core(in[0], in[1] [, in[2] for Conv]) [+ in[2] for MatMul] [+ in[3]]).
Status FusedKernel(const std::string& core, const KernelSpec& spec, const Refs& in, const Refs& out) {
  Attrs core_attrs = spec.attrs;
  for (const char* a : {"activation", "activation_alpha", "activation_beta"}) core_attrs.Erase(a);
  const bool bias_in_core = core == "Conv";
  std::optional<Tensor> saved_residual;
  if (ref::HasInput(in, kFusedResidualInput) && in[kFusedResidualInput].data == out[0].data) {
    const TensorRef& z = in[kFusedResidualInput];
    auto copy = Tensor::FromBytes(z.dtype, z.dims, z.data, z.num_bytes());
    if (!copy.ok()) return copy.status();
    saved_residual = std::move(*copy);
  }
  Refs core_in = {in[0], in[1]};
  if (bias_in_core && ref::HasInput(in, kFusedBiasInput)) core_in.push_back(in[kFusedBiasInput]);
  RETURN_IF_ERROR(RunReferenceOp(core, spec.name, core_attrs, core_in, {out[0]}));
  if (!bias_in_core && ref::HasInput(in, kFusedBiasInput)) {
    RETURN_IF_ERROR(ApplyInPlace(spec, "Add", {}, out[0], {in[kFusedBiasInput]}));
  }
  if (ref::HasInput(in, kFusedResidualInput)) {
    // The output may have taken the residual's buffer (compiler/memory_planner.h): the core
    // op wrote over it, so it was saved first.
    RETURN_IF_ERROR(
        ApplyInPlace(spec, "Add", {}, out[0], {saved_residual ? saved_residual->ref() : in[kFusedResidualInput]}));
  }
  const std::string act = spec.attrs.GetString("activation", "");
  if (act.empty()) return Status::Ok();
  if (!IsFusableActivation(act)) return InvalidArgument("activation '", act, "' cannot be fused");
  const float alpha = spec.attrs.GetFloat("activation_alpha", 0.0f),
              beta = spec.attrs.GetFloat("activation_beta", 0.0f);
  if (act == "Clip") {
    // Clip's bounds are scalars of the data's type.
    auto bound = [&](float v) {
      return out[0].dtype == proto::DT_DOUBLE ? Tensor::FromVector(out[0].dtype, {}, std::vector<double>{v})
                                              : Tensor::FromVector(out[0].dtype, {}, std::vector<float>{v});
    };
    if (out[0].dtype != proto::DT_FLOAT && out[0].dtype != proto::DT_DOUBLE) {
      return Unimplemented("a fused Clip needs float32 or float64");
    }
    const Tensor lo = bound(alpha), hi = bound(beta);
    return ApplyInPlace(spec, "Clip", {}, out[0], {lo.ref(), hi.ref()});
  }
  Attrs act_attrs;
  if (spec.attrs.Has("activation_alpha")) act_attrs.SetFloat("alpha", alpha);
  return ApplyInPlace(spec, act, act_attrs, out[0], {});
}

}  // namespace

void RegisterReferenceFusedKernels(KernelRegistry& r) {
  for (const char* op : {"FusedConv", "FusedMatMul"}) {
    const std::string core = op == std::string("FusedConv") ? "Conv" : "MatMul";
    ref::RegisterRef(r, op, 2, 1, [core](const KernelSpec& spec, const Refs& in, const Refs& out) {
      return FusedKernel(core, spec, in, out);
    });
  }
}

}  // namespace kiln::runtime
