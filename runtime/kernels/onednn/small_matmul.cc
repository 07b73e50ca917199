// The small-M product kernel (see the header for when and why):
//
//   Y = activation(alpha * A B + column + full...)
//
// B (K x N, a plan constant) is packed once into panels of P = kVecs * W columns, each panel
// [K][P] contiguous and zero-padded past N, so a tile of rows reads one panel front to back
// with whole-vector loads. `column` is a per-column addend (FusedMatMul's bias, Gemm's beta C
// when C is a row) and `full` up to two addends of the output's shape (a bias or C of that
// shape, the residual Z). Relu runs in the epilogue; the other fusable activations run after
// the product as their reference kernels (exact ONNX semantics, on M x N values only).
// The loops are compiled for AVX-512, AVX2+FMA and plain x86-64 and picked when the kernel
// is built (BestSimdLevel: the CPU and oneDNN's ISA limit).
#include "runtime/kernels/onednn/small_matmul.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "ir/core/fused_ops.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/panel_product.h"
#include "runtime/kernels/onednn/simd_vec.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

// Where each operand of the product lies, and the epilogue; strides in floats.
struct Geometry {
  int64_t m = 0, k = 0, n = 0;
  int64_t lda = 0, a_step = 1;  // a[i][p] at a[i * lda + p * a_step]
  bool trans_b = false;         // B stored [N][K]
  float alpha = 1.0f;
  int column_input = -1;  // per-column addend (1 or N elements), times column_scale
  float column_scale = 1.0f;
  int full_inputs[2] = {-1, -1};  // addends of the output's shape, times full_scales
  float full_scales[2] = {1.0f, 1.0f};
  int num_full = 0;
  std::string activation;  // "" none; Relu runs in the epilogue, the others after it
};

bool AllOnes(const Dims& dims, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (dims[i] != 1) return false;
  }
  return true;
}

// An addend of the product [rows, n] with output dims `out`: a column (scalar or [.., n]) or
// of the output's own shape; anything else (a per-row C) is refused.
Status AddAddend(const TensorRef& t, const Dims& out, int64_t n, float scale, int input, Geometry& g) {
  const Dims& d = t.dims;
  const int64_t elements = t.num_elements();
  if ((elements == 1 || elements == n) && (d.empty() || (AllOnes(d, d.size() - 1) && d.back() == elements))) {
    if (g.column_input >= 0) return Unimplemented("two per-column addends");
    g.column_input = input;
    g.column_scale = scale;
    return Status::Ok();
  }
  if (d.size() <= out.size() && PadLeft(d, out.size()) == out) {
    g.full_inputs[g.num_full] = input;
    g.full_scales[g.num_full++] = scale;
    return Status::Ok();
  }
  return Unimplemented("an addend of shape ", DimsToString(d), " is neither per column nor the output's shape");
}

