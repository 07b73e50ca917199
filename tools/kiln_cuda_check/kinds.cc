// The generated kernel kinds' checks: cases with the reference kernels' outputs,
// the emulation harness (a block's threads as fibers with a barrier; warp shuffles
// exchanged through that barrier) and the GPU run.
#include "tools/kiln_cuda_check/kinds.h"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <tuple>

#include "compiler/backends/cuda/nvrtc.h"
#include "ir/core/attrs.h"
#include "ir/core/optimizer.h"
#include "runtime/kernels/cuda/cublaslt.h"
#include "runtime/kernels/cuda/cuda_driver.h"
#include "tools/kiln_cuda_check/check_util.h"

#ifndef KILN_CUDA_CHECK_NO_REFERENCE
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#endif

namespace kiln::cuda {
namespace {

constexpr double kTolerance = 1e-4;  // the oneDNN-vs-reference tolerance

// The products' attributes as their ops take them: Gemm's transposes, alpha and beta, the fused
// ops' activation (the reference kernels' and cuBLASLt's step mapping read them).
Attrs ProductAttrs(const CudaKernelDesc& d) {
  Attrs a;
  if (d.kind == CudaKind::kGemm) {
    a.SetInt("transA", d.trans_a);
    a.SetInt("transB", d.trans_b);
    a.SetFloat("alpha", d.alpha);
    a.SetFloat("beta", d.beta);
  }
  if (!d.activation.empty()) {
    a.SetString("activation", d.activation);
    a.SetFloat("activation_alpha", d.activation_alpha);
    a.SetFloat("activation_beta", d.activation_beta);
  }
  return a;
}

// cuBLASLt's plan for a product kind's case (cublaslt.h), or why there is none.
bool IsMatMulKind(CudaKind k) { return k == CudaKind::kMatMul || k == CudaKind::kGemm || k == CudaKind::kFusedMatMul; }
StatusOr<std::pair<LtStep, std::unique_ptr<CublasLtMatmul>>> CublasLtFor(CudaDevice& dev, const CudaKernelDesc& d,
                                                                         const Dims& output) {
  ASSIGN_OR_RETURN(LtStep step,
                   CublasLtStepFor(GetCudaKindInfo(d.kind).reference_op, ProductAttrs(d), d.inputs, output));
  ASSIGN_OR_RETURN(std::unique_ptr<CublasLtMatmul> lt, CublasLtMatmul::Create(step.gemm, dev));
  return std::make_pair(step, std::move(lt));
}

// An int64-output kernel's buffers (two floats an element) as float values, for the comparison.
void Int64OutputsAsFloats(const GeneratedCudaKernel& k, std::vector<std::vector<float>>* outputs) {
  if (!k.int64_outputs) return;
  for (std::vector<float>& v : *outputs) {
    std::vector<float> values(v.size() / 2);
    for (size_t e = 0; e < values.size(); ++e) {
      int64_t x;
      std::memcpy(&x, v.data() + 2 * e, 8);
      values[e] = static_cast<float>(x);
    }
    v = std::move(values);
  }
}

// ---- Cases ---------------------------------------------------------------------------------------
#ifndef KILN_CUDA_CHECK_NO_REFERENCE

// Uniform in [lo, hi); with `specials`, about one value in `specials` is NaN, +Inf or -Inf.
KindBuffer Floats(const Dims& dims, std::mt19937& rng, float lo = -3.f, float hi = 3.f, int specials = 0) {
  KindBuffer b;
  b.dims = dims;
  std::uniform_real_distribution<float> value(lo, hi);
  std::uniform_int_distribution<int> pick(0, std::max(specials, 1) * 3 - 1);
  const float kSpecial[] = {NAN, INFINITY, -INFINITY};
  for (int64_t k = 0; k < ElementCount(dims); ++k) {
    const int p = specials ? pick(rng) : 3;
    b.f.push_back(p < 3 ? kSpecial[p] : value(rng));
  }
  return b;
}

KindBuffer Ints(const Dims& dims, std::mt19937& rng, int64_t lo, int64_t hi) {
  KindBuffer b;
  b.dims = dims;
  b.int64 = true;
  std::uniform_int_distribution<int64_t> value(lo, hi);
  for (int64_t k = 0; k < ElementCount(dims); ++k) b.i.push_back(value(rng));
  return b;
}

// A 1-D int64 tensor (axes, slice bounds).
KindBuffer Int64Vector(const std::vector<int64_t>& v) {
  KindBuffer b;
  b.dims = {int64_t(v.size())};
  b.int64 = true;
  b.i = v;
  return b;
}

TensorRef Ref(const KindBuffer& b) {
  return {b.int64 ? proto::DT_INT64 : proto::DT_FLOAT, b.dims, const_cast<void*>(b.data())};
}

// The reference op's call for a case: its attributes, extra inputs and which of its outputs to compare.
struct RefCall {
  Attrs attrs;
  std::vector<KindBuffer> extra_inputs;  // appended after the case's inputs
  std::vector<Dims> outputs;             // all of the op's outputs
  std::vector<int> compared;             // the kernel's outputs, in order
};

StatusOr<RefCall> ReferenceCall(const KindCase& c, const GeneratedCudaKernel& k) {
  const CudaKernelDesc& d = c.desc;
  RefCall r;
  r.outputs = k.outputs;
  r.compared = {0};
  switch (d.kind) {
    case CudaKind::kSoftmax:
    case CudaKind::kLogSoftmax:
    case CudaKind::kSoftmaxGrad: r.attrs.SetInt("axis", -1); break;
    case CudaKind::kLogSoftmaxGrad:
      r.attrs.SetInt("axis", -1);
      r.attrs.SetInt("log", 1);
      break;
    case CudaKind::kReduceSum:
      r.attrs.SetInt("keepdims", d.keepdims);
      if (!d.axes.empty()) r.extra_inputs.push_back(Int64Vector(d.axes));
      break;
    case CudaKind::kReduceMean:
    case CudaKind::kReduceMax:
      r.attrs.SetInt("keepdims", d.keepdims);
      if (!d.axes.empty()) r.attrs.SetInts("axes", d.axes);
      break;
    case CudaKind::kBatchNormStats: {
      // BatchNormTraining(x, scale, bias, running mean, running var): outputs 3, 4 are the batch statistics.
      const int64_t ch = d.inputs[0][1];
      KindBuffer ones, zeros;
      ones.dims = zeros.dims = {ch};
      ones.f.assign(ch, 1.f);
      zeros.f.assign(ch, 0.f);
      r.extra_inputs = {ones, zeros, zeros, ones};
      r.outputs = {d.inputs[0], {ch}, {ch}, {ch}, {ch}};
      r.compared = {3, 4};
      break;
    }
    case CudaKind::kSoftmaxCrossEntropy:
    case CudaKind::kSoftmaxCrossEntropyGrad: r.attrs.SetInt("sparse", d.sparse); break;
    case CudaKind::kMaxPool:
    case CudaKind::kAveragePool:
    case CudaKind::kMaxPoolGrad:
      r.attrs.SetInts("kernel_shape", d.kernel);
      if (!d.strides.empty()) r.attrs.SetInts("strides", d.strides);
      if (!d.pads.empty()) r.attrs.SetInts("pads", d.pads);
      r.attrs.SetInt("count_include_pad", d.count_include_pad);
      break;
    case CudaKind::kTranspose: r.attrs.SetInts("perm", d.axes); break;
    case CudaKind::kMatMul:
    case CudaKind::kGemm:
    case CudaKind::kFusedMatMul: r.attrs = ProductAttrs(d); break;
    case CudaKind::kConvGradInput:
    case CudaKind::kConvGradWeight:
      r.attrs.SetInts(d.kind == CudaKind::kConvGradInput ? "input_shape" : "weight_shape", d.out);
      if (d.bias_gradient) r.compared = {0, 1};
      [[fallthrough]];
    case CudaKind::kConv:
    case CudaKind::kFusedConv:
      if (!d.kernel.empty()) r.attrs.SetInts("kernel_shape", d.kernel);
      if (!d.strides.empty()) r.attrs.SetInts("strides", d.strides);
      if (!d.pads.empty()) r.attrs.SetInts("pads", d.pads);
      if (!d.dilations.empty()) r.attrs.SetInts("dilations", d.dilations);
      r.attrs.SetInt("group", d.group);
      {
        const Attrs activation = ProductAttrs(d);  // (a named value: all() refers into it)
        for (const auto& [name, attr] : activation.all()) r.attrs.Set(attr);
        break;
      }
    case CudaKind::kCopy: r.extra_inputs = {Int64Vector(d.out)}; break;
    case CudaKind::kOptimizerUpdate: {
      const OptimizerDef* def = FindOptimizerByUpdateOp(d.update_op);
      if (def == nullptr) return InvalidArgument(c.name, ": unknown update op ", d.update_op);
      r.attrs = UpdateAttrs(*def, d.hyper);
      r.compared.clear();
      for (size_t o = 0; o < k.outputs.size(); ++o) r.compared.push_back(static_cast<int>(o));
      break;
    }
    case CudaKind::kDropout:
      r.attrs.SetFloat("ratio", d.dropout_ratio);
      r.attrs.SetInt("seed", static_cast<int64_t>(d.dropout_seed));
      r.compared = {0, 1};
      break;
    case CudaKind::kCounterAdd: {
      KindBuffer addend;
      addend.int64 = true;
      addend.i = {d.addend};
      r.extra_inputs = {addend};
      break;
    }
    case CudaKind::kConcat:
    case CudaKind::kGather: r.attrs.SetInt("axis", d.axes[0]); break;
    case CudaKind::kSlice: {
      // ONNX starts, ends, axes, steps that resolve to the description's slice.
      std::vector<int64_t> ends, axes;
      for (size_t a = 0; a < d.starts.size(); ++a) {
        const int64_t end = d.starts[a] + d.out[a] * d.steps[a];
        ends.push_back(end >= 0 ? end : std::numeric_limits<int64_t>::min());  // before the first element
        axes.push_back(int64_t(a));
      }
      r.extra_inputs = {Int64Vector(d.starts), Int64Vector(ends), Int64Vector(axes), Int64Vector(d.steps)};
      break;
    }
  }
  return r;
}

// Runs the reference kernel; fills c.want.
Status ComputeWant(KindCase& c) {
  ASSIGN_OR_RETURN(GeneratedCudaKernel k, RenderCudaKind(c.desc));
  ASSIGN_OR_RETURN(RefCall r, ReferenceCall(c, k));
  std::vector<TensorRef> in;
  for (const KindBuffer& b : c.inputs) in.push_back(Ref(b));
  for (const KindBuffer& b : r.extra_inputs) in.push_back(Ref(b));
  std::vector<std::vector<float>> out;
  // int64 outputs (the step counter) take two floats an element, compared as floats (exact below 2^24).
  const int words = k.int64_outputs ? 2 : 1;
  for (const Dims& d : r.outputs) out.emplace_back(ElementCount(d) * words, -12345.f);
  std::vector<TensorRef> out_refs;
  for (size_t o = 0; o < out.size(); ++o) {
    out_refs.push_back({k.int64_outputs ? proto::DT_INT64 : proto::DT_FLOAT, r.outputs[o], out[o].data()});
  }
  const std::string op =
      c.desc.kind == CudaKind::kOptimizerUpdate ? c.desc.update_op : GetCudaKindInfo(c.desc.kind).reference_op;
  RETURN_IF_ERROR(runtime::RunReferenceOp(op, c.name, r.attrs, in, out_refs));
  Int64OutputsAsFloats(k, &out);
  c.want.clear();
  for (int o : r.compared) c.want.push_back(out[o]);
  if (c.want.size() != k.outputs.size()) return InvalidArgument(c.name, ": outputs differ from the kernel's");
  return Status::Ok();
}

// Matrix products, convolutions and copies: odd sizes, M = 1, K = 1, empty dims, several
// tiles, broadcast batch dims, 1-D operands, transposes, every activation of the fused ops.
template <typename Add>
void AddProductCases(std::mt19937& rng, Add& add) {
  auto U = [&](const Dims& d, int specials = 0) { return Floats(d, rng, -1.f, 1.f, specials); };
  auto kind = [](CudaKind k) {
    CudaKernelDesc d;
    d.kind = k;
    return d;
  };
  const CudaKernelDesc mm = kind(CudaKind::kMatMul);
  add("odd", mm, {U({5, 7}), U({7, 9})});
  add("m1", mm, {U({1, 33}), U({33, 70})});
  add("k1", mm, {U({6, 1}), U({1, 5})});
  add("tiles_and_edges", mm, {U({70, 40}), U({40, 66})});
  add("n_thin", mm, {U({40, 20}), U({20, 3})});
  add("batched", mm, {U({2, 3, 4, 5}), U({2, 3, 5, 6})});
  add("broadcast_batch", mm, {U({3, 1, 4, 5}), U({2, 5, 6})});
  add("weights_2d", mm, {U({2, 3, 4, 5}), U({5, 6})});
  add("vector_matrix", mm, {U({7}), U({7, 3})});
  add("matrix_vector", mm, {U({2, 3, 7}), U({7})});
  add("specials", mm, {U({4, 9}, 12), U({9, 5})});
  add("empty_k", mm, {U({3, 0}), U({0, 4})});
  add("empty_m", mm, {U({0, 4}), U({4, 3})});
  CudaKernelDesc gemm = kind(CudaKind::kGemm);
  add("c_row", gemm, {U({5, 6}), U({6, 7}), U({7})});
  add("no_c", gemm, {U({3, 8}), U({8, 2})});
  add("scalar_c", gemm, {U({3, 8}), U({8, 2}), U({})});
  add("full_c", gemm, {U({5, 17}), U({17, 7}), U({5, 7})});
  gemm.trans_b = true;
  add("trans_b", gemm, {U({4, 9}), U({3, 9}), U({3})});
  gemm.trans_a = true;
  gemm.alpha = 0.5f;
  gemm.beta = -2.f;
  add("trans_ab_alpha_beta_c_column", gemm, {U({6, 5}), U({7, 6}), U({5, 1})});
  gemm.trans_b = false;
  add("trans_a_large", gemm, {U({30, 70}), U({30, 20}), U({20})});
  const char* activations[] = {"Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Clip"};
  int a = 0;
  for (const char* act : activations) {
    CudaKernelDesc fm = kind(CudaKind::kFusedMatMul);
    fm.activation = act;
    fm.activation_alpha = std::string(act) == "Clip" ? -0.3f : std::string(act) == "LeakyRelu" ? 0.1f : 0.7f;
    fm.activation_beta = 0.4f;
    const int64_t m = 1 + 4 * a, n = 3 + 5 * a;
    switch (a++ % 3) {
      case 0: add(std::string("bias_") + act, fm, {U({m, 11}), U({11, n}), U({n})}); break;
      case 1: add(std::string("bias_residual_") + act, fm, {U({2, m, 11}), U({11, n}), U({1, n}), U({2, m, n})}); break;
      default: add(std::string("no_bias_") + act, fm, {U({m, 11}), U({11, n})}); break;
    }
  }
  add("bias_only", kind(CudaKind::kFusedMatMul), {U({9, 13}), U({13, 18}), U({18})});
  auto conv = [&](CudaKind k, std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dilations,
                  int64_t group) {
    CudaKernelDesc d = kind(k);
    d.strides = std::move(strides);
    d.pads = std::move(pads);
    d.dilations = std::move(dilations);
    d.group = group;
    return d;
  };
  const CudaKind C = CudaKind::kConv;
  add("3x3_pad1_bias", conv(C, {1, 1}, {1, 1, 1, 1}, {}, 1), {U({2, 3, 7, 6}), U({4, 3, 3, 3}), U({4})});
  add("strides_dilations_uneven_pads", conv(C, {2, 1}, {1, 0, 2, 1}, {2, 1}, 1), {U({1, 2, 9, 8}), U({3, 2, 3, 2})});
  add("group2", conv(C, {1, 1}, {0, 0, 0, 0}, {}, 2), {U({1, 4, 5, 5}), U({6, 2, 3, 3}), U({6})});
  add("depthwise", conv(C, {2, 2}, {1, 1, 1, 1}, {}, 3), {U({2, 3, 6, 6}), U({3, 1, 3, 3})});
  add("1x1", conv(C, {}, {}, {}, 1), {U({2, 5, 4, 4}), U({7, 5, 1, 1}), U({7})});
  add("lenet_5x5", conv(C, {}, {}, {}, 1), {U({1, 1, 12, 12}), U({6, 1, 5, 5}), U({6})});
  add("tiles_70_channels", conv(C, {1, 1}, {1, 1, 1, 1}, {}, 1), {U({1, 8, 9, 9}), U({70, 8, 3, 3})});
  add("empty_batch", conv(C, {}, {}, {}, 1), {U({0, 2, 4, 4}), U({3, 2, 3, 3})});
  CudaKernelDesc fc = conv(CudaKind::kFusedConv, {1, 1}, {1, 1, 1, 1}, {}, 1);
  fc.activation = "Relu";
  add("bias_relu", fc, {U({1, 3, 6, 6}), U({5, 3, 3, 3}), U({5})});
  add("bias_residual_relu", fc, {U({2, 3, 5, 4}), U({5, 3, 3, 3}), U({5}), U({2, 5, 5, 4})});
  fc.activation = "Clip";
  fc.activation_alpha = -0.2f;
  fc.activation_beta = 0.3f;
  fc.group = 2;
  add("group2_bias_clip", fc, {U({1, 4, 5, 5}), U({4, 2, 3, 3}), U({4})});
  // Convolution gradients: dY of the forward's output dims, `out` the gradient's dims.
  auto grad = [&](CudaKind k, const Dims& x, const Dims& w, std::vector<int64_t> strides, std::vector<int64_t> pads,
                  std::vector<int64_t> dilations, int64_t group, bool bias) {
    CudaKernelDesc d = conv(k, std::move(strides), std::move(pads), std::move(dilations), group);
    d.bias_gradient = bias;
    d.out = k == CudaKind::kConvGradInput ? x : w;
    CudaKernelDesc forward = d;
    forward.kind = CudaKind::kConv;
    forward.inputs = {x, w};
    auto y = RenderCudaKind(forward);
    const Dims dy = y.ok() ? y->outputs[0] : Dims{};
    return std::make_pair(
        d, k == CudaKind::kConvGradInput ? std::vector<KindBuffer>{U(dy), U(w)} : std::vector<KindBuffer>{U(dy), U(x)});
  };
  for (CudaKind k : {CudaKind::kConvGradInput, CudaKind::kConvGradWeight}) {
    const bool weight = k == CudaKind::kConvGradWeight;
    auto [d1, in1] = grad(k, {2, 3, 7, 6}, {4, 3, 3, 3}, {1, 1}, {1, 1, 1, 1}, {}, 1, weight);
    add("3x3_pad1", d1, in1);
    auto [d2, in2] = grad(k, {1, 2, 9, 8}, {3, 2, 3, 2}, {2, 1}, {1, 0, 2, 1}, {2, 1}, 1, false);
    add("strides_dilations_uneven_pads", d2, in2);
    auto [d3, in3] = grad(k, {2, 4, 5, 5}, {6, 2, 3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 2, weight);
    add("group2_stride2", d3, in3);
    auto [d4, in4] = grad(k, {1, 8, 9, 9}, {70, 8, 3, 3}, {1, 1}, {1, 1, 1, 1}, {}, 1, weight);
    add("tiles_70_channels", d4, in4);
  }
  CudaKernelDesc copy = kind(CudaKind::kCopy);
  copy.out = {2, 12};
  add("flatten", copy, {U({2, 3, 4})});
  copy.out = {0};
  add("empty", copy, {U({0, 3})});
}

#endif  // KILN_CUDA_CHECK_NO_REFERENCE

}  // namespace

bool IsProductKind(CudaKind kind) {
  return kind == CudaKind::kMatMul || kind == CudaKind::kGemm || kind == CudaKind::kFusedMatMul ||
         kind == CudaKind::kConv || kind == CudaKind::kFusedConv || kind == CudaKind::kConvGradInput ||
         kind == CudaKind::kConvGradWeight;
}

#ifndef KILN_CUDA_CHECK_NO_REFERENCE
// An optimizer update's input past (p, g): the state slots (moments, squared sums: >= 0), the
// step counter (int64) or the learning rate (a small positive scalar).
KindBuffer OptimizerInput(const CudaKernelDesc& desc, size_t i, std::mt19937& rng) {
  const OptimizerDef* def = FindOptimizerByUpdateOp(desc.update_op);
  const size_t slots = def ? def->slots.size() : 0;
  if (i < 2 + slots) return Floats(desc.inputs[i], rng, 0.f, 1.f);
  if (def && def->reads_step && i == 2 + slots)
    return Ints(desc.inputs[i], rng, 0, 20);  // early steps: bias corrections far from 1
  return Floats(desc.inputs[i], rng, 0.001f, 0.1f);
}
#endif

StatusOr<KindCase> MakeKindCase(const std::string& name, const CudaKernelDesc& desc, uint32_t seed) {
#ifdef KILN_CUDA_CHECK_NO_REFERENCE
  (void)name, (void)desc, (void)seed;
  return InvalidArgument("this build has no reference kernels");
#else
  std::mt19937 rng(seed);
  KindCase c{name, desc, {}, {}};
  const bool sce = desc.kind == CudaKind::kSoftmaxCrossEntropy || desc.kind == CudaKind::kSoftmaxCrossEntropyGrad;
  // Products sum K terms in float32 (the reference in double): operands in [-1, 1] keep the
  // sums' rounding inside the checks' tolerance for the examples' K (hundreds).
  const bool product = IsProductKind(desc.kind);
  const size_t target = desc.kind == CudaKind::kSoftmaxCrossEntropyGrad ? 2 : 1;
  for (size_t i = 0; i < desc.inputs.size(); ++i) {
    const Dims& d = desc.inputs[i];
    if (desc.kind == CudaKind::kGather && i == 1) {
      const Dims& data = desc.inputs[0];
      const int64_t axis = desc.axes.empty() ? 0 : desc.axes[0];
      const int64_t v = data.empty() ? 0 : data[axis < 0 ? axis + int64_t(data.size()) : axis];
      c.inputs.push_back(Ints(d, rng, -v, std::max<int64_t>(v - 1, -v)));
    } else if (desc.kind == CudaKind::kDropout && i == 1) {
      c.inputs.push_back(Ints(d, rng, 0, 100000));
    } else if (desc.kind == CudaKind::kCounterAdd) {
      c.inputs.push_back(Ints(d, rng, 0, 100000));
    } else if (desc.kind == CudaKind::kOptimizerUpdate && i >= 2) {
      c.inputs.push_back(OptimizerInput(desc, i, rng));
    } else if (sce && i == target) {
      const int64_t classes = desc.inputs[target - 1].size() == 2 ? desc.inputs[target - 1][1] : 1;
      c.inputs.push_back(desc.sparse ? Ints(d, rng, 0, std::max<int64_t>(classes - 1, 0)) : Floats(d, rng, 0.f, 1.f));
    } else {
      c.inputs.push_back(product ? Floats(d, rng, -1.f, 1.f) : Floats(d, rng));
    }
  }
  RETURN_IF_ERROR(ComputeWant(c));
  return c;
#endif
}

StatusOr<std::vector<KindCase>> BuiltinKindCases() {
#ifdef KILN_CUDA_CHECK_NO_REFERENCE
  return InvalidArgument("this build has no reference kernels: give the cases file (--kinds FILE)");
#else
  std::vector<KindCase> cases;
  std::mt19937 rng(20261205);
  Status st = Status::Ok();
  auto add = [&](const std::string& name, CudaKernelDesc desc, std::vector<KindBuffer> inputs) {
    if (!st.ok()) return;
    for (const KindBuffer& b : inputs) desc.inputs.push_back(b.dims);
    KindCase c{GetCudaKindInfo(desc.kind).name + std::string("_") + name, desc, std::move(inputs), {}};
    st = ComputeWant(c);
    if (!st.ok()) st = InvalidArgument(c.name, ": ", st.message());
    cases.push_back(std::move(c));
  };
  auto F = [&](const Dims& d, int specials = 0) { return Floats(d, rng, -3.f, 3.f, specials); };
  auto desc = [](CudaKind kind, std::vector<int64_t> axes = {}) {
    CudaKernelDesc d;
    d.kind = kind;
    d.axes = std::move(axes);
    return d;
  };
  // Softmax / log-softmax over the last axis: rows shorter, longer and not a multiple of the block.
  for (CudaKind kind : {CudaKind::kSoftmax, CudaKind::kLogSoftmax}) {
    add("7x151", desc(kind), {F({7, 151})});
    add("3x10", desc(kind), {F({3, 10})});
    add("2x3x300_specials", desc(kind), {F({2, 3, 300}, 400)});
    add("5x1", desc(kind), {F({5, 1})});
    add("1000", desc(kind), {Floats({1000}, rng, -40.f, 40.f)});
    add("empty_rows", desc(kind), {F({0, 8})});
    add("empty_row_length", desc(kind), {F({4, 0})});
  }
  KindBuffer inf_row = F({4, 9});
  inf_row.f[9 + 3] = INFINITY;                                // row 1: +inf
  inf_row.f[18 + 2] = NAN;                                    // row 2: NaN
  for (int k = 0; k < 9; ++k) inf_row.f[27 + k] = -INFINITY;  // row 3: all -inf
  add("rows_inf_nan", desc(CudaKind::kSoftmax), {inf_row});
  add("rows_inf_nan", desc(CudaKind::kLogSoftmax), {inf_row});
  // Their gradients: y a real softmax / log-softmax output (rows summing to 1).
  for (CudaKind kind : {CudaKind::kSoftmaxGrad, CudaKind::kLogSoftmaxGrad}) {
    for (auto [name, dims, specials] :
         std::vector<std::tuple<std::string, Dims, int>>{{"7x151", {7, 151}, 0},
                                                         {"3x10", {3, 10}, 0},
                                                         {"2x3x300_specials", {2, 3, 300}, 400},
                                                         {"5x1", {5, 1}, 0},
                                                         {"empty_rows", {0, 8}, 0}}) {
      CudaKernelDesc forward = desc(kind == CudaKind::kSoftmaxGrad ? CudaKind::kSoftmax : CudaKind::kLogSoftmax);
      forward.inputs = {dims};
      KindBuffer x = F(dims), y = x;
      std::vector<TensorRef> y_ref = {{proto::DT_FLOAT, dims, y.f.data()}};
      Attrs axis;
      axis.SetInt("axis", -1);
      if (st.ok())
        st = runtime::RunReferenceOp(GetCudaKindInfo(forward.kind).reference_op, name, axis, {Ref(x)}, y_ref);
      add(name, desc(kind), {F(dims, specials), y});
    }
  }
  // Sums: bias gradients (all but the channel axis), groups below and above the tree threshold.
  auto reduce = [&](CudaKind kind, std::vector<int64_t> axes, bool keepdims) {
    CudaKernelDesc d = desc(kind, std::move(axes));
    d.keepdims = keepdims;
    return d;
  };
  add("bias_grad_nchw", reduce(CudaKind::kReduceSum, {0, 2, 3}, true), {F({2, 3, 5, 7})});
  add("bias_grad_dense", reduce(CudaKind::kReduceSum, {0}, false), {F({64, 10})});
  add("rows", reduce(CudaKind::kReduceSum, {1}, false), {F({9, 33})});
  add("tall", reduce(CudaKind::kReduceSum, {0}, true), {F({200, 3})});
  add("columns_odd", reduce(CudaKind::kReduceSum, {0, 1}, false), {F({9, 30, 70})});
  add("columns_specials", reduce(CudaKind::kReduceMax, {0}, false), {F({100, 45}, 300)});
  add("all", reduce(CudaKind::kReduceSum, {}, false), {F({5, 6})});
  add("empty_group", reduce(CudaKind::kReduceSum, {1}, true), {F({3, 0, 4})});
  add("neg_axis_specials", reduce(CudaKind::kReduceSum, {-1}, true), {F({6, 70}, 100)});
  add("rows", reduce(CudaKind::kReduceMean, {1}, true), {F({4, 70})});
  add("outer_inner", reduce(CudaKind::kReduceMean, {0, 2}, false), {F({2, 3, 4})});
  add("empty_group", reduce(CudaKind::kReduceMean, {1}, true), {F({3, 0, 4})});
  add("bias_grad_large", reduce(CudaKind::kReduceMean, {0, 2, 3}, true), {F({4, 5, 9, 11})});
  add("rows_specials", reduce(CudaKind::kReduceMax, {1}, true), {F({6, 100}, 150)});
  add("strided", reduce(CudaKind::kReduceMax, {1, 3}, false), {F({2, 3, 4, 5})});
  add("empty_group", reduce(CudaKind::kReduceMax, {1}, true), {F({3, 0, 2})});
  add("tree_specials", reduce(CudaKind::kReduceMax, {0}, true), {F({300, 4}, 400)});
  // BN statistics.
  add("nchw", desc(CudaKind::kBatchNormStats), {F({4, 3, 5, 7})});
  add("nc", desc(CudaKind::kBatchNormStats), {F({16, 8})});
  add("odd", desc(CudaKind::kBatchNormStats), {Floats({2, 5, 33, 9}, rng, 1.f, 5.f)});
  add("no_channels", desc(CudaKind::kBatchNormStats), {F({3, 0, 4, 4})});
  // Softmax cross-entropy and its gradient: dense and sparse targets, classes below and above a warp.
  for (CudaKind kind : {CudaKind::kSoftmaxCrossEntropy, CudaKind::kSoftmaxCrossEntropyGrad}) {
    const bool grad = kind == CudaKind::kSoftmaxCrossEntropyGrad;
    auto with_dloss = [&](std::vector<KindBuffer> in) {
      if (grad) in.insert(in.begin(), Floats({}, rng, 0.5f, 2.f));
      return in;
    };
    CudaKernelDesc dense = desc(kind), sparse = desc(kind);
    sparse.sparse = true;
    add("dense_7x10", dense, with_dloss({F({7, 10}), Floats({7, 10}, rng, 0.f, 1.f)}));
    add("sparse_33x10", sparse, with_dloss({F({33, 10}), Ints({33}, rng, 0, 9)}));
    add("sparse_5x1000", sparse, with_dloss({Floats({5, 1000}, rng, -20.f, 20.f), Ints({5}, rng, 0, 999)}));
    add("dense_70x37", dense, with_dloss({F({70, 37}), Floats({70, 37}, rng, 0.f, 1.f)}));
    KindBuffer logits = F({3, 12}), targets = Floats({3, 12}, rng, 0.f, 1.f);
    logits.f[5] = INFINITY;                                 // row 0: lse = +inf
    for (int k = 12; k < 24; ++k) logits.f[k] = -INFINITY;  // row 1: lse = -inf
    targets.f[30] = 0.f;
    add("dense_inf_rows", dense, with_dloss({logits, targets}));
    add("empty_batch", sparse, with_dloss({F({0, 10}), Ints({0}, rng, 0, 9)}));
  }
  // Pooling.
  auto pool = [&](CudaKind kind, std::vector<int64_t> kernel, std::vector<int64_t> strides, std::vector<int64_t> pads,
                  bool count_pad = false) {
    CudaKernelDesc d = desc(kind);
    d.kernel = std::move(kernel);
    d.strides = std::move(strides);
    d.pads = std::move(pads);
    d.count_include_pad = count_pad;
    return d;
  };
  // Quantized values: ties, so "the first maximal cell" matters.
  KindBuffer ties = F({1, 2, 6, 7});
  for (float& v : ties.f) v = std::round(v);
  add("3x3_s2_p1", pool(CudaKind::kMaxPool, {3, 3}, {2, 2}, {1, 1, 1, 1}), {F({2, 3, 9, 11}, 60)});
  add("2x2_s2", pool(CudaKind::kMaxPool, {2, 2}, {2, 2}, {}), {F({1, 2, 8, 8})});
  add("3x2_s1_asym_pads", pool(CudaKind::kMaxPool, {3, 2}, {1, 1}, {2, 0, 1, 1}), {F({1, 3, 5, 6})});
  add("ties", pool(CudaKind::kMaxPool, {3, 3}, {1, 1}, {1, 1, 1, 1}), {ties});
  add("empty_batch", pool(CudaKind::kMaxPool, {2, 2}, {1, 1}, {}), {F({0, 3, 4, 4})});
  add("3x3_s2_p1", pool(CudaKind::kAveragePool, {3, 3}, {2, 2}, {1, 1, 1, 1}), {F({2, 3, 9, 11})});
  add("3x3_s2_p1_count_pad", pool(CudaKind::kAveragePool, {3, 3}, {2, 2}, {1, 1, 1, 1}, true), {F({2, 3, 9, 11})});
  add("2x2_s1_specials", pool(CudaKind::kAveragePool, {2, 2}, {1, 1}, {}), {F({1, 2, 7, 7}, 40)});
  add("7x7_global", pool(CudaKind::kAveragePool, {7, 7}, {1, 1}, {}), {F({3, 4, 7, 7})});
  auto dy_for = [&](const Dims& x, const CudaKernelDesc& d) {
    CudaKernelDesc fwd = d;
    fwd.kind = CudaKind::kMaxPool;
    fwd.inputs = {x};
    auto k = RenderCudaKind(fwd);
    return F(k.ok() ? k->outputs[0] : Dims{0});
  };
  for (auto [name, d, x] : std::vector<std::tuple<std::string, CudaKernelDesc, KindBuffer>>{
           {"3x3_s2_p1", pool(CudaKind::kMaxPoolGrad, {3, 3}, {2, 2}, {1, 1, 1, 1}), F({2, 3, 9, 11}, 60)},
           {"2x2_s2", pool(CudaKind::kMaxPoolGrad, {2, 2}, {2, 2}, {}), F({1, 2, 8, 8})},
           {"overlap_ties", pool(CudaKind::kMaxPoolGrad, {3, 3}, {1, 1}, {1, 1, 1, 1}), ties},
           {"3x2_s1_asym_pads", pool(CudaKind::kMaxPoolGrad, {3, 2}, {1, 2}, {2, 0, 1, 1}), F({1, 3, 5, 6})}}) {
    add(name, d, {dy_for(x.dims, d), x});
  }
  // Data movement.
  add("37x45", desc(CudaKind::kTranspose, {1, 0}), {F({37, 45}, 100)});
  add("batched_3x40x33", desc(CudaKind::kTranspose, {0, 2, 1}), {F({3, 40, 33})});
  add("nchw_to_nhwc", desc(CudaKind::kTranspose, {0, 2, 3, 1}), {F({2, 3, 4, 5})});
  add("general_3102", desc(CudaKind::kTranspose, {3, 1, 0, 2}), {F({2, 3, 4, 5})});
  add("unit_dims", desc(CudaKind::kTranspose, {2, 1, 0}), {F({5, 1, 7})});
  add("identity", desc(CudaKind::kTranspose, {0, 1}), {F({6, 4})});
  add("empty", desc(CudaKind::kTranspose, {1, 0}), {F({0, 4})});
  add("rank5", desc(CudaKind::kTranspose, {4, 2, 0, 3, 1}), {F({2, 3, 2, 3, 4})});
  add("rotate_merges_to_2d", desc(CudaKind::kTranspose, {2, 0, 1}), {F({2, 3, 40})});
  add("axis1", desc(CudaKind::kConcat, {1}), {F({2, 3, 4}), F({2, 5, 4}, 20), F({2, 0, 4})});
  add("axis0", desc(CudaKind::kConcat, {0}), {F({3, 7}), F({3, 7})});
  add("last_axis", desc(CudaKind::kConcat, {-1}), {F({2, 3}), F({2, 4}), F({2, 1})});
  add("all_empty", desc(CudaKind::kConcat, {0}), {F({0, 5}), F({0, 5})});
  // Slice: ONNX starts / ends / axes / steps, resolved as the reference resolves them.
  auto slice = [&](const std::string& name, const Dims& x, std::vector<int64_t> starts, std::vector<int64_t> ends,
                   std::vector<int64_t> axes, std::vector<int64_t> steps) {
    auto range = ResolveSlice(x, starts, ends, axes, steps);
    if (!range.ok()) {
      st = InvalidArgument("slice_", name, ": ", range.status().message());
      return;
    }
    CudaKernelDesc d = desc(CudaKind::kSlice);
    d.starts = range->starts;
    d.steps = range->steps;
    d.out = range->output;
    add(name, d, {F(x, 50)});
  };
  slice("steps", {10, 12}, {1, -1}, {9, 0}, {0, 1}, {2, -1});
  slice("step_minus3", {3, 20}, {-1}, {-100}, {1}, {-3});
  slice("middle_axis", {5, 6, 7}, {1}, {6}, {1}, {2});
  slice("empty_result", {4, 5}, {3}, {1}, {0}, {1});
  slice("clamped_ends", {8, 3}, {-20, 0}, {100, 2}, {0, 1}, {1, 1});
  add("embeddings", desc(CudaKind::kGather, {0}), {F({10, 6}), Ints({4}, rng, -10, 9)});
  add("index_matrix", desc(CudaKind::kGather, {0}), {F({10, 6}), Ints({2, 3}, rng, 0, 9)});
  add("axis1", desc(CudaKind::kGather, {1}), {F({3, 7, 4}), Ints({5}, rng, -7, 6)});
  add("empty_indices", desc(CudaKind::kGather, {0}), {F({10, 6}), Ints({0}, rng, 0, 9)});
  add("wide_rows", desc(CudaKind::kGather, {0}), {F({50, 300}), Ints({7}, rng, 0, 49)});
  AddProductCases(rng, add);
  // The training step's kinds: every optimizer (odd sizes past one block, weight decay, nesterov,
  // the learning rate as an input), the step counter.
  for (const OptimizerDef& def : AllOptimizers()) {
    for (int variant = 0; variant < 2; ++variant) {
      CudaKernelDesc d = desc(CudaKind::kOptimizerUpdate);
      d.update_op = def.update_op;
      d.hyper = def.defaults;
      d.hyper.lr = def.defaults.lr > 0 ? def.defaults.lr : 0.01f;
      if (variant == 1) {
        d.hyper.weight_decay = 0.01f;
        d.hyper.nesterov = def.name == "momentum" || def.name == "nesterov";
        d.lr_input = true;
      }
      if (def.name == "momentum" && d.hyper.momentum == 0) d.hyper.momentum = 0.9f;
      const Dims p = variant ? Dims{7, 131} : Dims{1000};
      std::vector<Dims> dims = {p, p};
      for (size_t k = 0; k < def.slots.size(); ++k) dims.push_back(p);
      if (def.reads_step) dims.push_back({});
      if (d.lr_input) dims.push_back({});
      d.inputs = dims;
      std::vector<KindBuffer> inputs = {F(p, variant ? 50 : 0), F(p)};
      for (size_t i = 2; i < dims.size(); ++i) inputs.push_back(OptimizerInput(d, i, rng));
      d.inputs.clear();
      add(def.name + (variant ? "_decay_lr_input" : ""), d, std::move(inputs));
    }
  }
  for (float ratio : {0.f, 0.3f, 0.5f}) {
    CudaKernelDesc d = desc(CudaKind::kDropout);
    d.dropout_ratio = ratio;
    d.dropout_seed = 0x5eed + static_cast<uint64_t>(ratio * 10);
    add("ratio" + std::to_string(static_cast<int>(ratio * 10)), d, {F({3, 1000}, 50), Ints({}, rng, 0, 100000)});
  }
  add("step", desc(CudaKind::kCounterAdd), {Ints({}, rng, 0, 100000)});
  add("vector", desc(CudaKind::kCounterAdd), {Ints({300}, rng, -100000, 100000)});
  if (!st.ok()) return st;
  return cases;
#endif
}

// ---- Cases file (the GPU bundle): binary, this binary's own format -------------------------------
namespace {
struct Writer {
  std::ofstream& f;
  void U(uint64_t v) { f.write(reinterpret_cast<const char*>(&v), 8); }
  template <typename T>
  void Vector(const std::vector<T>& v) {
    U(v.size());
    f.write(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
  }
};
struct Reader {
  std::ifstream& f;
  bool ok = true;
  uint64_t U() {
    uint64_t v = 0;
    if (!f.read(reinterpret_cast<char*>(&v), 8)) ok = false;
    return v;
  }
  template <typename T>
  std::vector<T> Vector() {
    const uint64_t n = U();
    if (!ok || n > (1u << 26)) return ok = false, std::vector<T>{};
    std::vector<T> v(n);
    if (!f.read(reinterpret_cast<char*>(v.data()), n * sizeof(T))) ok = false;
    return v;
  }
};
constexpr uint64_t kMagic = 0x33534b4e494b4c4bull;  // "KLKINKS3"
}  // namespace

Status WriteKindCases(const std::vector<KindCase>& cases, const std::string& path) {
  std::ofstream f(path + ".tmp", std::ios::binary);
  Writer w{f};
  w.U(kMagic);
  w.U(cases.size());
  for (const KindCase& c : cases) {
    w.Vector(std::vector<int64_t>(c.name.begin(), c.name.end()));
    const CudaKernelDesc& d = c.desc;
    w.Vector(std::vector<int64_t>{int64_t(d.kind), d.keepdims, d.sparse, d.count_include_pad, d.trans_a, d.trans_b,
                                  d.group, d.bias_gradient});
    for (const auto* v : {&d.axes, &d.kernel, &d.strides, &d.pads, &d.starts, &d.steps, &d.out, &d.dilations})
      w.Vector(*v);
    w.Vector(std::vector<float>{d.alpha, d.beta, d.activation_alpha, d.activation_beta});
    w.Vector(std::vector<int64_t>(d.activation.begin(), d.activation.end()));
    w.Vector(std::vector<int64_t>(d.update_op.begin(), d.update_op.end()));
    const OptimizerHyperparams& h = d.hyper;
    w.Vector(std::vector<float>{h.lr, h.weight_decay, h.momentum, h.beta1, h.beta2, h.epsilon, h.rho, d.dropout_ratio});
    w.Vector(std::vector<int64_t>{h.nesterov, d.lr_input, d.addend, static_cast<int64_t>(d.dropout_seed)});
    w.U(c.inputs.size());
    for (const KindBuffer& b : c.inputs) {
      w.Vector(b.dims);
      w.U(b.int64);
      if (b.int64)
        w.Vector(b.i);
      else
        w.Vector(b.f);
    }
    w.U(c.want.size());
    for (const auto& v : c.want) w.Vector(v);
  }
  f.close();
  if (!f || std::rename((path + ".tmp").c_str(), path.c_str()) != 0) return InvalidArgument(path, ": cannot write");
  return Status::Ok();
}

StatusOr<std::vector<KindCase>> ReadKindCases(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return InvalidArgument(path, ": cannot open");
  Reader r{f};
  if (r.U() != kMagic) return InvalidArgument(path, ": not a kiln_cuda_check kinds file");
  const uint64_t n = r.U();
  std::vector<KindCase> cases;
  for (uint64_t k = 0; k < n && r.ok; ++k) {
    KindCase c;
    const std::vector<int64_t> name = r.Vector<int64_t>();
    c.name.assign(name.begin(), name.end());
    const std::vector<int64_t> flags = r.Vector<int64_t>();
    if (flags.size() != 8) return InvalidArgument(path, ": case ", k, " is malformed");
    CudaKernelDesc& d = c.desc;
    d.kind = static_cast<CudaKind>(flags[0]);
    d.keepdims = flags[1];
    d.sparse = flags[2];
    d.count_include_pad = flags[3];
    d.trans_a = flags[4];
    d.trans_b = flags[5];
    d.group = flags[6];
    d.bias_gradient = flags[7];
    for (auto* v : {&d.axes, &d.kernel, &d.strides, &d.pads, &d.starts, &d.steps, &d.out, &d.dilations})
      *v = r.Vector<int64_t>();
    const std::vector<float> floats = r.Vector<float>();
    if (floats.size() != 4) return InvalidArgument(path, ": case ", k, " is malformed");
    d.alpha = floats[0];
    d.beta = floats[1];
    d.activation_alpha = floats[2];
    d.activation_beta = floats[3];
    const std::vector<int64_t> activation = r.Vector<int64_t>();
    d.activation.assign(activation.begin(), activation.end());
    const std::vector<int64_t> update_op = r.Vector<int64_t>();
    d.update_op.assign(update_op.begin(), update_op.end());
    const std::vector<float> hyper = r.Vector<float>();
    const std::vector<int64_t> update_flags = r.Vector<int64_t>();
    if (hyper.size() != 8 || update_flags.size() != 4) return InvalidArgument(path, ": case ", k, " is malformed");
    OptimizerHyperparams& h = d.hyper;
    h.lr = hyper[0], h.weight_decay = hyper[1], h.momentum = hyper[2], h.beta1 = hyper[3], h.beta2 = hyper[4];
    h.epsilon = hyper[5], h.rho = hyper[6];
    h.nesterov = update_flags[0] != 0;
    d.lr_input = update_flags[1] != 0;
    d.addend = update_flags[2];
    d.dropout_ratio = hyper[7];
    d.dropout_seed = static_cast<uint64_t>(update_flags[3]);
    const uint64_t inputs = r.U();
    for (uint64_t i = 0; i < inputs && r.ok && i < 64; ++i) {
      KindBuffer b;
      b.dims = r.Vector<int64_t>();
      b.int64 = r.U() != 0;
      if (b.int64)
        b.i = r.Vector<int64_t>();
      else
        b.f = r.Vector<float>();
      d.inputs.push_back(b.dims);
      c.inputs.push_back(std::move(b));
    }
    const uint64_t outputs = r.U();
    for (uint64_t i = 0; i < outputs && r.ok && i < 64; ++i) c.want.push_back(r.Vector<float>());
    cases.push_back(std::move(c));
  }
  if (!r.ok) return InvalidArgument(path, ": truncated or malformed");
  return cases;
}

// ---- Emulation -------------------------------------------------------------------------------------
namespace {

// A block's threads are fibers (ucontext) run round-robin, each until it reaches a
// barrier or ends; __syncthreads releases when every live thread of the block waits
// there, a warp shuffle when every thread of the warp does (values exchanged through
// per-thread slots between two such barriers). Each round runs the threads in a new
// pseudo-random order (fixed seed), so a missing barrier shows as a wrong result.
// Blocks run one after another; __shared__ variables are statics (one block at a time).
const char* kFiberPrelude = R"KILN(// Kiln's CUDA emulation prelude for the kernel kinds.
#include <math.h>
#include <string.h>
#include <ucontext.h>
#include <functional>
#include <utility>
#include <vector>
#define KILN_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
struct kiln_dim3 { unsigned x = 0, y = 0, z = 0; };
static kiln_dim3 blockIdx, blockDim, gridDim;
namespace kiln_emu {
enum State { kReady, kAtSync, kAtWarp, kDone };
struct Fiber { ucontext_t ctx; kiln_dim3 tid; State state = kReady; std::vector<char> stack; };
static std::vector<Fiber> fibers;
static Fiber* current = nullptr;
static ucontext_t scheduler;
static const std::function<void()>* body = nullptr;
static unsigned char slots[1024][8];
static void Entry() { (*body)(); current->state = kDone; }
static void Wait(State s) { current->state = s; swapcontext(&current->ctx, &scheduler); }
template <class T> static T Exchange(T v, int src_lane) {
  const unsigned t = current->tid.x;
  memcpy(slots[t], &v, sizeof(T));
  Wait(kAtWarp);
  T r = v;
  if (src_lane >= 0) memcpy(&r, slots[(t & ~31u) + (unsigned)src_lane], sizeof(T));
  Wait(kAtWarp);
  return r;
}
}  // namespace kiln_emu
#define threadIdx (kiln_emu::current->tid)
static inline void __syncthreads() { kiln_emu::Wait(kiln_emu::kAtSync); }
static inline float __int_as_float(int v) { float f; memcpy(&f, &v, 4); return f; }
template <class T> static T __shfl_xor_sync(unsigned, T v, int mask, int = 32) {
  return kiln_emu::Exchange(v, (int)((threadIdx.x & 31u) ^ (unsigned)mask) & 31);
}
template <class T> static T __shfl_down_sync(unsigned, T v, unsigned delta, int = 32) {
  const unsigned lane = threadIdx.x & 31u;
  return kiln_emu::Exchange(v, lane + delta < 32 ? (int)(lane + delta) : -1);
}
template <class T> static T __shfl_sync(unsigned, T v, int src, int = 32) { return kiln_emu::Exchange(v, src & 31); }
// Runs fn as a grid of grid x block threads; null, or what went wrong.
static const char* kiln_emu_launch(unsigned grid, unsigned block, const std::function<void()>& fn) {
  using namespace kiln_emu;
  if (block == 0 || block > 1024 || block % 32 != 0) return "block size must be a multiple of 32, at most 1024";
  body = &fn;
  gridDim = {grid, 1, 1};
  blockDim = {block, 1, 1};
  fibers.resize(block);
  std::vector<unsigned> order(block);
  for (unsigned t = 0; t < block; ++t) order[t] = t;
  unsigned long long rng = 0x9e3779b97f4a7c15ull;
  for (unsigned b = 0; b < grid; ++b) {
    blockIdx = {b, 0, 0};
    for (unsigned t = 0; t < block; ++t) {
      Fiber& f = fibers[t];
      if (f.stack.empty()) f.stack.resize(128 * 1024);
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack.data();
      f.ctx.uc_stack.ss_size = f.stack.size();
      f.ctx.uc_link = &scheduler;
      makecontext(&f.ctx, Entry, 0);
      f.tid = {t, 0, 0};
      f.state = kReady;
    }
    for (;;) {
      for (unsigned k = block - 1; k > 0; --k) {  // a new order each round (Fisher-Yates, fixed seed)
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        std::swap(order[k], order[rng % (k + 1)]);
      }
      for (unsigned k = 0; k < block; ++k) {
        Fiber& f = fibers[order[k]];
        if (f.state != kReady) continue;
        current = &f;
        swapcontext(&scheduler, &f.ctx);
      }
      bool released = false, live = false, all_sync = true;
      for (unsigned w = 0; w < block / 32; ++w) {
        unsigned at = 0, alive = 0;
        for (unsigned t = w * 32; t < w * 32 + 32; ++t) {
          alive += fibers[t].state != kDone;
          at += fibers[t].state == kAtWarp;
        }
        if (at > 0 && at == alive) {
          if (alive != 32) return "a warp shuffle with exited lanes";
          for (unsigned t = w * 32; t < w * 32 + 32; ++t) fibers[t].state = kReady;
          released = true;
        }
      }
      if (released) continue;
      for (const Fiber& f : fibers) {
        live |= f.state != kDone;
        all_sync &= f.state == kDone || f.state == kAtSync;
      }
      if (!live) break;
      if (!all_sync) return "deadlock: threads wait at different barriers (divergent __syncthreads or shuffles)";
      for (Fiber& f : fibers) {
        if (f.state == kAtSync) f.state = kReady;
      }
    }
  }
  return nullptr;
}
)KILN";

std::string TempDir(const char* prefix) {
  std::string t = std::string("/tmp/") + prefix + ".XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back(0);
  return mkdtemp(buf.data()) ? std::string(buf.data()) : "";
}

struct Run {
  std::vector<std::vector<float>> got;
  std::string error;
};

std::string CompareAll(const KindCase& c, const std::vector<std::vector<float>>& got) {
  if (got.size() != c.want.size()) return "output count differs";
  for (size_t o = 0; o < got.size(); ++o) {
    const std::string diff = Compare(got[o], c.want[o], kTolerance);
    if (!diff.empty()) return "output " + std::to_string(o) + " " + diff;
  }
  return "";
}

}  // namespace

int RunKindsEmulation(const std::vector<KindCase>& cases, bool coverage) {
  const std::string dir = TempDir("kiln_cuda_kinds");
  if (dir.empty()) {
    std::printf("FAIL kinds emulation: cannot make a temp dir\n");
    return 1;
  }
  std::string source = kFiberPrelude;
  std::vector<GeneratedCudaKernel> kernels;
  std::set<std::string> rendered;
  for (const KindCase& c : cases) {
    auto k = RenderCudaKind(c.desc);
    if (!k.ok()) {
      std::printf("FAIL kinds emulation %s: %s\n", c.name.c_str(), k.status().message().c_str());
      return 1;
    }
    if (rendered.insert(k->kernel.name).second) {
      source += k->kernel.source;
      const std::string& n = k->kernel.name;
      source += "extern \"C\" const char* " + n + "_emulate(const void* args, unsigned grid, unsigned block) {\n" +
                "  const kiln_args_" + n + " a = *(const kiln_args_" + n + "*)args;\n" +
                "  return kiln_emu_launch(grid, block, [&a] { " + n + "(a); });\n}\n";
    }
    kernels.push_back(*k);
  }
  void* so = HostCompileAndLoad(source, dir + "/kinds", "kinds emulation");
  if (so == nullptr) return 1;
  int failures = 0, passed = 0;
  std::map<CudaKind, int> covered;
  for (size_t i = 0; i < cases.size(); ++i) {
    const KindCase& c = cases[i];
    const GeneratedCudaKernel& k = kernels[i];
    using Emulate = const char* (*)(const void*, unsigned, unsigned);
    auto fn = reinterpret_cast<Emulate>(dlsym(so, (k.kernel.name + "_emulate").c_str()));
    std::vector<std::vector<float>> got;
    std::vector<uint64_t> in, out;
    for (const KindBuffer& b : c.inputs) in.push_back(reinterpret_cast<uint64_t>(b.data()));
    for (const Dims& d : k.outputs) got.emplace_back(ElementCount(d) * (k.int64_outputs ? 2 : 1), -12345.f);
    for (auto& v : got) out.push_back(reinterpret_cast<uint64_t>(v.data()));
    const std::vector<uint64_t> args = PackPointerArgs(in, out);
    std::string diff;
    if (fn == nullptr) {
      diff = "no symbol " + k.kernel.name + "_emulate";
    } else if (const char* err = fn(args.data(), k.launch.grid, k.launch.block)) {
      diff = err;
    } else {
      std::vector<std::vector<float>> values = got;
      Int64OutputsAsFloats(k, &values);
      diff = CompareAll(c, values);
    }
    // The products loop over their tiles grid-stride: one block taking every tile in turn
    // checks that a tile's shared memory is not overwritten before it is read.
    if (diff.empty() && fn != nullptr && IsProductKind(c.desc.kind) && k.launch.grid > 1) {
      for (auto& v : got) std::fill(v.begin(), v.end(), -12345.f);
      if (const char* err = fn(args.data(), 1, k.launch.block))
        diff = std::string("grid 1: ") + err;
      else if (const std::string d = CompareAll(c, got); !d.empty())
        diff = "grid 1: " + d;
    }
    if (!diff.empty()) {
      ++failures;
      std::printf("FAIL kinds emulate %s (%s, grid %u x %u): %s\n", c.name.c_str(), k.kernel.name.c_str(),
                  k.launch.grid, k.launch.block, diff.c_str());
    } else {
      ++passed;
      ++covered[c.desc.kind];
    }
  }
  dlclose(so);
  // Coverage: every kind of the table has an emulated case that passed.
  for (const CudaKindInfo& info : CudaKinds()) {
    if (coverage && !covered.count(info.kind)) {
      ++failures;
      std::printf("FAIL kinds emulation coverage: no passing emulated case for %s\n", info.name);
    }
  }
  if (failures == 0) (void)!std::system(("rm -rf " + dir).c_str());
  std::printf(
      "%s kinds emulation: %d kernels emulated (threads as fibers, barrier, warp shuffles), %zu/%zu kinds "
      "covered, compared with the reference kernels within %g\n",
      failures ? "FAIL" : "PASS", passed, covered.size(), CudaKinds().size(), kTolerance);
  return failures ? 1 : 0;
}

// ---- GPU -------------------------------------------------------------------------------------------
namespace {

// A rendered kind on the device: compiled (an sm_XY cubin when NVRTC knows the
// arch, else compute_XY PTX), its inputs uploaded, its outputs allocated; freed at the end.
class DeviceKind {
 public:
  DeviceKind(CudaDevice& dev, const CudaKernelDesc& desc, const std::vector<KindBuffer>& inputs) : dev_(dev) {
    auto k = RenderCudaKind(desc);
    if (!k.ok()) {
      status_ = k.status();
      return;
    }
    kernel_ = *k;
    const int major = dev.info().major, minor = dev.info().minor;
    auto image =
        NvrtcCompile(kernel_.kernel.source, kernel_.kernel.name, {major, minor, NvrtcSupportsArch(major, minor)});
    auto fn = image.ok() ? dev.LoadKernel(image->image, kernel_.kernel.name) : StatusOr<void*>(image.status());
    if (!fn.ok()) {
      status_ = fn.status();
      return;
    }
    function_ = *fn;
    for (const KindBuffer& b : inputs) {
      if (!Allocate(b.bytes(), &in_)) return;
      if (b.bytes() > 0) status_ = dev.CopyToDevice(in_.back(), b.data(), b.bytes());
      if (!status_.ok()) return;
    }
    for (const Dims& d : kernel_.outputs) {
      if (!Allocate(ElementCount(d) * (kernel_.int64_outputs ? 8 : 4), &out_)) return;
    }
  }
  ~DeviceKind() {
    for (DevicePtr p : in_) (void)dev_.Free(p);
    for (DevicePtr p : out_) (void)dev_.Free(p);
  }
  const Status& status() const { return status_; }
  const GeneratedCudaKernel& kernel() const { return kernel_; }
  const std::vector<DevicePtr>& inputs() const { return in_; }
  const std::vector<DevicePtr>& outputs() const { return out_; }
  Status Launch() {
    std::vector<uint64_t> args = PackPointerArgs(in_, out_);
    void* params[] = {args.data()};
    return dev_.Launch(function_, kernel_.launch.grid, kernel_.launch.block, params);
  }
  Status Read(std::vector<std::vector<float>>* got) {
    got->clear();
    for (size_t o = 0; o < out_.size(); ++o) {
      got->emplace_back(ElementCount(kernel_.outputs[o]) * (kernel_.int64_outputs ? 2 : 1), -12345.f);
      if (!got->back().empty()) RETURN_IF_ERROR(dev_.CopyToHost(got->back().data(), out_[o], got->back().size() * 4));
    }
    Int64OutputsAsFloats(kernel_, got);
    return Status::Ok();
  }

