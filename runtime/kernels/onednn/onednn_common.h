// Shared plumbing for the oneDNN-backed CPU kernels: plain (row-major) memory
// descriptors, a kernel that binds tensor pointers to prebuilt primitives, and
// the factory wrapper that turns oneDNN exceptions into Status values.
//
// Every factory builds its primitives once from the KernelSpec (dims, dtypes,
// attributes; never data) and fails with a short reason when oneDNN cannot run
// the node. OneDnnUnsupportedReason(spec) runs the same factory on a private
// engine, so the compiler's choice and the kernel's acceptance cannot disagree.
#pragma once

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "dnnl.hpp"
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif
#include "runtime/kernel.h"
#include "runtime/share_team.h"

namespace kiln::runtime {

/// ExecEnv::reordered_constants: weights reordered at build time, by source data.
struct ReorderedConstants {
  std::vector<std::pair<const void*, dnnl::memory>> entries;
};

namespace onednn {

/// ir/core/ops/unary.def's "no oneDNN algorithm" (its columns name dnnl_<algorithm>).
constexpr dnnl_alg_kind_t dnnl_none = dnnl_alg_kind_undef;

using dnnl::memory;

/// Row-major descriptor of `dims`; a rank-0 tensor is described as [1].
memory::desc PlainDesc(const Dims& dims);
/// Descriptor with explicit strides (transposed views, permuted weights).
memory::desc StridedDesc(const Dims& dims, const Dims& strides);
/// Descriptor of a bound tensor as its buffer lies: `t.dims` in `t.layout` (plan buffers
/// carry a layout only inside layout regions, compiler/passes/assign_layouts.cc).
memory::desc LayoutDesc(const TensorRef& t);
/// Channels-last (nhwc) descriptor of logical `dims`.
memory::desc ChannelsLastDesc(const Dims& dims);
/// Whether any of the tensors is bound in a non-plain layout.
bool AnyNonPlain(std::initializer_list<const TensorRef*> tensors);
/// `dims` with leading 1s up to `rank`.
Dims PadLeft(const Dims& dims, size_t rank);

/// ONNX pooling attributes (kernel_shape, strides, pads, dilations, ceil_mode,
/// count_include_pad) as oneDNN pooling_v2 parameters for input `x` and output
/// `y`; ceil_mode's extra windows become extra end padding.
struct PoolingGeometry {
  dnnl::algorithm alg;
  memory::dims strides, kernel, dilation, pad_l, pad_r;
};
StatusOr<PoolingGeometry> OneDnnPoolingGeometry(const Attrs& attrs, const Dims& x, const Dims& y, bool is_max);

/// A kernel-owned buffer (allocated once, when the kernel is built) for data written
/// at build time that must survive across runs (reordered weights, constants); a
/// buffer used only within one Run is PrimitiveKernel::Scratch.
inline memory OwnedBuffer(const KernelSpec& spec, const memory::desc& md) { return memory(md, *spec.env->engine); }
/// The layout pooling runs fastest in: oneDNN's pooling on plain NCHW is a slow
/// generic loop, on channel-blocked nChw16c/nChw8c it is vectorized and threaded, so 4-D
/// pooling reorders in and out (both reorders are cheap, memory-bound copies).
memory::desc PoolingLayout(const Dims& dims);
/// Adds a reorder step from `from` to a new scratch of `md` (returned), or returns
/// `from` itself when it already has that layout.
memory ReorderTo(class PrimitiveKernel& kernel, memory from, const memory::desc& md);
/// Input `index` (plain layout `plain`) in layout `md`: a plan constant (weights) is
/// reordered once, now, into kernel-owned memory; any other input by a reorder step
/// on every run (ReorderTo).
memory ConstantOrReorderTo(class PrimitiveKernel& kernel, const KernelSpec& spec, int index, const memory::desc& plain,
                           const memory::desc& md);
/// `md`'s dims and type with format `any`: the primitive picks its fastest layout
/// (convolutions on plain NCHW fall back to a slower gemm-based implementation).
memory::desc AnyLayout(const memory::desc& md);
/// What a primitive that chose layout `md` writes an output through: the output
/// `plain` itself when the layouts agree, else a scratch that CopyBack reorders.
memory WriteVia(class PrimitiveKernel& kernel, memory plain, const memory::desc& md);
/// Adds the reorder from `from` into `to` (after the producing step) when they differ.
void CopyBack(class PrimitiveKernel& kernel, memory from, memory to);

/// `attr` with the scratchpad left to Kiln: AddStep then binds the primitive's scratchpad
/// to a slice of the session's shared scratch (PrimitiveKernel::Scratch) instead of memory
/// oneDNN holds per primitive. For the primitives whose scratchpads are large (products,
/// convolutions and their backward).
inline dnnl::primitive_attr UserScratchpad(dnnl::primitive_attr attr = {}) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

/// Appends the eltwise post-op of a fused op's "activation" attribute (ir/core/fused_ops.h),
/// if any.
Status AppendActivation(const Attrs& attrs, dnnl::post_ops& post_ops);

/// Where a primitive argument's data comes from on each run.
struct Binding {
  bool is_output = false;
  int index = 0;
};

/// A kernel made of one or more primitives executed in order over memories
/// that are re-pointed at the bound tensors on every run.
class PrimitiveKernel : public Kernel {
 public:
  explicit PrimitiveKernel(const KernelSpec& spec);
  /// A memory for input `index` (or output) described by `md`; reused across steps.
  memory Input(int index, const memory::desc& md) { return Bind({false, index}, md); }
  memory Output(int index, const memory::desc& md) { return Bind({true, index}, md); }
  /// A buffer used only inside this kernel's Run (layout copies, unused outputs):
  /// a 64-byte aligned slice of the session's shared scratch (ExecEnv), re-pointed
  /// on every run, so its contents do not survive to the next run.
  memory Scratch(const memory::desc& md);
  /// `copy_in_place_is_noop`: a reorder between equal layouts, skipped on a run whose source and
  /// destination are the same bytes (a FusedConv output that took its residual's buffer).
  void AddStep(dnnl::primitive prim, std::unordered_map<int, memory> args, bool copy_in_place_is_noop = false);
  /// A step of host code between primitives (a layout conversion no reorder
  /// expresses, a zero fill); it reads the memories' data handles when it runs.
  void AddHostStep(std::function<void()> fn);
  Status Run(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) override;
  /// ReorderTo and CopyBack count the reorders that change a layout.
  void CountConversion() { ++conversions_; }
  int LayoutConversionsPerRun() const override { return conversions_; }

