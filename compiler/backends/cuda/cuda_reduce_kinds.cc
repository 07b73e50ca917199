// Generated reductions: softmax / log-softmax over the last axis, sum / mean / max
// over any axes, BN statistics, softmax cross-entropy and its gradient. Block-level
// trees (warp shuffles, then shared memory: kinds_internal::Prelude) in float32;
// the NaN and infinity rules follow the reference kernels (elementwise.cc,
// reduction.cc, gradient.cc, training.cc).
#include <algorithm>

#include "compiler/backends/cuda/cuda_kinds.h"

namespace kiln::cuda {
using namespace kinds_internal;

namespace {

// A block size for `len` elements per block: a multiple of 32, 32..256.
unsigned BlockFor(int64_t len) { return static_cast<unsigned>(std::clamp<int64_t>((len + 31) / 32 * 32, 32, 256)); }
unsigned GridFor(int64_t blocks) { return static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, 65535)); }

}  // namespace

// One block per row (rows grid-strided): the max (NaN skipped, as the reference's
// std::max), the sum of exp(x - max), then each element. NaN, +inf and all -inf rows
// give NaN rows, as the reference's double arithmetic does. The gradients (inputs
// dy, y): the row's sum of dy * y (log: of dy), then each element.
StatusOr<GeneratedCudaKernel> RenderSoftmaxKernel(const CudaKernelDesc& desc) {
  const bool grad = desc.kind == CudaKind::kSoftmaxGrad || desc.kind == CudaKind::kLogSoftmaxGrad;
  const bool log = desc.kind == CudaKind::kLogSoftmax || desc.kind == CudaKind::kLogSoftmaxGrad;
  const size_t n_in = grad ? 2 : 1;
  if (desc.inputs.size() != n_in || desc.inputs[0].empty()) {
    return InvalidArgument(grad ? "needs dy and y of rank >= 1" : "needs 1 input of rank >= 1");
  }
  if (grad && desc.inputs[1] != desc.inputs[0]) return InvalidArgument("dy and y differ in shape");
  const Dims& x = desc.inputs[0];
  const int64_t len = x.back(), rows = len == 0 ? 0 : ElementCount(x) / len;
  const std::string name = KernelName(desc);
  std::string s = Signature(name, int(n_in), 1, Describe(desc));
  const std::string each = "    for (long long k = threadIdx.x; k < " + Int(len) + "; k += blockDim.x)";
  s += "  __shared__ float scratch[32];\n  for (long long row = blockIdx.x; row < " + Int(rows) +
       "; row += gridDim.x) {\n    float* y = a.out0 + row * " + Int(len) + ";\n";
  if (grad) {
    s += "    const float* dy = (const float*)a.in0 + row * " + Int(len) +
         ";\n    const float* sy = (const float*)a.in1 + row * " + Int(len) + ";\n    float sum = 0.f;\n" + each +
         " sum += " + (log ? "dy[k]" : "dy[k] * sy[k]") +
         ";\n    sum = kiln_block_reduce(sum, kiln_sum(), 0.f, scratch);\n" + each +
         " y[k] = " + (log ? "dy[k] - expf(sy[k]) * sum" : "sy[k] * (dy[k] - sum)") + ";\n  }\n}\n";
    return Finish(name, s, 2, {x}, {GridFor(rows), BlockFor(len)});
  }
  s += "    const float* x = (const float*)a.in0 + row * " + Int(len) + ";\n    float m = -kiln_inf();\n" + each +
       " m = m < x[k] ? x[k] : m;\n    m = kiln_block_reduce(m, kiln_max_skip_nan(), -kiln_inf(), scratch);\n" +
       "    float sum = 0.f;\n" + each + " sum += expf(x[k] - m);\n" +
       "    sum = kiln_block_reduce(sum, kiln_sum(), 0.f, scratch);\n" +
       (log ? "    const float log_sum = logf(sum);\n" : "") + each +
       " y[k] = " + (log ? "(x[k] - m) - log_sum" : "expf(x[k] - m) / sum") + ";\n  }\n}\n";
  return Finish(name, s, 1, {x}, {GridFor(rows), BlockFor(len)});
}

