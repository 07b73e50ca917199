// fuse-postops: Conv/MatMul/Gemm chains become FusedConv/FusedMatMul that compute
// what the chain computed (reference and oneDNN kernels), and chains that cannot
// fuse are left alone.
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/backend.h"
#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

Attrs Conv3x3() {
  Attrs a;
  a.SetInts("kernel_shape", {3, 3});
  a.SetInts("pads", {1, 1, 1, 1});
  return a;
}

Value* AddConv(Graph& g, const std::string& name, Value* x, int64_t in_c, int64_t out_c, bool bias, uint32_t seed) {
  std::vector<Value*> ins = {x, g.AddConstant(name + "_w", RandomTensor({out_c, in_c, 3, 3}, seed, -0.3f, 0.3f))};
  if (bias) ins.push_back(g.AddConstant(name + "_b", RandomTensor({out_c}, seed + 1)));
  return g.AddNode("Conv", name, ins, 1, Conv3x3())->output(0);
}

TEST(FusePostOpsTest, ResidualBlockBecomesTwoFusedConvs) {
  // relu(conv2(relu(conv1(x))) + x): the ResNet basic block after BN folding.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 8, 6, 6}});
  Value* h = g.AddNode("Relu", "relu1", {AddConv(g, "conv1", x, 8, 8, true, 1)})->output(0);
  Value* sum = g.AddNode("Add", "residual", {AddConv(g, "conv2", h, 8, 8, true, 3), x})->output(0);
  g.AddOutput(g.AddNode("Relu", "relu2", {sum}, 1, {}, {"y"})->output(0));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "fuse-postops", true);
  EXPECT_EQ(g.num_nodes(), 2);
  ASSERT_EQ(CountOps(g, "FusedConv"), 2);
  const Node* second = g.nodes().back().get();
  EXPECT_EQ(second->input(3), x) << "the residual is the block's input";
  EXPECT_EQ(second->attrs().GetString("activation", ""), "Relu");
  ExpectSameResults(*original, g);
}

TEST(FusePostOpsTest, ChannelBiasAddAndEveryActivationFuse) {
  for (const char* act : {"Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Swish", "Clip"}) {
    SCOPED_TRACE(act);
    Graph g;
    Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 5, 5}});
    Value* conv = AddConv(g, "conv", x, 4, 6, false, 7);
    Value* biased = g.AddNode("Add", "bias", {conv, g.AddConstant("b", RandomTensor({1, 6, 1, 1}, 8))})->output(0);
    std::vector<Value*> act_in = {biased};
    Attrs attrs;
    if (std::string(act) == "Clip") {
      act_in.push_back(g.AddConstant("lo", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{-0.5f})));
      act_in.push_back(g.AddConstant("hi", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{0.5f})));
    }
    if (std::string(act) == "LeakyRelu" || std::string(act) == "Elu" || std::string(act) == "Swish") {
      attrs.SetFloat("alpha", 0.3f);
    }
    g.AddOutput(g.AddNode(act, "act", act_in, 1, attrs)->output(0));
    auto original = InferAndClone(g);
    ExpectPassChanges(g, "fuse-postops", true);
    ASSERT_EQ(g.num_nodes(), 1);
    EXPECT_EQ(g.nodes().front()->op_type(), "FusedConv");
    EXPECT_EQ(g.nodes().front()->input(2)->dims(), (Dims{6})) << "the [1, C, 1, 1] Add became the conv's bias";
    ExpectSameResults(*original, g);
  }
}