 private:
  memory Bind(Binding b, const memory::desc& md);
  int conversions_ = 0;
  std::string label_;
  dnnl::engine engine_;
  dnnl::stream* stream_;
  ExecEnv* env_;
  std::vector<std::pair<Binding, memory>> memories_;
  std::vector<std::pair<int64_t, memory>> scratch_;  // offset into the shared scratch
  int64_t scratch_bytes_ = 0;
  struct PrimitiveStep {
    dnnl::primitive primitive;
    std::unordered_map<int, memory> args;  // owns the memories c_args point at
    std::vector<dnnl_exec_arg_t> c_args;   // built once: the C++ execute() rebuilds it (a heap allocation) per call
    std::function<void()> host;            // set for a host step (no primitive)
    bool copy_in_place_is_noop = false;    // see AddStep
  };
  std::vector<PrimitiveStep> steps_;
};

/// Runs `fn` with an ExecEnv on a private engine and stream, one call at a time: checking
/// and timing kernels must neither depend on nor disturb any session.
void WithPrivateEnv(const std::function<void(ExecEnv& env)>& fn);

/// Whether the oneDNN kernel of `spec` is built and run on the calling thread alone: its
/// work (the products' flops, the other ops' bytes) is too small to repay waking the other
/// threads.
bool OneDnnKernelRunsOnOneThread(const KernelSpec& spec);
/// Whether a kernel that is not split (an OpenMP region otherwise) runs on one thread: the
/// small kernels above, and in an inference plan (ExecEnv::use_share_team) a memory-bound
/// kernel whose traffic fits one core's L2, which takes less than waking OpenMP's sleeping
/// workers.
bool OneDnnUnsplitKernelRunsOnOneThread(const KernelSpec& spec);

/// The threads a kernel of `spec` may use: the session's count (1 for a part of a split
/// kernel, onednn_split.cc), at most OpenMP's.
int SessionThreads(const KernelSpec& spec);

/// run(u0, u1) over [0, units) in `threads` contiguous parts: on the share team (inference
/// plans) or in an OpenMP region (training plans, whose oneDNN kernels use OpenMP's threads).
template <class F>
void RunParts(int64_t units, int threads, bool share_team, const F& run) {
  const int parts = static_cast<int>(std::min<int64_t>(threads, units));
  if (parts <= 1) {
    run(0, units);
  } else if (share_team) {
    RunShares(parts, [&](int t) { run(units * t / parts, units * (t + 1) / parts); });
  } else {
#pragma omp parallel for num_threads(parts) schedule(static)
    for (int t = 0; t < parts; ++t) run(units * t / parts, units * (t + 1) / parts);
  }
}

/// Builds a kernel for a spec whose env holds an engine; may throw dnnl::error
/// and returns reasons (without the node label) for what it does not handle.
using OneDnnBuilder = std::function<StatusOr<std::unique_ptr<Kernel>>(const KernelSpec& spec)>;

/// Sets the calling thread's OpenMP thread count (what oneDNN sizes a primitive's parallel
/// work by when it is created, and runs it with) for its lifetime.
class ScopedThreadCount {
 public:
  explicit ScopedThreadCount(int threads) : wanted_(threads) {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
    saved_ = omp_get_max_threads();
    if (saved_ != threads) omp_set_num_threads(threads);
#endif
  }
  ~ScopedThreadCount() {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
    if (saved_ != wanted_) omp_set_num_threads(saved_);
#endif
  }
  ScopedThreadCount(const ScopedThreadCount&) = delete;
  ScopedThreadCount& operator=(const ScopedThreadCount&) = delete;

