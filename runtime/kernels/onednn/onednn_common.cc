#include "runtime/kernels/onednn/onednn_common.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_set>

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

#include "runtime/finite_values.h"
#include "runtime/share_team.h"

namespace kiln::runtime {
namespace onednn {
namespace {

struct Registered {
  OneDnnBuilder builder;
  Layouts layouts = Layouts::kPlainOnly;
  EmptyOutputs empty_outputs = EmptyOutputs::kDecline;
};

std::map<std::string, Registered>& Builders() {
  static auto* builders = new std::map<std::string, Registered>();
  return *builders;
}

// Runs a builder; errors carry the reason only (no node label).
StatusOr<std::unique_ptr<Kernel>> RunBuilder(const Registered& registered, const KernelSpec& spec) {
  if (!spec.env || !spec.env->engine || !spec.env->stream) return Internal("no oneDNN engine in the kernel spec");
  auto check = [&](const TensorRef& t, bool output, size_t i) -> Status {
    const char* what = output ? "output" : "input";
    if (t.dtype == proto::DT_UNDEFINED) return Status::Ok();  // omitted optional input
    if (t.dtype != proto::DT_FLOAT) {
      return Unimplemented("oneDNN kernels take float32 only (", what, " ", i, " is ", DTypeName(t.dtype), ")");
    }
    if (t.layout != proto::LAYOUT_PLAIN && (registered.layouts != Layouts::kAny || t.dims.size() < 3)) {
      return Unimplemented(what, " ", i, " has layout ", LayoutName(t.layout), " (this kernel takes plain tensors)");
    }
    if (t.dims.size() > DNNL_MAX_NDIMS) return Unimplemented(what, " ", i, " has rank ", t.dims.size());
    if (t.num_elements() == 0 && !(output && registered.empty_outputs == EmptyOutputs::kAccept)) {
      return Unimplemented(what, " ", i, " is empty");
    }
    return Status::Ok();
  };
  for (size_t i = 0; i < spec.inputs.size(); ++i) RETURN_IF_ERROR(check(spec.inputs[i], false, i));
  for (size_t i = 0; i < spec.outputs.size(); ++i) RETURN_IF_ERROR(check(spec.outputs[i], true, i));
  try {
    return registered.builder(spec);
  } catch (const dnnl::error& e) {
    return Unimplemented("oneDNN cannot build it: ", e.what());
  }
}

// Non-finite values. The rule is the reference kernels' (ONNX/IEEE, as numpy and
// ONNX Runtime): NaN in -> NaN out for every float op (Relu, Clip, Max, Min,
// MaxPool, ...), and +-Inf follow IEEE arithmetic (Relu(-Inf)=0, Clip(Inf)=hi).
// oneDNN does not honour it (its max/min-based Relu, Clip, binary Max/Min,
// MaxPool and eltwise post-ops drop NaN), so each oneDNN kernel scans its float
// inputs first (one vectorized pass, ~memory bandwidth) and, when any element
// is NaN or +-Inf, runs the op's reference kernel instead. Finite inputs keep
// the oneDNN path; the rare non-finite run pays the reference kernel's cost.

// Ops whose oneDNN kernels compute with IEEE arithmetic alone (sums of products, a bias, a
// residual; no max/min-based activation): every output the reference makes NaN or +-Inf
// comes out NaN or +-Inf here too (oneDNN adds at most products with padding zeros), so a
// scan of the outputs after the run finds any non-finite input that matters as well as a
// scan of the inputs before it does, and costs less where the outputs are smaller
// (ConvGradWeight reads activations and writes a filter).
bool ComputesWithIeeeArithmetic(const KernelSpec& spec) {
  const std::string& op = spec.op_type;
  if (op == "FusedConv" || op == "FusedMatMul") return spec.attrs.GetString("activation", "").empty();
  return op == "Conv" || op == "ConvTranspose" || op == "MatMul" || op == "Gemm" || op == "ConvGradInput" ||
         op == "ConvGradWeight";
}

// Scans of more floats than this are split over the threads: a scan is memory-bound, and
// at batch 64 one thread scanning ResNet-50's activations took a fifth of the run.
constexpr int64_t kParallelScanFloats = 256 * 1024;

// Element (index) of `dims` at `from_strides` copied to `to_strides`, for every element.
void CopyStrided(const Dims& dims, const float* from, const Dims& from_strides, float* to, const Dims& to_strides) {
  const int64_t n = ElementCount(dims);
  std::vector<int64_t> index(dims.size(), 0);
  for (int64_t e = 0; e < n; ++e) {
    int64_t f = 0, t = 0;
    for (size_t d = 0; d < dims.size(); ++d) {
      f += index[d] * from_strides[d];
      t += index[d] * to_strides[d];
    }
    to[t] = from[f];
    for (size_t d = dims.size(); d-- > 0;) {
      if (++index[d] < dims[d]) break;
      index[d] = 0;
    }
  }
}

// A reference kernel (which takes plain tensors) run on tensors bound in other layouts:
// such inputs are copied into plain buffers first and such outputs from plain buffers
// after. Only the rare non-finite run of a oneDNN kernel inside a layout region gets here,
// so the plain buffers are allocated on the first such run, not with the kernel (held by
// every kernel of a layout region, they made ResNet-50 at batch 64 take 8 GB instead of 1.3).
class PlainLayoutKernel : public Kernel {
 public:
  PlainLayoutKernel(const KernelSpec& spec, std::unique_ptr<Kernel> plain)
      : plain_(std::move(plain)), inputs_(spec.inputs), outputs_(spec.outputs) {
    for (auto* list : {&inputs_, &outputs_}) {
      for (TensorRef& t : *list) {
        if (t.layout == proto::LAYOUT_PLAIN) continue;
        t.layout = proto::LAYOUT_PLAIN;
        sizes_.push_back(t.num_elements());
      }
    }
  }
  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (storage_.empty()) {
      for (int64_t n : sizes_) storage_.emplace_back(n);
    }
    size_t next = 0;
    auto bind = [&](const std::vector<TensorRef>& bound, std::vector<TensorRef>& plain, bool copy_in) {
      for (size_t i = 0; i < bound.size(); ++i) {
        plain[i].data = bound[i].data;
        if (bound[i].layout == proto::LAYOUT_PLAIN) continue;
        plain[i].data = storage_[next++].data();
        if (copy_in) {
          CopyStrided(bound[i].dims, bound[i].as<float>(), LayoutStrides(bound[i].dims, bound[i].layout),
                      plain[i].as<float>(), RowMajorStrides(bound[i].dims));
        }
      }
    };
    bind(in, inputs_, true);
    bind(out, outputs_, false);
    RETURN_IF_ERROR(plain_->Run(inputs_, outputs_));
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i].layout == proto::LAYOUT_PLAIN) continue;
      CopyStrided(out[i].dims, outputs_[i].as<float>(), RowMajorStrides(out[i].dims), out[i].as<float>(),
                  LayoutStrides(out[i].dims, out[i].layout));
    }
    return Status::Ok();
  }

 private:
  std::unique_ptr<Kernel> plain_;
  std::vector<TensorRef> inputs_, outputs_;  // plain views, re-pointed on every run
  std::vector<int64_t> sizes_;               // the non-plain tensors' elements
  std::vector<std::vector<float>> storage_;  // their plain copies, from the first run on
};

