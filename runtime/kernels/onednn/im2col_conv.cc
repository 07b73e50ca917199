// The im2col convolution "im2col" (see the header for when and why):
//
//   Y = act(bias + Z + conv(X, w)),  X [N][H][W][C], Y and Z [N][OH][OW][K] channels-last
//
// A run splits the output pixels (all images' in order) into blocks and the output channels
// into parts; each (block, part) gathers its pixels' windows into A [pixels][kh x kw x C]
// (taps in the padding zeros), multiplies A by the weights packed [K/W][kh][kw][C][W] into
// M [pixels][K], and stores M + bias (+ Z, Relu) into Y.
#include "runtime/kernels/onednn/im2col_conv.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/panel_product.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

// Output pixels per block (a multiple of both TileRows): each panel of U passes once per
// block, read by this many rows.
constexpr int64_t kBlockPixels = 48;
// Up to this many output pixels (ResNet-50's 7x7 at batch 1: 49) are one block, the output
// channels split between the threads: U (9 MiB there) then passes once, not once per block.
constexpr int64_t kOneBlockPixels = 64;
// A's rows lie a cache line more than their size apart: at ResNet-50's 4608 floats (512
// channels x 9 taps) a slice of 48 rows fell into 32 of the 64 L1 sets.
constexpr int64_t kRowSkew = 16;

StatusOr<ChannelsLastConv> Analyze(const KernelSpec& spec) {
  ASSIGN_OR_RETURN(ChannelsLastConv g, AnalyzeChannelsLastConv(spec));
  if (g.window.strides == Dims{1, 1}) return Unimplemented("stride 1 (Winograd's and oneDNN's)");
  RETURN_IF_ERROR(CheckOutputDims(g));
  return g;
}

struct Problem {
  const ChannelsLastConv* g;
  const float* x;
  const float* z;  // the residual, or null
  float* y;
  const float* u;     // [kblocks][depth][W]: the packed weights
  const float* bias;  // [kblocks * W], zeros past K
  int64_t kblocks, depth;
  int64_t lda;  // A's row stride: depth + kRowSkew
};

// One share's work: output pixels [p0, p1) by output-channel blocks [kb0, kb1), with `a` and
// `m` its scratch (block pixels x depth and block pixels x kblocks * W floats).
struct Item {
  int64_t p0, p1, kb0, kb1;
  float* a;
  float* m;
};

// A's rows for the item's pixels: row r is pixel p0 + r's window, tap (i, j) then channel.
void Gather(const Problem& q, const Item& it) {
  const ChannelsLastConv& g = *q.g;
  const WindowGeometry& win = g.window;
  const size_t bytes = static_cast<size_t>(g.c) * sizeof(float);
  for (int64_t p = it.p0; p < it.p1; ++p) {
    const int64_t n = p / (g.oh * g.ow), oy = p / g.ow % g.oh, ox = p % g.ow;
    float* row = it.a + (p - it.p0) * q.lda;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t iy = oy * win.strides[0] - win.pads[0] + i * win.dilations[0];
      for (int64_t j = 0; j < g.kw; ++j) {
        const int64_t ix = ox * win.strides[1] - win.pads[1] + j * win.dilations[1];
        float* dst = row + (i * g.kw + j) * g.c;
        if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) {
          std::memcpy(dst, q.x + ((n * g.h + iy) * g.w + ix) * g.c, bytes);
        } else {
          std::memset(dst, 0, bytes);
        }
      }
    }
  }
}

template <int W>
KILN_INLINE void RunItem(const Problem& q, const Item& it) {
  Gather(q, it);
  const int64_t rows = it.p1 - it.p0, ldm = q.kblocks * W, k = q.g->k, depth = q.depth;
  // In slices of the depth, each a panel of U [slice][2W] that stays in L1 while the rows pass.
  for (int64_t d0 = 0; d0 < depth; d0 += PanelDepthSlice<W>()) {
    const int64_t slice = std::min(PanelDepthSlice<W>(), depth - d0);
    const float* a = it.a + d0;
    const bool add = d0 > 0;
    int64_t kb = it.kb0;
    for (; kb + 2 <= it.kb1; kb += 2)
      ProductRows<W, 2>(a, q.lda, rows, slice, q.u + (kb * depth + d0) * W, depth * W, it.m + kb * W, ldm, add);
    if (kb < it.kb1)
      ProductRows<W, 1>(a, q.lda, rows, slice, q.u + (kb * depth + d0) * W, depth * W, it.m + kb * W, ldm, add);
  }
  for (int64_t r = 0; r < rows; ++r) {
    int64_t kb;
    const int64_t pixel = (it.p0 + r) * k;
    for (kb = it.kb0; kb < it.kb1; ++kb) {
      const FloatVec<W> v = LoadVec<W>(it.m + r * ldm + kb * W) + LoadVec<W>(q.bias + kb * W);
      StoreChannels<W>(q.y, q.z, pixel + kb * W, std::min<int64_t>(W, k - kb * W), q.g->relu, v);
    }
  }
}

KILN_TARGET_AVX512 void RunAvx512(const Problem& q, const Item& it) { RunItem<16>(q, it); }
__attribute__((target("avx2,fma"))) void RunAvx2(const Problem& q, const Item& it) { RunItem<8>(q, it); }
void RunGeneric(const Problem& q, const Item& it) { RunItem<4>(q, it); }