StatusOr<Geometry> Analyze(const KernelSpec& spec) {
  const std::string& op = spec.op_type;
  if (op != "MatMul" && op != "FusedMatMul" && op != "Gemm") return Unimplemented("not a product");
  if (spec.inputs.size() < 2 || spec.outputs.size() != 1) return Unimplemented("unexpected operands");
  for (const auto* list : {&spec.inputs, &spec.outputs}) {
    for (const TensorRef& t : *list) {
      if (t.dtype == proto::DT_UNDEFINED) continue;
      if (t.dtype != proto::DT_FLOAT) return Unimplemented("float32 only");
      if (t.layout != proto::LAYOUT_PLAIN) return Unimplemented("plain tensors only");
      if (t.num_elements() == 0) return Unimplemented("an empty tensor");
    }
  }
  if (spec.constant_inputs.size() < 2 || !spec.constant_inputs[1]) return Unimplemented("B is not a plan constant");
  Geometry g;
  const Dims& a = spec.inputs[0].dims;
  const Dims& b = spec.inputs[1].dims;
  const Dims& out = spec.outputs[0].dims;
  if (a.empty() || b.empty() || b.size() > 2) return Unimplemented("B must be 1-D or 2-D");
  if (op == "Gemm") {
    if (a.size() != 2) return Unimplemented("A must be 2-D");
    const bool trans_a = spec.attrs.GetInt("transA", 0) != 0;
    g.trans_b = spec.attrs.GetInt("transB", 0) != 0;
    g.m = trans_a ? a[1] : a[0];
    g.k = trans_a ? a[0] : a[1];
    g.lda = trans_a ? 1 : g.k;
    g.a_step = trans_a ? g.m : 1;
    g.n = g.trans_b ? b[0] : b[1];
    if ((g.trans_b ? b[1] : b[0]) != g.k) return Unimplemented("inner dims differ");
    g.alpha = spec.attrs.GetFloat("alpha", 1.0f);
    const float beta = spec.attrs.GetFloat("beta", 1.0f);
    if (spec.has_input(2) && beta != 0.0f) RETURN_IF_ERROR(AddAddend(spec.inputs[2], out, g.n, beta, 2, g));
  } else {
    g.k = a.back();
    g.m = a.size() == 1 ? 1 : ElementCount(a) / g.k;  // batch dims fold into the rows
    g.lda = g.k;
    g.n = b.size() == 1 ? 1 : b[1];
    if (b[0] != g.k) return Unimplemented("inner dims differ");
    if (op == "FusedMatMul") {
      if (spec.has_input(kFusedBiasInput))
        RETURN_IF_ERROR(AddAddend(spec.inputs[kFusedBiasInput], out, g.n, 1.0f, kFusedBiasInput, g));
      if (spec.has_input(kFusedResidualInput)) {
        const Dims& z = spec.inputs[kFusedResidualInput].dims;
        if (z.size() > out.size() || PadLeft(z, out.size()) != out)
          return Unimplemented("residual shape differs from the output's");
        g.full_inputs[g.num_full] = kFusedResidualInput;
        g.full_scales[g.num_full++] = 1.0f;
      }
      g.activation = spec.attrs.GetString("activation", "");
      if (!g.activation.empty() && !IsFusableActivation(g.activation)) {
        return Unimplemented("activation '", g.activation, "'");
      }
    }
  }
  if (g.m * g.n != spec.outputs[0].num_elements()) return Unimplemented("unexpected output shape");
  return g;
}

// ---- Loops on vectors of W floats (simd_vec.h) ----

// Tile shapes: W floats per vector, kVecs vectors per panel (P = kVecs * W columns), kRows
// rows per tile; kRows * kVecs accumulators plus kVecs loads fit the register file.
// kStreams: the K segments one row walks at once (Tile), kStreams * kVecs accumulators.
struct Avx512Shape {
  static constexpr int W = 16, kVecs = 4, kRows = 4, kStreams = 4;
};
struct Avx2Shape {
  static constexpr int W = 8, kVecs = 4, kRows = 2, kStreams = 2;
};
struct GenericShape {
  static constexpr int W = 4, kVecs = 4, kRows = 2, kStreams = 2;
};
int PanelWidth(SimdLevel level) {
  switch (level) {
    case SimdLevel::kAvx512: return Avx512Shape::W * Avx512Shape::kVecs;
    case SimdLevel::kAvx2: return Avx2Shape::W * Avx2Shape::kVecs;
    case SimdLevel::kGeneric: break;
  }
  return GenericShape::W * GenericShape::kVecs;
}

// What one thread's share of a run reads and writes.
struct Problem {
  Geometry g;
  const float* a;
  const float* packed;  // [panels][K][P]
  const float* column;  // [panels * P], column_scale applied, zeros past N
  const float* full[2];
  float* y;
  int64_t panel0, panel1;
  bool relu;
};

