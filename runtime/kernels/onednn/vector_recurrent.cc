// RNN / GRU / LSTM forward and LSTM backward, each thread on its share of the batch
// rows (see the header for when and why). Forward, per direction:
//
//   1. gates_x = X W^T + bias for all T*N rows at once (one product, W reused
//      across the rows), or step by step just before 2. where W is small (RunDirection);
//   2. per step t: gates_x[t] += h R^T (in place), then the cell's elementwise
//      update of h (and c), written to Y.
//
// Weights are repacked transposed, [K][G*Hp], each gate padded to Hp (a multiple
// of 16 floats), so every product and elementwise loop runs on whole vectors; the
// padded columns are zeros and never reach an output. The loops are written once
// on GCC vector types (template on the vector width) and compiled for AVX-512,
// AVX2+FMA and plain x86-64, picked by the CPU when the kernel is built.
//
// LSTM's forward also writes its workspace when LSTMGrad reads it (recurrent.h: every
// step's gate pre-activations, new cell state and previous h). LSTM backward (LSTMGrad),
// per direction: that workspace (or, without one, the forward run again to fill the
// kernel's own); then from the last step back, the gates' gradients dA (in gates_x) and
// dh_prev = dA R, and at the end dW = dA^T X, dR = dA^T H_prev, dB = sum dA and
// dX = dA W as three products over all T*N rows. GRU backward (GRUGrad) runs the forward
// again, recording each step's previous h (and linear-before-reset's h R_h^T + Rb_h), then
// the same scheme; its candidate gate's recurrent side differs (GruRecord below).
#include "runtime/kernels/onednn/vector_recurrent.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "runtime/kernels/onednn/simd_vec.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

using recurrent::Activation;
using recurrent::CellKind;
using recurrent::Geometry;

constexpr int64_t kPad = 16;  // floats: one AVX-512 vector
// Batch rows per thread at least: fewer, and a thread's steps are too short to pay its start.
constexpr int64_t kMinRowsPerThread = 4;
// Hidden units per thread at least where threads split a step's units (ParallelUnits): one
// matrix-vector block of the widest vectors (MatMul's kVecs1 x W).
constexpr int64_t kMinUnitsPerPart = 64;
// RunDirection's input projection runs step by step from this many rows of a share and up to
// this size of W^T (measured there).
constexpr int64_t kMinRowsPerStepProjection = 8;
constexpr int64_t kMaxStepProjectionBytes = 64 << 10;
int64_t Padded(int64_t n) { return (n + kPad - 1) / kPad * kPad; }
// The packed weights' row stride: a cache line past the gates' columns. A product reads a
// vector or two from each of 64 rows in turn; at a stride of a multiple of 4 KiB (LSTM 128:
// 4 x 128 floats is 2 KiB, every other row in the same L1 set) those rows shared two L1 sets
// and came from L2 on every pass (LSTM 128 at batch 64, AMD EPYC Zen 3: 55% of the peak).
int64_t WeightStride(int64_t cols) { return cols + kPad; }

// What one Run of one direction reads and writes; strides in floats.
struct Problem {
  CellKind kind;
  Activation::Kind rnn_activation;  // RNN only
  bool linear_before_reset;
  int64_t T, N, I, H, Hp, cols;  // cols = gates * Hp
  bool reverse, batch_first;
  int64_t directions, d;
  int64_t n0, n1;                         // the batch rows this call computes (one thread's share)
  const float *x, *h0, *c0;               // user tensors (null when absent)
  float *y, *yh, *yc;                     // user tensors (null when absent)
  const float *wt, *rt, *bias, *rb_cand;  // packed: [I][wld], [H][wld], [cols], [Hp] (lbr GRU)
  int64_t wld;                            // wt's and rt's row stride: cols + kPad (WeightStride)
  const float* peep;                      // packed [3][Hp] (i, o, f) or null
  float *gx, *h, *c, *aux;                // scratch: [T*N][gld], [N][Hp], [N][Hp], [N][Hp]
  // gx's row stride: cols, or the workspace's when LSTM's forward computes the gates in it.
  int64_t gld;
  // LSTM's workspace of this direction (null: none), rows as X's, kWorkspaceParts * H floats each.
  float* ws;
  // GRU's record for its backward (null: none), rows as gx's, GruRecord's kParts * Hp floats each.
  float* rec;
  // Row of X / gates_x of step time t, batch row n: X is [T, N, I] or [N, T, I].
  int64_t row(int64_t t, int64_t n) const { return batch_first ? n * T + t : t * N + n; }
  // Offset of batch row n in a state tensor [D, N, H] or [N, D, H], and of (t, n) in Y.
  int64_t state_at(int64_t n) const { return (batch_first ? n * directions + d : d * N + n) * H; }
  int64_t y_at(int64_t t, int64_t n) const {
    return batch_first ? ((n * T + t) * directions + d) * H : ((t * directions + d) * N + n) * H;
  }
  // Floats between the gates_x rows of two batch rows of one step.
  int64_t gate_stride() const { return batch_first ? T * gld : gld; }
  // Part `part` (recurrent::WorkspacePart) of the workspace row of (t, n).
  float* ws_at(int64_t t, int64_t n, int part) const {
    return ws + (row(t, n) * recurrent::kWorkspaceParts + part) * H;
  }
  // Part `part` (GruRecord) of the record row of (t, n), and the floats between two batch rows'.
  float* rec_at(int64_t t, int64_t n, int part) const;
  int64_t rec_stride() const;
};

// What GRU's forward records for its backward, per row (padded, kernel-internal):
//   kPrevH: the step's previous h;
//   kAux:   linear-before-reset: u = h R_h^T + Rb_h (the candidate's recurrent term), which the
//           backward then overwrites with du = dA_h * r, the gradient R_h and Rb_h see;
//           otherwise written by the backward: r * h_prev, the left operand of dR_h.
struct GruRecord {
  enum Part { kPrevH = 0, kAux = 1 };
  static constexpr int kParts = 2;
};
float* Problem::rec_at(int64_t t, int64_t n, int part) const {
  return rec + (row(t, n) * GruRecord::kParts + part) * Hp;
}
int64_t Problem::rec_stride() const { return (batch_first ? T : 1) * GruRecord::kParts * Hp; }

// ---- Loops on vectors of W floats ----

// c[r][j] (r < kRows, j < kVecs * W) = (init ? init[j] : c[r][j]) + sum_p a[r][p] b[p][j],
// a[r][p] at a[r * lda + p * a_step]. c is added after the sum, not loaded before it: a
// step's gates, projected long before, come from L3, and the FMA chains waited for them at
// every block (LSTM 128 batch 64 1-3% faster in five alternating pairs, EPYC Zen 3).
template <int W, int kRows, int kVecs>
KILN_INLINE void Block(const float* a, int64_t lda, int64_t a_step, int64_t k, const float* b, int64_t ldb, float* c,
                       int64_t ldc, const float* init) {
  using V = FloatVec<W>;
  V acc[kRows][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) acc[r][v] = init ? LoadVec<W>(init + v * W) : V{};
  }
  for (int64_t p = 0; p < k; ++p) {
    V bv[kVecs];
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) bv[v] = LoadVec<W>(b + p * ldb + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const V ar = Broadcast<W>(a[r * lda + p * a_step]);
#pragma GCC unroll 16
      for (int v = 0; v < kVecs; ++v) acc[r][v] += ar * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v)
      StoreVec<W>(c + r * ldc + v * W, init ? acc[r][v] : acc[r][v] + LoadVec<W>(c + r * ldc + v * W));
  }
}

// One instruction set's block shapes: kRows x kVecs vectors for many rows, 1 x kVecs1 for one
// row (a matrix-vector product: more independent accumulators per row).
// kDepth: MatMul's slices of k (below). AVX2's 4 x 3 blocks (12 accumulators; 4 x 2 left
// the FMA chains short of work) and whole 128-deep slices (its b block 12 KiB) ran LSTM 128
// at batch 64 in 3.7-4.1 against 4.1-4.3 ms (AMD EPYC Zen 3, 2 threads).
struct Avx512Shape {
  static constexpr int W = 16, kRows = 6, kVecs = 4, kVecs1 = 8;
  static constexpr int64_t kDepth = 64;
};
struct Avx2Shape {
  static constexpr int W = 8, kRows = 4, kVecs = 3, kVecs1 = 8;
  static constexpr int64_t kDepth = 128;
};
struct GenericShape {
  static constexpr int W = 4, kRows = 2, kVecs = 2, kVecs1 = 4;
  static constexpr int64_t kDepth = 64;
};

