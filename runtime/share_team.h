// Work split into fixed shares that the calling thread and helper threads take as they
// come: a share whose owner has not shown up is done by the caller, so a run never waits
// for a thread that is not running (on a busy machine a thread of an OpenMP parallel region
// waits for a core, and every region then costs a scheduler time slice: MLP 784x512 at
// batch 1 on two threads took 1.4-6 ms at load 7 against 0.009 ms quiet). Helper k takes
// share k first, so on a quiet machine each share runs on the same thread run after run
// (and its data stays in that core's cache). Helpers spin briefly after a job, then sleep;
// a sleeping helper is woken but not waited for. Helpers run with one OpenMP thread (a
// share is a part of a split job) and move off the CPU the caller runs on when they find
// themselves there (KILN_PIN_HELPERS=0: leave placement to the scheduler).
#pragma once

#include <cstdint>

namespace kiln::runtime {

/// Runs fn(ctx, s) for s in [0, shares), on the calling thread and up to shares - 1 helper
/// threads; returns when every share is done. Concurrent callers (two sessions at once)
/// run their shares on their own threads alone. No allocation per call.
void RunShares(int shares, void (*fn)(const void* ctx, int share), const void* ctx);
/// The same for a callable `share(int)`.
template <class F>
void RunShares(int shares, const F& share) {
  RunShares(
      shares, [](const void* ctx, int s) { (*static_cast<const F*>(ctx))(s); }, &share);
}

}  // namespace kiln::runtime
