// RunShares (runtime/share_team.h): every share of every job runs exactly
// once, whatever the helpers do (spinning, asleep, late), for share counts that grow and
// shrink between jobs, and with two callers at once.
#include "runtime/share_team.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace kiln {
namespace {

using runtime::RunShares;

void RunJobs(int jobs, int seed) {
  std::vector<std::atomic<int>> counts(64);
  for (int job = 0; job < jobs; ++job) {
    const int shares = 1 + (job * 7 + seed) % 5;  // 1..5: more than the helpers, fewer, one
    for (auto& c : counts) c.store(0);
    RunShares(shares, [&](int s) {
      ASSERT_GE(s, 0);
      ASSERT_LT(s, shares);
      counts[s].fetch_add(1);
    });
    for (int s = 0; s < 64; ++s) ASSERT_EQ(counts[s].load(), s < shares ? 1 : 0) << "job " << job << " share " << s;
    if (job % 500 == 499) std::this_thread::sleep_for(std::chrono::milliseconds(1));  // helpers fall asleep
  }
}

TEST(ShareTeamTest, EveryShareRunsOnce) { RunJobs(3000, 0); }

TEST(ShareTeamTest, TwoCallersAtOnce) {
  std::thread other([] { RunJobs(2000, 3); });
  RunJobs(2000, 1);
  other.join();
}

}  // namespace
}  // namespace kiln
