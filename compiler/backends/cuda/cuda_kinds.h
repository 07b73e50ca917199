// Generated CUDA kernels beyond elementwise chains (issue 15): reductions
// (softmax, log-softmax and their gradients, sum/mean/max over axes, BN statistics, softmax
// cross-entropy and its gradient), pooling (max/average 2-D NCHW, max-pool
// backward) and data movement (transpose, concat, slice, gather). Each kind
// renders one self-contained `extern "C" __global__` kernel (no #include) from a
// CudaKernelDesc; the shapes are baked into the source as constants, so the
// kernel's only argument is a struct of pointers (inputs, then outputs).
// Semantics (NaN propagation, tie rules, empty windows) follow Kiln's reference
// kernels, runtime/kernels/reference, which are the tests' oracle.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compiler/backends/cuda/cuda_codegen.h"
#include "ir/core/dtype.h"
#include "ir/core/optimizer.h"
#include "ir/core/status.h"

namespace kiln::cuda {

enum class CudaKind {
  kSoftmax,                  // over the last axis of inputs[0]
  kLogSoftmax,               // over the last axis
  kSoftmaxGrad,              // dy, y (Softmax's output) -> dx = y * (dy - sum(dy * y)), over the last axis
  kLogSoftmaxGrad,           // dy, y (LogSoftmax's output) -> dx = dy - exp(y) * sum(dy)
  kReduceSum,                // over `axes` (keepdims: the output keeps them as 1)
  kReduceMean,               //
  kReduceMax,                // NaN-propagating, -inf for an empty group
  kBatchNormStats,           // x [N, C, ...] -> mean [C], biased variance [C]
  kSoftmaxCrossEntropy,      // logits [N, C], targets [N, C] (or int64 labels [N] when sparse) -> mean loss []
  kSoftmaxCrossEntropyGrad,  // dloss [], logits [N, C], targets -> dlogits [N, C]
  kMaxPool,                  // x [N, C, H, W] -> y
  kAveragePool,              //
  kMaxPoolGrad,              // dy, x -> dx (each window's dy to its first maximal x)
  kTranspose,                // any permutation `axes`; a (batched) 2-D transpose is tiled in shared memory
  kConcat,                   // inputs along axes[0]
  kSlice,                    // per axis: starts, steps (resolved, may be negative) -> output dims `out`
  kGather,                   // data, int64 indices along axes[0] (negative indices count from the end)
  // Products: one tiled shared-memory GEMM (cuda_gemm_kinds.cc) with a per-kind operand access.
  kMatMul,          // A [..., M, K], B [..., K, N] (numpy matmul: 1-D operands, broadcast batch dims)
  kGemm,            // A, B 2-D (trans_a, trans_b), optional C broadcast to [M, N]: alpha * A B + beta * C
  kFusedMatMul,     // MatMul, then + bias, + residual, activation (ir/core/fused_ops.h)
  kConv,            // x [N, C, H, W], w [M, C / group, KH, KW], optional bias [M]: implicit GEMM
  kFusedConv,       // Conv (bias), then + residual, activation
  kCopy,            // x to the dims `out` (same element count): Reshape / Flatten / Squeeze / Unsqueeze
  kConvGradInput,   // dY, w -> dX of dims `out` (Conv's attributes): implicit GEMM gathering dY
  kConvGradWeight,  // dY, x -> dW of dims `out` [, dB with bias_gradient]: implicit GEMM over images x positions
  // Training steps (cuda_train_kinds.cc).
  kOptimizerUpdate,  // p, g, the optimizer's state slots [, int64 step (Adam)] [, float32 lr []] -> p', slots'
  kCounterAdd,       // int64 x -> int64 x + `addend` (the step counter)
  kDropout,          // x, int64 step -> y = x * mask, mask (DropoutTraining: hashed from seed, step, index)
};

/// What a kernel kind computes. Inputs are float32 except gather indices and
/// sparse labels (int64). Shapes are static: one kernel per shape.
struct CudaKernelDesc {
  CudaKind kind = CudaKind::kSoftmax;
  std::vector<Dims> inputs;
  std::vector<int64_t> axes;  // reductions: reduced axes; transpose: perm; concat, gather: {axis}
  bool keepdims = true;       // reductions
  bool sparse = false;        // softmax cross-entropy: int64 labels
  // Pooling (2-D): kernel {kh, kw}, strides {sh, sw}, pads {top, left, bottom, right}.
  std::vector<int64_t> kernel, strides, pads;
  bool count_include_pad = false;
  // Slice: per input axis, the first index and the step; `out` the output dims (also kCopy's).
  std::vector<int64_t> starts, steps;
  Dims out;
  // Products. Gemm: transposes, alpha, beta. Conv: dilations {dh, dw}, group (kernel,
  // strides and pads as pooling's). Fused: the activation (an ONNX op name, "" none) with
  // its activation_alpha / activation_beta (Clip: min, max).
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
  std::vector<int64_t> dilations;
  int64_t group = 1;
  std::string activation;
  float activation_alpha = 0.f, activation_beta = 0.f;
  bool bias_gradient = false;  // ConvGradWeight: also dB
  // Optimizer updates: the update op (ir/core/optimizer.h's table), its hyperparameters and
  // whether the learning rate is the last input (a state the trainer lowers) instead of `hyper.lr`.
  std::string update_op;
  OptimizerHyperparams hyper;
  bool lr_input = false;
  int64_t addend = 1;         // kCounterAdd
  float dropout_ratio = 0.f;  // kDropout
  uint64_t dropout_seed = 0;
};

struct CudaLaunch {
  unsigned grid = 1, block = 1;
};

struct GeneratedCudaKernel {
  CudaKernel kernel;  // name, source; num_inputs / num_outputs: the pointer struct's layout
  CudaLaunch launch;
  std::vector<Dims> outputs;   // the outputs' dims: float32, or int64 with int64_outputs
  bool int64_outputs = false;  // kCounterAdd
};

/// The kinds' one table: name, the reference op the tests compare with, the renderer.
struct CudaKindInfo {
  CudaKind kind;
  const char* name;
  const char* reference_op;
  StatusOr<GeneratedCudaKernel> (*render)(const CudaKernelDesc& desc);
};
const std::vector<CudaKindInfo>& CudaKinds();
const CudaKindInfo& GetCudaKindInfo(CudaKind kind);

/// Renders `desc` through the table (checks the shapes; an error names the kind).
StatusOr<GeneratedCudaKernel> RenderCudaKind(const CudaKernelDesc& desc);

/// The kernel's argument for RenderCudaKind's kernels: the input pointers, then the
/// output pointers, 8 bytes each (device pointers on a GPU, host pointers in emulation).
std::vector<uint64_t> PackPointerArgs(const std::vector<uint64_t>& inputs, const std::vector<uint64_t>& outputs);

// The renderers (one per family file), reached through CudaKinds().
StatusOr<GeneratedCudaKernel> RenderSoftmaxKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderReduceKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderBatchNormStatsKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderSoftmaxCrossEntropyKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderPoolKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderMaxPoolGradKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderTransposeKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderConcatKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderSliceKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderGatherKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderMatMulKernel(const CudaKernelDesc& desc);  // kMatMul, kGemm, kFusedMatMul
StatusOr<GeneratedCudaKernel> RenderConvKernel(const CudaKernelDesc& desc);    // kConv, kFusedConv
StatusOr<GeneratedCudaKernel> RenderCopyKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderConvGradInputKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderConvGradWeightKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderOptimizerUpdateKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderCounterAddKernel(const CudaKernelDesc& desc);
StatusOr<GeneratedCudaKernel> RenderDropoutKernel(const CudaKernelDesc& desc);

namespace kinds_internal {
/// Shared by the family files: the kernel's name (kind + hash of the description),
/// the common prelude (block reductions, helpers) and the argument struct + signature.
std::string KernelName(const CudaKernelDesc& desc);
std::string Prelude();
std::string Signature(const std::string& name, int num_inputs, int num_outputs, const std::string& comment);
std::string Int(int64_t v);                        // a long long literal
std::string Describe(const CudaKernelDesc& desc);  // the description as text (source comment, hashed into the name)
/// The struct the family files return.
GeneratedCudaKernel Finish(std::string name, std::string source, int num_inputs, std::vector<Dims> outputs,
                           CudaLaunch launch);
/// 256-thread blocks over `total` elements (a grid-stride loop past 4096 blocks).
CudaLaunch ElementwiseLaunch(int64_t total);
/// The head of a grid-stride loop over `total` elements; the body sees `e`.
std::string ElementLoop(int64_t total);
/// Code adding `index` unflattened over `dims` (row-major), each index times its stride, to `var`.
std::string OffsetCode(const std::string& var, const std::string& index, const Dims& dims, const Dims& strides);
Dims RowMajor(const Dims& dims);

}  // namespace kinds_internal

}  // namespace kiln::cuda
