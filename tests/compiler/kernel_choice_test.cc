// The compile-time choices (compiler/backends/cpu/kernel_choice.h) between oneDNN's matmul,
// the small-product kernel and the blocked product, and between oneDNN's direct and
// Winograd convolutions: the rule without timing, the measurement and its cache (written,
// then read; a damaged or foreign entry ignored and replaced; no cache when it is off), and
// that every choice computes what the reference kernels compute.
#include "compiler/backends/cpu/kernel_choice.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>

#include "compiler/backends/cpu/cpu_backend.h"
#include "runtime/kernel_choice.h"
#include "runtime/session.h"
#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

// x [rows, 24] -> MatMul by a constant [24, 40] -> y.
std::unique_ptr<Graph> Product(int64_t rows) {
  auto g = std::make_unique<Graph>();
  Value* x = g->AddInput("x", {proto::DT_FLOAT, {rows, 24}});
  Value* w = g->AddConstant("w", RandomTensor({24, 40}, 3));
  g->AddOutput(g->AddNode("MatMul", "mm", {x, w}, 1, {}, {"y"})->output(0));
  EXPECT_OK(RunOnePass(*g, "infer-shapes").status());
  return g;
}

const proto::Step& OnlyStep(const proto::Plan& plan) { return plan.step(0); }

// Sets environment variables for one scope, restoring what was there.
class ScopedEnv {
 public:
  void Set(const std::string& name, const std::string& value) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    setenv(name.c_str(), value.c_str(), 1);
  }
  void Unset(const std::string& name) {
    const char* old = std::getenv(name.c_str());
    saved_.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
    unsetenv(name.c_str());
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->second) {
        setenv(it->first.c_str(), it->second->c_str(), 1);
      } else {
        unsetenv(it->first.c_str());
      }
    }
  }

 private:
  std::vector<std::pair<std::string, std::optional<std::string>>> saved_;
};

TEST(KernelChoiceTest, RuleWithoutTiming) {
  ScopedEnv env;
  env.Set("KILN_KERNEL_TIMING", "0");
  for (int64_t rows : {int64_t{1}, kSmallProductRuleRows, kSmallProductRuleRows + 1, int64_t{64}}) {
    auto g = Product(rows);
    auto plan = CompileForCpu(*g);
    ASSERT_OK(plan.status());
    const proto::Step& step = OnlyStep(*plan);
    if (rows <= kSmallProductRuleRows) {
      EXPECT_EQ(step.kernel(), "gemv") << rows;
      EXPECT_EQ(step.kernel_reason().rfind("rule: ", 0), 0u) << step.kernel_reason();
    } else if (rows <= 32) {
      EXPECT_EQ(step.kernel(), "onednn") << rows;
      EXPECT_EQ(step.kernel_reason().rfind("rule: ", 0), 0u) << step.kernel_reason();
    } else {
      EXPECT_EQ(step.kernel(), "onednn") << rows;  // "sgemm" only by measurement
      EXPECT_EQ(step.kernel_reason(), "rule: oneDNN without timing");
    }
    // Whatever the choice, the result is the reference kernels'.
    const std::vector<Tensor> inputs = {RandomTensor({rows, 24}, 9)};
    const std::string diff = CompareTensors(Execute(*g, inputs, true)[0], Execute(*g, inputs, false)[0], 1e-5, 1e-4);
    EXPECT_TRUE(diff.empty()) << rows << ": " << diff;
  }
  // A reference-only plan has no choice.
  auto g = Product(1);
  auto plan = CompileForCpu(*g, {.use_onednn = false});
  ASSERT_OK(plan.status());
  EXPECT_EQ(OnlyStep(*plan).kernel(), "ref");
  EXPECT_EQ(OnlyStep(*plan).kernel_reason(), "");
}