TEST(FusePostOpsTest, MlpMatMulAndGemmChainsFuse) {
  // relu(x W1 + b1) -> Gemm(transB) + relu -> MatMul + bias + residual.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {4, 16}});
  Value* h = g.AddNode("MatMul", "fc1", {x, g.AddConstant("w1", RandomTensor({16, 12}, 1))})->output(0);
  h = g.AddNode("Add", "fc1_bias", {h, g.AddConstant("b1", RandomTensor({12}, 2))})->output(0);
  h = g.AddNode("Relu", "fc1_relu", {h})->output(0);
  Attrs trans_b;
  trans_b.SetInt("transB", 1);
  Value* h2 = g.AddNode("Gemm", "fc2",
                        {h, g.AddConstant("w2", RandomTensor({12, 12}, 3)), g.AddConstant("b2", RandomTensor({12}, 4))},
                        1, trans_b)
                  ->output(0);
  h2 = g.AddNode("Relu", "fc2_relu", {h2})->output(0);
  Value* h3 = g.AddNode("MatMul", "fc3", {h2, g.AddConstant("w3", RandomTensor({12, 12}, 5))})->output(0);
  h3 = g.AddNode("Add", "fc3_bias", {g.AddConstant("b3", RandomTensor({1, 12}, 6)), h3})->output(0);
  g.AddOutput(g.AddNode("Add", "skip", {h3, h}, 1, {}, {"logits"})->output(0));
  auto original = InferAndClone(g);

  ExpectPassChanges(g, "fuse-postops", true);
  EXPECT_EQ(g.num_nodes(), 3);
  EXPECT_EQ(CountOps(g, "FusedMatMul"), 3);
  EXPECT_EQ(g.outputs()[0]->name(), "logits");
  ExpectSameResults(*original, g);
}

// x * Sigmoid(x) after a Conv or MatMul (SiLU as exported before opset 24: EfficientNet,
// YOLO) becomes a Swish post-op; with the Sigmoid read elsewhere, or a Mul by another value,
// the chain ends before it.
TEST(FusePostOpsTest, SigmoidTimesItsInputBecomesSwish) {
  for (bool sigmoid_first : {true, false}) {
    Graph g;
    Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 4, 5, 5}});
    Value* conv = AddConv(g, "conv", x, 4, 6, true, 9);
    Value* s = g.AddNode("Sigmoid", "sig", {conv})->output(0);
    std::vector<Value*> operands = sigmoid_first ? std::vector<Value*>{s, conv} : std::vector<Value*>{conv, s};
    g.AddOutput(g.AddNode("Mul", "silu", operands)->output(0));
    Value* m = g.AddNode("MatMul", "fc",
                         {g.AddInput("v", {proto::DT_FLOAT, {3, 8}}), g.AddConstant("w", RandomTensor({8, 5}, 10))})
                   ->output(0);
    g.AddOutput(g.AddNode("Mul", "fc_silu", {m, g.AddNode("Sigmoid", "fc_sig", {m})->output(0)})->output(0));
    auto original = InferAndClone(g);
    ExpectPassChanges(g, "fuse-postops", true);
    EXPECT_EQ(g.num_nodes(), 2);
    for (const auto& n : g.nodes()) {
      EXPECT_EQ(n->attrs().GetString("activation", ""), "Swish") << n->name();
      EXPECT_FLOAT_EQ(n->attrs().GetFloat("activation_alpha", 0.0f), 1.0f);
    }
    ExpectSameResults(*original, g);
  }
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 5, 5}});
  Value* c1 = AddConv(g, "c1", x, 4, 4, true, 11);
  Value* s1 = g.AddNode("Sigmoid", "s1", {c1})->output(0);
  g.AddOutput(g.AddNode("Mul", "m1", {c1, s1})->output(0));
  g.AddOutput(s1);  // the Sigmoid is read elsewhere
  Value* c2 = AddConv(g, "c2", x, 4, 4, true, 13);
  Value* s2 = g.AddNode("Sigmoid", "s2", {x})->output(0);
  g.AddOutput(g.AddNode("Mul", "m2", {c2, s2})->output(0));  // a gate from another value
  ExpectPassLeavesAlone(g, "fuse-postops");
}

