// fold-constants: all-constant nodes become constants (bounded by
// max_fold_elements); nodes that read run-time values stay.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

TEST(FoldConstantsTest, FoldsConstantSubgraphsAndMatchesUnfolded) {
  // x + tanh(c1 * c2) - c3: the constant part folds into one constant.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {3, 4}});
  Value* c =
      g.AddNode("Mul", "mul", {g.AddConstant("c1", RandomTensor({3, 4}, 1)), g.AddConstant("c2", RandomTensor({4}, 2))})
          ->output(0);
  c = g.AddNode("Tanh", "tanh", {c})->output(0);
  Value* y = g.AddNode("Add", "add", {x, c})->output(0);
  g.AddOutput(g.AddNode("Sub", "sub", {y, g.AddConstant("c3", RandomTensor({1}, 3))})->output(0));
  auto original = InferAndClone(g);
  ASSERT_EQ(g.num_nodes(), 4) << "infer-shapes with a zero limit folds nothing";

  ExpectPassChanges(g, "fold-constants", true);
  ASSERT_EQ(g.num_nodes(), 2);
  EXPECT_TRUE(g.nodes().front()->input(1)->is_constant());
  ExpectSameResults(*original, g);
}

TEST(FoldConstantsTest, RespectsTheSizeLimitAndRunTimeValues) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {8}});
  Value* big = g.AddNode("Relu", "big", {g.AddConstant("c", RandomTensor({8}, 1))})->output(0);
  g.AddOutput(g.AddNode("Add", "add", {x, big})->output(0));
  ASSERT_OK(RunOnePass(g, "infer-shapes", {.max_fold_elements = 0}).status());
  ExpectPassChanges(g, "fold-constants", false, {.max_fold_elements = 4});
  EXPECT_EQ(g.num_nodes(), 2);
}

}  // namespace
}  // namespace kiln
