// How a Kiln program's threads wait between parallel regions.
//
// oneDNN (Debian's build) runs on GNU OpenMP, whose idle threads spin for about 300,000
// iterations (milliseconds) before they sleep when OMP_WAIT_POLICY is unset. On a quiet
// machine that hides the wake-up cost; on a busy one it is a disaster: a thread spinning at a
// barrier holds a core while its partner waits for a time slice (LeNet-5 at batch 64 on 2 busy
// cores at load 5-9: 212 ms spinning, 1.7 ms sleeping). Sleeping is no answer either: in this
// VM waking a thread costs ~30 us (MLP 784-512 at batch 1: 0.039 ms spinning, 0.088 ms
// sleeping). Kiln's programs default to a tenth of libgomp's spin (kDefaultSpinCount), then
// sleep, as ONNX Runtime's pool does. Measured on 2 AMD EPYC cores (quiet / one process
// spinning on a core / load 5-9), spin counts 300 and 3,000 lost up to 10x on a quiet machine
// or beside a busy neighbour, 30,000 matched the default there and bounds the waste under heavy
// load. Small kernels run on one thread anyway (runtime/kernels/onednn/onednn_common.cc).
//
// libgomp reads its environment once, when it is loaded, before main(); a program can only
// change it for itself by re-executing with the variable set.
#pragma once

namespace kiln::runtime {

/// GOMP_SPINCOUNT for Kiln's programs when the user sets neither OMP_WAIT_POLICY nor
/// GOMP_SPINCOUNT: iterations a thread spins (tens of microseconds) before it sleeps.
inline constexpr const char* kDefaultSpinCount = "30000";

/// Called first thing in main() of Kiln's executables (the kiln tool, compiled models): when
/// neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, sets GOMP_SPINCOUNT=kDefaultSpinCount and
/// re-executes the program (same pid, arguments and the rest of the environment), so that the
/// OpenMP runtime starts with it. Returns (and changes nothing) when either is set, when
/// KILN_NO_REEXEC is set, or when the re-execution fails. Libraries that embed Kiln cannot do
/// this; their programs set the variables themselves (docs/design-notes.md, "Threading").
void ApplyThreadingDefaults(char** argv);

/// The OpenMP wait in effect, for reports: "GOMP_SPINCOUNT=10000 (Kiln's default)",
/// "OMP_WAIT_POLICY=PASSIVE", or "libgomp's default" when this process set nothing.
const char* ThreadWaitDescription();

}  // namespace kiln::runtime