// From kSmallProductRuleRows rows the blocked product is a candidate too, and past "gemv"'s
// rows it is measured against oneDNN alone; whichever wins computes the reference's result.
TEST(KernelChoiceTest, ManyRowsMeasureTheBlockedProduct) {
  ScopedEnv env;
  env.Unset("KILN_KERNEL_TIMING");
  env.Set("KILN_KERNEL_CACHE", "0");
  for (int64_t rows : {kSmallProductRuleRows + 8, int64_t{300}}) {
    auto g = Product(rows);
    auto plan = CompileForCpu(*g);
    ASSERT_OK(plan.status());
    const proto::Step& step = OnlyStep(*plan);
    const std::string& r = step.kernel_reason();
    const bool few = rows <= runtime::SmallProductMaxRows();
    EXPECT_EQ(r.rfind(few ? "measured: gemv " : "measured: onednn ", 0), 0u) << r;
    EXPECT_NE(r.find(", sgemm "), std::string::npos) << r;
    EXPECT_TRUE(step.kernel() == "sgemm" || step.kernel() == "onednn" || (few && step.kernel() == "gemv"))
        << step.kernel();
    const std::vector<Tensor> inputs = {RandomTensor({rows, 24}, 5)};
    const std::string diff = CompareTensors(Execute(*g, inputs, true)[0], Execute(*g, inputs, false)[0], 1e-5, 1e-4);
    EXPECT_TRUE(diff.empty()) << rows << ": " << diff;
  }
}

TEST(KernelChoiceTest, MeasuresOnceThenReadsTheCache) {
  const std::string dir = ::testing::TempDir() + "kiln_kernel_cache_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  ScopedEnv env;
  env.Unset("KILN_KERNEL_TIMING");
  env.Unset("KILN_KERNEL_CACHE");
  env.Set("KILN_KERNEL_CACHE_DIR", dir + "/nested");
  {
    auto few = Product(kSmallProductSureRows);  // no timing at so few rows
    auto plan = CompileForCpu(*few);
    ASSERT_OK(plan.status());
    EXPECT_EQ(OnlyStep(*plan).kernel(), "gemv");
    EXPECT_EQ(OnlyStep(*plan).kernel_reason().rfind("rule: ", 0), 0u) << OnlyStep(*plan).kernel_reason();
  }
  auto g = Product(kSmallProductSureRows + 2);
  auto reason = [&]() {
    auto plan = CompileForCpu(*g);
    EXPECT_OK(plan.status());
    if (!plan.ok()) return std::string();
    const proto::Step& step = OnlyStep(*plan);
    EXPECT_TRUE(step.kernel() == "gemv" || step.kernel() == "onednn") << step.kernel();
    return step.kernel_reason();
  };
  // A measurement whose rounds disagree (a busy machine) is not cached: compile until one is.
  auto measure_steadily = [&]() {
    for (int attempt = 0; attempt < 50; ++attempt) {
      const std::string r = reason();
      EXPECT_EQ(r.rfind("measured: gemv ", 0), 0u) << r;
      if (r.find("unsteady") == std::string::npos) return true;
    }
    return false;
  };
  ASSERT_TRUE(measure_steadily());
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(dir + "/nested")) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);  // one entry, no temporary left behind
  const std::string cached = reason();
  EXPECT_EQ(cached.rfind("cached: gemv ", 0), 0u) << cached;
  // An entry written by another build of Kiln's kernels (its key names this build) is not
  // read: the code it timed may have changed.
  {
    std::ifstream f(files[0]);
    const std::string entry((std::istreambuf_iterator<char>(f)), {});
    const size_t build = entry.find(", build ");
    ASSERT_NE(build, std::string::npos) << entry;
    std::string other = entry;
    other[build + 8] = other[build + 8] == '0' ? '1' : '0';
    std::ofstream(files[0], std::ios::trunc) << other;
  }
  EXPECT_EQ(reason().rfind("measured: ", 0), 0u);

  // A damaged entry (cut short, a winner outside the candidates, garbage) is not trusted:
  // measured again and replaced.
  std::string entry;
  {
    std::ifstream f(files[0]);
    entry.assign(std::istreambuf_iterator<char>(f), {});
  }
  const size_t winner_at = entry.find("\nwinner ");
  ASSERT_NE(winner_at, std::string::npos);
  for (const std::string& damaged :
       {entry.substr(0, entry.size() - 4), entry.substr(0, winner_at) + "\nwinner ref 1 ms\nend\n",
        std::string("\x01\x02garbage"), std::string()}) {
    {
      std::ofstream f(files[0], std::ios::trunc);
      f << damaged;
    }
    ASSERT_TRUE(measure_steadily()) << damaged;
    EXPECT_EQ(reason().rfind("cached: ", 0), 0u);
  }

  // KILN_KERNEL_CACHE=0: measured every time, nothing written.
  env.Set("KILN_KERNEL_CACHE", "0");
  env.Set("KILN_KERNEL_CACHE_DIR", dir + "/off");
  EXPECT_EQ(reason().rfind("measured: ", 0), 0u);
  EXPECT_EQ(reason().rfind("measured: ", 0), 0u);
  EXPECT_FALSE(std::filesystem::exists(dir + "/off"));
  std::filesystem::remove_all(dir);
}

