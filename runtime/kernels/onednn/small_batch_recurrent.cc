// Small-batch RNN / GRU / LSTM forward (see the header for why). Per direction:
//
//   1. gates_x = X W^T + bias for all T*N rows at once (one product, W reused
//      across the rows);
//   2. per step t: gates_x[t] += h R^T (in place), then the cell's elementwise
//      update of h (and c), written to Y.
//
// Weights are repacked transposed, [K][G*Hp], each gate padded to Hp (a multiple
// of 16 floats), so every product and elementwise loop runs on whole vectors; the
// padded columns are zeros and never reach an output. The loops are written once
// on GCC vector types (template on the vector width) and compiled for AVX-512,
// AVX2+FMA and plain x86-64, picked by the CPU when the kernel is built.
#include "runtime/kernels/onednn/small_batch_recurrent.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace kiln::runtime::onednn {
namespace {

using recurrent::Activation;
using recurrent::CellKind;
using recurrent::Geometry;

constexpr int64_t kPad = 16;  // floats: one AVX-512 vector
int64_t Padded(int64_t n) { return (n + kPad - 1) / kPad * kPad; }

// A 64-byte aligned float buffer, allocated once (when the kernel is built).
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<float[], FreeDeleter>;
Buffer Allocate(int64_t floats) {
  const size_t bytes = static_cast<size_t>(std::max<int64_t>(Padded(floats), kPad)) * sizeof(float);
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (p) std::memset(p, 0, bytes);
  return Buffer(p);
}

// What one Run of one direction reads and writes; strides in floats.
struct Problem {
  CellKind kind;
  Activation::Kind rnn_activation;  // RNN only
  bool linear_before_reset;
  int64_t T, N, I, H, Hp, cols;  // cols = gates * Hp
  bool reverse, batch_first;
  int64_t directions, d;
  const float *x, *h0, *c0;               // user tensors (null when absent)
  float *y, *yh, *yc;                     // user tensors (null when absent)
  const float *wt, *rt, *bias, *rb_cand;  // packed: [I][cols], [H][cols], [cols], [Hp] (lbr GRU)
  const float* peep;                      // packed [3][Hp] (i, o, f) or null
  float *gx, *h, *c, *aux;                // scratch: [T*N][cols], [N][Hp], [N][Hp], [N][Hp]
};

// ---- Loops on vectors of W floats ----

// Every function taking or returning a vector is inlined into the per-ISA entry points
// (RunAvx512, ...), so no vector crosses a call: GCC's ABI notes do not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#define KILN_INLINE inline __attribute__((always_inline))

template <int W>
struct Vec {
  typedef float V __attribute__((vector_size(W * 4), aligned(4)));  // unaligned loads and stores
  typedef int VI __attribute__((vector_size(W * 4), aligned(4)));
};

template <int W>
KILN_INLINE typename Vec<W>::V Load(const float* p) {
  return *reinterpret_cast<const typename Vec<W>::V*>(p);
}
template <int W>
KILN_INLINE void Store(float* p, typename Vec<W>::V v) {
  *reinterpret_cast<typename Vec<W>::V*>(p) = v;
}
template <int W>
KILN_INLINE typename Vec<W>::V Splat(float s) {
  return typename Vec<W>::V{} + s;
}

// c[r][j] (r < kRows, j < kVecs * W) = (init ? init[j] : c[r][j]) + sum_p a[r][p] b[p][j].
template <int W, int kRows, int kVecs>
KILN_INLINE void Block(const float* a, int64_t lda, int64_t k, const float* b, int64_t ldb, float* c, int64_t ldc,
                       const float* init) {
  using V = typename Vec<W>::V;
  V acc[kRows][kVecs];
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) acc[r][v] = Load<W>((init ? init : c + r * ldc) + v * W);
  }
  for (int64_t p = 0; p < k; ++p) {
    V bv[kVecs];
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) bv[v] = Load<W>(b + p * ldb + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < kRows; ++r) {
      const V ar = Splat<W>(a[r * lda + p]);
#pragma GCC unroll 16
      for (int v = 0; v < kVecs; ++v) acc[r][v] += ar * bv[v];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < kRows; ++r) {
#pragma GCC unroll 16
    for (int v = 0; v < kVecs; ++v) Store<W>(c + r * ldc + v * W, acc[r][v]);
  }
}

