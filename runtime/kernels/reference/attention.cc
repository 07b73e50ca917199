// Reference kernel of Attention (ir/core/ops/attention.cc): one query row at a time,
// in double. The QK output (qk_matmul_output_mode) is 0: Q K^T scale, 1: after softcap,
// 2: plus the mask and causal bias, 3: the softmax. A row whose keys are all masked
// attends to nothing: its probabilities and output are 0 (not 0/0).
#include "ir/core/ops/attention.h"

#include <cmath>
#include <limits>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using Refs = std::vector<TensorRef>;
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// Element offsets of Q / K / V rows ([B, H, S, D] or [B, S, H * D]).
struct Layout {
  bool rank3;
  int64_t heads, len, size;
  int64_t Row(int64_t b, int64_t h, int64_t s) const {
    return rank3 ? (b * len + s) * heads * size + h * size : ((b * heads + h) * len + s) * size;
  }
};

// The additive bias of attn_mask at (b, h, i, j): its dims right-aligned to [B, H, Sq, T],
// broadcast where they are 1; keys past its last dim are masked.
class MaskReader {
 public:
  MaskReader(const TensorRef* mask, const Dims& scores) : mask_(mask) {
    if (!mask_) return;
    const Dims& m = mask_->dims;
    strides_.assign(4, 0);
    int64_t stride = 1;
    for (int d = static_cast<int>(m.size()) - 1; d >= 0; --d) {
      const int at = 4 - static_cast<int>(m.size()) + d;
      strides_[at] = m[d] == 1 && at != 3 ? 0 : stride;
      stride *= m[d];
    }
    last_ = m.back();
    (void)scores;
  }
  double operator()(int64_t b, int64_t h, int64_t i, int64_t j) const {
    if (!mask_) return 0;
    if (j >= last_) return kNegInf;
    const int64_t at = b * strides_[0] + h * strides_[1] + i * strides_[2] + j * strides_[3];
    if (mask_->dtype == proto::DT_BOOL) return mask_->as<uint8_t>()[at] ? 0.0 : kNegInf;
    return ref::ElementAsDouble(*mask_, at);
  }

 private:
  const TensorRef* mask_;
  std::vector<int64_t> strides_;
  int64_t last_ = 0;
};