// Whether an output takes an input's bytes (a FusedConv's residual: compiler/memory_planner.h).
// The input is gone once the fast kernel ran, so its scan must come first.
bool WritesOverAnInput(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) {
  for (const TensorRef& o : out) {
    const char* o_begin = static_cast<const char*>(o.data);
    for (const TensorRef& i : in) {
      const char* i_begin = static_cast<const char*>(i.data);
      if (o_begin && i_begin && o_begin < i_begin + i.num_bytes() && i_begin < o_begin + o.num_bytes()) return true;
    }
  }
  return false;
}

// Plan constants (weights) are scanned once, here; the other inputs, or the outputs (see
// ComputesWithIeeeArithmetic), on every run, over `threads` threads when they are large: the
// share team's for a split kernel, OpenMP's otherwise. Inputs the session knows to be finite
// (KernelSpec::finite_inputs) are not scanned while no kernel of the run has met a NaN or
// Inf; a kernel that meets one says so (ExecEnv::nonfinite_seen), and every later kernel of
// the run then scans all it reads.
class NonFiniteFallbackKernel : public Kernel {
 public:
  NonFiniteFallbackKernel(const KernelSpec& spec, std::unique_ptr<Kernel> fast, std::unique_ptr<Kernel> exact,
                          int threads, bool share_team)
      : fast_(std::move(fast)),
        exact_(std::move(exact)),
        env_(spec.env),
        ieee_(ComputesWithIeeeArithmetic(spec)),
        threads_(std::max(threads, 1)),
        share_team_(share_team) {
    for (int i = 0; i < static_cast<int>(spec.inputs.size()); ++i) {
      if (!spec.is_constant_input(i)) {
        scanned_.push_back(i);
        known_finite_.push_back(spec.is_finite_input(i));
      } else if (!HoldsFiniteValues(spec.inputs[i])) {
        always_exact_ = true;
      }
    }
    for (const TensorRef& t : spec.outputs) output_floats_ += t.dtype == proto::DT_FLOAT ? t.num_elements() : 0;
    scanning_.reserve(std::max(spec.inputs.size(), spec.outputs.size()));  // a run allocates nothing
  }
  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (always_exact_) return Exact(in, out);
    const bool trusted = !env_->nonfinite_seen;
    scanning_.clear();
    int64_t input_floats = 0;
    for (size_t k = 0; k < scanned_.size(); ++k) {
      if (trusted && known_finite_[k]) continue;
      const TensorRef& t = in[scanned_[k]];
      scanning_.push_back(&t);
      input_floats += t.dtype == proto::DT_FLOAT ? t.num_elements() : 0;
    }
    if (input_floats == 0) return fast_->Run(in, out);  // nothing unknown to check
    if (ieee_ && output_floats_ < input_floats && !WritesOverAnInput(in, out)) {
      RETURN_IF_ERROR(fast_->Run(in, out));
      scanning_.clear();
      for (const TensorRef& t : out) scanning_.push_back(&t);
      return Finite(scanning_) ? Status::Ok() : Exact(in, out);
    }
    return Finite(scanning_) ? fast_->Run(in, out) : Exact(in, out);
  }
  // An IEEE op's outputs are finite when its inputs are (barring overflow) or when its
  // output scan passed; another op's inputs were finite.
  FiniteCheck ChecksFinite() const override { return ieee_ ? FiniteCheck::kOutputs : FiniteCheck::kInputs; }
  int LayoutConversionsPerRun() const override { return fast_->LayoutConversionsPerRun(); }
  int Parts() const override { return fast_->Parts(); }

 private:
  bool Finite(const std::vector<const TensorRef*>& tensors) const {
    int64_t floats = 0;
    for (const TensorRef* t : tensors) floats += t->dtype == proto::DT_FLOAT && t->data ? t->num_elements() : 0;
    const int parts = floats >= kParallelScanFloats ? threads_ : 1;
    if (parts == 1) {
      for (const TensorRef* t : tensors) {
        if (!HoldsFiniteValues(*t)) return false;
      }
      return true;
    }
    // Part p scans the p-th slice of every tensor.
    std::atomic<bool> finite{true};
    RunParts(parts, parts, share_team_, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        for (const TensorRef* t : tensors) {
          if (t->dtype != proto::DT_FLOAT || !t->data) continue;
          const int64_t n = t->num_elements(), begin = n * p / parts, end = n * (p + 1) / parts;
          if (!FiniteFloats(static_cast<const float*>(t->data) + begin, end - begin)) finite.store(false);
        }
      }
    });
    return finite.load();
  }

  Status Exact(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) {
    env_->nonfinite_seen = true;
    return exact_->Run(in, out);
  }

  std::unique_ptr<Kernel> fast_, exact_;
  ExecEnv* env_;
  std::vector<int> scanned_;                // the inputs that are not plan constants
  std::vector<bool> known_finite_;          // of those, which the session knows finite
  std::vector<const TensorRef*> scanning_;  // this run's scan
  int64_t output_floats_ = 0;
  bool always_exact_ = false, ieee_ = false;
  int threads_;
  bool share_team_;
};

