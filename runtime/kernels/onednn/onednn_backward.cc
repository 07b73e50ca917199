// Backward ops (docs/training_ops.md) on oneDNN's backward primitives. Every
// backward primitive_desc needs a forward primitive_desc as a hint, built here
// from the same shapes with prop_kind::forward_training. Configurations a
// builder rejects (Unimplemented) fall back to the reference kernels.
#include <algorithm>
#include <cmath>

#include "ir/core/ops/unary_table.h"
#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/channel_batch_norm.h"
#include "runtime/kernels/onednn/conv_grad_weight_direct.h"
#include "runtime/kernels/onednn/max_pool_direct.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime::onednn {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;

Dims Spatial(const Dims& d) { return Dims(d.begin() + 2, d.end()); }
memory::dims ToDnnl(const Dims& d) { return memory::dims(d.begin(), d.end()); }

// A memory the kernel owns (an output the node does not have, a workspace).

// ---- EltwiseGrad: f' from X (src) or Y (dst, the *_use_dst_for_bwd algorithms) ----

struct EltwiseBackward {
  algorithm alg;
  bool uses_dst;
  float alpha = 0;
};

StatusOr<EltwiseBackward> EltwiseAlgorithm(const Attrs& attrs) {
  const std::string f = attrs.GetString("function", "");
  if (f == "relu") return EltwiseBackward{algorithm::eltwise_relu, false};
  if (f == "abs") return EltwiseBackward{algorithm::eltwise_abs, false};
    // ir/core/ops/unary.def's rows with a oneDNN algorithm; alpha is the first attribute.
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, since, doc, forward, derivative, \
              dnnl_forward, dnnl_backward)                                                                    \
  if (f == #fn_name && dnnl_##dnnl_backward != dnnl_none) {                                                   \
    return EltwiseBackward{static_cast<algorithm>(dnnl_##dnnl_backward), from == kFromY,                      \
                           nattrs > 0 ? attrs.GetFloat(attr0, default0) : 0.0f};                              \
  }
#include "ir/core/ops/unary.def"
#undef UNARY
  return Unimplemented("function '", f, "' has no oneDNN eltwise algorithm");
}

// dY, T -> dX, flattened to 1-D (exact for plain layouts).
StatusOr<std::unique_ptr<Kernel>> BuildEltwiseGrad(const KernelSpec& spec) {
  ASSIGN_OR_RETURN(EltwiseBackward e, EltwiseAlgorithm(spec.attrs));
  if (spec.inputs[0].dims != spec.inputs[1].dims || spec.inputs[0].dims != spec.outputs[0].dims) {
    return Unimplemented("dY, T and dX shapes differ");
  }
  const memory::desc md = PlainDesc({spec.inputs[0].num_elements()});
  dnnl::eltwise_forward::desc fwd(prop_kind::forward_training, e.alg, md, e.alpha, 0.0f);
  dnnl::eltwise_forward::primitive_desc fwd_pd(fwd, *spec.env->engine);
  dnnl::eltwise_backward::desc d(e.alg, md, md, e.alpha, 0.0f);
  dnnl::eltwise_backward::primitive_desc pd(d, *spec.env->engine, fwd_pd);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  kernel->AddStep(dnnl::eltwise_backward(pd), {{DNNL_ARG_DIFF_DST, kernel->Input(0, md)},
                                               {e.uses_dst ? DNNL_ARG_DST : DNNL_ARG_SRC, kernel->Input(1, md)},
                                               {DNNL_ARG_DIFF_SRC, kernel->Output(0, md)}});
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ---- SoftmaxGrad: dY, Y -> dX ----

StatusOr<std::unique_ptr<Kernel>> BuildSoftmaxGrad(const KernelSpec& spec) {
  const Dims& dims = spec.inputs[0].dims;
  if (dims.empty()) return Unimplemented("rank-0 input");
  if (spec.inputs[1].dims != dims || spec.outputs[0].dims != dims) return Unimplemented("dY, Y and dX shapes differ");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), dims.size()));
  const algorithm alg = spec.attrs.GetInt("log", 0) != 0 ? algorithm::softmax_log : algorithm::softmax_accurate;
  const memory::desc md = PlainDesc(dims);
  dnnl::softmax_v2_forward::desc fwd(prop_kind::forward_training, alg, md, md, static_cast<int>(axis));
  dnnl::softmax_v2_forward::primitive_desc fwd_pd(fwd, *spec.env->engine);
  dnnl::softmax_v2_backward::desc d(alg, md, md, md, static_cast<int>(axis));
  dnnl::softmax_v2_backward::primitive_desc pd(d, *spec.env->engine, fwd_pd);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  kernel->AddStep(dnnl::softmax_v2_backward(pd), {{DNNL_ARG_DIFF_DST, kernel->Input(0, md)},
                                                  {DNNL_ARG_DST, kernel->Input(1, md)},
                                                  {DNNL_ARG_DIFF_SRC, kernel->Output(0, md)}});
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ---- Conv gradients ----