Status AttentionKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const bool has_past = ref::HasInput(in, 4) && ref::HasInput(in, 5);
  ASSIGN_OR_RETURN(attention::Geometry g,
                   attention::ResolveGeometry(in[0].dims, in[1].dims, in[2].dims, has_past ? &in[4].dims : nullptr,
                                              has_past ? &in[5].dims : nullptr, spec.attrs));
  const TensorRef* mask = ref::HasInput(in, 3) ? &in[3] : nullptr;
  std::vector<int64_t> nonpad;
  if (ref::HasInput(in, 6)) {
    ASSIGN_OR_RETURN(nonpad, ref::ReadInts(in[6], "nonpad_kv_seqlen"));
    if (static_cast<int64_t>(nonpad.size()) != g.batch) return InvalidArgument("nonpad_kv_seqlen must have B values");
  }
  const int64_t total = g.total();
  const Dims scores = {g.batch, g.q_heads, g.q_len, total};
  if (mask && (mask->dims.empty() || mask->dims.size() > 4)) return InvalidArgument("attn_mask has a bad rank");
  MaskReader mask_at(mask, scores);
  const double scale =
      spec.attrs.Has("scale") ? spec.attrs.GetFloat("scale", 1.0f) : 1.0 / std::sqrt(static_cast<double>(g.head_size));
  const double softcap = spec.attrs.GetFloat("softcap", 0.0f);
  const bool causal = spec.attrs.GetInt("is_causal", 0) != 0;
  const int64_t mode = spec.attrs.GetInt("qk_matmul_output_mode", 0);
  const int64_t group = g.q_heads / g.kv_heads;
  const Layout ql{g.rank3, g.q_heads, g.q_len, g.head_size};
  const Layout kl{g.rank3, g.kv_heads, g.kv_len, g.head_size};
  const Layout vl{g.rank3, g.kv_heads, g.kv_len, g.v_head_size};
  const Layout yl{g.rank3, g.q_heads, g.q_len, g.v_head_size};
  const Layout cache_k{false, g.kv_heads, total, g.head_size}, cache_v{false, g.kv_heads, total, g.v_head_size};
  const Layout past_k{false, g.kv_heads, g.past_len, g.head_size}, past_v{false, g.kv_heads, g.past_len, g.v_head_size};
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *q = in[0].as<T>(), *k = in[1].as<T>(), *v = in[2].as<T>();
    // Key / value row j of (b, kv head): from the past cache, then from K / V.
    auto key = [&](int64_t b, int64_t kh, int64_t j) {
      return j < g.past_len ? in[4].as<T>() + past_k.Row(b, kh, j) : k + kl.Row(b, kh, j - g.past_len);
    };
    auto value = [&](int64_t b, int64_t kh, int64_t j) {
      return j < g.past_len ? in[5].as<T>() + past_v.Row(b, kh, j) : v + vl.Row(b, kh, j - g.past_len);
    };
    for (int64_t b = 0; b < g.batch; ++b) {
      for (int64_t kh = 0; kh < g.kv_heads; ++kh) {
        for (int64_t j = 0; j < total; ++j) {
          if (ref::HasOutput(out, 1))
            std::copy(key(b, kh, j), key(b, kh, j) + g.head_size, out[1].as<T>() + cache_k.Row(b, kh, j));
          if (ref::HasOutput(out, 2)) {
            std::copy(value(b, kh, j), value(b, kh, j) + g.v_head_size, out[2].as<T>() + cache_v.Row(b, kh, j));
          }
        }
      }
    }
    std::vector<double> s(total), p(total);
    for (int64_t b = 0; b < g.batch; ++b) {
      const int64_t offset = has_past ? g.past_len : !nonpad.empty() ? nonpad[b] - g.q_len : 0;
      for (int64_t h = 0; h < g.q_heads; ++h) {
        const int64_t kh = h / group;
        for (int64_t i = 0; i < g.q_len; ++i) {
          const T* qrow = q + ql.Row(b, h, i);
          double max = kNegInf;
          for (int64_t j = 0; j < total; ++j) {
            const T* krow = key(b, kh, j);
            double dot = 0;
            for (int64_t d = 0; d < g.head_size; ++d) dot += static_cast<double>(qrow[d]) * krow[d];
            double x = dot * scale;
            const double raw = x;
            if (softcap > 0) x = softcap * std::tanh(x / softcap);
            const double capped = x;
            double bias = mask_at(b, h, i, j);
            if (causal && j > i + offset) bias = kNegInf;
            if (!nonpad.empty() && j >= nonpad[b]) bias = kNegInf;
            s[j] = x + bias;
            if (ref::HasOutput(out, 3) && mode < 3) {
              out[3].as<T>()[((b * g.q_heads + h) * g.q_len + i) * total + j] = static_cast<T>(mode == 0   ? raw
                                                                                               : mode == 1 ? capped
                                                                                                           : s[j]);
            }
            max = std::fmax(max, s[j]);
          }
          double sum = 0;
          for (int64_t j = 0; j < total; ++j) {
            p[j] = max == kNegInf ? 0.0 : std::exp(s[j] - max);
            sum += p[j];
          }
          for (int64_t j = 0; j < total; ++j) {
            p[j] = sum > 0 ? p[j] / sum : 0.0;
            if (ref::HasOutput(out, 3) && mode == 3) {
              out[3].as<T>()[((b * g.q_heads + h) * g.q_len + i) * total + j] = static_cast<T>(p[j]);
            }
          }
          T* y = out[0].as<T>() + yl.Row(b, h, i);
          for (int64_t d = 0; d < g.v_head_size; ++d) {
            double acc = 0;
            for (int64_t j = 0; j < total; ++j) {
              if (p[j] != 0) acc += p[j] * value(b, kh, j)[d];
            }
            y[d] = static_cast<T>(acc);
          }
        }
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceAttentionKernels(KernelRegistry& r) { ref::RegisterRef(r, "Attention", 3, 1, AttentionKernel); }

}  // namespace kiln::runtime