// ---- Small kernels run on the calling thread alone ----
// Waking the other threads for a parallel region costs microseconds when they spin and
// tens of microseconds when they sleep (OMP_WAIT_POLICY=PASSIVE, a busy machine); a kernel
// of a few microseconds (LeNet-5 or an MLP at batch 1) loses more than it gains. Such a
// kernel is built and run with one OpenMP thread: oneDNN sizes a primitive's parallel work
// by the calling thread's thread count when it is created (and keys its primitive cache by
// it) and runs it with the count it was created for.
constexpr double kOneThreadFlops = 2e6;              // ~20-40 us of one core's FP32 work
constexpr int64_t kOneThreadBytes = 256 * 1024;      // ~10-20 us of one core's memory traffic
constexpr int64_t kOneThreadProductBytes = 1 << 20;  // a product's operands within one core's L2

// Floating-point operations of the products (2 per multiply-add), from the shapes alone;
// 0 for the other ops, whose cost is their memory traffic; -1 for products not estimated
// (backward ones): those keep every thread.
double ProductFlops(const KernelSpec& spec) {
  const std::string& op = spec.op_type;
  if (spec.outputs.empty() || spec.inputs.size() < 2) return 0;
  const double out = static_cast<double>(spec.outputs[0].num_elements());
  if (op == "MatMul" || op == "Gemm" || op == "FusedMatMul") {
    const Dims& a = spec.inputs[0].dims;
    if (a.empty()) return 0;
    const bool trans_a = op == "Gemm" && spec.attrs.GetInt("transA", 0) != 0;
    const int64_t k = trans_a && a.size() >= 2 ? a[a.size() - 2] : a.back();
    return 2 * out * static_cast<double>(k);
  }
  if (op == "Conv" || op == "FusedConv") {
    const Dims& w = spec.inputs[1].dims;  // [C_out, C_in / group, k...]
    if (w.empty()) return 0;
    double per_output = 1;
    for (size_t d = 1; d < w.size(); ++d) per_output *= static_cast<double>(w[d]);
    return 2 * out * per_output;
  }
  return -1;  // another product or a backward op: not estimated
}

