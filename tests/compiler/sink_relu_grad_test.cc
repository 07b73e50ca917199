// sink-relu-grad: a Relu -> MaxPool's backward masks the pooled gradient (P > 0) before
// routing it instead of masking the routed one (Y > 0): fewer elements, the same dX, for
// non-overlapping and overlapping windows; other relu gradients are left alone.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

Attrs PoolAttrs(const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                const std::vector<int64_t>& pads) {
  Attrs a;
  a.SetInts("kernel_shape", kernel);
  a.SetInts("strides", strides);
  a.SetInts("pads", pads);
  return a;
}

// X -> Relu -> MaxPool (output P) and the backward of dP: EltwiseGrad{relu}(MaxPoolGrad(dP, Y), Y).
struct ReluPool {
  Graph g;
  Value *y = nullptr, *p = nullptr;
};
void Build(ReluPool* m, const Dims& x_dims, const Dims& p_dims, const Attrs& pool, const Attrs& grad_pool) {
  Graph& g = m->g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, x_dims});
  Value* dp = g.AddInput("dp", {proto::DT_FLOAT, p_dims});
  m->y = g.AddNode("Relu", "relu", {x})->output(0);
  m->p = g.AddNode("MaxPool", "pool", {m->y}, 1, pool)->output(0);
  Value* routed = g.AddNode("MaxPoolGrad", "pool/grad", {dp, m->y}, 1, grad_pool)->output(0);
  Attrs relu;
  relu.SetString("function", "relu");
  g.AddOutput(m->p);
  g.AddOutput(g.AddNode("EltwiseGrad", "relu/grad", {routed, m->y}, 1, relu)->output(0));
}

TEST(SinkReluGradTest, MasksThePooledGradientAndGivesTheSameDx) {
  for (const auto& [pool, x_dims, p_dims] : std::vector<std::tuple<Attrs, Dims, Dims>>{
           {PoolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}), {2, 3, 8, 6}, {2, 3, 4, 3}},
           {PoolAttrs({3, 3}, {2, 2}, {1, 1, 1, 1}), {1, 2, 7, 7}, {1, 2, 4, 4}}}) {
    ReluPool m;
    Build(&m, x_dims, p_dims, pool, pool);
    auto original = InferAndClone(m.g);
    ExpectPassChanges(m.g, "sink-relu-grad", true);
    ASSERT_OK(Verify(m.g));
    int masks = 0;
    for (const auto& n : m.g.nodes()) {
      if (n->op_type() == "EltwiseGrad") {
        ++masks;
        EXPECT_EQ(n->input(1), m.p) << "the mask reads the pooled output";
        EXPECT_EQ(n->output(0)->dims(), p_dims);
      }
      if (n->op_type() == "MaxPoolGrad") {
        EXPECT_EQ(n->input(0)->producer()->op_type(), "EltwiseGrad");
      }
    }
    EXPECT_EQ(masks, 1);
    ExpectSameResults(*original, m.g);
  }
}

TEST(SinkReluGradTest, LeavesOtherGradientsAlone) {
  // The gradient pool's attributes differ from every forward MaxPool of Y's.
  ReluPool other_pool;
  Build(&other_pool, {1, 2, 8, 8}, {1, 2, 4, 4}, PoolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0}),
        PoolAttrs({3, 3}, {2, 2}, {1, 1, 0, 0}));
  ExpectPassLeavesAlone(other_pool.g, "sink-relu-grad");
  // The mask reads X (not a Relu's output): X > 0 is not what the pooled Y says.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 2, 8, 8}});
  Value* dp = g.AddInput("dp", {proto::DT_FLOAT, {1, 2, 4, 4}});
  const Attrs pool = PoolAttrs({2, 2}, {2, 2}, {0, 0, 0, 0});
  g.AddOutput(g.AddNode("MaxPool", "pool", {x}, 1, pool)->output(0));
  Value* routed = g.AddNode("MaxPoolGrad", "pool/grad", {dp, x}, 1, pool)->output(0);
  Attrs relu;
  relu.SetString("function", "relu");
  g.AddOutput(g.AddNode("EltwiseGrad", "mask", {routed, x}, 1, relu)->output(0));
  ExpectPassLeavesAlone(g, "sink-relu-grad");
}

}  // namespace
}  // namespace kiln
