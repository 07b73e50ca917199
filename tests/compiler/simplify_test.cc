// simplify: algebraic identities and reshape chains disappear; rewrites that
// would change a value's type, or a graph's interface, do not happen.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

Value* Filled(Graph& g, const std::string& name, const Dims& dims, float v) {
  return g.AddConstant(name, Tensor::FromVector(proto::DT_FLOAT, dims, std::vector<float>(ElementCount(dims), v)));
}

Value* Shape(Graph& g, const std::string& name, const std::vector<int64_t>& dims) {
  return g.AddConstant(name, Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(dims.size())}, dims));
}

TEST(SimplifyTest, RemovesIdentitiesAndCancellingReshapes) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 4}});
  Value* v = g.AddNode("Add", "add0", {x, Filled(g, "zeros", {4}, 0)})->output(0);
  v = g.AddNode("Mul", "mul1", {Filled(g, "ones", {1, 1, 4}, 1), v})->output(0);
  v = g.AddNode("Sub", "sub0", {v, Filled(g, "zero", {}, 0)})->output(0);
  v = g.AddNode("Div", "div1", {v, Filled(g, "one", {1}, 1)})->output(0);
  v = g.AddNode("Identity", "id", {v})->output(0);
  v = g.AddNode("Dropout", "drop", {v, Filled(g, "ratio", {}, 0.5f)})->output(0);
  Attrs to_float;
  to_float.SetInt("to", proto::DT_FLOAT);
  v = g.AddNode("Cast", "cast", {v}, 1, to_float)->output(0);
  v = g.AddNode("Reshape", "r1", {v, Shape(g, "s1", {2, 12})})->output(0);
  v = g.AddNode("Unsqueeze", "u", {v, Shape(g, "ax", {0})})->output(0);
  v = g.AddNode("Flatten", "f", {v})->output(0);  // [1, 24]
  v = g.AddNode("Reshape", "r2", {v, Shape(g, "s2", {2, 3, 4})})->output(0);
  v = g.AddNode("Relu", "relu", {v})->output(0);
  // The graph output comes from an Identity: the Relu's value takes its name.
  g.AddOutput(g.AddNode("Identity", "out", {v}, 1, {}, {"y"})->output(0));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "simplify", true);
  ASSERT_EQ(g.num_nodes(), 1);
  EXPECT_EQ(g.nodes().front()->op_type(), "Relu");
  EXPECT_EQ(g.nodes().front()->input(0), x);
  ExpectSameResults(*original, g);
  ExpectPassChanges(g, "simplify", false);  // a second run has nothing to do
}

TEST(SimplifyTest, CollapsesReshapeChainsIntoOneReshape) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 4}});
  Value* v = g.AddNode("Unsqueeze", "u", {x, Shape(g, "ax", {0})})->output(0);
  v = g.AddNode("Reshape", "r", {v, Shape(g, "s", {6, -1})})->output(0);
  v = g.AddNode("Squeeze", "sq", {g.AddNode("Reshape", "r3", {v, Shape(g, "s3", {1, 24})})->output(0)})->output(0);
  g.AddOutput(g.AddNode("Relu", "relu", {v})->output(0));
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "simplify", true);
  EXPECT_EQ(g.num_nodes(), 2);
  EXPECT_EQ(CountOps(g, "Reshape"), 1);
  ExpectSameResults(*original, g);
}

// x.mean([2, 3]) as exported (ShuffleNet's head), with and without keepdims, axes as an
// attribute or an input, becomes GlobalAveragePool (and a Reshape); a mean over other axes
// or of a 3-D tensor stays.
TEST(SimplifyTest, SpatialMeanBecomesGlobalAveragePool) {
  for (int variant = 0; variant < 3; ++variant) {
    Graph g;
    Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 5, 4, 3}});
    Attrs attrs;
    std::vector<Value*> in = {x};
    if (variant == 2) {
      in.push_back(Shape(g, "axes", {-1, 2}));
    } else {
      attrs.SetInts("axes", {2, 3});
    }
    attrs.SetInt("keepdims", variant == 1 ? 0 : 1);
    g.AddOutput(g.AddNode("ReduceMean", "mean", in, 1, attrs, {"y"})->output(0));
    auto original = InferAndClone(g);
    ExpectPassChanges(g, "simplify", true);
    EXPECT_EQ(CountOps(g, "GlobalAveragePool"), 1);
    EXPECT_EQ(CountOps(g, "ReduceMean"), 0);
    EXPECT_EQ(CountOps(g, "Reshape"), variant == 1 ? 1 : 0);
    EXPECT_EQ(g.outputs()[0]->name(), "y");
    ExpectSameResults(*original, g);
  }
  Graph g;
  Attrs channels;
  channels.SetInts("axes", {1, 2});
  g.AddOutput(
      g.AddNode("ReduceMean", "m1", {g.AddInput("x", {proto::DT_FLOAT, {2, 5, 4, 3}})}, 1, channels)->output(0));
  Attrs last;
  last.SetInts("axes", {2});
  g.AddOutput(g.AddNode("ReduceMean", "m2", {g.AddInput("t", {proto::DT_FLOAT, {2, 5, 4}})}, 1, last)->output(0));
  ASSERT_OK(RunOnePass(g, "infer-shapes").status());
  ExpectPassLeavesAlone(g, "simplify");
}

TEST(SimplifyTest, LeavesTypeChangingAndInterfaceRewritesAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {3}});
  // x + zeros[2, 3] broadcasts: the result is not x.
  g.AddOutput(g.AddNode("Add", "bcast", {x, Filled(g, "z", {2, 3}, 0)})->output(0));
  g.AddOutput(g.AddNode("Mul", "times2", {x, Filled(g, "two", {}, 2)})->output(0));
  Attrs to_double;
  to_double.SetInt("to", proto::DT_DOUBLE);
  g.AddOutput(g.AddNode("Cast", "widen", {x}, 1, to_double)->output(0));
  // Identity from input to output: removing it would rename an output or an input.
  g.AddOutput(g.AddNode("Identity", "passthrough", {x}, 1, {}, {"same"})->output(0));
  ExpectPassLeavesAlone(g, "simplify");
}

}  // namespace
}  // namespace kiln