// Bytes a kernel reads and writes (its inputs and outputs once each).
int64_t TrafficBytes(const KernelSpec& spec) {
  int64_t bytes = 0;
  for (const TensorRef& t : spec.inputs) bytes += t.num_bytes();
  for (const TensorRef& t : spec.outputs) bytes += t.num_bytes();
  return bytes;
}

bool RunsOnOneThread(const KernelSpec& spec) {
  if (spec.op_type.find("Grad") != std::string::npos || spec.op_type == "ConvTranspose") return false;
  if (spec.op_type == "RNN" || spec.op_type == "GRU" || spec.op_type == "LSTM")
    return false;  // UseVectorKernel decides (vector_recurrent.h)
  const double flops = ProductFlops(spec);
  if (flops < 0) return false;
  const int64_t bytes = TrafficBytes(spec);
  // A product is cheap when its flops are few and its operands fit one core's cache: a
  // batch-1 product over 1.6 MB of weights (MLP 784-512) streams them from L3 and runs
  // twice as fast on two cores.
  if (flops > 0) return flops < kOneThreadFlops && bytes < kOneThreadProductBytes;
  return bytes < kOneThreadBytes;
}

// An unsplit kernel of an inference plan is an OpenMP region, and the plan's other steps run
// on the share team, so OpenMP's workers sleep between its regions: each region pays their
// wake-up, ~25 us measured (a Transpose [10, 64, 64]: 31 us as a two-thread region, 6.7 us
// on one thread; a LayerNormalization over [640, 64]: 40 vs 15 us). A memory-bound kernel
// whose traffic fits one core's L2 takes less than that on one thread.
constexpr int64_t kOneThreadRegionBytes = 2 << 20;
bool RegionCostsMoreThanItSaves(const KernelSpec& spec) {
  static const std::unordered_set<std::string> compute_bound = {
      "MatMul", "Gemm", "FusedMatMul", "Conv", "FusedConv", "ConvTranspose", "RNN", "GRU", "LSTM"};
  if (!spec.env || !spec.env->use_share_team || compute_bound.count(spec.op_type) ||
      spec.op_type.find("Grad") != std::string::npos) {
    return false;
  }
  return TrafficBytes(spec) < kOneThreadRegionBytes;
}

class OneThreadKernel : public Kernel {
 public:
  explicit OneThreadKernel(std::unique_ptr<Kernel> kernel) : kernel_(std::move(kernel)) {}
  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    ScopedThreadCount one(1);
    return kernel_->Run(in, out);
  }
  int LayoutConversionsPerRun() const override { return kernel_->LayoutConversionsPerRun(); }
  FiniteCheck ChecksFinite() const override { return kernel_->ChecksFinite(); }

 private:
  std::unique_ptr<Kernel> kernel_;
};

}  // namespace

bool OneDnnKernelRunsOnOneThread(const KernelSpec& spec) { return RunsOnOneThread(spec); }
bool OneDnnUnsplitKernelRunsOnOneThread(const KernelSpec& spec) {
  return RunsOnOneThread(spec) || RegionCostsMoreThanItSaves(spec);
}

