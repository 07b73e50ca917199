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

}  // namespace kiln::runtime