// GELU as exporters before opset 20 spell it, x * (1 + Erf(x / sqrt 2)) * 0.5 (or x * 1/sqrt 2),
// after MatMul + bias (BERT, ViT, ConvNeXt) becomes a Gelu post-op; another constant leaves it.
TEST(FusePostOpsTest, SpelledOutGeluBecomesAPostOp) {
  auto scalar = [](Graph& g, const std::string& name, float v) {
    return g.AddConstant(name, Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v}));
  };
  auto build = [&](Graph& g, bool by_mul, float half) {
    Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 8}});
    Value* m = g.AddNode("MatMul", "fc", {x, g.AddConstant("w", RandomTensor({8, 6}, 14))})->output(0);
    m = g.AddNode("Add", "bias", {g.AddConstant("b", RandomTensor({6}, 15)), m})->output(0);
    Value* scaled = by_mul
                        ? g.AddNode("Mul", "scale", {m, scalar(g, "c", static_cast<float>(std::sqrt(0.5)))})->output(0)
                        : g.AddNode("Div", "scale", {m, scalar(g, "c", static_cast<float>(std::sqrt(2.0)))})->output(0);
    Value* e = g.AddNode("Erf", "erf", {scaled})->output(0);
    Value* p = g.AddNode("Add", "plus_one", {e, scalar(g, "one", 1.0f)})->output(0);
    Value* t = g.AddNode("Mul", "times_x", {m, p})->output(0);
    g.AddOutput(g.AddNode("Mul", "half", {t, scalar(g, "h", half)})->output(0));
  };
  for (bool by_mul : {false, true}) {
    Graph g;
    build(g, by_mul, 0.5f);
    auto original = InferAndClone(g);
    ExpectPassChanges(g, "fuse-postops", true);
    ASSERT_EQ(g.num_nodes(), 1);
    EXPECT_EQ(g.nodes().front()->op_type(), "FusedMatMul");
    EXPECT_EQ(g.nodes().front()->attrs().GetString("activation", ""), "Gelu");
    ExpectSameResults(*original, g);
  }
  Graph other;
  build(other, false, 0.25f);
  ASSERT_OK(RunOnePass(other, "infer-shapes").status());
  ExpectPassChanges(other, "fuse-postops", true);  // the bias only
  EXPECT_EQ(other.nodes().front()->attrs().GetString("activation", ""), "");
  EXPECT_EQ(CountOps(other, "Erf"), 1);
}

TEST(FusePostOpsTest, LeavesUnfusableChainsAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 5, 5}});
  // The conv output is also a graph output: it must be written, so nothing fuses.
  Value* seen = AddConv(g, "seen", x, 4, 4, true, 1);
  g.AddOutput(seen);
  g.AddOutput(g.AddNode("Relu", "seen_relu", {seen})->output(0));
  // Softmax is no post-op.
  g.AddOutput(g.AddNode("Softmax", "sm", {AddConv(g, "c2", x, 4, 4, true, 3)})->output(0));
  // A bias that varies along the spatial dims is no per-channel bias, nor the output's shape.
  Value* c3 = AddConv(g, "c3", x, 4, 4, true, 5);
  g.AddOutput(g.AddNode("Add", "spatial", {c3, g.AddConstant("s", RandomTensor({5, 5}, 6))})->output(0));
  // Integer MatMul: oneDNN kernels are float only.
  Value* ints = g.AddInput("i", {proto::DT_INT64, {2, 2}});
  Value* mm = g.AddNode("MatMul", "imm", {ints, ints})->output(0);
  g.AddOutput(g.AddNode("Relu", "irelu", {mm})->output(0));
  ExpectPassLeavesAlone(g, "fuse-postops");
}

TEST(FusePostOpsTest, ActivationBeforeResidualEndsTheChain) {
  // relu(conv(x)) + x: the Relu fuses, the Add after it stays (post-ops apply in order).
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 5, 5}});
  Value* r = g.AddNode("Relu", "relu", {AddConv(g, "conv", x, 4, 4, true, 1)})->output(0);
  g.AddOutput(g.AddNode("Add", "add", {r, x})->output(0));
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "fuse-postops", true);
  EXPECT_EQ(CountOps(g, "FusedConv"), 1);
  EXPECT_EQ(CountOps(g, "Add"), 1);
  ExpectSameResults(*original, g);
}