// x [1, 32, 10, 10] -> Conv 3x3 (pad 1) -> Relu -> Conv 3x3 -> y; after assign-layouts
// the two values between the convolutions are channels-last.
std::unique_ptr<Graph> TwoConvolutions() {
  auto g = std::make_unique<Graph>();
  Value* x = g->AddInput("x", {proto::DT_FLOAT, {1, 32, 10, 10}});
  Attrs a;
  a.SetInts("kernel_shape", {3, 3});
  a.SetInts("pads", {1, 1, 1, 1});
  Value* w1 = g->AddConstant("w1", RandomTensor({32, 32, 3, 3}, 5, -0.2f, 0.2f));
  Value* w2 = g->AddConstant("w2", RandomTensor({16, 32, 3, 3}, 6, -0.2f, 0.2f));
  Value* h = g->AddNode("Conv", "conv1", {x, w1}, 1, a)->output(0);
  Value* r = g->AddNode("Relu", "relu", {h})->output(0);
  g->AddOutput(g->AddNode("Conv", "conv2", {r, w2}, 1, a)->output(0));
  EXPECT_OK(RunOnePass(*g, "infer-shapes").status());
  EXPECT_OK(RunOnePass(*g, "assign-layouts").status());
  return g;
}

TEST(KernelChoiceTest, WinogradOrDirectConvolution) {
  const std::string dir = ::testing::TempDir() + "kiln_winograd_cache_" + std::to_string(getpid());
  std::filesystem::remove_all(dir);
  ScopedEnv env;
  env.Unset("KILN_KERNEL_TIMING");
  env.Unset("KILN_WINOGRAD");
  env.Set("KILN_KERNEL_CACHE", "0");
  env.Set("KILN_KERNEL_CACHE_DIR", dir);
  auto g = TwoConvolutions();
  int laid_out = 0;
  for (const Value* v : g->values()) laid_out += v->layout() != proto::LAYOUT_PLAIN;
  EXPECT_EQ(laid_out, 2);
  auto plan = CompileForCpu(*g);
  ASSERT_OK(plan.status());
  // Ask the kernel itself whether it runs here (oneDNN 2.6: AVX-512 CPUs only).
  runtime::KernelSpec spec;
  spec.op_type = "Conv";
  spec.attrs = g->nodes().front()->attrs();
  spec.inputs = {{proto::DT_FLOAT, {1, 32, 10, 10}}, {proto::DT_FLOAT, {32, 32, 3, 3}}};
  spec.outputs = {{proto::DT_FLOAT, {1, 32, 10, 10}}};
  const bool here = runtime::WinogradUnsupportedReason(spec).empty();
  for (const proto::Step& step : plan->step()) {
    if (step.op_type() != "Conv") continue;
    if (here) {
      EXPECT_EQ(step.kernel_reason().rfind("measured: onednn ", 0), 0u) << step.kernel_reason();
      EXPECT_NE(step.kernel_reason().find(", winograd "), std::string::npos) << step.kernel_reason();
    } else {
      EXPECT_EQ(step.kernel(), "onednn");
      EXPECT_EQ(step.kernel_reason(), "");  // nothing to choose from
    }
  }
  const std::vector<Tensor> inputs = {RandomTensor({1, 32, 10, 10}, 9)};
  const Tensor want = Execute(*g, inputs, false)[0];
  // Whatever was measured: both convolutions as Winograd, in a plan whose middle values are
  // channels-last (the plan validator lets "winograd" steps bind layouts), compute the
  // reference's result.
  if (here) {
    proto::Plan forced = *plan;
    for (proto::Step& step : *forced.mutable_step()) {
      if (step.op_type() == "Conv") step.set_kernel(runtime::kWinogradKernel);
    }
    auto session = runtime::Session::Create(forced);
    ASSERT_OK(session.status());
    auto got = RunOnce(**session, inputs);
    ASSERT_OK(got.status());
    const std::string diff = CompareTensors((*got)[0], want, 2e-5, 1e-4);
    EXPECT_TRUE(diff.empty()) << diff;
  }
  // Without timing the direct convolution stays (the rule), and KILN_WINOGRAD=0 never offers it.
  auto expect_direct = [&](const std::string& reason) {
    auto direct = CompileForCpu(*g);
    ASSERT_OK(direct.status());
    for (const proto::Step& step : direct->step()) {
      if (step.op_type() != "Conv") continue;
      EXPECT_EQ(step.kernel(), "onednn");
      EXPECT_EQ(step.kernel_reason(), reason);
    }
  };
  env.Set("KILN_KERNEL_TIMING", "0");
  expect_direct(here ? "rule: direct convolution without timing" : "");
  env.Unset("KILN_KERNEL_TIMING");
  env.Set("KILN_WINOGRAD", "0");
  expect_direct("");
  const std::string diff = CompareTensors(Execute(*g, inputs, true)[0], want, 2e-5, 1e-4);
  EXPECT_TRUE(diff.empty()) << diff;
  EXPECT_FALSE(std::filesystem::exists(dir));
}

