// The "cuda" device runtime: a session's device (the CUDA driver through CudaDevice,
// one stream, the plan's kernel images loaded once) and its step kernels: generated
// FusedElementwise kernels launched on the stream, and the copies at the plan's edges
// (Identity with attribute "direction": "to_device" or "to_host").
#include "runtime/kernels/cuda/cuda_kernels.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <unordered_map>

#include "ir/core/file_io.h"
#include "runtime/device.h"
#include "runtime/kernels/cuda/cublaslt.h"
#include "runtime/kernels/cuda/cuda_driver.h"
#include "runtime/kernels/cuda/cudnn_conv.h"

namespace kiln::runtime {
namespace {

class CudaPlanDevice final : public Device {
 public:
  static StatusOr<std::unique_ptr<Device>> Open(const proto::Plan& plan) {
    std::unique_ptr<CudaPlanDevice> d(new CudaPlanDevice());
    ASSIGN_OR_RETURN(d->device_, cuda::CudaDevice::Open(0));
    ASSIGN_OR_RETURN(d->stream_, d->device_->CreateStream());
    for (const proto::KernelImage& image : plan.kernel_image()) {
      auto function = d->device_->LoadKernel(image.data(), image.name());
      if (!function.ok()) {
        return function.status().WithContext("cuda: kernel " + image.name() + " (" + image.arch() + ")");
      }
      d->functions_[image.name()] = *function;
    }
    return std::unique_ptr<Device>(std::move(d));
  }
  ~CudaPlanDevice() override {
    for (const Graph& g : graphs_) {
      if (g.exec) (void)device_->DestroyGraph(g.exec);
    }
    for (void* p : pinned_) (void)device_->FreePinned(p);
    if (arena_) (void)device_->Free(arena_);
    if (stream_) (void)device_->DestroyStream(stream_);
  }
  const char* name() const override { return "cuda"; }

  StatusOr<uint8_t*> AllocateArena(int64_t bytes) override {
    if (arena_) return Internal("cuda: the session's device arena is allocated twice");
    ASSIGN_OR_RETURN(arena_, device_->Alloc(static_cast<size_t>(std::max<int64_t>(bytes, 1))));
    // Zeroed as the host arena is: no step can see another process's bytes.
    const std::vector<char> zeros(static_cast<size_t>(std::min<int64_t>(bytes, int64_t{1} << 24)), 0);
    for (int64_t at = 0; at < bytes; at += static_cast<int64_t>(zeros.size())) {
      RETURN_IF_ERROR(device_->CopyToDevice(arena_ + at, zeros.data(),
                                            static_cast<size_t>(std::min<int64_t>(bytes - at, zeros.size()))));
    }
    return reinterpret_cast<uint8_t*>(arena_);
  }
  Status CopyToDevice(void* dst, const void* src, int64_t bytes) override {
    return device_->CopyToDevice(reinterpret_cast<cuda::DevicePtr>(dst), src, static_cast<size_t>(bytes));
  }
  Status CopyToHost(void* dst, const void* src, int64_t bytes) override {
    return device_->CopyToHost(dst, reinterpret_cast<cuda::DevicePtr>(src), static_cast<size_t>(bytes));
  }
  Status CopyOnDevice(void* dst, const void* src, int64_t bytes) override {
    return device_->CopyOnDevice(reinterpret_cast<cuda::DevicePtr>(dst), reinterpret_cast<cuda::DevicePtr>(src),
                                 static_cast<size_t>(bytes), stream_);
  }
  Status Synchronize() override { return device_->Synchronize(stream_); }

