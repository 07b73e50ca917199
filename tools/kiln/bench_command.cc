// `kiln bench`: compile a model and time Session::Run on random inputs bound once.
// Reports the compile time (load + passes + lowering + session creation), the
// median / p10 / p90 latency of one Run, the arena and scratch sizes and the peak RSS, as a
// readable line or as JSON (what bench/run.sh reads).
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>

#include "compiler/compile.h"
#include "compiler/load.h"
#include "frontends/load_model.h"
#include "runtime/session.h"
#include "runtime/threading.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"
#include "tools/kiln/report_json.h"
#include "tools/kiln/reports.pb.h"

namespace kiln::cli {
namespace {

constexpr char kBenchHelp[] = R"(Usage: kiln bench MODEL [options]

Compiles MODEL for the CPU (or --device), binds random inputs once (uniform in [-1, 1) for
floats, zeros for integers), then times Session::Run: warm-up runs first, then
either --iters runs or as many as fit in --seconds (at least 3). Prints the
compile time (load + passes + lowering + session creation), the median, p10
and p90 latency of one run, the arena size, the kernels' shared scratch size
and the process's peak RSS.

Options:
  --batch N         value of the symbolic batch dimension (default 1)
  --threads N       oneDNN/OpenMP threads (default: all cores)
  --device cpu|cuda where the model runs (default: cpu; cuda: docs/cuda.md)
  --cpu-fallback    with --device: run what the device cannot on the CPU
  --warmup N        untimed runs before measuring (default 3)
  --iters N         timed runs (default: as many as fit in --seconds)
  --seconds S       time budget for the timed runs (default 1)
  --no-onednn       use the reference kernels only
  --no-layouts      skip the assign-layouts pass: every value plain, each oneDNN kernel
                    reorders at its own edges (to measure what layout regions save)
  --json            print one JSON object instead of a line
  --profile         also time every step: the slowest steps, the time per op type
                    and kernel, and the runtime's own cost per step (the run's time
                    outside the kernels); printed after the summary (to stderr with --json)
  --profile-steps N|all
                    with --profile (which it implies): list the N slowest steps, or
                    every step (default 15)
  -h, --help        show this help

Examples:
  kiln bench examples/iris_mlp.kiln.txt
  kiln bench resnet50.onnx --batch 64 --threads 2 --warmup 1 --seconds 10 --json
  kiln bench lenet5.onnx --batch 64 --profile
  kiln bench squeezenet.onnx --profile-steps all
)";

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

struct BenchResult {
  std::string model;
  int64_t batch = 1;
  int threads = 0;
  double load_seconds = 0, compile_seconds = 0, session_seconds = 0;
  int64_t warmup = 0;
  std::vector<double> run_ms;  // sorted
  int64_t arena_bytes = 0;
  int64_t scratch_bytes = 0;  // the kernels' shared scratch, outside the arena
  int64_t peak_rss_bytes = 0;
  int num_steps = 0;
  bool profile = false;
  int profile_steps = 15;      // the slowest steps the report lists
  std::string profile_report;  // with --profile: Session::ProfileReport plus the dispatch cost
};

// Nearest-rank percentile of sorted values (p in [0, 100]).
double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const double rank = p / 100.0 * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

int64_t PeakRssBytes() {
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux: KiB
}

void FillRandom(const TensorRef& t, std::mt19937& rng) {
  if (t.dtype == proto::DT_FLOAT) {
    std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
    float* p = t.as<float>();
    for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = dist(rng);
  } else {
    std::memset(t.data, 0, static_cast<size_t>(t.num_bytes()));
  }
}

