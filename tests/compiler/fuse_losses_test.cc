// fuse-losses and its kernel: SoftmaxCrossEntropy + SoftmaxCrossEntropyGrad (+ the bias
// gradient's ReduceSum) become one FusedSoftmaxCrossEntropy; its reference kernel matches the
// three unfused kernels and its generated kernel matches both (sparse and dense targets, odd
// sizes, infinite and NaN logits); labels out of range are an error; the graphs the pass must
// leave alone stay as they are.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <random>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/codegen/jit.h"
#include "compiler/load.h"
#include "compiler/pass.h"
#include "compiler/passes/fuse_elementwise.h"
#include "compiler/target.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

struct LossGraph {
  int64_t batch = 4, classes = 5;
  bool sparse = true;
  bool bias = true;          // a ReduceSum of the gradient over the rows
  int64_t bias_axis = 0;     // ... over this axis
  bool forward_loss = true;  // the SoftmaxCrossEntropy node itself
  DType dtype = proto::DT_FLOAT;
};

// logits -> loss (an output), dLogits (read by a Neg, an output) and, optionally, dBias.
std::unique_ptr<Graph> Build(const LossGraph& s) {
  auto graph = std::make_unique<Graph>();
  Graph& g = *graph;
  Value* logits = g.AddInput("logits", {s.dtype, {s.batch, s.classes}});
  Value* target = s.sparse ? g.AddInput("target", {proto::DT_INT64, {s.batch}})
                           : g.AddInput("target", {s.dtype, {s.batch, s.classes}});
  Attrs sparse;
  sparse.SetInt("sparse", s.sparse ? 1 : 0);
  if (s.forward_loss) g.AddOutput(g.AddNode("SoftmaxCrossEntropy", "loss", {logits, target}, 1, sparse)->output(0));
  Value* seed =
      g.AddConstant("seed", s.dtype == proto::DT_FLOAT ? Tensor::FromVector(s.dtype, {}, std::vector<float>{1.5f})
                                                       : Tensor::FromVector(s.dtype, {}, std::vector<double>{1.5}));
  Value* dx = g.AddNode("SoftmaxCrossEntropyGrad", "dx", {seed, logits, target}, 1, sparse)->output(0);
  g.AddOutput(g.AddNode("Neg", "neg", {dx})->output(0));
  if (s.bias) {
    Attrs keep;
    keep.SetInt("keepdims", 1);
    Value* axes = g.AddConstant("axes", Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{s.bias_axis}));
    g.AddOutput(g.AddNode("ReduceSum", "dbias", {dx, axes}, 1, keep)->output(0));
  }
  EXPECT_OK(RunPipeline(g, {{"infer-shapes"}}, PassOptions{}));
  return graph;
}

int CountOps(const Graph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op_type() == op;
  return n;
}

StatusOr<bool> FuseLosses(Graph& g, const Target* target = &DefaultTarget()) {
  PassOptions options;
  options.target = target;
  return CreatePass("fuse-losses")->Run(g, options);
}

// Logits of every size and sign (with -inf, +inf or NaN entries where asked) and labels.
std::vector<Tensor> Inputs(const LossGraph& s, uint32_t seed, float special = 0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-8, 8);
  Tensor logits = Tensor(proto::DT_FLOAT, {s.batch, s.classes});
  for (int64_t i = 0; i < logits.num_elements(); ++i) logits.mutable_data_as<float>()[i] = u(rng);
  if (special != 0 || std::isnan(special)) {  // sample 1's second logit, or the only one
    logits.mutable_data_as<float>()[std::min(s.classes + 1, logits.num_elements() - 1)] = special;
  }
  Tensor target;
  if (s.sparse) {
    target = Tensor(proto::DT_INT64, {s.batch});
    for (int64_t n = 0; n < s.batch; ++n) target.mutable_data_as<int64_t>()[n] = (n * 7 + 3) % s.classes;
  } else {
    target = Tensor(proto::DT_FLOAT, {s.batch, s.classes});
    for (int64_t i = 0; i < target.num_elements(); ++i) {  // soft targets, some zero, rows not summing to 1
      target.mutable_data_as<float>()[i] = i % 3 == 0 ? 0.0f : std::fabs(u(rng)) / 8;
    }
  }
  return {logits, target};
}

// Runs the pass; whether it changed the graph (false, and a failure, on an error).
bool Fused(Graph& g, const Target* target = &DefaultTarget()) {
  auto changed = FuseLosses(g, target);
  EXPECT_OK(changed.status());
  return changed.ok() && *changed;
}

enum class Engine { kReference, kJit };