int SessionThreads(const KernelSpec& spec) {
  int available = 1;
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  available = omp_get_max_threads();
#endif
  return spec.env && spec.env->num_threads > 0 ? std::min(spec.env->num_threads, available) : available;
}

void WithPrivateEnv(const std::function<void(ExecEnv& env)>& fn) {
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  static dnnl::stream* stream = new dnnl::stream(*engine);
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  ExecEnv env;
  env.engine = engine;
  env.stream = stream;
  fn(env);
}

memory::desc StridedDesc(const Dims& dims, const Dims& strides) {
  return memory::desc(memory::dims(dims.begin(), dims.end()), memory::data_type::f32,
                      memory::dims(strides.begin(), strides.end()));
}

memory::desc PlainDesc(const Dims& dims) {
  if (dims.empty()) return StridedDesc({1}, {1});
  return StridedDesc(dims, RowMajorStrides(dims));
}

memory::desc LayoutDesc(const TensorRef& t) {
  if (t.layout == proto::LAYOUT_PLAIN || t.dims.size() < 3) return PlainDesc(t.dims);
  return StridedDesc(t.dims, LayoutStrides(t.dims, t.layout));
}

memory::desc ChannelsLastDesc(const Dims& dims) {
  return StridedDesc(dims, LayoutStrides(dims, proto::LAYOUT_CHANNELS_LAST));
}

bool AnyNonPlain(std::initializer_list<const TensorRef*> tensors) {
  for (const TensorRef* t : tensors) {
    if (t && t->layout != proto::LAYOUT_PLAIN) return true;
  }
  return false;
}

Dims PadLeft(const Dims& dims, size_t rank) {
  Dims out(rank > dims.size() ? rank - dims.size() : 0, 1);
  out.insert(out.end(), dims.begin(), dims.end());
  return out;
}

PrimitiveKernel::PrimitiveKernel(const KernelSpec& spec)
    : label_(spec.Label()), engine_(*spec.env->engine), stream_(spec.env->stream), env_(spec.env) {}

memory PrimitiveKernel::Scratch(const memory::desc& md) {
  constexpr int64_t kAlign = ExecEnv::kScratchAlignment;
  const int64_t offset = (scratch_bytes_ + kAlign - 1) / kAlign * kAlign;
  scratch_bytes_ = offset + static_cast<int64_t>(md.get_size());
  env_->scratch_bytes = std::max(env_->scratch_bytes, scratch_bytes_);
  memory m(md, engine_, DNNL_MEMORY_NONE);
  scratch_.emplace_back(offset, m);
  return m;
}

memory PrimitiveKernel::Bind(Binding b, const memory::desc& md) {
  memory m(md, engine_, DNNL_MEMORY_NONE);
  memories_.emplace_back(b, m);
  return m;
}

void PrimitiveKernel::AddStep(dnnl::primitive prim, std::unordered_map<int, memory> args, bool copy_in_place_is_noop) {
  // A primitive built with a user scratchpad (UserScratchpad) gets it from the session's
  // shared scratch: only the largest of a session's scratchpads is ever held, where oneDNN's
  // own mode keeps one per primitive (ResNet-50 at batch 64 in channels-last: 8 GB of them).
  const_dnnl_primitive_desc_t pd = nullptr;
  if (args.count(DNNL_ARG_SCRATCHPAD) == 0 && dnnl_primitive_get_primitive_desc(prim.get(), &pd) == dnnl_success) {
    const dnnl_memory_desc_t* md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    if (md && dnnl_memory_desc_get_size(md) > 0) args[DNNL_ARG_SCRATCHPAD] = Scratch(memory::desc(*md));
  }
  PrimitiveStep step{std::move(prim), std::move(args), {}, {}, copy_in_place_is_noop};
  for (const auto& [arg, mem] : step.args) step.c_args.push_back({arg, mem.get()});
  steps_.push_back(std::move(step));
}

void PrimitiveKernel::AddHostStep(std::function<void()> fn) { steps_.push_back({{}, {}, {}, std::move(fn)}); }

