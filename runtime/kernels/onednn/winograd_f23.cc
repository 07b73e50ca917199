// The Winograd F(2x2, 3x3) convolution "wino23" (see the header for when and why):
//
//   Y = act(bias + Z + conv3x3(X, w)),  X [N][H][W][C], Y and Z [N][OH][OW][K] channels-last
//
// Output tile t (image n, tile row ty, tile column tx) covers output rows 2ty, 2ty + 1 and
// columns 2tx, 2tx + 1, and reads the 4x4 input patch from row 2ty - pad_top, column
// 2tx - pad_left (taps in the padding read zeros). A run splits the tiles into blocks and
// the output channels into parts; each (block, part) transforms its tiles' patches into
// V[16][tiles][C], multiplies each of the 16 planes by the transformed weights U[16][C][K]
// (packed [16][K/W][C][W]) into M[16][tiles][K], and transforms M back into Y.
#include "runtime/kernels/onednn/winograd_f23.h"

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

constexpr int kPlanes = 16;  // a 4x4 patch: 16 products of [tiles x C] x [C x K]
// Planes lie a cache line more than their size apart: sizes are multiples of 4 KiB (tiles x
// channels), and the transforms' 16 accesses a plane apart would share one L1 set.
constexpr int64_t kPlaneSkew = 16;

// Tiles per block: each panel of U (C x 2W) is reused by this many rows from L1, and a
// block's plane of V (tiles x C) stays in L2 while the 2W-column panels pass. Measured on
// ResNet-50's 3x3 layers at batch 64 (AMD EPYC Zen 3, 2 threads, ms for 64ch 56x56 / 128ch
// 28x28 / 256ch 14x14 / 512ch 7x7): 12 tiles 46 / 43 / 38-49 / 53-69, 24 tiles 47 / 41 /
// 37-47 / 53-62, 48 tiles 48-59 / 49-51 / 38-39 / 55-60 (oneDNN's direct: 112 / 102 / 116 / 113).
constexpr int64_t kBlockTiles = 24;
// Up to this many tiles (a small image at batch 1: ResNet-50's 14x14 has 49) are one block,
// the output channels split between the threads: U, read from memory on every run there
// (4-16 MiB), then passes once rather than once per block (its 14x14 layer in the model:
// 1.1-1.2 ms in three blocks of 24, 24 and 1 tiles).
constexpr int64_t kOneBlockTiles = 64;

struct Geometry {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, oh = 0, ow = 0;       // output
  int64_t pad_top = 0, pad_left = 0;
  int64_t tiles_h = 0, tiles_w = 0;
  bool relu = false, residual = false;
  int64_t tiles() const { return n * tiles_h * tiles_w; }
  // Tile t's image and tile row and column (tiles in row-major order, image after image).
  struct Tile {
    int64_t n, ty, tx;
  };
  Tile TileAt(int64_t t) const {
    const int64_t per_image = tiles_h * tiles_w;
    return {t / per_image, t % per_image / tiles_w, t % tiles_w};
  }
};

StatusOr<Geometry> Analyze(const KernelSpec& spec) {
  ASSIGN_OR_RETURN(ChannelsLastConv conv, AnalyzeChannelsLastConv(spec));
  if (conv.kh != 3 || conv.kw != 3) return Unimplemented("the window is not 3x3");
  if (conv.c % 4 != 0) return Unimplemented("input channels not a multiple of 4");
  for (int d = 0; d < 2; ++d) {
    if (conv.window.strides[d] != 1) return Unimplemented("strides are not 1");
    if (conv.window.dilations[d] != 1) return Unimplemented("dilations are not 1");
  }
  RETURN_IF_ERROR(CheckOutputDims(conv));
  Geometry g;
  g.n = conv.n, g.c = conv.c, g.h = conv.h, g.w = conv.w;
  g.k = conv.k, g.oh = conv.oh, g.ow = conv.ow;
  g.pad_top = conv.window.pads[0], g.pad_left = conv.window.pads[1];
  g.tiles_h = (g.oh + 1) / 2, g.tiles_w = (g.ow + 1) / 2;
  g.relu = conv.relu, g.residual = conv.residual;
  return g;
}

