// Reference kernels of the signal ops (ir/core/ops/signal.cc): the cosine-sum windows,
// DFT (a direct O(n^2) transform in double, with numpy's fft / ifft / rfft / irfft
// semantics) and RotaryEmbedding. Templated over float32 / float64; the 16-bit floats
// are widened by RegisterRef.
#include <algorithm>
#include <cmath>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::DispatchFloat;
using ref::DispatchNumeric;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

constexpr double kPi = 3.14159265358979323846;

// w[n] = a0 - a1 cos(2 pi n / N) + a2 cos(4 pi n / N), one row per window op.
struct CosineWindow {
  const char* op;
  double a0, a1, a2;
};
constexpr CosineWindow kWindows[] = {
    {"HannWindow", 0.5, 0.5, 0.0},
    {"HammingWindow", 25.0 / 46.0, 21.0 / 46.0, 0.0},
    {"BlackmanWindow", 0.42, 0.5, 0.08},
};

Status WindowKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const CosineWindow* window = nullptr;
  for (const CosineWindow& w : kWindows) {
    if (spec.op_type == w.op) window = &w;
  }
  if (!window) return InvalidArgument("no window named ", spec.op_type);
  ASSIGN_OR_RETURN(std::vector<int64_t> size, ref::ReadInts(in[0], "size"));
  if (size.size() != 1 || size[0] != out[0].num_elements()) return InvalidArgument("size does not match the output");
  const int64_t n = size[0];
  const double period = spec.attrs.GetInt("periodic", 1) ? static_cast<double>(n) : static_cast<double>(n - 1);
  return DispatchNumeric(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < n; ++i) {
      const double t = 2 * kPi * static_cast<double>(i) / period;
      const double w = window->a0 - window->a1 * std::cos(t) + window->a2 * std::cos(2 * t);
      out[0].as<T>()[i] = static_cast<T>(period > 0 ? w : 1.0);  // size 1, symmetric: N - 1 = 0
    }
    return Status::Ok();
  });
}

// e^(sign * 2 pi i * k / n) with k reduced mod n first, so large products stay exact.
std::pair<double, double> Twiddle(int64_t k, int64_t n, double sign) {
  const double angle = sign * 2 * kPi * static_cast<double>(k % n) / static_cast<double>(n);
  return {std::cos(angle), std::sin(angle)};
}

Status DftKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  const Dims& y = out[0].dims;
  const int64_t rank = static_cast<int64_t>(x.size());
  int64_t axis = spec.attrs.GetInt("axis", 1);
  if (in.size() > 2 && in[2].data) {
    ASSIGN_OR_RETURN(std::vector<int64_t> given, ref::ReadInts(in[2], "axis"));
    if (given.size() != 1) return InvalidArgument("axis must be a scalar");
    axis = given[0];
  }
  if (axis < 0) axis += rank;
  if (rank < 2 || axis < 0 || axis > rank - 2 || y.size() != x.size()) return InvalidArgument("bad DFT shapes");
  const bool inverse = spec.attrs.GetInt("inverse", 0) != 0, onesided = spec.attrs.GetInt("onesided", 0) != 0;
  int64_t n = inverse && onesided ? 2 * (x[axis] - 1) : x[axis];
  if (in.size() > 1 && in[1].data) {
    ASSIGN_OR_RETURN(std::vector<int64_t> length, ref::ReadInts(in[1], "dft_length"));
    if (length.size() != 1 || length[0] < 1) return InvalidArgument("dft_length must be a positive scalar");
    n = length[0];
  }
  const int64_t cin = x.back(), cout = y.back();
  const int64_t len_in = x[axis], len_out = y[axis];
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x[d];
  for (int64_t d = axis + 1; d < rank - 1; ++d) inner *= x[d];
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* src = in[0].as<T>();
    T* dst = out[0].as<T>();
    auto re = [&](int64_t o, int64_t j, int64_t i) {
      return static_cast<double>(src[((o * len_in + j) * inner + i) * cin]);
    };
    auto im = [&](int64_t o, int64_t j, int64_t i) {
      return cin == 2 ? static_cast<double>(src[((o * len_in + j) * inner + i) * cin + 1]) : 0.0;
    };
    const int64_t used = std::min(n, len_in);  // the rest is zero padding
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        for (int64_t k = 0; k < len_out; ++k) {
          double sr = 0, si = 0;
          if (inverse && onesided) {
            // numpy's irfft: the Hermitian spectrum of bins 0..n/2; imaginary parts of bin 0
            // (and of bin n/2 for even n) do not contribute.
            const int64_t bins = std::min(n / 2 + 1, len_in);
            for (int64_t j = 0; j < bins; ++j) {
              const auto [c, s] = Twiddle(j * k, n, 1.0);
              const bool self_conjugate = j == 0 || (n % 2 == 0 && j == n / 2);
              const double weight = self_conjugate ? 1.0 : 2.0;
              sr += weight * (re(o, j, i) * c - (self_conjugate ? 0.0 : im(o, j, i) * s));
            }
          } else {
            for (int64_t j = 0; j < used; ++j) {
              const auto [c, s] = Twiddle(j * k, n, inverse ? 1.0 : -1.0);
              sr += re(o, j, i) * c - im(o, j, i) * s;
              si += re(o, j, i) * s + im(o, j, i) * c;
            }
          }
          if (inverse) {
            sr /= static_cast<double>(n);
            si /= static_cast<double>(n);
          }
          T* at = dst + ((o * len_out + k) * inner + i) * cout;
          at[0] = static_cast<T>(sr);
          if (cout == 2) at[1] = static_cast<T>(si);
        }
      }
    }
    return Status::Ok();
  });
}

