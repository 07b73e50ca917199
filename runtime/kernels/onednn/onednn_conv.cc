// Conv and ConvTranspose (1-D to 3-D, groups, dilations, strides, asymmetric
// pads, bias) over nc[d][h]w tensors (Conv also channels-last ones, in layout
// regions) and ONNX weight layouts.
#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "runtime/kernel_choice.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime::onednn {
namespace {

Dims Spatial(const Dims& d) { return Dims(d.begin() + 2, d.end()); }

memory::dims ToDnnl(const Dims& d) { return memory::dims(d.begin(), d.end()); }

// oneDNN counts dilation from 0 (dense), ONNX from 1.
memory::dims OneDnnDilation(const Dims& onnx) {
  memory::dims out;
  for (int64_t d : onnx) out.push_back(d - 1);
  return out;
}

Status CheckRanks(const KernelSpec& spec) {
  const Dims& x = spec.inputs[0].dims;
  if (x.size() < 3 || x.size() > 5) return Unimplemented("input rank must be 3 to 5");
  if (spec.inputs[1].dims.size() != x.size() || spec.outputs[0].dims.size() != x.size()) {
    return Unimplemented("weight/output rank differs from the input's");
  }
  return Status::Ok();
}

// Conv, and FusedConv (`fused`): activation(conv + bias + Z) with Z through a sum
// post-op, as one primitive of `algorithm` (direct, or Winograd: kWinogradKernel).
// Up to this many input channels a plain input is read as it lies (DescribeConv).
constexpr int64_t kPlainImageChannels = 4;

struct ConvPrimitive {
  memory::desc src_md, w_md, dst_md, b_md;
  dnnl::convolution_forward::primitive_desc pd;
};

StatusOr<ConvPrimitive> DescribeConv(const KernelSpec& spec, bool fused, dnnl::algorithm algorithm) {
  RETURN_IF_ERROR(CheckRanks(spec));
  const Dims& x = spec.inputs[0].dims;
  const Dims& w = spec.inputs[1].dims;
  const Dims& y = spec.outputs[0].dims;
  const int64_t group = spec.attrs.GetInt("group", 1);
  if (group < 1 || x[1] != w[1] * group || w[0] % group != 0) return Unimplemented("channels do not match group");
  ASSIGN_OR_RETURN(WindowGeometry g, ComputeWindowGeometry(Spatial(x), Spatial(w), spec.attrs));
  if (g.output != Spatial(y)) return Unimplemented("output spatial dims differ from the window geometry");
  const size_t n = g.kernel.size();
  const Dims pad_l(g.pads.begin(), g.pads.begin() + n), pad_r(g.pads.begin() + n, g.pads.end());

  Dims w_dims = w;  // grouped: [g, M/g, C/g, k...], the same bytes as ONNX's [M, C/g, k...]
  if (group > 1) {
    w_dims[0] = w[0] / group;
    w_dims.insert(w_dims.begin(), group);
  }
  ConvPrimitive c;
  c.src_md = LayoutDesc(spec.inputs[0]);
  c.w_md = PlainDesc(w_dims);
  c.dst_md = LayoutDesc(spec.outputs[0]);
  if (spec.has_input(2)) c.b_md = PlainDesc({w[0]});
  const bool has_residual = fused && spec.has_input(kFusedResidualInput);
  // Inside a layout region (an activation bound channels-last) the direct primitive runs in
  // that layout, so only the region's edges reorder; elsewhere, and for Winograd (blocked
  // layouts only), the layout is left to oneDNN, with reorders at the kernel's edges.
  const bool channels_last =
      algorithm == dnnl::algorithm::convolution_direct &&
      AnyNonPlain({&spec.inputs[0], &spec.outputs[0], has_residual ? &spec.inputs[kFusedResidualInput] : nullptr});
  // A plain input with a few channels (an image: the first convolution of a training step,
  // whose graphs keep plain layouts) is read as it lies: left to oneDNN, its brgconv runs
  // channels-last and its output then needs a transposing reorder back to NCHW, where the
  // plain-input kernel writes channel blocks that reorder to NCHW in a fast copy (the
  // Fashion-MNIST CNN's 1 -> 32 convolution at batch 64: 1.04 -> 0.50 ms, AVX-512 Xeon).
  const bool plain_image = !channels_last && algorithm == dnnl::algorithm::convolution_direct &&
                           spec.inputs[0].layout == proto::LAYOUT_PLAIN && x[1] <= kPlainImageChannels;
  const memory::desc src_run = channels_last ? ChannelsLastDesc(x) : plain_image ? c.src_md : AnyLayout(c.src_md);
  const memory::desc dst_run = channels_last ? ChannelsLastDesc(y) : AnyLayout(c.dst_md);
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference, algorithm, src_run, AnyLayout(c.w_md), c.b_md,
                                    dst_run, ToDnnl(g.strides), OneDnnDilation(g.dilations), ToDnnl(pad_l),
                                    ToDnnl(pad_r));
  dnnl::post_ops post_ops;
  if (has_residual) {
    if (spec.inputs[kFusedResidualInput].dims != y) return Unimplemented("residual shape differs from the output's");
    post_ops.append_sum(1.0f);
  }
  if (fused) RETURN_IF_ERROR(AppendActivation(spec.attrs, post_ops));
  dnnl::primitive_attr attr;
  attr.set_post_ops(post_ops);
  c.pd = dnnl::convolution_forward::primitive_desc(d, UserScratchpad(attr), *spec.env->engine);
  return c;
}