// Sum / mean / max over `axes`. Output o's group: its kept-axes offset plus the
// reduced-axes offsets, both unflattened with constant strides. Groups of 64 or
// more: a block each (a tree) when the last axis is reduced, 32 outputs a block
// (columns) when it is kept; smaller groups: a thread each (serial).
StatusOr<GeneratedCudaKernel> RenderReduceKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 1) return InvalidArgument("needs 1 input");
  const Dims& x = desc.inputs[0];
  const int64_t rank = int64_t(x.size());
  std::vector<bool> reduced(rank, false);
  for (int64_t a : desc.axes) {
    const int64_t axis = a < 0 ? a + rank : a;
    if (axis < 0 || axis >= rank) return InvalidArgument("axis ", a, " for rank ", rank);
    reduced[axis] = true;
  }
  if (desc.axes.empty()) reduced.assign(rank, true);  // ONNX: no axes reduces all (noop_with_empty_axes=0)
  const Dims strides = RowMajor(x);
  Dims kept_dims, kept_strides, red_dims, red_strides, y;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d]) {
      red_dims.push_back(x[d]);
      red_strides.push_back(strides[d]);
      if (desc.keepdims) y.push_back(1);
    } else {
      kept_dims.push_back(x[d]);
      kept_strides.push_back(strides[d]);
      y.push_back(x[d]);
    }
  }
  const int64_t n_out = ElementCount(kept_dims), group = ElementCount(red_dims);
  const char* op = desc.kind == CudaKind::kReduceMax ? "kiln_max_nan()" : "kiln_sum()";
  const std::string identity = desc.kind == CudaKind::kReduceMax ? "-kiln_inf()" : "0.f";
  const std::string finish = desc.kind == CudaKind::kReduceMean
                                 ? (group == 0 ? "kiln_nan()" : "acc / " + std::to_string(group) + ".f")
                                 : "acc";
  const std::string name = KernelName(desc);
  std::string s = Signature(name, 1, 1, Describe(desc));
  s += "  const float* x = (const float*)a.in0;\n  float* y = a.out0;\n";
  const bool inner_kept = rank > 0 && !reduced[rank - 1];
  if (group >= 64 && inner_kept) {
    // Columns (bias gradients of [N, C]): 32 adjacent outputs a block, coalesced
    // loads; the block's 8 warps split the group, their partials meet in shared memory.
    const int64_t chunks = (n_out + 31) / 32;
    s += "  __shared__ float part[8][33];\n  const unsigned lane = threadIdx.x & 31u, row = threadIdx.x >> 5;\n"
         "  for (long long chunk = blockIdx.x; chunk < " +
         Int(chunks) +
         "; chunk += gridDim.x) {\n    const long long o = chunk * 32 + lane;\n    float acc = " + identity +
         ";\n    if (o < " + Int(n_out) + ") {\n    long long base = 0;\n" +
         OffsetCode("base", "o", kept_dims, kept_strides) + "    for (long long g = row; g < " + Int(group) +
         "; g += 8) {\n    long long off = base;\n" + OffsetCode("off", "g", red_dims, red_strides) +
         "      acc = " + op + "(acc, x[off]);\n    }\n    }\n    part[row][lane] = acc;\n    __syncthreads();\n" +
         "    if (row == 0 && o < " + Int(n_out) + ") {\n      for (int k = 1; k < 8; ++k) acc = " + op +
         "(acc, part[k][lane]);\n      y[o] = " + finish + ";\n    }\n    __syncthreads();\n  }\n}\n";
    return Finish(name, s, 1, {y}, {GridFor(chunks), 256});
  }
  if (group >= 64) {
    s += "  __shared__ float scratch[32];\n  for (long long o = blockIdx.x; o < " + Int(n_out) +
         "; o += gridDim.x) {\n    long long base = 0;\n" + OffsetCode("base", "o", kept_dims, kept_strides) +
         "    float acc = " + identity + ";\n    for (long long g = threadIdx.x; g < " + Int(group) +
         "; g += blockDim.x) {\n    long long off = base;\n" + OffsetCode("off", "g", red_dims, red_strides) +
         "      acc = " + op + "(acc, x[off]);\n    }\n    acc = kiln_block_reduce(acc, " + op + ", " + identity +
         ", scratch);\n    if (threadIdx.x == 0) y[o] = " + finish + ";\n  }\n}\n";
    return Finish(name, s, 1, {y}, {GridFor(n_out), 256});
  }
  s += ElementLoop(n_out) + "    long long base = 0;\n" + OffsetCode("base", "e", kept_dims, kept_strides) +
       "    float acc = " + identity + ";\n    for (long long g = 0; g < " + Int(group) +
       "; ++g) {\n    long long off = base;\n" + OffsetCode("off", "g", red_dims, red_strides) + "      acc = " + op +
       "(acc, x[off]);\n    }\n    const long long o = e;\n    y[o] = " + finish + ";\n  }\n}\n";
  return Finish(name, s, 1, {y}, ElementwiseLaunch(n_out));
}

