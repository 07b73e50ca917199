// The generated kernel kinds' table, their shared prelude (block reductions over
// warp shuffles and shared memory) and the data-movement kinds: transpose,
// concat, slice, gather. The reductions are in cuda_reduce_kinds.cc, pooling in
// cuda_pool_kinds.cc.
#include "compiler/backends/cuda/cuda_kinds.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "ir/core/file_io.h"

namespace kiln::cuda {

const std::vector<CudaKindInfo>& CudaKinds() {
  static const std::vector<CudaKindInfo> kinds = {
      {CudaKind::kSoftmax, "softmax", "Softmax", RenderSoftmaxKernel},
      {CudaKind::kLogSoftmax, "log_softmax", "LogSoftmax", RenderSoftmaxKernel},
      {CudaKind::kSoftmaxGrad, "softmax_grad", "SoftmaxGrad", RenderSoftmaxKernel},
      {CudaKind::kLogSoftmaxGrad, "log_softmax_grad", "SoftmaxGrad", RenderSoftmaxKernel},
      {CudaKind::kReduceSum, "reduce_sum", "ReduceSum", RenderReduceKernel},
      {CudaKind::kReduceMean, "reduce_mean", "ReduceMean", RenderReduceKernel},
      {CudaKind::kReduceMax, "reduce_max", "ReduceMax", RenderReduceKernel},
      {CudaKind::kBatchNormStats, "bn_stats", "BatchNormTraining", RenderBatchNormStatsKernel},
      {CudaKind::kSoftmaxCrossEntropy, "softmax_ce", "SoftmaxCrossEntropy", RenderSoftmaxCrossEntropyKernel},
      {CudaKind::kSoftmaxCrossEntropyGrad, "softmax_ce_grad", "SoftmaxCrossEntropyGrad",
       RenderSoftmaxCrossEntropyKernel},
      {CudaKind::kMaxPool, "max_pool", "MaxPool", RenderPoolKernel},
      {CudaKind::kAveragePool, "average_pool", "AveragePool", RenderPoolKernel},
      {CudaKind::kMaxPoolGrad, "max_pool_grad", "MaxPoolGrad", RenderMaxPoolGradKernel},
      {CudaKind::kTranspose, "transpose", "Transpose", RenderTransposeKernel},
      {CudaKind::kConcat, "concat", "Concat", RenderConcatKernel},
      {CudaKind::kSlice, "slice", "Slice", RenderSliceKernel},
      {CudaKind::kGather, "gather", "Gather", RenderGatherKernel},
      {CudaKind::kMatMul, "matmul", "MatMul", RenderMatMulKernel},
      {CudaKind::kGemm, "gemm", "Gemm", RenderMatMulKernel},
      {CudaKind::kFusedMatMul, "fused_matmul", "FusedMatMul", RenderMatMulKernel},
      {CudaKind::kConv, "conv", "Conv", RenderConvKernel},
      {CudaKind::kFusedConv, "fused_conv", "FusedConv", RenderConvKernel},
      {CudaKind::kCopy, "copy", "Reshape", RenderCopyKernel},
      {CudaKind::kConvGradInput, "conv_grad_input", "ConvGradInput", RenderConvGradInputKernel},
      {CudaKind::kConvGradWeight, "conv_grad_weight", "ConvGradWeight", RenderConvGradWeightKernel},
      // The reference op of an update is the description's update_op (SGDUpdate, AdamUpdate, ...).
      {CudaKind::kOptimizerUpdate, "optimizer_update", "", RenderOptimizerUpdateKernel},
      {CudaKind::kCounterAdd, "counter_add", "Add", RenderCounterAddKernel},
      {CudaKind::kDropout, "dropout", "DropoutTraining", RenderDropoutKernel},
  };
  return kinds;
}

const CudaKindInfo& GetCudaKindInfo(CudaKind kind) {
  for (const CudaKindInfo& info : CudaKinds()) {
    if (info.kind == kind) return info;
  }
  static const CudaKindInfo unknown = {kind, "unknown", "", nullptr};
  return unknown;
}

StatusOr<GeneratedCudaKernel> RenderCudaKind(const CudaKernelDesc& desc) {
  const CudaKindInfo& info = GetCudaKindInfo(desc.kind);
  if (info.render == nullptr) return InvalidArgument("cuda: unknown kernel kind ", int(desc.kind));
  for (const Dims& d : desc.inputs) {
    for (int64_t x : d) {
      if (x < 0) return InvalidArgument("cuda: ", info.name, ": negative dim in ", DimsToString(d));
    }
  }
  auto k = info.render(desc);
  if (!k.ok()) return InvalidArgument("cuda: ", info.name, ": ", k.status().message());
  return k;
}

std::vector<uint64_t> PackPointerArgs(const std::vector<uint64_t>& inputs, const std::vector<uint64_t>& outputs) {
  std::vector<uint64_t> w(inputs);
  w.insert(w.end(), outputs.begin(), outputs.end());
  return w;
}

namespace kinds_internal {

std::string Int(int64_t v) { return std::to_string(v) + "LL"; }

namespace {
std::string Join(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}
std::string Float(float v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(v));
  return buf;
}
}  // namespace

std::string Describe(const CudaKernelDesc& desc) {
  std::string s = GetCudaKindInfo(desc.kind).name;
  s += " in=";
  for (const Dims& d : desc.inputs) s += Join(d);
  s += " axes=" + Join(desc.axes) + (desc.keepdims ? " keepdims" : "") + (desc.sparse ? " sparse" : "");
  if (!desc.kernel.empty()) {
    s += " kernel=" + Join(desc.kernel) + " strides=" + Join(desc.strides) + " pads=" + Join(desc.pads) +
         (desc.count_include_pad ? " count_include_pad" : "");
  }
  if (!desc.starts.empty())
    s += " starts=" + Join(desc.starts) + " steps=" + Join(desc.steps) + " out=" + Join(desc.out);
  else if (!desc.out.empty())
    s += " out=" + Join(desc.out);
  if (!desc.dilations.empty()) s += " dilations=" + Join(desc.dilations);
  if (desc.group != 1) s += " group=" + std::to_string(desc.group);
  if (desc.bias_gradient) s += " bias_gradient";
  if (!desc.update_op.empty()) {
    const OptimizerHyperparams& h = desc.hyper;
    s += " update=" + desc.update_op + " lr=" + Float(h.lr) + " wd=" + Float(h.weight_decay) +
         " momentum=" + Float(h.momentum) + (h.nesterov ? " nesterov" : "") + " betas=" + Float(h.beta1) + "," +
         Float(h.beta2) + " eps=" + Float(h.epsilon) + " rho=" + Float(h.rho) + (desc.lr_input ? " lr_input" : "");
  }
  if (desc.kind == CudaKind::kCounterAdd) s += " addend=" + std::to_string(desc.addend);
  if (desc.kind == CudaKind::kDropout) {
    s += " ratio=" + Float(desc.dropout_ratio) + " seed=" + std::to_string(desc.dropout_seed);
  }
  if (desc.trans_a || desc.trans_b) s += std::string(" trans=") + (desc.trans_a ? "A" : "") + (desc.trans_b ? "B" : "");
  if (desc.alpha != 1.f || desc.beta != 1.f) s += " alpha=" + Float(desc.alpha) + " beta=" + Float(desc.beta);
  if (!desc.activation.empty()) {
    s +=
        " activation=" + desc.activation + "(" + Float(desc.activation_alpha) + "," + Float(desc.activation_beta) + ")";
  }
  return s;
}

std::string KernelName(const CudaKernelDesc& desc) {
  const uint64_t h = StableHash(Describe(desc));
  char hash[16];
  std::snprintf(hash, sizeof(hash), "_%08x", static_cast<unsigned>(h & 0xffffffffu));
  return std::string("kiln_") + GetCudaKindInfo(desc.kind).name + hash;
}

// Block-wide reductions: each warp reduces with shuffles, the warps' partials meet
// in shared memory and every warp reduces those again, so every thread gets the
// result. Every thread of the block must call them (blockDim.x a multiple of 32).
std::string Prelude() {
  return R"(#ifndef KILN_KINDS_PRELUDE
#define KILN_KINDS_PRELUDE
__device__ __forceinline__ float kiln_inf() { return __int_as_float(0x7f800000); }
__device__ __forceinline__ float kiln_nan() { return __int_as_float(0x7fffffff); }
struct kiln_sum { __device__ float operator()(float a, float b) const { return a + b; } };
// The reference's max: a NaN argument is skipped (std::max(m, NaN) keeps m).
struct kiln_max_skip_nan { __device__ float operator()(float a, float b) const { return a < b ? b : a; } };
// ReduceMax's: NaN wins.
struct kiln_max_nan {
  __device__ float operator()(float a, float b) const { return (a != a || b != b) ? a + b : (a < b ? b : a); }
};
template <class Op>
__device__ __forceinline__ float kiln_warp_reduce(float v, Op op) {
  for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;  // in every lane
}
template <class Op>
__device__ float kiln_block_reduce(float v, Op op, float identity, float* scratch /* 32 floats */) {
  const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = kiln_warp_reduce(v, op);
  __syncthreads();  // the previous call's readers are done with scratch
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : identity;
  return kiln_warp_reduce(v, op);
}
#endif
)";
}