 private:
  bool Allocate(size_t bytes, std::vector<DevicePtr>* into) {
    auto p = dev_.Alloc(std::max<size_t>(bytes, 8));
    if (!p.ok()) {
      status_ = p.status();
      return false;
    }
    into->push_back(*p);
    return true;
  }
  CudaDevice& dev_;
  Status status_ = Status::Ok();
  GeneratedCudaKernel kernel_;
  void* function_ = nullptr;
  std::vector<DevicePtr> in_, out_;
};

}  // namespace

int RunKindsGpu(CudaDevice& dev, const std::vector<KindCase>& cases) {
  int failures = 0, passed = 0, lt_passed = 0, lt_refused = 0;
  auto library = CublasLtDescription();
  std::printf("cublaslt: %s\n", library.ok() ? library->c_str() : library.status().message().c_str());
  for (const KindCase& c : cases) {
    DeviceKind k(dev, c.desc, c.inputs);
    Status st = k.status();
    if (st.ok()) st = k.Launch();
    if (st.ok()) st = dev.Synchronize();
    std::vector<std::vector<float>> got;
    if (st.ok()) st = k.Read(&got);
    std::string diff = st.ok() ? CompareAll(c, got) : st.message();
    if (!diff.empty()) {
      ++failures;
      std::printf("FAIL gpu kind %s: %s\n", c.name.c_str(), diff.c_str());
    } else {
      ++passed;
    }
    // The runtime's alternative for the products: cuBLASLt on the same buffers, the same check.
    if (!IsMatMulKind(c.desc.kind) || !library.ok() || !k.status().ok()) continue;
    auto lt = CublasLtFor(dev, c.desc, k.kernel().outputs[0]);
    if (!lt.ok() && lt.status().code() == StatusCode::kUnimplemented) {
      ++lt_refused;
      continue;
    }
    const LtStep& step = lt.ok() ? lt->first : LtStep{};
    auto at = [&](int i) { return i < 0 ? DevicePtr{0} : k.inputs()[i]; };
    st = lt.ok() ? lt->second->Run(at(step.a), at(step.b), at(step.c), k.outputs()[0], at(step.bias), nullptr)
                 : lt.status();
    if (st.ok()) st = dev.Synchronize();
    if (st.ok()) st = k.Read(&got);
    diff = st.ok() ? CompareAll(c, got) : st.message();
    if (!diff.empty()) {
      ++failures;
      std::printf("FAIL gpu cublaslt %s: %s\n", c.name.c_str(), diff.c_str());
    } else {
      ++lt_passed;
    }
  }
  std::printf("%s gpu kinds: %d kernels passed, %d failed; cuBLASLt: %d products passed, %d it cannot compute\n",
              failures ? "FAIL" : "PASS", passed, failures, lt_passed, lt_refused);
  return failures ? 1 : 0;
}

// Network-sized shapes: the median of `reps` CUDA-event timings, and the bandwidth
// of the bytes each kernel must move (inputs read once, outputs written once).
int RunKindsBench(CudaDevice& dev, int reps) {
  std::mt19937 rng(7);
  auto floats = [&](const Dims& d) {
    KindBuffer b;
    b.dims = d;
    b.f.resize(ElementCount(d));
    std::uniform_real_distribution<float> value(-3.f, 3.f);
    for (float& v : b.f) v = value(rng);
    return b;
  };
  auto ints = [&](const Dims& d, int64_t hi) {
    KindBuffer b;
    b.dims = d;
    b.int64 = true;
    b.i.resize(ElementCount(d));
    std::uniform_int_distribution<int64_t> value(0, hi - 1);
    for (int64_t& v : b.i) v = value(rng);
    return b;
  };
  auto desc = [](CudaKind kind, std::vector<int64_t> axes = {}) {
    CudaKernelDesc d;
    d.kind = kind;
    d.axes = std::move(axes);
    return d;
  };
  CudaKernelDesc pool = desc(CudaKind::kMaxPool), pool_grad = desc(CudaKind::kMaxPoolGrad);
  for (CudaKernelDesc* d : {&pool, &pool_grad}) {
    d->kernel = {3, 3};
    d->strides = {2, 2};
    d->pads = {1, 1, 1, 1};
  }
  CudaKernelDesc sce = desc(CudaKind::kSoftmaxCrossEntropy);
  sce.sparse = true;
  const Dims act = {32, 256, 56, 56};
  CudaKernelDesc conv3x3 = desc(CudaKind::kConv), conv3x3_grad_w = desc(CudaKind::kConvGradWeight);
  for (CudaKernelDesc* d : {&conv3x3, &conv3x3_grad_w}) d->pads = {1, 1, 1, 1};
  conv3x3_grad_w.out = {64, 64, 3, 3};
  std::vector<std::tuple<std::string, CudaKernelDesc, std::vector<KindBuffer>>> runs = {
      {"softmax_8192x1000", desc(CudaKind::kSoftmax), {floats({8192, 1000})}},
      {"log_softmax_8192x1000", desc(CudaKind::kLogSoftmax), {floats({8192, 1000})}},
      {"softmax_grad_8192x1000", desc(CudaKind::kSoftmaxGrad), {floats({8192, 1000}), floats({8192, 1000})}},
      {"bias_grad_nchw_32x256x56x56", desc(CudaKind::kReduceSum, {0, 2, 3}), {floats(act)}},
      {"bias_grad_dense_65536x512", desc(CudaKind::kReduceSum, {0}), {floats({65536, 512})}},
      {"bn_stats_32x256x56x56", desc(CudaKind::kBatchNormStats), {floats(act)}},
      {"softmax_ce_sparse_8192x1000", sce, {floats({8192, 1000}), ints({8192}, 1000)}},
      {"max_pool_3x3s2_32x64x112x112", pool, {floats({32, 64, 112, 112})}},
      {"max_pool_grad_3x3s2_32x64x112x112", pool_grad, {floats({32, 64, 56, 56}), floats({32, 64, 112, 112})}},
      {"transpose_8192x8192", desc(CudaKind::kTranspose, {1, 0}), {floats({8192, 8192})}},
      {"nchw_to_nhwc_32x256x56x56", desc(CudaKind::kTranspose, {0, 2, 3, 1}), {floats(act)}},
      {"gather_50000x512_by_65536", desc(CudaKind::kGather, {0}), {floats({50000, 512}), ints({65536}, 50000)}},
      // Products (FLOP/s below): square, batch-1 and batch-64 MLP layers, ResNet-50 convolutions at batch 32.
      {"matmul_4096x4096x4096", desc(CudaKind::kMatMul), {floats({4096, 4096}), floats({4096, 4096})}},
      {"matmul_1x784x512", desc(CudaKind::kMatMul), {floats({1, 784}), floats({784, 512})}},
      {"matmul_64x784x512", desc(CudaKind::kMatMul), {floats({64, 784}), floats({784, 512})}},
      {"conv3x3_32x64x56x56", conv3x3, {floats({32, 64, 56, 56}), floats({64, 64, 3, 3})}},
      {"conv1x1_32x256x56x56_to_64", desc(CudaKind::kConv), {floats({32, 256, 56, 56}), floats({64, 256, 1, 1})}},
      {"conv_grad_weight_3x3_32x64x56x56", conv3x3_grad_w, {floats({32, 64, 56, 56}), floats({32, 64, 56, 56})}},
  };
  int failures = 0;
  for (auto& [name, d, inputs] : runs) {
    DeviceKind k(dev, d, inputs);
    std::vector<float> times;
    Status st = k.status();
    for (int r = 0; r < reps + 3 && st.ok(); ++r) {
      auto ms = dev.TimeMs(nullptr, [&] { return k.Launch(); });
      if (!ms.ok())
        st = ms.status();
      else if (r >= 3)
        times.push_back(*ms);  // the first runs warm up
    }
    if (!st.ok() || times.empty()) {
      ++failures;
      std::printf("FAIL bench kind %s: %s\n", name.c_str(), st.message().c_str());
      continue;
    }
    std::sort(times.begin(), times.end());
    double bytes = 0;
    for (const KindBuffer& b : inputs) bytes += double(b.bytes());
    for (const Dims& o : k.kernel().outputs) bytes += 4.0 * double(ElementCount(o));
    const double ms = times[times.size() / 2];
    // Products: 2 * (output elements) * (terms per element) FLOP.
    double flop = 0;
    if (d.kind == CudaKind::kMatMul) flop = 2.0 * inputs[0].dims[0] * inputs[0].dims[1] * inputs[1].dims[1];
    if (d.kind == CudaKind::kConv || d.kind == CudaKind::kConvGradWeight) {
      const Dims& w = d.kind == CudaKind::kConv ? inputs[1].dims : d.out;
      const Dims& y = d.kind == CudaKind::kConv ? k.kernel().outputs[0] : inputs[0].dims;
      flop = 2.0 * double(ElementCount(y)) * double(w[1] * w[2] * w[3]);
    }
    std::printf("BENCHKIND %s %.4f ms %.1f GB/s", name.c_str(), ms, bytes / ms / 1e6);
    if (flop > 0) std::printf(" %.1f GFLOP/s", flop / ms / 1e6);
    std::printf(" (grid %u x %u)\n", k.kernel().launch.grid, k.kernel().launch.block);
    // cuBLASLt on the same product, for the runtime's choice (docs/cuda.md).
    if (IsMatMulKind(d.kind)) {
      auto lt = CublasLtFor(dev, d, k.kernel().outputs[0]);
      std::vector<float> lt_times;
      Status lt_st = lt.status();
      for (int r = 0; r < reps + 3 && lt_st.ok(); ++r) {
        auto ms = dev.TimeMs(
            nullptr, [&] { return lt->second->Run(k.inputs()[0], k.inputs()[1], 0, k.outputs()[0], 0, nullptr); });
        if (!ms.ok())
          lt_st = ms.status();
        else if (r >= 3)
          lt_times.push_back(*ms);
      }
      if (!lt_st.ok() || lt_times.empty()) {
        std::printf("BENCHKIND %s[cublaslt] unavailable: %s\n", name.c_str(), lt_st.message().c_str());
      } else {
        std::sort(lt_times.begin(), lt_times.end());
        const double lt_ms = lt_times[lt_times.size() / 2];
        std::printf("BENCHKIND %s[cublaslt] %.4f ms %.1f GB/s %.1f GFLOP/s\n", name.c_str(), lt_ms, bytes / lt_ms / 1e6,
                    flop / lt_ms / 1e6);
      }
    }
    inputs.clear();  // host memory back before the next shape
  }
  return failures ? 1 : 0;
}

}  // namespace kiln::cuda