// x [N, C, spatial...] -> mean [C] and the biased variance [C] (two passes, as
// BatchNormTraining's batch statistics), a block per channel.
StatusOr<GeneratedCudaKernel> RenderBatchNormStatsKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 1 || desc.inputs[0].size() < 2) return InvalidArgument("needs x [N, C, ...]");
  const Dims& x = desc.inputs[0];
  const int64_t n = x[0], c = x[1], spatial = ElementCount(Dims(x.begin() + 2, x.end())), count = n * spatial;
  const std::string name = KernelName(desc);
  std::string s = Signature(name, 1, 2, Describe(desc));
  const std::string at = "((j / " + Int(std::max<int64_t>(spatial, 1)) + ") * " + Int(c * spatial) + " + ch * " +
                         Int(spatial) + " + j % " + Int(std::max<int64_t>(spatial, 1)) + ")";
  s += "  __shared__ float scratch[32];\n  const float* x = (const float*)a.in0;\n"
       "  for (long long ch = blockIdx.x; ch < " +
       Int(c) + "; ch += gridDim.x) {\n    float sum = 0.f;\n    for (long long j = threadIdx.x; j < " + Int(count) +
       "; j += blockDim.x) sum += x[" + at + "];\n" +
       "    const float mean = kiln_block_reduce(sum, kiln_sum(), 0.f, scratch) / " + std::to_string(count) +
       ".f;\n    float sq = 0.f;\n    for (long long j = threadIdx.x; j < " + Int(count) +
       "; j += blockDim.x) {\n      const float d = x[" + at + "] - mean;\n      sq += d * d;\n    }\n" +
       "    const float var = kiln_block_reduce(sq, kiln_sum(), 0.f, scratch) / " + std::to_string(count) +
       ".f;\n    if (threadIdx.x == 0) {\n      a.out0[ch] = mean;\n      a.out1[ch] = var;\n    }\n  }\n}\n";
  return Finish(name, s, 1, {{c}, {c}}, {GridFor(c), 256});
}

