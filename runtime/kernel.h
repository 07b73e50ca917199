// Kernels: what a Plan step runs. A kernel is created once per step when a
// session loads the plan (oneDNN primitives are built then) and run many times.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace dnnl {
class engine;
class stream;
}  // namespace dnnl

namespace kiln::runtime {

class CompiledKernels;
class Device;
struct ReorderedConstants;  // runtime/kernels/onednn/onednn_common.h

/// Shared per-session execution resources.
struct ExecEnv {
  dnnl::engine* engine = nullptr;
  dnnl::stream* stream = nullptr;
  int num_threads = 0;  // 0: library default
  /// Generated code for "jit" steps, if any (owned by the session).
  const CompiledKernels* compiled_kernels = nullptr;
  /// The plan's device (runtime/device.h), when it has one: device steps run there.
  Device* device = nullptr;
  /// Set during a run by a kernel that met a NaN or +-Inf where it checks for them (a oneDNN
  /// kernel's fallback, runtime/kernels/onednn/onednn_common.cc); cleared by the session
  /// before each run. Until it is set, KernelSpec::finite_inputs hold finite values.
  bool nonfinite_seen = false;
  /// Whether kernels may run their parallel work on Kiln's share team (runtime/share_team.h)
  /// rather than OpenMP regions. Off for plans that update state (training steps): their
  /// backward oneDNN ops run OpenMP regions, and two thread pools spinning on the same cores
  /// take turns (MLP training on 2 cores, quiet: 0.195 against 0.157 s per 100 steps).
  bool use_share_team = true;
  /// Weights a oneDNN kernel reordered at build time, by source data: the parts of a split
  /// kernel (runtime/kernels/onednn/onednn_split.cc) hold each once. Null elsewhere.
  std::shared_ptr<ReorderedConstants> reordered_constants;

  /// One scratch region shared by every kernel of a session: steps run one at a
  /// time and a kernel's scratch (layout copies) is dead outside its own Run.
  /// Kernels raise `scratch_bytes` when created; the session then allocates it
  /// once (AllocateScratch), so ScratchBase never allocates during its runs.
  int64_t scratch_bytes = 0;
  /// Of the region and of each kernel's slices (cache lines, as oneDNN's own buffers).
  static constexpr int64_t kScratchAlignment = 64;
  /// A part of a split kernel (onednn_split.cc) takes its scratch from its kernel's
  /// session: `scratch_offset` bytes into that env's region, which covers every part's.
  ExecEnv* scratch_parent = nullptr;
  int64_t scratch_offset = 0;
  /// False when the allocation fails.
  bool AllocateScratch() { return scratch_bytes == 0 || ScratchBase(scratch_bytes) != nullptr; }
  /// A 64-byte aligned region of at least `bytes` (null if that cannot be had); grows
  /// only when no session allocated it up front (kernels built and run directly, as in tests).
  uint8_t* ScratchBase(int64_t bytes);

 private:
  std::shared_ptr<uint8_t> scratch_;
  int64_t scratch_allocated_ = 0;
};

/// Everything a kernel factory may look at. Input/output `dims` and `dtype` are
/// final; data pointers are bound per run. A missing optional input has dtype
/// DT_UNDEFINED.
struct KernelSpec {
  std::string name;     // node name, for messages
  std::string op_type;  // IR op
  Attrs attrs;
  std::vector<TensorRef> inputs;
  std::vector<TensorRef> outputs;
  ExecEnv* env = nullptr;
  /// Inputs that are plan constants: their data is bound already and never
  /// changes, so a kernel may preprocess it once when built (reorder weights).
  std::vector<bool> constant_inputs;
  /// Inputs that hold finite values (no NaN or +-Inf, barring overflow) in every run until
  /// a kernel sets ExecEnv::nonfinite_seen: the earlier steps checked them or computed them
  /// from such values (runtime/finite_values.h). A kernel that guards against non-finite
  /// values need not check these while the flag is clear.
  std::vector<bool> finite_inputs;