// kRows-row blocks of kVecs vectors' columns [0, n) of c; the last rows in one pass.
template <class S, int kVecs, int kRows>
KILN_INLINE void Columns(const float* a, int64_t lda, int64_t a_step, int64_t m, int64_t k, const float* b, int64_t ldb,
                         float* c, int64_t ldc, const float* init) {
  constexpr int W = S::W, R = kRows;
  int64_t i = 0;
  for (; i + R <= m; i += R) Block<W, R, kVecs>(a + i * lda, lda, a_step, k, b, ldb, c + i * ldc, ldc, init);
  for (; i + 4 <= m && R > 4; i += 4) Block<W, 4, kVecs>(a + i * lda, lda, a_step, k, b, ldb, c + i * ldc, ldc, init);
  const int64_t left = m - i;
  if constexpr (R > 2) {
    if (left == 3) return Block<W, 3, kVecs>(a + i * lda, lda, a_step, k, b, ldb, c + i * ldc, ldc, init);
  }
  if constexpr (R > 2) {
    if (left == 2) return Block<W, 2, kVecs>(a + i * lda, lda, a_step, k, b, ldb, c + i * ldc, ldc, init);
  }
  if (left == 1) Block<W, 1, kVecs>(a + i * lda, lda, a_step, k, b, ldb, c + i * ldc, ldc, init);
}
// c = (init ? init : c) + a b: a [m][k] (a[i][p] at a[i * lda + p * a_step]), b [k][n] (row
// stride ldb), c [m][n] (ldc), init [n] or null; n a multiple of W. Column blocks outside the
// rows, so a block of b stays in cache across the rows; a long k (the weight gradients' T*N)
// in slices of S::kDepth, each added to c, so that the block of b stays in L1 too: 64 rows x 4
// vectors are 16 KiB (256 rows were 64 KiB, past a 48 KiB L1, and streamed from L2 for every
// row block). With 6-row blocks on AVX-512 the LSTM-128 training step (batch 64) ran 4% faster,
// its weight gradients' products 15-30% (docs/benchmarks.md); inference alike within noise.
template <class S>
KILN_INLINE void MatMul(const float* a, int64_t lda, int64_t a_step, int64_t m, int64_t k, const float* b, int64_t ldb,
                        int64_t n, float* c, int64_t ldc, const float* init) {
  constexpr int W = S::W;
  // One row (a matrix-vector product): wider blocks, more independent accumulators.
  constexpr int V = S::kVecs, V1 = S::kVecs1;
  const int wide = m == 1 ? V1 : V;
  for (int64_t p0 = 0; p0 < k || p0 == 0; p0 += S::kDepth) {
    const int64_t depth = std::min(S::kDepth, k - p0);
    const float *ap = a + p0 * a_step, *bp = b + p0 * ldb;
    const float* start = p0 == 0 ? init : nullptr;  // later slices add to c
    int64_t j = 0;
    for (; j + wide * W <= n; j += wide * W) {
      const float* in = start ? start + j : nullptr;
      if (m == 1) {
        Block<W, 1, V1>(ap, lda, a_step, depth, bp + j, ldb, c + j, ldc, in);
      } else {
        Columns<S, V, S::kRows>(ap, lda, a_step, m, depth, bp + j, ldb, c + j, ldc, in);
      }
    }
    // Narrow columns (a sum over the gates, dX = dA W): one vector, twice the rows.
    for (; j < n; j += W) {
      Columns<S, 1, 2 * S::kRows>(ap, lda, a_step, m, depth, bp + j, ldb, c + j, ldc, start ? start + j : nullptr);
    }
  }
}

// Sigmoid and tanh as rational functions of x^2 (the minimax fits of Eigen and of ONNX
// Runtime's MLAS): 11 multiply-adds and one division, where exp's range reduction and
// polynomial took 18 operations and a division: the cells of LSTM 128 at batch 64 (5
// activations per unit) ran 30% faster, the whole LSTM 4-6% (EPYC Zen 3). At most 2.1e-7
// (sigmoid) and 3.3e-7 (tanh) from the exact values; the results are clamped to [0, 1] and
// [-1, 1], which the fits overshoot by up to 2 ulp. NaN stays NaN.
template <int W>
KILN_INLINE FloatVec<W> Sigmoid(const FloatVec<W>& in) {
  using V = FloatVec<W>;
  const V x = Clamp<W>(in, -18.0f, 18.0f), x2 = x * x;  // saturated in float beyond 18
  const V num = Polynomial<W>(x2, 4.37031012579801e-11f, 1.15627324459942e-07f, 6.08574864600143e-05f,
                              8.51377133304701e-03f, 2.48287947061529e-01f);
  const V den = Polynomial<W>(x2, 6.10247389755681e-13f, 5.76102136993427e-09f, 6.29106785017040e-06f,
                              1.70198817374094e-03f, 1.16817656904453e-01f, 9.93151921023180e-01f);
  return Clamp<W>(num * x / den + 0.5f, 0.0f, 1.0f);
}
template <int W>
KILN_INLINE FloatVec<W> Tanh(const FloatVec<W>& in) {
  using V = FloatVec<W>;
  const V x = Clamp<W>(in, -9.0f, 9.0f), x2 = x * x;  // saturated in float beyond 9
  const V num =
      Polynomial<W>(x2, -2.76076847742355e-16f, 2.00018790482477e-13f, -8.60467152213735e-11f, 5.12229709037114e-08f,
                    1.48572235717979e-05f, 6.37261928875436e-04f, 4.89352455891786e-03f);
  const V den =
      Polynomial<W>(x2, 1.19825839466702e-06f, 1.18534705686654e-04f, 2.26843463243900e-03f, 4.89352518554385e-03f);
  return Clamp<W>(num * x / den, -1.0f, 1.0f);
}
template <int W>
KILN_INLINE FloatVec<W> Relu(const FloatVec<W>& x) {
  return x > Broadcast<W>(0.0f) ? x : Broadcast<W>(0.0f);
}

// ---- One direction ----

