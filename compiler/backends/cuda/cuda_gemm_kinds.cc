// Matrix products and convolutions as generated kernels: one tiled shared-memory GEMM
//     C[b, m, n] = epilogue(sum_k A(b, m, k) * B(b, k, n)),  stored at (b * M + m) * N + n
// whose operand loads and epilogue each kind renders: MatMul (broadcast batch dims,
// 1-D operands), Gemm (transposes, alpha, beta, C), FusedMatMul (bias, residual,
// activation), Conv / FusedConv as an implicit GEMM (batch = image x group, M = the
// group's output channels, N = output positions, K = input channels x window; the
// im2col matrix is never written, B's loads compute it). A block computes a BM x BN tile
// of C, each thread a TM x TN register micro-tile; K advances BK at a time through
// shared memory between two __syncthreads(). Loads outside [M, K] / [K, N] (and the
// convolution's padding) read 0, so any M, N, K works. Accumulation is float32 (the
// reference sums in double: the checks' tolerance covers it). The epilogue's
// arithmetic is the fused programs' (cuda_codegen.h), rounded like the reference
// kernels of the ops a fused op replaces (runtime/kernels/reference/fused.cc).
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <regex>

#include "compiler/backends/cuda/cuda_kinds.h"
#include "ir/core/fused_program.h"

namespace kiln::cuda {
using namespace kinds_internal;

namespace {

// The block tile: BM x BN outputs, BK of K per step, each thread TM x TN of them.
struct Tile {
  int bm, bn, bk, tm, tn;
  int threads() const { return (bm / tm) * (bn / tn); }
};

// Thin products get a thin tile (batch-1 inference: M = 1; classifiers: N = 10).
Tile ChooseTile(int64_t m, int64_t n) {
  if (m <= 16 && n > 16) return {16, 64, 16, 1, 4};
  if (n <= 16 && m > 16) return {64, 16, 16, 4, 1};
  if (m <= 16 && n <= 16) return {16, 16, 16, 1, 1};
  return {64, 64, 16, 4, 4};
}

// A float as a C literal that is that float exactly (as a double: `(double)<float literal>`).
std::string FloatConstant(float v) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(v));
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".";
  return "((double)" + s + "f)";
}

// Code for the element of a tensor of dims `d` broadcast to `out` (numpy rules) that output
// element `e` reads: "0", "e % last", or a div/mod chain into `var` (statements first).
struct BroadcastIndex {
  std::string setup, index;
};
BroadcastIndex BroadcastIndexCode(const Dims& d, const Dims& out, const std::string& var) {
  Dims strides(out.size(), 0);
  const Dims own = RowMajor(d);
  bool only_last = true, none = true;
  for (size_t i = 0; i < d.size(); ++i) {
    const size_t o = out.size() - d.size() + i;
    if (d[i] != 1) {
      strides[o] = own[i];
      none = false;
      if (o + 1 != out.size()) only_last = false;
    }
  }
  if (none) return {"", "0"};
  if (only_last) return {"", "(e % " + Int(std::max<int64_t>(1, out.back())) + ")"};
  return {"        long long " + var + " = 0;\n" + OffsetCode(var, "e", out, strides), var};
}

// The operand loads (statements setting `float v`, run only for m < M, k < K / k < K,
// n < N), the per-tile setup (sees `b`) and the epilogue (sees `v`, b, m, n, e; writes y[e]).
struct Gemm {
  int64_t batch = 1, m = 0, n = 0, k = 0;
  std::string tile_setup, load_a, load_b, epilogue;
  bool a_k_contiguous = true, b_n_contiguous = true;  // which tile-load order coalesces
  // After the tiles: more outputs' code (ConvGradWeight's bias gradient), over `tail_items`
  // grid-stride items; the dims of those outputs.
  std::string tail;
  int64_t tail_items = 0;
  std::vector<Dims> tail_outputs;
};