// One instruction set's block shapes: kRows x kVecs vectors for many rows, 1 x kVecs1 for one
// row (a matrix-vector product: more independent accumulators per row).
struct Avx512Shape {
  static constexpr int W = 16, kRows = 4, kVecs = 4, kVecs1 = 8;
};
struct Avx2Shape {
  static constexpr int W = 8, kRows = 4, kVecs = 2, kVecs1 = 4;
};
struct GenericShape {
  static constexpr int W = 4, kRows = 2, kVecs = 2, kVecs1 = 4;
};

// c = (init ? init : c) + a b for a [m][k] (row stride lda), b [k][n] (ldb), c [m][n] (ldc);
// n a multiple of W.
template <class S, int kVecs1>
KILN_INLINE void RowProduct(const float* a, int64_t k, const float* b, int64_t ldb, int64_t n, float* c,
                            const float* init) {
  constexpr int W = S::W;
  int64_t j = 0;
  for (; j + kVecs1 * W <= n; j += kVecs1 * W)
    Block<W, 1, kVecs1>(a, 0, k, b + j, ldb, c + j, 0, init ? init + j : nullptr);
  for (; j < n; j += W) Block<W, 1, 1>(a, 0, k, b + j, ldb, c + j, 0, init ? init + j : nullptr);
}
// kRows rows of c, every column.
template <class S, int kRows>
KILN_INLINE void Rows(const float* a, int64_t lda, int64_t k, const float* b, int64_t ldb, int64_t n, float* c,
                      int64_t ldc, const float* init) {
  constexpr int W = S::W, V = S::kVecs;
  int64_t j = 0;
  for (; j + V * W <= n; j += V * W) Block<W, kRows, V>(a, lda, k, b + j, ldb, c + j, ldc, init ? init + j : nullptr);
  for (; j < n; j += W) Block<W, kRows, 1>(a, lda, k, b + j, ldb, c + j, ldc, init ? init + j : nullptr);
}
template <class S>
KILN_INLINE void MatMul(const float* a, int64_t lda, int64_t m, int64_t k, const float* b, int64_t ldb, int64_t n,
                        float* c, int64_t ldc, const float* init) {
  constexpr int R = S::kRows;
  int64_t i = 0;
  for (; i + R <= m; i += R) Rows<S, R>(a + i * lda, lda, k, b, ldb, n, c + i * ldc, ldc, init);
  // The last rows in one pass over b (a small batch's step reads R once).
  const int64_t left = m - i;
  if constexpr (R > 3) {
    if (left == 3) return Rows<S, 3>(a + i * lda, lda, k, b, ldb, n, c + i * ldc, ldc, init);
  }
  if constexpr (R > 2) {
    if (left == 2) return Rows<S, 2>(a + i * lda, lda, k, b, ldb, n, c + i * ldc, ldc, init);
  }
  if (left == 1) RowProduct<S, S::kVecs1>(a + i * lda, k, b, ldb, n, c + i * ldc, init);
}