// Softmax cross-entropy over logits [N, C] with dense targets [N, C] (terms with
// t == 0 skipped) or int64 labels [N]: a warp per row (shuffle reductions).
// Forward: one block; the warps' sums meet in shared memory, in warp order
// (deterministic), loss = -sum t * (x - lse) / N (0 for N = 0). Gradient (inputs
// dloss [], logits, targets): dx = dloss / max(N, 1) * (softmax * sum t - t).
// lse = max when the row's max is infinite, as the reference's LogSumExp.
StatusOr<GeneratedCudaKernel> RenderSoftmaxCrossEntropyKernel(const CudaKernelDesc& desc) {
  const bool grad = desc.kind == CudaKind::kSoftmaxCrossEntropyGrad;
  const size_t logits_at = grad ? 1 : 0;
  if (desc.inputs.size() != logits_at + 2 || desc.inputs[logits_at].size() != 2) {
    return InvalidArgument(grad ? "needs dloss, logits [N, C], targets" : "needs logits [N, C], targets");
  }
  const Dims& logits = desc.inputs[logits_at];
  const int64_t n = logits[0], c = logits[1];
  const Dims want_targets = desc.sparse ? Dims{n} : logits;
  if (desc.inputs[logits_at + 1] != want_targets) {
    return InvalidArgument("targets ", DimsToString(desc.inputs[logits_at + 1]), " are not ",
                           DimsToString(want_targets));
  }
  if (grad && ElementCount(desc.inputs[0]) != 1) return InvalidArgument("dloss must have one element");
  const std::string in = grad ? "a.in1" : "a.in0", tg = grad ? "a.in2" : "a.in1";
  const std::string name = KernelName(desc);
  std::string s = Signature(name, int(desc.inputs.size()), 1, Describe(desc));
  s += "  const float* logits = (const float*)" + in + ";\n";
  s += desc.sparse ? "  const long long* labels = (const long long*)" + tg + ";\n"
                   : "  const float* targets = (const float*)" + tg + ";\n";
  s += "  const unsigned lane = threadIdx.x & 31u, warps = blockDim.x >> 5;\n"
       "  const long long first = (long long)blockIdx.x * warps + (threadIdx.x >> 5), step = (long long)gridDim.x * "
       "warps;\n";
  if (!grad) s += "  __shared__ float partial[32];\n  float total = 0.f;\n";
  if (grad) s += "  const float scale = *(const float*)a.in0 / " + std::to_string(std::max<int64_t>(n, 1)) + ".f;\n";
  s += "  for (long long row = first; row < " + Int(n) + "; row += step) {\n    const float* x = logits + row * " +
       Int(c) + ";\n    float m = -kiln_inf();\n    for (long long k = lane; k < " + Int(c) +
       "; k += 32) m = m < x[k] ? x[k] : m;\n    m = kiln_warp_reduce(m, kiln_max_skip_nan());\n" +
       "    float sum = 0.f;\n    for (long long k = lane; k < " + Int(c) +
       "; k += 32) sum += expf(x[k] - m);\n    sum = kiln_warp_reduce(sum, kiln_sum());\n" +
       "    const float lse = (m == kiln_inf() || m == -kiln_inf()) ? m : m + logf(sum);\n";
  const std::string target_of = desc.sparse ? "(labels[row] == k ? 1.f : 0.f)" : "targets[row * " + Int(c) + " + k]";
  if (!grad) {
    s += "    float row_loss = 0.f;\n    for (long long k = lane; k < " + Int(c) +
         "; k += 32) {\n      const float t = " + target_of +
         ";\n      if (t != 0.f) row_loss -= t * (x[k] - lse);\n    }\n" +
         "    row_loss = kiln_warp_reduce(row_loss, kiln_sum());\n    if (lane == 0) total += row_loss;\n  }\n" +
         "  if (lane == 0) partial[threadIdx.x >> 5] = total;\n  __syncthreads();\n  if (threadIdx.x == 0) {\n" +
         "    float loss = 0.f;\n    for (unsigned w = 0; w < warps; ++w) loss += partial[w];\n    a.out0[0] = " +
         (n == 0 ? std::string("0.f") : "loss / " + std::to_string(n) + ".f") + ";\n  }\n}\n";
    return Finish(name, s, 2, {Dims{}}, {1, 256});
  }
  s += "    float target_sum = 0.f;\n    for (long long k = lane; k < " + Int(c) +
       "; k += 32) target_sum += " + target_of +
       ";\n    target_sum = kiln_warp_reduce(target_sum, kiln_sum());\n    for (long long k = lane; k < " + Int(c) +
       "; k += 32) a.out0[row * " + Int(c) + " + k] = scale * (expf(x[k] - lse) * target_sum - " + target_of +
       ");\n  }\n}\n";
  const int64_t blocks = (n + 7) / 8;  // 8 warps a block
  return Finish(name, s, 3, {logits}, {GridFor(blocks), 256});
}

}  // namespace kiln::cuda