// acc[r][v] = sum_p a[r][p] * panel[p][v * W ...]. One row (a matrix-vector product, where
// the weights stream from memory once per run) walks the panel as kStreams interleaved
// segments of K, each with its own accumulators: one core then has several sequential reads
// in flight instead of one (ResNet-50's 8 MB classifier at batch 1: 0.43 -> 0.39 ms on 2
// threads; software prefetches on top gained nothing), and the independent FMA chains keep
// the loads, not the FMA latency, the limit.
template <class S, int R>
KILN_INLINE void Tile(const Problem& q, const float* a, const float* panel, FloatVec<S::W> (&acc)[R][S::kVecs]) {
  constexpr int W = S::W, V = S::kVecs, P = W * V;
  const int64_t k = q.g.k, lda = q.g.lda, step = q.g.a_step;
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[r][v] = FloatVec<W>{};
  }
  int64_t p = 0;
  if constexpr (R == 1) {
    constexpr int kStreams = S::kStreams;
    const int64_t seg = k / kStreams;  // segment s covers [s * seg, (s + 1) * seg); the rest below
    FloatVec<W> part[kStreams][V] = {};
    for (int64_t i = 0; i < seg; ++i) {
#pragma GCC unroll 8
      for (int t = 0; t < kStreams; ++t) {
        const int64_t row = t * seg + i;
        const FloatVec<W> at = Broadcast<W>(a[row * step]);
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) part[t][v] += at * LoadVec<W>(panel + row * P + v * W);
      }
    }
#pragma GCC unroll 8
    for (int t = 0; t < kStreams; ++t) {
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[0][v] += part[t][v];
    }
    p = kStreams * seg;
  }
  for (; p < k; ++p) {
    FloatVec<W> bv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) bv[v] = LoadVec<W>(panel + p * P + v * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const FloatVec<W> ar = Broadcast<W>(a[r * lda + p * step]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] += ar * bv[v];
    }
  }
}

// y[row + j ...] = act(x + full...) for `count` of x's W lanes (x: alpha * sums + column; the
// columns past N dropped), the other activations later (PrepareActivation).
template <int W>
KILN_INLINE void StoreOutput(const Geometry& g, const float* const (&full)[2], bool relu, float* y, int64_t row,
                             int64_t j, int64_t count, FloatVec<W> x) {
  if (count == W) {
    for (int f = 0; f < g.num_full; ++f) x += Broadcast<W>(g.full_scales[f]) * LoadVec<W>(full[f] + row + j);
    if (relu) x = x < FloatVec<W>{} ? FloatVec<W>{} : x;  // NaN stays NaN, as ONNX's Relu
    StoreVec<W>(y + row + j, x);
    return;
  }
  float lanes[W];
  StoreVec<W>(lanes, x);
  for (int64_t c = 0; c < count; ++c) {
    float v = lanes[c];
    for (int f = 0; f < g.num_full; ++f) v += g.full_scales[f] * full[f][row + j + c];
    if (relu && v < 0) v = 0;
    y[row + j + c] = v;
  }
}

// Y[i0 + r][j0 ...] = act(alpha * acc + column + full...), the columns past N dropped.
template <class S, int R>
KILN_INLINE void Epilogue(const Problem& q, int64_t i0, int64_t j0, FloatVec<S::W> (&acc)[R][S::kVecs]) {
  constexpr int W = S::W, V = S::kVecs;
  const Geometry& g = q.g;
  const FloatVec<W> alpha = Broadcast<W>(g.alpha);
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const int64_t j = j0 + v * W, count = std::clamp<int64_t>(g.n - j, 0, W);
      if (count > 0)
        StoreOutput<W>(g, q.full, q.relu, q.y, (i0 + r) * g.n, j, count, acc[r][v] * alpha + LoadVec<W>(q.column + j));
    }
  }
}

template <class S>
KILN_INLINE void RunPanels(const Problem& q) {
  constexpr int P = S::W * S::kVecs, R = S::kRows;
  using V = FloatVec<S::W>;
  const int64_t m = q.g.m;
  for (int64_t panel = q.panel0; panel < q.panel1; ++panel) {
    const float* b = q.packed + panel * q.g.k * P;
    const int64_t j0 = panel * P;
    int64_t i = 0;
    for (; i + R <= m; i += R) {
      V acc[R][S::kVecs];
      Tile<S, R>(q, q.a + i * q.g.lda, b, acc);
      Epilogue<S, R>(q, i, j0, acc);
    }
    for (; i < m; ++i) {
      V acc[1][S::kVecs];
      Tile<S, 1>(q, q.a + i * q.g.lda, b, acc);
      Epilogue<S, 1>(q, i, j0, acc);
    }
  }
}