Status PrimitiveKernel::Run(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) {
  try {
    for (auto& [b, m] : memories_) m.set_data_handle((b.is_output ? outputs : inputs)[b.index].data);
    if (!scratch_.empty()) {
      // Other kernels overwrite the shared region between runs; set_data_handle
      // also re-zeroes a blocked layout's padding.
      uint8_t* base = env_->ScratchBase(scratch_bytes_);
      if (!base) return Internal(label_, ": cannot allocate ", scratch_bytes_, " bytes of scratch");
      for (auto& [offset, m] : scratch_) m.set_data_handle(base + offset);
    }
    for (const PrimitiveStep& step : steps_) {
      if (step.host) {
        stream_->wait();  // the primitives before it have written their outputs
        step.host();
        continue;
      }
      if (step.copy_in_place_is_noop &&
          step.args.at(DNNL_ARG_FROM).get_data_handle() == step.args.at(DNNL_ARG_TO).get_data_handle()) {
        continue;
      }
      dnnl::error::wrap_c_api(dnnl_primitive_execute(step.primitive.get(), stream_->get(),
                                                     static_cast<int>(step.c_args.size()), step.c_args.data()),
                              "could not execute a primitive");
    }
    stream_->wait();
  } catch (const dnnl::error& e) {
    return Internal(label_, ": oneDNN: ", e.what());
  }
  return Status::Ok();
}

namespace {

void RegisterAs(KernelRegistry& r, const std::string& family, const std::string& op_type,
                const Registered& registered) {
  r.Register(family, op_type, [registered](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    std::unique_ptr<Kernel> split =
        BuildSplitKernel(spec, [&](const KernelSpec& part) { return RunBuilder(registered, part); });
    const bool one_thread = !split && OneDnnUnsplitKernelRunsOnOneThread(spec);
    const int split_parts = split ? split->Parts() : 0;
    std::optional<ScopedThreadCount> building_threads;
    if (one_thread) building_threads.emplace(1);
    auto kernel = split ? StatusOr<std::unique_ptr<Kernel>>(std::move(split)) : RunBuilder(registered, spec);
    building_threads.reset();
    if (!kernel.ok()) return kernel.status().WithContext(spec.Label());
    // The exact path for non-finite inputs (see NonFiniteFallbackKernel); every
    // op has a reference kernel, so a failure to build one is an error here.
    KernelSpec plain_spec = spec;
    for (auto* list : {&plain_spec.inputs, &plain_spec.outputs}) {
      for (TensorRef& t : *list) t.layout = proto::LAYOUT_PLAIN;
    }
    auto exact = KernelRegistry::Global().Create("ref", plain_spec);
    if (!exact.ok()) return exact.status().WithContext(spec.Label());
    bool laid_out = false;
    for (const auto* list : {&spec.inputs, &spec.outputs}) {
      for (const TensorRef& t : *list) laid_out |= t.layout != proto::LAYOUT_PLAIN;
    }
    if (laid_out) *exact = std::make_unique<PlainLayoutKernel>(spec, std::move(*exact));
    // A split kernel's scan runs on the share team, an OpenMP kernel's on OpenMP's threads.
    const int scan_threads = one_thread ? 1 : split_parts > 0 ? split_parts : SessionThreads(spec);
    std::unique_ptr<Kernel> checked = std::make_unique<NonFiniteFallbackKernel>(
        spec, std::move(*kernel), std::move(*exact), scan_threads, split_parts > 0);
    if (one_thread) checked = std::make_unique<OneThreadKernel>(std::move(checked));
    return checked;
  });
}

}  // namespace

void RegisterOp(KernelRegistry& r, const std::string& op_type, OneDnnBuilder builder, Layouts layouts,
                EmptyOutputs empty_outputs) {
  const Registered registered{std::move(builder), layouts, empty_outputs};
  Builders()[op_type] = registered;
  RegisterAs(r, "onednn", op_type, registered);
}

void RegisterFamilyOp(KernelRegistry& r, const std::string& family, const std::string& op_type, OneDnnBuilder builder,
                      Layouts layouts) {
  RegisterAs(r, family, op_type, Registered{std::move(builder), layouts, EmptyOutputs::kDecline});
}

}  // namespace onednn

std::string OneDnnUnsupportedReason(const KernelSpec& spec) {
  KernelRegistry::Global();  // registers the builders
  auto it = onednn::Builders().find(spec.op_type);
  if (it == onednn::Builders().end()) return "no oneDNN kernel for " + spec.op_type;
  std::string reason;
  onednn::WithPrivateEnv([&](ExecEnv& env) {
    KernelSpec checked = spec;
    checked.env = &env;
    auto kernel = onednn::RunBuilder(it->second, checked);
    if (!kernel.ok()) reason = kernel.status().message();
  });
  return reason;
}

}  // namespace kiln::runtime