// The cell update of one batch row for hidden units [j0, j1) (whole vectors): g its gates'
// pre-activations at this step, h_in its previous h, c its cell state (in place), aux its
// GRU product (linear-before-reset); the new h into h_out (h_in's buffer, or the other of two
// where threads split the units: ParallelUnitsDirection).
template <class S>
KILN_INLINE void UpdateCells(const Problem& p, float* g, const float* h_in, float* h_out, float* c, const float* aux,
                             int64_t j0, int64_t j1, bool record) {
  constexpr int W = S::W;
  using V = FloatVec<W>;
  const int64_t Hp = p.Hp;
  if (p.kind == CellKind::kLstm && !p.peep && !record) {
    // The gates' activations first, one exp an iteration (i, o, f in one loop: contiguous),
    // then the cell: the out-of-order window then spans several iterations' chains, where one
    // iteration of all five exps and the cell's math filled it alone (LSTM 128 at batch 64,
    // EPYC Zen 3: 0.57 -> 0.45 ms of a thread's 3.7).
    for (int k = 0; k < 3; ++k) {
      for (int64_t j = j0; j < j1; j += W) StoreVec<W>(g + k * Hp + j, Sigmoid<W>(LoadVec<W>(g + k * Hp + j)));
    }
    for (int64_t j = j0; j < j1; j += W) StoreVec<W>(g + 3 * Hp + j, Tanh<W>(LoadVec<W>(g + 3 * Hp + j)));
    for (int64_t j = j0; j < j1; j += W) {
      const V cell = LoadVec<W>(g + 2 * Hp + j) * LoadVec<W>(c + j) + LoadVec<W>(g + j) * LoadVec<W>(g + 3 * Hp + j);
      StoreVec<W>(c + j, cell);
      StoreVec<W>(h_out + j, LoadVec<W>(g + Hp + j) * Tanh<W>(cell));
    }
    return;
  }
  for (int64_t j = j0; j < j1; j += W) {
    V next{};
    switch (p.kind) {
      case CellKind::kRnn: {
        const V pre = LoadVec<W>(g + j);
        next = p.rnn_activation == Activation::kTanh      ? Tanh<W>(pre)
               : p.rnn_activation == Activation::kSigmoid ? Sigmoid<W>(pre)
                                                          : Relu<W>(pre);
        break;
      }
      case CellKind::kGru: {  // gates z, r, h
        const V z = Sigmoid<W>(LoadVec<W>(g + j)), hv = LoadVec<W>(h_in + j);
        V pre = LoadVec<W>(g + 2 * Hp + j);
        if (p.linear_before_reset) pre += Sigmoid<W>(LoadVec<W>(g + Hp + j)) * LoadVec<W>(aux + j);
        next = (1.0f - z) * Tanh<W>(pre) + z * hv;
        break;
      }
      case CellKind::kLstm: {  // gates i, o, f, c; peepholes i, o, f
        const V cv = LoadVec<W>(c + j);
        V pi = LoadVec<W>(g + j), po = LoadVec<W>(g + Hp + j), pf = LoadVec<W>(g + 2 * Hp + j);
        if (p.peep) {
          pi += LoadVec<W>(p.peep + j) * cv;
          pf += LoadVec<W>(p.peep + 2 * Hp + j) * cv;
        }
        const V i = Sigmoid<W>(pi), f = Sigmoid<W>(pf), cand = Tanh<W>(LoadVec<W>(g + 3 * Hp + j));
        const V cell = f * cv + i * cand;
        if (p.peep) po += LoadVec<W>(p.peep + Hp + j) * cell;
        const V o = Sigmoid<W>(po);
        StoreVec<W>(c + j, cell);
        next = o * Tanh<W>(cell);
        if (record && p.peep) {  // the workspace keeps pre-activations with the peephole terms
          StoreVec<W>(g + j, pi);
          StoreVec<W>(g + Hp + j, po);
          StoreVec<W>(g + 2 * Hp + j, pf);
        }
        break;
      }
    }
    StoreVec<W>(h_out + j, next);
  }
}

// h and c of the share's rows from h0 and c0 (zeros where absent; the padding stays zero).
void InitState(const Problem& p) {
  const int64_t H = p.H, Hp = p.Hp;
  for (int64_t n = p.n0; n < p.n1; ++n) {
    std::memset(p.h + n * Hp, 0, Hp * sizeof(float));
    std::memset(p.c + n * Hp, 0, Hp * sizeof(float));
    if (p.h0) std::memcpy(p.h + n * Hp, p.h0 + p.state_at(n), H * sizeof(float));
    if (p.c0) std::memcpy(p.c + n * Hp, p.c0 + p.state_at(n), H * sizeof(float));
  }
}
// The last h (in `h`) and c of the share's rows into Y_h and Y_c (where asked for).
void FinalState(const Problem& p, const float* h) {
  for (int64_t n = p.n0; n < p.n1; ++n) {
    if (p.yh) std::memcpy(p.yh + p.state_at(n), h + n * p.Hp, p.H * sizeof(float));
    if (p.yc) std::memcpy(p.yc + p.state_at(n), p.c + n * p.Hp, p.H * sizeof(float));
  }
}

template <class S>
KILN_INLINE void RunDirection(const Problem& p) {
  constexpr int W = S::W;
  const int64_t T = p.T, H = p.H, Hp = p.Hp, cols = p.cols, gld = p.gld;
  const bool record = p.ws != nullptr;
  const bool in_place = record && p.gx == p.ws;  // the gates are computed in the workspace
  const int64_t n0 = p.n0, rows = p.n1 - p.n0;
  // The input projection: per step, just before the step's recurrent product reads its rows
  // (still in L1/L2 then) where W is small and the share has rows enough (LSTM 128 on
  // Fashion-MNIST rows, I = 28, 32 rows: its forward 1.56-1.59 -> 1.45-1.54 ms); else at
  // once for all steps (with I = 128, W^T 256 KiB, per step was 2-20% slower).
  const bool per_step = rows >= kMinRowsPerStepProjection && p.I * cols * 4 <= kMaxStepProjectionBytes;
  if (!per_step) {
    if (p.batch_first || rows == p.N) {  // the share's rows are contiguous (n * T + t, or all)
      MatMul<S>(p.x + p.row(0, n0) * p.I, p.I, 1, rows * T, p.I, p.wt, p.wld, cols, p.gx + p.row(0, n0) * gld, gld,
                p.bias);
    } else {
      for (int64_t t = 0; t < T; ++t) {
        MatMul<S>(p.x + p.row(t, n0) * p.I, p.I, 1, rows, p.I, p.wt, p.wld, cols, p.gx + p.row(t, n0) * gld, gld,
                  p.bias);
      }
    }
  }
  InitState(p);
  const int64_t gate_stride = p.gate_stride();
  const int64_t x_stride = (p.batch_first ? T : 1) * p.I;  // between two batch rows' x of one step
  for (int64_t step = 0; step < T; ++step) {
    const int64_t t = p.reverse ? T - 1 - step : step;
    float* g0 = p.gx + p.row(t, 0) * gld;
    if (per_step) {
      MatMul<S>(p.x + p.row(t, n0) * p.I, x_stride, 1, rows, p.I, p.wt, p.wld, cols, g0 + n0 * gate_stride, gate_stride,
                p.bias);
    }
    if (record) {
      for (int64_t n = n0; n < p.n1; ++n) {
        std::memcpy(p.ws_at(t, n, recurrent::kWsPrevH), p.h + n * Hp, H * sizeof(float));
      }
    }
    if (p.rec) {
      for (int64_t n = n0; n < p.n1; ++n)
        std::memcpy(p.rec_at(t, n, GruRecord::kPrevH), p.h + n * Hp, Hp * sizeof(float));
    }
    // Recurrent product into the step's gates (GRU: z and r only; its candidate below).
    const int64_t recurrent_cols = p.kind == CellKind::kGru ? 2 * Hp : cols;
    MatMul<S>(p.h + n0 * Hp, Hp, 1, rows, H, p.rt, p.wld, recurrent_cols, g0 + n0 * gate_stride, gate_stride, nullptr);
    if (p.kind == CellKind::kGru && p.linear_before_reset) {  // aux = h R_h^T + Rb_h
      MatMul<S>(p.h + n0 * Hp, Hp, 1, rows, H, p.rt + 2 * Hp, p.wld, Hp, p.aux + n0 * Hp, Hp, p.rb_cand);
      for (int64_t n = n0; n < p.n1 && p.rec; ++n) {
        std::memcpy(p.rec_at(t, n, GruRecord::kAux), p.aux + n * Hp, Hp * sizeof(float));
      }
    }
    if (p.kind == CellKind::kGru && !p.linear_before_reset) {  // aux = r * h, then its product
      for (int64_t n = n0; n < p.n1; ++n) {
        const float* g = g0 + n * gate_stride;
        for (int64_t j = 0; j < Hp; j += W) {
          StoreVec<W>(p.aux + n * Hp + j, Sigmoid<W>(LoadVec<W>(g + Hp + j)) * LoadVec<W>(p.h + n * Hp + j));
        }
      }
      MatMul<S>(p.aux + n0 * Hp, Hp, 1, rows, H, p.rt + 2 * Hp, p.wld, Hp, g0 + n0 * gate_stride + 2 * Hp, gate_stride,
                nullptr);
    }
    for (int64_t n = n0; n < p.n1; ++n) {
      float* g = g0 + n * gate_stride;
      float* h = p.h + n * Hp;
      float* c = p.c + n * Hp;
      UpdateCells<S>(p, g, h, h, c, p.aux + n * Hp, 0, Hp, record);
      if (p.y) std::memcpy(p.y + p.y_at(t, n), h, H * sizeof(float));
      if (record) {
        if (!in_place) {
          for (int k = 0; k < 4; ++k) {
            std::memcpy(p.ws_at(t, n, recurrent::kWsGates + k), g + k * Hp, H * sizeof(float));
          }
        }
        std::memcpy(p.ws_at(t, n, recurrent::kWsCell), c, H * sizeof(float));
      }
    }
  }
  FinalState(p, p.h);
}

