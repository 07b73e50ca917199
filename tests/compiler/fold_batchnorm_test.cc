// fold-batchnorm: inference BN after Conv / MatMul(+bias) / Gemm disappears into
// the weights and bias; BNs that cannot fold stay.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

// BN parameters for `c` channels: scale, bias, mean, and a positive variance.
std::vector<Value*> BnParams(Graph& g, const std::string& name, int64_t c, uint32_t seed) {
  return {g.AddConstant(name + "_scale", RandomTensor({c}, seed, 0.5f, 1.5f)),
          g.AddConstant(name + "_bias", RandomTensor({c}, seed + 1)),
          g.AddConstant(name + "_mean", RandomTensor({c}, seed + 2)),
          g.AddConstant(name + "_var", RandomTensor({c}, seed + 3, 0.2f, 2.0f))};
}

Value* AddBn(Graph& g, const std::string& name, Value* x, int64_t c, uint32_t seed, const std::string& out = "") {
  std::vector<Value*> ins = {x};
  for (Value* p : BnParams(g, name, c, seed)) ins.push_back(p);
  Attrs a;
  a.SetFloat("epsilon", 1e-3f);
  return g
      .AddNode("BatchNormalization", name, ins, 1, a,
               out.empty() ? std::vector<std::string>{} : std::vector<std::string>{out})
      ->output(0);
}

Node* AddConv(Graph& g, const std::string& name, Value* x, int64_t in_c, int64_t out_c, bool bias, int64_t group = 1) {
  Attrs a;
  a.SetInts("kernel_shape", {3, 3});
  a.SetInt("group", group);
  std::vector<Value*> ins = {x, g.AddConstant(name + "_w", RandomTensor({out_c, in_c / group, 3, 3}, 11))};
  if (bias) ins.push_back(g.AddConstant(name + "_b", RandomTensor({out_c}, 12)));
  return g.AddNode("Conv", name, ins, 1, a);
}

TEST(FoldBatchNormTest, FoldsIntoConvWithAndWithoutBias) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 4, 7, 7}});
  Value* a = AddBn(g, "bn1", AddConv(g, "conv1", x, 4, 6, true)->output(0), 6, 20);
  a = g.AddNode("Relu", "relu", {a})->output(0);
  // A grouped conv without bias whose BN output is the graph output (its name must stay).
  g.AddOutput(AddBn(g, "bn2", AddConv(g, "conv2", a, 6, 6, false, 3)->output(0), 6, 30, "y"));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "fold-batchnorm", true);
  EXPECT_EQ(CountOps(g, "BatchNormalization"), 0);
  EXPECT_EQ(CountOps(g, "Conv"), 2);
  EXPECT_EQ(g.num_nodes(), 3);
  for (const auto& n : g.nodes()) {
    if (n->op_type() == "Conv") {
      EXPECT_NE(n->input(2), nullptr) << "the folded conv has a bias";
    }
  }
  ExpectSameResults(*original, g, 1e-4, 1e-4);
}

TEST(FoldBatchNormTest, FoldsIntoMatMulBiasAndGemm) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {3, 8}});
  Value* h = g.AddNode("MatMul", "fc1", {x, g.AddConstant("w1", RandomTensor({8, 5}, 1))})->output(0);
  h = g.AddNode("Add", "fc1_bias", {h, g.AddConstant("b1", RandomTensor({5}, 2))})->output(0);
  h = AddBn(g, "bn1", h, 5, 40);
  Attrs gemm;
  gemm.SetInt("transB", 1);
  gemm.SetFloat("beta", 0.5f);
  Value* h2 =
      g.AddNode("Gemm", "fc2",
                {h, g.AddConstant("w2", RandomTensor({4, 5}, 3)), g.AddConstant("b2", RandomTensor({4}, 4))}, 1, gemm)
          ->output(0);
  g.AddOutput(AddBn(g, "bn2", h2, 4, 50));
  Value* plain = g.AddNode("MatMul", "fc3", {x, g.AddConstant("w3", RandomTensor({8, 5}, 5))})->output(0);
  g.AddOutput(AddBn(g, "bn3", plain, 5, 60));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "fold-batchnorm", true);
  EXPECT_EQ(CountOps(g, "BatchNormalization"), 0);
  EXPECT_EQ(CountOps(g, "MatMul"), 2);
  EXPECT_EQ(CountOps(g, "Gemm"), 1);
  ExpectSameResults(*original, g, 1e-4, 1e-4);
}

TEST(FoldBatchNormTest, LeavesUnfoldableBatchNormsAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 6, 6}});
  // The conv output has a second reader, which needs the un-normalized values.
  Value* c = AddConv(g, "conv", x, 4, 4, true)->output(0);
  g.AddOutput(AddBn(g, "bn_shared", c, 4, 1));
  g.AddOutput(g.AddNode("Relu", "other_reader", {c})->output(0));
  // Statistics that are graph inputs are not known at compile time.
  Value* mean = g.AddInput("mean", {proto::DT_FLOAT, {4}});
  Value* c2 = AddConv(g, "conv2", x, 4, 4, true)->output(0);
  std::vector<Value*> params = BnParams(g, "bn_in", 4, 5);
  params[2] = mean;
  std::vector<Value*> ins = {c2};
  ins.insert(ins.end(), params.begin(), params.end());
  g.AddOutput(g.AddNode("BatchNormalization", "bn_in", ins)->output(0));
  // BN after an op it cannot fold into.
  g.AddOutput(AddBn(g, "bn_relu", g.AddNode("Relu", "r", {x})->output(0), 4, 9));
  ExpectPassLeavesAlone(g, "fold-batchnorm");
  EXPECT_EQ(CountOps(g, "BatchNormalization"), 3);
}

}  // namespace
}  // namespace kiln
