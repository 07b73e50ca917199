// The weight gradient as a product over padded images (see the header for when and why).
//
// Per image, in a share's scratch: the image zero-padded into planes of hq x wq (hq = oh +
// (kh - 1) dh, wq = ow + (kw - 1) dw), so that tap (c, i, j)'s row of col at depth q = oy * wq
// + ox is plane c at q + i dh wq + j dw; dY transposed into pairs of W-channel panels
// [pairs][oh * wq][2W], zero at the columns ox >= ow; then acc[t][o] += col[t][q] * dY^T[q][o]
// over the taps and a row of ones (dB), in tiles of TileRows taps by a pair of panels. The
// shares' sums are added at the end.
#include "runtime/kernels/onednn/conv_grad_weight_product.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "runtime/kernels/onednn/conv_grad_weight_direct.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/panel_product.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

// The padded row's width over the output row's, at most: beyond it the padding's columns
// cost more than the kernel gains over oneDNN (ResNet's 7x7 3x3 layers: 9/7).
constexpr double kMaxRowWidening = 1.25;

StatusOr<ConvGradWeightGeometry> Analyze(const KernelSpec& spec) {
  ASSIGN_OR_RETURN(ConvGradWeightGeometry g, AnalyzeConvGradWeight(spec));
  if (g.sh != 1 || g.sw != 1) return Unimplemented("a stride other than 1");
  if (g.taps() <= kDirectGradWeightMaxTaps) return Unimplemented("few taps (the direct kernel's)");
  if (g.ow + (g.kw - 1) * g.dw > kMaxRowWidening * static_cast<double>(g.ow))
    return Unimplemented("the padded rows are over ", kMaxRowWidening, "x the output rows");
  return g;
}

// Where a share's scratch keeps what, in floats; the same for every share and run.
struct Layout {
  int64_t wq = 0, plane = 0, depth = 0;  // padded row, padded plane, q's range (oh * wq)
  int64_t rows = 0, padded_rows = 0;     // taps + 1 (dB's ones), rounded up to whole tiles
  int64_t pairs = 0, ldm = 0;            // output channels in pairs of W, acc's row stride
  int64_t image = 0, ones = 0, zeros = 0, panels = 0, acc = 0, share_floats = 0;
  std::vector<int64_t> row_offsets;  // [padded_rows]: where each row of col starts
};

Layout MakeLayout(const ConvGradWeightGeometry& g, int64_t width, int64_t tile_rows) {
  Layout l;
  l.wq = g.ow + (g.kw - 1) * g.dw;
  l.plane = (g.oh + (g.kh - 1) * g.dh) * l.wq;
  l.depth = g.oh * l.wq;
  l.rows = g.taps() + 1;
  l.padded_rows = (l.rows + tile_rows - 1) / tile_rows * tile_rows;
  l.pairs = (g.m + 2 * width - 1) / (2 * width);
  l.ldm = l.pairs * 2 * width;
  auto round = [](int64_t floats) { return (floats + 15) / 16 * 16; };
  // The last plane's last taps read (kw - 1) dw floats past it (padding columns' zeros).
  l.ones = round(g.c * l.plane + (g.kw - 1) * g.dw);
  l.zeros = l.ones + round(l.depth);
  l.panels = l.zeros + round(l.depth);
  l.acc = l.panels + l.pairs * l.depth * 2 * width;
  l.share_floats = l.acc + l.padded_rows * l.ldm;
  for (int64_t c = 0; c < g.c; ++c) {
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) l.row_offsets.push_back(c * l.plane + i * g.dh * l.wq + j * g.dw);
    }
  }
  l.row_offsets.push_back(l.ones);
  while (static_cast<int64_t>(l.row_offsets.size()) < l.padded_rows) l.row_offsets.push_back(l.zeros);
  return l;
}

struct Problem {
  const ConvGradWeightGeometry* g;
  const Layout* l;
  const float* dy;
  const float* x;
};

// Images [n0, n1) added into the share's acc (`base`: its scratch).
template <int W>
KILN_INLINE void RunImages(const Problem& q, int64_t n0, int64_t n1, float* base) {
  constexpr int R = TileRows<W>();
  const ConvGradWeightGeometry& g = *q.g;
  const Layout& l = *q.l;
  float* image = base;
  float* panels = base + l.panels;
  float* acc = base + l.acc;
  const int64_t slices = (l.depth + PanelDepthSlice<W>() - 1) / PanelDepthSlice<W>();
  for (int64_t n = n0; n < n1; ++n) {
    // The image into its padded planes (the padding's cells stay zero from the first run on).
    for (int64_t c = 0; c < g.c; ++c) {
      for (int64_t y = 0; y < g.h; ++y) {
        std::memcpy(image + c * l.plane + (y + g.pad_top) * l.wq + g.pad_left, q.x + ((n * g.c + c) * g.h + y) * g.w,
                    static_cast<size_t>(g.w) * sizeof(float));
      }
    }
    // dY^T into the panels (their columns ox >= ow stay zero).
    for (int64_t o = 0; o < g.m; ++o) {
      float* panel = panels + (o / (2 * W)) * l.depth * 2 * W + o % (2 * W);
      const float* d = q.dy + (n * g.m + o) * g.oh * g.ow;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        for (int64_t ox = 0; ox < g.ow; ++ox) panel[(oy * l.wq + ox) * 2 * W] = d[oy * g.ow + ox];
      }
    }
    for (int64_t s = 0; s < slices; ++s) {
      const int64_t d0 = l.depth * s / slices, depth = l.depth * (s + 1) / slices - d0;
      for (int64_t pair = 0; pair < l.pairs; ++pair) {
        const float* u = panels + (pair * l.depth + d0) * 2 * W;
        for (int64_t t = 0; t < l.padded_rows; t += R) {
          const float* rows[R];
#pragma GCC unroll 16
          for (int r = 0; r < R; ++r) rows[r] = base + l.row_offsets[t + r] + d0;
          ProductTileOfRows<W, R, 2, 1, 2 * W>(rows, depth, u, W, acc + t * l.ldm + pair * 2 * W, l.ldm, true);
        }
      }
    }
  }
}

