// Batch normalization in training over plain [N, C, inner] float32 tensors, one channel at
// a time (see the header for why). Per channel, with M = N * inner values:
//   forward:  mean = sum x / M; var = sum (x - mean)^2 / M (biased, two passes);
//             y = (x - mean) * (scale / sqrt(var + eps)) + bias (rectified with the
//             fused Relu, attribute relu=1); the running statistics
//             move by momentum as BatchNormTraining says (docs/training_ops.md).
//   backward: dB = sum dy; dScale = sum dy * (x - mean) * inv_std;
//             dx = k1 * dy + k2 * (x - mean) + k3 with k1 = scale * inv_std,
//             k2 = -k1 * inv_std * dScale / M and k3 = -k1 * dB / M (the reference's
//             scale * inv_std / M * (M dy - dB - xhat dScale) expanded).
// Each of a channel's N runs is summed in float over vector lanes and the runs' sums add
// up in double. The loops are compiled once per instruction set (simd_vec.h).
#include "runtime/kernels/onednn/channel_batch_norm.h"

#include <omp.h>

#include <cmath>

#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/simd_level.h"
#include "runtime/kernels/onednn/simd_vec.h"

namespace kiln::runtime::onednn {
namespace {

// Below this many values per run the vector loops are mostly tails: oneDNN's case.
constexpr int64_t kMinRun = 8;

struct Problem {
  int64_t n = 0, c = 0, inner = 0;
  double epsilon = 1e-5, momentum = 0.9;
  bool relu = false;  // BatchNormTraining's fused Relu (fuse-postops)
  // Forward: x, scale, bias, running mean and var -> y [, new running mean, var, saved mean,
  // var]. Backward: dy, x, scale, saved mean, saved var -> dx [, dScale, dB].
  const float* in[5] = {};
  float* out[5] = {};
  const float* Run(int input, int64_t sample, int64_t channel) const {
    return in[input] + (sample * c + channel) * inner;
  }
  float* RunOut(int output, int64_t sample, int64_t channel) const {
    return out[output] + (sample * c + channel) * inner;
  }
};

template <int W>
KILN_INLINE float Lanes(FloatVec<W> v) {
  float s = 0;
  for (int k = 0; k < W; ++k) s += v[k];
  return s;
}

// sum p[i] and sum (p[i] - m)^2 (kSquares) over one run.
template <int W, bool kSquares>
KILN_INLINE float RunSum(const float* p, int64_t len, float m) {
  using V = FloatVec<W>;
  const V mv = Broadcast<W>(m);
  V a0{}, a1{};
  int64_t i = 0;
  auto term = [&](V v) {
    if constexpr (kSquares) {
      v -= mv;
      return v * v;
    }
    return v;
  };
  for (; i + 2 * W <= len; i += 2 * W) {
    a0 += term(LoadVec<W>(p + i));
    a1 += term(LoadVec<W>(p + i + W));
  }
  for (; i + W <= len; i += W) a0 += term(LoadVec<W>(p + i));
  float s = Lanes<W>(a0 + a1);
  for (; i < len; ++i) s += kSquares ? (p[i] - m) * (p[i] - m) : p[i];
  return s;
}

// sum dy and sum dy * (x - m) over one run.
template <int W>
KILN_INLINE void RunGradSums(const float* dy, const float* x, int64_t len, float m, double& sum_dy, double& sum_dyx) {
  using V = FloatVec<W>;
  const V mv = Broadcast<W>(m);
  V s0{}, s1{};
  int64_t i = 0;
  for (; i + W <= len; i += W) {
    const V d = LoadVec<W>(dy + i);
    s0 += d;
    s1 += d * (LoadVec<W>(x + i) - mv);
  }
  float t0 = Lanes<W>(s0), t1 = Lanes<W>(s1);
  for (; i < len; ++i) {
    t0 += dy[i];
    t1 += dy[i] * (x[i] - m);
  }
  sum_dy += t0;
  sum_dyx += t1;
}

// y = a * (x - m) + b [+ k * d] [then y < 0 ? 0 : y, as the Relu kernel] over one run; x, d
// and y may be one buffer.
template <int W, bool kWithD, bool kRelu = false>
KILN_INLINE void RunAffine(const float* x, const float* d, float* y, int64_t len, float m, float a, float b, float k) {
  using V = FloatVec<W>;
  const V mv = Broadcast<W>(m), av = Broadcast<W>(a), bv = Broadcast<W>(b), kv = Broadcast<W>(k), zero{};
  int64_t i = 0;
  for (; i + W <= len; i += W) {
    V v = av * (LoadVec<W>(x + i) - mv) + bv;
    if constexpr (kWithD) v += kv * LoadVec<W>(d + i);
    if constexpr (kRelu) v = v < zero ? zero : v;
    StoreVec<W>(y + i, v);
  }
  for (; i < len; ++i) {
    const float v = a * (x[i] - m) + b + (kWithD ? k * d[i] : 0.0f);
    y[i] = kRelu && v < 0 ? 0.0f : v;
  }
}

template <int W>
KILN_INLINE void ForwardChannels(const Problem& q, int64_t c0, int64_t c1) {
  const double count = static_cast<double>(q.n * q.inner);
  for (int64_t c = c0; c < c1; ++c) {
    double sum = 0;
    for (int64_t s = 0; s < q.n; ++s) sum += RunSum<W, false>(q.Run(0, s, c), q.inner, 0.0f);
    const double mean = sum / count;
    double squares = 0;
    for (int64_t s = 0; s < q.n; ++s) squares += RunSum<W, true>(q.Run(0, s, c), q.inner, static_cast<float>(mean));
    const double var = squares / count;
    const double a = q.in[1][c] / std::sqrt(var + q.epsilon);
    for (int64_t s = 0; s < q.n; ++s) {
      const float* x = q.Run(0, s, c);
      float* y = q.RunOut(0, s, c);
      q.relu ? RunAffine<W, false, true>(x, nullptr, y, q.inner, static_cast<float>(mean), static_cast<float>(a),
                                         q.in[2][c], 0.0f)
             : RunAffine<W, false>(x, nullptr, y, q.inner, static_cast<float>(mean), static_cast<float>(a), q.in[2][c],
                                   0.0f);
    }
    // Read the running values first: the new ones may share their buffers.
    const double rm = q.in[3][c], rv = q.in[4][c];
    if (q.out[1]) q.out[1][c] = static_cast<float>(rm * q.momentum + mean * (1 - q.momentum));
    if (q.out[2]) q.out[2][c] = static_cast<float>(rv * q.momentum + var * (1 - q.momentum));
    if (q.out[3]) q.out[3][c] = static_cast<float>(mean);
    if (q.out[4]) q.out[4][c] = static_cast<float>(var);
  }
}

template <int W>
KILN_INLINE void BackwardChannels(const Problem& q, int64_t c0, int64_t c1) {
  const double count = static_cast<double>(q.n * q.inner);
  for (int64_t c = c0; c < c1; ++c) {
    const float mean = q.in[3][c];
    const double inv_std = 1.0 / std::sqrt(static_cast<double>(q.in[4][c]) + q.epsilon);
    double d_bias = 0, sum_dyx = 0;
    for (int64_t s = 0; s < q.n; ++s) RunGradSums<W>(q.Run(0, s, c), q.Run(1, s, c), q.inner, mean, d_bias, sum_dyx);
    const double d_scale = sum_dyx * inv_std;
    const double k1 = q.in[2][c] * inv_std;
    const double k2 = -k1 * inv_std * d_scale / count, k3 = -k1 * d_bias / count;
    for (int64_t s = 0; s < q.n; ++s) {
      RunAffine<W, true>(q.Run(1, s, c), q.Run(0, s, c), q.RunOut(0, s, c), q.inner, mean, static_cast<float>(k2),
                         static_cast<float>(k3), static_cast<float>(k1));
    }
    if (q.out[1]) q.out[1][c] = static_cast<float>(d_scale);
    if (q.out[2]) q.out[2][c] = static_cast<float>(d_bias);
  }
}

using ChannelsFn = void (*)(const Problem&, int64_t, int64_t);

KILN_TARGET_AVX512 void ForwardAvx512(const Problem& q, int64_t c0, int64_t c1) { ForwardChannels<16>(q, c0, c1); }
__attribute__((target("avx2,fma"))) void ForwardAvx2(const Problem& q, int64_t c0, int64_t c1) {
  ForwardChannels<8>(q, c0, c1);
}
void ForwardGeneric(const Problem& q, int64_t c0, int64_t c1) { ForwardChannels<4>(q, c0, c1); }
KILN_TARGET_AVX512 void BackwardAvx512(const Problem& q, int64_t c0, int64_t c1) { BackwardChannels<16>(q, c0, c1); }
__attribute__((target("avx2,fma"))) void BackwardAvx2(const Problem& q, int64_t c0, int64_t c1) {
  BackwardChannels<8>(q, c0, c1);
}
void BackwardGeneric(const Problem& q, int64_t c0, int64_t c1) { BackwardChannels<4>(q, c0, c1); }

ChannelsFn PickChannels(bool forward, SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return forward ? ForwardAvx512 : BackwardAvx512;
    case SimdLevel::kAvx2: return forward ? ForwardAvx2 : BackwardAvx2;
    case SimdLevel::kGeneric: break;
  }
  return forward ? ForwardGeneric : BackwardGeneric;
}

class ChannelBatchNormKernel final : public Kernel {
 public:
  ChannelBatchNormKernel(const Problem& q, ChannelsFn run, std::vector<bool> outputs, bool share_team, int threads)
      : q_(q), run_(run), outputs_(std::move(outputs)), share_team_(share_team), threads_(threads) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    Problem q = q_;
    for (int i = 0; i < 5; ++i) q.in[i] = in[i].as<float>();
    for (size_t i = 0; i < outputs_.size(); ++i) q.out[i] = outputs_[i] ? out[i].as<float>() : nullptr;
    RunParts(q.c, threads_, share_team_, [&](int64_t c0, int64_t c1) { run_(q, c0, c1); });
    return Status::Ok();
  }

