// The register-tiled matrix product and the output store shared by Kiln's convolutions that
// multiply gathered input rows by packed weights (winograd_f23.cc, im2col_conv.cc), and the
// operand checks of every channels-last convolution of its own (those two and small_conv.cc).
// Include only from .cc files (the functions are inlined into per-ISA entry points).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>

#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/onednn/simd_vec.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {

// What these kernels take: Conv or FusedConv, 2-D, one group, float32, the weights a plan
// constant, X, Y and a residual channels-last (X may be one plain channel where
// `plain_single_channel`: a gray image, whose rows are channels-last too), no activation but
// Relu, bias [K].
struct ChannelsLastConv {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t k = 0, oh = 0, ow = 0;       // output
  int64_t kh = 0, kw = 0;
  WindowGeometry window;  // the caller checks window.output against Y (CheckOutputDims)
  bool relu = false, residual = false;
};

inline Status CheckOutputDims(const ChannelsLastConv& g) {
  if (g.window.output != Dims{g.oh, g.ow}) return Unimplemented("output spatial dims differ from the window geometry");
  return Status::Ok();
}

inline StatusOr<ChannelsLastConv> AnalyzeChannelsLastConv(const KernelSpec& spec, bool plain_single_channel = false) {
  const std::string& op = spec.op_type;
  if (op != "Conv" && op != "FusedConv") return Unimplemented("not a convolution");
  if (spec.inputs.size() < 2 || spec.outputs.size() != 1) return Unimplemented("unexpected operands");
  for (const auto* list : {&spec.inputs, &spec.outputs}) {
    for (const TensorRef& t : *list) {
      if (t.dtype == proto::DT_UNDEFINED) continue;
      if (t.dtype != proto::DT_FLOAT) return Unimplemented("float32 only");
      if (t.num_elements() == 0) return Unimplemented("an empty tensor");
    }
  }
  const Dims& x = spec.inputs[0].dims;
  const Dims& w = spec.inputs[1].dims;
  const Dims& y = spec.outputs[0].dims;
  if (x.size() != 4 || w.size() != 4 || y.size() != 4) return Unimplemented("2-D convolutions only");
  if (spec.attrs.GetInt("group", 1) != 1) return Unimplemented("grouped convolution");
  if (spec.constant_inputs.size() < 2 || !spec.constant_inputs[1]) return Unimplemented("weights not a constant");
  if (spec.outputs[0].layout != proto::LAYOUT_CHANNELS_LAST) return Unimplemented("output not channels-last");
  const Layout in = spec.inputs[0].layout;
  if (in != proto::LAYOUT_CHANNELS_LAST && !(plain_single_channel && in == proto::LAYOUT_PLAIN && x[1] == 1))
    return Unimplemented(plain_single_channel ? "input neither channels-last nor one plain channel"
                                              : "input not channels-last");
  if (x[1] != w[1] || y[1] != w[0] || y[0] != x[0]) return Unimplemented("channels do not match");
  if (spec.has_input(2) && spec.inputs[2].num_elements() != w[0]) return Unimplemented("bias size");
  ChannelsLastConv g;
  if (op == "FusedConv") {
    const std::string act = spec.attrs.GetString("activation", "");
    if (!act.empty() && act != "Relu") return Unimplemented("activation '", act, "'");
    g.relu = act == "Relu";
    if (spec.has_input(kFusedResidualInput)) {
      const TensorRef& z = spec.inputs[kFusedResidualInput];
      if (z.dims != y || z.layout != proto::LAYOUT_CHANNELS_LAST) return Unimplemented("residual not as the output");
      g.residual = true;
    }
  }
  ASSIGN_OR_RETURN(g.window, ComputeWindowGeometry({x[2], x[3]}, {w[2], w[3]}, spec.attrs));
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.k = w[0], g.oh = y[2], g.ow = y[3], g.kh = w[2], g.kw = w[3];
  return g;
}

// Whether every weight of `spec` (input 1, when bound) is finite: a product over gathered
// rows multiplies the padding's zeros by every weight, where the reference skips those taps.
inline bool FiniteWeights(const KernelSpec& spec) {
  const float* w = static_cast<const float*>(spec.inputs[1].data);
  if (!w) return true;
  for (int64_t i = 0; i < spec.inputs[1].num_elements(); ++i) {
    if (!std::isfinite(w[i])) return false;
  }
  return true;
}

// R rows of A (row r's column ic at rows[r][ic * kStep]) times NB output-channel blocks of
// packed weights (block b's panel at u + b * u_stride, [depth][kURow], W used per row: panels
// of their own, or with u_stride W and kURow 2W two interleaved), over `depth` of A's columns,
// into m (row stride ldm), or added to m where `accumulate`: each broadcast input feeds NB
// multiply-adds.
template <int W, int R, int NB, int kStep = 1, int kURow = W>
KILN_INLINE void ProductTileOfRows(const float* const (&rows)[R], int64_t depth, const float* u, int64_t u_stride,
                                   float* m, int64_t ldm, bool accumulate) {
  FloatVec<W> acc[NB][R];
#pragma GCC unroll 2
  for (int b = 0; b < NB; ++b) {
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[b][r] = accumulate ? LoadVec<W>(m + r * ldm + b * W) : FloatVec<W>{};
  }
  const float* ub[NB];
#pragma GCC unroll 2
  for (int b = 0; b < NB; ++b) ub[b] = u + b * u_stride;
  for (int64_t ic = 0; ic < depth; ++ic) {
    FloatVec<W> wv[NB];
#pragma GCC unroll 2
    for (int b = 0; b < NB; ++b) wv[b] = LoadVec<W>(ub[b] + ic * kURow);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) {
      const FloatVec<W> xv = Broadcast<W>(rows[r][ic * kStep]);
#pragma GCC unroll 2
      for (int b = 0; b < NB; ++b) acc[b][r] += xv * wv[b];
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 2
    for (int b = 0; b < NB; ++b) StoreVec<W>(m + r * ldm + b * W, acc[b][r]);
  }
}