// What a run reads and writes; the scratch of each share follows.
struct Problem {
  const Geometry* g;
  const float* x;
  const float* z;  // the residual, or null
  float* y;
  const float* u;        // [16][kblocks][C][W]: the transformed weights
  const float* bias;     // [kblocks * W], zeros past K
  const float* zeros;    // C zeros: the taps in the padding
  const float* weights;  // [K][3][3][C]: the exact path's
  int64_t kblocks, block_tiles;
  int64_t v_plane, m_plane;  // floats from one plane of V (of M) to the next
};

// One share's work: tiles [t0, t1) by output-channel blocks [kb0, kb1), with `v` and `m`
// its scratch (16 x block_tiles x C and 16 x block_tiles x kblocks * W floats).
struct Item {
  int64_t t0, t1, kb0, kb1;
  float* v;
  float* m;
};

// The 16 patch pointers of tile t: each the input pixel's channels, or zeros.
KILN_INLINE void PatchOf(const Problem& q, int64_t t, const float* (&px)[kPlanes]) {
  const Geometry& g = *q.g;
  const auto [n, ty, tx] = g.TileAt(t);
  for (int i = 0; i < 4; ++i) {
    const int64_t ih = 2 * ty - g.pad_top + i;
    for (int j = 0; j < 4; ++j) {
      const int64_t iw = 2 * tx - g.pad_left + j;
      const bool inside = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w;
      px[i * 4 + j] = inside ? q.x + ((n * g.h + ih) * g.w + iw) * g.c : q.zeros;
    }
  }
}

// V = B^T d B per channel, B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. Returns false
// where an input is Inf or NaN (then some V is too: the transform only adds, and each input
// reaches some V with coefficient +-1).
template <int W>
KILN_INLINE bool TransformInput(const Problem& q, const Item& it) {
  const int64_t c = q.g->c, plane = q.v_plane;
  FloatVec<W> finite{};
  for (int64_t t = it.t0; t < it.t1; ++t) {
    const float* px[kPlanes];
    PatchOf(q, t, px);
    float* out = it.v + (t - it.t0) * c;
    for (int64_t ic = 0; ic < c; ic += W) {
      FloatVec<W> d[kPlanes], r[kPlanes];
#pragma GCC unroll 16
      for (int p = 0; p < kPlanes; ++p) d[p] = LoadVec<W>(px[p] + ic);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {  // columns: B^T d
        r[0 + j] = d[0 + j] - d[8 + j];
        r[4 + j] = d[4 + j] + d[8 + j];
        r[8 + j] = d[8 + j] - d[4 + j];
        r[12 + j] = d[4 + j] - d[12 + j];
      }
      FloatVec<W> sum{};
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {  // rows: (B^T d) B
        const FloatVec<W>* s = r + 4 * i;
        const FloatVec<W> v0 = s[0] - s[2], v1 = s[1] + s[2], v2 = s[2] - s[1], v3 = s[1] - s[3];
        StoreVec<W>(out + (4 * i + 0) * plane + ic, v0);
        StoreVec<W>(out + (4 * i + 1) * plane + ic, v1);
        StoreVec<W>(out + (4 * i + 2) * plane + ic, v2);
        StoreVec<W>(out + (4 * i + 3) * plane + ic, v3);
        sum += (v0 + v1) + (v2 + v3);
      }
      finite += sum - sum;  // 0 while finite, NaN from an Inf or NaN on
    }
  }
  float lanes[W];
  StoreVec<W>(lanes, finite);
  for (int i = 0; i < W; ++i) {
    if (lanes[i] != 0) return false;
  }
  return true;
}