KILN_TARGET_AVX512 void RunAvx512(const Problem& q) { RunPanels<Avx512Shape>(q); }
__attribute__((target("avx2,fma"))) void RunAvx2(const Problem& q) { RunPanels<Avx2Shape>(q); }
void RunGeneric(const Problem& q) { RunPanels<GenericShape>(q); }

// ---- The blocked product ("sgemm"): many rows ----
//
// B is packed once into pairs of W-column panels, interleaved ([pairs][K][2W]: one stream
// per tile). A run splits the rows over the threads (or, where the rows are few, the pairs
// of panels); each block of up to kBlockRows rows is copied into panels of TileRows
// interleaved rows (zero rows up to a whole tile), then, in chunks of kChunkColumns output
// columns (their sums, kBlockRows x kChunkColumns floats, stay in L2) and slices of the
// depth (PanelDepthSlice: a pair of panels over one slice, 16 KiB, stays in L1 while the
// block's tiles pass), panel_product.h's register tiles add A's slice times B's panels into
// the sums; the epilogue stores them. 2-core AMD EPYC Zen 3, MatMul 2048^3: 96 or 192 rows
// and 256 or 512 columns within 2%, 179 GFLOP/s (oneDNN's matmul 175); A in plain rows
// instead of interleaved ones, or two panels apart instead of interleaved, 3-5% slower.
constexpr int64_t kBlockRows = 192;     // a multiple of every TileRows
constexpr int64_t kChunkColumns = 512;  // a multiple of every pair of panels

struct BlockedProblem {
  const Geometry* g;
  const float* a;
  const float* packed;  // [pairs][K][2W]
  const float* column;  // [pairs * 2W], column_scale applied, zeros past N
  const float* full[2];
  float* y;
  bool relu;
};

// Rows [r0, r1) by W-column blocks [kb0, kb1); `a` and `m` the share's scratch.
struct BlockedItem {
  int64_t r0, r1, kb0, kb1;
  float* a;
  float* m;
};