  std::string Label() const { return name + " (" + op_type + ")"; }
  bool is_constant_input(int i) const {
    return i < static_cast<int>(constant_inputs.size()) && constant_inputs[i] && inputs[i].data;
  }
  bool has_input(int i) const { return i < static_cast<int>(inputs.size()) && inputs[i].dtype != proto::DT_UNDEFINED; }
  bool has_output(int i) const {
    return i < static_cast<int>(outputs.size()) && outputs[i].dtype != proto::DT_UNDEFINED;
  }
  bool is_finite_input(int i) const { return i < static_cast<int>(finite_inputs.size()) && finite_inputs[i]; }
};

/// What a kernel guarantees about NaN and +-Inf in a run that leaves ExecEnv::nonfinite_seen
/// clear: nothing; that its inputs were finite (it checked them or was told they were); or
/// that its outputs are finite.
enum class FiniteCheck { kNone, kInputs, kOutputs };

class Kernel {
 public:
  virtual ~Kernel() = default;
  /// Runs on the bound buffers. `inputs`/`outputs` have the dims and dtypes the
  /// kernel was created with.
  virtual Status Run(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) = 0;
  /// Layout conversions (reorders between different layouts) each Run makes, reweighting
  /// of constants at build time not counted (kiln dump --layouts).
  virtual int LayoutConversionsPerRun() const { return 0; }
  /// Parts the kernel's work is split into, each run on a thread of Kiln's share team
  /// (runtime/share_team.h); 1 when it runs as one piece.
  virtual int Parts() const { return 1; }
  /// See FiniteCheck (runtime/finite_values.h uses it to mark the values after the step).
  virtual FiniteCheck ChecksFinite() const { return FiniteCheck::kNone; }
  /// Constants the kernel packed into memory of its own when built (transformed weights):
  /// a timing with cold constants (runtime::TimeKernels) evicts them too.
  struct ConstantSpan {
    const void* data;
    size_t bytes;
  };
  virtual std::vector<ConstantSpan> PackedConstants() const { return {}; }
};

using KernelFactory = std::function<StatusOr<std::unique_ptr<Kernel>>(const KernelSpec& spec)>;

/// Kernels by (backend, op): backend "ref" holds the reference implementation of
/// every op; "onednn" the oneDNN-backed ones.
class KernelRegistry {
 public:
  static KernelRegistry& Global();
  /// Registered as an op type: the backend's factory for every op it has no entry for.
  static constexpr const char* kAnyOp = "*";
  void Register(const std::string& backend, const std::string& op_type, KernelFactory factory);
  const KernelFactory* Find(const std::string& backend, const std::string& op_type) const;
  bool Has(const std::string& backend, const std::string& op_type) const { return Find(backend, op_type) != nullptr; }
  StatusOr<std::unique_ptr<Kernel>> Create(const std::string& backend, const KernelSpec& spec) const;

 private:
  std::map<std::pair<std::string, std::string>, KernelFactory> factories_;
};

/// Adapts a plain function into a kernel (most reference kernels need no state).
using SimpleKernelFn =
    std::function<Status(const KernelSpec& spec, const std::vector<TensorRef>& in, const std::vector<TensorRef>& out)>;
KernelFactory MakeSimpleKernel(SimpleKernelFn fn);

/// Runs the reference kernel of `op_type` once (used by constant folding and tests).
Status RunReferenceOp(const std::string& op_type, const std::string& name, const Attrs& attrs,
                      const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs);

// Registration hooks, one per kernel family file (called once by Global()).
void RegisterReferenceElementwiseKernels(KernelRegistry& r);
void RegisterReferenceBinaryKernels(KernelRegistry& r);  // ir/core/ops/binary.def
void RegisterReferenceLinalgKernels(KernelRegistry& r);
void RegisterReferenceNnKernels(KernelRegistry& r);
void RegisterReferenceShapeKernels(KernelRegistry& r);
void RegisterReferenceReductionKernels(KernelRegistry& r);
void RegisterReferenceLogicalKernels(KernelRegistry& r);
void RegisterReferenceSignalKernels(KernelRegistry& r);
void RegisterReferenceIndexingKernels(
    KernelRegistry& r);  // GatherElements, Trilu, LayerNormalization   // comparison, logical, Where, Mod, Size, Range
void RegisterReferenceLossKernels(KernelRegistry& r);       // ONNX's class losses (loss.cc)
void RegisterReferenceArrayKernels(KernelRegistry& r);      // CumSum, TopK, OneHot, ... (array.cc)
void RegisterReferenceResizeKernels(KernelRegistry& r);     // resize.cc
void RegisterReferenceQuantizeKernels(KernelRegistry& r);   // quantize.cc
void RegisterReferenceAttentionKernels(KernelRegistry& r);  // attention.cc
void RegisterReferenceGradientKernels(KernelRegistry& r);   // backward ops
void RegisterReferenceTrainingKernels(KernelRegistry& r);   // losses, optimizer updates
void RegisterReferenceFusedKernels(KernelRegistry& r);      // FusedConv, FusedMatMul
// bitwise.cc (BitShift, BitwiseNot), einsum.cc, normalization.cc (LpNormalization, MVN,
// ReverseSequence, Det, GroupNormalization), value_shaped.cc (CenterCropPad, Compress, Unique).
void RegisterReferenceBitwiseKernels(KernelRegistry& r);
void RegisterReferenceEinsumKernels(KernelRegistry& r);
void RegisterReferenceNormalizationKernels(KernelRegistry& r);
void RegisterReferenceValueShapedKernels(KernelRegistry& r);
void RegisterOneDnnKernels(KernelRegistry& r);
/// "" when the "onednn" kernel of spec.op_type can be built for `spec` (dims, dtypes and
/// attributes; data pointers may be null), else a short reason. It runs the kernel's own
/// factory on a private engine, so the compiler's choice and the kernel cannot disagree.
std::string OneDnnUnsupportedReason(const KernelSpec& spec);
void RegisterReferenceFusedElementwiseKernels(KernelRegistry& r);  // FusedElementwise interpreter
void RegisterCompiledKernels(KernelRegistry& r);                   // "jit": generated code (compiled_kernels.cc)
void RegisterCudaKernels(KernelRegistry& r);                       // "cuda": device steps (kernels/cuda/)

}  // namespace kiln::runtime