// The epilogue of the fused ops: t = v [+ bias] [+ residual], then the activation, each an
// instruction of a fused program (i0 = v, i1 = bias, i2 = residual) rendered as the
// elementwise kernels render it.
StatusOr<std::string> FusedEpilogue(const CudaKernelDesc& desc, const std::string& bias, const std::string& residual) {
  FusedProgram p;
  std::string inputs = "        const float i0 = v;\n";
  int last = -1;  // the temporary holding the value so far; -1: i0
  auto add = [&](int input, const std::string& value) {
    inputs += "        const float i" + std::to_string(input) + " = " + value + ";\n";
    FusedInstr instr{FusedOp::kAdd, {}};
    FusedOperand a, b;
    a.kind = last < 0 ? FusedOperand::kInput : FusedOperand::kTemp;
    a.index = last < 0 ? 0 : last;
    b.kind = FusedOperand::kInput;
    b.index = input;
    instr.args = {a, b};
    p.instrs.push_back(instr);
    last = int(p.instrs.size()) - 1;
  };
  if (!bias.empty()) add(1, bias);
  if (!residual.empty()) add(2, residual);
  if (!desc.activation.empty()) {
    const FusedOpInfo* info = nullptr;
    for (const FusedOpInfo& op : FusedOps()) {
      if (desc.activation == op.name) info = &op;
    }
    if (info == nullptr || info->tensor_args != 1 || info->immediate_args > 2) {
      return InvalidArgument("activation '", desc.activation, "' is not a unary fused op");
    }
    FusedInstr instr{info->op, {}};
    FusedOperand x;
    x.kind = last < 0 ? FusedOperand::kInput : FusedOperand::kTemp;
    x.index = last < 0 ? 0 : last;
    instr.args.push_back(x);
    for (int i = 0; i < info->immediate_args; ++i) {
      FusedOperand imm;
      imm.value = i == 0 ? desc.activation_alpha : desc.activation_beta;
      instr.args.push_back(imm);
    }
    p.instrs.push_back(instr);
    last = int(p.instrs.size()) - 1;
  }
  if (last < 0) return std::string("        y[e] = v;\n");
  ASSIGN_OR_RETURN(std::string body, RenderFusedInstructions(p, "        "));
  return inputs + body + "        y[e] = t" + std::to_string(last) + ";\n";
}

// Index arithmetic in 32 bits where every tensor has fewer than 2^30 elements: each index
// the kernels compute is an offset inside a tensor, a tile or K counter, or a padded position
// (all below that bound plus a tile), and 64-bit division by a constant costs several
// times the instructions of 32-bit on a GPU (the convolutions' loads divide per element).
bool FitsInt32(const CudaKernelDesc& desc, const std::vector<Dims>& outputs) {
  int64_t most = 0;
  for (const auto* list : {&desc.inputs, &outputs}) {
    for (const Dims& d : *list) most = std::max(most, ElementCount(d));
  }
  return most < (int64_t{1} << 30);
}
std::string NarrowIndices(const std::string& body) {
  static const std::regex literal(R"(\b(\d+)LL\b)");
  std::string s = std::regex_replace(body, literal, "$1");
  for (size_t at = s.find("long long"); at != std::string::npos; at = s.find("long long", at)) s.replace(at, 9, "int");
  return s;
}

// The kernel's head: the signature, the epilogue's arithmetic, the operand pointers.
std::string Head(const CudaKernelDesc& desc, const Gemm& g, int num_inputs, int num_outputs,
                 const std::string& operands, const std::string& how) {
  std::string s = Signature(KernelName(desc), num_inputs, num_outputs,
                            Describe(desc) + " (GEMM batch " + std::to_string(g.batch) + " M " + std::to_string(g.m) +
                                " N " + std::to_string(g.n) + " K " + std::to_string(g.k) + ", " + how + ")");
  // The epilogue's arithmetic (the fused programs' prelude) before the kernel's argument struct.
  s.insert(s.find("struct kiln_args_"), CudaMathPrelude(CudaMath::kDouble));
  return s + operands + "  float* y = a.out0;\n";
}

