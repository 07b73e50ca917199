// Devices: where a plan's MEM_DEVICE buffers live and its device steps run. The
// session opens the runtime of the plan's `device` (one registry line per device,
// runtime/device.cc) when a plan has device buffers or steps; host-only plans never
// touch this. A device runtime loads its dependencies (drivers) itself on Open, so the
// runtime library keeps no link-time dependency on any device.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "runtime/plan.pb.h"

namespace kiln::runtime {

/// One opened device for one session: its memory, its stream, the plan's kernel images.
class Device {
 public:
  virtual ~Device() = default;
  virtual const char* name() const = 0;
  /// The one device allocation of a session (the device arena and the device constants);
  /// zeroed. The pointer is a device address: only device kernels and the copies use it.
  virtual StatusOr<uint8_t*> AllocateArena(int64_t bytes) = 0;
  /// Synchronous copies between host memory and device addresses.
  virtual Status CopyToDevice(void* device_dst, const void* host_src, int64_t bytes) = 0;
  virtual Status CopyToHost(void* host_dst, const void* device_src, int64_t bytes) = 0;
  /// A copy between two device addresses, enqueued on the session's stream (state updates
  /// that the compiler could not place in the state's bytes).
  virtual Status CopyOnDevice(void* device_dst, const void* device_src, int64_t bytes) = 0;
  /// Waits until everything enqueued on the session's stream has run.
  virtual Status Synchronize() = 0;

  /// Graph replay of a segment of device steps (DeviceSegments): whether this device can (and
  /// is allowed to: cuda's KILN_CUDA_GRAPH=0 says no), capture `enqueue` -- the segment's
  /// kernels run once while the device records instead of running -- as graph `segment`, and
  /// replay it: the host work its copies registered (inputs into staging buffers), the graph,
  /// and once it ran the host work after it (staging buffers into outputs).
  virtual bool CanCaptureGraphs() const { return false; }
  virtual Status CaptureGraph(int segment, const std::function<Status()>& enqueue) {
    (void)segment, (void)enqueue;
    return Unimplemented(name(), ": no graph capture");
  }
  /// `defer_outputs`: return once the graph is enqueued; FinishReplay then waits for it and
  /// runs the host work after it (Session::Start / Finish).
  virtual Status ReplayGraph(int segment, bool defer_outputs) {
    (void)segment, (void)defer_outputs;
    return Unimplemented(name(), ": no graph capture");
  }
  virtual Status FinishReplay() { return Synchronize(); }
};

/// Consecutive device steps [begin, end) of a plan: what one captured graph replays. Host steps
/// (the CPU fallback) end a segment: their inputs must be on the host before they run.
struct DeviceSegment {
  int begin = 0, end = 0;
};
/// The plan's device steps (kernel == plan.device()) as maximal segments, in step order.
std::vector<DeviceSegment> DeviceSegments(const proto::Plan& plan);

/// Opens the device for `plan` (its kernel images are loaded here); an error when the
/// device's driver is missing: one line, e.g. "cuda: no CUDA driver found (...)".
using DeviceFactory = std::function<StatusOr<std::unique_ptr<Device>>(const proto::Plan& plan)>;
/// Whether the device can be opened on this machine (the reason when not), without opening it.
using DeviceProbe = std::function<Status()>;

struct DeviceRuntime {
  std::string name;
  DeviceFactory open;
  DeviceProbe available;
};

/// Every device runtime this build has (the host is not one of them).
const std::vector<DeviceRuntime>& DeviceRuntimes();
const DeviceRuntime* FindDeviceRuntime(const std::string& name);
/// Whether a plan for `device` can run here: OK for "" and "cpu", the probe's verdict
/// for a device runtime, an error naming the known ones otherwise.
Status DeviceAvailable(const std::string& device);

/// Whether a plan needs a device runtime (a device named, device buffers or steps).
inline bool PlanUsesDevice(const proto::Plan& plan) { return !plan.device().empty() && plan.device() != "cpu"; }

// Registration hooks, one per device runtime (runtime/kernels/<device>/).
DeviceRuntime CudaDeviceRuntime();

}  // namespace kiln::runtime
