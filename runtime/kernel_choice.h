// What the compiler asks the runtime when more than one kernel family can run a step:
// whether the small-product kernel ("gemv") takes it, and how fast each candidate runs
// here (compiler/backends/cpu/kernel_choice.h decides and caches).
#pragma once

#include <string>
#include <vector>

#include "runtime/kernel.h"

namespace kiln::runtime {

/// "" when the "gemv" kernel (runtime/kernels/onednn/small_matmul.h) runs `spec` (dims,
/// dtypes, attributes and spec.constant_inputs; no data needed), else a short reason.
std::string SmallProductUnsupportedReason(const KernelSpec& spec);
/// Rows (M) of such a product, its batch dimensions folded in.
int64_t SmallProductRows(const KernelSpec& spec);
/// The most rows for which the compiler offers "gemv" at all.
int64_t SmallProductMaxRows();

/// "" when the direct convolution "dconv" (runtime/kernels/onednn/small_conv.h) runs `spec`,
/// else a short reason; its multiply-adds; the most the compiler offers it.
std::string SmallConvUnsupportedReason(const KernelSpec& spec);
double SmallConvMacs(const KernelSpec& spec);
double SmallConvMaxMacs();
int64_t SmallConvMaxChannels();

/// The family of oneDNN's Winograd convolutions (3x3, stride 1: F(2x2,3x3) or F(4x4,3x3),
/// avx512_core CPUs only in oneDNN 2.6). Rounding differs from the direct algorithm's by
/// about 1e-6 relative, so the compiler offers it only by measurement (where it is faster);
/// KILN_WINOGRAD=0 never offers it.
inline constexpr char kWinogradKernel[] = "winograd";
/// "" when the "winograd" kernel runs `spec` on this CPU, else a short reason.
std::string WinogradUnsupportedReason(const KernelSpec& spec);

/// Kiln's own Winograd F(2x2,3x3) convolution over channels-last tensors, for CPUs where
/// oneDNN has none (runtime/kernels/onednn/winograd_f23.h); offered like "winograd".
inline constexpr char kWinogradF23Kernel[] = "wino23";
/// "" when the "wino23" kernel runs `spec`, else a short reason.
std::string WinogradF23UnsupportedReason(const KernelSpec& spec);

/// Kiln's convolution as a product over gathered input rows, channels-last, strided
/// convolutions only (runtime/kernels/onednn/im2col_conv.h); offered by measurement.
inline constexpr char kIm2colConvKernel[] = "im2col";
/// "" when the "im2col" kernel runs `spec`, else a short reason.
std::string Im2colConvUnsupportedReason(const KernelSpec& spec);

/// Kiln's weight gradient of a stride-1 convolution with many taps, a product over padded
/// images (runtime/kernels/onednn/conv_grad_weight_product.h); offered by measurement.
inline constexpr char kConvGradWeightProductKernel[] = "wgrad";
/// "" when the "wgrad" kernel runs `spec`, else a short reason.
std::string ConvGradWeightProductUnsupportedReason(const KernelSpec& spec);

/// Kiln's blocked matrix product over a constant B (runtime/kernels/onednn/small_matmul.h),
/// for products with more rows than "gemv" is offered; it runs what "gemv" runs
/// (SmallProductUnsupportedReason) and is offered by measurement against oneDNN.
inline constexpr char kBlockedProductKernel[] = "sgemm";
/// "" when the "sgemm" kernel runs `spec`, else a short reason.
std::string BlockedProductUnsupportedReason(const KernelSpec& spec);

/// One kernel's timing: its fastest round and its median round, in ms per run.
struct KernelTiming {
  double best_ms = 0, median_ms = 0;
};

/// How fast each of `backends`' kernels for `spec` runs here: the kernels are built on a
/// private engine, inputs with data (plan constants) are used as they are and the others
/// filled with values in [-1, 1); then rounds alternate between the kernels (each round a
/// few runs of each) for about `budget_ms` in all. With `cold_constants` the constants (as
/// given and as each kernel reordered them) are flushed from the caches before every run,
/// as in a model whose weights do not stay cached from one run to the next (a kernel whose
/// weights are larger pays for reading them). Errors when a kernel cannot be built or run.
StatusOr<std::vector<KernelTiming>> TimeKernels(const std::vector<std::string>& backends, const KernelSpec& spec,
                                                double budget_ms, bool cold_constants = false);

/// About how many bytes of constants stay cached from one run of a plan to the next: the
/// L2 caches of the cores the measurement's threads use. Where a plan has more, the
/// compiler times its Winograd-or-direct choices with cold constants (TimeKernels).
int64_t CachedConstantBytes();

/// What a measurement depends on besides the shapes: the CPU's model name, the widest
/// instruction set the kernels may use (the CPU and ONEDNN_MAX_CPU_ISA), the thread count
/// and the build of the kernels' code (its GNU build id: a rebuilt Kiln measures again).
std::string MeasurementContext();

}  // namespace kiln::runtime