  bool CanCaptureGraphs() const override { return CudaGraphsEnabled(std::getenv("KILN_CUDA_GRAPH")); }
  Status CaptureGraph(int segment, const std::function<Status()>& enqueue) override {
    if (segment < 0) return Internal("cuda: graph segment ", segment);
    if (static_cast<size_t>(segment) >= graphs_.size()) graphs_.resize(static_cast<size_t>(segment) + 1);
    Graph& g = graphs_[segment];
    g = Graph{};
    capturing_ = &g;
    auto exec = device_->CaptureGraph(stream_, enqueue);
    capturing_ = nullptr;
    if (!exec.ok()) {
      g = Graph{};
      return exec.status().WithContext("cuda: capturing a CUDA graph (KILN_CUDA_GRAPH=0 runs without)");
    }
    g.exec = *exec;
    return Status::Ok();
  }
  Status ReplayGraph(int segment, bool defer_outputs) override {
    if (segment < 0 || static_cast<size_t>(segment) >= graphs_.size() || !graphs_[segment].exec) {
      return Internal("cuda: graph segment ", segment, " was not captured");
    }
    if (deferred_) return Internal("cuda: a graph replay was not finished");
    const Graph& g = graphs_[segment];
    for (const auto& f : g.before) f();
    RETURN_IF_ERROR(device_->LaunchGraph(g.exec, stream_));
    if (defer_outputs) {
      deferred_ = &g;
      return Status::Ok();
    }
    if (g.after.empty()) return Status::Ok();
    RETURN_IF_ERROR(Synchronize());
    for (const auto& f : g.after) f();
    return Status::Ok();
  }
  Status FinishReplay() override {
    const Graph* g = deferred_;
    deferred_ = nullptr;
    RETURN_IF_ERROR(Synchronize());
    if (g) {
      for (const auto& f : g->after) f();
    }
    return Status::Ok();
  }
  // For the edge copies: whether a graph is being captured, and the host work to repeat
  // before / after each of its replays (the captured graph holds only the device's work).
  bool capturing() const { return capturing_ != nullptr; }
  void BeforeReplay(std::function<void()> f) { capturing_->before.push_back(std::move(f)); }
  void AfterReplay(std::function<void()> f) { capturing_->after.push_back(std::move(f)); }
  /// A page-locked host buffer for the session's life (the edge copies' staging).
  StatusOr<void*> Pinned(int64_t bytes) {
    ASSIGN_OR_RETURN(void* p, device_->AllocPinned(static_cast<size_t>(std::max<int64_t>(bytes, 1))));
    pinned_.push_back(p);
    return p;
  }

  cuda::CudaDevice& device() { return *device_; }
  void* stream() const { return stream_; }
  void* Function(const std::string& symbol) const {
    auto it = functions_.find(symbol);
    return it == functions_.end() ? nullptr : it->second;
  }

