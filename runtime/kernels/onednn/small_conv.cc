// The direct convolution kernel "dconv" (see the header for when and why):
//
//   y[n][oh][ow][o] = act(bias[o] + sum_{kh, kw, c} x[n][ih][iw][c] * w[o][c][kh][kw])
//
// with ih = oh * sh - pad_top + kh * dh (and iw likewise); taps outside the image add
// nothing. The weights are packed once into [o-block][kh][kw][C][W]; each run copies the
// image into a zero-padded buffer, so the loops run kPixels output pixels of a row at once
// without a check. Where a weight is Inf or NaN, 0 * Inf would make a NaN that the
// reference does not: such a kernel skips the taps outside the image, one pixel at a time.
#include "runtime/kernels/onednn/small_conv.h"

#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/panel_product.h"
#include "runtime/kernels/onednn/simd_vec.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

struct ConvGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t o = 0, oh = 0, ow = 0;       // output
  int64_t kh = 0, kw = 0, sh = 1, sw = 1, dh = 1, dw = 1, pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool relu = false;
};

StatusOr<ConvGeometry> Analyze(const KernelSpec& spec) {
  ASSIGN_OR_RETURN(ChannelsLastConv conv, AnalyzeChannelsLastConv(spec, /*plain_single_channel=*/true));
  if (conv.residual) return Unimplemented("residual input");
  RETURN_IF_ERROR(CheckOutputDims(conv));
  const WindowGeometry& g = conv.window;
  ConvGeometry c;
  c.n = conv.n, c.c = conv.c, c.h = conv.h, c.w = conv.w;
  c.o = conv.k, c.oh = conv.oh, c.ow = conv.ow;
  c.kh = conv.kh, c.kw = conv.kw;
  c.sh = g.strides[0], c.sw = g.strides[1], c.dh = g.dilations[0], c.dw = g.dilations[1];
  c.pad_top = g.pads[0], c.pad_left = g.pads[1], c.pad_bottom = g.pads[2], c.pad_right = g.pads[3];
  c.relu = conv.relu;
  return c;
}

// What one share of a run reads and writes: output rows [row0, row1) of n * oh. The input
// is the image zero-padded by the kernel (x_h x x_w, top = left = 0: every tap inside), or,
// where the weights are not all finite, the image itself with its pads (every tap checked).
struct Problem {
  const ConvGeometry* g;
  const float* x;
  int64_t x_h, x_w, top, left;
  bool checked;
  const float* packed;     // [blocks][kh][kw][C][W]
  const int32_t* offsets;  // per (kh, kw, c), in the order packed: the input's offset from the window's corner
  const float* bias;       // [blocks * W], zeros past O
  float* y;
  int64_t row0, row1;
};

constexpr int kPixels = 8;  // output pixels per tile: kPixels accumulators (FMA chains), one weight load each

// Y at pixels ow0 .. ow0 + R - 1 (contiguous in channels-last), channels b * W ...
template <int W, int R>
KILN_INLINE void Store(const Problem& q, float* out, int64_t b, FloatVec<W> (&acc)[R]) {
  const int64_t o = q.g->o, o0 = b * W;
  const FloatVec<W> zero{};
  if (q.g->relu) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r] = acc[r] < zero ? zero : acc[r];  // NaN stays NaN, as ONNX's Relu
  }
  if (o0 + W <= o) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) StoreVec<W>(out + r * o + o0, acc[r]);
    return;
  }
  float tile[R * W];
  if (o0 == 0) {  // fewer channels than a vector: overlapping stores, then the pixels at once
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) StoreVec<W>(tile + r * o, acc[r]);
    const int64_t count = R * o;  // inline copies: a call to memcpy costs as much as a pixel
    int64_t i = 0;
    for (; i + W <= count; i += W) StoreVec<W>(out + i, LoadVec<W>(tile + i));
    for (; i < count; ++i) out[i] = tile[i];
    return;
  }
  for (int r = 0; r < R; ++r) {
    StoreVec<W>(tile, acc[r]);
    std::memcpy(out + r * o + o0, tile, static_cast<size_t>(o - o0) * sizeof(float));
  }
}

