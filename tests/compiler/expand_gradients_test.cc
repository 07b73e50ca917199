// expand-gradients: an ONNX Gradient node becomes autodiff's backward graph, its outputs
// keep their names and hold the derivatives (checked numerically); graphs without one are
// left alone; a non-scalar y and outputs that feed other nodes are clear errors.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

Attrs GradientAttrs(const std::vector<std::string>& xs, const std::string& y) {
  Attrs a;
  a.SetStrings("xs", xs);
  a.SetString("y", y);
  return a;
}

Tensor Scalar(float v) { return Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v}); }

// d = (a + b) * a: dd/da = 2a + b, dd/db = a; `unused` does not reach d (zeros).
TEST(ExpandGradientsTest, ReplacesTheNodeByTheBackwardGraph) {
  Graph g;
  Value* a = g.AddInput("a", {proto::DT_FLOAT, {}});
  Value* b = g.AddInput("b", {proto::DT_FLOAT, {}});
  Value* unused = g.AddInput("unused", {proto::DT_FLOAT, {2}});
  Value* c = g.AddNode("Add", "c", {a, b})->output(0);
  Value* d = g.AddNode("Mul", "d", {c, a}, 1, {}, {"d"})->output(0);
  Node* grad = g.AddNode("Gradient", "grad", {a, b, unused}, 3, GradientAttrs({"a", "b", "unused"}, "d"),
                         {"dd_da", "dd_db", "dd_dunused"});
  g.AddOutput(d);
  for (Value* out : grad->outputs()) g.AddOutput(out);
  ASSERT_OK(RunOnePass(g, "infer-shapes").status());
  ExpectPassChanges(g, "expand-gradients", true);
  EXPECT_EQ(CountOps(g, "Gradient"), 0);
  ASSERT_OK(Verify(g));
  EXPECT_EQ(g.outputs()[1]->name(), "dd_da");
  EXPECT_EQ(g.outputs()[2]->name(), "dd_db");
  EXPECT_EQ(g.outputs()[3]->name(), "dd_dunused");
  const std::vector<Tensor> r = Execute(g, {Scalar(3), Scalar(-2), RandomTensor({2}, 1)});
  ASSERT_EQ(r.size(), 4u);
  EXPECT_FLOAT_EQ(r[0].data_as<float>()[0], 3.0f);  // (3 - 2) * 3
  EXPECT_FLOAT_EQ(r[1].data_as<float>()[0], 4.0f);  // 2 * 3 - 2
  EXPECT_FLOAT_EQ(r[2].data_as<float>()[0], 3.0f);  // a
  EXPECT_EQ(r[3].dims(), (Dims{2}));
  EXPECT_EQ(r[3].data_as<float>()[0] + r[3].data_as<float>()[1], 0.0f);
}

TEST(ExpandGradientsTest, LeavesGraphsWithoutGradientAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2}});
  g.AddOutput(g.AddNode("Relu", "r", {x})->output(0));
  ExpectPassLeavesAlone(g, "expand-gradients");
}

TEST(ExpandGradientsTest, RefusesANonScalarYAndOutputsThatFeedNodes) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2}});
  g.AddNode("Relu", "y", {x}, 1, {}, {"y"});
  Node* grad = g.AddNode("Gradient", "grad", {x}, 1, GradientAttrs({"x"}, "y"), {"dy_dx"});
  g.AddOutput(grad->output(0));
  ASSERT_OK(RunOnePass(g, "infer-shapes").status());
  auto r = RunOnePass(g, "expand-gradients");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("y 'y' must be a float scalar, got float32[2]"), std::string::npos)
      << r.status().message();

  Graph h;
  Value* a = h.AddInput("a", {proto::DT_FLOAT, {}});
  h.AddNode("Mul", "s", {a, a}, 1, {}, {"s"});
  Node* ga = h.AddNode("Gradient", "ga", {a}, 1, GradientAttrs({"a"}, "s"), {"ds_da"});
  h.AddOutput(h.AddNode("Relu", "relu", {ga->output(0)})->output(0));
  ASSERT_OK(RunOnePass(h, "infer-shapes").status());
  r = RunOnePass(h, "expand-gradients");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("its outputs may only be graph outputs"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace kiln
