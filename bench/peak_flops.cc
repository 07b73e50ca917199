// The machine's FP32 peak, measured: each of T OpenMP threads runs independent
// chains of vector fused multiply-adds (enough chains to cover the FMA latency
// on every port) for a fixed time, and the total FLOP count over the wall time
// is the peak that bench/run.sh compares large matrix products with.
//
//   g++ -O3 -march=native -fopenmp bench/peak_flops.cc -o peak_flops
//   peak_flops [--threads T] [--seconds S] [--trials N]   -> one JSON line on stdout
//
// The time is split into N trials; the best one is the peak (on a shared machine
// a trial that another process interrupts only lowers that trial).
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
const char* const kIsa = "avx512";
#elif defined(__AVX__)
constexpr int kLanes = 8;
const char* const kIsa = "avx2";
#else
constexpr int kLanes = 4;
const char* const kIsa = "sse";
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));

// 12 independent accumulators: 2 FMA ports x up to 5 cycles latency, with slack.
constexpr int kChains = 12;
constexpr long kInner = 1 << 16;  // FMAs per chain between clock reads

// Returns the FMAs per lane done by this thread in about `seconds`.
__attribute__((noinline)) long FmaLoop(double seconds, float seed) {
  Vec acc[kChains];
  for (int c = 0; c < kChains; ++c) acc[c] = Vec{} + seed * static_cast<float>(c + 1);
  const Vec mul = Vec{} + 0.999999f, add = Vec{} + 1e-7f;
  long done = 0;
  const auto start = std::chrono::steady_clock::now();
  do {
    for (long i = 0; i < kInner; ++i) {
#pragma GCC unroll 12
      for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * mul + add;  // contracted to vfmadd (-ffp-contract=fast)
    }
    done += kInner * kChains;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds);
  // Keep the result alive so the loop is not optimized away.
  float sum = 0;
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < kLanes; ++l) sum += acc[c][l];
  if (sum == 42.0f) std::puts("");
  return done;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads();
  double seconds = 1.0;
  int trials = 5;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc)
      threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--seconds") && i + 1 < argc)
      seconds = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--trials") && i + 1 < argc)
      trials = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: peak_flops [--threads T] [--seconds S] [--trials N]\n");
      return 2;
    }
  }
  if (threads < 1) threads = 1;
  if (trials < 1) trials = 1;
  FmaLoop(0.1, 1.0f);  // wake the core up (frequency ramp)
  double best = 0, sum = 0;
  for (int t = 0; t < trials; ++t) {
    long total = 0;
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += FmaLoop(seconds / trials, 1.0f + omp_get_thread_num());
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double gflops = 2.0 * kLanes * static_cast<double>(total) / wall / 1e9;
    best = gflops > best ? gflops : best;
    sum += gflops;
  }
  std::printf(
      "{\"threads\": %d, \"isa\": \"%s\", \"lanes\": %d, \"trials\": %d, \"gflops\": %.2f, "
      "\"mean_gflops\": %.2f}\n",
      threads, kIsa, kLanes, trials, best, sum / trials);
  return 0;
}