// R pixels from output column ow0 of output row (n, oh), output-channel block b, in the
// unpadded image of non-finite weights: taps outside the image are skipped.
template <int W, int R>
KILN_INLINE void PixelsChecked(const Problem& q, int64_t n, int64_t oh, int64_t ow0, int64_t b) {
  const ConvGeometry& g = *q.g;
  FloatVec<W> acc[R];
  const FloatVec<W> bias = LoadVec<W>(q.bias + b * W);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) acc[r] = bias;
  const int64_t c = g.c, taps = g.kw * c;
  for (int64_t kh = 0; kh < g.kh; ++kh) {
    const int64_t ih = oh * g.sh - q.top + kh * g.dh;
    if (ih < 0 || ih >= q.x_h) continue;
    const float* row = q.x + (n * q.x_h + ih) * q.x_w * c;
    const float* wk = q.packed + (b * g.kh + kh) * taps * W;
    for (int64_t kw = 0; kw < g.kw; ++kw) {
      const float* wp = wk + kw * c * W;
      const float* px[R];
      bool inside[R];
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r) {
        const int64_t iw = (ow0 + r) * g.sw - q.left + kw * g.dw;
        inside[r] = iw >= 0 && iw < q.x_w;
        px[r] = row + iw * c;
      }
      for (int64_t ic = 0; ic < c; ++ic) {
        const FloatVec<W> wv = LoadVec<W>(wp + ic * W);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) {
          if (inside[r]) acc[r] += Broadcast<W>(px[r][ic]) * wv;
        }
      }
    }
  }
  Store<W, R>(q, q.y + ((n * g.oh + oh) * g.ow + ow0) * g.o, b, acc);
}

// R pixels from output column ow0 of output row (n, oh) by V output-channel blocks from b,
// every tap inside the padded image: one loop over the window's kh * kw * C inputs, each
// broadcast input feeding V multiply-adds. With V = 2 a tap costs 2 weight loads and R
// broadcasts per 2R FMAs instead of 1 and R per R (one block's loop is bound by its loads:
// LeNet-5's second convolution, 6 -> 16 channels, 11.3 against oneDNN's 8.3 us on AVX2).
template <int W, int R, int V>
KILN_INLINE void PixelsBlocks(const Problem& q, int64_t n, int64_t oh, int64_t ow0, int64_t b) {
  const ConvGeometry& g = *q.g;
  const int64_t step = g.sw * g.c, all = g.kh * g.kw * g.c;
  FloatVec<W> acc[V][R];
  const float* wp[V];
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) {
    const FloatVec<W> bias = LoadVec<W>(q.bias + (b + v) * W);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[v][r] = bias;
    wp[v] = q.packed + (b + v) * all * W;
  }
  const float* corner = q.x + ((n * q.x_h + oh * g.sh) * q.x_w + ow0 * g.sw) * g.c;
  for (int64_t t = 0; t < all; ++t) {
    FloatVec<W> wv[V];
#pragma GCC unroll 2
    for (int v = 0; v < V; ++v) wv[v] = LoadVec<W>(wp[v] + t * W);
    const float* px = corner + q.offsets[t];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const FloatVec<W> x = Broadcast<W>(px[r * step]);
#pragma GCC unroll 2
      for (int v = 0; v < V; ++v) acc[v][r] += x * wv[v];
    }
  }
  float* out = q.y + ((n * g.oh + oh) * g.ow + ow0) * g.o;
#pragma GCC unroll 2
  for (int v = 0; v < V; ++v) Store<W, R>(q, out, b + v, acc[v]);
}

// Pixels per tile of PixelsBlocks with two blocks: 2R accumulators, 2 weights and a broadcast in the
// register file (16 vectors below AVX-512, 32 with it).
template <int W>
constexpr int TwoBlockPixels() {
  return W == 16 ? 12 : 6;
}