KILN_TARGET_AVX512 void RunAvx512(const Problem& q, int64_t n0, int64_t n1, float* base) {
  RunImages<16>(q, n0, n1, base);
}
__attribute__((target("avx2,fma"))) void RunAvx2(const Problem& q, int64_t n0, int64_t n1, float* base) {
  RunImages<8>(q, n0, n1, base);
}
void RunGeneric(const Problem& q, int64_t n0, int64_t n1, float* base) { RunImages<4>(q, n0, n1, base); }

class ConvGradWeightProductKernel : public Kernel {
 public:
  ConvGradWeightProductKernel(const ConvGradWeightGeometry& g, SimdLevel level) : g_(g) {
    int64_t width = 4, tile_rows = TileRows<4>();
    switch (level) {
      case SimdLevel::kAvx512: run_ = RunAvx512, width = 16, tile_rows = TileRows<16>(); break;
      case SimdLevel::kAvx2: run_ = RunAvx2, width = 8, tile_rows = TileRows<8>(); break;
      case SimdLevel::kGeneric: run_ = RunGeneric; break;
    }
    l_ = MakeLayout(g, width, tile_rows);
    shares_ = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), g.n)));
    scratch_ = AllocateZeroed(shares_ * l_.share_floats);
    if (!scratch_) return;
    for (int s = 0; s < shares_; ++s) std::fill_n(scratch_.get() + s * l_.share_floats + l_.ones, l_.depth, 1.0f);
  }
  bool allocated() const { return scratch_ != nullptr; }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    const Problem q{&g_, &l_, in[0].as<float>(), in[1].as<float>()};
    const int shares = static_cast<int>(std::min<int64_t>(shares_, omp_get_max_threads()));
    auto share = [&](int s) {
      float* base = scratch_.get() + s * l_.share_floats;
      std::fill_n(base + l_.acc, l_.padded_rows * l_.ldm, 0.0f);
      run_(q, g_.n * s / shares, g_.n * (s + 1) / shares, base);
    };
    if (shares <= 1) {
      share(0);
    } else {
      RunShares(shares, share);
    }
    float* dw = out[0].as<float>();
    float* db = out.size() > 1 && out[1].dtype != proto::DT_UNDEFINED ? out[1].as<float>() : nullptr;
    const int64_t taps = g_.taps();
    for (int64_t o = 0; o < g_.m; ++o) {
      for (int64_t t = 0; t <= taps; ++t) {
        float sum = 0;
        for (int s = 0; s < shares; ++s) sum += scratch_[s * l_.share_floats + l_.acc + t * l_.ldm + o];
        if (t < taps) {
          dw[o * taps + t] = sum;  // [M][C][kh][kw]: t is (c, i, j)
        } else if (db) {
          db[o] = sum;
        }
      }
    }
    return Status::Ok();
  }

 private:
  ConvGradWeightGeometry g_;
  Layout l_;
  void (*run_)(const Problem&, int64_t, int64_t, float*) = RunGeneric;
  int shares_ = 1;
  AlignedFloats scratch_;
};

}  // namespace

std::string ConvGradWeightProductUnsupportedReason(const KernelSpec& spec) {
  auto g = Analyze(spec);
  return g.ok() ? "" : g.status().message();
}

StatusOr<std::unique_ptr<Kernel>> BuildConvGradWeightProduct(const KernelSpec& spec, SimdLevel level) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  auto g = Analyze(spec);
  if (!g.ok()) return g.status().WithContext(spec.Label());
  auto kernel = std::make_unique<ConvGradWeightProductKernel>(*g, level);
  if (!kernel->allocated()) return Internal(spec.Label(), ": cannot allocate the kernel's scratch");
  return std::unique_ptr<Kernel>(std::move(kernel));
}

void RegisterConvGradWeightProductKernels(KernelRegistry& r) {
  RegisterFamilyOp(
      r, kConvGradWeightProductKernel, "ConvGradWeight",
      [](const KernelSpec& spec) { return BuildConvGradWeightProduct(spec, BestSimdLevel()); }, Layouts::kPlainOnly);
}

}  // namespace kiln::runtime::onednn
