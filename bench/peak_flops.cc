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
//
// A second figure, "l1_fed_gflops", is the ceiling of a matrix product's inner kernel:
// a register-blocked FMA kernel (8 rows x 3 vectors with AVX-512, 6 x 2 below) whose
// operands come from L1 (broadcasts of A, vector loads of B), as in every GEMM library.
// Where it stays below "gflops", the loads themselves cost FMA throughput on that CPU,
// and no whole matrix product can reach more.
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

// The L1-fed kernel: C[kRows x kCols vectors] += A panel (kRows x kDepth) x B panel
// (kDepth x kCols vectors), both panels small enough to stay in L1 (12 KiB with AVX-512).
// Accumulators + B + a broadcast fit the registers. Below AVX-512, 6 x 2 (BLIS's Haswell and
// Zen shape): on a Zen 3 EPYC the 4 x 3 kernel reached 69-70% of the FMA loop, 6 x 2 96%.
constexpr int kRows = kLanes == 16 ? 8 : 6;
constexpr int kCols = kLanes == 16 ? 3 : 2;
constexpr int kDepth = kLanes == 16 ? 48 : 256;  // 256 x 2 vectors: 16 KiB of B

__attribute__((noinline)) void PanelProduct(const float* a, const Vec* b, Vec* c) {
  Vec acc[kRows][kCols];
  for (int i = 0; i < kRows; ++i)
    for (int j = 0; j < kCols; ++j) acc[i][j] = c[i * kCols + j];
#if !defined(__AVX512F__)
#pragma GCC unroll 1  // unrolled, GCC hoists the 6 broadcasts and spills accumulators
#endif
  for (int k = 0; k < kDepth; ++k) {
    Vec bk[kCols];
    for (int j = 0; j < kCols; ++j) bk[j] = b[k * kCols + j];
#pragma GCC unroll 8
    for (int i = 0; i < kRows; ++i) {
      const float ai = a[k * kRows + i];  // a broadcast load (scalar x vector)
      for (int j = 0; j < kCols; ++j) acc[i][j] = ai * bk[j] + acc[i][j];
    }
  }
  for (int i = 0; i < kRows; ++i)
    for (int j = 0; j < kCols; ++j) c[i * kCols + j] = acc[i][j];
}

// Returns the FMAs per lane done by this thread in about `seconds`.
long L1FedLoop(double seconds, float seed) {
  alignas(64) float a[kDepth * kRows];
  alignas(64) Vec b[kDepth * kCols], c[kRows * kCols];
  for (int i = 0; i < kDepth * kRows; ++i) a[i] = seed * 1e-4f * static_cast<float>(i % 7);
  for (int i = 0; i < kDepth * kCols; ++i) b[i] = Vec{} + 1e-4f * static_cast<float>(i % 5);
  for (int i = 0; i < kRows * kCols; ++i) c[i] = Vec{};
  long done = 0;
  const auto start = std::chrono::steady_clock::now();
  do {
    for (int r = 0; r < 1024; ++r) PanelProduct(a, b, c);
    done += 1024L * kDepth * kRows * kCols;
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < seconds);
  float sum = 0;
  for (int i = 0; i < kRows * kCols; ++i)
    for (int l = 0; l < kLanes; ++l) sum += c[i][l];
  if (sum == 42.0f) std::puts("");
  return done;
}

// The best of `trials` runs of `loop` on `threads` threads, and their mean, in GFLOP/s.
struct Rate {
  double best = 0, mean = 0;
};
Rate Measure(long (*loop)(double, float), int threads, double seconds, int trials) {
  Rate rate;
  for (int t = 0; t < trials; ++t) {
    long total = 0;
    const auto start = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
    total += loop(seconds / trials, 1.0f + omp_get_thread_num());
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double gflops = 2.0 * kLanes * static_cast<double>(total) / wall / 1e9;
    rate.best = gflops > rate.best ? gflops : rate.best;
    rate.mean += gflops / trials;
  }
  return rate;
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
  const Rate peak = Measure(FmaLoop, threads, seconds, trials);
  const Rate fed = Measure(L1FedLoop, threads, seconds, trials);
  std::printf(
      "{\"threads\": %d, \"isa\": \"%s\", \"lanes\": %d, \"trials\": %d, \"gflops\": %.2f, "
      "\"mean_gflops\": %.2f, \"l1_fed_gflops\": %.2f, \"l1_fed_kernel\": \"%dx%d vectors\"}\n",
      threads, kIsa, kLanes, trials, peak.best, peak.mean, fed.best, kRows, kCols);
  return 0;
}