// A stride-1 weight gradient with many taps: oneDNN's and Kiln's product over padded images
// ("wgrad") measured; without timing oneDNN's; the product, forced, computes the reference's.
TEST(KernelChoiceTest, WeightGradientMeasuresTheProduct) {
  ScopedEnv env;
  env.Unset("KILN_KERNEL_TIMING");
  env.Set("KILN_KERNEL_CACHE", "0");
  auto g = std::make_unique<Graph>();
  Value* dy = g->AddInput("dy", {proto::DT_FLOAT, {2, 16, 12, 12}});
  Value* x = g->AddInput("x", {proto::DT_FLOAT, {2, 8, 12, 12}});
  Attrs a;
  a.SetInts("pads", {1, 1, 1, 1});
  a.SetInts("weight_shape", {16, 8, 3, 3});
  g->AddOutput(g->AddNode("ConvGradWeight", "dw", {dy, x}, 1, a, {"dw"})->output(0));
  ASSERT_OK(RunOnePass(*g, "infer-shapes").status());
  const std::vector<Tensor> inputs = {RandomTensor({2, 16, 12, 12}, 4), RandomTensor({2, 8, 12, 12}, 5)};
  const Tensor want = Execute(*g, inputs, false)[0];
  auto plan = CompileForCpu(*g);
  ASSERT_OK(plan.status());
  const proto::Step& step = OnlyStep(*plan);
  EXPECT_EQ(step.kernel_reason().rfind("measured: onednn ", 0), 0u) << step.kernel_reason();
  EXPECT_NE(step.kernel_reason().find(", wgrad "), std::string::npos) << step.kernel_reason();
  proto::Plan forced = *plan;
  forced.mutable_step(0)->set_kernel(runtime::kConvGradWeightProductKernel);
  auto session = runtime::Session::Create(forced);
  ASSERT_OK(session.status());
  auto got = RunOnce(**session, inputs);
  ASSERT_OK(got.status());
  const std::string diff = CompareTensors((*got)[0], want, 1e-4, 1e-4);
  EXPECT_TRUE(diff.empty()) << diff;
  env.Set("KILN_KERNEL_TIMING", "0");
  auto rule = CompileForCpu(*g);
  ASSERT_OK(rule.status());
  EXPECT_EQ(OnlyStep(*rule).kernel(), "onednn");
  EXPECT_EQ(OnlyStep(*rule).kernel_reason(), "rule: oneDNN without timing");
}

}  // namespace
}  // namespace kiln
