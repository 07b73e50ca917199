// The CUDA driver API, opened with dlopen("libcuda.so.1") on first use: the
// runtime has no link-time CUDA dependency, and a machine without a GPU or a
// driver gets a one-line Status ("cuda: no CUDA driver found (...)"), never a crash.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/core/status.h"

namespace kiln::cuda {

using DevicePtr = uint64_t;

struct DeviceInfo {
  int ordinal = 0;
  std::string name;
  int major = 0, minor = 0;  // compute capability
  int multiprocessors = 0;
  size_t total_memory = 0;
  int driver_version = 0;  // e.g. 13000
};

/// One device's primary context, made current on the calling thread by every call.
class CudaDevice {
 public:
  /// Loads the driver, cuInit, and retains device `ordinal`'s primary context.
  static StatusOr<std::unique_ptr<CudaDevice>> Open(int ordinal = 0);
  ~CudaDevice();
  CudaDevice(const CudaDevice&) = delete;
  CudaDevice& operator=(const CudaDevice&) = delete;

  const DeviceInfo& info() const { return info_; }

  /// A module from PTX text or a cubin; the function handle of `kernel` in it.
  StatusOr<void*> LoadKernel(const std::string& image, const std::string& kernel);
  /// Launches with `params` as cuLaunchKernel's kernelParams (one pointer per argument).
  Status Launch(void* function, unsigned grid, unsigned block, void** params, void* stream = nullptr);

  StatusOr<DevicePtr> Alloc(size_t bytes);
  Status Free(DevicePtr ptr);
  Status CopyToDevice(DevicePtr dst, const void* src, size_t bytes);
  Status CopyToHost(void* dst, DevicePtr src, size_t bytes);
  /// Asynchronous copies on `stream`; the host side must be pinned (AllocPinned) to overlap.
  Status CopyToDeviceAsync(DevicePtr dst, const void* src, size_t bytes, void* stream);
  Status CopyToHostAsync(void* dst, DevicePtr src, size_t bytes, void* stream);
  /// Page-locked host memory (cuMemHostAlloc): the staging buffers of a plan's edge copies.
  StatusOr<void*> AllocPinned(size_t bytes);
  Status FreePinned(void* pinned);
  /// Device to device, enqueued on `stream` (asynchronous to the host).
  Status CopyOnDevice(DevicePtr dst, DevicePtr src, size_t bytes, void* stream = nullptr);

  StatusOr<void*> CreateStream();
  Status DestroyStream(void* stream);
  Status Synchronize(void* stream = nullptr);

  /// Milliseconds `run` takes on `stream`, timed with CUDA events.
  template <typename F>
  StatusOr<float> TimeMs(void* stream, F run);

  /// CUDA graphs: capture what `run` enqueues on `stream`, then replay it.
  StatusOr<void*> CaptureGraph(void* stream, const std::function<Status()>& run);
  Status LaunchGraph(void* graph_exec, void* stream);
  Status DestroyGraph(void* graph_exec);

  StatusOr<void*> CreateEvent();
  Status RecordEvent(void* event, void* stream);
  StatusOr<float> ElapsedMs(void* start, void* end);
  Status DestroyEvent(void* event);

 private:
  CudaDevice() = default;
  DeviceInfo info_;
  void* context_ = nullptr;
  std::vector<void*> modules_;
};

template <typename F>
StatusOr<float> CudaDevice::TimeMs(void* stream, F run) {
  ASSIGN_OR_RETURN(void* start, CreateEvent());
  ASSIGN_OR_RETURN(void* end, CreateEvent());
  Status st = RecordEvent(start, stream);
  if (st.ok()) st = run();
  if (st.ok()) st = RecordEvent(end, stream);
  StatusOr<float> ms = st.ok() ? ElapsedMs(start, end) : StatusOr<float>(st);
  (void)DestroyEvent(start);
  (void)DestroyEvent(end);
  return ms;
}

/// Whether a CUDA driver can be loaded and initialized (with the reason when not).
Status CudaDriverAvailable();

}  // namespace kiln::cuda
