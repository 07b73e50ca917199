// Where more than one kernel family can run a step, which one it gets: the products
// (MatMul, FusedMatMul, Gemm) with constant weights, which oneDNN's matmul ("onednn"), the
// small-product kernel ("gemv", few rows) and the blocked product ("sgemm", from 9 rows)
// run; small channels-last convolutions, which oneDNN and the direct convolution ("dconv")
// run; 3x3 convolutions, which oneDNN runs directly ("onednn") or by Winograd ("winograd"),
// as Kiln's Winograd does ("wino23"); strided convolutions, which Kiln's gathered-rows
// product ("im2col") runs too; and the weight gradients of stride-1 convolutions with many
// taps, which Kiln's product over padded images ("wgrad") runs too. The candidates are timed
// once here, at compile time, and the winner cached on disk, keyed by the CPU model, its
// instruction-set limit, the thread count, the product's shapes and attributes and the
// candidate set. Without timing (KILN_KERNEL_TIMING=0; tests) a fixed rule decides.
//
//   KILN_KERNEL_TIMING=0      no timing, no cache: the rule
//   KILN_KERNEL_CACHE_DIR=D   the cache folder (default ~/.cache/kiln/kernels; created)
//   KILN_KERNEL_CACHE=0       time on every compile, read and write no cache
//   KILN_WINOGRAD=0           never offer "winograd" or "wino23" (the direct algorithm's rounding)
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln {

struct KernelChoice {
  std::string kernel;  // the kernel family ("onednn", "gemv", ...)
  /// Why, where there was a choice ("" where only `kernel` could run the step): starts with
  /// "measured", "cached" or "rule" (proto::Step::kernel_reason; kiln dump, kiln bench --profile).
  std::string reason;
};

/// The family for `node`, given `lowered`, the one lowering picks without alternatives.
/// `plan_constant_bytes`: all of the plan's constants; where they exceed what stays cached
/// between runs (runtime::CachedConstantBytes) Winograd and the direct convolution are
/// timed with cold weights.
KernelChoice ChooseKernel(const Node& node, const std::string& lowered, int64_t plan_constant_bytes);

/// Up to this many rows "gemv" runs without timing: it won every such product measured
/// (quiet and busy, 1 and 2 threads, AVX-512 and AVX2), and on a busy machine a timing of
/// oneDNN's OpenMP kernel can be lucky (MLP 784x512: cached 12.8 us against gemv's 17,
/// then 1.5 ms per run): docs/design-notes.md, "Kernel choice by measurement".
constexpr int64_t kSmallProductSureRows = 4;
/// The rule without timing (KILN_KERNEL_TIMING=0): "gemv" up to this many rows.
constexpr int64_t kSmallProductRuleRows = 8;
/// The rule for small convolutions without timing: the direct convolution "dconv" up to
/// this many input channels (where oneDNN's channel blocks are mostly padding).
constexpr int64_t kSmallConvRuleChannels = 4;

}  // namespace kiln
