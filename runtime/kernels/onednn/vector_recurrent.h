// RNN, GRU and LSTM forward for small batches, and LSTM's backward, on the calling
// thread, written on GCC vector types (vector_recurrent.cc). oneDNN's RNN primitive
// splits each of the T steps' [N, H] x [H, G*H] products over the threads; at a
// small batch every step then costs a fork/join, and its brgemm cells are sized for
// larger products. These kernels compute the input projection of all T steps as one
// product, then per step only the recurrent product and the gates, with the weights
// repacked once when they are plan constants and no allocation per run. LSTMGrad
// recomputes the forward keeping what the backward reads, then runs back through
// time with one product per step; the weight gradients are three products at the end.
#pragma once

#include <memory>

#include "ir/core/ops/recurrent.h"
#include "runtime/kernel.h"

namespace kiln::runtime::onednn {

/// The instruction sets the kernel has code for; tests run every one the CPU has.
enum class SimdLevel { kGeneric, kAvx2, kAvx512 };
bool CpuHas(SimdLevel level);
/// The widest level this CPU runs.
SimdLevel BestSimdLevel();

/// Up to this batch, a forward node runs on this kernel rather than oneDNN's primitive
/// (measured on LSTM/GRU 128, seq 32: docs/benchmarks.md, "Recurrent models").
constexpr int64_t kSmallBatch = 8;
inline bool UseVectorForward(const recurrent::Geometry& g) { return g.batch <= kSmallBatch; }

/// The kernel for a forward RNN/GRU/LSTM node whose cell the caller checked it computes:
/// ONNX's default activations (RNN: Tanh, Relu or Sigmoid), no clip, no input_forget,
/// no sequence_lens. Every direction, layout, initial state and peepholes.
StatusOr<std::unique_ptr<Kernel>> BuildVectorRecurrent(const recurrent::Geometry& g, const KernelSpec& spec,
                                                       SimdLevel level);
/// The kernel for an LSTMGrad node under the same conditions, without peepholes
/// (Unimplemented for those and for other ops). Every direction, layout and initial state.
StatusOr<std::unique_ptr<Kernel>> BuildVectorLstmGrad(const recurrent::Geometry& g, const KernelSpec& spec,
                                                      SimdLevel level);

}  // namespace kiln::runtime::onednn