Status RotaryEmbeddingKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  const bool four_d = x.size() == 4;
  const int64_t batch = x[0];
  const int64_t heads = four_d ? x[1] : spec.attrs.GetInt("num_heads", 0);
  if (heads <= 0) return InvalidArgument("num_heads must be positive");
  const int64_t seq = four_d ? x[2] : x[1];
  const int64_t head_size = four_d ? x[3] : x[2] / heads;
  const int64_t rotary =
      spec.attrs.GetInt("rotary_embedding_dim", 0) ? spec.attrs.GetInt("rotary_embedding_dim", 0) : head_size;
  const int64_t half = rotary / 2;
  const bool interleaved = spec.attrs.GetInt("interleaved", 0) != 0;
  const bool has_positions = in.size() > 3 && in[3].data;
  std::vector<int64_t> positions;
  if (has_positions) {
    ASSIGN_OR_RETURN(positions, ref::ReadInts(in[3], "position_ids"));
  }
  const int64_t max_position = has_positions ? in[1].dims[0] : 0;
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* src = in[0].as<T>();
    const T* cos_cache = in[1].as<T>();
    const T* sin_cache = in[2].as<T>();
    T* dst = out[0].as<T>();
    std::copy(src, src + in[0].num_elements(), dst);
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t s = 0; s < seq; ++s) {
        int64_t row = b * seq + s;  // the caches' row: [B, S, R/2], or by position
        if (has_positions) {
          row = positions[static_cast<size_t>(b * seq + s)];
          if (row < 0 || row >= max_position) {
            return InvalidArgument("position_ids[", b, ", ", s, "] = ", row, " is outside the caches' [0, ",
                                   max_position, ")");
          }
        }
        for (int64_t h = 0; h < heads; ++h) {
          // The head's first element: [B, H, S, D] or [B, S, H * D].
          const int64_t base =
              four_d ? ((b * heads + h) * seq + s) * head_size : (b * seq + s) * heads * head_size + h * head_size;
          for (int64_t k = 0; k < half; ++k) {
            const int64_t i1 = base + (interleaved ? 2 * k : k), i2 = base + (interleaved ? 2 * k + 1 : k + half);
            const double c = cos_cache[row * half + k], sn = sin_cache[row * half + k];
            const double x1 = src[i1], x2 = src[i2];
            dst[i1] = static_cast<T>(c * x1 - sn * x2);
            dst[i2] = static_cast<T>(sn * x1 + c * x2);
          }
        }
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceSignalKernels(KernelRegistry& r) {
  for (const CosineWindow& w : kWindows) RegisterRef(r, w.op, 1, 1, WindowKernel);
  RegisterRef(r, "DFT", 1, 1, DftKernel);
  RegisterRef(r, "RotaryEmbedding", 3, 1, RotaryEmbeddingKernel);
}

}  // namespace kiln::runtime
