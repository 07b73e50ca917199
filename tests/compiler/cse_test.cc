// cse: repeated computations and equal small constants are shared; nodes that
// differ in an input, an attribute or are random stay apart.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

TEST(CseTest, SharesRepeatedNodesAndEqualConstants) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 5}});
  // Two equal constants (by content), two equal Adds of them, two equal Relus of those.
  Value* a1 = g.AddNode("Add", "a1", {x, g.AddConstant("k1", RandomTensor({5}, 7))})->output(0);
  Value* a2 = g.AddNode("Add", "a2", {x, g.AddConstant("k2", RandomTensor({5}, 7))})->output(0);
  Attrs alpha;
  alpha.SetFloat("alpha", 0.2f);
  Value* r1 = g.AddNode("LeakyRelu", "r1", {a1}, 1, alpha)->output(0);
  Value* r2 = g.AddNode("LeakyRelu", "r2", {a2}, 1, alpha)->output(0);
  g.AddOutput(g.AddNode("Mul", "m", {r1, r2})->output(0));
  // Both are graph outputs: each keeps its own name, so neither can be replaced.
  g.AddOutput(g.AddNode("Sigmoid", "s1", {x})->output(0));
  g.AddOutput(g.AddNode("Sigmoid", "s2", {x})->output(0));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "cse", true);
  EXPECT_EQ(CountOps(g, "Add"), 1);
  EXPECT_EQ(CountOps(g, "LeakyRelu"), 1);
  EXPECT_EQ(CountOps(g, "Sigmoid"), 2);
  ExpectSameResults(*original, g);
}

TEST(CseTest, KeepsNodesThatDifferApart) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 5}});
  Value* k1 = g.AddConstant("k1", RandomTensor({5}, 1));
  Value* k2 = g.AddConstant("k2", RandomTensor({5}, 2));
  Value* a1 = g.AddNode("Add", "a1", {x, k1})->output(0);
  Value* a2 = g.AddNode("Add", "a2", {x, k2})->output(0);  // another constant
  Attrs axis0, axis1;
  axis0.SetInt("axis", 0);
  axis1.SetInt("axis", 1);
  Value* s0 = g.AddNode("Softmax", "s0", {a1}, 1, axis0)->output(0);
  Value* s1 = g.AddNode("Softmax", "s1", {a1}, 1, axis1)->output(0);  // another attribute
  Value* sum = g.AddNode("Sum", "sum", {a1, a2, s0, s1})->output(0);
  g.AddOutput(sum);
  ExpectPassLeavesAlone(g, "cse");
}

}  // namespace
}  // namespace kiln