// The forward Conv's descriptors for X dims `x`, ONNX weight dims `w`, Y dims `y`.
struct ConvDescs {
  memory::desc src, weights, dst;
  memory::dims strides, dilates, pad_l, pad_r;
};

StatusOr<ConvDescs> ConvSetUp(const KernelSpec& spec, const Dims& x, const Dims& w, const Dims& y) {
  if (x.size() < 3 || x.size() > 5) return Unimplemented("input rank must be 3 to 5");
  if (w.size() != x.size() || y.size() != x.size()) return Unimplemented("weight/output rank differs from the input's");
  const int64_t group = spec.attrs.GetInt("group", 1);
  if (group < 1 || x[1] != w[1] * group || w[0] % group != 0) return Unimplemented("channels do not match group");
  ASSIGN_OR_RETURN(WindowGeometry g, ComputeWindowGeometry(Spatial(x), Spatial(w), spec.attrs));
  if (g.output != Spatial(y) || y[0] != x[0] || y[1] != w[0]) return Unimplemented("dY differs from the Conv output");
  const size_t n = g.kernel.size();
  ConvDescs c;
  Dims w_dims = w;  // grouped: [g, M/g, C/g, k...], the same bytes as ONNX's [M, C/g, k...]
  if (group > 1) {
    w_dims[0] = w[0] / group;
    w_dims.insert(w_dims.begin(), group);
  }
  c.src = PlainDesc(x);
  c.weights = PlainDesc(w_dims);
  c.dst = PlainDesc(y);
  c.strides = ToDnnl(g.strides);
  for (int64_t d : g.dilations) c.dilates.push_back(d - 1);  // oneDNN counts dilation from 0
  c.pad_l = ToDnnl(Dims(g.pads.begin(), g.pads.begin() + n));
  c.pad_r = ToDnnl(Dims(g.pads.begin() + n, g.pads.end()));
  return c;
}

// The forward hint, with the layouts left to oneDNN like the backward primitives'.
dnnl::convolution_forward::primitive_desc ConvHint(const KernelSpec& spec, const ConvDescs& c,
                                                   const memory::desc& bias) {
  dnnl::convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_direct, AnyLayout(c.src),
                                    AnyLayout(c.weights), bias, AnyLayout(c.dst), c.strides, c.dilates, c.pad_l,
                                    c.pad_r);
  return dnnl::convolution_forward::primitive_desc(d, *spec.env->engine);
}

// dY, W -> dX.
StatusOr<std::unique_ptr<Kernel>> BuildConvGradInput(const KernelSpec& spec) {
  ASSIGN_OR_RETURN(ConvDescs c, ConvSetUp(spec, spec.outputs[0].dims, spec.inputs[1].dims, spec.inputs[0].dims));
  dnnl::convolution_backward_data::desc d(algorithm::convolution_direct, AnyLayout(c.src), AnyLayout(c.weights),
                                          AnyLayout(c.dst), c.strides, c.dilates, c.pad_l, c.pad_r);
  dnnl::convolution_backward_data::primitive_desc pd(d, UserScratchpad(), *spec.env->engine,
                                                     ConvHint(spec, c, memory::desc()));
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  memory dy = ReorderTo(*kernel, kernel->Input(0, c.dst), pd.diff_dst_desc());
  memory wts = ReorderTo(*kernel, kernel->Input(1, c.weights), pd.weights_desc());
  memory dx_plain = kernel->Output(0, c.src);
  memory dx = WriteVia(*kernel, dx_plain, pd.diff_src_desc());
  kernel->AddStep(dnnl::convolution_backward_data(pd),
                  {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, wts}, {DNNL_ARG_DIFF_SRC, dx}});
  CopyBack(*kernel, dx, dx_plain);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// dY, X -> dW [, dB].