// M[p] = V[p] x U[p] for the item's tiles and channel blocks.
template <int W>
KILN_INLINE void Products(const Problem& q, const Item& it) {
  const int64_t c = q.g->c, rows = it.t1 - it.t0, ldm = q.kblocks * W;
  for (int p = 0; p < kPlanes; ++p) {
    const float* a = it.v + p * q.v_plane;
    const float* u = q.u + p * q.kblocks * c * W;
    float* m = it.m + p * q.m_plane;
    int64_t kb = it.kb0;
    for (; kb + 2 <= it.kb1; kb += 2) ProductRows<W, 2>(a, c, rows, c, u + kb * c * W, c * W, m + kb * W, ldm, false);
    if (kb < it.kb1) ProductRows<W, 1>(a, c, rows, c, u + kb * c * W, c * W, m + kb * W, ldm, false);
  }
}

// Y at `offset` (W channels from o0, fewer where K ends), from `v`: + Z, then Relu.
template <int W>
KILN_INLINE void StoreOutput(const Problem& q, int64_t offset, int64_t o0, FloatVec<W> v) {
  StoreChannels<W>(q.y, q.z, offset, std::min<int64_t>(W, q.g->k - o0), q.g->relu, v);
}

// Y = A^T m A + bias per channel, A^T = [1 1 1 0; 0 1 -1 -1], for the item's tiles.
template <int W>
KILN_INLINE void TransformOutput(const Problem& q, const Item& it) {
  const Geometry& g = *q.g;
  const int64_t ldm = q.kblocks * W, plane = q.m_plane;
  for (int64_t t = it.t0; t < it.t1; ++t) {
    const auto [n, ty, tx] = g.TileAt(t);
    const int64_t oy = 2 * ty, ox = 2 * tx;
    const bool second_row = oy + 1 < g.oh, second_column = ox + 1 < g.ow;
    const float* mt = it.m + (t - it.t0) * ldm;
    const int64_t pixel = (n * g.oh + oy) * g.ow + ox;
    for (int64_t kb = it.kb0; kb < it.kb1; ++kb) {
      FloatVec<W> mv[kPlanes], s[8];
#pragma GCC unroll 16
      for (int p = 0; p < kPlanes; ++p) mv[p] = LoadVec<W>(mt + p * plane + kb * W);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {  // columns: A^T m
        s[j] = mv[j] + mv[4 + j] + mv[8 + j];
        s[4 + j] = mv[4 + j] - mv[8 + j] - mv[12 + j];
      }
      const FloatVec<W> bias = LoadVec<W>(q.bias + kb * W);
      const int64_t o0 = kb * W;
#pragma GCC unroll 2
      for (int i = 0; i < 2; ++i) {  // rows: (A^T m) A
        if (i == 1 && !second_row) break;
        const FloatVec<W>* r = s + 4 * i;
        const int64_t at = (pixel + i * g.ow) * g.k + o0;
        StoreOutput<W>(q, at, o0, bias + (r[0] + r[1] + r[2]));
        if (second_column) StoreOutput<W>(q, at + g.k, o0, bias + (r[1] - r[2] - r[3]));
      }
    }
  }
}

// The item's outputs summed directly, taps in the padding skipped (inputs with Inf or NaN).
void DirectTiles(const Problem& q, const Item& it, int width) {
  const Geometry& g = *q.g;
  const int64_t k0 = it.kb0 * width, k1 = std::min(it.kb1 * width, g.k);
  for (int64_t t = it.t0; t < it.t1; ++t) {
    const float* px[kPlanes];
    PatchOf(q, t, px);
    const auto [n, ty, tx] = g.TileAt(t);
    for (int a = 0; a < 2; ++a) {
      for (int b = 0; b < 2; ++b) {
        const int64_t oy = 2 * ty + a, ox = 2 * tx + b;
        if (oy >= g.oh || ox >= g.ow) continue;
        const int64_t at = ((n * g.oh + oy) * g.ow + ox) * g.k;
        for (int64_t o = k0; o < k1; ++o) {
          float sum = q.bias[o];
          for (int i = 0; i < 3; ++i) {
            for (int j = 0; j < 3; ++j) {
              const float* in = px[(a + i) * 4 + b + j];
              if (in == q.zeros) continue;
              const float* wt = q.weights + ((o * 3 + i) * 3 + j) * g.c;
              for (int64_t c = 0; c < g.c; ++c) sum += in[c] * wt[c];
            }
          }
          if (q.z) sum += q.z[at + o];
          if (g.relu && sum < 0) sum = 0;
          q.y[at + o] = sum;
        }
      }
    }
  }
}