// Rows [r0, r1) of gx = X W^T + bias, in X's row order: a part of the projection at once
// where the threads split a step's hidden units (ParallelUnits below).
template <class S>
KILN_INLINE void ProjectRows(const Problem& p, int64_t r0, int64_t r1) {
  MatMul<S>(p.x + r0 * p.I, p.I, 1, r1 - r0, p.I, p.wt, p.wld, p.cols, p.gx + r0 * p.gld, p.gld, p.bias);
}

// Step `step` of an RNN or LSTM direction for hidden units [j0, j1) (whole vectors) of every
// row: their columns of each gate's recurrent product, then their cell update. h is two
// buffers of [N][Hp]: a step reads one, whole, and writes its units into the other, so the
// threads on other units may still read the previous h.
template <class S>
KILN_INLINE void UnitsStep(const Problem& p, int64_t step, int64_t j0, int64_t j1) {
  const int64_t Hp = p.Hp, t = p.reverse ? p.T - 1 - step : step, stride = p.gate_stride();
  const float* h_in = p.h + step % 2 * p.N * Hp;
  float* h_out = p.h + (step + 1) % 2 * p.N * Hp;
  float* g0 = p.gx + p.row(t, 0) * p.gld;
  const int64_t gates = p.cols / Hp;
  for (int64_t k = 0; k < gates; ++k) {
    MatMul<S>(h_in + p.n0 * Hp, Hp, 1, p.n1 - p.n0, p.H, p.rt + k * Hp + j0, p.wld, j1 - j0,
              g0 + p.n0 * stride + k * Hp + j0, stride, nullptr);
  }
  for (int64_t n = p.n0; n < p.n1; ++n) {
    UpdateCells<S>(p, g0 + n * stride, h_in + n * Hp, h_out + n * Hp, p.c + n * Hp, nullptr, j0, j1, false);
    const int64_t units = std::min(j1, p.H) - j0;
    if (p.y && units > 0) std::memcpy(p.y + p.y_at(t, n) + j0, h_out + n * Hp + j0, units * sizeof(float));
  }
}

// What LSTM's backward of one direction reads and writes besides the recorded forward.
struct GradProblem {
  const float *dy, *dyh, *dyc;  // user tensors (null when absent)
  const float *rp, *wp;         // R [cols][Hp], W [cols][Ip] (ONNX rows, padded)
  int64_t Ip;
  float *dh, *dc;               // [N][Hp]: the gradients of h and c flowing back
  float *c_new, *c_init;        // [T*N][Hp] (rows as gx), [N][Hp]: the cell states, padded
  const float* zeros;           // at least max(cols, Ip, Hp) zeros
  float *dwt, *drt, *db, *dxp;  // [I][cols], [H][cols], [cols], [T*N][Ip] (dxp null: no dX)
  float* drb_cand;              // [Hp]: linear-before-reset GRU's Rb_h gradient (not its Wb_h's)
  float* dx;                    // user dX (null: none); the second direction adds to it
};

// [begin, end) of part `part` of `parts` of [0, total), in multiples of `align`.
std::pair<int64_t, int64_t> Share(int64_t total, int part, int parts, int64_t align) {
  const int64_t units = (total + align - 1) / align;
  return {std::min(total, units * part / parts * align), std::min(total, units * (part + 1) / parts * align)};
}

template <class S>
KILN_INLINE void BackwardLstmDirection(const Problem& p, const GradProblem& q) {
  constexpr int W = S::W;
  using V = FloatVec<W>;
  const int64_t T = p.T, H = p.H, Hp = p.Hp, cols = p.cols, gate_stride = p.gate_stride();
  const int64_t n0 = p.n0, rows = p.n1 - p.n0;
  // H a multiple of the padding: the workspace's blocks are whole vectors, read in place;
  // otherwise each is copied to a padded row first (gx's for the gates).
  const bool direct = H == Hp;
  auto cell_at = [&](int64_t t, int64_t n) {
    return direct ? p.ws_at(t, n, recurrent::kWsCell) : q.c_new + p.row(t, n) * Hp;
  };
  for (int64_t n = n0; n < p.n1; ++n) {
    std::memset(q.dh + n * Hp, 0, Hp * sizeof(float));
    std::memset(q.dc + n * Hp, 0, Hp * sizeof(float));
    std::memset(q.c_init + n * Hp, 0, Hp * sizeof(float));
    if (q.dyh) std::memcpy(q.dh + n * Hp, q.dyh + p.state_at(n), H * sizeof(float));
    if (q.dyc) std::memcpy(q.dc + n * Hp, q.dyc + p.state_at(n), H * sizeof(float));
    if (p.c0) std::memcpy(q.c_init + n * Hp, p.c0 + p.state_at(n), H * sizeof(float));
    // The cell states padded to whole vectors (their padding stays zero).
    for (int64_t t = 0; t < T && !direct; ++t) {
      std::memcpy(q.c_new + p.row(t, n) * Hp, p.ws_at(t, n, recurrent::kWsCell), H * sizeof(float));
    }
  }
  for (int64_t step = T - 1; step >= 0; --step) {
    const int64_t t = p.reverse ? T - 1 - step : step;
    const int64_t t_prev = p.reverse ? t + 1 : t - 1;  // the step before (step > 0)
    float* g0 = p.gx + p.row(t, 0) * cols;
    for (int64_t n = n0; n < p.n1; ++n) {
      float* g = g0 + n * gate_stride;  // the gates' pre-activations' gradients out
      const float* pre = direct ? p.ws_at(t, n, recurrent::kWsGates) : g;
      for (int k = 0; k < 4 && !direct; ++k) {
        std::memcpy(g + k * Hp, p.ws_at(t, n, recurrent::kWsGates + k), H * sizeof(float));
      }
      float* dh = q.dh + n * Hp;
      float* dc = q.dc + n * Hp;
      if (q.dy) {
        const float* dy = q.dy + p.y_at(t, n);
        for (int64_t j = 0; j < H; ++j) dh[j] += dy[j];
      }
      const float* c = cell_at(t, n);
      const float* c_prev = step > 0 ? cell_at(t_prev, n) : q.c_init + n * Hp;
      for (int64_t j = 0; j < Hp; j += W) {
        const V i = Sigmoid<W>(LoadVec<W>(pre + j)), o = Sigmoid<W>(LoadVec<W>(pre + Hp + j)),
                f = Sigmoid<W>(LoadVec<W>(pre + 2 * Hp + j)), cand = Tanh<W>(LoadVec<W>(pre + 3 * Hp + j));
        const V tc = Tanh<W>(LoadVec<W>(c + j)), dhv = LoadVec<W>(dh + j);
        const V dcv = LoadVec<W>(dc + j) + dhv * o * (1.0f - tc * tc);
        StoreVec<W>(g + j, dcv * cand * i * (1.0f - i));
        StoreVec<W>(g + Hp + j, dhv * tc * o * (1.0f - o));
        StoreVec<W>(g + 2 * Hp + j, dcv * LoadVec<W>(c_prev + j) * f * (1.0f - f));
        StoreVec<W>(g + 3 * Hp + j, dcv * i * (1.0f - cand * cand));
        StoreVec<W>(dc + j, dcv * f);
      }
    }
    // dh_prev = dA R.
    MatMul<S>(g0 + n0 * gate_stride, gate_stride, 1, rows, cols, q.rp, Hp, Hp, q.dh + n0 * Hp, Hp, q.zeros);
  }
}

// Sums of rows [0, rows) (row stride ld) in columns [j0, j1) (whole vectors) into dst, or
// added to it.
template <int W>
KILN_INLINE void ColumnSums(const float* src, int64_t ld, int64_t rows, int64_t j0, int64_t j1, float* dst, bool add) {
  using V = FloatVec<W>;
  for (int64_t j = j0; j < j1; j += W) {
    V sum = add ? LoadVec<W>(dst + j) : Broadcast<W>(0.0f);
    for (int64_t r = 0; r < rows; ++r) sum += LoadVec<W>(src + r * ld + j);
    StoreVec<W>(dst + j, sum);
  }
}

