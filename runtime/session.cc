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
#include "runtime/finite_values.h"
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
  if (pending_) (void)Finish();  // the device's work on the arena ends before the arena does
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
  s->state_host_.resize(p.state_size());
  for (int i = 0; i < p.state_size(); ++i) {
    if (p.buffer(p.state(i)).space() == proto::MEM_DEVICE) {
      s->state_host_[i].resize(static_cast<size_t>(s->buffers_[p.state(i)].num_bytes()));
    }
  }
  s->ResetStates();

  s->env_ = std::make_unique<Env>();
  s->env_->exec.engine = &s->env_->engine;
  s->env_->exec.stream = &s->env_->stream;
  s->env_->exec.num_threads = options.num_threads;
  s->env_->exec.use_share_team = p.state_size() == 0;  // ExecEnv::use_share_team
  s->compiled_kernels_ = options.compiled_kernels;
  s->after_step_ = options.after_step;
  s->env_->exec.compiled_kernels = s->compiled_kernels_.get();
  s->env_->exec.device = s->device_.get();
  const char* profile_env = std::getenv("KILN_PROFILE");
  s->profile_on_exit_ = profile_env && *profile_env && std::strcmp(profile_env, "0") != 0;
  s->profile_ = options.profile || s->profile_on_exit_;
  s->ApplyThreadCount();

  std::vector<bool> host_constant(p.buffer_size());
  for (int i = 0; i < p.buffer_size(); ++i) {
    host_constant[i] = p.buffer(i).kind() == proto::BUF_CONSTANT && p.buffer(i).space() == proto::MEM_HOST;
  }
  FiniteValues finite(&s->buffers_, host_constant);
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
    const std::vector<int> inputs(step.input().begin(), step.input().end());
    const std::vector<int> outputs(step.output().begin(), step.output().end());
    finite.Before(inputs, spec);
    ASSIGN_OR_RETURN(bound.kernel, KernelRegistry::Global().Create(step.kernel(), spec));
    finite.After(inputs, outputs, spec, *bound.kernel);
    s->steps_.push_back(std::move(bound));
  }
  // Per-step timing and hooks need every step run on its own: no graphs then.
  if (s->device_ && s->device_->CanCaptureGraphs() && !s->profile_ && !s->after_step_) {
    s->graphs_ = true;
    s->segments_ = DeviceSegments(p);
    s->captured_.assign(s->segments_.size(), false);
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

TensorRef Session::state(int i) const {
  TensorRef ref = buffers_[plan_.state(i)];
  if (state_host_[i].empty()) return ref;
  DownloadStates();
  states_on_device_ = false;  // the caller may write through the view: the next Run uploads
  ref.data = const_cast<uint8_t*>(state_host_[i].data());
  return ref;
}

void Session::DownloadStates() const {
  if (states_on_host_) return;
  for (int i = 0; i < num_states(); ++i) {
    if (state_host_[i].empty()) continue;
    Status st = device_->CopyToHost(const_cast<uint8_t*>(state_host_[i].data()), buffers_[plan_.state(i)].data,
                                    static_cast<int64_t>(state_host_[i].size()));
    if (!st.ok() && state_error_.ok()) state_error_ = st.WithContext(plan_.device() + ": reading the states");
  }
  states_on_host_ = true;
}

Status Session::UploadStates() {
  if (states_on_device_) return Status::Ok();
  for (int i = 0; i < num_states(); ++i) {
    if (state_host_[i].empty()) continue;
    RETURN_IF_ERROR(device_->CopyToDevice(buffers_[plan_.state(i)].data, state_host_[i].data(),
                                          static_cast<int64_t>(state_host_[i].size())));
  }
  states_on_device_ = true;
  return Status::Ok();
}

Status Session::Run() {
  RETURN_IF_ERROR(Start());
  return Finish();
}

Status Session::Finish() {
  started_ = false;
  if (!pending_) return Status::Ok();
  pending_ = false;
  return device_->FinishReplay().WithContext(plan_.device());
}

Status Session::Start() {
  if (started_) return Internal("Session::Start: the previous run was started and not finished");
  started_ = true;
  Status st = Enqueue();
  if (!st.ok()) (void)Finish();  // a failed run is over: the next may start (after the device is done)
  return st;
}

Status Session::Enqueue() {
  ++runs_;
  env_->exec.nonfinite_seen = false;  // KernelSpec::finite_inputs hold again
  ApplyThreadCount();
  if (!state_error_.ok()) return state_error_;
  if (device_) RETURN_IF_ERROR(UploadStates().WithContext(plan_.device() + ": writing the states"));
  size_t segment = 0;
  for (size_t i = 0; i < steps_.size();) {
    if (graphs_ && runs_ > 1 && segment < segments_.size() && segments_[segment].begin == static_cast<int>(i)) {
      const DeviceSegment& seg = segments_[segment];
      if (!captured_[segment]) {
        RETURN_IF_ERROR(device_->CaptureGraph(static_cast<int>(segment), [&]() -> Status {
          for (int j = seg.begin; j < seg.end; ++j) RETURN_IF_ERROR(RunStep(j));
          return Status::Ok();
        }));
        captured_[segment] = true;
      }
      // The last segment, with no host step after it: its outputs are collected by Finish.
      const bool last = static_cast<size_t>(seg.end) == steps_.size();
      RETURN_IF_ERROR(device_->ReplayGraph(static_cast<int>(segment), last).WithContext(plan_.device()));
      pending_ = last;
      i = static_cast<size_t>(seg.end);
      ++segment;
      continue;
    }
    RETURN_IF_ERROR(RunStep(i));
    ++i;
  }
  for (const proto::StateUpdate& su : plan_.state_update()) {
    const TensorRef& state = buffers_[su.state()];
    const TensorRef& update = buffers_[su.update()];
    if (state.data == update.data) continue;
    if (plan_.buffer(su.state()).space() == proto::MEM_DEVICE) {
      RETURN_IF_ERROR(device_->CopyOnDevice(state.data, update.data, state.num_bytes()).WithContext(plan_.device()));
    } else {
      std::memmove(state.data, update.data, state.num_bytes());
    }
  }
  if (device_) states_on_host_ = false;  // the device states moved on
  // Whatever the device still runs (the outputs' copies have waited already) is done, unless
  // Finish waits for it.
  if (device_ && !pending_) RETURN_IF_ERROR(device_->Synchronize().WithContext(plan_.device()));
  return Status::Ok();
}

Status Session::RunStep(size_t i) {
  BoundStep& s = steps_[i];
  const auto start = profile_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point{};
  Status st = s.kernel->Run(s.inputs, s.outputs);
  if (!st.ok()) return st.WithContext(s.step->name() + " (" + s.step->op_type() + ")");
  if (profile_) s.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (after_step_) RETURN_IF_ERROR(after_step_(*s.step, s.inputs, s.outputs));
  return Status::Ok();
}

void Session::ResetStates() {
  const auto* constants = reinterpret_cast<const uint8_t*>(plan_.constants().data());
  for (int i = 0; i < num_states(); ++i) {
    const int idx = plan_.state(i);
    const TensorRef& ref = buffers_[idx];
    void* host = state_host_[i].empty() ? ref.data : state_host_[i].data();
    if (ref.num_bytes()) std::memcpy(host, constants + plan_.buffer(idx).init_offset(), ref.num_bytes());
  }
  states_on_host_ = true;
  states_on_device_ = false;
}

int Session::FindState(const std::string& name) const {
  for (int i = 0; i < num_states(); ++i) {
    if (state_desc(i).name() == name) return i;
  }
  return -1;
}

Status Session::SetState(int i, const void* data, size_t size) {
  if (i >= 0 && i < num_states() && !state_host_[i].empty()) {
    const TensorRef ref = state(i);  // the host copy, current
    if (static_cast<int64_t>(size) != ref.num_bytes()) {
      return CopyIntoBuffer("state", i, num_states(), plan_.state(i), data, size);  // its size error
    }
    if (size) std::memcpy(ref.data, data, size);
    return Status::Ok();
  }
  return CopyIntoBuffer("state", i, num_states(), i >= 0 && i < num_states() ? plan_.state(i) : 0, data, size);
}

std::vector<int> Session::LayoutConversionsPerStep() const {
  std::vector<int> counts;
  for (const BoundStep& s : steps_) counts.push_back(s.kernel->LayoutConversionsPerRun());
  return counts;
}

}  // namespace kiln::runtime
