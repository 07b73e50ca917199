// A FusedConv's output takes its residual's buffer when the residual dies at the step
// (compiler/memory_planner.h, host plans): which residuals are taken and which are not
// (read later, also the convolution's input, a graph input or output, a device plan), and
// that plans that take them compute what plans that do not compute, on oneDNN's kernels
// (direct, Winograd, split over threads) and the reference kernels, with NaN inputs too.
#include <gtest/gtest.h>

#include <limits>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/memory_planner.h"
#include "ir/core/fused_ops.h"
#include "runtime/kernel_choice.h"
#include "runtime/session.h"
#include "tests/compiler/pass_test_helpers.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

Attrs ConvAttrs(const std::string& activation = "") {
  Attrs a;
  a.SetInts("kernel_shape", {3, 3});
  a.SetInts("pads", {1, 1, 1, 1});
  if (!activation.empty()) a.SetString("activation", activation);
  return a;
}

struct ResidualGraph {
  std::unique_ptr<Graph> g = std::make_unique<Graph>();
  Value *x, *h, *y1, *k, *y2, *m, *y3, *y4;
};

// x -> h = Conv(x) -> y1 = FusedConv(x, +h) [h dies: taken] -> k = Relu(y1)
//   -> y2 = FusedConv(k, +k) [k is also the convolution's input: not taken]
//   -> m = Conv(y2) -> y3 = FusedConv(y2, +m) -> Add(m, y3) [m read later: not taken]
//   -> y4 = FusedConv(y3, +x) [a graph input: not taken]; `h_is_output` makes h a graph
// output (never taken) so that plan has every value in its own buffer.
ResidualGraph Build(int64_t channels, int64_t side, bool h_is_output) {
  ResidualGraph r;
  Graph& g = *r.g;
  const Dims dims = {1, channels, side, side};
  r.x = g.AddInput("x", {proto::DT_FLOAT, dims});
  uint32_t seed = 20;
  auto weight = [&] { return g.AddConstant("w", RandomTensor({channels, channels, 3, 3}, seed++, -0.1f, 0.1f)); };
  auto bias = [&] { return g.AddConstant("b", RandomTensor({channels}, seed++)); };
  r.h = g.AddNode("Conv", "conv_h", {r.x, weight()}, 1, ConvAttrs())->output(0);
  r.y1 = g.AddNode("FusedConv", "fused_1", {r.x, weight(), bias(), r.h}, 1, ConvAttrs())->output(0);
  r.k = g.AddNode("Relu", "relu", {r.y1})->output(0);
  r.y2 = g.AddNode("FusedConv", "fused_2", {r.k, weight(), bias(), r.k}, 1, ConvAttrs("Relu"))->output(0);
  r.m = g.AddNode("Conv", "conv_m", {r.y2, weight()}, 1, ConvAttrs())->output(0);
  r.y3 = g.AddNode("FusedConv", "fused_3", {r.y2, weight(), bias(), r.m}, 1, ConvAttrs())->output(0);
  Value* sum = g.AddNode("Add", "sum", {r.m, r.y3})->output(0);
  r.y4 = g.AddNode("FusedConv", "fused_4", {sum, weight(), bias(), r.x}, 1, ConvAttrs("Relu"))->output(0);
  g.AddOutput(r.y4);
  if (h_is_output) g.AddOutput(r.h);
  EXPECT_OK(RunOnePass(g, "infer-shapes").status());
  return r;
}

TEST(ResidualInPlaceTest, TakesOnlyResidualsThatDieAtTheStep) {
  ResidualGraph r = Build(8, 6, false);
  const MemoryPlan plan = PlanMemory(*r.g, /*share=*/true);
  EXPECT_EQ(plan.offsets.at(r.y1), plan.offsets.at(r.h));
  EXPECT_NE(plan.offsets.at(r.y2), plan.offsets.at(r.k)) << "k is also the convolution's input";
  EXPECT_NE(plan.offsets.at(r.y3), plan.offsets.at(r.m)) << "m is read after the step";
  EXPECT_NE(plan.offsets.at(r.y4), plan.offsets.at(r.x)) << "a graph input is never written";
  // Device plans (no sharing) and a residual that is a graph output keep their own buffers.
  EXPECT_NE(PlanMemory(*r.g).offsets.at(r.y1), PlanMemory(*r.g).offsets.at(r.h));
  ResidualGraph out = Build(8, 6, true);
  const MemoryPlan kept = PlanMemory(*out.g, /*share=*/true);
  EXPECT_NE(kept.offsets.at(out.y1), kept.offsets.at(out.h));
  EXPECT_LT(plan.arena_size, kept.arena_size);
}

// `plan` run once on `x`: its first output.
Tensor RunPlan(const proto::Plan& plan, const Tensor& x) {
  auto session = runtime::Session::Create(plan);
  EXPECT_OK(session.status());
  if (!session.ok()) return {};
  auto out = RunOnce(**session, {x});
  EXPECT_OK(out.status());
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(ResidualInPlaceTest, PlansThatTakeResidualsComputeTheSameValues) {
  // 16 channels on a 12x12 image: oneDNN's direct kernels split the rows over the session's
  // threads; Winograd (forced below, where oneDNN has it) reorders through a blocked copy.
  ResidualGraph shared = Build(16, 12, false), own = Build(16, 12, true);
  for (bool onednn : {true, false}) {
    auto plan = CompileForCpu(*shared.g, {.use_onednn = onednn});
    ASSERT_OK(plan.status());
    auto reference = CompileForCpu(*own.g, {.use_onednn = false});
    ASSERT_OK(reference.status());
    int taken = 0;
    for (const proto::Step& s : plan->step()) {
      if (s.op_type() == "FusedConv")
        taken += plan->buffer(s.input(kFusedResidualInput)).offset() == plan->buffer(s.output(0)).offset();
    }
    EXPECT_EQ(taken, 1);
    std::vector<proto::Plan> variants = {*plan};
    if (onednn) {  // (the direct algorithm runs it where oneDNN has no Winograd kernel)
      proto::Plan winograd = *plan;
      for (proto::Step& s : *winograd.mutable_step()) {
        if (s.op_type() == "FusedConv" || s.op_type() == "Conv") s.set_kernel(runtime::kWinogradKernel);
      }
      variants.push_back(winograd);
    }
    Tensor x = RandomTensor({1, 16, 12, 12}, 3);
    for (bool with_nan : {false, true}) {
      if (with_nan) x.mutable_data_as<float>()[77] = std::numeric_limits<float>::quiet_NaN();
      const Tensor want = RunPlan(*reference, x);
      for (size_t v = 0; v < variants.size(); ++v) {
        const std::string diff = CompareTensors(RunPlan(variants[v], x), want, 1e-4, 1e-4);  // NaN matches NaN
        EXPECT_TRUE(diff.empty()) << (onednn ? "oneDNN" : "reference") << (v ? " Winograd" : "")
                                  << (with_nan ? ", NaN: " : ": ") << diff;
      }
    }
  }
}

}  // namespace
}  // namespace kiln