std::string Signature(const std::string& name, int num_inputs, int num_outputs, const std::string& comment) {
  std::ostringstream s;
  s << "// Generated by Kiln: " << comment << "\n" << Prelude();
  s << "struct kiln_args_" << name << " {\n";
  for (int k = 0; k < num_inputs; ++k) s << "  const void* in" << k << ";\n";
  for (int k = 0; k < num_outputs; ++k) s << "  float* out" << k << ";\n";
  s << "};\n";
  s << "extern \"C\" __global__ void " << name << "(const kiln_args_" << name << " a) {\n";
  return s.str();
}

GeneratedCudaKernel Finish(std::string name, std::string source, int num_inputs, std::vector<Dims> outputs,
                           CudaLaunch launch) {
  GeneratedCudaKernel k;
  k.kernel.name = std::move(name);
  k.kernel.source = std::move(source);
  k.kernel.num_inputs = num_inputs;
  k.kernel.num_outputs = static_cast<int>(outputs.size());
  k.outputs = std::move(outputs);
  k.launch = launch;
  return k;
}

CudaLaunch ElementwiseLaunch(int64_t total) {
  const int64_t blocks = std::min<int64_t>(std::max<int64_t>(1, (total + 255) / 256), 4096);
  return {static_cast<unsigned>(blocks), 256};
}