// 8 pixels of `channels` (< 8) outputs from rows[o] (output o of the 8 pixels; rows past the
// outputs zero) into out[pixel][channels]: an 8 x 8 transpose in registers, each pixel one
// 8-float store running on into the next pixels' (written after), but where `last_exact` (a
// tile's end: what follows may be another share's, or past the tensor) the pixels whose store
// would pass the 8 pixels' end write only their own. The element-wise
// copy from a tile in memory was ~40% of LeNet-5's first convolution (2-core AVX2 EPYC).
__attribute__((target("avx2"))) inline void StorePixels8(const FloatVec<8> (&rows)[8], int channels, float* out,
                                                         bool last_exact) {
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = reinterpret_cast<const __m256&>(rows[i]);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  __m256 column[8];  // column[p]: pixel p's outputs
  for (int i = 0; i < 4; ++i) {
    column[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    column[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
  for (int p = 0; p < 8; ++p) {
    float* at = out + p * channels;
    if (!last_exact || p * channels + 8 <= 8 * channels) {  // within the pixels, or before what follows them
      _mm256_storeu_ps(at, column[p]);
      continue;
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, column[p]);
    for (int o = 0; o < channels; ++o) at[o] = lanes[o];
  }
}

// One input channel, stride 1, at most kMaxOneChannelOutputs outputs (a first layer on a
// gray image: LeNet-5's 1 -> 6): 2W consecutive pixels, whose inputs are two vector loads
// per tap, against each output's weight broadcast; O x 2 accumulators. The loop over the
// output channels (one vector of 8 on AVX2 holding 6) broadcast each input and was bound by
// those loads: 0.27 ms for LeNet-5's first convolution at batch 64 on 2 AVX2 cores.
constexpr int kMaxOneChannelOutputs = 6;
template <int W, int O>
KILN_INLINE void PixelsOneChannel(const Problem& q, int64_t n, int64_t oh, int64_t ow0) {
  const ConvGeometry& g = *q.g;
  FloatVec<W> acc[O][2];
#pragma GCC unroll 8
  for (int o = 0; o < O; ++o) acc[o][0] = acc[o][1] = Broadcast<W>(q.bias[o]);
  const int64_t all = g.kh * g.kw;
  const float* corner = q.x + (n * q.x_h + oh * g.sh) * q.x_w + ow0;
  for (int64_t t = 0; t < all; ++t) {
    const float* px = corner + q.offsets[t];
    const FloatVec<W> x0 = LoadVec<W>(px), x1 = LoadVec<W>(px + W);
    const float* wt = q.packed + t * W;
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) {
      const FloatVec<W> w = Broadcast<W>(wt[o / W * all * W + o % W]);  // packed [o-block][tap][W]
      acc[o][0] += x0 * w;
      acc[o][1] += x1 * w;
    }
  }
  const FloatVec<W> zero{};
  float* out = q.y + ((n * g.oh + oh) * g.ow + ow0) * O;  // channels-last: [pixel][O]
  if constexpr (W == 8) {                                 // transposed in registers
    for (int h = 0; h < 2; ++h) {
      FloatVec<8> rows[8] = {};
#pragma GCC unroll 8
      for (int o = 0; o < O; ++o) rows[o] = g.relu ? (acc[o][h] < zero ? zero : acc[o][h]) : acc[o][h];
      StorePixels8(rows, O, out + h * 8 * O, h == 1);
    }
    return;
  }
  float tile[O][2 * W];
#pragma GCC unroll 8
  for (int o = 0; o < O; ++o) {
    for (int h = 0; h < 2; ++h) {
      FloatVec<W> v = acc[o][h];
      if (g.relu) v = v < zero ? zero : v;  // NaN stays NaN, as ONNX's Relu
      StoreVec<W>(tile[o] + h * W, v);
    }
  }
  for (int r = 0; r < 2 * W; ++r) {
#pragma GCC unroll 8
    for (int o = 0; o < O; ++o) out[r * O + o] = tile[o][r];
  }
}
template <int W, int O>
KILN_INLINE void RowOneChannel(const Problem& q, int64_t n, int64_t oh) {
  const int64_t ow = q.g->ow;
  int64_t j = 0;
  for (; j + 2 * W <= ow; j += 2 * W) PixelsOneChannel<W, O>(q, n, oh, j);
  if (j < ow) PixelsOneChannel<W, O>(q, n, oh, ow - 2 * W);  // the row's last 2W again
}
// Whether PixelsOneChannel runs `q`'s rows (row width 2W at least).
template <int W>
bool OneChannelRows(const Problem& q) {
  const ConvGeometry& g = *q.g;
  return !q.checked && g.c == 1 && g.sw == 1 && g.o <= kMaxOneChannelOutputs && g.ow >= 2 * W;
}
template <int W>
KILN_INLINE void RunRowOneChannel(const Problem& q, int64_t n, int64_t oh) {
  switch (q.g->o) {
    case 1: return RowOneChannel<W, 1>(q, n, oh);
    case 2: return RowOneChannel<W, 2>(q, n, oh);
    case 3: return RowOneChannel<W, 3>(q, n, oh);
    case 4: return RowOneChannel<W, 4>(q, n, oh);
    case 5: return RowOneChannel<W, 5>(q, n, oh);
    default: return RowOneChannel<W, kMaxOneChannelOutputs>(q, n, oh);
  }
}

template <int W>
KILN_INLINE void RunRows(const Problem& q) {
  const ConvGeometry& g = *q.g;
  const int64_t blocks = (g.o + W - 1) / W;
  const bool one_channel = OneChannelRows<W>(q);
  for (int64_t row = q.row0; row < q.row1; ++row) {
    const int64_t n = row / g.oh, oh = row % g.oh;
    if (one_channel) {
      RunRowOneChannel<W>(q, n, oh);
      continue;
    }
    int64_t b = 0;
    constexpr int R2 = TwoBlockPixels<W>();
    if (!q.checked && g.ow >= R2) {
      for (; b + 2 <= blocks; b += 2) {
        int64_t ow = 0;
        for (; ow + R2 <= g.ow; ow += R2) PixelsBlocks<W, R2, 2>(q, n, oh, ow, b);
        if (ow < g.ow) PixelsBlocks<W, R2, 2>(q, n, oh, g.ow - R2, b);  // the row's last R2 again
      }
    }
    for (; b < blocks; ++b) {
      int64_t ow = 0;
      if (q.checked) {
        for (; ow < g.ow; ++ow) PixelsChecked<W, 1>(q, n, oh, ow, b);
        continue;
      }
      for (; ow + kPixels <= g.ow; ow += kPixels) PixelsBlocks<W, kPixels, 1>(q, n, oh, ow, b);
      if (ow < g.ow && g.ow >= kPixels) {
        // The row's last kPixels again: recomputing a few pixels (the same values) beats
        // single pixels, each one chain of dependent multiply-adds.
        PixelsBlocks<W, kPixels, 1>(q, n, oh, g.ow - kPixels, b);
        continue;
      }
      for (; ow < g.ow; ++ow) PixelsBlocks<W, 1, 1>(q, n, oh, ow, b);
    }
  }
}

KILN_TARGET_AVX512 void RunAvx512(const Problem& q) { RunRows<16>(q); }
__attribute__((target("avx2,fma"))) void RunAvx2(const Problem& q) { RunRows<8>(q); }
void RunGeneric(const Problem& q) { RunRows<4>(q); }

int VectorWidth(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return 16;
    case SimdLevel::kAvx2: return 8;
    case SimdLevel::kGeneric: break;
  }
  return 4;
}

// Eight output channels or fewer take the AVX2 loops on an AVX-512 CPU too: the vectors'
// unused lanes cost as much as used ones, and some CPUs (AMD Zen 4) issue half as many
// 512-bit multiply-adds per cycle as 256-bit ones.
SimdLevel LevelFor(SimdLevel level, int64_t channels) {
  return level == SimdLevel::kAvx512 && channels <= 8 ? SimdLevel::kAvx2 : level;
}

class SmallConvKernel : public Kernel {
 public:
  SmallConvKernel(const KernelSpec& spec, const ConvGeometry& g, SimdLevel level)
      : g_(g), width_(VectorWidth(level)), blocks_((g.o + width_ - 1) / width_) {
    switch (level) {
      case SimdLevel::kAvx512: run_ = RunAvx512; break;
      case SimdLevel::kAvx2: run_ = RunAvx2; break;
      case SimdLevel::kGeneric: run_ = RunGeneric; break;
    }
    packed_ = AllocateZeroed(blocks_ * g.kh * g.kw * g.c * width_);
    bias_ = AllocateZeroed(blocks_ * width_);
    // A constant bias is copied once, here; one computed at run time (training) on every run.
    bias_per_run_ = spec.has_input(2) && !spec.is_constant_input(2);
    if (spec.has_input(2) && !bias_per_run_ && bias_) {
      std::copy_n(static_cast<const float*>(spec.inputs[2].data), g.o, bias_.get());
    }
    if (packed_) Pack(static_cast<const float*>(spec.inputs[1].data));
    parallel_ = !OneDnnKernelRunsOnOneThread(spec);
    // The image padded once per run into a buffer whose borders stay zero, unless a weight
    // is Inf or NaN: then a tap in the padding must add nothing rather than 0 * Inf.
    padded_h_ = g.h + g.pad_top + g.pad_bottom;
    padded_w_ = g.w + g.pad_left + g.pad_right;
    const bool pads = padded_h_ != g.h || padded_w_ != g.w;
    if (pads && finite_weights_) padded_ = AllocateZeroed(g.n * padded_h_ * padded_w_ * g.c);
    checked_ = pads && !finite_weights_;
    const int64_t row = checked_ ? g.w : padded_w_;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        for (int64_t c = 0; c < g.c; ++c)
          offsets_.push_back(static_cast<int32_t>((i * g.dh * row + j * g.dw) * g.c + c));
      }
    }
  }
  bool allocated() const { return packed_ && bias_ && (padded_ || checked_ || padded_h_ == g_.h); }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (bias_per_run_) std::copy_n(in[2].as<float>(), g_.o, bias_.get());
    Problem q{&g_,         in[0].as<float>(),  g_.h,
              g_.w,        g_.pad_top,         g_.pad_left,
              checked_,    packed_.get(),      offsets_.data(),
              bias_.get(), out[0].as<float>(), 0,
              g_.n * g_.oh};
    if (padded_) {
      const int64_t row = g_.w * g_.c;
      for (int64_t n = 0; n < g_.n; ++n) {
        for (int64_t h = 0; h < g_.h; ++h) {
          float* to = padded_.get() + ((n * padded_h_ + h + g_.pad_top) * padded_w_ + g_.pad_left) * g_.c;
          std::memcpy(to, q.x + (n * g_.h + h) * row, static_cast<size_t>(row) * sizeof(float));
        }
      }
      q.x = padded_.get();
      q.x_h = padded_h_, q.x_w = padded_w_, q.top = 0, q.left = 0;
    }
    const int64_t rows = q.row1;
    const int parts = parallel_ ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), rows)) : 1;
    if (parts <= 1) {
      run_(q);
      return Status::Ok();
    }
    RunShares(parts, [&](int t) {
      Problem share = q;
      share.row0 = rows * t / parts;
      share.row1 = rows * (t + 1) / parts;
      run_(share);
    });
    return Status::Ok();
  }

 private:
  // ONNX's [O][C][kh][kw] into [blocks][kh][kw][C][W].
  void Pack(const float* w) {
    const int64_t W = width_;
    for (int64_t o = 0; o < g_.o; ++o) {
      for (int64_t c = 0; c < g_.c; ++c) {
        for (int64_t i = 0; i < g_.kh; ++i) {
          for (int64_t j = 0; j < g_.kw; ++j) {
            const float v = w[((o * g_.c + c) * g_.kh + i) * g_.kw + j];
            finite_weights_ &= std::isfinite(v);
            packed_[((((o / W) * g_.kh + i) * g_.kw + j) * g_.c + c) * W + o % W] = v;
          }
        }
      }
    }
  }

  ConvGeometry g_;
  int64_t width_, blocks_;
  void (*run_)(const Problem&) = RunGeneric;
  bool parallel_ = false, bias_per_run_ = false, finite_weights_ = true, checked_ = false;
  int64_t padded_h_ = 0, padded_w_ = 0;
  AlignedFloats packed_, bias_, padded_;
  std::vector<int32_t> offsets_;
};

}  // namespace