// Columns [p0, p0 + 8) of six rows (src[r] + p0) into out, interleaved: out[j * 6 + r] =
// src[r][p0 + j], by an 8 x 8 transpose (rows 6 and 7 repeat row 5; each column's store is
// overwritten past its 6 floats by the next one's, the last one's cut). On
// __builtin_shufflevector, not GCC's __builtin_shuffle: the fuzzers build with clang.
KILN_INLINE void InterleaveSixRows(const float* const (&src)[6], int64_t p0, float* out) {
  using V = FloatVec<8>;
  V r[8];
#pragma GCC unroll 8
  for (int i = 0; i < 8; ++i) r[i] = LoadVec<8>(src[i < 6 ? i : 5] + p0);
  V t[8], u[8], c[8];
#pragma GCC unroll 4
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
    t[2 * i + 1] = __builtin_shufflevector(r[2 * i], r[2 * i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {  // rows 0-3, then 4-7
    u[4 * h] = __builtin_shufflevector(t[4 * h], t[4 * h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * h + 1] = __builtin_shufflevector(t[4 * h], t[4 * h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
    u[4 * h + 2] = __builtin_shufflevector(t[4 * h + 1], t[4 * h + 3], 0, 1, 8, 9, 4, 5, 12, 13);
    u[4 * h + 3] = __builtin_shufflevector(t[4 * h + 1], t[4 * h + 3], 2, 3, 10, 11, 6, 7, 14, 15);
  }
#pragma GCC unroll 4
  for (int j = 0; j < 4; ++j) {  // u[j]: columns j and j + 4 of rows 0-3; u[j + 4]: of rows 4-7
    c[j] = __builtin_shufflevector(u[j], u[j + 4], 0, 1, 2, 3, 8, 9, 10, 11);
    c[j + 4] = __builtin_shufflevector(u[j], u[j + 4], 4, 5, 6, 7, 12, 13, 14, 15);
  }
#pragma GCC unroll 8
  for (int j = 0; j < 7; ++j) StoreVec<8>(out + j * 6, c[j]);
  float last[8];
  StoreVec<8>(last, c[7]);
  std::memcpy(out + 42, last, 6 * sizeof(float));
}

// One tile of the block's rows from r (`left` of them still to come) by NB W-column blocks
// over A's depth slice [d0, d0 + depth) from u: the last tile, where it has a third or two
// thirds of TileRows rows, as that many (the panel's rows past them are zeros: MLP b64's 64
// rows are 10 tiles of 6 and one of 4, not 6).
template <int W, int NB>
KILN_INLINE void BlockedTile(const BlockedItem& it, int64_t r, int64_t left, int64_t k, int64_t d0, int64_t depth,
                             const float* u, int64_t m_column, int64_t ldm, int64_t slice) {
  constexpr int R = TileRows<W>();
  const float* a = it.a + r * k + d0 * R;
  float* m = it.m + r * ldm + m_column;
  if (left <= R / 3) return ProductTile<W, R / 3, NB, R, 2 * W>(a, 1, depth, u, W, m, ldm, slice > 0);
  if (left <= 2 * R / 3) return ProductTile<W, 2 * R / 3, NB, R, 2 * W>(a, 1, depth, u, W, m, ldm, slice > 0);
  ProductTile<W, R, NB, R, 2 * W>(a, 1, depth, u, W, m, ldm, slice > 0);
}

template <int W>
KILN_INLINE void RunBlockedItem(const BlockedProblem& q, const BlockedItem& it) {
  constexpr int R = TileRows<W>();
  const Geometry& g = *q.g;
  const int64_t k = g.k, n = g.n, rows = it.r1 - it.r0;
  const int64_t padded = (rows + R - 1) / R * R;
  // A's block as panels of R interleaved rows, [padded / R][k][R]: the tiles' broadcasts then
  // read one sequential stream.
  for (int64_t t = 0; t < padded; t += R) {
    float* panel = it.a + t * k;
    if constexpr (W == 8 && R == 6) {
      if (t + R <= rows && g.a_step == 1) {  // a whole tile of plain rows: 8 columns at a time
        const float* src[6];
#pragma GCC unroll 6
        for (int r = 0; r < 6; ++r) src[r] = q.a + (it.r0 + t + r) * g.lda;
        int64_t p = 0;
        for (; p + 8 <= k; p += 8) InterleaveSixRows(src, p, panel + p * 6);
        for (; p < k; ++p) {
#pragma GCC unroll 6
          for (int r = 0; r < 6; ++r) panel[p * 6 + r] = src[r][p];
        }
        continue;
      }
    }
    for (int64_t r = 0; r < R; ++r) {
      if (t + r >= rows) {
        for (int64_t p = 0; p < k; ++p) panel[p * R + r] = 0;
        continue;
      }
      const float* src = q.a + (it.r0 + t + r) * g.lda;
      for (int64_t p = 0; p < k; ++p) panel[p * R + r] = src[p * g.a_step];
    }
  }
  // Slices of equal depth: K = 784 is 4 x 196, not 3 x 256 and a slice of 16.
  const int64_t slices = (k + PanelDepthSlice<W>() - 1) / PanelDepthSlice<W>();
  for (int64_t c0 = it.kb0; c0 < it.kb1; c0 += kChunkColumns / W) {
    const int64_t c1 = std::min(it.kb1, c0 + kChunkColumns / W), ldm = (c1 - c0) * W;
    for (int64_t s = 0; s < slices; ++s) {
      const int64_t d0 = k * s / slices, depth = k * (s + 1) / slices - d0;
      int64_t kb = c0;
      // The next pair's slice into L2 while this pair's tiles run, spread over the tiles, where
      // they are many (8 lines a tile or fewer): else the prefetches cost more than they save.
      // 2-core EPYC Zen 3, best of 4 alternating: MatMul 2048^3 187 GFLOP/s, 179 without;
      // 64x784x512 (18 lines a tile) 3% slower with them.
      const int64_t slice_lines = depth * 2 * W * static_cast<int64_t>(sizeof(float)) / 64, tiles = padded / R;
      const int64_t lines_per_tile = (slice_lines + tiles - 1) / tiles;
      const bool prefetch = lines_per_tile <= 8;
      for (; kb + 2 <= c1; kb += 2) {
        const char* next =
            prefetch && kb + 4 <= c1 ? reinterpret_cast<const char*>(q.packed + ((kb + 2) * k + d0 * 2) * W) : nullptr;
        for (int64_t r = 0, t = 0; r < padded; r += R, ++t) {
          if (next) {
            for (int64_t l = t * lines_per_tile; l < std::min(slice_lines, (t + 1) * lines_per_tile); ++l)
              __builtin_prefetch(next + l * 64, 0, 2);
          }
          BlockedTile<W, 2>(it, r, rows - r, k, d0, depth, q.packed + (kb * k + d0 * 2) * W, (kb - c0) * W, ldm, s);
        }
      }
      if (kb < c1) {
        for (int64_t r = 0; r < padded; r += R)
          BlockedTile<W, 1>(it, r, rows - r, k, d0, depth, q.packed + (kb * k + d0 * 2) * W, (kb - c0) * W, ldm, s);
      }
    }
    // alpha made here: held across the product above, it and a zero vector took two of its 16
    // registers, and GCC then spilled a panel's vector (MatMul 2048^3 at 105 GFLOP/s).
    const FloatVec<W> alpha = Broadcast<W>(g.alpha);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t kb = c0; kb < c1; ++kb) {
        const int64_t j = kb * W;
        StoreOutput<W>(g, q.full, q.relu, q.y, (it.r0 + r) * n, j, std::min<int64_t>(W, n - j),
                       LoadVec<W>(it.m + r * ldm + (kb - c0) * W) * alpha + LoadVec<W>(q.column + j));
      }
    }
  }
}

KILN_TARGET_AVX512 void RunBlockedAvx512(const BlockedProblem& q, const BlockedItem& it) { RunBlockedItem<16>(q, it); }
__attribute__((target("avx2,fma"))) void RunBlockedAvx2(const BlockedProblem& q, const BlockedItem& it) {
  RunBlockedItem<8>(q, it);
}
void RunBlockedGeneric(const BlockedProblem& q, const BlockedItem& it) { RunBlockedItem<4>(q, it); }

class SmallMatMulKernel : public Kernel {
 public:
  // `blocked`: the blocked product, B in interleaved pairs of W-column panels, else the
  // small-row one, B in panels of PanelWidth.
  SmallMatMulKernel(const KernelSpec& spec, const Geometry& g, SimdLevel level, bool blocked)
      : g_(g), panel_width_(PanelWidth(level)), label_(spec.Label()) {
    switch (level) {
      case SimdLevel::kAvx512: run_ = RunAvx512, run_blocked_ = RunBlockedAvx512, width_ = 16; break;
      case SimdLevel::kAvx2: run_ = RunAvx2, run_blocked_ = RunBlockedAvx2, width_ = 8; break;
      case SimdLevel::kGeneric: run_ = RunGeneric, run_blocked_ = RunBlockedGeneric, width_ = 4; break;
    }
    if (!blocked) run_blocked_ = nullptr;
    if (blocked) panel_width_ = 2 * width_;
    panels_ = (g.n + panel_width_ - 1) / panel_width_;
    packed_ = AllocateZeroed(panels_ * g.k * panel_width_);
    column_ = AllocateZeroed(panels_ * panel_width_);
    if (packed_) Pack(static_cast<const float*>(spec.inputs[1].data));
    // Shares of the panels over the threads only where oneDNN's kernels would wake them too.
    parallel_ = !OneDnnKernelRunsOnOneThread(spec);
    if (blocked) {
      shares_ = parallel_ ? std::max(1, omp_get_max_threads()) : 1;
      share_floats_ = kBlockRows * (g.k + std::min(kChunkColumns, panels_ * panel_width_));
      scratch_ = AllocateZeroed(shares_ * share_floats_);
    }
  }

  // The activations other than Relu: their reference kernels over the output (after a copy,
  // so no kernel reads what it writes).
  Status PrepareActivation(const KernelSpec& spec) {
    if (g_.activation.empty() || g_.activation == "Relu") return Status::Ok();
    const int64_t count = g_.m * g_.n;
    KernelSpec act;
    act.name = spec.name;
    act.op_type = g_.activation;
    act.env = spec.env;
    act.inputs = {TensorRef{proto::DT_FLOAT, {count}, nullptr}};
    act.outputs = act.inputs;
    if (g_.activation == "Clip") {
      clip_bounds_ = {
          Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{spec.attrs.GetFloat("activation_alpha", 0.0f)}),
          Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{spec.attrs.GetFloat("activation_beta", 0.0f)})};
      for (const Tensor& t : clip_bounds_) act.inputs.push_back(t.ref());
    } else if (spec.attrs.Has("activation_alpha")) {
      act.attrs.SetFloat("alpha", spec.attrs.GetFloat("activation_alpha", 0.0f));
    }
    ASSIGN_OR_RETURN(activation_, KernelRegistry::Global().Create("ref", act));
    act_inputs_ = act.inputs;
    act_outputs_ = act.outputs;
    pre_activation_ = AllocateZeroed(count);
    return pre_activation_ ? Status::Ok() : Internal("cannot allocate ", count, " floats");
  }

  bool allocated() const { return packed_ && column_ && (!run_blocked_ || scratch_); }
  std::vector<ConstantSpan> PackedConstants() const override {
    return {{packed_.get(), static_cast<size_t>(panels_ * g_.k * panel_width_) * sizeof(float)}};
  }

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    Problem q{g_, in[0].as<float>(),      packed_.get(), column_.get(), {nullptr, nullptr}, out[0].as<float>(), 0,
              0,  g_.activation == "Relu"};
    if (g_.column_input >= 0) {
      const float* c = in[g_.column_input].as<float>();
      const bool scalar = in[g_.column_input].num_elements() == 1;
      for (int64_t j = 0; j < g_.n; ++j) column_[j] = g_.column_scale * c[scalar ? 0 : j];
    }
    for (int f = 0; f < g_.num_full; ++f) q.full[f] = in[g_.full_inputs[f]].as<float>();
    if (run_blocked_) {
      RunBlocked(q);
    } else {
      RunSmall(q);
    }
    if (!activation_) return Status::Ok();
    std::memcpy(pre_activation_.get(), q.y, static_cast<size_t>(g_.m * g_.n) * sizeof(float));
    act_inputs_[0].data = pre_activation_.get();
    act_outputs_[0].data = q.y;
    Status s = activation_->Run(act_inputs_, act_outputs_);
    return s.ok() ? s : s.WithContext(label_);
  }

 private:
  void RunSmall(Problem q) const {
    const int parts = parallel_ ? static_cast<int>(std::min<int64_t>(omp_get_max_threads(), panels_)) : 1;
    if (parts <= 1) {
      q.panel1 = panels_;
      run_(q);
    } else {
      RunShares(parts, [&](int t) {
        Problem share = q;
        share.panel0 = panels_ * t / parts;
        share.panel1 = panels_ * (t + 1) / parts;
        run_(share);
      });
    }
  }

  // Rows split over the shares in whole tiles where there are at least two blocks of rows
  // per share, else the columns, in pairs of panels (each share then reads all of A).
  void RunBlocked(const Problem& p) const {
    const BlockedProblem q{&g_, p.a, p.packed, p.column, {p.full[0], p.full[1]}, p.y, p.relu};
    const int64_t m = g_.m, tile = width_ == 16 ? TileRows<16>() : width_ == 8 ? TileRows<8>() : TileRows<4>();
    const int64_t tiles = (m + tile - 1) / tile, pairs = panels_, kblocks = (g_.n + width_ - 1) / width_;
    const int shares = static_cast<int>(std::min<int64_t>(shares_, omp_get_max_threads()));
    const bool split_rows = (m + kBlockRows - 1) / kBlockRows >= 2 * shares;
    const int used = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(shares, split_rows ? tiles : pairs)));
    auto share = [&](int s) {
      int64_t r0 = 0, r1 = m, kb0 = 0, kb1 = kblocks;
      if (split_rows) {
        r0 = std::min(m, tiles * s / used * tile), r1 = std::min(m, tiles * (s + 1) / used * tile);
      } else {
        kb0 = 2 * (pairs * s / used), kb1 = std::min(kblocks, 2 * (pairs * (s + 1) / used));
      }
      float* a = scratch_.get() + s * share_floats_;
      for (int64_t r = r0; r < r1; r += kBlockRows) {
        if (kb0 < kb1)
          run_blocked_(q, BlockedItem{r, std::min(r1, r + kBlockRows), kb0, kb1, a, a + kBlockRows * g_.k});
      }
    };
    if (used <= 1) return share(0);
    RunShares(used, share);
  }

  // B (as stored: [K][N], or [N][K] transposed) into [panels][K][P].
  void Pack(const float* b) {
    const int64_t P = panel_width_;
    for (int64_t p = 0; p < g_.k; ++p) {
      for (int64_t j = 0; j < g_.n; ++j) {
        const float v = g_.trans_b ? b[j * g_.k + p] : b[p * g_.n + j];
        packed_[(j / P) * g_.k * P + p * P + j % P] = v;
      }
    }
  }

  Geometry g_;
  int64_t panel_width_, panels_ = 0;
  std::string label_;
  void (*run_)(const Problem&) = RunGeneric;
  void (*run_blocked_)(const BlockedProblem&, const BlockedItem&) = nullptr;  // set: the blocked product
  int64_t width_ = 4, share_floats_ = 0;
  int shares_ = 1;
  bool parallel_ = false;
  AlignedFloats packed_, column_, pre_activation_, scratch_;
  std::unique_ptr<Kernel> activation_;
  std::vector<Tensor> clip_bounds_;
  std::vector<TensorRef> act_inputs_, act_outputs_;
};

}  // namespace

