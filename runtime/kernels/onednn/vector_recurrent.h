// RNN, GRU and LSTM forward, and LSTM's and GRU's backward, written on GCC vector types
// (vector_recurrent.cc), where they beat oneDNN's RNN primitives (UseVectorKernel).
// oneDNN's primitive splits each of the T steps' [N, H] x [H, G*H] products over the
// threads: at a small batch every step then costs a fork/join, and its brgemm cells
// are sized for larger products. These kernels compute the input projection of all T
// steps as one product, then per step only the recurrent product and the gates, with
// the batch rows split over the threads once per run (the rows are independent), the
// weights repacked once when they are plan constants and no allocation per run.
// LSTM writes its workspace when LSTMGrad reads it (recurrent.h); LSTMGrad reads that
// (or recomputes the forward into its own), then runs back through time with one
// product per step; the weight gradients are products at the end. GRUGrad recomputes
// the forward, recording what its backward reads, then does the same.
#pragma once

#include <memory>

#include "ir/core/ops/recurrent.h"
#include "runtime/kernel.h"
#include "runtime/kernels/onednn/simd_level.h"

namespace kiln::runtime::onednn {

/// Where these kernels run rather than oneDNN's primitives (measured, docs/benchmarks.md,
/// "Recurrent models"): up to batch kSmallBatch always (LSTM 512 at batch 1: 2.0 vs
/// 4.2 ms), and at any batch while one direction's R fits kVectorWeightBytes, a typical
/// L2 (LSTM/GRU 128 at batch 64 on 2 threads: 12.0 vs 13.0 ms, 8.4 vs 10.4 ms; LSTM 512,
/// R 4 MiB, at batch 64: 118 vs 113 ms).
constexpr int64_t kSmallBatch = 8;
constexpr int64_t kVectorWeightBytes = 1 << 20;
inline bool UseVectorKernel(const recurrent::Geometry& g) {
  const int64_t r_bytes = recurrent::NumGates(g.kind) * g.hidden * g.hidden * 4;
  return g.batch <= kSmallBatch || r_bytes <= kVectorWeightBytes;
}

/// The kernel for a forward RNN/GRU/LSTM node whose cell the caller checked it computes:
/// ONNX's default activations (RNN: Tanh, Relu or Sigmoid), no clip, no input_forget,
/// no sequence_lens. Every direction, layout, initial state and peepholes.
StatusOr<std::unique_ptr<Kernel>> BuildVectorRecurrent(const recurrent::Geometry& g, const KernelSpec& spec,
                                                       SimdLevel level);
/// The kernel for an LSTMGrad (without peepholes) or GRUGrad node under the same conditions
/// (Unimplemented for peepholes and RNNGrad). Every direction, layout and initial state.
StatusOr<std::unique_ptr<Kernel>> BuildVectorRecurrentGrad(const recurrent::Geometry& g, const KernelSpec& spec,
                                                           SimdLevel level);

}  // namespace kiln::runtime::onednn
