#include "runtime/device.h"

namespace kiln::runtime {

const std::vector<DeviceRuntime>& DeviceRuntimes() {
  // One line per device runtime (its folder under runtime/kernels/ implements it).
  static const std::vector<DeviceRuntime> runtimes = {CudaDeviceRuntime()};
  return runtimes;
}

const DeviceRuntime* FindDeviceRuntime(const std::string& name) {
  for (const DeviceRuntime& d : DeviceRuntimes()) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

Status DeviceAvailable(const std::string& device) {
  if (device.empty() || device == "cpu") return Status::Ok();
  const DeviceRuntime* runtime = FindDeviceRuntime(device);
  if (!runtime) {
    std::string known = "cpu";
    for (const DeviceRuntime& d : DeviceRuntimes()) known += ", " + d.name;
    return InvalidArgument("unknown device '", device, "' (known: ", known, ")");
  }
  return runtime->available();
}

std::vector<DeviceSegment> DeviceSegments(const proto::Plan& plan) {
  std::vector<DeviceSegment> segments;
  if (!PlanUsesDevice(plan)) return segments;
  for (int i = 0; i < plan.step_size(); ++i) {
    if (plan.step(i).kernel() != plan.device()) continue;
    if (!segments.empty() && segments.back().end == i) {
      segments.back().end = i + 1;
    } else {
      segments.push_back({i, i + 1});
    }
  }
  return segments;
}

}  // namespace kiln::runtime