// M <= kGemvRows (batch-1 layers): a block of 32 columns x 8 slices of K. Thread (c, s) sums
// k = s, s + 8, ... of column n0 + c for every row (B's loads coalesced over the warp, A's
// a broadcast); the 8 partial sums meet in shared memory and are added in slice order
// (deterministic). No tile of 16+ rows to waste on one row, and 8 times the threads per column.
constexpr int64_t kGemvRows = 4;
GeneratedCudaKernel RenderGemv(const CudaKernelDesc& desc, const Gemm& g, int num_inputs,
                               const std::vector<Dims>& outputs, const std::string& operands) {
  const int64_t rows = std::max<int64_t>(1, g.m), nt = std::max<int64_t>(1, (g.n + 31) / 32);
  const int64_t tiles = g.batch * g.m * g.n == 0 ? 0 : g.batch * nt;
  const std::string R = std::to_string(rows);
  const bool narrow = FitsInt32(desc, outputs);
  std::string s = Head(desc, g, num_inputs, int(outputs.size()), operands,
                       std::string("GEMV: 32 columns x 8 slices of K") + (narrow ? ", 32-bit indices" : ""));
  const size_t body = s.size();
  s += "  __shared__ float part[8][" + R + "][32];\n";
  s += "  const int c = (int)threadIdx.x % 32, sl = (int)threadIdx.x / 32;\n";
  s += "  for (long long tile = blockIdx.x; tile < " + Int(tiles) + "; tile += gridDim.x) {\n";
  s += "    const long long b = tile / " + Int(nt) + ", n0 = tile % " + Int(nt) + " * 32, n = n0 + c;\n";
  s += g.tile_setup;
  s += "    float acc[" + R + "];\n#pragma unroll\n    for (int i = 0; i < " + R + "; ++i) acc[i] = 0.f;\n";
  s += "    if (n < " + Int(g.n) + ") {\n      for (long long k = sl; k < " + Int(g.k) + "; k += 8) {\n";
  s += "        float bv;\n        {\n          float v = 0.f;\n" + g.load_b + "          bv = v;\n        }\n";
  s += "#pragma unroll\n        for (int i = 0; i < " + R + "; ++i) {\n          const long long m = i;\n";
  s += "          float v = 0.f;\n" + g.load_a + "          acc[i] += v * bv;\n        }\n      }\n    }\n";
  s += "#pragma unroll\n    for (int i = 0; i < " + R + "; ++i) part[sl][i][c] = acc[i];\n    __syncthreads();\n";
  s += "    if (sl == 0 && n < " + Int(g.n) + ") {\n      for (int i = 0; i < " + R + "; ++i) {\n";
  s += "        float sum = part[0][i][c];\n        for (int t = 1; t < 8; ++t) sum += part[t][i][c];\n";
  s += "        const long long m = i, e = (b * " + Int(g.m) + " + m) * " + Int(g.n) + " + n;\n";
  s += "        const float v = sum;\n" + g.epilogue + "      }\n    }\n";
  s += "    __syncthreads();  // part is read before the next tile overwrites it\n  }\n" + g.tail + "}\n";
  if (narrow) s = s.substr(0, body) + NarrowIndices(s.substr(body));
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>({tiles, g.tail_items, 1}), 65535));
  return Finish(KernelName(desc), s, num_inputs, outputs, {grid, 256});
}