// "r" unflattened over `dims` (row-major), each index times its stride added to `var`.
std::string OffsetCode(const std::string& var, const std::string& index, const Dims& dims, const Dims& strides) {
  std::ostringstream s;
  s << "    {\n      long long r = " << index << ";\n";
  for (int d = int(dims.size()) - 1; d >= 0; --d) {
    const int64_t m = std::max<int64_t>(1, dims[d]);  // a 0 dim: no element runs this, but the source divides
    if (d == 0)
      s << "      " << var << " += r * " << Int(strides[d]) << ";\n";
    else
      s << "      " << var << " += (r % " << Int(m) << ") * " << Int(strides[d]) << "; r /= " << Int(m) << ";\n";
  }
  s << "    }\n";
  return s.str();
}

Dims RowMajor(const Dims& d) {
  Dims s(d.size(), 1);
  for (int i = int(d.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * d[i + 1];
  return s;
}

// A grid-stride loop over `total` elements: body sees `e`.
std::string ElementLoop(int64_t total) {
  return "  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < " + Int(total) +
         "; e += (long long)blockDim.x * gridDim.x) {\n";
}

}  // namespace kinds_internal
using namespace kinds_internal;

// Transpose: dims that stay adjacent are merged first; a (batched) 2-D transpose
// [B, R, C] -> [B, C, R] goes through 32 x 33 shared-memory tiles (both the loads
// and the stores coalesced), any other permutation is a per-element gather.
StatusOr<GeneratedCudaKernel> RenderTransposeKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 1) return InvalidArgument("needs 1 input");
  const Dims& x = desc.inputs[0];
  const size_t rank = x.size();
  std::vector<int64_t> perm = desc.axes;
  if (perm.empty()) {
    for (size_t i = 0; i < rank; ++i) perm.push_back(int64_t(rank - 1 - i));
  }
  std::vector<bool> seen(rank, false);
  if (perm.size() != rank) return InvalidArgument("perm ", DimsToString(perm), " for rank ", rank);
  for (int64_t p : perm) {
    if (p < 0 || p >= int64_t(rank) || seen[p]) return InvalidArgument("perm ", DimsToString(perm), " is invalid");
    seen[p] = true;
  }
  Dims y(rank);
  for (size_t i = 0; i < rank; ++i) y[i] = x[perm[i]];
  // Collapse: size-1 axes dropped, then output-adjacent axes that are input-adjacent
  // too merged into runs; `cx` the runs' sizes in input order, `cperm` their output order.
  std::vector<std::vector<int64_t>> runs;
  for (size_t i = 0; i < rank; ++i) {
    if (x[perm[i]] == 1) continue;
    if (!runs.empty() && runs.back().back() + 1 == perm[i])
      runs.back().push_back(perm[i]);
    else
      runs.push_back({perm[i]});
  }
  std::vector<int64_t> order(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) order[i] = int64_t(i);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return runs[a][0] < runs[b][0]; });
  std::vector<int64_t> cperm(runs.size());
  for (size_t i = 0; i < order.size(); ++i) cperm[order[i]] = int64_t(i);
  Dims cx(runs.size());
  for (size_t i = 0; i < runs.size(); ++i) {
    int64_t n = 1;
    for (int64_t a : runs[i]) n *= x[a];
    cx[cperm[i]] = n;
  }
  const int64_t total = ElementCount(x);
  const std::string name = KernelName(desc);
  std::string s =
      Signature(name, 1, 1, Describe(desc) + " (collapsed " + DimsToString(cx) + " perm " + DimsToString(cperm) + ")");
  s += "  const float* x = (const float*)a.in0;\n  float* y = a.out0;\n";
  const bool two_d = (cperm.size() == 2 && cperm[0] == 1) || (cperm.size() == 3 && cperm[0] == 0 && cperm[1] == 2);
  if (two_d) {
    const int64_t B = cperm.size() == 3 ? cx[0] : 1, R = cx[cx.size() - 2], C = cx[cx.size() - 1];
    // At least 1 where a divisor: an empty tensor has no tiles, but the source still divides.
    const int64_t TR = std::max<int64_t>(1, (R + 31) / 32), TC = std::max<int64_t>(1, (C + 31) / 32);
    const int64_t tiles = B * R * C == 0 ? 0 : B * TR * TC;
    s += "  __shared__ float tile[32][33];  // +1: no bank conflicts on the column reads\n"
         "  const unsigned tx = threadIdx.x & 31u, ty = threadIdx.x >> 5, rows = blockDim.x >> 5;\n"
         "  for (long long t = blockIdx.x; t < " +
         Int(tiles) + "; t += gridDim.x) {\n" + "    const long long b = t / " + Int(TR * TC) + ", tr = (t / " +
         Int(TC) + ") % " + Int(TR) + ", tc = t % " + Int(TC) + ";\n" + "    const float* xb = x + b * " + Int(R * C) +
         ";\n    float* yb = y + b * " + Int(R * C) + ";\n" +
         "    for (unsigned j = ty; j < 32; j += rows) {\n"
         "      const long long r = tr * 32 + j, c = tc * 32 + tx;\n"
         "      if (r < " +
         Int(R) + " && c < " + Int(C) + ") tile[j][tx] = xb[r * " + Int(C) + " + c];\n    }\n    __syncthreads();\n" +
         "    for (unsigned j = ty; j < 32; j += rows) {\n" +
         "      const long long c = tc * 32 + j, r = tr * 32 + tx;\n" + "      if (r < " + Int(R) + " && c < " +
         Int(C) + ") yb[c * " + Int(R) + " + r] = tile[tx][j];\n    }\n    __syncthreads();\n  }\n}\n";
    const unsigned grid = static_cast<unsigned>(std::min<int64_t>(std::max<int64_t>(tiles, 1), 65535));
    return Finish(name, s, 1, {y}, {grid, 256});
  }
  // Output index -> input offset: collapsed output dims with the input strides of their axes.
  const Dims in_strides = RowMajor(cx);
  Dims out_dims(cperm.size()), strides(cperm.size());
  for (size_t i = 0; i < cperm.size(); ++i) {
    out_dims[i] = cx[cperm[i]];
    strides[i] = in_strides[cperm[i]];
  }
  s += ElementLoop(total) + "    long long off = 0;\n" + OffsetCode("off", "e", out_dims, strides) +
       "    y[e] = x[off];\n  }\n}\n";
  return Finish(name, s, 1, {y}, ElementwiseLaunch(total));
}

