// MatMul (numpy semantics: 1-D promotion, broadcast batch dims) and Gemm
// (transposes as strided views; alpha, beta and C as output scales and post-ops).
#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime::onednn {
namespace {

// B as the primitive reads it: a plan constant (weights) in the layout the primitive picks
// (format any: oneDNN's brgemm matmul packs it into blocks), reordered once when the kernel is
// built; any other B as it lies. Measured on AVX-512 (one thread): MLP 784-512-256-10 at
// batch 64 0.61 ms packed vs 0.70-0.73 plain; at batch 1, 512x256 5.3 vs 6.6 us, 256x10
// 0.64 vs 0.98 us (the small-product kernel: 4.7 and 0.60 us).
memory::desc PackedWeightsDesc(const KernelSpec& spec, const memory::desc& b_md) {
  return spec.is_constant_input(1) ? AnyLayout(b_md) : b_md;
}
memory Weights(PrimitiveKernel& kernel, const KernelSpec& spec, const memory::desc& b_md,
               const dnnl::matmul::primitive_desc& pd) {
  if (pd.weights_desc() == b_md) return kernel.Input(1, b_md);
  return ConstantOrReorderTo(kernel, spec, 1, b_md, pd.weights_desc());
}

// MatMul, and FusedMatMul (`fused`): activation(A B + bias + Z) with the bias as
// the primitive's (broadcasting) bias and Z as a binary_add post-op.
StatusOr<std::unique_ptr<Kernel>> BuildMatMulWithPostOps(const KernelSpec& spec, bool fused) {
  Dims a = spec.inputs[0].dims, b = spec.inputs[1].dims;
  if (a.empty() || b.empty()) return Unimplemented("rank-0 operand");
  if (a.size() == 1) a.insert(a.begin(), 1);  // [K] -> [1, K]
  if (b.size() == 1) b.push_back(1);          // [K] -> [K, 1]
  size_t rank = std::max(a.size(), b.size());
  a = PadLeft(a, rank);
  b = PadLeft(b, rank);
  Dims dst(rank);
  for (size_t i = 0; i + 2 < rank; ++i) {
    if (a[i] != b[i] && a[i] != 1 && b[i] != 1) return Unimplemented("batch dims do not broadcast");
    dst[i] = a[i] == 1 ? b[i] : a[i];
  }
  dst[rank - 2] = a[rank - 2];
  dst[rank - 1] = b[rank - 1];
  if (ElementCount(dst) != spec.outputs[0].num_elements()) return Unimplemented("unexpected output shape");
  const bool has_bias = fused && spec.has_input(kFusedBiasInput);
  const bool has_residual = fused && spec.has_input(kFusedResidualInput);
  // Weights shared by every batch (B 2-D) and a bias per column at most: the batch dims are
  // rows of one product. oneDNN runs [1, 56, 56, 96] x [96, 384] (ConvNeXt's channels-last
  // MLP) as 56 products of 56 rows, at a quarter of the speed of one of 3136 rows.
  bool per_column_bias = true;
  if (has_bias) {
    const Dims& c = spec.inputs[kFusedBiasInput].dims;
    for (size_t i = 0; i + 1 < c.size(); ++i) per_column_bias &= c[i] == 1;
  }
  const bool rows_of_one_product = rank > 2 && spec.inputs[1].dims.size() <= 2 && per_column_bias;
  if (rows_of_one_product) {
    const int64_t rows = ElementCount(dst) / dst[rank - 1];
    a = {rows, a[rank - 1]};
    b = {b[rank - 2], b[rank - 1]};
    dst = {rows, dst[rank - 1]};
    rank = 2;
  }
  const memory::desc a_md = PlainDesc(a), b_md = PlainDesc(b), dst_md = PlainDesc(dst);
  memory::desc bias_md, z_md;
  if (has_bias) {
    const Dims& c = spec.inputs[kFusedBiasInput].dims;
    if (rows_of_one_product) {
      bias_md = PlainDesc({1, c.empty() ? 1 : c.back()});  // [1, ..., N] as [1, N]
    } else {
      if (c.size() > rank) return Unimplemented("bias has a higher rank than the output");
      bias_md = PlainDesc(PadLeft(c, rank));
    }
  }
  dnnl::post_ops post_ops;
  if (has_residual) {
    if (spec.inputs[kFusedResidualInput].num_elements() != ElementCount(dst)) {
      return Unimplemented("residual shape differs from the output's");
    }
    z_md = dst_md;
    post_ops.append_binary(dnnl::algorithm::binary_add, z_md);
  }
  if (fused) RETURN_IF_ERROR(AppendActivation(spec.attrs, post_ops));
  dnnl::primitive_attr attr;
  attr.set_post_ops(post_ops);
  const memory::desc b_run = PackedWeightsDesc(spec, b_md);
  dnnl::matmul::desc d =
      has_bias ? dnnl::matmul::desc(a_md, b_run, bias_md, dst_md) : dnnl::matmul::desc(a_md, b_run, dst_md);
  dnnl::matmul::primitive_desc pd(d, UserScratchpad(attr), *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, kernel->Input(0, a_md)},
                                       {DNNL_ARG_WEIGHTS, Weights(*kernel, spec, b_md, pd)},
                                       {DNNL_ARG_DST, kernel->Output(0, dst_md)}};
  if (has_bias) args[DNNL_ARG_BIAS] = kernel->Input(kFusedBiasInput, bias_md);
  if (has_residual) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = kernel->Input(kFusedResidualInput, z_md);
  kernel->AddStep(dnnl::matmul(pd), std::move(args));
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// Y = alpha * A' B' + beta * C. With C, oneDNN computes
//   beta * ((alpha / beta) * A' B' + C)
// via output scales, a binary_add post-op and an eltwise_linear post-op.
StatusOr<std::unique_ptr<Kernel>> BuildGemm(const KernelSpec& spec) {
  const Dims& a = spec.inputs[0].dims;
  const Dims& b = spec.inputs[1].dims;
  if (a.size() != 2 || b.size() != 2) return Unimplemented("A and B must be 2-D");
  const bool trans_a = spec.attrs.GetInt("transA", 0) != 0, trans_b = spec.attrs.GetInt("transB", 0) != 0;
  const float alpha = spec.attrs.GetFloat("alpha", 1.0f), beta = spec.attrs.GetFloat("beta", 1.0f);
  const int64_t m = trans_a ? a[1] : a[0], k = trans_a ? a[0] : a[1];
  const int64_t n = trans_b ? b[0] : b[1];
  if ((trans_b ? b[1] : b[0]) != k) return Unimplemented("inner dims differ");
  const memory::desc a_md = trans_a ? StridedDesc({m, k}, {1, m}) : PlainDesc({m, k});
  const memory::desc b_md = trans_b ? StridedDesc({k, n}, {1, k}) : PlainDesc({k, n});
  const memory::desc dst_md = PlainDesc({m, n});
  const bool add_c = spec.has_input(2) && beta != 0.0f;
  memory::desc c_md;
  dnnl::primitive_attr attr;
  dnnl::post_ops post_ops;
  float scale = alpha;
  if (add_c) {
    const Dims c = PadLeft(spec.inputs[2].dims, 2);
    if (c.size() != 2 || (c[0] != 1 && c[0] != m) || (c[1] != 1 && c[1] != n)) {
      return Unimplemented("C does not broadcast to [M, N]");
    }
    c_md = PlainDesc(c);
    scale = alpha / beta;
    post_ops.append_binary(dnnl::algorithm::binary_add, c_md);
    if (beta != 1.0f) post_ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_linear, beta, 0.0f);
    attr.set_post_ops(post_ops);
  }
  if (scale != 1.0f) attr.set_output_scales(0, {scale});
  dnnl::matmul::desc d(a_md, PackedWeightsDesc(spec, b_md), dst_md);
  dnnl::matmul::primitive_desc pd(d, UserScratchpad(attr), *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, kernel->Input(0, a_md)},
                                       {DNNL_ARG_WEIGHTS, Weights(*kernel, spec, b_md, pd)},
                                       {DNNL_ARG_DST, kernel->Output(0, dst_md)}};
  if (add_c) args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] = kernel->Input(2, c_md);
  kernel->AddStep(dnnl::matmul(pd), std::move(args));
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

void RegisterMatMulKernels(KernelRegistry& r) {
  RegisterOp(r, "MatMul", [](const KernelSpec& spec) { return BuildMatMulWithPostOps(spec, false); });
  RegisterOp(r, "FusedMatMul", [](const KernelSpec& spec) { return BuildMatMulWithPostOps(spec, true); });
  RegisterOp(r, "Gemm", BuildGemm);
}

}  // namespace kiln::runtime::onednn