GeneratedCudaKernel RenderGemm(const CudaKernelDesc& desc, const Gemm& g, int num_inputs, const Dims& out,
                               const std::string& operands) {
  std::vector<Dims> outputs = {out};
  outputs.insert(outputs.end(), g.tail_outputs.begin(), g.tail_outputs.end());
  if (g.m <= kGemvRows) return RenderGemv(desc, g, num_inputs, outputs, operands);
  const Tile t = ChooseTile(g.m, g.n);
  const int threads = t.threads(), tr = t.bm / t.tm, tc = t.bn / t.tn;
  const int64_t mt = std::max<int64_t>(1, (g.m + t.bm - 1) / t.bm), nt = std::max<int64_t>(1, (g.n + t.bn - 1) / t.bn);
  const int64_t tiles = g.batch * g.m * g.n == 0 ? 0 : g.batch * mt * nt;
  const std::string name = KernelName(desc);
  const std::string T = std::to_string(threads), BM = std::to_string(t.bm), BN = std::to_string(t.bn),
                    BK = std::to_string(t.bk), TM = std::to_string(t.tm), TN = std::to_string(t.tn);
  const bool narrow = FitsInt32(desc, outputs);
  std::string s =
      Head(desc, g, num_inputs, int(outputs.size()), operands,
           "tile " + BM + "x" + BN + "x" + BK + ", micro-tile " + TM + "x" + TN + (narrow ? ", 32-bit indices" : ""));
  const size_t body = s.size();
  // +1: the transposing tile stores hit distinct banks.
  s += "  __shared__ float As[" + BK + "][" + BM + " + 1];  // As[k][m]\n";
  s += "  __shared__ float Bs[" + BK + "][" + BN + " + 1];  // Bs[k][n]\n";
  s += "  const int tr = (int)threadIdx.x / " + std::to_string(tc) + ", tc = (int)threadIdx.x % " + std::to_string(tc) +
       ";\n";
  s += "  for (long long tile = blockIdx.x; tile < " + Int(tiles) + "; tile += gridDim.x) {\n";
  s += "    const long long b = tile / " + Int(mt * nt) + ", m0 = (tile / " + Int(nt) + ") % " + Int(mt) + " * " + BM +
       ", n0 = tile % " + Int(nt) + " * " + BN + ";\n";
  s += g.tile_setup;
  s += "    float acc[" + TM + "][" + TN + "];\n";
  s += "#pragma unroll\n    for (int i = 0; i < " + TM + "; ++i)\n#pragma unroll\n      for (int j = 0; j < " + TN +
       "; ++j) acc[i][j] = 0.f;\n";
  s += "    for (long long k0 = 0; k0 < " + Int(g.k) + "; k0 += " + BK + ") {\n";
  // Tile loads: consecutive threads take consecutive addresses of the operand.
  s += "      for (int i = threadIdx.x; i < " + std::to_string(t.bm * t.bk) + "; i += " + T + ") {\n";
  s += g.a_k_contiguous ? "        const int mm = i / " + BK + ", kk = i % " + BK + ";\n"
                        : "        const int mm = i % " + BM + ", kk = i / " + BM + ";\n";
  s += "        const long long m = m0 + mm, k = k0 + kk;\n        float v = 0.f;\n        if (m < " + Int(g.m) +
       " && k < " + Int(g.k) + ") {\n" + g.load_a + "        }\n        As[kk][mm] = v;\n      }\n";
  s += "      for (int i = threadIdx.x; i < " + std::to_string(t.bn * t.bk) + "; i += " + T + ") {\n";
  s += g.b_n_contiguous ? "        const int nn = i % " + BN + ", kk = i / " + BN + ";\n"
                        : "        const int nn = i / " + BK + ", kk = i % " + BK + ";\n";
  s += "        const long long n = n0 + nn, k = k0 + kk;\n        float v = 0.f;\n        if (n < " + Int(g.n) +
       " && k < " + Int(g.k) + ") {\n" + g.load_b + "        }\n        Bs[kk][nn] = v;\n      }\n";
  s += "      __syncthreads();\n";
  s += "#pragma unroll\n      for (int kk = 0; kk < " + BK + "; ++kk) {\n";
  s += "        float ra[" + TM + "], rb[" + TN + "];\n";
  s += "#pragma unroll\n        for (int i = 0; i < " + TM + "; ++i) ra[i] = As[kk][tr + i * " + std::to_string(tr) +
       "];\n";
  s += "#pragma unroll\n        for (int j = 0; j < " + TN + "; ++j) rb[j] = Bs[kk][tc + j * " + std::to_string(tc) +
       "];\n";
  s += "#pragma unroll\n        for (int i = 0; i < " + TM + "; ++i)\n#pragma unroll\n          for (int j = 0; j < " +
       TN + "; ++j) acc[i][j] += ra[i] * rb[j];\n";
  s += "      }\n      __syncthreads();  // the tile is read before the next one overwrites it\n    }\n";
  s += "    for (int i = 0; i < " + TM + "; ++i) {\n      const long long m = m0 + tr + i * " + std::to_string(tr) +
       ";\n      if (m >= " + Int(g.m) + ") continue;\n";
  s += "      for (int j = 0; j < " + TN + "; ++j) {\n        const long long n = n0 + tc + j * " + std::to_string(tc) +
       ";\n        if (n >= " + Int(g.n) + ") continue;\n";
  s += "        const long long e = (b * " + Int(g.m) + " + m) * " + Int(g.n) +
       " + n;\n        const float v = acc[i][j];\n";
  s += g.epilogue + "      }\n    }\n  }\n" + g.tail + "}\n";
  if (narrow) s = s.substr(0, body) + NarrowIndices(s.substr(body));
  const unsigned grid = static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>({tiles, g.tail_items, 1}), 65535));
  return Finish(name, s, num_inputs, outputs, {grid, static_cast<unsigned>(threads)});
}

std::string Pointer(int input, const char* var) {
  return std::string("  const float* ") + var + " = (const float*)a.in" + std::to_string(input) + ";\n";
}

}  // namespace