// The weight gradients read every row of gx (T*N rows: 3.5 MiB for LSTM 128 at batch 64, T
// 28), each thread all of them: in passes of kPassRows rows, every product and sum that reads
// a pass's rows runs while they are in L2, so each thread reads gx from L3 once, not once per
// product. Plain loops, no lambda per pass: a lambda GCC leaves out of line is compiled for
// the baseline ISA, and the vector loops in it run emulated (GRUGrad 5x slower).
constexpr int64_t kPassRows = 256;

// Part `part` of `parts` of what LSTM's and GRU's weight gradients share, over the gx rows
// [r0, r0 + rows) (gx's rows are X's; the first pass, r0 == 0, writes, later ones add), once
// every row's dA (the gradients of the gates' pre-activations W sees) is in gx: dW^T = X^T dA
// and dB = sum dA.
template <class S>
KILN_INLINE void InputSidePass(const Problem& p, const GradProblem& q, int part, int parts, int64_t r0, int64_t rows) {
  const int64_t cols = p.cols, I = p.I;
  const float* gx = p.gx + r0 * cols;
  auto [i0, i1] = Share(I, part, parts, 1);
  MatMul<S>(p.x + r0 * I + i0, 1, I, i1 - i0, rows, gx, cols, cols, q.dwt + i0 * cols, cols, r0 ? nullptr : q.zeros);
  auto [j0, j1] = Share(cols, part, parts, S::W);
  ColumnSums<S::W>(gx, cols, rows, j0, j1, q.db, r0 > 0);
}
// Part `part` of `parts` of dX = dA W (when asked for), after the passes.
template <class S>
KILN_INLINE void InputGradient(const Problem& p, const GradProblem& q, int part, int parts) {
  if (!q.dx) return;
  const int64_t TN = p.T * p.N, cols = p.cols, I = p.I;
  auto [r0, r1] = Share(TN, part, parts, 1);
  MatMul<S>(p.gx + r0 * cols, cols, 1, r1 - r0, cols, q.wp, q.Ip, q.Ip, q.dxp + r0 * q.Ip, q.Ip, q.zeros);
  for (int64_t r = r0; r < r1; ++r) {
    for (int64_t i = 0; i < I; ++i) q.dx[r * I + i] = (p.d ? q.dx[r * I + i] : 0.0f) + q.dxp[r * q.Ip + i];
  }
}

// Part `part` of `parts` of LSTM's weight gradients: those above and dR^T = H_prev^T dA.
template <class S>
KILN_INLINE void LstmWeightGrads(const Problem& p, const GradProblem& q, int part, int parts) {
  const int64_t cols = p.cols, ws_ld = recurrent::kWorkspaceParts * p.H;
  auto [k0, k1] = Share(p.H, part, parts, 1);
  for (int64_t r0 = 0, TN = p.T * p.N; r0 < TN; r0 += kPassRows) {
    const int64_t rows = std::min(kPassRows, TN - r0);
    MatMul<S>(p.ws + r0 * ws_ld + recurrent::kWsPrevH * p.H + k0, 1, ws_ld, k1 - k0, rows, p.gx + r0 * cols, cols, cols,
              q.drt + k0 * cols, cols, r0 ? nullptr : q.zeros);
    InputSidePass<S>(p, q, part, parts, r0, rows);
  }
  InputGradient<S>(p, q, part, parts);
}

// GRU's backward of one direction, after its forward recorded into p.rec. Per step, from the
// last back, with z, r, c = tanh(candidate pre-activation) and dH the gradient of h_t:
//   dA_z = dH (h_prev - c) z (1 - z), dA_h = dH (1 - z) (1 - c^2) (both into gx, in place);
//   linear-before-reset (candidate = x W_h^T + Wb_h + r u): du = dA_h r, dA_r = dA_h u r (1 - r),
//     dh_prev = dH z + [dA_z, dA_r] [R_z; R_r] + du R_h;
//   otherwise (candidate = x W_h^T + (r h_prev) R_h^T + b_h): e = dA_h R_h first, then
//     dA_r = e h_prev r (1 - r), dh_prev = dH z + e r + [dA_z, dA_r] [R_z; R_r].
// gx ends with the gates' gradients W sees; the record's kAux with du (or r h_prev).
template <class S>
KILN_INLINE void BackwardGruDirection(const Problem& p, const GradProblem& q) {
  constexpr int W = S::W;
  using V = FloatVec<W>;
  const int64_t T = p.T, H = p.H, Hp = p.Hp, cols = p.cols, gate_stride = p.gate_stride();
  const int64_t n0 = p.n0, rows = p.n1 - p.n0, rec_stride = p.rec_stride();
  const bool lbr = p.linear_before_reset;
  const float* r_zr = q.rp;               // R_z, R_r: rows [0, 2 Hp) of the packed R
  const float* r_h = q.rp + 2 * Hp * Hp;  // R_h: rows [2 Hp, 3 Hp)
  for (int64_t n = n0; n < p.n1; ++n) {
    std::memset(q.dh + n * Hp, 0, Hp * sizeof(float));
    if (q.dyh) std::memcpy(q.dh + n * Hp, q.dyh + p.state_at(n), H * sizeof(float));
  }
  const V one = Broadcast<W>(1.0f);
  for (int64_t step = T - 1; step >= 0; --step) {
    const int64_t t = p.reverse ? T - 1 - step : step;
    float* g0 = p.gx + p.row(t, 0) * cols;
    for (int64_t n = n0; n < p.n1; ++n) {
      float* g = g0 + n * gate_stride;
      const float* h_prev = p.rec_at(t, n, GruRecord::kPrevH);
      float* aux = p.rec_at(t, n, GruRecord::kAux);
      float* dh = q.dh + n * Hp;
      if (q.dy) {
        const float* dy = q.dy + p.y_at(t, n);
        for (int64_t j = 0; j < H; ++j) dh[j] += dy[j];
      }
      for (int64_t j = 0; j < Hp; j += W) {
        const V z = Sigmoid<W>(LoadVec<W>(g + j)), hp = LoadVec<W>(h_prev + j), dhv = LoadVec<W>(dh + j);
        V pre = LoadVec<W>(g + 2 * Hp + j);
        V r{}, u{};
        if (lbr) {
          r = Sigmoid<W>(LoadVec<W>(g + Hp + j));
          u = LoadVec<W>(aux + j);
          pre += r * u;
        }
        const V c = Tanh<W>(pre);
        const V da_h = dhv * (one - z) * (one - c * c);
        StoreVec<W>(g + j, dhv * (hp - c) * z * (one - z));
        StoreVec<W>(g + 2 * Hp + j, da_h);
        StoreVec<W>(dh + j, dhv * z);
        if (lbr) {
          StoreVec<W>(g + Hp + j, da_h * u * r * (one - r));
          StoreVec<W>(aux + j, da_h * r);
        }
      }
    }
    if (lbr) {
      MatMul<S>(p.rec_at(t, n0, GruRecord::kAux), rec_stride, 1, rows, Hp, r_h, Hp, Hp, q.dh + n0 * Hp, Hp, nullptr);
    } else {
      // e = dA_h R_h into p.aux, then dA_r, r h_prev and e r.
      MatMul<S>(g0 + n0 * gate_stride + 2 * Hp, gate_stride, 1, rows, Hp, r_h, Hp, Hp, p.aux + n0 * Hp, Hp, q.zeros);
      for (int64_t n = n0; n < p.n1; ++n) {
        float* g = g0 + n * gate_stride;
        const float* h_prev = p.rec_at(t, n, GruRecord::kPrevH);
        float* r_h_prev = p.rec_at(t, n, GruRecord::kAux);
        float* dh = q.dh + n * Hp;
        for (int64_t j = 0; j < Hp; j += W) {
          const V r = Sigmoid<W>(LoadVec<W>(g + Hp + j)), e = LoadVec<W>(p.aux + n * Hp + j),
                  hp = LoadVec<W>(h_prev + j);
          StoreVec<W>(g + Hp + j, e * hp * r * (one - r));
          StoreVec<W>(r_h_prev + j, r * hp);
          StoreVec<W>(dh + j, LoadVec<W>(dh + j) + e * r);
        }
      }
    }
    MatMul<S>(g0 + n0 * gate_stride, gate_stride, 1, rows, 2 * Hp, r_zr, Hp, Hp, q.dh + n0 * Hp, Hp, nullptr);
  }
}

