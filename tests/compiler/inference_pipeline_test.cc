// The whole inference pipeline on model-shaped graphs: a ResNet (Conv-BN-Relu,
// bottleneck blocks with residual Adds) and an MLP fuse down to oneDNN post-op
// nodes and compute what the unoptimized graph computes.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

// Builds a bottleneck ResNet the way PyTorch exports it (Conv without bias, BN, Relu).
class ResNetBuilder {
 public:
  explicit ResNetBuilder(Graph& g) : g_(g) {}

  Value* ConvBn(Value* x, int64_t in_c, int64_t out_c, int64_t k, int64_t stride, bool relu) {
    const std::string name = "conv" + std::to_string(++count_);
    Attrs a;
    a.SetInts("kernel_shape", {k, k});
    a.SetInts("strides", {stride, stride});
    a.SetInts("pads", {k / 2, k / 2, k / 2, k / 2});
    const float range = 1.0f / static_cast<float>(in_c * k * k);
    Value* w = g_.AddConstant(name + "_w", RandomTensor({out_c, in_c, k, k}, count_, -range, range * 1.2f));
    Value* y = g_.AddNode("Conv", name, {x, w}, 1, a)->output(0);
    std::vector<Value*> bn = {y, g_.AddConstant(name + "_bn_scale", RandomTensor({out_c}, count_ + 1000, 0.5f, 1.5f)),
                              g_.AddConstant(name + "_bn_bias", RandomTensor({out_c}, count_ + 2000)),
                              g_.AddConstant(name + "_bn_mean", RandomTensor({out_c}, count_ + 3000, -0.1f, 0.1f)),
                              g_.AddConstant(name + "_bn_var", RandomTensor({out_c}, count_ + 4000, 0.5f, 1.5f))};
    y = g_.AddNode("BatchNormalization", name + "_bn", bn)->output(0);
    return relu ? g_.AddNode("Relu", name + "_relu", {y})->output(0) : y;
  }

  Value* Bottleneck(Value* x, int64_t in_c, int64_t mid_c, int64_t stride) {
    const int64_t out_c = mid_c * 4;
    Value* h = ConvBn(x, in_c, mid_c, 1, 1, true);
    h = ConvBn(h, mid_c, mid_c, 3, stride, true);
    h = ConvBn(h, mid_c, out_c, 1, 1, false);
    Value* shortcut = (stride != 1 || in_c != out_c) ? ConvBn(x, in_c, out_c, 1, stride, false) : x;
    Value* sum = g_.AddNode("Add", "add" + std::to_string(count_), {h, shortcut})->output(0);
    return g_.AddNode("Relu", "relu" + std::to_string(count_), {sum})->output(0);
  }

  // ResNet-50 is Build(64, {3, 4, 6, 3}, 224, 1000).
  void Build(int64_t width, const std::vector<int>& blocks, int64_t image, int64_t classes) {
    Value* x = g_.AddInput("image", {proto::DT_FLOAT, {1, 3, image, image}});
    Value* h = ConvBn(x, 3, width, 7, 2, true);
    Attrs pool;
    pool.SetInts("kernel_shape", {3, 3});
    pool.SetInts("strides", {2, 2});
    pool.SetInts("pads", {1, 1, 1, 1});
    h = g_.AddNode("MaxPool", "pool", {h}, 1, pool)->output(0);
    int64_t in_c = width;
    for (size_t stage = 0; stage < blocks.size(); ++stage) {
      const int64_t mid_c = width << stage;
      for (int b = 0; b < blocks[stage]; ++b) {
        h = Bottleneck(h, in_c, mid_c, b == 0 && stage > 0 ? 2 : 1);
        in_c = mid_c * 4;
      }
    }
    h = g_.AddNode("GlobalAveragePool", "gap", {h})->output(0);
    h = g_.AddNode("Flatten", "flatten", {h})->output(0);
    Attrs fc;
    fc.SetInt("transB", 1);
    g_.AddOutput(g_.AddNode("Gemm", "fc",
                            {h, g_.AddConstant("fc_w", RandomTensor({classes, in_c}, 9)),
                             g_.AddConstant("fc_b", RandomTensor({classes}, 10))},
                            1, fc, {"logits"})
                     ->output(0));
  }

 private:
  Graph& g_;
  uint32_t count_ = 0;
};

// The unoptimized pipeline the comparisons start from.
Status PrepareUnoptimized(Graph& g) { return RunPipeline(g, {{"resolve-symbolic-dims"}, {"infer-shapes"}}, {}); }