class Im2colConvKernel : public Kernel {
 public:
  Im2colConvKernel(const KernelSpec& spec, const ChannelsLastConv& g, SimdLevel level) : g_(g) {
    switch (level) {
      case SimdLevel::kAvx512: run_ = RunAvx512, width_ = 16; break;
      case SimdLevel::kAvx2: run_ = RunAvx2, width_ = 8; break;
      case SimdLevel::kGeneric: run_ = RunGeneric, width_ = 4; break;
    }
    kblocks_ = (g.k + width_ - 1) / width_;
    depth_ = g.kh * g.kw * g.c;
    const int64_t pixels = g.n * g.oh * g.ow;
    const int64_t blocks = pixels <= kOneBlockPixels ? 1 : (pixels + kBlockPixels - 1) / kBlockPixels;
    block_pixels_ = (pixels + blocks - 1) / blocks;  // blocks of equal size
    u_ = AllocateZeroed(kblocks_ * depth_ * width_);
    bias_ = AllocateZeroed(kblocks_ * width_);
    bias_per_run_ = spec.has_input(2) && !spec.is_constant_input(2);
    if (spec.has_input(2) && !bias_per_run_ && bias_) {
      std::copy_n(static_cast<const float*>(spec.inputs[2].data), g.k, bias_.get());
    }
    const float* w = static_cast<const float*>(spec.inputs[1].data);
    if (u_) {  // ONNX's [K][C][kh][kw] into [K/W][kh][kw][C][W]
      for (int64_t o = 0; o < g.k; ++o) {
        for (int64_t c = 0; c < g.c; ++c) {
          for (int64_t t = 0; t < g.kh * g.kw; ++t) {
            u_[((o / width_) * depth_ + t * g.c + c) * width_ + o % width_] = w[(o * g.c + c) * g.kh * g.kw + t];
          }
        }
      }
    }
    shares_ = OneDnnKernelRunsOnOneThread(spec) ? 1 : std::max(1, omp_get_max_threads());
    share_floats_ = block_pixels_ * (depth_ + kRowSkew + kblocks_ * width_);
    scratch_ = AllocateZeroed(shares_ * share_floats_);
  }
  bool allocated() const { return u_ && bias_ && scratch_; }
  std::vector<ConstantSpan> PackedConstants() const override {
    return {{u_.get(), static_cast<size_t>(kblocks_ * depth_ * width_) * sizeof(float)}};
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (bias_per_run_) std::copy_n(in[2].as<float>(), g_.k, bias_.get());
    const Problem q{&g_,
                    in[0].as<float>(),
                    g_.residual ? in[kFusedResidualInput].as<float>() : nullptr,
                    out[0].as<float>(),
                    u_.get(),
                    bias_.get(),
                    kblocks_,
                    depth_,
                    depth_ + kRowSkew};
    const int shares = static_cast<int>(std::min<int64_t>(shares_, omp_get_max_threads()));
    RunRowBlocks(g_.n * g_.oh * g_.ow, block_pixels_, kblocks_, shares,
                 [&](int s, int64_t p0, int64_t p1, int64_t kb0, int64_t kb1) {
                   float* a = scratch_.get() + s * share_floats_;
                   run_(q, Item{p0, p1, kb0, kb1, a, a + block_pixels_ * (depth_ + kRowSkew)});
                 });
    return Status::Ok();
  }

 private:
  ChannelsLastConv g_;
  void (*run_)(const Problem&, const Item&) = RunGeneric;
  int64_t width_ = 4, kblocks_ = 0, depth_ = 0, block_pixels_ = 0, share_floats_ = 0;
  int shares_ = 1;
  bool bias_per_run_ = false;
  AlignedFloats u_, bias_, scratch_;
};

}  // namespace

std::string Im2colConvUnsupportedReason(const KernelSpec& spec) {
  auto g = Analyze(spec);
  if (!g.ok()) return g.status().message();
  return FiniteWeights(spec) ? "" : "a weight is Inf or NaN";
}

StatusOr<std::unique_ptr<Kernel>> BuildIm2colConv(const KernelSpec& spec, SimdLevel level) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  const std::string why = onednn::Im2colConvUnsupportedReason(spec);
  if (!why.empty()) return Unimplemented(spec.Label(), ": ", why);
  if (!spec.is_constant_input(1)) return Unimplemented(spec.Label(), ": the weights have no data");
  ASSIGN_OR_RETURN(ChannelsLastConv g, Analyze(spec));
  auto kernel = std::make_unique<Im2colConvKernel>(spec, g, level);
  if (!kernel->allocated()) return Internal(spec.Label(), ": cannot allocate the packed weights");
  return std::unique_ptr<Kernel>(std::move(kernel));
}

void RegisterIm2colConvKernels(KernelRegistry& r) {
  for (const char* op : {"Conv", "FusedConv"}) {
    r.Register(kIm2colConvKernel, op, [](const KernelSpec& spec) { return BuildIm2colConv(spec, BestSimdLevel()); });
  }
}

}  // namespace kiln::runtime::onednn