StatusOr<std::vector<Tensor>> Execute(const Graph& g, const std::vector<Tensor>& inputs, Engine engine) {
  ASSIGN_OR_RETURN(proto::Plan plan, CompileForCpu(g, {.use_onednn = false}));
  ASSIGN_OR_RETURN(auto session, engine == Engine::kJit ? LoadPlan(plan) : runtime::Session::Create(plan));
  return testing::RunOnce(*session, inputs);
}

// Relative closeness; NaN matches NaN and an infinity itself.
void ExpectClose(const std::vector<Tensor>& actual, const std::vector<Tensor>& expected, double rtol, double atol,
                 const std::string& what) {
  ASSERT_EQ(actual.size(), expected.size()) << what;
  for (size_t k = 0; k < actual.size(); ++k) {
    ASSERT_EQ(actual[k].dims(), expected[k].dims()) << what << ", output " << k;
    for (int64_t i = 0; i < actual[k].num_elements(); ++i) {
      const double a = actual[k].data_as<float>()[i], e = expected[k].data_as<float>()[i];
      if ((std::isnan(a) && std::isnan(e)) || a == e) continue;
      EXPECT_LE(std::fabs(a - e), atol + rtol * std::fabs(e))
          << what << ", output " << k << " element " << i << ": " << a << " vs " << e;
    }
  }
}

TEST(FuseLossesTest, LossGradientAndBiasGradientBecomeOneNodeThatKeepsTheNames) {
  auto graph = Build({});
  Graph& g = *graph;
  EXPECT_TRUE(Fused(g));
  EXPECT_EQ(CountOps(g, "FusedSoftmaxCrossEntropy"), 1);
  for (const char* op : {"SoftmaxCrossEntropy", "SoftmaxCrossEntropyGrad", "ReduceSum"})
    EXPECT_EQ(CountOps(g, op), 0) << op;
  const Node* fused = g.FindNode("fused/loss");
  ASSERT_NE(fused, nullptr);
  ASSERT_EQ(fused->num_outputs(), 3);
  EXPECT_EQ(fused->output(0)->name(), "loss");
  EXPECT_EQ(fused->output(1)->name(), "dx");
  EXPECT_EQ(fused->output(2)->name(), "dbias");
  EXPECT_EQ(fused->output(2)->dims(), (Dims{1, 5}));
  EXPECT_EQ(fused->attrs().GetInt("keepdims", -1), 1);
  EXPECT_OK(RunPipeline(g, {{"infer-shapes"}}, PassOptions{}));  // the node's own shape inference agrees
  // --explain-fusion says what the node is.
  std::vector<FusionDecision> decisions;
  PassOptions options;
  options.fusion_decisions = &decisions;
  EXPECT_OK(RunPipeline(g, {{"fuse-elementwise"}}, options));
  EXPECT_NE(FormatFusionDecisions(decisions).find("fused/loss (FusedSoftmaxCrossEntropy): not fused: already one "
                                                  "generated kernel: a loss, its gradient and its bias gradient"),
            std::string::npos)
      << FormatFusionDecisions(decisions);
}

TEST(FuseLossesTest, FusedKernelsMatchTheUnfusedGraph) {
  const std::vector<LossGraph> shapes = {
      {.batch = 4, .classes = 5},
      {.batch = 7, .classes = 13, .sparse = false},
      {.batch = 64, .classes = 10},
      {.batch = 3, .classes = 1000, .sparse = false},
      {.batch = 5, .classes = 37, .bias = false},
      {.batch = 1, .classes = 1},
  };
  for (const LossGraph& s : shapes) {
    for (float special : {0.0f, -kInf, kInf, kNan}) {
      const std::string what = std::string(s.sparse ? "sparse" : "dense") + " [" + std::to_string(s.batch) + ", " +
                               std::to_string(s.classes) + "], special logit " + std::to_string(special);
      const auto unfused_graph = Build(s), fused_graph = Build(s);
      const Graph& unfused = *unfused_graph;
      Graph& fused = *fused_graph;
      ASSERT_TRUE(Fused(fused)) << what;
      const std::vector<Tensor> inputs = Inputs(s, 17 + s.classes, special);
      auto expected_or = Execute(unfused, inputs, Engine::kReference);
      ASSERT_OK(expected_or.status());
      auto expected = *expected_or;
      auto interpreted_or = Execute(fused, inputs, Engine::kReference);
      ASSERT_OK(interpreted_or.status());
      auto interpreted = *interpreted_or;
      auto generated_or = Execute(fused, inputs, Engine::kJit);
      ASSERT_OK(generated_or.status());
      auto generated = *generated_or;
      ExpectClose(interpreted, expected, 0, 0, what + ", reference kernel");
      // float32 against the reference's double: softmax * sum(t) - t cancels where the two are
      // close, so the absolute error is that of the terms (O(1) here), not of the difference.
      ExpectClose(generated, expected, 2e-5, 2e-6, what + ", generated kernel");
    }
  }
}

