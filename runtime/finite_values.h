// Which values of a plan are finite in every run until a kernel reports a NaN or +-Inf
// (ExecEnv::nonfinite_seen), so that the oneDNN kernels' non-finite check (they scan their
// inputs: oneDNN's Relu, Clip, Max, MaxPool and post-ops drop NaN) reads each activation
// once, where it enters the plan, instead of at every step. ResNet-50 at batch 64 spent a
// tenth of its run in those scans, a CNN training step 6%.
//
// A value is finite when it is a finite constant, when the kernel that wrote it checked its
// own outputs, or when its op keeps finite values finite (KeepsFiniteValues) and every input
// of that step was finite or checked by the step's kernel. Overflow is the exception: a
// convolution of finite values may sum to +-Inf. That is the limit the oneDNN path already
// has (docs/reliability.md); NaN and Inf that enter through a graph input, a state or an op
// outside the list (Div, Log, Exp, ...) are still found where they enter.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "runtime/kernel.h"

namespace kiln::runtime {

/// Whether `op` (with `attrs`) computes finite outputs from finite inputs, barring overflow,
/// whatever kernel runs it.
bool KeepsFiniteValues(const std::string& op, const Attrs& attrs);

/// Whether none of the `n` floats at `data` is NaN or +-Inf (one vectorized pass: AVX2 where
/// the CPU has it).
bool FiniteFloats(const void* data, int64_t n);

/// Whether every float32 element of `t` is finite (other dtypes, or no data: true).
bool HoldsFiniteValues(const TensorRef& t);

/// Tracks the plan's buffers through its steps, in order: Before(step) fills the step's
/// spec.finite_inputs, After(step) marks its outputs once its kernel is built.
class FiniteValues {
 public:
  /// `host_constant[i]`: buffer i is a plan constant in host memory, bound to its data in
  /// `buffers[i]` (read when a step first reads it). Other buffers start unknown: a device
  /// constant is never read from the host.
  FiniteValues(const std::vector<TensorRef>* buffers, const std::vector<bool>& host_constant);
  void Before(const std::vector<int>& inputs, KernelSpec& spec);
  void After(const std::vector<int>& inputs, const std::vector<int>& outputs, const KernelSpec& spec,
             const Kernel& kernel);
  /// Whether buffer `buffer` holds finite values as far as the steps so far tell.
  bool finite(int buffer);

 private:
  const std::vector<TensorRef>* buffers_;
  std::vector<signed char> known_;  // -1 not yet known (host constants), 0 no, 1 yes
};

}  // namespace kiln::runtime