// Part `part` of `parts` of GRU's weight gradients, once the record holds what its backward
// left there: those above, dR_zr^T = H_prev^T dA_zr, dR_h^T = H_prev^T du (linear before
// reset) or (r H_prev)^T dA_h, and linear-before-reset's Rb_h gradient, sum du.
template <class S>
KILN_INLINE void GruWeightGrads(const Problem& p, const GradProblem& q, int part, int parts) {
  const int64_t cols = p.cols, Hp = p.Hp, rs = GruRecord::kParts * Hp;
  auto [k0, k1] = Share(p.H, part, parts, 1);
  auto [h0, h1] = Share(Hp, part, parts, S::W);
  for (int64_t r0 = 0, TN = p.T * p.N; r0 < TN; r0 += kPassRows) {
    const int64_t rows = std::min(kPassRows, TN - r0);
    const float* prev_h = p.rec + r0 * rs + GruRecord::kPrevH * Hp;  // the pass's rows, row stride rs
    const float* aux = p.rec + r0 * rs + GruRecord::kAux * Hp;
    const float* gx = p.gx + r0 * cols;
    const float* zeros = r0 ? nullptr : q.zeros;  // the first pass writes, later ones add
    float* drt_h = q.drt + k0 * cols + 2 * Hp;
    MatMul<S>(prev_h + k0, 1, rs, k1 - k0, rows, gx, cols, 2 * Hp, q.drt + k0 * cols, cols, zeros);
    if (p.linear_before_reset) {
      MatMul<S>(prev_h + k0, 1, rs, k1 - k0, rows, aux, rs, Hp, drt_h, cols, zeros);
      ColumnSums<S::W>(aux, rs, rows, h0, h1, q.drb_cand, r0 > 0);
    } else {
      MatMul<S>(aux + k0, 1, rs, k1 - k0, rows, gx + 2 * Hp, cols, Hp, drt_h, cols, zeros);
    }
    InputSidePass<S>(p, q, part, parts, r0, rows);
  }
  InputGradient<S>(p, q, part, parts);
}

template <class S>
KILN_INLINE void BackwardDirection(const Problem& p, const GradProblem& q) {
  if (p.kind == CellKind::kGru) return BackwardGruDirection<S>(p, q);
  BackwardLstmDirection<S>(p, q);
}
template <class S>
KILN_INLINE void WeightGrads(const Problem& p, const GradProblem& q, int part, int parts) {
  if (p.kind == CellKind::kGru) return GruWeightGrads<S>(p, q, part, parts);
  LstmWeightGrads<S>(p, q, part, parts);
}

// The entry points of each instruction set.
struct Isa {
  void (*forward)(const Problem&);
  void (*project)(const Problem&, int64_t r0, int64_t r1);
  void (*units_step)(const Problem&, int64_t step, int64_t j0, int64_t j1);
  void (*backward)(const Problem&, const GradProblem&);
  void (*weight_grads)(const Problem&, const GradProblem&, int part, int parts);
};
KILN_TARGET_AVX512 void ForwardAvx512(const Problem& p) { RunDirection<Avx512Shape>(p); }
KILN_TARGET_AVX512 void ProjectAvx512(const Problem& p, int64_t r0, int64_t r1) { ProjectRows<Avx512Shape>(p, r0, r1); }
KILN_TARGET_AVX512 void UnitsStepAvx512(const Problem& p, int64_t step, int64_t j0, int64_t j1) {
  UnitsStep<Avx512Shape>(p, step, j0, j1);
}
KILN_TARGET_AVX512 void BackwardAvx512(const Problem& p, const GradProblem& q) { BackwardDirection<Avx512Shape>(p, q); }
KILN_TARGET_AVX512 void WeightGradsAvx512(const Problem& p, const GradProblem& q, int part, int parts) {
  WeightGrads<Avx512Shape>(p, q, part, parts);
}
__attribute__((target("avx2,fma"))) void ForwardAvx2(const Problem& p) { RunDirection<Avx2Shape>(p); }
__attribute__((target("avx2,fma"))) void ProjectAvx2(const Problem& p, int64_t r0, int64_t r1) {
  ProjectRows<Avx2Shape>(p, r0, r1);
}
__attribute__((target("avx2,fma"))) void UnitsStepAvx2(const Problem& p, int64_t step, int64_t j0, int64_t j1) {
  UnitsStep<Avx2Shape>(p, step, j0, j1);
}
__attribute__((target("avx2,fma"))) void BackwardAvx2(const Problem& p, const GradProblem& q) {
  BackwardDirection<Avx2Shape>(p, q);
}
__attribute__((target("avx2,fma"))) void WeightGradsAvx2(const Problem& p, const GradProblem& q, int part, int parts) {
  WeightGrads<Avx2Shape>(p, q, part, parts);
}
void ForwardGeneric(const Problem& p) { RunDirection<GenericShape>(p); }
void ProjectGeneric(const Problem& p, int64_t r0, int64_t r1) { ProjectRows<GenericShape>(p, r0, r1); }
void UnitsStepGeneric(const Problem& p, int64_t step, int64_t j0, int64_t j1) {
  UnitsStep<GenericShape>(p, step, j0, j1);
}
void BackwardGeneric(const Problem& p, const GradProblem& q) { BackwardDirection<GenericShape>(p, q); }
void WeightGradsGeneric(const Problem& p, const GradProblem& q, int part, int parts) {
  WeightGrads<GenericShape>(p, q, part, parts);
}
Isa IsaOf(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return {ForwardAvx512, ProjectAvx512, UnitsStepAvx512, BackwardAvx512, WeightGradsAvx512};
    case SimdLevel::kAvx2: return {ForwardAvx2, ProjectAvx2, UnitsStepAvx2, BackwardAvx2, WeightGradsAvx2};
    case SimdLevel::kGeneric: break;
  }
  return {ForwardGeneric, ProjectGeneric, UnitsStepGeneric, BackwardGeneric, WeightGradsGeneric};
}

// ---- Weight packing ----

// ONNX W [D, G*H, K] direction d -> [K][G*Hp] (padding columns stay zero). In tiles of
// kTile x kTile, so that both sides stay in L1: in training W and R change every step, and
// this runs every run (LSTM 128, element by element, a new cache line per write: 0.2 ms).
void PackTransposed(const float* w, int64_t d, int64_t gates, int64_t H, int64_t Hp, int64_t K, int64_t ld, float* to) {
  constexpr int64_t kTile = 16;
  const float* wd = w + d * gates * H * K;
  for (int64_t g = 0; g < gates; ++g) {
    for (int64_t j0 = 0; j0 < H; j0 += kTile) {
      const int64_t j1 = std::min(H, j0 + kTile);
      for (int64_t k0 = 0; k0 < K; k0 += kTile) {
        const int64_t k1 = std::min(K, k0 + kTile);
        for (int64_t k = k0; k < k1; ++k) {
          float* row = to + k * ld + g * Hp;
          for (int64_t j = j0; j < j1; ++j) row[j] = wd[(g * H + j) * K + k];
        }
      }
    }
  }
}

// ONNX W [D, G*H, K] direction d -> [G*Hp][Kp] (rows as the gates' padded columns).
void PackRows(const float* w, int64_t d, int64_t gates, int64_t H, int64_t Hp, int64_t K, int64_t Kp, float* to) {
  const float* wd = w + d * gates * H * K;
  for (int64_t g = 0; g < gates; ++g) {
    for (int64_t j = 0; j < H; ++j) std::memcpy(to + (g * Hp + j) * Kp, wd + (g * H + j) * K, K * sizeof(float));
  }
}
// The inverse of PackTransposed: [K][G*Hp] -> ONNX [G*H, K] (direction d's slice).
void UnpackTransposed(const float* from, int64_t d, int64_t gates, int64_t H, int64_t Hp, int64_t K, float* w) {
  float* wd = w + d * gates * H * K;
  const int64_t cols = gates * Hp;
  for (int64_t g = 0; g < gates; ++g) {
    for (int64_t j = 0; j < H; ++j) {
      float* to = wd + (g * H + j) * K;
      for (int64_t k = 0; k < K; ++k) to[k] = from[k * cols + g * Hp + j];
    }
  }
}

