// Unary elementwise ops (eltwise_forward over the tensor flattened to 1-D, which
// is exact for plain layouts), Clip, PRelu, and Softmax / LogSoftmax along an axis.
#include <cmath>
#include <limits>
#include <map>
#include <optional>

#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime::onednn {
namespace {

using dnnl::algorithm;
using dnnl::eltwise_forward;
using dnnl::prop_kind;

struct EltwiseOp {
  algorithm alg;
  float alpha = 0, beta = 0;
};

dnnl::primitive MakeEltwise(const dnnl::engine& engine, const memory::desc& md, const EltwiseOp& op) {
  eltwise_forward::desc d(prop_kind::forward_inference, op.alg, md, op.alpha, op.beta);
  return eltwise_forward(eltwise_forward::primitive_desc(d, engine));
}

// One or more eltwise primitives applied in sequence (the first reads the
// input, the rest work in place on the output).
StatusOr<std::unique_ptr<Kernel>> BuildEltwiseChain(const KernelSpec& spec, const std::vector<EltwiseOp>& ops) {
  if (spec.inputs.empty() || spec.outputs.size() != 1) return Unimplemented("expects one input and one output");
  if (spec.inputs[0].dims != spec.outputs[0].dims) return Unimplemented("output shape differs from the input's");
  // Flat, so any layout works as long as input and output share it.
  if (spec.inputs[0].layout != spec.outputs[0].layout) return Unimplemented("input and output layouts differ");
  const memory::desc md = PlainDesc({spec.inputs[0].num_elements()});
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  memory src = kernel->Input(0, md);
  memory dst = kernel->Output(0, md);
  for (size_t i = 0; i < ops.size(); ++i) {
    kernel->AddStep(MakeEltwise(*spec.env->engine, md, ops[i]),
                    {{DNNL_ARG_SRC, i == 0 ? src : dst}, {DNNL_ARG_DST, dst}});
  }
  return std::unique_ptr<Kernel>(std::move(kernel));
}

OneDnnBuilder Eltwise(std::function<std::vector<EltwiseOp>(const Attrs&)> ops) {
  return [ops](const KernelSpec& spec) { return BuildEltwiseChain(spec, ops(spec.attrs)); };
}

OneDnnBuilder Eltwise(algorithm alg, float alpha = 0, float beta = 0) {
  return Eltwise([=](const Attrs&) { return std::vector<EltwiseOp>{{alg, alpha, beta}}; });
}

// Clip's bounds are optional scalar inputs that need not be constants, so the
// primitive is built on the first run and rebuilt only when the bounds change.
class ClipKernel : public Kernel {
 public:
  explicit ClipKernel(const KernelSpec& spec) : spec_(spec) {}
  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (spec_.has_input(1)) lo = *in[1].as<float>();
    if (spec_.has_input(2)) hi = *in[2].as<float>();
    // min > max: ONNX (numpy's clip, the reference kernel) gives max everywhere; oneDNN
    // refuses such bounds, so clip to [max, max].
    if (lo > hi) lo = hi;
    try {
      if (!prim_ || lo != lo_ || hi != hi_) {
        lo_ = lo;
        hi_ = hi;
        prim_ = MakeEltwise(*spec_.env->engine, md_, {algorithm::eltwise_clip, lo, hi});
      }
      memory src(md_, *spec_.env->engine, in[0].data);
      memory dst(md_, *spec_.env->engine, out[0].data);
      prim_->execute(*spec_.env->stream, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}});
      spec_.env->stream->wait();
    } catch (const dnnl::error& e) {
      return Internal(spec_.Label(), ": oneDNN: ", e.what());
    }
    return Status::Ok();
  }
  Status Init() {
    if (spec_.inputs[0].dims != spec_.outputs[0].dims) return Unimplemented("output shape differs from the input's");
    for (int i = 1; i <= 2; ++i) {
      if (spec_.has_input(i) && spec_.inputs[i].num_elements() != 1) return Unimplemented("min/max must be scalars");
    }
    md_ = PlainDesc({spec_.inputs[0].num_elements()});
    // Check that the primitive can be built (bounds do not affect that).
    MakeEltwise(*spec_.env->engine, md_, {algorithm::eltwise_clip, -1, 1});
    return Status::Ok();
  }

 private:
  KernelSpec spec_;
  memory::desc md_;
  float lo_ = 0, hi_ = 0;
  std::optional<dnnl::primitive> prim_;
};

StatusOr<std::unique_ptr<Kernel>> BuildClip(const KernelSpec& spec) {
  auto kernel = std::make_unique<ClipKernel>(spec);
  RETURN_IF_ERROR(kernel->Init());
  return std::unique_ptr<Kernel>(std::move(kernel));
}