StatusOr<GeneratedCudaKernel> RenderMatMulKernel(const CudaKernelDesc& desc) {
  const size_t n_in = desc.inputs.size();
  const bool gemm = desc.kind == CudaKind::kGemm, fused = desc.kind == CudaKind::kFusedMatMul;
  const size_t max_inputs = fused ? 4 : gemm ? 3 : 2;
  if (n_in < 2 || n_in > max_inputs) return InvalidArgument("needs 2 to ", max_inputs, " inputs, got ", n_in);
  if (!fused && !desc.activation.empty()) return InvalidArgument("an activation needs the fused kind");
  Gemm g;
  Dims out;
  std::string operands = Pointer(0, "A") + Pointer(1, "B");
  if ((desc.trans_a || desc.trans_b) && !gemm) return InvalidArgument("transposes need the gemm kind");
  if (gemm) {
    const Dims& a = desc.inputs[0];
    const Dims& b = desc.inputs[1];
    if (a.size() != 2 || b.size() != 2)
      return InvalidArgument("A ", DimsToString(a), " and B ", DimsToString(b), " must be 2-D");
    g.m = desc.trans_a ? a[1] : a[0];
    g.k = desc.trans_a ? a[0] : a[1];
    g.n = desc.trans_b ? b[0] : b[1];
    if ((desc.trans_b ? b[1] : b[0]) != g.k)
      return InvalidArgument("inner dimensions of ", DimsToString(a), " and ", DimsToString(b), " differ");
    out = {g.m, g.n};
  } else {
    // numpy matmul: 1-D operands promoted ([K] -> [1, K] / [K, 1]), batch dims broadcast.
    const Dims a = desc.inputs[0].size() == 1 ? Dims{1, desc.inputs[0][0]} : desc.inputs[0];
    const Dims b = desc.inputs[1].size() == 1 ? Dims{desc.inputs[1][0], 1} : desc.inputs[1];
    if (a.size() < 2 || b.size() < 2) return InvalidArgument("operands must have rank >= 1");
    g.m = a[a.size() - 2];
    g.k = a.back();
    g.n = b.back();
    if (b[b.size() - 2] != g.k)
      return InvalidArgument("inner dimensions of ", DimsToString(desc.inputs[0]), " and ",
                             DimsToString(desc.inputs[1]), " differ");
    const Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
    Dims batch(std::max(ab.size(), bb.size()), 1);
    for (size_t i = 0; i < batch.size(); ++i) {
      const int64_t x = i + ab.size() >= batch.size() ? ab[i + ab.size() - batch.size()] : 1;
      const int64_t y = i + bb.size() >= batch.size() ? bb[i + bb.size() - batch.size()] : 1;
      if (x != y && x != 1 && y != 1)
        return InvalidArgument("batch dims ", DimsToString(ab), " and ", DimsToString(bb), " do not broadcast");
      batch[i] = x == 1 ? y : x;
    }
    g.batch = ElementCount(batch);
    out = batch;
    if (desc.inputs[0].size() > 1) out.push_back(g.m);
    if (desc.inputs[1].size() > 1) out.push_back(g.n);
    // Each operand's matrix offset for the output batch index b (0 along its broadcast dims).
    auto base = [&](const Dims& own, const std::string& var, int64_t matrix) {
      Dims strides(batch.size(), 0);
      const Dims rm = RowMajor(own);
      for (size_t i = 0; i < own.size(); ++i) {
        if (own[i] != 1) strides[batch.size() - own.size() + i] = rm[i] * matrix;
      }
      std::string code = "    long long " + var + " = 0;\n";
      if (g.batch > 1) code += OffsetCode(var, "b", batch, strides);
      return code;
    };
    g.tile_setup = base(ab, "a_base", g.m * g.k) + base(bb, "b_base", g.k * g.n);
  }
  if (gemm) {
    g.load_a =
        desc.trans_a ? "          v = A[k * " + Int(g.m) + " + m];\n" : "          v = A[m * " + Int(g.k) + " + k];\n";
    g.load_b =
        desc.trans_b ? "          v = B[n * " + Int(g.k) + " + k];\n" : "          v = B[k * " + Int(g.n) + " + n];\n";
    g.a_k_contiguous = !desc.trans_a;
    g.b_n_contiguous = !desc.trans_b;
  } else {
    g.load_a = "          v = A[a_base + m * " + Int(g.k) + " + k];\n";
    g.load_b = "          v = B[b_base + k * " + Int(g.n) + " + n];\n";
  }
  // Extra inputs: Gemm's C, FusedMatMul's bias and residual, each broadcast to the output.
  std::vector<BroadcastIndex> extra;
  for (size_t i = 2; i < n_in; ++i) {
    const Dims& d = desc.inputs[i];
    if (d.size() > out.size())
      return InvalidArgument("input ", i, " ", DimsToString(d), " does not broadcast to ", DimsToString(out));
    for (size_t j = 0; j < d.size(); ++j) {
      const int64_t o = out[out.size() - d.size() + j];
      if (d[j] != 1 && d[j] != o)
        return InvalidArgument("input ", i, " ", DimsToString(d), " does not broadcast to ", DimsToString(out));
    }
    operands += Pointer(int(i), i == 2 ? "C" : "Z");
    extra.push_back(BroadcastIndexCode(d, out, i == 2 ? "ci" : "zi"));
  }
  if (gemm) {
    std::string value = FloatConstant(desc.alpha) + " * (double)v";
    if (!extra.empty()) value += " + " + FloatConstant(desc.beta) + " * (double)C[" + extra[0].index + "]";
    g.epilogue = (extra.empty() ? "" : extra[0].setup) + "        y[e] = (float)(" + value + ");\n";
  } else {
    std::string setup, bias, residual;
    if (extra.size() > 0) setup += extra[0].setup, bias = "C[" + extra[0].index + "]";
    if (extra.size() > 1) setup += extra[1].setup, residual = "Z[" + extra[1].index + "]";
    ASSIGN_OR_RETURN(std::string epilogue, FusedEpilogue(desc, bias, residual));
    g.epilogue = setup + epilogue;
  }
  return RenderGemm(desc, g, int(n_in), out, operands);
}

