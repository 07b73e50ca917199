// fuse-layer-norm: an exported layer norm (ReduceMean, Sub, Pow 2, ReduceMean, Add epsilon,
// Sqrt, Div [, Mul scale] [, Add bias]) becomes one LayerNormalization with the same results
// (reference kernels and oneDNN's); graphs it must leave alone: another axis, another
// exponent, the centred value read elsewhere, a scale per row instead of per feature.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

constexpr int64_t kRows = 6, kFeatures = 16;

struct Options {
  int64_t axis = -1;
  bool axes_as_input = false;  // opset 18's ReduceMean
  float exponent = 2.0f;
  bool scale = true, bias = true;
  bool centred_read_elsewhere = false;
  bool scale_per_row = false;
};

Value* Mean(Graph& g, Value* v, const Options& o, const std::string& name) {
  if (o.axes_as_input) {
    Value* axes = g.AddConstant(name + "_axes", Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{o.axis}));
    return g.AddNode("ReduceMean", name, {v, axes})->output(0);
  }
  Attrs a;
  a.SetInts("axes", {o.axis});
  return g.AddNode("ReduceMean", name, {v}, 1, a)->output(0);
}

Value* Scalar(Graph& g, const std::string& name, float v) {
  return g.AddConstant(name, Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v}));
}

// x [2, kRows, kFeatures] -> the exporter's layer norm -> output.
void Build(Graph& g, const Options& o) {
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, kRows, kFeatures}});
  Value* d = g.AddNode("Sub", "sub", {x, Mean(g, x, o, "mean")})->output(0);
  Value* sq = g.AddNode("Pow", "pow", {d, Scalar(g, "two", o.exponent)})->output(0);
  Value* ve = g.AddNode("Add", "add_eps", {Mean(g, sq, o, "var"), Scalar(g, "eps", 1e-5f)})->output(0);
  Value* y = g.AddNode("Div", "div", {d, g.AddNode("Sqrt", "sqrt", {ve})->output(0)})->output(0);
  if (o.scale) {
    const Dims dims = o.scale_per_row ? Dims{kRows, 1} : Dims{kFeatures};
    y = g.AddNode("Mul", "mul", {y, g.AddConstant("gamma", RandomTensor(dims, 5, 0.5f, 1.5f))})->output(0);
  }
  if (o.bias) y = g.AddNode("Add", "add_bias", {y, g.AddConstant("beta", RandomTensor({kFeatures}, 6))})->output(0);
  g.AddOutput(y);
  if (o.centred_read_elsewhere) g.AddOutput(g.AddNode("Relu", "other", {d})->output(0));
}

TEST(FuseLayerNormTest, BecomesOneLayerNormalizationWithTheSameResults) {
  Options plain, input_axes, no_bias, no_affine, positive_axis;
  input_axes.axes_as_input = true;
  no_bias.bias = false;
  no_affine.scale = no_affine.bias = false;
  positive_axis.axis = 2;
  for (const Options& o : {plain, input_axes, no_bias, no_affine, positive_axis}) {
    Graph g;
    Build(g, o);
    auto original = InferAndClone(g);
    ExpectPassChanges(g, "fuse-layer-norm", true);
    ASSERT_OK(Verify(g));
    EXPECT_EQ(CountOps(g, "LayerNormalization"), 1);
    EXPECT_EQ(CountOps(g, "ReduceMean"), 0);
    EXPECT_EQ(g.nodes().size(), 1u) << "every member of the pattern is gone";
    const Node& norm = *g.nodes().front();
    EXPECT_EQ(norm.input(0), g.inputs()[0]);
    EXPECT_EQ(norm.num_inputs(), o.bias ? 3 : 2);
    EXPECT_FLOAT_EQ(norm.attrs().GetFloat("epsilon", 0), 1e-5f);
    EXPECT_EQ(g.outputs()[0]->name(), original->outputs()[0]->name()) << "the output keeps its name";
    ExpectSameResults(*original, g, 1e-5, 1e-5);
    // oneDNN's layer normalization (float statistics) against the reference of the original.
    const std::vector<Tensor> inputs = RandomInputs(*original);
    const Tensor expected = Execute(*original, inputs).at(0);
    EXPECT_EQ(CompareTensors(Execute(g, inputs, /*use_onednn=*/true).at(0), expected, 1e-5, 1e-5), "");
  }
}

TEST(FuseLayerNormTest, LeavesOtherGraphsAlone) {
  Options other_axis, cube, elsewhere, per_row;
  other_axis.axis = 1;
  cube.exponent = 3.0f;
  elsewhere.centred_read_elsewhere = true;
  per_row.scale_per_row = true;
  for (const Options& o : {other_axis, cube, elsewhere}) {
    Graph g;
    Build(g, o);
    ASSERT_OK(RunOnePass(g, "infer-shapes").status());
    ExpectPassLeavesAlone(g, "fuse-layer-norm");
  }
  // A scale per row is no LayerNormalization Scale: the normalization fuses, the Mul stays.
  Graph g;
  Build(g, per_row);
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "fuse-layer-norm", true);
  EXPECT_EQ(CountOps(g, "LayerNormalization"), 1);
  EXPECT_EQ(CountOps(g, "Mul"), 1);
  ExpectSameResults(*original, g, 1e-5, 1e-5);
}

}  // namespace
}  // namespace kiln
