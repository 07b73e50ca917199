// BatchNormalization (inference: global stats, scale, shift), LayerNormalization and LRN
// across channels.
#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime::onednn {
namespace {

StatusOr<std::unique_ptr<Kernel>> BuildBatchNorm(const KernelSpec& spec) {
  if (spec.outputs.size() != 1 || spec.attrs.GetInt("training_mode", 0) != 0) {
    return Unimplemented("training mode (running statistics outputs) is not supported");
  }
  const Dims& x = spec.inputs[0].dims;
  if (x.size() < 2 || x.size() > 5) return Unimplemented("input rank must be 2 to 5");
  for (int i = 1; i <= 4; ++i) {
    if (spec.inputs[i].dims != Dims{x[1]}) return Unimplemented("scale/bias/mean/var must be [C]");
  }
  // src and dst share one descriptor: the input's layout; an output in another layout (a
  // region's edge) is reordered into.
  const memory::desc md = LayoutDesc(spec.inputs[0]), c_md = PlainDesc({x[1]});
  const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                     dnnl::normalization_flags::use_shift;
  dnnl::batch_normalization_forward::desc d(dnnl::prop_kind::forward_inference, md,
                                            spec.attrs.GetFloat("epsilon", 1e-5f), flags);
  dnnl::batch_normalization_forward::primitive_desc pd(d, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  memory dst_bound = kernel->Output(0, LayoutDesc(spec.outputs[0]));
  memory dst = WriteVia(*kernel, dst_bound, md);
  kernel->AddStep(dnnl::batch_normalization_forward(pd), {{DNNL_ARG_SRC, kernel->Input(0, md)},
                                                          {DNNL_ARG_SCALE, kernel->Input(1, c_md)},
                                                          {DNNL_ARG_SHIFT, kernel->Input(2, c_md)},
                                                          {DNNL_ARG_MEAN, kernel->Input(3, c_md)},
                                                          {DNNL_ARG_VARIANCE, kernel->Input(4, c_md)},
                                                          {DNNL_ARG_DST, dst}});
  CopyBack(*kernel, dst, dst_bound);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ONNX LayerNormalization over the axes from `axis` on, as oneDNN's layer normalization of
// the [rows, normalized] view over its last axis. Scale and B must hold one value per
// normalized element; a Scale or B that broadcasts within them, the optional Mean and
// InvStdDev outputs (training keeps them for the gradient) and a stash_type other than
// float32 fall back to the reference kernel.
StatusOr<std::unique_ptr<Kernel>> BuildLayerNorm(const KernelSpec& spec) {
  const Dims& x = spec.inputs[0].dims;
  if (x.empty()) return Unimplemented("a scalar input");
  for (size_t i = 1; i < spec.outputs.size(); ++i) {
    if (spec.outputs[i].dtype != proto::DT_UNDEFINED) return Unimplemented("the Mean and InvStdDev outputs");
  }
  if (spec.attrs.GetInt("stash_type", 1) != 1) return Unimplemented("a stash_type other than float32");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), x.size()));
  const int64_t rows = ElementCount(Dims(x.begin(), x.begin() + axis));
  const int64_t normalized = ElementCount(Dims(x.begin() + axis, x.end()));
  const bool has_bias = spec.inputs.size() > 2 && spec.inputs[2].dtype != proto::DT_UNDEFINED;
  for (size_t i = 1; i < (has_bias ? 3u : 2u); ++i) {
    if (spec.inputs[i].num_elements() != normalized) {
      return Unimplemented(i == 1 ? "Scale" : "B", " broadcasts within the normalized axes");
    }
  }
  const memory::desc md = PlainDesc({rows, normalized}), c_md = PlainDesc({normalized});
  auto flags = dnnl::normalization_flags::use_scale;
  if (has_bias) flags = flags | dnnl::normalization_flags::use_shift;
  dnnl::layer_normalization_forward::desc d(dnnl::prop_kind::forward_inference, md,
                                            spec.attrs.GetFloat("epsilon", 1e-5f), flags);
  dnnl::layer_normalization_forward::primitive_desc pd(d, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, kernel->Input(0, md)},
                                          {DNNL_ARG_SCALE, kernel->Input(1, c_md)},
                                          {DNNL_ARG_DST, kernel->Output(0, md)}};
  if (has_bias) args[DNNL_ARG_SHIFT] = kernel->Input(2, c_md);
  kernel->AddStep(dnnl::layer_normalization_forward(pd), args);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ONNX: y = x / (bias + alpha / size * sum of x^2 over channels [c - (size-1)/2, c + size/2])^beta;
// oneDNN sums over [c - (size-1)/2, c + (size-1)/2]: ONNX's window for odd sizes only, so even sizes fall back.
StatusOr<std::unique_ptr<Kernel>> BuildLrn(const KernelSpec& spec) {
  const Dims& x = spec.inputs[0].dims;
  if (x.size() < 3 || x.size() > 5) return Unimplemented("input rank must be 3 to 5");
  const int64_t size = spec.attrs.GetInt("size", 0);
  if (size < 1 || size % 2 == 0) return Unimplemented("even window size ", size, " (oneDNN centres the window)");
  const memory::desc md = PlainDesc(x);
  dnnl::lrn_forward::desc d(dnnl::prop_kind::forward_inference, dnnl::algorithm::lrn_across_channels, md, size,
                            spec.attrs.GetFloat("alpha", 1e-4f), spec.attrs.GetFloat("beta", 0.75f),
                            spec.attrs.GetFloat("bias", 1.0f));
  dnnl::lrn_forward::primitive_desc pd(d, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  kernel->AddStep(dnnl::lrn_forward(pd), {{DNNL_ARG_SRC, kernel->Input(0, md)}, {DNNL_ARG_DST, kernel->Output(0, md)}});
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

void RegisterNormKernels(KernelRegistry& r) {
  RegisterOp(r, "BatchNormalization", BuildBatchNorm, Layouts::kAny);
  RegisterOp(r, "LayerNormalization", BuildLayerNorm);
  RegisterOp(r, "LRN", BuildLrn);
}

}  // namespace kiln::runtime::onednn
