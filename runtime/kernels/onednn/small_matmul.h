// Products with few rows (batch-1 and small-batch MatMul, FusedMatMul and Gemm over
// constant weights), written on GCC vector types (small_matmul.cc): kernel family "gemv".
//
// At a few rows a product is a stream over its weights: each weight is used once per row,
// so its cost is reading B. oneDNN's matmul reads B in its plain layout and, at M = 1,
// spends 56 us on MLP 784x512 on one core (39 us on two). This kernel packs B once, when
// the kernel is built, into panels of whole vectors that it then reads front to back, and
// splits the panels over the threads in fixed shares (each core keeps its share of B in its
// own cache from run to run) when the product is big enough to repay waking them
// (OneDnnKernelRunsOnOneThread's rule). The compiler picks between this kernel and
// oneDNN's per product (compiler/backends/cpu/kernel_choice.h).
//
// The same file holds the blocked product for many rows, kernel family "sgemm": B packed
// once into panels of one vector's columns, blocks of A's rows copied per run, and the
// register tiles of panel_product.h (Kiln's own convolutions' product) over slices of the
// depth that keep a pair of panels in L1. Where B is a constant it never repacks B per run,
// as oneDNN's matmul does (MatMul 2048^3: 83-84% of the FMA peak on 2 AMD EPYC Zen 3 cores).
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"              // kBlockedProductKernel
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel

namespace kiln::runtime::onednn {

/// The most rows (M, with a MatMul's batch dimensions folded in) the compiler offers the
/// kernel for; it computes any M, but beyond a few dozen rows oneDNN's blocked products win.
constexpr int64_t kSmallMatMulMaxRows = 32;

/// Why the kernel cannot run `spec` ("" when it can), from dims, dtypes, attributes and
/// which inputs are plan constants (spec.constant_inputs; no data needed): B must be a
/// 2-D (or 1-D) float32 constant, every tensor plain, a bias or Gemm's C per column or
/// of the output's shape.
std::string SmallMatMulUnsupportedReason(const KernelSpec& spec);
/// The deepest product (K) the blocked kernel takes: a share copies blocks of 192 rows of A
/// whole, 13 MiB at this depth.
constexpr int64_t kBlockedMatMulMaxDepth = 16384;
/// Why "sgemm" cannot run `spec` ("" when it can): SmallMatMulUnsupportedReason's, or a
/// depth past kBlockedMatMulMaxDepth.
std::string BlockedMatMulUnsupportedReason(const KernelSpec& spec);
/// The rows (M) of the product `spec` describes (its batch dimensions folded in); 0 when
/// SmallMatMulUnsupportedReason refuses it.
int64_t SmallMatMulRows(const KernelSpec& spec);

/// The kernel at instruction set `level` (tests run every level the CPU has); the
/// registered "gemv" and "sgemm" factories use BestSimdLevel(). `blocked`: the "sgemm" kernel.
StatusOr<std::unique_ptr<Kernel>> BuildSmallMatMul(const KernelSpec& spec, SimdLevel level, bool blocked = false);

void RegisterSmallMatMulKernels(KernelRegistry& r);

}  // namespace kiln::runtime::onednn