// The sum post-op accumulates into dst, so Z is first copied (reordered) into whatever
// dst the primitive writes. Where the output took Z's buffer (compiler/memory_planner.h)
// and the primitive writes the output directly, that copy is skipped at run time.
StatusOr<std::unique_ptr<Kernel>> BuildConvWithPostOps(const KernelSpec& spec, bool fused, dnnl::algorithm algorithm) {
  ASSIGN_OR_RETURN(ConvPrimitive c, DescribeConv(spec, fused, algorithm));
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  memory src = ReorderTo(*kernel, kernel->Input(0, c.src_md), c.pd.src_desc());
  memory wts = ConstantOrReorderTo(*kernel, spec, 1, c.w_md, c.pd.weights_desc());
  memory dst_plain = kernel->Output(0, c.dst_md);
  memory dst = WriteVia(*kernel, dst_plain, c.pd.dst_desc());
  if (fused && spec.has_input(kFusedResidualInput))
    CopyBack(*kernel, kernel->Input(kFusedResidualInput, LayoutDesc(spec.inputs[kFusedResidualInput])), dst);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DST, dst}};
  if (spec.has_input(2)) args[DNNL_ARG_BIAS] = kernel->Input(2, c.b_md);
  kernel->AddStep(dnnl::convolution_forward(c.pd), std::move(args));
  CopyBack(*kernel, dst, dst_plain);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// What oneDNN 2.6's Winograd kernels take (avx512_core, F(2x2,3x3) and F(4x4,3x3)).
Status CheckWinogradShape(const KernelSpec& spec) {
  if (spec.op_type != "Conv" && spec.op_type != "FusedConv") return Unimplemented("not a convolution");
  if (spec.inputs.size() < 2 || spec.inputs[0].dims.size() != 4 || spec.inputs[1].dims.size() != 4)
    return Unimplemented("not a 2-D convolution");
  const Dims& w = spec.inputs[1].dims;
  if (w[2] != 3 || w[3] != 3) return Unimplemented("the window is not 3x3");
  if (spec.attrs.GetInt("group", 1) != 1) return Unimplemented("grouped");
  for (const char* name : {"strides", "dilations"}) {
    for (int64_t v : spec.attrs.GetInts(name)) {
      if (v != 1) return Unimplemented(name, " are not 1");
    }
  }
  return Status::Ok();
}

}  // namespace

std::string WinogradConvUnsupportedReason(const KernelSpec& spec) {
  Status shape = CheckWinogradShape(spec);
  if (!shape.ok()) return shape.message();
  // oneDNN decides the rest (the CPU's instruction set, channel counts, the post-ops).
  std::string reason;
  WithPrivateEnv([&](ExecEnv& env) {
    KernelSpec bound = spec;
    bound.env = &env;
    try {
      auto c = DescribeConv(bound, spec.op_type == "FusedConv", dnnl::algorithm::convolution_winograd);
      if (!c.ok()) reason = c.status().message();
    } catch (const dnnl::error& e) {
      reason = std::string("oneDNN has no Winograd kernel for it here: ") + e.what();
    }
  });
  return reason;
}

