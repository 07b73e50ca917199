// The direct weight gradient of a convolution with few taps (see the header for when and
// why). Per image: col[k][p] = X's tap k at output pixel p (zero in the padding), k < K =
// C x kh x kw, and col[K][p] = 1 (dB's row); then for each output channel o the K + 1 dot
// products of dY[n][o][:] with col's rows, in vectors of W pixels, added to the share's
// accumulators acc[o][k][W]. The lanes and the shares are summed once, at the end.
#include "runtime/kernels/onednn/conv_grad_weight_direct.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/simd_vec.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

// Rows of col per pass over a dY row: that many accumulators, the dY vector and a col vector
// in the register file (16 vectors below AVX-512).
constexpr int kRowsPerPass = 10;

using Geometry = ConvGradWeightGeometry;

StatusOr<Geometry> Analyze(const KernelSpec& spec) {
  ASSIGN_OR_RETURN(Geometry r, AnalyzeConvGradWeight(spec));
  if (r.taps() > kDirectGradWeightMaxTaps) return Unimplemented("more than ", kDirectGradWeightMaxTaps, " taps");
  return r;
}

struct Problem {
  const Geometry* g;
  const float* dy;
  const float* x;
  int64_t stride;  // col's row stride: the pixels rounded up to a vector
};

// col's rows k < K of image n (the ones row K is filled once): row (c, i, j) at output pixel
// (oy, ox) is X[n][c][oy * sh - pad_top + i * dh][ox * sw - pad_left + j * dw], zero outside.
void Im2Col(const Problem& q, int64_t n, float* col) {
  const Geometry& g = *q.g;
  for (int64_t c = 0; c < g.c; ++c) {
    const float* image = q.x + (n * g.c + c) * g.h * g.w;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        float* row = col + ((c * g.kh + i) * g.kw + j) * q.stride;
        // Output columns whose tap lies inside the image: [ox0, ox1).
        const int64_t shift = j * g.dw - g.pad_left;
        const int64_t ox0 = std::min(g.ow, std::max<int64_t>(0, (-shift + g.sw - 1) / g.sw));
        const int64_t ox1 = std::max(ox0, std::min(g.ow, (g.w - shift + g.sw - 1) / g.sw));
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          float* out = row + oy * g.ow;
          const int64_t iy = oy * g.sh - g.pad_top + i * g.dh;
          if (iy < 0 || iy >= g.h) {
            std::fill(out, out + g.ow, 0.0f);
            continue;
          }
          const float* in = image + iy * g.w;
          std::fill(out, out + ox0, 0.0f);
          if (g.sw == 1) {
            if (ox1 > ox0) std::memcpy(out + ox0, in + ox0 + shift, static_cast<size_t>(ox1 - ox0) * sizeof(float));
          } else {
            for (int64_t ox = ox0; ox < ox1; ++ox) out[ox] = in[ox * g.sw + shift];
          }
          std::fill(out + ox1, out + g.ow, 0.0f);
        }
      }
    }
  }
}

// acc[k][W] += dy . col[k0 + k] over the row's pixels, for R rows from k0.
template <int W, int R>
KILN_INLINE void DotRows(const float* dy, const float* col, int64_t stride, int64_t pixels, float* acc) {
  FloatVec<W> sum[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) sum[r] = LoadVec<W>(acc + r * W);
  for (int64_t p = 0; p < pixels; p += W) {
    const FloatVec<W> d = LoadVec<W>(dy + p);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) sum[r] += d * LoadVec<W>(col + r * stride + p);
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) StoreVec<W>(acc + r * W, sum[r]);
}

template <int W>
KILN_INLINE void DotRowsOf(int rows, const float* dy, const float* col, int64_t stride, int64_t pixels, float* acc) {
  switch (rows) {
#define KILN_DOT_ROWS(R) \
  case R: return DotRows<W, R>(dy, col, stride, pixels, acc);
    KILN_DOT_ROWS(1)
    KILN_DOT_ROWS(2)
    KILN_DOT_ROWS(3)
    KILN_DOT_ROWS(4)
    KILN_DOT_ROWS(5)
    KILN_DOT_ROWS(6)
    KILN_DOT_ROWS(7)
    KILN_DOT_ROWS(8)
    KILN_DOT_ROWS(9)
#undef KILN_DOT_ROWS
    default: return DotRows<W, kRowsPerPass>(dy, col, stride, pixels, acc);
  }
}