Status Bench(BenchResult* r, const std::string& device, bool cpu_fallback, int64_t iters, double seconds,
             bool use_onednn, bool assign_layouts) {
  const std::string& path = r->model;
  Clock::time_point t0 = Clock::now();
  ASSIGN_OR_RETURN(Model model, LoadModel(path));
  r->load_seconds = SecondsSince(t0);

  t0 = Clock::now();
  // CompileAndLoad's two halves, timed apart (session creation includes compiling the fused kernels).
  CompileOptions options;
  options.device = device;
  options.cpu_fallback = cpu_fallback;
  options.batch_size = r->batch;
  options.use_onednn = use_onednn;
  options.assign_layouts = assign_layouts;
  auto plan = CompileToPlan(*model.graph, options);
  if (!plan.ok()) return plan.status().WithContext(path);
  r->compile_seconds = SecondsSince(t0);

  t0 = Clock::now();
  runtime::SessionOptions session_options;
  session_options.num_threads = r->threads;
  session_options.profile = r->profile;
  auto session = LoadPlan(std::move(plan).value(), session_options);
  if (!session.ok()) return session.status().WithContext(path);
  r->session_seconds = SecondsSince(t0);
  runtime::Session& s = **session;
  r->arena_bytes = s.arena_size();
  r->scratch_bytes = s.scratch_size();
  r->num_steps = s.plan().step_size();

  std::mt19937 rng(42);
  for (int i = 0; i < s.num_inputs(); ++i) FillRandom(s.input(i), rng);

  for (int64_t i = 0; i < r->warmup; ++i) RETURN_IF_ERROR(s.Run().WithContext(path));
  s.ResetProfile();
  const Clock::time_point start = Clock::now();
  for (int64_t i = 0;; ++i) {
    if (iters > 0 ? i >= iters : (i >= 3 && SecondsSince(start) >= seconds)) break;
    const Clock::time_point t = Clock::now();
    RETURN_IF_ERROR(s.Run().WithContext(path));
    r->run_ms.push_back(SecondsSince(t) * 1e3);
  }
  std::sort(r->run_ms.begin(), r->run_ms.end());
  r->peak_rss_bytes = PeakRssBytes();
  if (r->profile) {
    double mean_ms = 0;
    for (double ms : r->run_ms) mean_ms += ms / static_cast<double>(r->run_ms.size());
    const double outside_ms = mean_ms - s.KernelMsPerRun();
    char line[256];
    std::snprintf(line, sizeof line, "Runtime: %.4f ms per run outside the kernels, %.0f ns per step (%d steps)\n",
                  outside_ms, r->num_steps ? 1e6 * outside_ms / r->num_steps : 0.0, r->num_steps);
    r->profile_report = s.ProfileReport(r->profile_steps) + line;
  }
  return Status::Ok();
}

// "512 B", "12.5 KiB", "3.20 MiB".
std::string HumanBytes(int64_t bytes) {
  char b[64];
  if (bytes < 1024) {
    std::snprintf(b, sizeof b, "%lld B", static_cast<long long>(bytes));
  } else if (bytes < (1 << 20)) {
    std::snprintf(b, sizeof b, "%.1f KiB", static_cast<double>(bytes) / 1024);
  } else {
    std::snprintf(b, sizeof b, "%.2f MiB", static_cast<double>(bytes) / (1 << 20));
  }
  return b;
}

void Print(const BenchResult& r, bool json) {
  const double compile_total = r.load_seconds + r.compile_seconds + r.session_seconds;
  double mean = 0;
  for (double ms : r.run_ms) mean += ms;
  mean /= static_cast<double>(std::max<size_t>(1, r.run_ms.size()));
  const double median = Percentile(r.run_ms, 50), p10 = Percentile(r.run_ms, 10), p90 = Percentile(r.run_ms, 90);
  if (json) {
    reports::BenchReport j;
    j.set_model(r.model);
    j.set_batch(static_cast<int32_t>(r.batch));
    j.set_threads(r.threads);
    j.set_compile_seconds(compile_total);
    j.set_load_seconds(r.load_seconds);
    j.set_passes_and_lowering_seconds(r.compile_seconds);
    j.set_session_seconds(r.session_seconds);
    j.set_warmup(static_cast<int32_t>(r.warmup));
    j.set_iterations(static_cast<int32_t>(r.run_ms.size()));
    j.set_median_ms(median);
    j.set_p10_ms(p10);
    j.set_p90_ms(p90);
    j.set_mean_ms(mean);
    j.set_min_ms(r.run_ms.front());
    j.set_max_ms(r.run_ms.back());
    j.set_steps(r.num_steps);
    j.set_arena_bytes(static_cast<double>(r.arena_bytes));
    j.set_scratch_bytes(static_cast<double>(r.scratch_bytes));
    j.set_peak_rss_bytes(static_cast<double>(r.peak_rss_bytes));
    j.set_thread_wait(runtime::ThreadWaitDescription());
    std::fputs(ReportJson(j, /*indented=*/false).c_str(), stdout);
    return;
  }
  const std::string threads = r.threads > 0 ? std::to_string(r.threads) : "default";
  std::printf(
      "%s batch %lld, threads %s (wait: %s): compile %.3f s (load %.3f, passes+lowering %.3f, session %.3f); "
      "run median %.4g ms (p10 %.4g, p90 %.4g) over %zu runs; arena %s; scratch %s; peak RSS %s\n",
      r.model.c_str(), static_cast<long long>(r.batch), threads.c_str(), runtime::ThreadWaitDescription(),
      compile_total, r.load_seconds, r.compile_seconds, r.session_seconds, median, p10, p90, r.run_ms.size(),
      HumanBytes(r.arena_bytes).c_str(), HumanBytes(r.scratch_bytes).c_str(), HumanBytes(r.peak_rss_bytes).c_str());
}