// The forward of RNN/GRU/LSTM (`backward` false) or LSTMGrad without peepholes (true).
class VectorRecurrentKernel : public Kernel {
 public:
  VectorRecurrentKernel(const Geometry& g, const KernelSpec& spec, SimdLevel level, bool backward)
      : g_(g),
        backward_(backward),
        x_gradient_(backward && recurrent::ComputesInputGradient(spec.attrs)),
        isa_(IsaOf(level)),
        gates_(recurrent::NumGates(g.kind)),
        Hp_(Padded(g.hidden)),
        Ip_(Padded(g.input_size)),
        cols_(gates_ * Hp_),
        wld_(WeightStride(cols_)) {
    const int64_t D = g.directions, TN = g.seq_length * g.batch, N = g.batch;
    has_b_ = spec.has_input(recurrent::kB);
    has_p_ = g.kind == CellKind::kLstm && spec.has_input(recurrent::kPeepholes);
    for (auto [buffer, floats] :
         std::initializer_list<std::pair<AlignedFloats*, int64_t>>{{&wt_, D * g.input_size * wld_},
                                                                   {&rt_, D * g.hidden * wld_},
                                                                   {&bias_, D * cols_},
                                                                   {&rb_cand_, D * Hp_},
                                                                   {&peep_, D * 3 * Hp_},
                                                                   {&gx_, TN * cols_},
                                                                   {&h_, 2 * N * Hp_},
                                                                   {&c_, N * Hp_},
                                                                   {&aux_, N * Hp_}}) {
      *buffer = AllocateZeroed(floats);
      allocated_ = allocated_ && *buffer;
    }
    if (backward) {
      const bool lstm = g.kind == CellKind::kLstm;  // the cell-state buffers are LSTM's alone
      for (auto [buffer, floats] :
           std::initializer_list<std::pair<AlignedFloats*, int64_t>>{{&rp_, D * cols_ * Hp_},
                                                                     {&wp_, D * cols_ * Ip_},
                                                                     {&c_new_, lstm ? TN * Hp_ : 0},
                                                                     {&c_init_, lstm ? N * Hp_ : 0},
                                                                     {&dh_, N * Hp_},
                                                                     {&dc_, lstm ? N * Hp_ : 0},
                                                                     {&zeros_, std::max({cols_, Ip_, Hp_})},
                                                                     {&dwt_, g.input_size * cols_},
                                                                     {&drt_, g.hidden * cols_},
                                                                     {&db_, cols_},
                                                                     {&dxp_, TN * Ip_},
                                                                     {&drb_cand_, Hp_}}) {
        *buffer = AllocateZeroed(floats);
        allocated_ = allocated_ && *buffer;
      }
      // Without the forward's workspace, the kernel recomputes it into its own; GRU always
      // runs its forward again, recording what its backward reads.
      runs_forward_ = !lstm || !spec.has_input(recurrent::GradWorkspaceInput());
      if (runs_forward_) {
        own_ws_ =
            AllocateZeroed(lstm ? D * TN * recurrent::kWorkspaceParts * g.hidden : D * TN * GruRecord::kParts * Hp_);
        allocated_ = allocated_ && own_ws_;
      }
    }
    // Plan-constant weights (and absent ones) are packed now, once.
    for (int i : {recurrent::kW, recurrent::kR, recurrent::kB, recurrent::kPeepholes}) {
      if (i == recurrent::kPeepholes && g.kind != CellKind::kLstm) continue;
      if (spec.has_input(i) && !spec.is_constant_input(i)) constant_ = false;
    }
    if (constant_ && allocated_) Pack(spec.inputs);
  }