template <int W>
KILN_INLINE void RunItem(const Problem& q, const Item& it) {
  if (!TransformInput<W>(q, it)) return DirectTiles(q, it, W);
  Products<W>(q, it);
  TransformOutput<W>(q, it);
}

KILN_TARGET_AVX512 void RunAvx512(const Problem& q, const Item& it) { RunItem<16>(q, it); }
__attribute__((target("avx2,fma"))) void RunAvx2(const Problem& q, const Item& it) { RunItem<8>(q, it); }
void RunGeneric(const Problem& q, const Item& it) { RunItem<4>(q, it); }

// The widest vector at most `level` whose width divides the input channels (the transforms
// read whole vectors of a pixel's channels).
SimdLevel LevelFor(SimdLevel level, int64_t channels) {
  if (level == SimdLevel::kAvx512 && channels % 16 != 0) level = SimdLevel::kAvx2;
  if (level == SimdLevel::kAvx2 && channels % 8 != 0) level = SimdLevel::kGeneric;
  return level;
}

int WidthOf(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return 16;
    case SimdLevel::kAvx2: return 8;
    case SimdLevel::kGeneric: break;
  }
  return 4;
}

// G g G^T per (output, input) channel, G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], in
// double, packed [16][K/W][C][W].
void TransformWeights(const float* w, const Geometry& g, int64_t width, int64_t kblocks, float* u) {
  static constexpr double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  for (int64_t o = 0; o < g.k; ++o) {
    for (int64_t c = 0; c < g.c; ++c) {
      const float* f = w + (o * g.c + c) * 9;
      double gf[4][3];  // G f
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 3; ++j) gf[i][j] = G[i][0] * f[j] + G[i][1] * f[3 + j] + G[i][2] * f[6 + j];
      }
      for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 4; ++j) {
          const double v = gf[i][0] * G[j][0] + gf[i][1] * G[j][1] + gf[i][2] * G[j][2];
          u[(((i * 4 + j) * kblocks + o / width) * g.c + c) * width + o % width] = static_cast<float>(v);
        }
      }
    }
  }
}

