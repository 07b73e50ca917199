#include "runtime/threading.h"

#include <unistd.h>

#include <cstdlib>
#include <string>

namespace kiln::runtime {
namespace {
// Marks a process started by ApplyThreadingDefaults (for ThreadWaitDescription).
constexpr const char* kMarker = "KILN_THREADING_DEFAULTS";
}  // namespace

void ApplyThreadingDefaults(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("KILN_NO_REEXEC")) return;
  if (!argv || !argv[0]) return;
  if (setenv("GOMP_SPINCOUNT", kDefaultSpinCount, 1) != 0 || setenv(kMarker, "1", 1) != 0) return;
  execv("/proc/self/exe", argv);
  // Still here: /proc is not mounted or exec is refused. Run on with libgomp's default rather
  // than fail; the variables are taken back so that children do not inherit a half-applied set.
  unsetenv("GOMP_SPINCOUNT");
  unsetenv(kMarker);
}

const char* ThreadWaitDescription() {
  static const std::string description = [] {
    const char* policy = std::getenv("OMP_WAIT_POLICY");
    const char* spin = std::getenv("GOMP_SPINCOUNT");
    if (spin && std::getenv(kMarker)) return "GOMP_SPINCOUNT=" + std::string(spin) + " (Kiln's default)";
    std::string d;
    if (policy) d = "OMP_WAIT_POLICY=" + std::string(policy);
    if (spin) d += (d.empty() ? "" : " ") + std::string("GOMP_SPINCOUNT=") + spin;
    return d.empty() ? std::string("libgomp's default") : d;
  }();
  return description.c_str();
}

}  // namespace kiln::runtime
