#include "runtime/threading.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>

namespace kiln::runtime {
namespace {
// Marks a process started by ApplyThreadingDefaults (for ThreadWaitDescription); its value is
// the spin in microseconds.
constexpr const char* kMarker = "KILN_THREADING_DEFAULTS";
}  // namespace

long SpinCountFor(int micros) {
  constexpr int kPauses = 2000;  // ~20 us on the Xeon, ~150 us where a PAUSE is slowest
  double best_ns = 1e9;
  for (int trial = 0; trial < 3; ++trial) {  // the best: a preempted trial only takes longer
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kPauses; ++i) CpuRelax();
    const double ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
    best_ns = std::min(best_ns, ns / kPauses);
  }
  const double count = micros * 1000.0 / std::max(best_ns, 0.1);
  return static_cast<long>(std::clamp(count, 1e3, 1e6));
}

void ApplyThreadingDefaults(char** argv, Workload workload) {
  if (std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT") || std::getenv("KILN_NO_REEXEC")) return;
  if (!argv || !argv[0]) return;
  const int micros = workload == Workload::kTraining ? kTrainingSpinMicroseconds : kInferenceSpinMicroseconds;
  const std::string count = std::to_string(SpinCountFor(micros));
  if (setenv("GOMP_SPINCOUNT", count.c_str(), 1) != 0 || setenv(kMarker, std::to_string(micros).c_str(), 1) != 0) {
    return;
  }
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
    const char* marker = std::getenv(kMarker);
    if (spin && marker) return "GOMP_SPINCOUNT=" + std::string(spin) + " (Kiln's default: " + marker + " us)";
    std::string d;
    if (policy) d = "OMP_WAIT_POLICY=" + std::string(policy);
    if (spin) d += (d.empty() ? "" : " ") + std::string("GOMP_SPINCOUNT=") + spin;
    return d.empty() ? std::string("libgomp's default") : d;
  }();
  return description.c_str();
}

}  // namespace kiln::runtime