  bool allocated() const { return allocated_; }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (!constant_) Pack(in);
    auto input = [&](int i) {
      return i < static_cast<int>(in.size()) && in[i].dtype != proto::DT_UNDEFINED
                 ? static_cast<const float*>(in[i].data)
                 : nullptr;
    };
    auto output = [&](int i) {
      return i < static_cast<int>(out.size()) && out[i].dtype != proto::DT_UNDEFINED ? static_cast<float*>(out[i].data)
                                                                                     : nullptr;
    };
    const bool lstm = g_.kind == CellKind::kLstm;
    const int64_t H = g_.hidden, I = g_.input_size;
    Problem p{};
    p.kind = g_.kind;
    p.linear_before_reset = g_.linear_before_reset;
    p.T = g_.seq_length, p.N = g_.batch, p.I = I, p.H = H, p.Hp = Hp_, p.cols = cols_, p.wld = wld_;
    p.batch_first = g_.batch_first;
    p.directions = g_.directions;
    p.x = input(recurrent::kX);
    p.h0 = input(recurrent::kInitialH);
    p.c0 = lstm ? input(recurrent::kInitialC) : nullptr;
    p.gx = gx_.get(), p.gld = cols_, p.h = h_.get(), p.c = c_.get(), p.aux = aux_.get();
    GradProblem q{};
    float *dw = nullptr, *dr = nullptr, *dbias = nullptr, *dh0 = nullptr, *dc0 = nullptr;
    // LSTM's workspace, all directions: the forward's output; LSTMGrad's input, or its own
    // buffer. GRUGrad's record (GruRecord), all directions: its own buffer.
    float* ws = lstm && !backward_ ? output(recurrent::kWorkspace) : nullptr;
    float* rec = backward_ && !lstm ? own_ws_.get() : nullptr;
    const float* ws_in = backward_ && lstm ? input(recurrent::GradWorkspaceInput()) : nullptr;
    if (backward_) {
      if (lstm) ws = ws_in ? const_cast<float*>(ws_in) : own_ws_.get();  // read only when it is the input
      const int base = recurrent::GradInputBase(g_.kind);
      q.c_new = c_new_.get(), q.c_init = c_init_.get();
      q.dy = input(base), q.dyh = input(base + 1), q.dyc = lstm ? input(base + 2) : nullptr;
      q.Ip = Ip_, q.dh = dh_.get(), q.dc = dc_.get(), q.zeros = zeros_.get();
      q.dwt = dwt_.get(), q.drt = drt_.get(), q.db = db_.get(), q.dxp = dxp_.get(), q.drb_cand = drb_cand_.get();
      q.dx = x_gradient_ ? output(0) : nullptr;
      dw = output(1), dr = output(2), dbias = output(3), dh0 = output(4), dc0 = lstm ? output(5) : nullptr;
    } else {
      p.y = output(recurrent::kY);
      p.yh = output(recurrent::kYH);
      p.yc = lstm ? output(recurrent::kYC) : nullptr;
    }
    // Each thread runs its share of the batch rows through every step (the rows are
    // independent); LSTM's weight gradients, over every row, wait for all of them.
    const int threads = static_cast<int>(std::min<int64_t>(omp_get_max_threads(), g_.batch / kMinRowsPerThread));
    // Too few rows to share (batch 1): the threads split each step's hidden units instead.
    const int unit_parts = !backward_ && !ws && g_.kind != CellKind::kGru && threads <= 1
                               ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), Hp_ / kMinUnitsPerPart))
                               : 1;
    auto share = [&](int part, int parts) {
      Problem pt = p;
      GradProblem qt = q;
      pt.n0 = g_.batch * part / parts, pt.n1 = g_.batch * (part + 1) / parts;
      for (int64_t d = 0; d < g_.directions; ++d) {
        if (unit_parts > 1) {
          SetDirection(pt, d, ws, rec);
          ParallelUnits(pt, unit_parts);
          continue;
        }
        SetDirection(pt, d, ws, rec);
        if (!ws_in) isa_.forward(pt);
        if (!backward_) continue;
        qt.rp = rp_.get() + d * cols_ * Hp_;
        qt.wp = wp_.get() + d * cols_ * Ip_;
        isa_.backward(pt, qt);
        for (int64_t n = pt.n0; n < pt.n1; ++n) {
          if (dh0) std::memcpy(dh0 + pt.state_at(n), dh_.get() + n * Hp_, H * sizeof(float));
          if (dc0) std::memcpy(dc0 + pt.state_at(n), dc_.get() + n * Hp_, H * sizeof(float));
        }
#pragma omp barrier
        isa_.weight_grads(pt, qt, part, parts);
        // Also keeps the next direction's forward from overwriting gx while it is read.
#pragma omp barrier
        if (part == 0) UnpackWeightGrads(d, dw, dr, dbias);
      }
    };
    if (threads <= 1) {
      share(0, 1);
    } else {
#pragma omp parallel num_threads(threads)
      share(omp_get_thread_num(), omp_get_num_threads());
    }
    return Status::Ok();
  }

  // pt's fields for direction d (its weights, workspace and record parts).
  void SetDirection(Problem& pt, int64_t d, float* ws, float* rec) const {
    const int64_t H = g_.hidden, I = g_.input_size;
    pt.d = d;
    pt.reverse = d == 1 || g_.reverse;
    pt.rnn_activation = g_.act(d, 0).kind;
    pt.wt = wt_.get() + d * I * wld_;
    pt.rt = rt_.get() + d * H * wld_;
    pt.bias = bias_.get() + d * cols_;
    pt.rb_cand = rb_cand_.get() + d * Hp_;
    pt.peep = has_p_ ? peep_.get() + d * 3 * Hp_ : nullptr;
    pt.ws = ws ? ws + d * g_.seq_length * g_.batch * recurrent::kWorkspaceParts * H : nullptr;
    pt.rec = rec ? rec + d * g_.seq_length * g_.batch * GruRecord::kParts * Hp_ : nullptr;
    if (pt.ws && !backward_ && H == Hp_) {  // LSTM's gates computed in its workspace output: no copy
      pt.gx = pt.ws;
      pt.gld = recurrent::kWorkspaceParts * H;
    }
  }

  // One direction of every row (RNN or LSTM inference) on `parts` threads that split the
  // hidden units: the projection by rows, then per step each thread's units (UnitsStep). At
  // batch 1 a step's product is a matrix-vector product over all of R (LSTM 128: 256 KiB,
  // read from L2 at every step), which two cores read half each.
  void ParallelUnits(const Problem& pt, int parts) const {
    const int64_t all = g_.seq_length * g_.batch;
    RunShares(parts, [&](int s) { isa_.project(pt, all * s / parts, all * (s + 1) / parts); });
    InitState(pt);
    for (int64_t step = 0; step < g_.seq_length; ++step) {
      RunShares(parts, [&](int s) {
        const auto [j0, j1] = Share(Hp_, s, parts, kPad);
        isa_.units_step(pt, step, j0, j1);
      });
    }
    FinalState(pt, pt.h + g_.seq_length % 2 * g_.batch * Hp_);
  }

 private:
  // Direction d's packed weight gradients into the ONNX outputs (those present).
  void UnpackWeightGrads(int64_t d, float* dw, float* dr, float* dbias) const {
    const int64_t H = g_.hidden;
    if (dw) UnpackTransposed(dwt_.get(), d, gates_, H, Hp_, g_.input_size, dw);
    if (dr) UnpackTransposed(drt_.get(), d, gates_, H, Hp_, H, dr);
    if (!dbias) return;
    for (int64_t g = 0; g < gates_; ++g) {  // Wb and Rb: the same gradient but linear-before-reset GRU's Rb_h
      const float* rb_grad =
          g_.kind == CellKind::kGru && g_.linear_before_reset && g == 2 ? drb_cand_.get() : db_.get() + g * Hp_;
      for (int64_t j = 0; j < H; ++j) {
        dbias[d * 2 * gates_ * H + g * H + j] = db_[g * Hp_ + j];
        dbias[(d * 2 + 1) * gates_ * H + g * H + j] = rb_grad[j];
      }
    }
  }

  // W, R, B, P (ONNX layouts) into the packed buffers.
  void Pack(const std::vector<TensorRef>& in) {
    const int64_t D = g_.directions, H = g_.hidden, I = g_.input_size;
    auto data = [&](int i) { return static_cast<const float*>(in[i].data); };
    for (int64_t d = 0; d < D; ++d) {
      if (backward_) {  // the forward's layouts only when it runs; W's rows only for dX
        if (x_gradient_) PackRows(data(recurrent::kW), d, gates_, H, Hp_, I, Ip_, wp_.get() + d * cols_ * Ip_);
        PackRows(data(recurrent::kR), d, gates_, H, Hp_, H, Hp_, rp_.get() + d * cols_ * Hp_);
        if (!runs_forward_) continue;
      }
      PackTransposed(data(recurrent::kW), d, gates_, H, Hp_, I, wld_, wt_.get() + d * I * wld_);
      PackTransposed(data(recurrent::kR), d, gates_, H, Hp_, H, wld_, rt_.get() + d * H * wld_);
      const float* wb = has_b_ ? data(recurrent::kB) + d * 2 * gates_ * H : nullptr;
      const float* rb = wb ? wb + gates_ * H : nullptr;
      float* bias = bias_.get() + d * cols_;
      for (int64_t g = 0; g < gates_; ++g) {
        // Linear-before-reset GRU's candidate takes Wb alone; its Rb is inside r * (R h + Rb).
        const bool split = g_.kind == CellKind::kGru && g_.linear_before_reset && g == 2;
        for (int64_t j = 0; j < H; ++j) bias[g * Hp_ + j] = wb ? wb[g * H + j] + (split ? 0.0f : rb[g * H + j]) : 0.0f;
      }
      for (int64_t j = 0; j < H; ++j) rb_cand_[d * Hp_ + j] = rb && gates_ == 3 ? rb[2 * H + j] : 0.0f;
      if (has_p_) {
        const float* pd = data(recurrent::kPeepholes) + d * 3 * H;
        for (int64_t g = 0; g < 3; ++g) {
          for (int64_t j = 0; j < H; ++j) peep_[(d * 3 + g) * Hp_ + j] = pd[g * H + j];
        }
      }
    }
  }

  Geometry g_;
  bool backward_, x_gradient_;
  bool runs_forward_ = true;  // LSTMGrad without the forward's workspace recomputes it
  Isa isa_;
  int64_t gates_, Hp_, Ip_, cols_, wld_;
  bool has_b_ = false, has_p_ = false, constant_ = true, allocated_ = true;
  AlignedFloats wt_, rt_, bias_, rb_cand_, peep_, gx_, h_, c_, aux_;
  // Backward only.
  AlignedFloats rp_, wp_, c_new_, c_init_, dh_, dc_, zeros_, dwt_, drt_, db_, dxp_, drb_cand_, own_ws_;
};

}  // namespace

namespace {
StatusOr<std::unique_ptr<Kernel>> Build(const Geometry& g, const KernelSpec& spec, SimdLevel level, bool backward) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  auto kernel = std::make_unique<VectorRecurrentKernel>(g, spec, level, backward);
  if (!kernel->allocated()) return Internal("cannot allocate the recurrent kernel's buffers");
  return std::unique_ptr<Kernel>(std::move(kernel));
}
}  // namespace

StatusOr<std::unique_ptr<Kernel>> BuildVectorRecurrent(const Geometry& g, const KernelSpec& spec, SimdLevel level) {
  return Build(g, spec, level, false);
}

StatusOr<std::unique_ptr<Kernel>> BuildVectorRecurrentGrad(const Geometry& g, const KernelSpec& spec, SimdLevel level) {
  if (g.kind == CellKind::kRnn) return Unimplemented("the vector backward is LSTM's and GRU's");
  if (g.kind == CellKind::kLstm && spec.has_input(recurrent::kPeepholes)) {
    return Unimplemented("peepholes (the vector backward has none)");
  }
  return Build(g, spec, level, true);
}

}  // namespace kiln::runtime::onednn