 private:
  CudaPlanDevice() = default;
  std::unique_ptr<cuda::CudaDevice> device_;
  void* stream_ = nullptr;
  cuda::DevicePtr arena_ = 0;
  std::unordered_map<std::string, void*> functions_;
  struct Graph {
    void* exec = nullptr;
    std::vector<std::function<void()>> before, after;
  };
  std::vector<Graph> graphs_;  // per segment (runtime/device.h)
  Graph* capturing_ = nullptr;
  const Graph* deferred_ = nullptr;  // replayed with defer_outputs, its after-work still due
  std::vector<void*> pinned_;
};

StatusOr<CudaPlanDevice*> SessionDevice(const KernelSpec& spec) {
  auto* device = spec.env && spec.env->device ? dynamic_cast<CudaPlanDevice*>(spec.env->device) : nullptr;
  if (!device) return InvalidArgument(spec.Label(), ": a 'cuda' step needs a session on a CUDA device");
  return device;
}

// The geometry words of a launch (after the pointers: total, inner, rank, outer[6],
// outer_stride[input][6], inner_stride[input]; PackCudaKernelArgs) must keep every read
// inside its input and every write inside its output: a plan is checked, never trusted.
constexpr int kMaxFusedRank = 6;  // cuda_codegen.h's; the compiler and this check agree on it

}  // namespace

Status CheckCudaLaunch(const KernelSpec& spec, const std::vector<int64_t>& args, int64_t elements) {
  const size_t nout = spec.outputs.size(), nin = std::max<size_t>(1, spec.inputs.size());
  const size_t base = nout + nin;
  auto bad = [&](const std::string& why) {
    return InvalidArgument(spec.Label(), ": attribute 'args' does not describe this step's buffers (", why, ")");
  };
  if (args.size() != base + 3 + kMaxFusedRank + nin * kMaxFusedRank + nin) {
    return bad(std::to_string(args.size()) + " words");
  }
  const int64_t total = args[base], inner = args[base + 1], rank = args[base + 2];
  if (total != elements || rank < 0 || rank > kMaxFusedRank || inner < 0) return bad("total, inner or rank");
  for (const TensorRef& out : spec.outputs) {
    if (out.num_elements() != total || out.dtype != proto::DT_FLOAT) return bad("an output's size or type");
  }
  for (const TensorRef& in : spec.inputs) {
    if (in.dtype != proto::DT_FLOAT) return bad("an input's type");
  }
  if (total == 0) return Status::Ok();
  int64_t count = inner;
  for (int d = 0; d < rank; ++d) {
    const int64_t outer = args[base + 3 + d];
    if (outer < 1 || __builtin_mul_overflow(count, outer, &count)) return bad("outer dims");
  }
  if (count != total) return bad("outer dims times inner");
  for (size_t k = 0; k < spec.inputs.size(); ++k) {
    // The farthest element input k is read at: every index at its last value.
    int64_t last = 0, term = 0;
    const int64_t inner_stride = args[base + 3 + kMaxFusedRank + nin * kMaxFusedRank + k];
    for (int d = 0; d <= rank; ++d) {
      const int64_t stride = d < rank ? args[base + 3 + kMaxFusedRank + k * kMaxFusedRank + d] : inner_stride;
      const int64_t extent = d < rank ? args[base + 3 + d] : inner;
      if (stride < 0 || __builtin_mul_overflow(extent - 1, stride, &term) ||
          __builtin_add_overflow(last, term, &last)) {
        return bad("input strides");
      }
    }
    if (last >= spec.inputs[k].num_elements()) return bad("input " + std::to_string(k) + " read past its end");
  }
  return Status::Ok();
}

namespace {

// One generated kernel (compiler/backends/cuda/cuda_codegen.h): its by-value argument
// struct is packed by the compiler (attribute "args", 8-byte words) with the pointer
// words (outputs, then inputs) left zero; they are filled from the bound buffers.
class CudaFusedKernel final : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const KernelSpec& spec) {
    ASSIGN_OR_RETURN(CudaPlanDevice * device, SessionDevice(spec));
    const std::string symbol = spec.attrs.GetString("symbol", "");
    void* function = device->Function(symbol);
    if (!function) return InvalidArgument(spec.Label(), ": the plan has no CUDA kernel image '", symbol, "'");
    const std::vector<int64_t> args = spec.attrs.GetInts("args", {});
    const int64_t elements = spec.attrs.GetInt("elements", -1);
    RETURN_IF_ERROR(CheckCudaLaunch(spec, args, elements));
    auto k = std::make_unique<CudaFusedKernel>();
    k->device_ = device;
    k->function_ = function;
    k->args_.assign(args.begin(), args.end());
    k->elements_ = elements;
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) override {
    if (elements_ == 0) return Status::Ok();
    size_t w = 0;
    for (const TensorRef& t : outputs) args_[w++] = reinterpret_cast<uint64_t>(t.data);
    for (const TensorRef& t : inputs) args_[w++] = reinterpret_cast<uint64_t>(t.data);
    constexpr unsigned kBlock = 256;
    const int64_t blocks = (elements_ + kBlock - 1) / kBlock;
    // The kernels loop grid-stride: a few waves of blocks per multiprocessor cover any size.
    const int64_t cap = std::max(1, device_->device().info().multiprocessors) * int64_t{32};
    const auto grid = static_cast<unsigned>(std::clamp<int64_t>(blocks, 1, cap));
    void* params[] = {args_.data()};
    return device_->device().Launch(function_, grid, kBlock, params, device_->stream());
  }

 private:
  CudaPlanDevice* device_ = nullptr;
  void* function_ = nullptr;
  std::vector<uint64_t> args_;
  int64_t elements_ = 0;
};

