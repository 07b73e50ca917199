// Direct convolution for small convolutions in channels-last (small_conv.cc): kernel
// family "dconv".
//
// oneDNN's convolutions block the output channels by 16 and the input channels by the
// vector width; a convolution with few channels wastes most of each vector (LeNet-5's first
// layer, 1 -> 6 channels 5x5: 9 us for 0.24 MFLOP, 25 GFLOP/s on a core that does 110).
// This kernel packs the weights once into [output-channel block][kh][kw][C][W] and, for a
// few output pixels at a time, accumulates W output channels per vector with one broadcast
// input value per (tap, input channel): no padding of the input channels, and the output
// channels padded only to the vector width. The compiler picks between it and oneDNN per
// convolution by measurement (compiler/backends/cpu/kernel_choice.h).
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel

namespace kiln::runtime::onednn {

/// What the compiler offers the kernel: convolutions of at most this many multiply-adds
/// (output elements x C x kh x kw) and input channels. Beyond them oneDNN's blocked kernels
/// win; within them the compile-time measurement decides (LeNet-5's first layer at batch 64,
/// 7.5 M multiply-adds from one channel, is the direct kernel's; its second is oneDNN's).
constexpr double kSmallConvMaxMacs = 32e6;
constexpr int64_t kSmallConvMaxChannels = 16;

/// Why the kernel cannot run `spec` ("" when it can), from dims, layouts, attributes and
/// which inputs are constants: Conv/FusedConv 2-D, one group, the weights a plan constant,
/// the output channels-last, the input channels-last (or plain with one channel), no
/// residual, no activation but Relu.
std::string SmallConvUnsupportedReason(const KernelSpec& spec);
/// The multiply-adds of such a convolution.
double SmallConvMacs(const KernelSpec& spec);

/// The kernel at instruction set `level` (tests run every level the CPU has); the
/// registered "dconv" factory uses BestSimdLevel().
StatusOr<std::unique_ptr<Kernel>> BuildSmallConv(const KernelSpec& spec, SimdLevel level);

void RegisterSmallConvKernels(KernelRegistry& r);

}  // namespace kiln::runtime::onednn