 private:
  int wanted_ = 1, saved_ = 1;
};

/// The kernel of `spec` as parts over slices of the batch (or a convolution's output rows)
/// that `build` makes, each run on one thread by Kiln's share team (onednn_split.cc); null
/// when the op or its shapes are not split, or a part cannot be built.
std::unique_ptr<Kernel> BuildSplitKernel(const KernelSpec& spec, const OneDnnBuilder& build);
/// The number of parts BuildSplitKernel makes of `spec` (0: not split), for tests and reports.
int SplitPartCount(const KernelSpec& spec);

/// Whether a builder binds its tensors with the layouts the spec gives (LayoutDesc);
/// the factory refuses a non-plain tensor for the others.
enum class Layouts { kPlainOnly, kAny };

/// Whether a builder takes empty outputs (ones the op leaves empty, e.g. the recurrent
/// Grad ops' dX at x_gradient=0); empty inputs are always declined.
enum class EmptyOutputs { kDecline, kAccept };

/// Registers `builder` as the "onednn" kernel of `op_type`. The factory checks
/// that every tensor is a non-empty float32 (and plain unless `layouts` is kAny), turns
/// dnnl::error into a Status and prefixes the node label; OneDnnUnsupportedReason runs
/// the same path.
void RegisterOp(KernelRegistry& r, const std::string& op_type, OneDnnBuilder builder,
                Layouts layouts = Layouts::kPlainOnly, EmptyOutputs empty_outputs = EmptyOutputs::kDecline);

/// RegisterOp under another family name: an alternative algorithm for the op (e.g.
/// "winograd"), chosen per step by the compiler (compiler/backends/cpu/kernel_choice.h).
/// The same checks, split and exact path; OneDnnUnsupportedReason asks only "onednn".
void RegisterFamilyOp(KernelRegistry& r, const std::string& family, const std::string& op_type, OneDnnBuilder builder,
                      Layouts layouts);

/// "" when the "winograd" family (runtime/kernel_choice.h) runs `spec` here, else why not.
std::string WinogradConvUnsupportedReason(const KernelSpec& spec);

// Registration hooks, one per file.
void RegisterEltwiseKernels(KernelRegistry& r);
void RegisterBinaryKernels(KernelRegistry& r);
void RegisterMatMulKernels(KernelRegistry& r);
void RegisterConvKernels(KernelRegistry& r);
void RegisterPoolKernels(KernelRegistry& r);
void RegisterNormKernels(KernelRegistry& r);
void RegisterBackwardKernels(KernelRegistry& r);   // training: onednn_backward.cc
void RegisterRecurrentKernels(KernelRegistry& r);  // RNN/GRU/LSTM and their Grad ops: onednn_recurrent.cc

}  // namespace onednn
}  // namespace kiln::runtime
