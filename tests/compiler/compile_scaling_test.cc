// Compile time grows (near) linearly with graph size: a graph 8 times larger must
// compile in well under 64 times the time (what a quadratic pass would take). The
// shapes cover each pass's worst case: a chain of one fusable op (one huge fusion
// group, capped per kernel), elementwise runs broken by MatMuls (many groups, CSE and
// post-op fusion), and a wide fan-out/fan-in (values with many users). The full-size
// figures (100k and 1M nodes) are bench/compile_scaling.sh's.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>

#include "compiler/compile.h"
#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers
using GraphBuilder = std::function<void(Graph&, int)>;

void ReluChain(Graph& g, int n) {
  Value* v = g.AddInput("x", {proto::DT_FLOAT, {1, 16}});
  for (int i = 0; i < n; ++i) v = g.AddNode("Relu", "relu" + std::to_string(i), {v})->output(0);
  g.AddOutput(v);
}

void ElementwiseRunsBetweenMatMuls(Graph& g, int n) {
  Value* v = g.AddInput("x", {proto::DT_FLOAT, {4, 8}});
  Value* w = g.AddConstant("w", RandomTensor({8, 8}, 1));
  Value* b = g.AddConstant("b", RandomTensor({8}, 2));
  const char* ops[] = {"Tanh", "Sigmoid", "Relu", "Neg", "Abs", "Exp", "Sqrt"};
  for (int i = 0; i < n; ++i) {
    const std::string name = "n" + std::to_string(i);
    if (i % 8 == 0) {
      v = g.AddNode("MatMul", name, {v, w})->output(0);
    } else if (i % 8 == 1) {
      v = g.AddNode("Add", name, {v, b})->output(0);
    } else {
      v = g.AddNode(ops[i % 7], name, {v})->output(0);
    }
  }
  g.AddOutput(v);
}

void FanOutFanIn(Graph& g, int n) {
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 8}});
  Value* h = g.AddNode("MatMul", "mm", {x, g.AddConstant("w", RandomTensor({8, 8}, 3))})->output(0);
  std::vector<Value*> level;
  for (int i = 0; i < n / 2; ++i) level.push_back(g.AddNode("Tanh", "t" + std::to_string(i), {h})->output(0));
  int k = 0;
  while (level.size() > 1) {
    std::vector<Value*> next;
    for (size_t i = 0; i + 1 < level.size(); i += 2) {
      next.push_back(g.AddNode("Add", "a" + std::to_string(k++), {level[i], level[i + 1]})->output(0));
    }
    if (level.size() % 2) next.push_back(level.back());
    level = std::move(next);
  }
  g.AddOutput(level[0]);
}

// The fastest of three compiles (the inference pipeline and lowering), in seconds.
double CompileSeconds(const GraphBuilder& build, int n) {
  double best = 1e9;
  for (int rep = 0; rep < 3; ++rep) {
    Graph g;
    build(g, n);
    const auto start = std::chrono::steady_clock::now();
    auto plan = CompileToPlan(g);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    best = std::min(best, s);
  }
  return best;
}

void ExpectNearLinear(const char* what, const GraphBuilder& build) {
  constexpr int kSmall = 2000, kFactor = 8;
  const double small = CompileSeconds(build, kSmall);
  const double large = CompileSeconds(build, kSmall * kFactor);
  // Linear is 8x, n log n about 10x, quadratic 64x; the bound leaves room for cache
  // effects and a busy machine while still failing any quadratic pass.
  const double ratio = large / std::max(small, 1e-4);
  ::testing::Test::RecordProperty("ratio", std::to_string(ratio));
  std::printf("%s: %d nodes %.3f s, %d nodes %.3f s (x%.1f)\n", what, kSmall, small, kSmall * kFactor, large, ratio);
  EXPECT_LT(ratio, 24.0) << what << ": compile time grows faster than linearly (" << small << " s for " << kSmall
                         << " nodes, " << large << " s for " << kSmall * kFactor << ")";
}

TEST(CompileScaling, ReluChain) { ExpectNearLinear("relu chain", ReluChain); }
TEST(CompileScaling, ElementwiseRunsBetweenMatMuls) {
  ExpectNearLinear("elementwise runs between MatMuls", ElementwiseRunsBetweenMatMuls);
}
TEST(CompileScaling, FanOutFanIn) { ExpectNearLinear("fan-out/fan-in", FanOutFanIn); }

// A chain longer than one kernel takes becomes several fused kernels, each capped.
TEST(CompileScaling, LongChainsSplitIntoBoundedKernels) {
  Graph g;
  ReluChain(g, 3000);
  auto plan = CompileToPlan(g);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  int fused = 0;
  for (const Node* n : g.NodeList()) {
    if (n->op_type() == "FusedElementwise") ++fused;
  }
  EXPECT_EQ(g.num_nodes(), 3);  // 1024 + 1024 + 952 Relus
  EXPECT_EQ(fused, 3);
}

}  // namespace
}  // namespace kiln
