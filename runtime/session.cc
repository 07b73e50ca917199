#include "runtime/session.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "dnnl.hpp"
#include "ir/core/resource_limits.h"
#include "runtime/plan_validator.h"
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

namespace kiln::runtime {

struct Session::Env {
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  ExecEnv exec;
};

// oneDNN's OpenMP runtime sizes primitives (when built) and parallel regions (when
// run) by the calling thread's nthreads ICV: set it before both, so sessions with
// different counts can share a thread.
int64_t Session::scratch_size() const { return env_->exec.scratch_bytes; }

void Session::ApplyThreadCount() const {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  if (env_->exec.num_threads > 0 && omp_get_max_threads() != env_->exec.num_threads) {
    omp_set_num_threads(env_->exec.num_threads);
  }
#endif
}

Session::~Session() {
  if (profile_on_exit_ && runs_ > 0) std::fprintf(stderr, "%s", ProfileReport().c_str());
}

std::string Session::ProfileReport(int top) const {
  std::vector<const BoundStep*> order;
  double total = 0;
  for (const BoundStep& s : steps_) {
    order.push_back(&s);
    total += s.seconds;
  }
  std::stable_sort(order.begin(), order.end(),
                   [](const BoundStep* a, const BoundStep* b) { return a->seconds > b->seconds; });
  std::ostringstream out;
  char line[512];
  std::snprintf(line, sizeof(line), "Profile: %zu steps, %lld runs, %.3f ms per run in kernels\n", steps_.size(),
                static_cast<long long>(runs_), runs_ ? 1e3 * total / runs_ : 0.0);
  out << line;
  std::snprintf(line, sizeof(line), "  %-44s %-24s %-7s %10s %6s\n", "step", "op", "kernel", "ms/run", "share");
  out << line;
  for (size_t i = 0; i < order.size() && static_cast<int>(i) < top; ++i) {
    const BoundStep& s = *order[i];
    std::snprintf(line, sizeof(line), "  %-44.44s %-24.24s %-7s %10.4f %5.1f%%\n", s.step->name().c_str(),
                  s.step->op_type().c_str(), s.step->kernel().c_str(), runs_ ? 1e3 * s.seconds / runs_ : 0.0,
                  total > 0 ? 100.0 * s.seconds / total : 0.0);
    out << line;
  }
  // Where the compiler chose among kernels: which one and why (measured, cached, rule).
  bool chose = false;
  for (const BoundStep& s : steps_) {
    if (s.step->kernel_reason().empty()) continue;
    if (!chose) out << "  kernel choices:\n";
    chose = true;
    out << "    " << s.step->name() << " (" << s.step->op_type() << "): " << s.step->kernel() << ", "
        << s.step->kernel_reason() << "\n";
  }
  // The same time by op type: which kind of kernel a model spends its time in (what a
  // peer's profiler, e.g. ONNX Runtime's, also reports).
  struct OpTotal {
    std::string op;
    int steps = 0;
    double seconds = 0;
  };
  std::vector<OpTotal> by_op;
  for (const BoundStep& s : steps_) {
    const std::string label = s.step->op_type() + " [" + s.step->kernel() + "]";
    auto it = std::find_if(by_op.begin(), by_op.end(), [&](const OpTotal& t) { return t.op == label; });
    if (it == by_op.end()) it = by_op.insert(by_op.end(), OpTotal{label});
    ++it->steps;
    it->seconds += s.seconds;
  }
  std::stable_sort(by_op.begin(), by_op.end(),
                   [](const OpTotal& a, const OpTotal& b) { return a.seconds > b.seconds; });
  std::snprintf(line, sizeof(line), "  %-44s %-24s %-7s %10s %6s\n", "op type [kernel]", "", "steps", "ms/run",
                "share");
  out << line;
  for (const OpTotal& t : by_op) {
    std::snprintf(line, sizeof(line), "  %-69.69s %-7d %10.4f %5.1f%%\n", t.op.c_str(), t.steps,
                  runs_ ? 1e3 * t.seconds / runs_ : 0.0, total > 0 ? 100.0 * t.seconds / total : 0.0);
    out << line;
  }
  return out.str();
}

double Session::KernelMsPerRun() const {
  double total = 0;
  for (const BoundStep& s : steps_) total += s.seconds;
  return runs_ ? 1e3 * total / static_cast<double>(runs_) : 0.0;
}

void Session::ResetProfile() {
  for (BoundStep& s : steps_) s.seconds = 0;
  runs_ = 0;
}

static constexpr int64_t kArenaAlignment = 64;
// Device constants follow the device arena, each at a 256-byte boundary (what CUDA's allocator gives).
static constexpr int64_t kDeviceAlignment = 256;

static int64_t AlignUp(int64_t n, int64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

// Opens the plan's device, allocates its arena and uploads its constants; `device_data[i]` is then
// the device address of MEM_DEVICE buffer i.
static StatusOr<std::unique_ptr<Device>> OpenPlanDevice(const proto::Plan& p, std::vector<uint8_t*>* device_data) {
  const DeviceRuntime* runtime = FindDeviceRuntime(p.device());
  if (!runtime) RETURN_IF_ERROR(DeviceAvailable(p.device()));  // the error naming the known devices
  ASSIGN_OR_RETURN(std::unique_ptr<Device> device, runtime->open(p));
  std::vector<int64_t> at(p.buffer_size(), -1);
  int64_t total = AlignUp(p.device_arena_size(), kDeviceAlignment);
  for (int i = 0; i < p.buffer_size(); ++i) {
    const proto::Buffer& b = p.buffer(i);
    if (b.space() != proto::MEM_DEVICE) continue;
    if (b.kind() != proto::BUF_CONSTANT) {
      at[i] = b.offset();
      continue;
    }
    at[i] = total;
    total += AlignUp(std::max<int64_t>(DTypeSize(b.dtype()) * ElementCount(Dims(b.dims().begin(), b.dims().end())), 1),
                     kDeviceAlignment);
  }
  RETURN_IF_ERROR(CheckLimit(Limit::kArenaBytes, total, "plan", "device arena"));
  ASSIGN_OR_RETURN(uint8_t * base, device->AllocateArena(total));
  device_data->assign(p.buffer_size(), nullptr);
  for (int i = 0; i < p.buffer_size(); ++i) {
    if (at[i] < 0) continue;
    (*device_data)[i] = base + at[i];
    const proto::Buffer& b = p.buffer(i);
    if (b.kind() != proto::BUF_CONSTANT) continue;
    const int64_t bytes = DTypeSize(b.dtype()) * ElementCount(Dims(b.dims().begin(), b.dims().end()));
    // Weights are uploaded once, here.
    if (bytes) RETURN_IF_ERROR(device->CopyToDevice(base + at[i], p.constants().data() + b.offset(), bytes));
  }
  return device;
}

StatusOr<std::unique_ptr<Session>> Session::Create(proto::Plan plan, const SessionOptions& options) {
  std::unique_ptr<Session> s(new Session());
  s->plan_ = std::move(plan);
  const proto::Plan& p = s->plan_;
  // Every rule a plan must follow, checked before anything is allocated or built.
  RETURN_IF_ERROR(ValidatePlan(p));
  if (p.arena_size() > 0) {
    void* mem =
        std::aligned_alloc(kArenaAlignment, (p.arena_size() + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment);
    if (!mem) return Internal("plan: cannot allocate an arena of ", p.arena_size(), " bytes");
    // Zeroed once: inputs start as zeros and no step can see another run's or process's bytes.
    std::memset(mem, 0, p.arena_size());
    s->arena_ = std::shared_ptr<void>(mem, std::free);
  }
  std::vector<uint8_t*> device_data;
  if (PlanUsesDevice(p)) {
    ASSIGN_OR_RETURN(s->device_, OpenPlanDevice(p, &device_data));
  }
  auto* arena = static_cast<uint8_t*>(s->arena_.get());
  const auto* constants = reinterpret_cast<const uint8_t*>(p.constants().data());
  for (int i = 0; i < p.buffer_size(); ++i) {
    const proto::Buffer& b = p.buffer(i);
    TensorRef ref;
    ref.dtype = b.dtype();
    ref.dims.assign(b.dims().begin(), b.dims().end());
    ref.layout = b.layout();
    if (b.space() == proto::MEM_DEVICE) {
      ref.data = device_data[i];
    } else {
      ref.data = b.kind() == proto::BUF_CONSTANT ? const_cast<uint8_t*>(constants + b.offset()) : arena + b.offset();
    }
    s->buffers_.push_back(std::move(ref));
  }
  s->ResetStates();

  s->env_ = std::make_unique<Env>();
  s->env_->exec.engine = &s->env_->engine;
  s->env_->exec.stream = &s->env_->stream;
  s->env_->exec.num_threads = options.num_threads;
  s->compiled_kernels_ = options.compiled_kernels;
  s->after_step_ = options.after_step;
  s->env_->exec.compiled_kernels = s->compiled_kernels_.get();
  s->env_->exec.device = s->device_.get();
  const char* profile_env = std::getenv("KILN_PROFILE");
  s->profile_on_exit_ = profile_env && *profile_env && std::strcmp(profile_env, "0") != 0;
  s->profile_ = options.profile || s->profile_on_exit_;
  s->ApplyThreadCount();

  for (const proto::Step& step : p.step()) {
    BoundStep bound;
    bound.step = &step;
    KernelSpec spec;
    spec.name = step.name();
    spec.op_type = step.op_type();
    spec.attrs = Attrs(step.attribute());
    spec.env = &s->env_->exec;
    for (int idx : step.input()) {
      if (idx == -1) {
        bound.inputs.push_back(TensorRef{});
        continue;
      }
      bound.inputs.push_back(s->buffers_[idx]);
      spec.constant_inputs.resize(bound.inputs.size());
      spec.constant_inputs.back() = p.buffer(idx).kind() == proto::BUF_CONSTANT;
    }
    for (int idx : step.output()) {
      bound.outputs.push_back(s->buffers_[idx]);
    }
    spec.inputs = bound.inputs;
    spec.outputs = bound.outputs;
    ASSIGN_OR_RETURN(bound.kernel, KernelRegistry::Global().Create(step.kernel(), spec));
    s->steps_.push_back(std::move(bound));
  }
  // Once, after every kernel stated its need: runs then never allocate.
  if (!s->env_->exec.AllocateScratch()) {
    return Internal("cannot allocate ", s->env_->exec.scratch_bytes, " bytes of kernel scratch");
  }
  return s;
}

StatusOr<proto::Plan> Session::ReadPlanFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileBounded(path));
  proto::Plan plan;
  if (!plan.ParseFromString(bytes)) return InvalidArgument(path, ": not a valid Kiln plan (corrupt or truncated)");
  return plan;
}

int Session::FindInput(const std::string& name) const {
  for (int i = 0; i < num_inputs(); ++i) {
    if (input_desc(i).name() == name) return i;
  }
  return -1;
}

int Session::FindOutput(const std::string& name) const {
  for (int i = 0; i < num_outputs(); ++i) {
    if (output_desc(i).name() == name) return i;
  }
  return -1;
}

// Copies exactly `size` bytes into buffer `index` (an input or a state, `what` says which).
Status Session::CopyIntoBuffer(const char* what, int i, int count, int index, const void* data, size_t size) {
  if (i < 0 || i >= count) return InvalidArgument(what, " index ", i, " out of range");
  const TensorRef& ref = buffers_[index];
  if (static_cast<int64_t>(size) != ref.num_bytes()) {
    return InvalidArgument(what, " '", plan_.buffer(index).name(), "' expects ", ref.num_bytes(), " bytes (",
                           DTypeName(ref.dtype), DimsToString(ref.dims), "), got ", size);
  }
  if (size) std::memcpy(ref.data, data, size);
  return Status::Ok();
}

Status Session::SetInput(int i, const void* data, size_t size) {
  return CopyIntoBuffer("input", i, num_inputs(), i >= 0 && i < num_inputs() ? plan_.input(i) : 0, data, size);
}

Status Session::Run() {
  ++runs_;
  ApplyThreadCount();
  for (auto& s : steps_) {
    const auto start = profile_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
    Status st = s.kernel->Run(s.inputs, s.outputs);
    if (!st.ok()) return st.WithContext(s.step->name() + " (" + s.step->op_type() + ")");
    if (profile_) s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (after_step_) RETURN_IF_ERROR(after_step_(*s.step, s.inputs, s.outputs));
  }
  for (const proto::StateUpdate& su : plan_.state_update()) {
    const TensorRef& state = buffers_[su.state()];
    const TensorRef& update = buffers_[su.update()];
    if (state.data != update.data) std::memmove(state.data, update.data, state.num_bytes());
  }
  // Whatever the device still runs (the outputs' copies have waited already) is done.
  if (device_) RETURN_IF_ERROR(device_->Synchronize().WithContext(plan_.device()));
  return Status::Ok();
}

void Session::ResetStates() {
  const auto* constants = reinterpret_cast<const uint8_t*>(plan_.constants().data());
  for (int idx : plan_.state()) {
    const TensorRef& ref = buffers_[idx];
    if (ref.num_bytes()) std::memcpy(ref.data, constants + plan_.buffer(idx).init_offset(), ref.num_bytes());
  }
}

int Session::FindState(const std::string& name) const {
  for (int i = 0; i < num_states(); ++i) {
    if (state_desc(i).name() == name) return i;
  }
  return -1;
}

Status Session::SetState(int i, const void* data, size_t size) {
  return CopyIntoBuffer("state", i, num_states(), i >= 0 && i < num_states() ? plan_.state(i) : 0, data, size);
}

std::vector<int> Session::LayoutConversionsPerStep() const {
  std::vector<int> counts;
  for (const BoundStep& s : steps_) counts.push_back(s.kernel->LayoutConversionsPerRun());
  return counts;
}

}  // namespace kiln::runtime