// Concat along `axis`: [outer, sum of the inputs' axis lengths, inner]; each output
// element finds its input by the running offsets (constants).
StatusOr<GeneratedCudaKernel> RenderConcatKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.empty() || desc.axes.size() != 1) return InvalidArgument("needs inputs and one axis");
  const Dims& first = desc.inputs[0];
  const int64_t rank = int64_t(first.size());
  int64_t axis = desc.axes[0] < 0 ? desc.axes[0] + rank : desc.axes[0];
  if (axis < 0 || axis >= rank) return InvalidArgument("axis ", desc.axes[0], " for rank ", rank);
  Dims y = first;
  y[axis] = 0;
  for (const Dims& d : desc.inputs) {
    if (int64_t(d.size()) != rank) return InvalidArgument("inputs of different ranks");
    for (int64_t i = 0; i < rank; ++i) {
      if (i != axis && d[i] != first[i]) return InvalidArgument("inputs differ outside axis ", axis);
    }
    y[axis] += d[axis];
  }
  int64_t inner = 1;
  for (int64_t i = axis + 1; i < rank; ++i) inner *= y[i];
  const int64_t total = ElementCount(y), along = y[axis];
  const std::string name = KernelName(desc);
  const int n = static_cast<int>(desc.inputs.size());
  std::string s = Signature(name, n, 1, Describe(desc));
  s += "  float* y = a.out0;\n" + ElementLoop(total);
  s += "    const long long o = e / " + Int(std::max<int64_t>(1, along * inner)) + ", rest = e % " +
       Int(std::max<int64_t>(1, along * inner)) + ", i = rest / " + Int(std::max<int64_t>(1, inner)) + ", j = rest % " +
       Int(std::max<int64_t>(1, inner)) + ";\n    float v;\n";
  int64_t start = 0;
  bool any = false;
  for (int k = 0; k < n; ++k) {
    const int64_t len = desc.inputs[k][axis];
    if (len == 0) continue;
    s += std::string("    ") + (any ? "else " : "") + "if (i < " + Int(start + len) + ") v = ((const float*)a.in" +
         std::to_string(k) + ")[(o * " + Int(len) + " + i - " + Int(start) + ") * " + Int(inner) + " + j];\n";
    any = true;
    start += len;
  }
  s += any ? "    else v = kiln_nan();\n" : "    v = kiln_nan();\n";
  s += "    y[e] = v;\n  }\n}\n";
  return Finish(name, s, n, {y}, ElementwiseLaunch(total));
}

