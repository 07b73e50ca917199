// How a Kiln program's threads wait between parallel regions.
//
// oneDNN (Debian's build) runs on GNU OpenMP, whose idle threads spin for about 300,000
// iterations (milliseconds) before they sleep when OMP_WAIT_POLICY is unset. On a quiet
// machine that hides the wake-up cost; on a busy one it is a disaster: a thread spinning at a
// barrier holds a core while its partner waits for a time slice (LeNet-5 at batch 64 on 2 busy
// cores at load 5-9: 212 ms spinning, 1.7 ms sleeping). Sleeping is no answer either: in this
// VM waking a thread costs ~30 us (MLP 784-512 at batch 1: 0.039 ms spinning, 0.088 ms
// sleeping). Kiln's programs spin for a bounded time, then sleep, as ONNX Runtime's pool does.
//
// The spin is a time, not an iteration count: one iteration is one PAUSE instruction, whose
// cost differs tenfold between CPUs (11 ns on the Xeon of docs/benchmarks.md, ~140 cycles on
// Skylake servers, a few cycles on older cores), so GOMP_SPINCOUNT is the time over the
// measured cost of a PAUSE. And the time depends on the work:
// - Training steps are back-to-back OpenMP regions: a spin of ~330 us (30,000 iterations on
//   that Xeon, the count tuned on 2 AMD EPYC cores before) keeps the workers awake between
//   them; 34 us made the MLP epoch 9% slower.
// - Inference plans run most steps on the share team (runtime/share_team.h), whose helper
//   needs the core that an OpenMP worker spins on after one of the plan's few OpenMP regions:
//   ~35 us (the wake-up cost) instead of ~330 us made MobileNetV2 8% and EfficientNet-B0 16%
//   faster, and MobileNetV2 beside a process spinning on a core 6.7 against 13 ms.
// Small kernels run on one thread anyway (runtime/kernels/onednn/onednn_common.cc).
//
// libgomp reads its environment once, when it is loaded, before main(); a program can only
// change it for itself by re-executing with the variable set.
#pragma once

namespace kiln::runtime {

/// One spin-wait step: x86's PAUSE (what libgomp's spin and the share team's helpers wait on).
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/// What a program runs, which decides how long OpenMP's idle threads spin (see above).
enum class Workload { kInference, kTraining };
/// The spin of each workload, in microseconds.
inline constexpr int kInferenceSpinMicroseconds = 35;
inline constexpr int kTrainingSpinMicroseconds = 330;

/// GOMP_SPINCOUNT for `micros` of spinning on this CPU: the time over the measured cost of
/// one PAUSE (the best of a few short trials), within [1,000, 1,000,000].
long SpinCountFor(int micros);

/// Called first thing in main() of Kiln's executables (the kiln tool, compiled models): when
/// neither OMP_WAIT_POLICY nor GOMP_SPINCOUNT is set, sets GOMP_SPINCOUNT to the spin of
/// `workload` (SpinCountFor) and re-executes the program (same pid, arguments and the rest of
/// the environment), so that the OpenMP runtime starts with it. Returns (and changes nothing)
/// when either is set, when KILN_NO_REEXEC is set, or when the re-execution fails. Libraries
/// that embed Kiln cannot do this; their programs set the variables themselves
/// (docs/design-notes.md, "Threading").
void ApplyThreadingDefaults(char** argv, Workload workload);

/// The OpenMP wait in effect, for reports: "GOMP_SPINCOUNT=3100 (Kiln's default: 35 us)",
/// "OMP_WAIT_POLICY=PASSIVE", or "libgomp's default" when this process set nothing.
const char* ThreadWaitDescription();

}  // namespace kiln::runtime
