// The weight gradient of a convolution with few input taps (conv_grad_weight_direct.cc),
// run by the "onednn" family's ConvGradWeight where it applies.
//
// dW[o][c][i][j] = sum over n and the output pixels p of dY[n][o][p] * X[n][c][p's tap (i, j)]
// and dB[o] = sum dY[n][o][p]: with C x kh x kw taps few (a first layer on a gray image: 9
// for 3x3, 25 for 5x5) each is a dot product over the batch's pixels, and oneDNN 2.6's
// kernel for it ran at 10 GFLOP/s on AVX2 (the Fashion-MNIST CNN's 1 -> 32 3x3 layer at batch
// 64: 2.9 ms, a sixth of its training step). Here each thread takes a share of the images,
// lays each image's taps out as rows (im2col, with a row of ones for dB) and accumulates
// dY's rows against them in vector registers; the shares' sums are added at the end.
#pragma once

#include <memory>

#include "runtime/kernel.h"
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel

namespace kiln::runtime::onednn {

/// A ConvGradWeight's shapes: X [n][c][h][w], dY [n][m][oh][ow], dW [m][c][kh][kw], the
/// window's strides, dilations and top-left pads.
struct ConvGradWeightGeometry {
  int64_t n = 0, c = 0, h = 0, w = 0, m = 0, oh = 0, ow = 0, kh = 0, kw = 0;
  int64_t sh = 1, sw = 1, dh = 1, dw = 1, pad_top = 0, pad_left = 0;
  int64_t taps() const { return c * kh * kw; }
  int64_t pixels() const { return oh * ow; }
};

/// The geometry of a ConvGradWeight that Kiln's own kernels take (2-D, one group, plain
/// non-empty float32, dB [m] where asked), or why not.
StatusOr<ConvGradWeightGeometry> AnalyzeConvGradWeight(const KernelSpec& spec);

/// At most this many taps (input channels x kernel elements).
constexpr int64_t kDirectGradWeightMaxTaps = 32;

/// Whether the direct kernel computes `spec` (a ConvGradWeight: 2-D, one group, plain
/// float32, at most kDirectGradWeightMaxTaps taps).
bool DirectConvGradWeightRuns(const KernelSpec& spec);

/// The kernel at instruction set `level` (tests run every level the CPU has).
StatusOr<std::unique_ptr<Kernel>> BuildDirectConvGradWeight(const KernelSpec& spec, SimdLevel level);

}  // namespace kiln::runtime::onednn