std::string SmallConvUnsupportedReason(const KernelSpec& spec) {
  auto g = Analyze(spec);
  return g.ok() ? "" : g.status().message();
}

double SmallConvMacs(const KernelSpec& spec) {
  auto g = Analyze(spec);
  if (!g.ok()) return 0;
  return static_cast<double>(g->n * g->oh * g->ow * g->o) * static_cast<double>(g->c * g->kh * g->kw);
}

StatusOr<std::unique_ptr<Kernel>> BuildSmallConv(const KernelSpec& spec, SimdLevel level) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  auto g = Analyze(spec);
  if (!g.ok()) return g.status().WithContext(spec.Label());
  if (!spec.is_constant_input(1)) return Unimplemented(spec.Label(), ": the weights have no data");
  auto kernel = std::make_unique<SmallConvKernel>(spec, *g, LevelFor(level, g->o));
  if (!kernel->allocated()) return Internal(spec.Label(), ": cannot allocate the packed weights");
  return std::unique_ptr<Kernel>(std::move(kernel));
}

void RegisterSmallConvKernels(KernelRegistry& r) {
  for (const char* op : {"Conv", "FusedConv"}) {
    r.Register("dconv", op, [](const KernelSpec& spec) { return BuildSmallConv(spec, BestSimdLevel()); });
  }
}

}  // namespace kiln::runtime::onednn