// Slice: output element -> input offset sum((start + i * step) * stride), steps may be negative.
StatusOr<GeneratedCudaKernel> RenderSliceKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 1) return InvalidArgument("needs 1 input");
  const Dims& x = desc.inputs[0];
  if (desc.starts.size() != x.size() || desc.steps.size() != x.size() || desc.out.size() != x.size()) {
    return InvalidArgument("starts, steps and out need one entry per input axis");
  }
  const Dims strides = RowMajor(x);
  int64_t base = 0;
  Dims step_strides(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    if (desc.out[d] < 0 || desc.steps[d] == 0) return InvalidArgument("bad step or output dim on axis ", d);
    if (desc.out[d] > 0) {
      const int64_t last = desc.starts[d] + (desc.out[d] - 1) * desc.steps[d];
      if (desc.starts[d] < 0 || desc.starts[d] >= x[d] || last < 0 || last >= x[d]) {
        return InvalidArgument("axis ", d, " reads outside [0, ", x[d], ")");
      }
    }
    base += desc.starts[d] * strides[d];
    step_strides[d] = desc.steps[d] * strides[d];
  }
  const int64_t total = ElementCount(desc.out);
  const std::string name = KernelName(desc);
  std::string s = Signature(name, 1, 1, Describe(desc));
  s += "  const float* x = (const float*)a.in0;\n  float* y = a.out0;\n" + ElementLoop(total) +
       "    long long off = " + Int(base) + ";\n" + OffsetCode("off", "e", desc.out, step_strides) +
       "    y[e] = x[off];\n  }\n}\n";
  return Finish(name, s, 1, {desc.out}, ElementwiseLaunch(total));
}