// Images [n0, n1) into acc [M][K + 1][W]; col [K + 1][stride] (its ones row filled) and dy_row
// [stride] (zeros past the pixels) are the share's scratch.
template <int W>
KILN_INLINE void RunImages(const Problem& q, int64_t n0, int64_t n1, float* col, float* dy_row, float* acc) {
  const Geometry& g = *q.g;
  const int64_t rows = g.taps() + 1, pixels = g.pixels(), padded = q.stride;
  for (int64_t n = n0; n < n1; ++n) {
    Im2Col(q, n, col);
    for (int64_t o = 0; o < g.m; ++o) {
      const float* dy = q.dy + (n * g.m + o) * pixels;
      if (padded != pixels) {  // a whole last vector: the row copied next to zeros
        std::memcpy(dy_row, dy, static_cast<size_t>(pixels) * sizeof(float));
        dy = dy_row;
      }
      float* a = acc + o * rows * W;
      for (int64_t k = 0; k < rows; k += kRowsPerPass) {
        const int r = static_cast<int>(std::min<int64_t>(kRowsPerPass, rows - k));
        DotRowsOf<W>(r, dy, col + k * padded, padded, padded, a + k * W);
      }
    }
  }
}

KILN_TARGET_AVX512 void RunAvx512(const Problem& q, int64_t n0, int64_t n1, float* col, float* dy_row, float* acc) {
  RunImages<16>(q, n0, n1, col, dy_row, acc);
}
__attribute__((target("avx2,fma"))) void RunAvx2(const Problem& q, int64_t n0, int64_t n1, float* col, float* dy_row,
                                                 float* acc) {
  RunImages<8>(q, n0, n1, col, dy_row, acc);
}
void RunGeneric(const Problem& q, int64_t n0, int64_t n1, float* col, float* dy_row, float* acc) {
  RunImages<4>(q, n0, n1, col, dy_row, acc);
}

class DirectConvGradWeightKernel : public Kernel {
 public:
  DirectConvGradWeightKernel(const KernelSpec& spec, const Geometry& g, SimdLevel level) : g_(g) {
    switch (level) {
      case SimdLevel::kAvx512: run_ = RunAvx512, width_ = 16; break;
      case SimdLevel::kAvx2: run_ = RunAvx2, width_ = 8; break;
      case SimdLevel::kGeneric: run_ = RunGeneric, width_ = 4; break;
    }
    stride_ = (g.pixels() + width_ - 1) / width_ * width_;
    shares_ = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), g.n)));
    const int64_t rows = g.taps() + 1;
    acc_floats_ = g.m * rows * width_;
    share_floats_ = rows * stride_ + stride_ + acc_floats_;
    scratch_ = AllocateZeroed(shares_ * share_floats_);
    if (!scratch_) return;
    for (int s = 0; s < shares_; ++s) {  // the ones row of each share's col (zeros past the pixels)
      std::fill_n(scratch_.get() + s * share_floats_ + g.taps() * stride_, g.pixels(), 1.0f);
    }
  }
  bool allocated() const { return scratch_ != nullptr; }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    const Problem q{&g_, in[0].as<float>(), in[1].as<float>(), stride_};
    const int shares = static_cast<int>(std::min<int64_t>(shares_, omp_get_max_threads()));
    auto share = [&](int s) {
      float* base = scratch_.get() + s * share_floats_;
      float* col = base;
      float* dy_row = col + (g_.taps() + 1) * stride_;
      float* acc = dy_row + stride_;
      std::fill_n(acc, acc_floats_, 0.0f);
      run_(q, g_.n * s / shares, g_.n * (s + 1) / shares, col, dy_row, acc);
    };
    if (shares <= 1) {
      share(0);
    } else {
      RunShares(shares, share);
    }
    const int64_t rows = g_.taps() + 1;
    float* dw = out[0].as<float>();
    float* db = out.size() > 1 && out[1].dtype != proto::DT_UNDEFINED ? out[1].as<float>() : nullptr;
    for (int64_t o = 0; o < g_.m; ++o) {
      for (int64_t k = 0; k < rows; ++k) {
        float sum = 0;
        for (int s = 0; s < shares; ++s) {
          const float* lanes = scratch_.get() + s * share_floats_ + (rows + 1) * stride_ + (o * rows + k) * width_;
          for (int64_t l = 0; l < width_; ++l) sum += lanes[l];
        }
        if (k < g_.taps()) {
          dw[o * g_.taps() + k] = sum;  // [M][C][kh][kw]: k is (c, i, j)
        } else if (db) {
          db[o] = sum;
        }
      }
    }
    return Status::Ok();
  }

 private:
  Geometry g_;
  void (*run_)(const Problem&, int64_t, int64_t, float*, float*, float*) = RunGeneric;
  int64_t width_ = 4, stride_ = 0, acc_floats_ = 0, share_floats_ = 0;
  int shares_ = 1;
  AlignedFloats scratch_;
};

}  // namespace

