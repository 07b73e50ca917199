// A convolution as a matrix product over gathered input rows (im2col_conv.cc), channels-last:
// kernel family "im2col".
//
// Below AVX-512, oneDNN 2.6's direct kernel (jit:avx2) runs ResNet-50's strided 3x3 layers at
// 45-62% of the FMA peak (2-core AMD EPYC Zen 3), and Winograd does not apply to a stride.
// Each block of output pixels gathers its windows' inputs as rows of kh x kw x C floats (a
// tap's C channels are contiguous in channels-last), multiplies them by the weights packed
// once into 2W-column panels (panel_product.h, the register tiles of "wino23"), and stores
// the rows with the bias, a residual and Relu. The compiler offers it by measurement against
// oneDNN (compiler/backends/cpu/kernel_choice.h); it sums in another order than oneDNN, so
// results differ by rounding.
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"              // kIm2colConvKernel
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel

namespace kiln::runtime::onednn {

/// Why the kernel cannot run `spec` ("" when it can): Conv/FusedConv 2-D, one group, float32,
/// the weights a finite plan constant, input, output and residual channels-last, no
/// activation but Relu, a stride other than 1 (stride 1 is Winograd's and oneDNN's).
std::string Im2colConvUnsupportedReason(const KernelSpec& spec);

/// The kernel at instruction set `level` (tests run every level the CPU has); the registered
/// factory uses BestSimdLevel().
StatusOr<std::unique_ptr<Kernel>> BuildIm2colConv(const KernelSpec& spec, SimdLevel level);

void RegisterIm2colConvKernels(KernelRegistry& r);

}  // namespace kiln::runtime::onednn
