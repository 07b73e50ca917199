#include "runtime/kernels/onednn/onednn_common.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <mutex>

namespace kiln::runtime {
namespace onednn {
namespace {

std::map<std::string, OneDnnBuilder>& Builders() {
  static auto* builders = new std::map<std::string, OneDnnBuilder>();
  return *builders;
}

// Runs a builder; errors carry the reason only (no node label).
StatusOr<std::unique_ptr<Kernel>> RunBuilder(const OneDnnBuilder& builder, const KernelSpec& spec) {
  if (!spec.env || !spec.env->engine || !spec.env->stream) return Internal("no oneDNN engine in the kernel spec");
  auto check = [](const TensorRef& t, const char* what, size_t i) -> Status {
    if (t.dtype == proto::DT_UNDEFINED) return Status::Ok();  // omitted optional input
    if (t.dtype != proto::DT_FLOAT) {
      return Unimplemented("oneDNN kernels take float32 only (", what, " ", i, " is ", DTypeName(t.dtype), ")");
    }
    if (t.dims.size() > DNNL_MAX_NDIMS) return Unimplemented(what, " ", i, " has rank ", t.dims.size());
    if (t.num_elements() == 0) return Unimplemented(what, " ", i, " is empty");
    return Status::Ok();
  };
  for (size_t i = 0; i < spec.inputs.size(); ++i) RETURN_IF_ERROR(check(spec.inputs[i], "input", i));
  for (size_t i = 0; i < spec.outputs.size(); ++i) RETURN_IF_ERROR(check(spec.outputs[i], "output", i));
  try {
    return builder(spec);
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
bool AllFinite(const TensorRef& t) {
  if (t.dtype != proto::DT_FLOAT || !t.data) return true;
  const auto* p = static_cast<const uint32_t*>(t.data);
  const int64_t n = t.num_elements();
  // The largest magnitude bit pattern: >= Inf's means Inf or NaN. Fixed-size
  // blocks so that -O2 vectorizes the max.
  uint32_t worst[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int k = 0; k < 16; ++k) worst[k] = std::max(worst[k], p[i + k] & 0x7fffffffu);
  }
  for (; i < n; ++i) worst[0] = std::max(worst[0], p[i] & 0x7fffffffu);
  return *std::max_element(worst, worst + 16) < 0x7f800000u;
}

// Plan constants (weights) are scanned once, here; the other inputs on every run.
class NonFiniteFallbackKernel : public Kernel {
 public:
  NonFiniteFallbackKernel(const KernelSpec& spec, std::unique_ptr<Kernel> fast, std::unique_ptr<Kernel> exact)
      : fast_(std::move(fast)), exact_(std::move(exact)) {
    for (int i = 0; i < static_cast<int>(spec.inputs.size()); ++i) {
      if (!spec.is_constant_input(i)) {
        scanned_.push_back(i);
      } else if (!AllFinite(spec.inputs[i])) {
        always_exact_ = true;
      }
    }
  }
  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (always_exact_) return exact_->Run(in, out);
    for (int i : scanned_) {
      if (!AllFinite(in[i])) return exact_->Run(in, out);
    }
    return fast_->Run(in, out);
  }

 private:
  std::unique_ptr<Kernel> fast_, exact_;
  std::vector<int> scanned_;
  bool always_exact_ = false;
};

}  // namespace

memory::desc StridedDesc(const Dims& dims, const Dims& strides) {
  return memory::desc(memory::dims(dims.begin(), dims.end()), memory::data_type::f32,
                      memory::dims(strides.begin(), strides.end()));
}

memory::desc PlainDesc(const Dims& dims) {
  if (dims.empty()) return StridedDesc({1}, {1});
  return StridedDesc(dims, RowMajorStrides(dims));
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

void PrimitiveKernel::AddStep(dnnl::primitive prim, std::unordered_map<int, memory> args) {
  PrimitiveStep step{std::move(prim), std::move(args), {}, {}};
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

void RegisterOp(KernelRegistry& r, const std::string& op_type, OneDnnBuilder builder) {
  Builders()[op_type] = builder;
  r.Register("onednn", op_type, [builder](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    auto kernel = RunBuilder(builder, spec);
    if (!kernel.ok()) return kernel.status().WithContext(spec.Label());
    // The exact path for non-finite inputs (see NonFiniteFallbackKernel); every
    // op has a reference kernel, so a failure to build one is an error here.
    auto exact = KernelRegistry::Global().Create("ref", spec);
    if (!exact.ok()) return exact.status().WithContext(spec.Label());
    return std::unique_ptr<Kernel>(
        std::make_unique<NonFiniteFallbackKernel>(spec, std::move(*kernel), std::move(*exact)));
  });
}

}  // namespace onednn

std::string OneDnnUnsupportedReason(const KernelSpec& spec) {
  KernelRegistry::Global();  // registers the builders
  auto it = onednn::Builders().find(spec.op_type);
  if (it == onednn::Builders().end()) return "no oneDNN kernel for " + spec.op_type;
  // A private engine: checking must not depend on (or disturb) any session.
  static dnnl::engine* engine = new dnnl::engine(dnnl::engine::kind::cpu, 0);
  static dnnl::stream* stream = new dnnl::stream(*engine);
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  ExecEnv env;
  env.engine = engine;
  env.stream = stream;
  KernelSpec checked = spec;
  checked.env = &env;
  auto kernel = onednn::RunBuilder(it->second, checked);
  return kernel.ok() ? "" : kernel.status().message();
}

}  // namespace kiln::runtime