OneDnnBuilder Softmax(algorithm alg) {
  return [alg](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    const Dims& dims = spec.inputs[0].dims;
    if (dims.empty()) return Unimplemented("rank-0 input");
    if (dims != spec.outputs[0].dims) return Unimplemented("output shape differs from the input's");
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), dims.size()));
    const memory::desc md = PlainDesc(dims);
    dnnl::softmax_v2_forward::desc d(prop_kind::forward_inference, alg, md, md, static_cast<int>(axis));
    dnnl::softmax_v2_forward::primitive_desc pd(d, *spec.env->engine);
    auto kernel = std::make_unique<PrimitiveKernel>(spec);
    kernel->AddStep(dnnl::softmax_v2_forward(pd),
                    {{DNNL_ARG_SRC, kernel->Input(0, md)}, {DNNL_ARG_DST, kernel->Output(0, md)}});
    return std::unique_ptr<Kernel>(std::move(kernel));
  };
}

// PRelu's slope broadcasts to X (unidirectionally); oneDNN takes it as weights of X's rank.
StatusOr<std::unique_ptr<Kernel>> BuildPRelu(const KernelSpec& spec) {
  const Dims& x = spec.inputs[0].dims;
  if (x.empty() || x != spec.outputs[0].dims) return Unimplemented("output shape differs from the input's");
  if (spec.inputs[1].dims.size() > x.size()) return Unimplemented("slope has a higher rank than the input");
  const Dims slope = PadLeft(spec.inputs[1].dims, x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    if (slope[i] != 1 && slope[i] != x[i]) return Unimplemented("slope does not broadcast to the input");
  }
  const memory::desc md = PlainDesc(x), slope_md = PlainDesc(slope);
  dnnl::prelu_forward::desc d(prop_kind::forward_inference, md, slope_md);
  dnnl::prelu_forward::primitive_desc pd(d, *spec.env->engine);
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  kernel->AddStep(dnnl::prelu_forward(pd), {{DNNL_ARG_SRC, kernel->Input(0, md)},
                                            {DNNL_ARG_WEIGHTS, kernel->Input(1, slope_md)},
                                            {DNNL_ARG_DST, kernel->Output(0, md)}});
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

Status AppendActivation(const Attrs& attrs, dnnl::post_ops& post_ops) {
  const std::string act = attrs.GetString("activation", "");
  if (act.empty()) return Status::Ok();
  const float alpha = attrs.GetFloat("activation_alpha", 0.0f), beta = attrs.GetFloat("activation_beta", 0.0f);
  static const std::map<std::string, algorithm> kAlgorithms = {
      {"Relu", algorithm::eltwise_relu},   {"LeakyRelu", algorithm::eltwise_relu},
      {"Elu", algorithm::eltwise_elu},     {"Sigmoid", algorithm::eltwise_logistic},
      {"Tanh", algorithm::eltwise_tanh},   {"Softplus", algorithm::eltwise_soft_relu},
      {"Swish", algorithm::eltwise_swish}, {"Gelu", algorithm::eltwise_gelu_erf},
      {"Clip", algorithm::eltwise_clip}};
  auto it = kAlgorithms.find(act);
  if (it == kAlgorithms.end()) return Unimplemented("activation '", act, "' has no oneDNN post-op");
  // Relu's alpha is its negative slope: 0 unless the activation is LeakyRelu.
  post_ops.append_eltwise(1.0f, it->second, act == "Relu" ? 0.0f : alpha, beta);
  return Status::Ok();
}

void RegisterEltwiseKernels(KernelRegistry& r) {
  RegisterOp(r, "Relu", Eltwise(algorithm::eltwise_relu), Layouts::kAny);
  RegisterOp(r, "PRelu", BuildPRelu);
  // ir/core/ops/unary.def's rows with a oneDNN algorithm; alpha is the first attribute.
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, since, doc, forward, derivative,         \
              dnnl_forward, dnnl_backward)                                                                            \
  if (dnnl_##dnnl_forward != dnnl_none) {                                                                             \
    RegisterOp(r, #Name, Eltwise([](const Attrs& a) {                                                                 \
                 return std::vector<EltwiseOp>{                                                                       \
                     {static_cast<algorithm>(dnnl_##dnnl_forward), nattrs > 0 ? a.GetFloat(attr0, default0) : 0.0f}}; \
               }),                                                                                                    \
               Layouts::kAny);                                                                                        \
  }
#include "ir/core/ops/unary.def"
#undef UNARY
  // Selu = gamma * elu(x, alpha): two primitives, the second in place.
  RegisterOp(r, "Selu", Eltwise([](const Attrs& a) {
               return std::vector<EltwiseOp>{
                   {algorithm::eltwise_elu, a.GetFloat("alpha", 1.67326319217681884765625f)},
                   {algorithm::eltwise_linear, a.GetFloat("gamma", 1.05070102214813232421875f)}};
             }),
             Layouts::kAny);
  RegisterOp(r, "Abs", Eltwise(algorithm::eltwise_abs), Layouts::kAny);
  RegisterOp(r, "Neg", Eltwise(algorithm::eltwise_linear, -1.0f, 0.0f), Layouts::kAny);
  RegisterOp(r, "Clip", BuildClip);
  RegisterOp(r, "Softmax", Softmax(algorithm::softmax_accurate));
  RegisterOp(r, "LogSoftmax", Softmax(algorithm::softmax_log));
}

}  // namespace kiln::runtime::onednn