namespace {

StatusOr<std::unique_ptr<Kernel>> BuildConvTranspose(const KernelSpec& spec) {
  RETURN_IF_ERROR(CheckRanks(spec));
  const Dims& x = spec.inputs[0].dims;
  const Dims& w = spec.inputs[1].dims;  // [C, M/g, k...]
  const Dims& y = spec.outputs[0].dims;
  const int64_t group = spec.attrs.GetInt("group", 1);
  if (group < 1 || x[1] != w[0] || w[0] % group != 0 || y[1] != w[1] * group) {
    return Unimplemented("channels do not match group");
  }
  ASSIGN_OR_RETURN(WindowGeometry g, ComputeConvTransposeGeometry(Spatial(x), Spatial(w), spec.attrs));
  if (g.output != Spatial(y)) return Unimplemented("output spatial dims differ from the window geometry");
  const size_t n = g.kernel.size();
  // oneDNN: out = (in - 1) * s + (k - 1) * d + 1 - pad_l - pad_r, so output_padding shrinks pad_r.
  Dims pad_l(g.pads.begin(), g.pads.begin() + n), pad_r(n);
  for (size_t i = 0; i < n; ++i) pad_r[i] = g.pads[n + i] - g.output_padding[i];

  // oneDNN wants [g, OC/g, IC/g, k...]; ONNX stores [g][IC/g][OC/g][k...]: describe it by strides.
  const int64_t ic_g = w[0] / group, oc_g = w[1];
  const int64_t k_size = ElementCount(Spatial(w));
  Dims w_dims = {oc_g, ic_g}, w_strides = {k_size, oc_g * k_size};
  if (group > 1) {
    w_dims.insert(w_dims.begin(), group);
    w_strides.insert(w_strides.begin(), ic_g * oc_g * k_size);
  }
  const Dims k_strides = RowMajorStrides(Spatial(w));
  for (size_t i = 0; i < n; ++i) {
    w_dims.push_back(w[2 + i]);
    w_strides.push_back(k_strides[i]);
  }
  const memory::desc src_md = PlainDesc(x), w_md = StridedDesc(w_dims, w_strides), dst_md = PlainDesc(y);
  const bool has_bias = spec.has_input(2);
  const memory::desc b_md = has_bias ? PlainDesc({y[1]}) : memory::desc();
  dnnl::deconvolution_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::deconvolution_direct, src_md,
                                      w_md, b_md, dst_md, ToDnnl(g.strides), OneDnnDilation(g.dilations), ToDnnl(pad_l),
                                      ToDnnl(pad_r));
  dnnl::deconvolution_forward::primitive_desc pd(d, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, kernel->Input(0, src_md)},
                                       {DNNL_ARG_WEIGHTS, kernel->Input(1, w_md)},
                                       {DNNL_ARG_DST, kernel->Output(0, dst_md)}};
  if (has_bias) args[DNNL_ARG_BIAS] = kernel->Input(2, b_md);
  kernel->AddStep(dnnl::deconvolution_forward(pd), std::move(args));
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

void RegisterConvKernels(KernelRegistry& r) {
  for (bool fused : {false, true}) {
    const std::string op = fused ? "FusedConv" : "Conv";
    RegisterOp(
        r, op,
        [fused](const KernelSpec& spec) {
          return BuildConvWithPostOps(spec, fused, dnnl::algorithm::convolution_direct);
        },
        Layouts::kAny);
    RegisterFamilyOp(
        r, kWinogradKernel, op,
        [fused](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
          RETURN_IF_ERROR(CheckWinogradShape(spec));
          try {
            return BuildConvWithPostOps(spec, fused, dnnl::algorithm::convolution_winograd);
          } catch (const dnnl::error&) {
            // A plan chosen on another CPU (an AOT program, a copied plan): the choice was
            // for speed, so the direct algorithm runs it here.
            return BuildConvWithPostOps(spec, fused, dnnl::algorithm::convolution_direct);
          }
        },
        Layouts::kAny);
  }
  RegisterOp(r, "ConvTranspose", BuildConvTranspose);
}

}  // namespace kiln::runtime::onednn