StatusOr<double> ParsePositiveSeconds(const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(v > 0) || !std::isfinite(v)) {
    return InvalidArgument("option '--seconds' needs a positive number, got '", value, "'");
  }
  return v;
}

}  // namespace

int BenchCommand(const std::vector<std::string>& args) {
  ArgSpec spec{"bench",
               {"--json", "--no-onednn", "--no-layouts", "--profile", "--cpu-fallback"},
               {"--batch", "--threads", "--warmup", "--iters", "--seconds", "--device", "--profile-steps"},
               {}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("bench", parsed.status().message());
  if (parsed->help) {
    std::fputs(kBenchHelp, stdout);
    return kExitOk;
  }
  if (parsed->positional.size() != 1) {
    return ReportUsageError("bench", parsed->positional.empty()
                                         ? "missing MODEL"
                                         : "expected one MODEL, got " + std::to_string(parsed->positional.size()));
  }
  BenchResult r;
  r.model = parsed->positional[0];
  int64_t iters = 0;
  double seconds = 1.0;
  struct IntOption {
    const char* name;
    int64_t* value;
  };
  int64_t threads = 0, warmup = 3;
  for (IntOption o : {IntOption{"--batch", &r.batch}, IntOption{"--threads", &threads}, IntOption{"--iters", &iters}}) {
    if (!parsed->options.count(o.name)) continue;
    auto v = ParsePositiveInt(o.name, parsed->Get(o.name));
    if (!v.ok()) return ReportUsageError("bench", v.status().message());
    *o.value = *v;
  }
  if (parsed->options.count("--warmup")) {  // 0 is allowed
    const std::string w = parsed->Get("--warmup");
    auto v = w == "0" ? StatusOr<int64_t>(0) : ParsePositiveInt("--warmup", w);
    if (!v.ok()) return ReportUsageError("bench", v.status().message());
    warmup = *v;
  }
  if (parsed->options.count("--seconds")) {
    if (iters > 0) return ReportUsageError("bench", "give --iters or --seconds, not both");
    auto v = ParsePositiveSeconds(parsed->Get("--seconds"));
    if (!v.ok()) return ReportUsageError("bench", v.status().message());
    seconds = *v;
  }
  r.threads = static_cast<int>(threads);
  r.profile = parsed->Has("--profile") || parsed->options.count("--profile-steps");
  if (parsed->options.count("--profile-steps")) {
    const std::string n = parsed->Get("--profile-steps");
    if (n == "all") {
      r.profile_steps = std::numeric_limits<int>::max();
    } else {
      auto v = ParsePositiveInt("--profile-steps", n);
      if (!v.ok()) {
        return ReportUsageError("bench", "option '--profile-steps' needs a positive integer or 'all', got '" + n + "'");
      }
      r.profile_steps = static_cast<int>(std::min<int64_t>(*v, std::numeric_limits<int>::max()));
    }
  }
  r.warmup = warmup;
  std::string device;
  if (int rc = ResolveDevice(*parsed, /*runs_here=*/true, &device); rc != kExitOk) return rc;
  Status status = Bench(&r, device, parsed->Has("--cpu-fallback"), iters, seconds, !parsed->Has("--no-onednn"),
                        !parsed->Has("--no-layouts"));
  if (!status.ok()) return ReportError(status);
  Print(r, parsed->Has("--json"));
  if (r.profile) std::fputs(r.profile_report.c_str(), parsed->Has("--json") ? stderr : stdout);
  return kExitOk;
}

}  // namespace kiln::cli
