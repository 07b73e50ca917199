// MaxPool / AveragePool (pooling_v2 with dilation) and GlobalAveragePool
// (reduction_mean over the spatial dims).
#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/max_pool_direct.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime::onednn {
namespace {

memory::dims ToDnnl(const Dims& d) { return memory::dims(d.begin(), d.end()); }

OneDnnBuilder Pool(bool is_max) {
  return [is_max](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    if (spec.outputs.size() != 1) return Unimplemented("the Indices output is not supported");
    const Dims& x = spec.inputs[0].dims;
    const Dims& y = spec.outputs[0].dims;
    ASSIGN_OR_RETURN(PoolingGeometry p, OneDnnPoolingGeometry(spec.attrs, x, y, is_max));
    // Channels-last pooling is vectorized as well: inside a layout region it runs in it.
    const bool channels_last = AnyNonPlain({&spec.inputs[0], &spec.outputs[0]});
    const memory::desc src_md = channels_last ? ChannelsLastDesc(x) : PoolingLayout(x);
    const memory::desc dst_md = channels_last ? ChannelsLastDesc(y) : PoolingLayout(y);
    dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, p.alg, src_md, dst_md, p.strides, p.kernel,
                                     p.dilation, p.pad_l, p.pad_r);
    dnnl::pooling_v2_forward::primitive_desc pd(d, *spec.env->engine);
    auto kernel = std::make_unique<PrimitiveKernel>(spec);
    memory src = ReorderTo(*kernel, kernel->Input(0, LayoutDesc(spec.inputs[0])), src_md);
    memory dst_plain = kernel->Output(0, LayoutDesc(spec.outputs[0]));
    memory dst = WriteVia(*kernel, dst_plain, dst_md);
    kernel->AddStep(dnnl::pooling_v2_forward(pd), {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
    CopyBack(*kernel, dst, dst_plain);
    return std::unique_ptr<Kernel>(std::move(kernel));
  };
}

StatusOr<std::unique_ptr<Kernel>> BuildGlobalAveragePool(const KernelSpec& spec) {
  const Dims& x = spec.inputs[0].dims;
  if (x.size() < 3) return Unimplemented("input rank must be at least 3");
  Dims y(x.size(), 1);
  y[0] = x[0];
  y[1] = x[1];
  if (spec.outputs[0].dims != y) return Unimplemented("unexpected output shape");
  if (spec.inputs[0].layout == proto::LAYOUT_CHANNELS_LAST) {
    // oneDNN's reduction has no jit kernel for channels-last (its reference loop is ~50x
    // slower on ResNet-50's last map): average pooling over the whole image, which is
    // vectorized there, writes [N, C, 1...] in channels-last -- the plain bytes as well.
    const memory::dims spatial(x.begin() + 2, x.end()), zeros(spatial.size(), 0);
    const memory::desc src_md = ChannelsLastDesc(x), dst_md = ChannelsLastDesc(y);
    dnnl::pooling_v2_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_avg_exclude_padding,
                                     src_md, dst_md, spatial, spatial, zeros, zeros, zeros);
    dnnl::pooling_v2_forward::primitive_desc pd(d, *spec.env->engine);
    auto kernel = std::make_unique<PrimitiveKernel>(spec);
    kernel->AddStep(dnnl::pooling_v2_forward(pd),
                    {{DNNL_ARG_SRC, kernel->Input(0, src_md)}, {DNNL_ARG_DST, kernel->Output(0, dst_md)}});
    return std::unique_ptr<Kernel>(std::move(kernel));
  }
  const memory::desc src_md = PlainDesc(x), dst_md = PlainDesc(y);
  dnnl::reduction::desc d(dnnl::algorithm::reduction_mean, src_md, dst_md, 0.0f, 0.0f);
  dnnl::reduction::primitive_desc pd(d, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  kernel->AddStep(dnnl::reduction(pd),
                  {{DNNL_ARG_SRC, kernel->Input(0, src_md)}, {DNNL_ARG_DST, kernel->Output(0, dst_md)}});
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

memory::desc PoolingLayout(const Dims& dims) {
  if (dims.size() != 4) return PlainDesc(dims);
  // The channel block must match the vector width oneDNN's jit kernels use on this
  // CPU (16 floats with AVX-512, 8 with AVX2); another block falls back to a slow loop.
  static const bool avx512 = dnnl::get_effective_cpu_isa() >= dnnl::cpu_isa::avx512_core;
  return memory::desc(ToDnnl(dims), memory::data_type::f32,
                      avx512 ? memory::format_tag::nChw16c : memory::format_tag::nChw8c);
}

memory ReorderTo(PrimitiveKernel& kernel, memory from, const memory::desc& md) {
  if (from.get_desc() == md) return from;
  memory to = kernel.Scratch(md);
  kernel.AddStep(dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
  kernel.CountConversion();
  return to;
}

memory ConstantOrReorderTo(PrimitiveKernel& kernel, const KernelSpec& spec, int index, const memory::desc& plain,
                           const memory::desc& md) {
  if (!spec.is_constant_input(index) || plain == md) return ReorderTo(kernel, kernel.Input(index, plain), md);
  const void* data = spec.inputs[index].data;
  auto* shared = spec.env->reordered_constants.get();
  if (shared) {
    for (const auto& [source, reordered] : shared->entries) {
      if (source == data && reordered.get_desc() == md) return reordered;
    }
  }
  memory from(plain, *spec.env->engine, const_cast<void*>(data));
  memory to = OwnedBuffer(spec, md);  // reordered once, read by every run
  dnnl::reorder(from, to).execute(*spec.env->stream, from, to);
  spec.env->stream->wait();
  if (shared) shared->entries.emplace_back(data, to);
  return to;
}

memory::desc AnyLayout(const memory::desc& md) {
  return memory::desc(md.dims(), md.data_type(), memory::format_tag::any);
}

memory WriteVia(PrimitiveKernel& kernel, memory plain, const memory::desc& md) {
  return plain.get_desc() == md ? plain : kernel.Scratch(md);
}

void CopyBack(PrimitiveKernel& kernel, memory from, memory to) {
  if (from == to) return;
  const bool same_layout = from.get_desc() == to.get_desc();
  kernel.AddStep(dnnl::reorder(from, to), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}}, same_layout);
  if (!same_layout) kernel.CountConversion();
}

StatusOr<PoolingGeometry> OneDnnPoolingGeometry(const Attrs& attrs, const Dims& x, const Dims& y, bool is_max) {
  if (x.size() < 3 || x.size() > 5 || y.size() != x.size()) return Unimplemented("input rank must be 3 to 5");
  const Dims spatial(x.begin() + 2, x.end());
  ASSIGN_OR_RETURN(WindowGeometry g, ComputeWindowGeometry(spatial, attrs.GetInts("kernel_shape"), attrs));
  if (g.output != Dims(y.begin() + 2, y.end())) return Unimplemented("output spatial dims differ from the window");
  const size_t n = spatial.size();
  const Dims pad_l(g.pads.begin(), g.pads.begin() + n);
  Dims pad_r(g.pads.begin() + n, g.pads.end());
  const bool include_pad = !is_max && attrs.GetInt("count_include_pad", 0) != 0;
  // oneDNN derives the output size with floor; ceil_mode's extra window needs a larger end pad.
  for (size_t i = 0; i < n; ++i) {
    const int64_t extent = (g.kernel[i] - 1) * g.dilations[i] + 1;
    const int64_t needed = (g.output[i] - 1) * g.strides[i] + extent - spatial[i] - pad_l[i];
    if ((spatial[i] + pad_l[i] + pad_r[i] - extent) / g.strides[i] + 1 == g.output[i]) continue;
    if (include_pad && needed > pad_r[i]) {
      return Unimplemented("ceil_mode with count_include_pad (the extra window's divisor differs)");
    }
    pad_r[i] = needed;
  }
  PoolingGeometry p;
  p.alg = is_max        ? dnnl::algorithm::pooling_max
          : include_pad ? dnnl::algorithm::pooling_avg_include_padding
                        : dnnl::algorithm::pooling_avg_exclude_padding;
  p.strides = ToDnnl(g.strides);
  p.kernel = ToDnnl(g.kernel);
  for (int64_t d : g.dilations) p.dilation.push_back(d - 1);
  p.pad_l = ToDnnl(pad_l);
  p.pad_r = ToDnnl(pad_r);
  return p;
}

void RegisterPoolKernels(KernelRegistry& r) {
  // 2x2/2 windows in plain NCHW or channels-last: the direct kernel's one pass; others oneDNN's.
  RegisterOp(
      r, "MaxPool",
      [](const KernelSpec& spec) {
        return DirectMaxPoolUnsupportedReason(spec).empty() ? BuildDirectMaxPool(spec) : Pool(true)(spec);
      },
      Layouts::kAny);
  RegisterOp(r, "AveragePool", Pool(false), Layouts::kAny);
  RegisterOp(r, "GlobalAveragePool", BuildGlobalAveragePool, Layouts::kAny);
}

}  // namespace kiln::runtime::onednn
