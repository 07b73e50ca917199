// The weight gradient of a stride-1 convolution with many taps as a matrix product
// (conv_grad_weight_product.cc): kernel family "wgrad".
//
// dW[o][t] = sum over images n and output pixels p of dY[n][o][p] * col_n[t][p], t a tap
// (c, i, j). oneDNN 2.6 ran the Fashion-MNIST CNN's second layer (32 -> 64 channels, 3x3, 14x14,
// batch 64) at ~60% of the FMA peak on a 2-core AMD EPYC Zen 3, a third of its training step.
// Here each image is copied once into a zero-padded image whose rows are ow + (kw - 1) dw wide;
// in that layout a tap's row of col is the padded image shifted by the tap's offset, so the
// product reads it in place (no im2col): taps as rows, dY transposed into panels of output
// channels (zero at the padding's columns), panel_product.h's register tiles over the row
// pointers. The padding's columns cost (kw - 1) dw / ow more multiply-adds (14% at 14x14 3x3).
// A non-finite X can meet a padding column's zero (NaN, where the reference has a finite
// value): the "onednn" family's output scan then runs the reference kernel instead.
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"              // kConvGradWeightProductKernel
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel

namespace kiln::runtime::onednn {

/// Why the kernel cannot run `spec` ("" when it can): a ConvGradWeight that
/// AnalyzeConvGradWeight takes, stride 1, more taps than the direct kernel's, and a padded
/// row at most 5/4 of an output row.
std::string ConvGradWeightProductUnsupportedReason(const KernelSpec& spec);

/// The kernel at instruction set `level`, without the output scan (tests run every level the
/// CPU has); the registered family wraps BestSimdLevel()'s as oneDNN's kernels are.
StatusOr<std::unique_ptr<Kernel>> BuildConvGradWeightProduct(const KernelSpec& spec, SimdLevel level);

void RegisterConvGradWeightProductKernels(KernelRegistry& r);

}  // namespace kiln::runtime::onednn
