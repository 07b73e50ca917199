// `kiln bench`: the JSON report's fields parse and are positive, the readable
// line names the numbers, and bad command lines are usage errors.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "runtime/threading.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;
Result Kiln(const std::string& args) { return testing::RunKilnInSourceTree(args); }

// The number after "key": in a flat JSON object, or NaN when the key is missing.
double JsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":");
  if (at == std::string::npos) return std::nan("");
  const char* begin = json.c_str() + at + key.size() + 3;
  char* end = nullptr;
  const double v = std::strtod(begin, &end);
  return end == begin ? std::nan("") : v;
}

std::string MlpModel() { return testing::SourcePath("tests/data/models/mlp/model.onnx"); }

TEST(BenchCli, JsonFieldsArePositive) {
  Result r = Kiln("bench " + MlpModel() + " --batch 4 --threads 1 --warmup 1 --iters 3 --json");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_EQ(r.output.front(), '{') << r.output;
  ASSERT_EQ(r.output.substr(r.output.size() - 2), "}\n") << r.output;
  EXPECT_EQ(JsonNumber(r.output, "batch"), 4) << r.output;
  EXPECT_EQ(JsonNumber(r.output, "threads"), 1) << r.output;
  EXPECT_EQ(JsonNumber(r.output, "iterations"), 3) << r.output;
  for (const char* key : {"compile_seconds", "load_seconds", "passes_and_lowering_seconds", "median_ms", "p10_ms",
                          "p90_ms", "mean_ms", "min_ms", "steps", "arena_bytes", "peak_rss_bytes"}) {
    const double v = JsonNumber(r.output, key);
    EXPECT_TRUE(v > 0) << key << " = " << v << " in: " << r.output;
  }
  EXPECT_GE(JsonNumber(r.output, "scratch_bytes"), 0) << r.output;  // 0 when no kernel copies layouts
  EXPECT_LE(JsonNumber(r.output, "p10_ms"), JsonNumber(r.output, "median_ms"));
  EXPECT_LE(JsonNumber(r.output, "median_ms"), JsonNumber(r.output, "p90_ms"));
  EXPECT_GE(JsonNumber(r.output, "compile_seconds"),
            JsonNumber(r.output, "load_seconds") + JsonNumber(r.output, "passes_and_lowering_seconds") - 1e-5);
}

TEST(BenchCli, ReadableLineAndTimeBudget) {
  Result r = Kiln("bench " + MlpModel() + " --warmup 0 --seconds 0.05");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* needle : {"batch 1", "compile ", "run median ", "p10 ", "p90 ", "arena ", "scratch ", "peak RSS "}) {
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " in: " << r.output;
  }
}

// Sets (or with nullptr unsets) an environment variable for the lifetime of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    had_ = std::getenv(name) != nullptr;
    value ? setenv(name, value, 1) : unsetenv(name);
  }
  ~ScopedEnv() { had_ ? setenv(name_.c_str(), saved_.c_str(), 1) : unsetenv(name_.c_str()); }

 private:
  std::string name_, saved_;
  bool had_ = false;
};

// The JSON string after "key": (no escapes in these values).
std::string JsonString(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\":\"");
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size() + 4;
  return json.substr(begin, json.find('"', begin) - begin);
}