namespace {

// A 2-D convolution's geometry: x [N, C, H, W], w [OC, C / group, KH, KW], y [N, OC, OH, OW];
// strides, dilations {h, w}, pads {top, left, bottom, right}.
struct Conv2d {
  int64_t n, c, h, w, oc, kh, kw, oh, ow, group, cg, mg;
  std::vector<int64_t> strides, dil, pads;
  Dims y() const { return {n, oc, oh, ow}; }
  int64_t taps() const { return std::max<int64_t>(1, kh * kw); }
  // Code: the input row / column `ih`, `iw` that output position `p` (a `oh * OW + ow`
  // expression) reads at tap `r` (a `kh * KW + kw` expression).
  std::string InputPosition(const std::string& p, const std::string& r) const {
    const std::string OW = Int(std::max<int64_t>(1, ow));
    return "          const long long ih = " + p + " / " + OW + " * " + Int(strides[0]) + " - " + Int(pads[0]) + " + " +
           r + " / " + Int(kw) + " * " + Int(dil[0]) + ", iw = " + p + " % " + OW + " * " + Int(strides[1]) + " - " +
           Int(pads[1]) + " + " + r + " % " + Int(kw) + " * " + Int(dil[1]) + ";\n";
  }
  std::string InRange() const { return "ih >= 0 && ih < " + Int(h) + " && iw >= 0 && iw < " + Int(w); }
};

StatusOr<Conv2d> ResolveConv(const CudaKernelDesc& desc, const Dims& x, const Dims& w) {
  if (x.size() != 4 || w.size() != 4)
    return InvalidArgument("x ", DimsToString(x), " and w ", DimsToString(w), " must be NCHW / MCHW (2-D convolution)");
  Conv2d c{x[0], x[1], x[2], x[3], w[0], w[2], w[3], 0, 0, desc.group, 0, 0, {}, {}, {}};
  if (c.group < 1 || x[1] != w[1] * c.group || w[0] % c.group != 0) {
    return InvalidArgument("channels of x ", DimsToString(x), " and w ", DimsToString(w), " do not fit group ",
                           c.group);
  }
  auto pick = [](const std::vector<int64_t>& v, size_t n, std::vector<int64_t> fallback) {
    return v.empty() ? fallback : v.size() == n ? v : std::vector<int64_t>{};
  };
  const std::vector<int64_t> kernel = pick(desc.kernel, 2, {w[2], w[3]});
  c.strides = pick(desc.strides, 2, {1, 1});
  c.dil = pick(desc.dilations, 2, {1, 1});
  c.pads = pick(desc.pads, 4, {0, 0, 0, 0});
  if (kernel.empty() || c.strides.empty() || c.dil.empty() || c.pads.empty())
    return InvalidArgument("kernel, strides, dilations need 2 entries, pads 4");
  if (kernel[0] != w[2] || kernel[1] != w[3])
    return InvalidArgument("kernel ", DimsToString(kernel), " is not w's ", DimsToString(w));
  for (int i = 0; i < 2; ++i) {
    if (c.strides[i] < 1 || c.dil[i] < 1) return InvalidArgument("strides and dilations must be >= 1");
  }
  for (int64_t p : c.pads) {
    if (p < 0) return InvalidArgument("pads must be >= 0");
  }
  const int64_t span_h = c.h + c.pads[0] + c.pads[2] - (c.dil[0] * (c.kh - 1) + 1),
                span_w = c.w + c.pads[1] + c.pads[3] - (c.dil[1] * (c.kw - 1) + 1);
  if (span_h < 0 || span_w < 0) return InvalidArgument("the window is larger than the padded input");
  c.oh = span_h / c.strides[0] + 1;
  c.ow = span_w / c.strides[1] + 1;
  c.cg = c.c / c.group;
  c.mg = c.oc / c.group;
  return c;
}

}  // namespace