class WinogradF23Kernel : public Kernel {
 public:
  WinogradF23Kernel(const KernelSpec& spec, const Geometry& g, SimdLevel level)
      : g_(g), width_(WidthOf(level)), kblocks_((g.k + width_ - 1) / width_) {
    switch (level) {
      case SimdLevel::kAvx512: run_ = RunAvx512; break;
      case SimdLevel::kAvx2: run_ = RunAvx2; break;
      case SimdLevel::kGeneric: run_ = RunGeneric; break;
    }
    const int64_t tiles = g.tiles();
    const int64_t blocks = tiles <= kOneBlockTiles ? 1 : (tiles + kBlockTiles - 1) / kBlockTiles;
    block_tiles_ = (tiles + blocks - 1) / blocks;  // blocks of equal size
    const float* w = static_cast<const float*>(spec.inputs[1].data);
    for (int64_t i = 0; i < g.k * g.c * 9; ++i) finite_weights_ &= std::isfinite(w[i]);
    u_ = AllocateZeroed(kPlanes * kblocks_ * g.c * width_);
    bias_ = AllocateZeroed(kblocks_ * width_);
    zeros_ = AllocateZeroed(g.c);
    weights_ = AllocateZeroed(g.k * 9 * g.c);
    bias_per_run_ = spec.has_input(2) && !spec.is_constant_input(2);
    if (spec.has_input(2) && !bias_per_run_ && bias_) {
      std::copy_n(static_cast<const float*>(spec.inputs[2].data), g.k, bias_.get());
    }
    if (u_) TransformWeights(w, g, width_, kblocks_, u_.get());
    if (weights_) {  // [K][C][3][3] -> [K][3][3][C]
      for (int64_t o = 0; o < g.k; ++o) {
        for (int64_t c = 0; c < g.c; ++c) {
          for (int t = 0; t < 9; ++t) weights_[(o * 9 + t) * g.c + c] = w[(o * g.c + c) * 9 + t];
        }
      }
    }
    shares_ = OneDnnKernelRunsOnOneThread(spec) ? 1 : std::max(1, omp_get_max_threads());
    v_plane_ = block_tiles_ * g.c + kPlaneSkew;
    m_plane_ = block_tiles_ * kblocks_ * width_ + kPlaneSkew;
    scratch_per_share_ = kPlanes * (v_plane_ + m_plane_);
    scratch_ = AllocateZeroed(shares_ * scratch_per_share_);
  }
  bool allocated() const { return u_ && bias_ && zeros_ && weights_ && scratch_; }
  std::vector<ConstantSpan> PackedConstants() const override {
    return {{u_.get(), static_cast<size_t>(kPlanes * kblocks_ * g_.c * width_) * sizeof(float)}};
  }
  bool finite_weights() const { return finite_weights_; }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (bias_per_run_) std::copy_n(in[2].as<float>(), g_.k, bias_.get());
    const Problem q{&g_,
                    in[0].as<float>(),
                    g_.residual ? in[kFusedResidualInput].as<float>() : nullptr,
                    out[0].as<float>(),
                    u_.get(),
                    bias_.get(),
                    zeros_.get(),
                    weights_.get(),
                    kblocks_,
                    block_tiles_,
                    v_plane_,
                    m_plane_};
    const int shares = static_cast<int>(std::min<int64_t>(shares_, omp_get_max_threads()));
    RunRowBlocks(g_.tiles(), block_tiles_, kblocks_, shares,
                 [&](int s, int64_t t0, int64_t t1, int64_t kb0, int64_t kb1) {
                   float* v = scratch_.get() + s * scratch_per_share_;
                   run_(q, Item{t0, t1, kb0, kb1, v, v + kPlanes * v_plane_});
                 });
    return Status::Ok();
  }

 private:
  Geometry g_;
  int64_t width_, kblocks_, block_tiles_ = 0, v_plane_ = 0, m_plane_ = 0, scratch_per_share_ = 0;
  int shares_ = 1;
  void (*run_)(const Problem&, const Item&) = RunGeneric;
  bool bias_per_run_ = false, finite_weights_ = true;
  AlignedFloats u_, bias_, zeros_, weights_, scratch_;
};

}  // namespace

std::string WinogradF23UnsupportedReason(const KernelSpec& spec) {
  auto g = Analyze(spec);
  if (!g.ok()) return g.status().message();
  return FiniteWeights(spec) ? "" : "a weight is Inf or NaN";
}

StatusOr<std::unique_ptr<Kernel>> BuildWinogradF23(const KernelSpec& spec, SimdLevel level) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  auto g = Analyze(spec);
  if (!g.ok()) return g.status().WithContext(spec.Label());
  if (!spec.is_constant_input(1)) return Unimplemented(spec.Label(), ": the weights have no data");
  auto kernel = std::make_unique<WinogradF23Kernel>(spec, *g, LevelFor(level, g->c));
  if (!kernel->finite_weights()) return Unimplemented(spec.Label(), ": a weight is Inf or NaN");
  if (!kernel->allocated()) return Internal(spec.Label(), ": cannot allocate the transformed weights");
  return std::unique_ptr<Kernel>(std::move(kernel));
}

void RegisterWinogradF23Kernels(KernelRegistry& r) {
  for (const char* op : {"Conv", "FusedConv"}) {
    r.Register(kWinogradF23Kernel, op, [](const KernelSpec& spec) { return BuildWinogradF23(spec, BestSimdLevel()); });
  }
}

}  // namespace kiln::runtime::onednn