// A generated kernel kind (compiler/backends/cuda/cuda_kinds.h: softmax, reductions,
// pooling, data movement): the shapes are constants in its source, so the step records
// the shapes and types the kernel was generated for ("kernel_shapes": rank then dims, per
// kernel input then output; "kernel_dtypes") and they must be its buffers' exactly. Its
// one argument is a struct of pointers: its first `kernel_inputs` inputs, then its outputs.
class CudaKindKernel final : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const KernelSpec& spec) {
    // The attributes are checked first (a plan is checked, never trusted), then the device.
    auto k = std::make_unique<CudaKindKernel>();
    const int64_t grid = spec.attrs.GetInt("launch_grid", 0), block = spec.attrs.GetInt("launch_block", 0);
    const int64_t num_inputs = spec.attrs.GetInt("kernel_inputs", -1);
    if (grid < 1 || grid > (int64_t{1} << 31) - 1 || block < 1 || block > 1024) {
      return InvalidArgument(spec.Label(), ": launch_grid ", grid, " / launch_block ", block, " out of range");
    }
    if (num_inputs < 0 || num_inputs > static_cast<int64_t>(spec.inputs.size())) {
      return InvalidArgument(spec.Label(), ": kernel_inputs ", num_inputs, " for ", spec.inputs.size(), " inputs");
    }
    k->grid_ = static_cast<unsigned>(grid);
    k->block_ = static_cast<unsigned>(block);
    k->num_inputs_ = static_cast<size_t>(num_inputs);
    std::vector<const TensorRef*> bound;
    for (size_t i = 0; i < k->num_inputs_; ++i) bound.push_back(&spec.inputs[i]);
    for (const TensorRef& t : spec.outputs) bound.push_back(&t);
    const std::vector<int64_t> shapes = spec.attrs.GetInts("kernel_shapes", {});
    const std::vector<int64_t> dtypes = spec.attrs.GetInts("kernel_dtypes", {});
    size_t at = 0;
    for (size_t i = 0; i < bound.size(); ++i) {
      const TensorRef& t = *bound[i];
      const bool same = at < shapes.size() && shapes[at] == static_cast<int64_t>(t.dims.size()) &&
                        at + 1 + t.dims.size() <= shapes.size() &&
                        std::equal(t.dims.begin(), t.dims.end(), shapes.begin() + static_cast<int64_t>(at) + 1) &&
                        i < dtypes.size() && dtypes[i] == t.dtype;
      if (!same) {
        return InvalidArgument(spec.Label(), ": attributes kernel_shapes / kernel_dtypes do not describe its ",
                               i < k->num_inputs_ ? "input " : "output ", i < k->num_inputs_ ? i : i - k->num_inputs_);
      }
      at += 1 + t.dims.size();
    }
    if (at != shapes.size() || dtypes.size() != bound.size()) {
      return InvalidArgument(spec.Label(),
                             ": attributes kernel_shapes / kernel_dtypes describe more buffers than it has");
    }
    k->args_.resize(bound.size());
    ASSIGN_OR_RETURN(k->device_, SessionDevice(spec));
    const std::string symbol = spec.attrs.GetString("symbol", "");
    k->function_ = k->device_->Function(symbol);
    if (!k->function_) return InvalidArgument(spec.Label(), ": the plan has no CUDA kernel image '", symbol, "'");
    const cuda::DeviceInfo& info = k->device_->device().info();
    k->choice_key_ = symbol + "|" + info.name + "|" + std::to_string(info.driver_version);
    k->PrepareLibraryCall(spec);
    return std::unique_ptr<Kernel>(std::move(k));
  }

  Status Run(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) override {
    size_t w = 0;
    for (size_t i = 0; i < num_inputs_; ++i) args_[w++] = reinterpret_cast<uint64_t>(inputs[i].data);
    for (const TensorRef& t : outputs) args_[w++] = reinterpret_cast<uint64_t>(t.data);
    if (library_ && !chosen_) RETURN_IF_ERROR(Choose(inputs, outputs));
    return use_library_ ? library_->Run(inputs, outputs, device_->stream()) : Launch();
  }

 private:
  Status Launch() {
    void* params[] = {args_.data()};
    return device_->device().Launch(function_, grid_, block_, params, device_->stream());
  }

  // A library call that computes the step as the generated kernel does: cuBLASLt for the
  // products (cublaslt.h), cuDNN for the convolutions (cudnn_conv.h).
  class LibraryCall {
   public:
    virtual ~LibraryCall() = default;
    virtual Status Run(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs, void* stream) = 0;
  };
  static cuda::DevicePtr At(const std::vector<TensorRef>& inputs, int i) {
    return i < 0 ? cuda::DevicePtr{0} : reinterpret_cast<cuda::DevicePtr>(inputs[i].data);
  }
  class CublasLtCall final : public LibraryCall {
   public:
    CublasLtCall(cuda::LtStep step, std::unique_ptr<cuda::CublasLtMatmul> lt) : step_(step), lt_(std::move(lt)) {}
    Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out, void* stream) override {
      return lt_->Run(At(in, step_.a), At(in, step_.b), At(in, step_.c), At(out, 0), At(in, step_.bias), stream);
    }

   private:
    cuda::LtStep step_;
    std::unique_ptr<cuda::CublasLtMatmul> lt_;
  };
  class CudnnCall final : public LibraryCall {
   public:
    CudnnCall(cuda::DnnConvStep step, std::unique_ptr<cuda::CudnnConv> conv) : step_(step), conv_(std::move(conv)) {}
    Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out, void* stream) override {
      return conv_->Run(At(in, step_.x), At(in, step_.w), At(in, step_.bias), At(in, step_.residual), At(out, 0),
                        stream);
    }

   private:
    cuda::DnnConvStep step_;
    std::unique_ptr<cuda::CudnnConv> conv_;
  };

  // A product cuBLASLt can compute (KILN_CUDA_GEMM) or a convolution cuDNN can (KILN_CUDA_CONV)
  // gets the library's call too, unless the variable says "generated" or the library is
  // missing: then the generated kernel runs, which is always correct. "cublaslt" / "cudnn"
  // force the library; the default, "measure", times both on the step's first run.
  void PrepareLibraryCall(const KernelSpec& spec) {
    const bool product = spec.op_type == "MatMul" || spec.op_type == "Gemm" || spec.op_type == "FusedMatMul";
    const bool conv = spec.op_type == "Conv" || spec.op_type == "FusedConv";
    if (!product && !conv) return;
    const char* mode = std::getenv(product ? "KILN_CUDA_GEMM" : "KILN_CUDA_CONV");
    const std::string m = mode ? mode : "measure";
    if (m == "generated") return;
    std::vector<Dims> dims;
    for (const TensorRef& t : spec.inputs) {
      if (t.dtype == proto::DT_UNDEFINED) break;
      dims.push_back(t.dims);
    }
    if (product) {
      auto step = cuda::CublasLtStepFor(spec.op_type, spec.attrs, dims, spec.outputs[0].dims);
      if (!step.ok()) return;
      auto lt = cuda::CublasLtMatmul::Create(step->gemm, device_->device());
      if (!lt.ok()) return;
      library_ = std::make_unique<CublasLtCall>(*step, std::move(*lt));
      library_name_ = "cublaslt";
    } else {
      auto step = cuda::CudnnConvStepFor(spec.op_type, spec.attrs, dims, spec.outputs[0].dims);
      if (!step.ok()) return;
      auto dnn = cuda::CudnnConv::Create(step->conv, device_->device());
      if (!dnn.ok()) return;
      library_ = std::make_unique<CudnnCall>(*step, std::move(*dnn));
      library_name_ = "cudnn";
    }
    if (m == library_name_) chosen_ = use_library_ = true;
  }

  // The rule (docs/cuda.md): on a step's first run, time the generated kernel and the library
  // on the step's own buffers (one warm-up, then the best of 3 CUDA-event timings each) and
  // keep the faster for this kernel on this GPU and driver: for the process, and in the kernel
  // cache folder (<cache>/gemm_choice/<hash>: the library's name or "generated") for the next ones.
  Status Choose(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) {
    static std::mutex mu;
    static std::map<std::string, bool> choices;
    const std::string dir = KilnCacheDir("cuda", "KILN_CUDA_CACHE_DIR", "KILN_CUDA_CACHE");
    const std::string key = choice_key_ + "|" + library_name_;
    char hash[24];
    std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(StableHash(key)));
    const std::string file = dir.empty() ? "" : dir + "/gemm_choice/" + hash;
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = choices.find(key);
      if (it == choices.end() && !file.empty()) {
        std::ifstream f(file);
        std::string word;
        if (f >> word && (word == library_name_ || word == "generated"))
          it = choices.emplace(key, word == library_name_).first;
      }
      if (it != choices.end()) {
        chosen_ = true;
        use_library_ = it->second;
        return Status::Ok();
      }
    }
    auto best_of = [&](const std::function<Status()>& run) -> StatusOr<float> {
      RETURN_IF_ERROR(run());
      float best = std::numeric_limits<float>::infinity();
      for (int r = 0; r < 3; ++r) {
        ASSIGN_OR_RETURN(float ms, device_->device().TimeMs(device_->stream(), run));
        best = std::min(best, ms);
      }
      return best;
    };
    ASSIGN_OR_RETURN(float generated, best_of([&] { return Launch(); }));
    ASSIGN_OR_RETURN(float library, best_of([&] { return library_->Run(inputs, outputs, device_->stream()); }));
    chosen_ = true;
    use_library_ = library < generated;
    std::lock_guard<std::mutex> lock(mu);
    choices[key] = use_library_;
    if (!file.empty()) {  // a cache that cannot be written only costs a measurement next time
      MakeDirectories(dir + "/gemm_choice");
      (void)WriteFileAtomically(file, (use_library_ ? library_name_ : std::string("generated")) + "\n");
    }
    return Status::Ok();
  }

  CudaPlanDevice* device_ = nullptr;
  void* function_ = nullptr;
  unsigned grid_ = 1, block_ = 1;
  size_t num_inputs_ = 0;
  std::vector<uint64_t> args_;
  std::string choice_key_;
  std::unique_ptr<LibraryCall> library_;  // cuBLASLt / cuDNN, when it computes the step
  std::string library_name_;
  bool chosen_ = false, use_library_ = false;
};