// runtime/threading.h: with nothing set, kiln re-executes itself with a short OpenMP spin;
// the user's own setting wins, and KILN_NO_REEXEC keeps libgomp's default.
TEST(BenchCli, OpenMpWaitDefaultsAndTheUsersChoice) {
  ScopedEnv no_policy("OMP_WAIT_POLICY", nullptr), no_spin("GOMP_SPINCOUNT", nullptr),
      no_marker("KILN_THREADING_DEFAULTS", nullptr), no_opt_out("KILN_NO_REEXEC", nullptr);
  const std::string args = "bench " + MlpModel() + " --threads 2 --warmup 0 --iters 3 --json";
  Result r = Kiln(args);
  ASSERT_EQ(r.code, 0) << r.output;
  // The count is calibrated to this CPU: ~35 us of PAUSEs for inference, within 2x of this
  // process's own calibration (another trial, another moment).
  const std::string wait = JsonString(r.output, "thread_wait");
  const long expected = runtime::SpinCountFor(runtime::kInferenceSpinMicroseconds);
  EXPECT_EQ(wait.rfind("GOMP_SPINCOUNT=", 0), 0u) << r.output;
  EXPECT_NE(wait.find(" (Kiln's default: 35 us)"), std::string::npos) << r.output;
  const long spin = std::atol(wait.c_str() + std::strlen("GOMP_SPINCOUNT="));
  EXPECT_GT(spin, expected / 2) << r.output;
  EXPECT_LT(spin, expected * 2) << r.output;
  {
    ScopedEnv passive("OMP_WAIT_POLICY", "PASSIVE");
    r = Kiln(args);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(JsonString(r.output, "thread_wait"), "OMP_WAIT_POLICY=PASSIVE") << r.output;
  }
  {
    ScopedEnv opt_out("KILN_NO_REEXEC", "1");
    r = Kiln(args);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(JsonString(r.output, "thread_wait"), "libgomp's default") << r.output;
  }
}

TEST(BenchCli, ProfilePrintsStepsOpTypesAndTheRuntimesCost) {
  Result r = Kiln("bench " + MlpModel() + " --warmup 1 --iters 20 --profile");
  ASSERT_EQ(r.code, 0) << r.output;
  // At batch 1 the products run on the small-product kernel (by the rule: ctest sets
  // KILN_KERNEL_TIMING=0), and the profile says so and why.
  for (const char* needle :
       {"Profile: 4 steps, 20 runs", "/fc1/Gemm_1", "op type [kernel]", "FusedMatMul [gemv]", "LogSoftmax [onednn]",
        "ns per step (4 steps)", "kernel choices:", "/fc1/Gemm_1 (FusedMatMul): gemv, rule: 1 rows <= 4"}) {
    EXPECT_NE(r.output.find(needle), std::string::npos) << needle << " in: " << r.output;
  }
}

// --profile-steps lists that many of the slowest steps, or all of them; it implies --profile.
TEST(BenchCli, ProfileStepsListsTheSlowestOrEveryStep) {
  auto step_lines = [](const std::string& out) {
    int n = 0;
    for (size_t at = out.find("\n  /"); at != std::string::npos; at = out.find("\n  /", at + 1)) ++n;
    return n;
  };
  Result all = Kiln("bench " + MlpModel() + " --warmup 0 --iters 3 --profile-steps all");
  ASSERT_EQ(all.code, 0) << all.output;
  EXPECT_NE(all.output.find("Profile: 4 steps"), std::string::npos) << all.output;
  EXPECT_EQ(step_lines(all.output), 4) << all.output;
  Result two = Kiln("bench " + MlpModel() + " --warmup 0 --iters 3 --profile --profile-steps 2");
  ASSERT_EQ(two.code, 0) << two.output;
  EXPECT_EQ(step_lines(two.output), 2) << two.output;
  EXPECT_EQ(Kiln("bench " + MlpModel() + " --iters 1 --profile-steps 0").code, 2);
  EXPECT_EQ(Kiln("bench " + MlpModel() + " --iters 1 --profile-steps some").code, 2);
}

TEST(BenchCli, HelpAndUsageErrors) {
  Result help = Kiln("bench --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("Examples:"), std::string::npos) << help.output;
  EXPECT_EQ(Kiln("bench").code, 2);
  EXPECT_EQ(Kiln("bench " + MlpModel() + " --iters 0").code, 2);
  EXPECT_EQ(Kiln("bench " + MlpModel() + " --seconds -1").code, 2);
  EXPECT_EQ(Kiln("bench " + MlpModel() + " --iters 3 --seconds 1").code, 2);
  Result missing = Kiln("bench /nonexistent/model.onnx --iters 1");
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.output.find("/nonexistent/model.onnx"), std::string::npos) << missing.output;
}

}  // namespace
}  // namespace kiln