TEST(FuseLossesTest, LabelsOutOfRangeAreAnError) {
  const LossGraph s{.batch = 3, .classes = 4};
  auto graph = Build(s);
  Graph& g = *graph;
  ASSERT_OK(FuseLosses(g).status());
  std::vector<Tensor> inputs = Inputs(s, 1);
  for (int64_t label : {int64_t{4}, int64_t{-1}}) {
    inputs[1].mutable_data_as<int64_t>()[2] = label;
    for (Engine engine : {Engine::kReference, Engine::kJit}) {
      auto out = Execute(g, inputs, engine);
      ASSERT_FALSE(out.ok());
      EXPECT_NE(out.status().message().find("label " + std::to_string(label) + " of sample 2 is out of range [0, 4)"),
                std::string::npos)
          << out.status().message();
    }
  }
}

// A target whose kernels are not generated on the CPU (as CUDA's): nothing to fuse into.
class NoReductionsTarget final : public Target {
 public:
  const char* name() const override { return "no-reductions"; }
  std::string PostOpFusionUnsupportedReason(const Node& n) const override {
    return DefaultTarget().PostOpFusionUnsupportedReason(n);
  }
  Layout RegionLayout() const override { return proto::LAYOUT_PLAIN; }
  std::string LayoutUnsupportedReason(const Node& n, const std::vector<Layout>& in,
                                      const std::vector<Layout>& out) const override {
    return DefaultTarget().LayoutUnsupportedReason(n, in, out);
  }
};

TEST(FuseLossesTest, LeavesAloneWhatItCannotFuse) {
  struct Case {
    std::string name;
    LossGraph shape;
    const Target* target;
  };
  static const NoReductionsTarget no_reductions;
  const std::vector<Case> cases = {
      {"float64 logits", {.dtype = proto::DT_DOUBLE}, &DefaultTarget()},
      {"a gradient without its loss", {.forward_loss = false}, &DefaultTarget()},
      {"a target without generated reductions", {}, &no_reductions},
  };
  for (const Case& c : cases) {
    auto graph = Build(c.shape);
    Graph& g = *graph;
    const int before = g.num_nodes();
    EXPECT_FALSE(Fused(g, c.target)) << c.name;
    EXPECT_EQ(g.num_nodes(), before) << c.name;
    EXPECT_EQ(CountOps(g, "FusedSoftmaxCrossEntropy"), 0) << c.name;
  }
  // A ReduceSum over the classes is no bias gradient: the loss fuses, the sum stays.
  auto graph = Build({.bias_axis = 1});
  Graph& g = *graph;
  EXPECT_TRUE(Fused(g));
  EXPECT_EQ(CountOps(g, "ReduceSum"), 1);
  EXPECT_EQ(g.FindNode("fused/loss")->num_outputs(), 2);
}

// Not a pass/fail figure (ctest -V): the generated function alone, called directly, next to
// the three unfused reference kernels (a session's profile of the same graph without fusion).
TEST(FuseLossesTest, TimesTheFusedKernel) {
  const LossGraph s{.batch = 64, .classes = 10};
  std::vector<Tensor> inputs = Inputs(s, 3);
  auto fused = Build(s);
  ASSERT_OK(FuseLosses(*fused).status());
  auto plan = CompileForCpu(*fused, {.use_onednn = false});
  ASSERT_OK(plan.status());
  const proto::Step* step = nullptr;
  for (const proto::Step& st : plan->step()) step = st.op_type() == "FusedSoftmaxCrossEntropy" ? &st : step;
  ASSERT_NE(step, nullptr);
  auto kernels = codegen::JitCompileKernels(*plan);
  ASSERT_OK(kernels.status());
  KilnKernelFn fn = (*kernels)->Find(Attrs(step->attribute()).GetString("symbol", ""));
  ASSERT_NE(fn, nullptr);
  const float dloss = 1.5f;
  float loss = 0;
  std::vector<float> dx(s.batch * s.classes), dbias(s.classes);
  void* buffers[] = {
      const_cast<float*>(&dloss), inputs[0].MutableData(), inputs[1].MutableData(), &loss, dx.data(), dbias.data()};
  double best = 1e30;
  for (int round = 0; round < 5; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 1000; ++i) fn(buffers, 0, 1);
    best = std::min(best, std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  }
  EXPECT_TRUE(std::isfinite(loss));
  std::printf("[ loss [64, 10], sparse, with the bias gradient ] generated kernel %.3f us per call\n", best / 1000);
}

}  // namespace
}  // namespace kiln
