// Winograd F(2x2, 3x3) convolution over channels-last tensors (winograd_f23.cc): kernel
// family "wino23".
//
// oneDNN 2.6 has Winograd convolutions for AVX-512 only; below it, its direct 3x3 kernel
// (jit:avx2) runs ResNet-50's 3x3 layers at 50-72% of the FMA peak (2-core AMD EPYC Zen 3),
// where its 1x1 kernel reaches 90%. F(2x2, 3x3) computes a 2x2 output tile from a 4x4 input
// tile with 16 products per (input, output) channel pair instead of 36: the image's tiles,
// transformed (B^T d B: additions only), are 16 matrix products [tiles x C] x [C x K] against
// the weights transformed once at build (G g G^T), and each 4x4 result transforms back to
// 2x2 outputs (A^T m A, additions only) with the bias, a residual and Relu applied there.
// The transforms' constants are 0, +-1 and 1/2, so the result differs from the direct sum by
// rounding only (~1e-6 relative); a block of tiles that meets an Inf or NaN in the input is
// computed directly instead (Inf - Inf in a transform would spread NaNs over the tile). The
// compiler offers it by measurement against oneDNN (compiler/backends/cpu/kernel_choice.h).
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"              // kWinogradF23Kernel
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel

namespace kiln::runtime::onednn {

/// Why the kernel cannot run `spec` ("" when it can), from dims, layouts, attributes and
/// which inputs are constants: Conv/FusedConv 2-D 3x3, stride and dilation 1, one group,
/// float32, input channels a multiple of 4, the weights a finite plan constant, input,
/// output and residual channels-last, no activation but Relu.
std::string WinogradF23UnsupportedReason(const KernelSpec& spec);

/// The kernel at instruction set `level` at most (tests run every level the CPU has; the
/// vectors narrow to one that divides the input channels); the registered factory uses
/// BestSimdLevel().
StatusOr<std::unique_ptr<Kernel>> BuildWinogradF23(const KernelSpec& spec, SimdLevel level);

void RegisterWinogradF23Kernels(KernelRegistry& r);

}  // namespace kiln::runtime::onednn
