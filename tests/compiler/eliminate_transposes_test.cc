// eliminate-transposes: transpose pairs compose (and vanish when they cancel),
// transposed/reshaped constants fold whatever their size, no-op reshapes go,
// transposes that move only axes of size 1 become (merged) reshapes.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

Value* Transpose(Graph& g, const std::string& name, Value* x, const std::vector<int64_t>& perm) {
  Attrs a;
  a.SetInts("perm", perm);
  return g.AddNode("Transpose", name, {x}, 1, a)->output(0);
}

TEST(EliminateTransposesTest, CancellingPairVanishesAndOthersCompose) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 4}});
  // (1, 2, 0) then (2, 0, 1) is the identity.
  Value* back = Transpose(g, "t2", Transpose(g, "t1", x, {1, 2, 0}), {2, 0, 1});
  g.AddOutput(g.AddNode("Relu", "relu", {back})->output(0));
  // (0, 2, 1) then (1, 0, 2) is one transpose (2, 0, 1).
  g.AddOutput(Transpose(g, "t4", Transpose(g, "t3", x, {0, 2, 1}), {1, 0, 2}));
  // A reshape to the shape its input has.
  Value* same =
      g.AddNode("Reshape", "noop",
                {x, g.AddConstant("s", Tensor::FromVector(proto::DT_INT64, {3}, std::vector<int64_t>{2, 3, 4}))})
          ->output(0);
  g.AddOutput(g.AddNode("Sigmoid", "sig", {same})->output(0));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "eliminate-transposes", true);
  EXPECT_EQ(CountOps(g, "Transpose"), 1);
  EXPECT_EQ(CountOps(g, "Reshape"), 0);
  EXPECT_EQ(g.num_nodes(), 3);
  for (const auto& n : g.nodes()) {
    if (n->op_type() == "Transpose") {
      EXPECT_EQ(n->input(0), x);
      EXPECT_EQ(n->attrs().GetInts("perm"), (std::vector<int64_t>{2, 0, 1}));
    }
  }
  ExpectSameResults(*original, g);
}

TEST(EliminateTransposesTest, FoldsTransposedWeightsBeyondTheFoldingLimit) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 6}});
  Value* wt = Transpose(g, "wt", g.AddConstant("w", RandomTensor({5, 6}, 1)), {1, 0});
  g.AddOutput(g.AddNode("MatMul", "mm", {x, wt})->output(0));
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "eliminate-transposes", true, {.max_fold_elements = 4});
  ASSERT_EQ(g.num_nodes(), 1);
  EXPECT_TRUE(g.nodes().front()->input(1)->is_constant());
  EXPECT_EQ(g.nodes().front()->input(1)->dims(), (Dims{6, 5}));
  ExpectSameResults(*original, g);
}

TEST(EliminateTransposesTest, TransposesOfUnitAxesBecomeReshapes) {
  Graph g;
  // A batch-first RNN exported at batch 1: [1, T, I] -> [T, 1, I], and back after a Squeeze.
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 3, 4}});
  Value* steps = Transpose(g, "in", x, {1, 0, 2});
  Value* y = g.AddNode("Unsqueeze", "u",
                       {g.AddNode("Relu", "relu", {steps})->output(0),
                        g.AddConstant("axes", Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{1}))})
                 ->output(0);  // [3, 1, 1, 4]
  Value* squeezed =
      g.AddNode("Squeeze", "sq",
                {y, g.AddConstant("axis", Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{1}))})
          ->output(0);  // [3, 1, 4]
  g.AddOutput(Transpose(g, "out", squeezed, {1, 0, 2}));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "eliminate-transposes", true);
  EXPECT_EQ(CountOps(g, "Transpose"), 0);
  // The output's transpose and the Squeeze and Unsqueeze before it are one Reshape of the Relu.
  for (const auto& n : g.nodes()) {
    if (n->op_type() == "Reshape" && n->output(0)->dims() == Dims{1, 3, 4}) {
      EXPECT_EQ(n->input(0)->producer()->op_type(), "Relu");
    }
  }
  EXPECT_EQ(CountOps(g, "Reshape"), 2);
  ExpectSameResults(*original, g);
}

TEST(EliminateTransposesTest, LeavesRealTransposesAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 4}});
  g.AddOutput(Transpose(g, "t", x, {0, 2, 1}));
  // Size-1 axes do not make a transpose of the others a reshape.
  g.AddOutput(Transpose(g, "unit", g.AddInput("z", {proto::DT_FLOAT, {2, 1, 3}}), {2, 1, 0}));
  // The inner transpose has another reader: the pair composes, the inner one stays.
  Value* inner = Transpose(g, "inner", x, {1, 0, 2});
  g.AddOutput(inner);
  g.AddOutput(g.AddNode("Relu", "relu", {inner})->output(0));
  ExpectPassLeavesAlone(g, "eliminate-transposes");
}

}  // namespace
}  // namespace kiln