// The copies at a plan's edges: host input -> its device buffer, device output -> host.
// Each goes through its own pinned staging buffer with an asynchronous copy on the stream:
// to the device, the host copies into the staging buffer first; to the host, the host
// copies out of it once the stream got there. While a graph is captured, only the
// asynchronous copy is recorded and the host's part is registered to run around each replay.
class CudaCopyKernel final : public Kernel {
 public:
  static StatusOr<std::unique_ptr<Kernel>> Create(const KernelSpec& spec) {
    ASSIGN_OR_RETURN(CudaPlanDevice * device, SessionDevice(spec));
    const std::string direction = spec.attrs.GetString("direction", "");
    if (direction != "to_device" && direction != "to_host") {
      return InvalidArgument(spec.Label(), ": attribute 'direction' must be to_device or to_host, not '", direction,
                             "'");
    }
    auto k = std::make_unique<CudaCopyKernel>();
    k->device_ = device;
    k->to_device_ = direction == "to_device";
    if (spec.outputs.size() == 1 && spec.outputs[0].num_bytes() > 0) {
      ASSIGN_OR_RETURN(k->staging_, device->Pinned(spec.outputs[0].num_bytes()));
    }
    return std::unique_ptr<Kernel>(std::move(k));
  }
  Status Run(const std::vector<TensorRef>& inputs, const std::vector<TensorRef>& outputs) override {
    const int64_t bytes = outputs[0].num_bytes();
    if (bytes == 0) return Status::Ok();
    cuda::CudaDevice& dev = device_->device();
    void* staging = staging_;
    if (to_device_) {
      const void* host = inputs[0].data;
      if (device_->capturing()) {
        device_->BeforeReplay([staging, host, bytes] { std::memcpy(staging, host, static_cast<size_t>(bytes)); });
      } else {
        std::memcpy(staging, host, static_cast<size_t>(bytes));
      }
      return dev.CopyToDeviceAsync(reinterpret_cast<cuda::DevicePtr>(outputs[0].data), staging,
                                   static_cast<size_t>(bytes), device_->stream());
    }
    RETURN_IF_ERROR(dev.CopyToHostAsync(staging, reinterpret_cast<cuda::DevicePtr>(inputs[0].data),
                                        static_cast<size_t>(bytes), device_->stream()));
    void* host = outputs[0].data;
    if (device_->capturing()) {
      device_->AfterReplay([staging, host, bytes] { std::memcpy(host, staging, static_cast<size_t>(bytes)); });
      return Status::Ok();
    }
    RETURN_IF_ERROR(device_->Synchronize());  // the copy (and the kernels before it) ran
    std::memcpy(host, staging, static_cast<size_t>(bytes));
    return Status::Ok();
  }

 private:
  CudaPlanDevice* device_ = nullptr;
  bool to_device_ = true;
  void* staging_ = nullptr;  // pinned, owned by the device
};

}  // namespace

bool CudaGraphsEnabled(const char* env) { return env == nullptr || std::strcmp(env, "0") != 0; }

DeviceRuntime CudaDeviceRuntime() {
  return DeviceRuntime{"cuda", CudaPlanDevice::Open, [] { return cuda::CudaDriverAvailable(); }};
}

void RegisterCudaKernels(KernelRegistry& r) {
  r.Register("cuda", "FusedElementwise", CudaFusedKernel::Create);
  r.Register("cuda", "Identity", CudaCopyKernel::Create);
  // Every other op on the device is a generated kernel kind (the compiler decides which ops
  // have one: compiler/backends/cuda/cuda_kinds_lowering.cc).
  r.Register("cuda", KernelRegistry::kAnyOp, CudaKindKernel::Create);
}

}  // namespace kiln::runtime