std::string SmallMatMulUnsupportedReason(const KernelSpec& spec) {
  auto g = Analyze(spec);
  return g.ok() ? "" : g.status().message();
}

namespace {
// Why the blocked kernel refuses a product Analyze accepted ("" when it does not).
std::string BlockedDepthReason(const Geometry& g) {
  return g.k > kBlockedMatMulMaxDepth ? "a depth over " + std::to_string(kBlockedMatMulMaxDepth) : "";
}
}  // namespace

std::string BlockedMatMulUnsupportedReason(const KernelSpec& spec) {
  auto g = Analyze(spec);
  return g.ok() ? BlockedDepthReason(*g) : g.status().message();
}

int64_t SmallMatMulRows(const KernelSpec& spec) {
  auto g = Analyze(spec);
  return g.ok() ? g->m : 0;
}

StatusOr<std::unique_ptr<Kernel>> BuildSmallMatMul(const KernelSpec& spec, SimdLevel level, bool blocked) {
  if (!CpuHas(level)) return Unimplemented("this CPU lacks the instruction set asked for");
  auto g = Analyze(spec);
  if (!g.ok()) return g.status().WithContext(spec.Label());
  if (!spec.is_constant_input(1)) return Unimplemented(spec.Label(), ": B has no data");
  if (const std::string why = blocked ? BlockedDepthReason(*g) : ""; !why.empty())
    return Unimplemented(spec.Label(), ": ", why);
  auto kernel = std::make_unique<SmallMatMulKernel>(spec, *g, level, blocked);
  if (!kernel->allocated()) return Internal(spec.Label(), ": cannot allocate the packed weights");
  Status s = kernel->PrepareActivation(spec);
  if (!s.ok()) return s.WithContext(spec.Label());
  return std::unique_ptr<Kernel>(std::move(kernel));
}

void RegisterSmallMatMulKernels(KernelRegistry& r) {
  for (const char* op : {"MatMul", "FusedMatMul", "Gemm"}) {
    r.Register("gemv", op, [](const KernelSpec& spec) { return BuildSmallMatMul(spec, BestSimdLevel(), false); });
    r.Register(kBlockedProductKernel, op,
               [](const KernelSpec& spec) { return BuildSmallMatMul(spec, BestSimdLevel(), true); });
  }
}

}  // namespace kiln::runtime::onednn