// y[img, g * MG + m, p] = sum over (c, tap) of w[g * MG + m, c, tap] * x[img, g * CG + c, at(p, tap)]:
// batch (img, g), M = MG, N = OH * OW, K = CG * KH * KW; B is the im2col matrix, computed by its loads.
StatusOr<GeneratedCudaKernel> RenderConvKernel(const CudaKernelDesc& desc) {
  const bool fused = desc.kind == CudaKind::kFusedConv;
  const size_t n_in = desc.inputs.size();
  if (n_in < 2 || n_in > (fused ? 4u : 3u))
    return InvalidArgument("needs x, w and at most ", fused ? "bias, residual" : "bias");
  if (!fused && !desc.activation.empty()) return InvalidArgument("an activation needs the fused kind");
  ASSIGN_OR_RETURN(Conv2d c, ResolveConv(desc, desc.inputs[0], desc.inputs[1]));
  const Dims out = c.y();
  Gemm g;
  g.batch = c.n * c.group;
  g.m = c.mg;
  g.n = c.oh * c.ow;
  g.k = c.cg * c.kh * c.kw;
  g.tile_setup = "    const long long grp = b % " + Int(c.group) + ";\n    const float* xg = X + (b / " + Int(c.group) +
                 " * " + Int(c.c) + " + grp * " + Int(c.cg) + ") * " + Int(c.h * c.w) +
                 ";\n    const float* wg = Wt + grp * " + Int(c.mg * g.k) + ";\n";
  g.load_a = "          v = wg[m * " + Int(g.k) + " + k];\n";
  g.load_b = "          const long long ch = k / " + Int(c.taps()) + ", r = k % " + Int(c.taps()) + ";\n" +
             c.InputPosition("n", "r") + "          if (" + c.InRange() + ") v = xg[(ch * " + Int(c.h) + " + ih) * " +
             Int(c.w) + " + iw];\n";
  std::string operands = Pointer(0, "X") + Pointer(1, "Wt");
  std::string bias, residual;
  if (n_in > 2) {
    if (desc.inputs[2] != Dims{c.oc})
      return InvalidArgument("bias ", DimsToString(desc.inputs[2]), " is not [", c.oc, "]");
    operands += Pointer(2, "C");
    bias = "C[grp * " + Int(c.mg) + " + m]";
  }
  if (n_in > 3) {
    if (desc.inputs[3] != out)
      return InvalidArgument("residual ", DimsToString(desc.inputs[3]), " is not ", DimsToString(out));
    operands += Pointer(3, "Z");
    residual = "Z[e]";
  }
  ASSIGN_OR_RETURN(g.epilogue, FusedEpilogue(desc, bias, residual));
  return RenderGemm(desc, g, int(n_in), out, operands);
}

// dX[img, g * CG + c, q] = sum over (m, tap) of w[g * MG + m, c, tap] * dY[img, g * MG + m, p]
// for the p whose window reads q at that tap: batch (img, g), M = CG, N = H * W,
// K = MG * KH * KW; B gathers dY (no atomics: each dX element is one thread's sum).
StatusOr<GeneratedCudaKernel> RenderConvGradInputKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 2) return InvalidArgument("needs dY and w");
  ASSIGN_OR_RETURN(Conv2d c, ResolveConv(desc, desc.out, desc.inputs[1]));
  if (desc.inputs[0] != c.y())
    return InvalidArgument("dY ", DimsToString(desc.inputs[0]), " is not ", DimsToString(c.y()));
  Gemm g;
  g.batch = c.n * c.group;
  g.m = c.cg;
  g.n = c.h * c.w;
  g.k = c.mg * c.kh * c.kw;
  const int64_t P = c.oh * c.ow;
  g.tile_setup = "    const long long grp = b % " + Int(c.group) + ";\n    const float* dyg = dY + (b / " +
                 Int(c.group) + " * " + Int(c.oc) + " + grp * " + Int(c.mg) + ") * " + Int(P) +
                 ";\n    const float* wg = Wt + grp * " + Int(c.mg * c.cg * c.kh * c.kw) + ";\n";
  g.load_a = "          v = wg[(k / " + Int(c.taps()) + " * " + Int(c.cg) + " + m) * " + Int(c.taps()) + " + k % " +
             Int(c.taps()) + "];\n";
  g.load_b = "          const long long mo = k / " + Int(c.taps()) + ", r = k % " + Int(c.taps()) +
             ";\n          const long long th = n / " + Int(std::max<int64_t>(1, c.w)) + " + " + Int(c.pads[0]) +
             " - r / " + Int(c.kw) + " * " + Int(c.dil[0]) + ", tw = n % " + Int(std::max<int64_t>(1, c.w)) + " + " +
             Int(c.pads[1]) + " - r % " + Int(c.kw) + " * " + Int(c.dil[1]) + ";\n" +
             "          if (th >= 0 && tw >= 0 && th % " + Int(c.strides[0]) + " == 0 && tw % " + Int(c.strides[1]) +
             " == 0 && th / " + Int(c.strides[0]) + " < " + Int(c.oh) + " && tw / " + Int(c.strides[1]) + " < " +
             Int(c.ow) + ")\n            v = dyg[mo * " + Int(P) + " + th / " + Int(c.strides[0]) + " * " + Int(c.ow) +
             " + tw / " + Int(c.strides[1]) + "];\n";
  g.epilogue = "        y[e] = v;\n";
  return RenderGemm(desc, g, 2, desc.out, Pointer(0, "dY") + Pointer(1, "Wt"));
}

