// Binary arithmetic with numpy broadcasting (dnnl::binary), Sum (dnnl::sum) and
// Concat (dnnl::concat), Transpose (a reorder).
#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime::onednn {
namespace {

using dnnl::algorithm;

// oneDNN broadcasts src1 only (each dim equal to dst's or 1); src0 must have
// dst's shape. A commutative op whose first input is the broadcast one swaps.
OneDnnBuilder Binary(algorithm alg, bool commutative) {
  return [=](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    if (spec.inputs.size() != 2) return Unimplemented("expects exactly two inputs");
    const Dims& out = spec.outputs[0].dims;
    const size_t rank = std::max<size_t>(out.size(), 1);
    Dims a = PadLeft(spec.inputs[0].dims, rank), b = PadLeft(spec.inputs[1].dims, rank);
    const Dims dst = PadLeft(out, rank);
    int src0 = 0, src1 = 1;
    if (a != dst) {
      if (!commutative || b != dst) return Unimplemented("only the second input may be broadcast");
      std::swap(a, b);
      std::swap(src0, src1);
    }
    for (size_t i = 0; i < rank; ++i) {
      if (b[i] != dst[i] && b[i] != 1) return Unimplemented("input shapes do not broadcast to the output");
    }
    // A laid-out tensor (layout regions) has the output's rank: PadLeft leaves it as it is.
    auto desc = [&](const TensorRef& t, const Dims& padded) {
      return t.dims == padded ? LayoutDesc(t) : PlainDesc(padded);
    };
    const memory::desc a_md = desc(spec.inputs[src0], a), b_md = desc(spec.inputs[src1], b);
    const memory::desc out_md = desc(spec.outputs[0], dst);
    // oneDNN's vectorized binary wants every full-size tensor in one layout; with a mix (a
    // layout region's edge) it takes its reference loop, ~90 ns an element (EfficientNet-B0's
    // squeeze-excitation Muls, plain inputs into a channels-last output: 257 of 366 ms). So
    // it runs in src0's layout, and reorders convert the rest in and out.
    const bool b_full = b == dst;
    const memory::desc b_run = b_full ? a_md : b_md;
    dnnl::binary::desc d(alg, a_md, b_run, a_md);
    dnnl::binary::primitive_desc pd(d, *spec.env->engine);
    auto kernel = std::make_unique<PrimitiveKernel>(spec);
    memory src1_mem = kernel->Input(src1, b_md);
    if (b_full) src1_mem = ReorderTo(*kernel, src1_mem, a_md);
    memory dst_bound = kernel->Output(0, out_md);
    memory dst_mem = WriteVia(*kernel, dst_bound, a_md);
    kernel->AddStep(dnnl::binary(pd),
                    {{DNNL_ARG_SRC_0, kernel->Input(src0, a_md)}, {DNNL_ARG_SRC_1, src1_mem}, {DNNL_ARG_DST, dst_mem}});
    CopyBack(*kernel, dst_mem, dst_bound);
    return std::unique_ptr<Kernel>(std::move(kernel));
  };
}

StatusOr<std::unique_ptr<Kernel>> BuildSum(const KernelSpec& spec) {
  const Dims& out = spec.outputs[0].dims;
  const memory::desc md = LayoutDesc(spec.outputs[0]);
  std::vector<memory::desc> mds;
  for (const TensorRef& in : spec.inputs) {
    if (in.dims != out) return Unimplemented("inputs must all have the output's shape (no broadcasting)");
    mds.push_back(LayoutDesc(in));
  }
  std::vector<float> scales(spec.inputs.size(), 1.0f);
  dnnl::sum::primitive_desc pd(md, scales, mds, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  std::unordered_map<int, memory> args{{DNNL_ARG_DST, kernel->Output(0, md)}};
  for (size_t i = 0; i < spec.inputs.size(); ++i) args[DNNL_ARG_MULTIPLE_SRC + i] = kernel->Input(i, mds[i]);
  kernel->AddStep(dnnl::sum(pd), std::move(args));
  return std::unique_ptr<Kernel>(std::move(kernel));
}

StatusOr<std::unique_ptr<Kernel>> BuildConcat(const KernelSpec& spec) {
  const Dims& out = spec.outputs[0].dims;
  if (out.empty()) return Unimplemented("rank-0 output");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), out.size()));
  std::vector<memory::desc> mds;
  for (const TensorRef& in : spec.inputs) {
    if (in.dims.size() != out.size()) return Unimplemented("inputs must have the output's rank");
    mds.push_back(LayoutDesc(in));
  }
  const memory::desc dst_md = LayoutDesc(spec.outputs[0]);
  dnnl::concat::primitive_desc pd(dst_md, static_cast<int>(axis), mds, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  std::unordered_map<int, memory> args{{DNNL_ARG_DST, kernel->Output(0, dst_md)}};
  for (size_t i = 0; i < mds.size(); ++i) args[DNNL_ARG_MULTIPLE_SRC + i] = kernel->Input(i, mds[i]);
  kernel->AddStep(dnnl::concat(pd), std::move(args));
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// Transpose as one reorder: the input read through a descriptor of the output's dims
// whose strides are the input's, permuted (the reference kernel computes an offset per
// element; a batch-first RNN's [N, T, C] <-> [T, N, C] transposes are on its hot path).
StatusOr<std::unique_ptr<Kernel>> BuildTranspose(const KernelSpec& spec) {
  const Dims& in = spec.inputs[0].dims;
  if (in.empty()) return Unimplemented("rank-0 input");
  if (in.size() > DNNL_MAX_NDIMS) return Unimplemented("rank above ", DNNL_MAX_NDIMS);
  ASSIGN_OR_RETURN(std::vector<int64_t> perm, ResolvePerm(spec.attrs.GetInts("perm"), in.size()));
  Dims strides(in.size(), 1), dims(in.size()), permuted(in.size());
  for (int64_t i = static_cast<int64_t>(in.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * in[i + 1];
  for (size_t i = 0; i < perm.size(); ++i) dims[i] = in[perm[i]], permuted[i] = strides[perm[i]];
  if (dims != spec.outputs[0].dims) return Unimplemented("the output is not the transposed input's shape");
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  memory src = kernel->Input(0, StridedDesc(dims, permuted)), dst = kernel->Output(0, PlainDesc(dims));
  kernel->AddStep(dnnl::reorder(src, dst), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, dst}});
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

void RegisterBinaryKernels(KernelRegistry& r) {
  // ir/core/ops/binary.def's rows with a oneDNN algorithm.
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, doc, forward, grad_a, grad_b, dnnl, \
               commutative)                                                                                     \
  if (dnnl_##dnnl != dnnl_none)                                                                                 \
    RegisterOp(r, #Name, Binary(static_cast<algorithm>(dnnl_##dnnl), commutative), Layouts::kAny);
#include "ir/core/ops/binary.def"
#undef BINARY
  RegisterOp(r, "Sum", BuildSum, Layouts::kAny);
  RegisterOp(r, "Concat", BuildConcat, Layouts::kAny);
  RegisterOp(r, "Transpose", BuildTranspose);
}

}  // namespace kiln::runtime::onednn