// The same with A's rows lda apart from a (row r's column ic at a[r * lda + ic * kStep]: rows
// of a matrix, or with lda 1 and kStep R a panel of R interleaved rows).
template <int W, int R, int NB, int kStep = 1, int kURow = W>
KILN_INLINE void ProductTile(const float* a, int64_t lda, int64_t depth, const float* u, int64_t u_stride, float* m,
                             int64_t ldm, bool accumulate) {
  const float* rows[R];
#pragma GCC unroll 16
  for (int r = 0; r < R; ++r) rows[r] = a + r * lda;
  ProductTileOfRows<W, R, NB, kStep, kURow>(rows, depth, u, u_stride, m, ldm, accumulate);
}

// The depth of a slice over which the two-block tiles run while a pair of panels stays in L1:
// 2W x PanelDepthSlice floats, 16 KiB.
template <int W>
constexpr int64_t PanelDepthSlice() {
  return 2048 / W;
}

// Rows per tile of the two-block product: 2R accumulators, 2 weights and a broadcast in the
// register file (16 vectors below AVX-512, 32 with it).
template <int W>
constexpr int TileRows() {
  return W == 16 ? 12 : 6;
}

// All `rows` rows of a, in tiles of TileRows.
template <int W, int NB>
KILN_INLINE void ProductRows(const float* a, int64_t lda, int64_t rows, int64_t depth, const float* u, int64_t u_stride,
                             float* m, int64_t ldm, bool accumulate) {
  constexpr int R = TileRows<W>();
  int64_t r = 0;
  for (; r + R <= rows; r += R)
    ProductTile<W, R, NB>(a + r * lda, lda, depth, u, u_stride, m + r * ldm, ldm, accumulate);
  if (r == rows) return;
  if (rows >= R && !accumulate) {  // the last R rows again: the same values, rather than rows one at a time
    ProductTile<W, R, NB>(a + (rows - R) * lda, lda, depth, u, u_stride, m + (rows - R) * ldm, ldm, false);
    return;
  }
  for (; r < rows; ++r) ProductTile<W, 1, NB>(a + r * lda, lda, depth, u, u_stride, m + r * ldm, ldm, accumulate);
}

// A run's work, `rows` rows (output pixels or tiles) in blocks of `block_rows` by the output
// channels' `kblocks` vector blocks, over up to `shares` threads of the share team: where the
// blocks are fewer than two per share (a small image) the channels split too, in pairs of
// blocks (each part then reads the same rows). Calls item(share, row0, row1, kb0, kb1).
template <class F>
void RunRowBlocks(int64_t rows, int64_t block_rows, int64_t kblocks, int shares, const F& item) {
  const int64_t blocks = (rows + block_rows - 1) / block_rows, pairs = (kblocks + 1) / 2;
  const int64_t parts = blocks >= 2 * shares ? 1 : std::min<int64_t>(shares, pairs);
  const int64_t items = blocks * parts;
  auto run_share = [&](int s, int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b = i / parts, part = i % parts;
      const int64_t kb0 = 2 * (pairs * part / parts), kb1 = std::min(kblocks, 2 * (pairs * (part + 1) / parts));
      if (kb0 < kb1) item(s, b * block_rows, std::min(rows, (b + 1) * block_rows), kb0, kb1);
    }
  };
  if (shares <= 1 || items <= 1) return run_share(0, 0, items);
  const int used = static_cast<int>(std::min<int64_t>(shares, items));
  RunShares(used, [&](int s) { run_share(s, items * s / used, items * (s + 1) / used); });
}

// v + Z (where z is not null) then Relu (where asked) into y at `offset`: `count` channels
// (W, or fewer where the output channels end).
template <int W>
KILN_INLINE void StoreChannels(float* y, const float* z, int64_t offset, int64_t count, bool relu, FloatVec<W> v) {
  if (count == W) {
    if (z) v += LoadVec<W>(z + offset);
    if (relu) v = v < FloatVec<W>{} ? FloatVec<W>{} : v;  // NaN stays NaN, as ONNX's Relu
    StoreVec<W>(y + offset, v);
    return;
  }
  float lanes[W] = {};
  const size_t bytes = static_cast<size_t>(count) * sizeof(float);
  if (z) {
    std::memcpy(lanes, z + offset, bytes);
    v += LoadVec<W>(lanes);
  }
  if (relu) v = v < FloatVec<W>{} ? FloatVec<W>{} : v;
  StoreVec<W>(lanes, v);
  std::memcpy(y + offset, lanes, bytes);
}

}  // namespace kiln::runtime::onednn
