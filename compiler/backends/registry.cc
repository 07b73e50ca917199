#include "compiler/backend.h"

namespace kiln {

const std::vector<const Backend*>& Backends() {
  // One line per backend (compiler/backend.h).
  static const std::vector<const Backend*> backends = {&CpuBackend(), &CudaBackend()};
  return backends;
}

std::string BackendNames() {
  std::string names;
  for (const Backend* b : Backends()) names += (names.empty() ? "" : "|") + std::string(b->name());
  return names;
}

StatusOr<const Backend*> FindBackend(const std::string& name) {
  for (const Backend* b : Backends()) {
    if (name == b->name()) return b;
  }
  return InvalidArgument("unknown device '", name, "' (valid: ", BackendNames(), ")");
}

}  // namespace kiln
