#include "runtime/share_team.h"

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "runtime/threading.h"

namespace kiln::runtime {
namespace {

// A job is a generation number; share s is taken for generation g by raising claims[s]
// from below g to g (compare-exchange), so a helper that saw an older generation can never
// take a share of a newer job, and the job's fields are read only after a share is taken.
class Team {
 public:
  static constexpr int kMaxShares = 64;
  // How long a helper spins for the next job before it sleeps.
  static constexpr auto kSpin = std::chrono::microseconds(100);

  static Team& Get() {
    static Team* team = new Team();  // never destroyed: helpers may outlive main()
    return *team;
  }

  void Run(int shares, void (*fn)(const void*, int), const void* ctx) {
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock() || shares <= 1) {
      for (int s = 0; s < shares; ++s) fn(ctx, s);
      return;
    }
    shares = std::min(shares, kMaxShares);
    StartHelpers(shares - 1);
    // Only callers holding run_mu_ change the generation. Shares past `shares` are taken in
    // advance, so no helper runs one.
    const uint64_t g = generation_.load() + 1;
    for (int s = shares; s < kMaxShares; ++s) claims_[s].store(g, std::memory_order_relaxed);
    caller_cpu_.store(sched_getcpu(), std::memory_order_relaxed);
    fn_.store(fn, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    shares_.store(shares, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    generation_.store(g);  // seq_cst with sleepers_ below: a helper going to sleep sees g or is woken
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(wake_mu_);
      wake_.notify_all();
    }
    // The caller owns share 0, then takes whatever no helper has taken yet.
    for (int s = 0; s < shares; ++s) {
      if (Take(s, g)) RunShare(s);
    }
    for (int spins = 0; done_.load(std::memory_order_acquire) < shares; ++spins) {
      if (spins < 4096) {
        CpuRelax();
      } else {
        std::this_thread::yield();  // a helper took a share and lost its core: let it finish
      }
    }
  }

 private:
  Team() {
    for (auto& c : claims_) c.store(0);
  }

  bool Take(int s, uint64_t g) {
    uint64_t seen = claims_[s].load(std::memory_order_relaxed);
    return seen < g && claims_[s].compare_exchange_strong(seen, g, std::memory_order_acq_rel);
  }
  void RunShare(int s) {
    fn_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), s);
    done_.fetch_add(1, std::memory_order_release);
  }

  void StartHelpers(int wanted) {
    std::unique_lock<std::mutex> lock(start_mu_);
    while (static_cast<int>(helpers_.size()) < wanted) {
      const int index = static_cast<int>(helpers_.size()) + 1;  // its own share
      helpers_.push_back(std::make_unique<std::thread>([this, index] { HelperLoop(index); }));
      helpers_.back()->detach();
      // Its start-up (below) allocates: done before the first job, not during some later one.
      started_.wait(lock, [&] { return ready_ == index; });
    }
  }

  // A helper never shares the caller's CPU: left to the scheduler, a helper was at times
  // placed on the caller's own CPU (both threads on CPU 0 in `ps`), where its share only took
  // turns with the caller's: ResNet-8 at batch 1 then ran at one thread's speed (0.23 against
  // 0.15 ms) run after run. A helper that finds itself on the CPU the caller published for
  // the job moves off it (its affinity: the process's CPUs but that one). The caller is left
  // where it is. KILN_PIN_HELPERS=0 turns this off.
  void MoveOffCallerCpu(const cpu_set_t& allowed, int caller_cpu) {
    if (caller_cpu < 0 || sched_getcpu() != caller_cpu) return;
    cpu_set_t others = allowed;
    CPU_CLR(caller_cpu, &others);
    if (CPU_COUNT(&others) > 0) (void)sched_setaffinity(0, sizeof(others), &others);
  }

  void HelperLoop(int own) {
    cpu_set_t allowed;
    const char* pin = std::getenv("KILN_PIN_HELPERS");
    const bool move = !(pin && std::string(pin) == "0") && sched_getaffinity(0, sizeof(allowed), &allowed) == 0 &&
                      CPU_COUNT(&allowed) >= 2;
#ifdef _OPENMP
    // A share runs on one thread (what runs in it is a part of a split job); this also makes
    // libgomp create the thread's state now.
    omp_set_num_threads(1);
#endif
    {
      std::lock_guard<std::mutex> lock(start_mu_);
      ready_ = own;
    }
    started_.notify_all();
    uint64_t seen = generation_.load(std::memory_order_acquire);
    for (;;) {
      uint64_t g = generation_.load(std::memory_order_acquire);
      const auto until = std::chrono::steady_clock::now() + kSpin;
      for (int i = 0; g == seen; ++i) {
        // No sched_yield while spinning: on a core shared with another busy process a
        // yielding helper hands it its whole time slice and then never runs a share (the
        // caller takes them all: MLP batch 1 ran at one thread's speed, 0.033 against
        // 0.011 ms, with one process spinning on the other core). Training's OpenMP regions
        // did not gain from the yield either (CNN, MLP and LSTM epochs within noise).
        CpuRelax();
        g = generation_.load(std::memory_order_acquire);
        if (g == seen && (i & 255) == 255 && std::chrono::steady_clock::now() > until) {
          // A missed wake-up would only cost this helper one job (the caller never waits for
          // a share nobody took); seq_cst makes it not happen.
          std::unique_lock<std::mutex> lock(wake_mu_);
          sleepers_.fetch_add(1);
          wake_.wait(lock, [&] { return generation_.load() != seen; });
          sleepers_.fetch_sub(1);
          g = generation_.load(std::memory_order_acquire);
        }
      }
      seen = g;
      if (move) MoveOffCallerCpu(allowed, caller_cpu_.load(std::memory_order_relaxed));
      // Its own share first, then any other left. Take() is what guards: `shares` may
      // already be a later job's, whose shares this generation cannot take.
      if (own < kMaxShares && Take(own, g)) RunShare(own);
      const int shares = std::min(shares_.load(std::memory_order_relaxed), kMaxShares);
      for (int s = 1; s < shares; ++s) {
        if (Take(s, g)) RunShare(s);
      }
    }
  }

  std::mutex run_mu_, start_mu_, wake_mu_;
  std::condition_variable wake_, started_;
  int ready_ = 0;  // the last helper that finished starting (start_mu_)
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0}, shares_{0}, done_{0}, caller_cpu_{-1};
  // The job's function; read only after a share of its generation was taken (acquire).
  std::atomic<void (*)(const void*, int)> fn_{nullptr};
  std::atomic<const void*> ctx_{nullptr};
  std::atomic<uint64_t> claims_[kMaxShares];
  std::vector<std::unique_ptr<std::thread>> helpers_;
};

}  // namespace

void RunShares(int shares, void (*fn)(const void* ctx, int share), const void* ctx) {
  Team::Get().Run(shares, fn, ctx);
}

}  // namespace kiln::runtime