// exp with Cody-Waite range reduction and Cephes' degree-6 polynomial (about 1 ulp on
// [-87, 88], clamped outside: sigmoid and tanh saturate there anyway).
template <int W>
KILN_INLINE typename Vec<W>::V Exp(typename Vec<W>::V x) {
  using V = typename Vec<W>::V;
  using VI = typename Vec<W>::VI;
  x = x < Splat<W>(-87.0f) ? Splat<W>(-87.0f) : x;
  x = x > Splat<W>(88.0f) ? Splat<W>(88.0f) : x;
  const V magic = Splat<W>(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const V n = (x * 1.44269504088896341f + magic) - magic;
  const V r = x - n * 0.693359375f + n * 2.12194440e-4f;
  V p = Splat<W>(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const VI e = (__builtin_convertvector(n, VI) + 127) << 23;
  return p * __builtin_bit_cast(V, e);
}
template <int W>
KILN_INLINE typename Vec<W>::V Sigmoid(typename Vec<W>::V x) {
  return 1.0f / (1.0f + Exp<W>(-x));
}
template <int W>
KILN_INLINE typename Vec<W>::V Tanh(typename Vec<W>::V x) {
  return 1.0f - 2.0f / (Exp<W>(x + x) + 1.0f);
}
template <int W>
KILN_INLINE typename Vec<W>::V Relu(typename Vec<W>::V x) {
  return x > Splat<W>(0.0f) ? x : Splat<W>(0.0f);
}

// ---- One direction ----

template <class S>
KILN_INLINE void RunDirection(const Problem& p) {
  constexpr int W = S::W;
  using V = typename Vec<W>::V;
  const int64_t T = p.T, N = p.N, H = p.H, Hp = p.Hp, cols = p.cols;
  // Row of X / gates_x of (t, n): X is [T, N, I] or [N, T, I].
  auto row = [&](int64_t t, int64_t n) { return p.batch_first ? n * T + t : t * N + n; };
  auto state_at = [&](int64_t n) { return (p.batch_first ? n * p.directions + p.d : p.d * N + n) * H; };

  MatMul<S>(p.x, p.I, T * N, p.I, p.wt, cols, cols, p.gx, cols, p.bias);
  for (int64_t n = 0; n < N; ++n) {
    std::memset(p.h + n * Hp, 0, Hp * sizeof(float));
    std::memset(p.c + n * Hp, 0, Hp * sizeof(float));
    if (p.h0) std::memcpy(p.h + n * Hp, p.h0 + state_at(n), H * sizeof(float));
    if (p.c0) std::memcpy(p.c + n * Hp, p.c0 + state_at(n), H * sizeof(float));
  }
  const int64_t gate_stride = p.batch_first ? T * cols : cols;  // between batch rows of one step
  for (int64_t step = 0; step < T; ++step) {
    const int64_t t = p.reverse ? T - 1 - step : step;
    float* g0 = p.gx + row(t, 0) * cols;
    // Recurrent product into the step's gates (GRU: z and r only; its candidate below).
    const int64_t recurrent_cols = p.kind == CellKind::kGru ? 2 * Hp : cols;
    MatMul<S>(p.h, Hp, N, H, p.rt, cols, recurrent_cols, g0, gate_stride, nullptr);
    if (p.kind == CellKind::kGru && p.linear_before_reset) {  // aux = h R_h^T + Rb_h
      MatMul<S>(p.h, Hp, N, H, p.rt + 2 * Hp, cols, Hp, p.aux, Hp, p.rb_cand);
    }
    if (p.kind == CellKind::kGru && !p.linear_before_reset) {  // aux = r * h, then its product
      for (int64_t n = 0; n < N; ++n) {
        const float* g = g0 + n * gate_stride;
        for (int64_t j = 0; j < Hp; j += W) {
          Store<W>(p.aux + n * Hp + j, Sigmoid<W>(Load<W>(g + Hp + j)) * Load<W>(p.h + n * Hp + j));
        }
      }
      MatMul<S>(p.aux, Hp, N, H, p.rt + 2 * Hp, cols, Hp, g0 + 2 * Hp, gate_stride, nullptr);
    }
    for (int64_t n = 0; n < N; ++n) {
      const float* g = g0 + n * gate_stride;
      float* h = p.h + n * Hp;
      float* c = p.c + n * Hp;
      for (int64_t j = 0; j < Hp; j += W) {
        V next{};
        switch (p.kind) {
          case CellKind::kRnn: {
            const V pre = Load<W>(g + j);
            next = p.rnn_activation == Activation::kTanh      ? Tanh<W>(pre)
                   : p.rnn_activation == Activation::kSigmoid ? Sigmoid<W>(pre)
                                                              : Relu<W>(pre);
            break;
          }
          case CellKind::kGru: {  // gates z, r, h
            const V z = Sigmoid<W>(Load<W>(g + j)), hv = Load<W>(h + j);
            V pre = Load<W>(g + 2 * Hp + j);
            if (p.linear_before_reset) pre += Sigmoid<W>(Load<W>(g + Hp + j)) * Load<W>(p.aux + n * Hp + j);
            next = (1.0f - z) * Tanh<W>(pre) + z * hv;
            break;
          }
          case CellKind::kLstm: {  // gates i, o, f, c; peepholes i, o, f
            const V cv = Load<W>(c + j);
            V pi = Load<W>(g + j), po = Load<W>(g + Hp + j), pf = Load<W>(g + 2 * Hp + j);
            if (p.peep) {
              pi += Load<W>(p.peep + j) * cv;
              pf += Load<W>(p.peep + 2 * Hp + j) * cv;
            }
            const V cell = Sigmoid<W>(pf) * cv + Sigmoid<W>(pi) * Tanh<W>(Load<W>(g + 3 * Hp + j));
            if (p.peep) po += Load<W>(p.peep + Hp + j) * cell;
            Store<W>(c + j, cell);
            next = Sigmoid<W>(po) * Tanh<W>(cell);
            break;
          }
        }
        Store<W>(h + j, next);
      }
      if (p.y) {
        const int64_t at =
            p.batch_first ? ((n * T + t) * p.directions + p.d) * H : ((t * p.directions + p.d) * N + n) * H;
        std::memcpy(p.y + at, h, H * sizeof(float));
      }
    }
  }
  for (int64_t n = 0; n < N; ++n) {
    if (p.yh) std::memcpy(p.yh + state_at(n), p.h + n * Hp, H * sizeof(float));
    if (p.yc) std::memcpy(p.yc + state_at(n), p.c + n * Hp, H * sizeof(float));
  }
}

__attribute__((target("avx512f,fma"))) void RunAvx512(const Problem& p) { RunDirection<Avx512Shape>(p); }
__attribute__((target("avx2,fma"))) void RunAvx2(const Problem& p) { RunDirection<Avx2Shape>(p); }
void RunGeneric(const Problem& p) { RunDirection<GenericShape>(p); }

// ---- Weight packing ----

// ONNX W [D, G*H, K] direction d -> [K][G*Hp] (padding columns stay zero).
void PackTransposed(const float* w, int64_t d, int64_t gates, int64_t H, int64_t Hp, int64_t K, float* to) {
  const float* wd = w + d * gates * H * K;
  const int64_t cols = gates * Hp;
  for (int64_t g = 0; g < gates; ++g) {
    for (int64_t j = 0; j < H; ++j) {
      const float* from = wd + (g * H + j) * K;
      for (int64_t k = 0; k < K; ++k) to[k * cols + g * Hp + j] = from[k];
    }
  }
}

class SmallBatchKernel : public Kernel {
 public:
  SmallBatchKernel(const Geometry& g, const KernelSpec& spec, SimdLevel level)
      : g_(g), gates_(recurrent::NumGates(g.kind)), Hp_(Padded(g.hidden)), cols_(gates_ * Hp_) {
    run_ = level == SimdLevel::kAvx512 ? RunAvx512 : level == SimdLevel::kAvx2 ? RunAvx2 : RunGeneric;
    const int64_t D = g.directions;
    has_b_ = spec.has_input(recurrent::kB);
    has_p_ = g.kind == CellKind::kLstm && spec.has_input(recurrent::kPeepholes);
    wt_ = Allocate(D * g.input_size * cols_);
    rt_ = Allocate(D * g.hidden * cols_);
    bias_ = Allocate(D * cols_);
    rb_cand_ = Allocate(D * Hp_);
    peep_ = Allocate(D * 3 * Hp_);
    gx_ = Allocate(g.seq_length * g.batch * cols_);
    h_ = Allocate(g.batch * Hp_);
    c_ = Allocate(g.batch * Hp_);
    aux_ = Allocate(g.batch * Hp_);
    // Plan-constant weights (and absent ones) are packed now, once.
    constant_ = true;
    for (int i : {recurrent::kW, recurrent::kR, recurrent::kB, recurrent::kPeepholes}) {
      if (i == recurrent::kPeepholes && g.kind != CellKind::kLstm) continue;
      if (spec.has_input(i) && !spec.is_constant_input(i)) constant_ = false;
    }
    if (constant_) Pack(spec.inputs);
  }

  bool allocated() const { return wt_ && rt_ && bias_ && rb_cand_ && peep_ && gx_ && h_ && c_ && aux_; }

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
    Problem p{};
    p.kind = g_.kind;
    p.linear_before_reset = g_.linear_before_reset;
    p.T = g_.seq_length, p.N = g_.batch, p.I = g_.input_size, p.H = g_.hidden, p.Hp = Hp_, p.cols = cols_;
    p.batch_first = g_.batch_first;
    p.directions = g_.directions;
    p.x = input(recurrent::kX);
    p.h0 = input(recurrent::kInitialH);
    p.c0 = lstm ? input(recurrent::kInitialC) : nullptr;
    p.y = output(recurrent::kY);
    p.yh = output(recurrent::kYH);
    p.yc = lstm ? output(recurrent::kYC) : nullptr;
    p.gx = gx_.get(), p.h = h_.get(), p.c = c_.get(), p.aux = aux_.get();
    for (int64_t d = 0; d < g_.directions; ++d) {
      p.d = d;
      p.reverse = d == 1 || g_.reverse;
      p.rnn_activation = g_.act(d, 0).kind;
      p.wt = wt_.get() + d * g_.input_size * cols_;
      p.rt = rt_.get() + d * g_.hidden * cols_;
      p.bias = bias_.get() + d * cols_;
      p.rb_cand = rb_cand_.get() + d * Hp_;
      p.peep = has_p_ ? peep_.get() + d * 3 * Hp_ : nullptr;
      run_(p);
    }
    return Status::Ok();
  }

 private:
  // W, R, B, P (ONNX layouts) into the packed buffers.
  void Pack(const std::vector<TensorRef>& in) {
    const int64_t D = g_.directions, H = g_.hidden, I = g_.input_size;
    auto data = [&](int i) { return static_cast<const float*>(in[i].data); };
    for (int64_t d = 0; d < D; ++d) {
      PackTransposed(data(recurrent::kW), d, gates_, H, Hp_, I, wt_.get() + d * I * cols_);
      PackTransposed(data(recurrent::kR), d, gates_, H, Hp_, H, rt_.get() + d * H * cols_);
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
  int64_t gates_, Hp_, cols_;
  bool has_b_ = false, has_p_ = false, constant_ = true;
  void (*run_)(const Problem&) = nullptr;
  Buffer wt_, rt_, bias_, rb_cand_, peep_, gx_, h_, c_, aux_;
};

}  // namespace

bool CpuHas(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return __builtin_cpu_supports("avx512f");
    case SimdLevel::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdLevel::kGeneric: return true;
  }
  return false;
}

SimdLevel BestSimdLevel() {
  for (SimdLevel level : {SimdLevel::kAvx512, SimdLevel::kAvx2}) {
    if (CpuHas(level)) return level;
  }
  return SimdLevel::kGeneric;
}

StatusOr<std::unique_ptr<Kernel>> BuildSmallBatchRecurrent(const Geometry& g, const KernelSpec& spec, SimdLevel level) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  auto kernel = std::make_unique<SmallBatchKernel>(g, spec, level);
  if (!kernel->allocated()) return Internal("cannot allocate the small-batch recurrent kernel's buffers");
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace kiln::runtime::onednn