// Gather along `axis`: data [outer, V, inner], indices (int64, any shape, K
// elements) -> [outer, K, inner]. A negative index counts from the end; one outside
// [-V, V) gives NaN (the reference rejects it; plans check constant indices).
StatusOr<GeneratedCudaKernel> RenderGatherKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 2 || desc.axes.size() != 1) return InvalidArgument("needs data, indices and one axis");
  const Dims& data = desc.inputs[0];
  const Dims& indices = desc.inputs[1];
  const int64_t rank = int64_t(data.size());
  const int64_t axis = desc.axes[0] < 0 ? desc.axes[0] + rank : desc.axes[0];
  if (axis < 0 || axis >= rank) return InvalidArgument("axis ", desc.axes[0], " for data rank ", rank);
  Dims y(data.begin(), data.begin() + axis);
  y.insert(y.end(), indices.begin(), indices.end());
  y.insert(y.end(), data.begin() + axis + 1, data.end());
  int64_t inner = 1;
  for (int64_t i = axis + 1; i < rank; ++i) inner *= data[i];
  const int64_t V = data[axis], K = ElementCount(indices), total = ElementCount(y);
  const std::string name = KernelName(desc);
  std::string s = Signature(name, 2, 1, Describe(desc));
  s += "  const float* x = (const float*)a.in0;\n  const long long* ind = (const long long*)a.in1;\n"
       "  float* y = a.out0;\n" +
       ElementLoop(total);
  s += "    const long long o = e / " + Int(std::max<int64_t>(1, K * inner)) + ", k = (e / " +
       Int(std::max<int64_t>(1, inner)) + ") % " + Int(std::max<int64_t>(1, K)) + ", j = e % " +
       Int(std::max<int64_t>(1, inner)) + ";\n";
  s += "    long long i = ind[k];\n    if (i < 0) i += " + Int(V) + ";\n";
  s += "    y[e] = (i >= 0 && i < " + Int(V) + ") ? x[(o * " + Int(V) + " + i) * " + Int(inner) +
       " + j] : kiln_nan();\n  }\n}\n";
  return Finish(name, s, 2, {y}, ElementwiseLaunch(total));
}

}  // namespace kiln::cuda