TEST(FusePostOpsTest, ClipWithRunTimeBoundsStaysOutside) {
  // conv + bias fuses; Clip's bound is a graph input, which no post-op can read.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 5, 5}});
  Value* lo = g.AddInput("lo", {proto::DT_FLOAT, {}});
  Value* biased =
      g.AddNode("Add", "bias", {AddConv(g, "conv", x, 4, 4, false, 1), g.AddConstant("b", RandomTensor({4, 1, 1}, 2))})
          ->output(0);
  g.AddOutput(g.AddNode("Clip", "clip", {biased, lo})->output(0));
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "fuse-postops", true);
  ASSERT_EQ(CountOps(g, "FusedConv"), 1);
  EXPECT_EQ(CountOps(g, "Clip"), 1);
  EXPECT_FALSE(g.nodes().front()->attrs().Has("activation"));
  ExpectSameResults(*original, g);
}

// A training step's BatchNormTraining -> Relu: the Relu becomes the batch norm's relu
// attribute (Y written once, rectified). `extra_reader`: Y is also read by an Add.
Node* AddTrainingBatchNormRelu(Graph& g, const Dims& x_dims, bool extra_reader) {
  Value* x = g.AddInput("x", {proto::DT_FLOAT, x_dims});
  const int64_t c = x_dims[1];
  std::vector<Value*> ins = {x, g.AddConstant("scale", RandomTensor({c}, 11, 0.5f, 1.5f)),
                             g.AddConstant("bias", RandomTensor({c}, 12)), g.AddConstant("mean", RandomTensor({c}, 13)),
                             g.AddConstant("var", RandomTensor({c}, 14, 0.5f, 1.5f))};
  Attrs a;
  a.SetFloat("epsilon", 1e-3f);
  a.SetFloat("momentum", 0.8f);
  Node* bn = g.AddNode("BatchNormTraining", "bn", ins, 5, a);
  g.AddOutput(g.AddNode("Relu", "relu", {bn->output(0)}, 1, {}, {"y"})->output(0));
  if (extra_reader) g.AddOutput(g.AddNode("Add", "twice", {bn->output(0), bn->output(0)})->output(0));
  for (int i = 1; i < 5; ++i) g.AddOutput(bn->output(i));  // running and saved statistics
  return bn;
}

TEST(FusePostOpsTest, TrainingBatchNormTakesTheReluAfterIt) {
  Graph g;
  Node* bn = AddTrainingBatchNormRelu(g, {3, 4, 5, 6}, false);
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "fuse-postops", true);
  EXPECT_EQ(CountOps(g, "Relu"), 0);
  EXPECT_EQ(bn->attrs().GetInt("relu", 0), 1);
  EXPECT_EQ(bn->output(0)->name(), "y");
  ExpectSameResults(*original, g);
}

TEST(FusePostOpsTest, TrainingBatchNormKeepsItsReluWhereOthersReadYOrNoKernelFusesIt) {
  // Y read twice; [N, C] (oneDNN's batch norm, no fused Relu there); the CUDA target.
  for (int which = 0; which < 3; ++which) {
    SCOPED_TRACE(which);
    Graph g;
    Node* bn = AddTrainingBatchNormRelu(g, which == 1 ? Dims{8, 5} : Dims{3, 4, 5, 6}, which == 0);
    ASSERT_OK(RunOnePass(g, "infer-shapes").status());
    PassOptions options;
    if (which == 2) options.target = &CudaBackend().target();
    ExpectPassChanges(g, "fuse-postops", false, options);
    EXPECT_EQ(CountOps(g, "Relu"), 1);
    EXPECT_FALSE(bn->attrs().Has("relu"));
  }
}

}  // namespace
}  // namespace kiln