 private:
  Problem q_;
  ChannelsFn run_;
  std::vector<bool> outputs_;  // which outputs the node has
  bool share_team_;
  int threads_;
};

}  // namespace

std::string ChannelBatchNormUnsupportedReason(const KernelSpec& spec) {
  const bool forward = spec.op_type == "BatchNormTraining";
  if (!forward && spec.op_type != "BatchNormGrad") return "not a batch normalization in training";
  if (spec.inputs.size() < 5) return "fewer than 5 inputs";
  const Dims& x = spec.inputs[forward ? 0 : 1].dims;
  if (x.size() < 3 || x.size() > 5) return "rank must be 3 to 5";
  if (ElementCount(x) == 0) return "an empty tensor";
  if (ElementCount(x) / (x[0] * x[1]) < kMinRun) return "fewer than " + std::to_string(kMinRun) + " values per run";
  for (size_t i = 0; i < spec.inputs.size() + spec.outputs.size(); ++i) {
    const bool is_input = i < spec.inputs.size();
    const TensorRef& t = is_input ? spec.inputs[i] : spec.outputs[i - spec.inputs.size()];
    if (!is_input && t.dtype == proto::DT_UNDEFINED) continue;  // an absent optional output
    if (t.dtype != proto::DT_FLOAT) return "float32 only";
    if (t.layout != proto::LAYOUT_PLAIN) return "plain layouts only";
    const bool full = is_input ? (forward ? i == 0 : i <= 1) : i == spec.inputs.size();
    if (t.dims != (full ? x : Dims{x[1]})) return "operand shapes";
  }
  return "";
}

StatusOr<std::unique_ptr<Kernel>> BuildChannelBatchNorm(const KernelSpec& spec, SimdLevel level) {
  const std::string why = ChannelBatchNormUnsupportedReason(spec);
  if (!why.empty()) return Unimplemented("channel batch norm: ", why);
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  const bool forward = spec.op_type == "BatchNormTraining";
  const Dims& x = spec.inputs[forward ? 0 : 1].dims;
  Problem q;
  q.n = x[0];
  q.c = x[1];
  q.inner = ElementCount(x) / (x[0] * x[1]);
  q.epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  q.momentum = spec.attrs.GetFloat("momentum", 0.9f);
  q.relu = forward && spec.attrs.GetInt("relu", 0) != 0;
  std::vector<bool> outputs(spec.outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) outputs[i] = spec.has_output(static_cast<int>(i));
  const bool share_team = spec.env == nullptr || spec.env->use_share_team;
  const int threads = OneDnnKernelRunsOnOneThread(spec) ? 1 : SessionThreads(spec);
  return std::unique_ptr<Kernel>(
      std::make_unique<ChannelBatchNormKernel>(q, PickChannels(forward, level), outputs, share_team, threads));
}

}  // namespace kiln::runtime::onednn