TEST(InferencePipelineTest, ResNetFusesBatchNormsResidualsAndActivations) {
  Graph g;
  ResNetBuilder(g).Build(4, {1, 2, 1, 1}, 32, 10);
  auto original = g.Clone();
  ASSERT_OK(PrepareUnoptimized(*original));
  const int convs = CountOps(*original, "Conv");

  std::vector<std::string> seen;
  ASSERT_OK(PrepareForInference(g, {}, [&](const std::string& pass, const Graph&) { seen.push_back(pass); }));
  ASSERT_EQ(seen.size(), InferencePipeline().size()) << "the observer sees every pass";
  // Each stage's first block has a projection shortcut: its conv (BN folded) only feeds
  // the residual of the main branch's FusedConv, so it has no post-op of its own.
  EXPECT_EQ(CountOps(g, "Conv"), 4);
  EXPECT_EQ(CountOps(g, "FusedConv"), convs - 4);
  for (const char* gone : {"BatchNormalization", "Relu", "Add"}) EXPECT_EQ(CountOps(g, gone), 0) << gone;
  EXPECT_EQ(g.num_nodes(), convs + 4) << "plus MaxPool, GlobalAveragePool, Flatten and Gemm";
  ExpectSameResults(*original, g, 1e-4, 1e-3);
}

TEST(InferencePipelineTest, MlpFusesBiasAndActivation) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {8, 20}});
  Attrs trans_b;
  trans_b.SetInt("transB", 1);
  Value* h = g.AddNode("Gemm", "fc1",
                       {x, g.AddConstant("w1", RandomTensor({16, 20}, 1)), g.AddConstant("b1", RandomTensor({16}, 2))},
                       1, trans_b)
                 ->output(0);
  h = g.AddNode("Relu", "relu1", {h})->output(0);
  h = g.AddNode("MatMul", "fc2", {h, g.AddConstant("w2", RandomTensor({16, 10}, 3))})->output(0);
  h = g.AddNode("Add", "fc2_bias", {h, g.AddConstant("b2", RandomTensor({10}, 4))})->output(0);
  h = g.AddNode("Dropout", "drop", {h})->output(0);
  g.AddOutput(g.AddNode("Softmax", "prob", {h}, 1, {}, {"prob"})->output(0));
  auto original = g.Clone();
  ASSERT_OK(PrepareUnoptimized(*original));
  ASSERT_OK(PrepareForInference(g, {}));
  EXPECT_EQ(CountOps(g, "FusedMatMul"), 2);
  EXPECT_EQ(g.num_nodes(), 3);
  ExpectSameResults(*original, g, 1e-5, 1e-4);
}

// Not a test: ResNet-50 (batch 1, 224x224) node counts and latency with and without the
// optimization passes. Run with --gtest_also_run_disabled_tests --gtest_filter=*ResNet50*.
TEST(InferencePipelineTest, DISABLED_ResNet50LatencyReport) {
  Graph g;
  ResNetBuilder(g).Build(64, {3, 4, 6, 3}, 224, 1000);
  auto original = g.Clone();
  ASSERT_OK(RunPipeline(*original, {{"resolve-symbolic-dims"}, {"infer-shapes"}, {"dce"}}, {}));
  ASSERT_OK(PrepareForInference(g, {}));
  std::vector<std::unique_ptr<runtime::Session>> sessions;
  const Tensor input = RandomTensor(g.inputs()[0]->dims(), 1);
  for (const Graph* graph : {original.get(), &g}) {
    auto plan = CompileForCpu(*graph, {});
    ASSERT_OK(plan.status());
    auto session = runtime::Session::Create(*plan);
    ASSERT_OK(session.status());
    ASSERT_OK((*session)->SetInput(0, input.data(), input.num_bytes()));
    ASSERT_OK((*session)->Run());  // warm-up
    sessions.push_back(std::move(*session));
  }
  // Interleaved, so that load changes on the machine hit both alike.
  std::vector<double> ms[2];
  for (int i = 0; i < 15; ++i) {
    for (int s = 0; s < 2; ++s) {
      auto start = std::chrono::steady_clock::now();
      ASSERT_OK(sessions[s]->Run());
      ms[s].push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
  }
  for (auto& m : ms) std::sort(m.begin(), m.end());
  std::printf(
      "ResNet-50 (batch 1, 224x224): %d nodes -> %d nodes; median latency %.1f ms -> %.1f ms (min %.1f -> %.1f)\n",
      original->num_nodes(), g.num_nodes(), ms[0][ms[0].size() / 2], ms[1][ms[1].size() / 2], ms[0][0], ms[1][0]);
}

}  // namespace
}  // namespace kiln