StatusOr<ConvGradWeightGeometry> AnalyzeConvGradWeight(const KernelSpec& spec) {
  if (spec.op_type != "ConvGradWeight" || spec.inputs.size() != 2 || spec.outputs.empty())
    return Unimplemented("not a ConvGradWeight");
  const Dims& dy = spec.inputs[0].dims;
  const Dims& x = spec.inputs[1].dims;
  const Dims& dw = spec.outputs[0].dims;
  if (dy.size() != 4 || x.size() != 4 || dw.size() != 4) return Unimplemented("2-D convolutions only");
  if (spec.attrs.GetInt("group", 1) != 1) return Unimplemented("grouped convolution");
  for (const auto* list : {&spec.inputs, &spec.outputs}) {
    for (const TensorRef& t : *list) {
      if (t.dtype != proto::DT_UNDEFINED && (t.dtype != proto::DT_FLOAT || t.layout != proto::LAYOUT_PLAIN))
        return Unimplemented("plain float32 only");
      if (t.dtype != proto::DT_UNDEFINED && t.num_elements() == 0) return Unimplemented("an empty tensor");
    }
  }
  if (spec.has_output(1) && spec.outputs[1].dims != Dims{dw[0]}) return Unimplemented("dB must be [M]");
  ASSIGN_OR_RETURN(WindowGeometry g, ComputeWindowGeometry({x[2], x[3]}, {dw[2], dw[3]}, spec.attrs));
  if (g.output != Dims{dy[2], dy[3]} || dy[0] != x[0] || dy[1] != dw[0] || x[1] != dw[1])
    return Unimplemented("dY differs from the Conv output");
  ConvGradWeightGeometry r;
  r.n = x[0], r.c = x[1], r.h = x[2], r.w = x[3], r.m = dw[0], r.oh = dy[2], r.ow = dy[3], r.kh = dw[2], r.kw = dw[3];
  r.sh = g.strides[0], r.sw = g.strides[1], r.dh = g.dilations[0], r.dw = g.dilations[1];
  r.pad_top = g.pads[0], r.pad_left = g.pads[1];
  return r;
}

bool DirectConvGradWeightRuns(const KernelSpec& spec) { return Analyze(spec).ok(); }

StatusOr<std::unique_ptr<Kernel>> BuildDirectConvGradWeight(const KernelSpec& spec, SimdLevel level) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  ASSIGN_OR_RETURN(Geometry g, Analyze(spec));
  auto kernel = std::make_unique<DirectConvGradWeightKernel>(spec, g, level);
  if (!kernel->allocated()) return Internal(spec.Label(), ": cannot allocate the kernel's scratch");
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace kiln::runtime::onednn