StatusOr<std::unique_ptr<Kernel>> BuildConvGradWeight(const KernelSpec& spec) {
  if (DirectConvGradWeightRuns(spec)) return BuildDirectConvGradWeight(spec, BestSimdLevel());
  const Dims& w = spec.outputs[0].dims;
  ASSIGN_OR_RETURN(ConvDescs c, ConvSetUp(spec, spec.inputs[1].dims, w, spec.inputs[0].dims));
  const bool has_bias = spec.has_output(1);
  if (has_bias && spec.outputs[1].dims != Dims{w[0]}) return Unimplemented("dB must be [M]");
  const memory::desc b_md = has_bias ? PlainDesc({w[0]}) : memory::desc();
  dnnl::convolution_backward_weights::desc d(algorithm::convolution_direct, AnyLayout(c.src), AnyLayout(c.weights),
                                             b_md, AnyLayout(c.dst), c.strides, c.dilates, c.pad_l, c.pad_r);
  dnnl::convolution_backward_weights::primitive_desc pd(d, UserScratchpad(), *spec.env->engine,
                                                        ConvHint(spec, c, b_md));
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  memory dy = ReorderTo(*kernel, kernel->Input(0, c.dst), pd.diff_dst_desc());
  memory src = ReorderTo(*kernel, kernel->Input(1, c.src), pd.src_desc());
  memory dw_plain = kernel->Output(0, c.weights);
  memory dw = WriteVia(*kernel, dw_plain, pd.diff_weights_desc());
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
  if (has_bias) args[DNNL_ARG_DIFF_BIAS] = kernel->Output(1, b_md);
  kernel->AddStep(dnnl::convolution_backward_weights(pd), std::move(args));
  CopyBack(*kernel, dw, dw_plain);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ---- Pooling gradients ----

// Pooling backward: dY -> dX. Max pooling's backward reads the forward's
// workspace (the argmax of each window), so its kernel reruns the forward on X
// (input 1) first; average pooling needs only dY and the geometry (dX's dims).
StatusOr<std::unique_ptr<Kernel>> BuildPoolGrad(const KernelSpec& spec, bool is_max) {
  const Dims& x = spec.outputs[0].dims;
  const Dims& y = spec.inputs[0].dims;
  if (is_max && spec.inputs[1].dims != x) return Unimplemented("dX differs from X's shape");
  ASSIGN_OR_RETURN(PoolingGeometry p, OneDnnPoolingGeometry(spec.attrs, x, y, is_max));
  const memory::desc src_md = PoolingLayout(x), dst_md = PoolingLayout(y);
  dnnl::pooling_v2_forward::desc fwd(prop_kind::forward_training, p.alg, src_md, dst_md, p.strides, p.kernel,
                                     p.dilation, p.pad_l, p.pad_r);
  dnnl::pooling_v2_forward::primitive_desc fwd_pd(fwd, *spec.env->engine);
  dnnl::pooling_v2_backward::desc d(p.alg, src_md, dst_md, p.strides, p.kernel, p.dilation, p.pad_l, p.pad_r);
  dnnl::pooling_v2_backward::primitive_desc pd(d, *spec.env->engine, fwd_pd);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  std::unordered_map<int, memory> args;
  if (is_max) {
    // Recomputed by this kernel's own forward step on every run: shared scratch suffices.
    memory workspace = kernel->Scratch(fwd_pd.workspace_desc());
    memory src = ReorderTo(*kernel, kernel->Input(1, PlainDesc(x)), src_md);
    kernel->AddStep(dnnl::pooling_v2_forward(fwd_pd),
                    {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, kernel->Scratch(dst_md)}, {DNNL_ARG_WORKSPACE, workspace}});
    args[DNNL_ARG_WORKSPACE] = workspace;
  }
  args[DNNL_ARG_DIFF_DST] = ReorderTo(*kernel, kernel->Input(0, PlainDesc(y)), dst_md);
  memory dx_plain = kernel->Output(0, PlainDesc(x));
  memory dx = WriteVia(*kernel, dx_plain, src_md);
  args[DNNL_ARG_DIFF_SRC] = dx;
  kernel->AddStep(dnnl::pooling_v2_backward(pd), std::move(args));
  CopyBack(*kernel, dx, dx_plain);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ---- Batch norm ----

dnnl::normalization_flags ScaleShift() {
  return dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
}

Status CheckBatchNormShapes(const KernelSpec& spec, const Dims& x, int first_vector, int last_vector) {
  if (x.size() < 2 || x.size() > 5) return Unimplemented("input rank must be 2 to 5");
  for (int i = first_vector; i <= last_vector; ++i) {
    if (spec.inputs[i].dims != Dims{x[1]}) return Unimplemented("per-channel inputs must be [C]");
  }
  if (spec.outputs[0].dims != x) return Unimplemented("output 0 differs from X's shape");
  for (size_t i = 1; i < spec.outputs.size(); ++i) {
    if (spec.has_output(i) && spec.outputs[i].dims != Dims{x[1]}) return Unimplemented("output ", i, " is not [C]");
  }
  return Status::Ok();
}

dnnl::batch_normalization_forward::primitive_desc BatchNormForward(const KernelSpec& spec, const memory::desc& md) {
  dnnl::batch_normalization_forward::desc d(prop_kind::forward_training, md, spec.attrs.GetFloat("epsilon", 1e-5f),
                                            ScaleShift());
  return dnnl::batch_normalization_forward::primitive_desc(d, *spec.env->engine);
}

// The batch statistics come from the primitive (into saved_mean / saved_var, or
// scratch when the node lacks them); the running statistics are updated here.
class BatchNormTrainingKernel : public PrimitiveKernel {
 public:
  BatchNormTrainingKernel(const KernelSpec& spec, int64_t channels)
      : PrimitiveKernel(spec), spec_(spec), channels_(channels), momentum_(spec.attrs.GetFloat("momentum", 0.9f)) {}

  void SetStatistics(memory mean, memory var) {
    mean_ = std::move(mean);
    var_ = std::move(var);
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    RETURN_IF_ERROR(PrimitiveKernel::Run(in, out));
    // After Run the statistics memories point at the bound outputs (or at scratch).
    const float* mean = static_cast<const float*>(mean_.get_data_handle());
    const float* var = static_cast<const float*>(var_.get_data_handle());
    const float* running_mean = in[3].as<float>();
    const float* running_var = in[4].as<float>();
    for (int64_t c = 0; c < channels_; ++c) {
      // Read the running values first: new_running_* may share their buffers.
      const float rm = running_mean[c], rv = running_var[c];
      if (spec_.has_output(1)) out[1].as<float>()[c] = rm * momentum_ + mean[c] * (1 - momentum_);
      if (spec_.has_output(2)) out[2].as<float>()[c] = rv * momentum_ + var[c] * (1 - momentum_);
    }
    return Status::Ok();
  }

 private:
  KernelSpec spec_;
  int64_t channels_;
  float momentum_;
  memory mean_, var_;
};

// X, scale, B, running_mean, running_var -> Y [, new_running_mean, new_running_var, saved_mean, saved_var].
// Plain [N, C, H, W] tensors run channel by channel (channel_batch_norm.h), not on
// oneDNN's generic ncsp code.
StatusOr<std::unique_ptr<Kernel>> BuildBatchNormTraining(const KernelSpec& spec) {
  if (ChannelBatchNormUnsupportedReason(spec).empty()) return BuildChannelBatchNorm(spec, BestSimdLevel());
  if (spec.attrs.GetInt("relu", 0) != 0) return Unimplemented("a fused Relu outside plain NCHW");
  const Dims& x = spec.inputs[0].dims;
  RETURN_IF_ERROR(CheckBatchNormShapes(spec, x, 1, 4));
  const memory::desc md = PlainDesc(x), c_md = PlainDesc({x[1]});
  auto pd = BatchNormForward(spec, md);
  auto kernel = std::make_unique<BatchNormTrainingKernel>(spec, x[1]);
  memory mean = spec.has_output(3) ? kernel->Output(3, c_md) : kernel->Scratch(c_md);
  memory var = spec.has_output(4) ? kernel->Output(4, c_md) : kernel->Scratch(c_md);
  kernel->AddStep(dnnl::batch_normalization_forward(pd), {{DNNL_ARG_SRC, kernel->Input(0, md)},
                                                          {DNNL_ARG_SCALE, kernel->Input(1, c_md)},
                                                          {DNNL_ARG_SHIFT, kernel->Input(2, c_md)},
                                                          {DNNL_ARG_MEAN, mean},
                                                          {DNNL_ARG_VARIANCE, var},
                                                          {DNNL_ARG_DST, kernel->Output(0, md)}});
  kernel->SetStatistics(mean, var);
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// dY, X, scale, saved_mean, saved_var -> dX [, dScale, dB].
StatusOr<std::unique_ptr<Kernel>> BuildBatchNormGrad(const KernelSpec& spec) {
  if (ChannelBatchNormUnsupportedReason(spec).empty()) return BuildChannelBatchNorm(spec, BestSimdLevel());
  const Dims& x = spec.inputs[1].dims;
  if (spec.inputs[0].dims != x) return Unimplemented("dY differs from X's shape");
  RETURN_IF_ERROR(CheckBatchNormShapes(spec, x, 2, 4));
  const memory::desc md = PlainDesc(x), c_md = PlainDesc({x[1]});
  dnnl::batch_normalization_backward::desc d(prop_kind::backward, md, md, spec.attrs.GetFloat("epsilon", 1e-5f),
                                             ScaleShift());
  dnnl::batch_normalization_backward::primitive_desc pd(d, *spec.env->engine, BatchNormForward(spec, md));
  // oneDNN 2.6 lists SHIFT among the backward arguments with use_shift, though dX,
  // dScale and dB do not depend on it: pass zeros.
  memory shift = OwnedBuffer(spec, c_md);  // zeroed once, here
  std::fill_n(static_cast<float*>(shift.get_data_handle()), x[1], 0.0f);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  kernel->AddStep(dnnl::batch_normalization_backward(pd),
                  {{DNNL_ARG_DIFF_DST, kernel->Input(0, md)},
                   {DNNL_ARG_SHIFT, shift},
                   {DNNL_ARG_SRC, kernel->Input(1, md)},
                   {DNNL_ARG_SCALE, kernel->Input(2, c_md)},
                   {DNNL_ARG_MEAN, kernel->Input(3, c_md)},
                   {DNNL_ARG_VARIANCE, kernel->Input(4, c_md)},
                   {DNNL_ARG_DIFF_SRC, kernel->Output(0, md)},
                   {DNNL_ARG_DIFF_SCALE, spec.has_output(1) ? kernel->Output(1, c_md) : kernel->Scratch(c_md)},
                   {DNNL_ARG_DIFF_SHIFT, spec.has_output(2) ? kernel->Output(2, c_md) : kernel->Scratch(c_md)}});
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

void RegisterBackwardKernels(KernelRegistry& r) {
  RegisterOp(r, "EltwiseGrad", BuildEltwiseGrad);
  RegisterOp(r, "SoftmaxGrad", BuildSoftmaxGrad);
  RegisterOp(r, "ConvGradInput", BuildConvGradInput);
  RegisterOp(r, "ConvGradWeight", BuildConvGradWeight);
  // Non-overlapping windows (2x2/2): the direct kernel's one pass; others oneDNN's.
  RegisterOp(r, "MaxPoolGrad", [](const KernelSpec& spec) {
    return DirectMaxPoolGradUnsupportedReason(spec).empty() ? BuildDirectMaxPoolGrad(spec) : BuildPoolGrad(spec, true);
  });
  RegisterOp(r, "AveragePoolGrad", [](const KernelSpec& spec) { return BuildPoolGrad(spec, false); });
  RegisterOp(r, "BatchNormTraining", BuildBatchNormTraining);
  RegisterOp(r, "BatchNormGrad", BuildBatchNormGrad);
}

}  // namespace kiln::runtime::onednn