// dW[g * MG + m, c, tap] = sum over (img, p) of dY[img, g * MG + m, p] * x[img, g * CG + c, at(p, tap)]:
// batch g, M = MG, N = CG * KH * KW, K = N_img * OH * OW. The bias gradient (a second output)
// is a block reduction per channel after the tiles.
StatusOr<GeneratedCudaKernel> RenderConvGradWeightKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 2) return InvalidArgument("needs dY and x");
  ASSIGN_OR_RETURN(Conv2d c, ResolveConv(desc, desc.inputs[1], desc.out));
  if (desc.inputs[0] != c.y())
    return InvalidArgument("dY ", DimsToString(desc.inputs[0]), " is not ", DimsToString(c.y()));
  Gemm g;
  g.batch = c.group;
  g.m = c.mg;
  g.n = c.cg * c.kh * c.kw;
  const int64_t P = c.oh * c.ow;
  g.k = c.n * P;
  g.tile_setup = "    const long long grp = b;\n";
  g.load_a = "          v = dY[(k / " + Int(std::max<int64_t>(1, P)) + " * " + Int(c.oc) + " + grp * " + Int(c.mg) +
             " + m) * " + Int(P) + " + k % " + Int(std::max<int64_t>(1, P)) + "];\n";
  g.load_b = "          const long long img = k / " + Int(std::max<int64_t>(1, P)) + ", p = k % " +
             Int(std::max<int64_t>(1, P)) + ", ch = n / " + Int(c.taps()) + ", r = n % " + Int(c.taps()) + ";\n" +
             c.InputPosition("p", "r") + "          if (" + c.InRange() + ") v = X[((img * " + Int(c.c) + " + grp * " +
             Int(c.cg) + " + ch) * " + Int(c.h) + " + ih) * " + Int(c.w) + " + iw];\n";
  g.b_n_contiguous = false;  // consecutive k: consecutive output positions
  g.epilogue = "        y[e] = v;\n";
  if (desc.bias_gradient) {
    g.tail_outputs = {{c.oc}};
    g.tail_items = c.oc;
    g.tail =
        "  __shared__ float scratch[32];\n  for (long long ch = blockIdx.x; ch < " + Int(c.oc) +
        "; ch += gridDim.x) {  // dB: the sum of dY over images and positions\n    float s = 0.f;\n"
        "    for (long long i = threadIdx.x; i < " +
        Int(g.k) + "; i += blockDim.x) s += dY[(i / " + Int(std::max<int64_t>(1, P)) + " * " + Int(c.oc) + " + ch) * " +
        Int(P) + " + i % " + Int(std::max<int64_t>(1, P)) +
        "];\n    s = kiln_block_reduce(s, kiln_sum(), 0.f, scratch);\n    if (threadIdx.x == 0) a.out1[ch] = s;\n  }\n";
  }
  return RenderGemm(desc, g, 2, desc.out, Pointer(0, "dY") + Pointer(1, "X"));
}

// A view op's data movement: the same elements under other dims.
StatusOr<GeneratedCudaKernel> RenderCopyKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 1) return InvalidArgument("needs 1 input");
  if (ElementCount(desc.inputs[0]) != ElementCount(desc.out)) {
    return InvalidArgument(DimsToString(desc.inputs[0]), " and ", DimsToString(desc.out), " differ in size");
  }
  const int64_t total = ElementCount(desc.out);
  const std::string name = KernelName(desc);
  std::string s = Signature(name, 1, 1, Describe(desc));
  s += "  const float* x = (const float*)a.in0;\n" + ElementLoop(total) + "    a.out0[e] = x[e];\n  }\n}\n";
  return Finish(name, s, 1, {desc.out}, ElementwiseLaunch(total));
}

}  // namespace kiln::cuda
