// assign-layouts: conv regions get channels-last with conversions only at their edges,
// plans with and without the pass compute the same outputs (a handmade branch + Add
// graph, the PyTorch-exported ResNet and LeNet-5), and graphs it has no business in
// (no convolution, a value a reference-only op reads, reference-only plans) stay plain.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>

#include "frontends/load_model.h"
#include "frontends/tensor_io.h"
#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

constexpr Layout kPlain = proto::LAYOUT_PLAIN;
constexpr Layout kChannelsLast = proto::LAYOUT_CHANNELS_LAST;

Value* AddConv(Graph& g, const std::string& name, Value* x, int64_t in_c, int64_t out_c, uint32_t seed) {
  Attrs a;
  a.SetInts("kernel_shape", {3, 3});
  a.SetInts("pads", {1, 1, 1, 1});
  Value* w = g.AddConstant(name + "_w", RandomTensor({out_c, in_c, 3, 3}, seed, -0.3f, 0.3f));
  Value* b = g.AddConstant(name + "_b", RandomTensor({out_c}, seed + 1));
  return g.AddNode("Conv", name, {x, w, b}, 1, a)->output(0);
}

Value* AddPool(Graph& g, const std::string& op, const std::string& name, Value* x) {
  Attrs a;
  a.SetInts("kernel_shape", {2, 2});
  a.SetInts("strides", {2, 2});
  return g.AddNode(op, name, {x}, 1, a)->output(0);
}

// x -> conv -> relu -+-> conv ------+-> add -> maxpool -> global average pool -> flatten -> y
//                    +-> batch norm -+
void BuildBranchAndAdd(Graph& g) {
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 12, 12}});
  Value* h = g.AddNode("Relu", "relu", {AddConv(g, "conv1", x, 3, 8, 1)})->output(0);
  Value* a = AddConv(g, "conv2", h, 8, 8, 3);
  std::vector<Value*> bn = {h, g.AddConstant("bn_scale", RandomTensor({8}, 5, 0.5f, 1.5f)),
                            g.AddConstant("bn_bias", RandomTensor({8}, 6)),
                            g.AddConstant("bn_mean", RandomTensor({8}, 7, -0.1f, 0.1f)),
                            g.AddConstant("bn_var", RandomTensor({8}, 8, 0.5f, 1.5f))};
  Value* b = g.AddNode("BatchNormalization", "bn", bn)->output(0);
  Value* sum = g.AddNode("Add", "add", {a, b})->output(0);
  Value* pooled = AddPool(g, "MaxPool", "pool", sum);
  Value* gap = g.AddNode("GlobalAveragePool", "gap", {pooled})->output(0);
  g.AddOutput(g.AddNode("Flatten", "flatten", {gap}, 1, {}, {"y"})->output(0));
}

const Value* Named(const Graph& g, const std::string& node) {
  for (const auto& n : g.nodes()) {
    if (n->name() == node) return n->output(0);
  }
  ADD_FAILURE() << "no node " << node;
  return nullptr;
}

// Layout conversions one run of `plan` makes, over all its steps.
int ConversionsPerRun(const proto::Plan& plan) {
  auto session = runtime::Session::Create(plan);
  EXPECT_OK(session.status());
  if (!session.ok()) return -1;
  const std::vector<int> steps = (*session)->LayoutConversionsPerStep();
  return std::accumulate(steps.begin(), steps.end(), 0);
}

TEST(AssignLayoutsTest, BranchAndAddRegionIsChannelsLastWithConversionsAtItsEdgesOnly) {
  Graph g;
  BuildBranchAndAdd(g);
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "assign-layouts", true);
  ASSERT_OK(Verify(g));
  for (const char* node : {"conv1", "relu", "conv2", "bn", "add", "pool"}) {
    EXPECT_EQ(Named(g, node)->layout(), kChannelsLast) << node;
  }
  // [2, 8, 1, 1]: channels-last is the plain order, so it stays plain; inputs and outputs are plain.
  EXPECT_EQ(Named(g, "gap")->layout(), kPlain);
  EXPECT_EQ(g.inputs()[0]->layout(), kPlain);
  EXPECT_EQ(g.outputs()[0]->layout(), kPlain);

  // Lowered: every laid-out buffer is bound by oneDNN steps only (the plan validator's rule,
  // checked when the session is created), and one run converts once: the input into the
  // first convolution. Without the pass every conv and the pool convert in and out (but
  // conv1, which reads its plain 3-channel input as it lies: onednn_conv.cc).
  auto plan = CompileForCpu(g, {.use_onednn = true});
  ASSERT_OK(plan.status());
  int laid_out = 0;
  for (const proto::Buffer& b : plan->buffer()) laid_out += b.layout() == kChannelsLast;
  EXPECT_EQ(laid_out, 6);
  EXPECT_EQ(ConversionsPerRun(*plan), 1);
  auto plain_plan = CompileForCpu(*original, {.use_onednn = true});
  ASSERT_OK(plain_plan.status());
  EXPECT_GE(ConversionsPerRun(*plain_plan), 3);

  ExpectSameResults(*original, g);
  // A reference-only plan of the same graph ignores the layouts.
  auto ref_plan = CompileForCpu(g, {.use_onednn = false});
  ASSERT_OK(ref_plan.status());
  for (const proto::Buffer& b : ref_plan->buffer()) EXPECT_EQ(b.layout(), kPlain) << b.name();
}

TEST(AssignLayoutsTest, NonFiniteInputTakesTheExactPathThroughPlainCopies) {
  // The oneDNN kernels run their reference kernel when an input holds a NaN or Inf; inside
  // a region that kernel must see plain copies and write back in the region's layout.
  // x -> conv -> add(z) -> maxpool -> conv -> y, with -Inf in a few elements of z: the Add
  // and the MaxPool take the exact path, and their 2x2 windows keep y finite.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 8, 8}});
  Value* z = g.AddInput("z", {proto::DT_FLOAT, {1, 6, 8, 8}});
  Value* sum = g.AddNode("Add", "add", {AddConv(g, "conv1", x, 4, 6, 1), z})->output(0);
  g.AddOutput(AddConv(g, "conv2", AddPool(g, "MaxPool", "pool", sum), 6, 5, 3));
  auto original = InferAndClone(g);
  ExpectPassChanges(g, "assign-layouts", true);
  EXPECT_EQ(Named(g, "add")->layout(), kChannelsLast);
  EXPECT_EQ(Named(g, "pool")->layout(), kChannelsLast);
  std::vector<Tensor> inputs = RandomInputs(g);
  for (int64_t i : {0, 9, 70, 200, 383})
    inputs[1].mutable_data_as<float>()[i] = -std::numeric_limits<float>::infinity();
  const std::vector<Tensor> expected = Execute(*original, inputs);
  const std::vector<Tensor> actual = Execute(g, inputs, /*use_onednn=*/true);
  ASSERT_EQ(actual.size(), 1u);
  ASSERT_EQ(expected.size(), 1u);
  for (int64_t i = 0; i < expected[0].num_elements(); ++i) {
    ASSERT_TRUE(std::isfinite(expected[0].data_as<float>()[i])) << "element " << i;
  }
  EXPECT_EQ(CompareTensors(actual[0], expected[0], 1e-5, 1e-4), "");
}

TEST(AssignLayoutsTest, LeavesGraphsWithoutConvolutionAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 8, 8}});
  Value* h = g.AddNode("Relu", "relu", {AddPool(g, "MaxPool", "pool1", x)})->output(0);
  g.AddOutput(AddPool(g, "AveragePool", "pool2", h));
  ExpectPassLeavesAlone(g, "assign-layouts");
  for (const Value* v : g.values()) EXPECT_EQ(v->layout(), kPlain) << v->name();
}

TEST(AssignLayoutsTest, LeavesAValueAReferenceOnlyOpReadsPlain) {
  // conv1's output feeds conv2 and a Floor (no oneDNN kernel): it stays plain, and
  // conv2's output is the graph's: nothing is left to lay out.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 4, 6, 6}});
  Value* h = AddConv(g, "conv1", x, 4, 4, 1);
  g.AddOutput(AddConv(g, "conv2", h, 4, 4, 3));
  g.AddOutput(g.AddNode("Floor", "floor", {h})->output(0));
  ExpectPassLeavesAlone(g, "assign-layouts");
  EXPECT_EQ(h->layout(), kPlain);
}

TEST(AssignLayoutsTest, OffWhenTheOptionsSaySo) {
  Graph g;
  BuildBranchAndAdd(g);
  ASSERT_OK(RunOnePass(g, "infer-shapes").status());
  PassOptions off;
  off.assign_layouts = false;
  ExpectPassChanges(g, "assign-layouts", false, off);
  for (const Value* v : g.values()) EXPECT_EQ(v->layout(), kPlain) << v->name();
}

TEST(AssignLayoutsTest, VerifierRejectsALaidOutGraphInput) {
  Graph g;
  BuildBranchAndAdd(g);
  ASSERT_OK(RunOnePass(g, "infer-shapes").status());
  g.inputs()[0]->set_layout(kChannelsLast);
  Status st = Verify(g);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("layout channels_last"), std::string::npos) << st.message();
}

TEST(AssignLayoutsTest, ChannelsLastStridesAndOffsets) {
  const Dims dims = {2, 3, 4, 5};
  EXPECT_EQ(LayoutStrides(dims, kChannelsLast), (Dims{60, 1, 15, 3}));
  EXPECT_EQ(LayoutStrides(dims, kPlain), (Dims{60, 20, 5, 1}));
  // Element [1, 2, 3, 4] (row-major index 119) is the last in either layout; [0, 1, 0, 0] (20) is the second
  // channels-last element.
  EXPECT_EQ(LayoutOffset(dims, LayoutStrides(dims, kChannelsLast), 119), 119);
  EXPECT_EQ(LayoutOffset(dims, LayoutStrides(dims, kChannelsLast), 20), 1);
  EXPECT_EQ(LayoutOffset(dims, LayoutStrides(dims, kPlain), 20), 20);
  EXPECT_TRUE(IsPlainOrder({2, 8, 1, 1}, kChannelsLast));
  EXPECT_TRUE(IsPlainOrder({2, 1, 4, 4}, kChannelsLast));
  EXPECT_FALSE(IsPlainOrder(dims, kChannelsLast));
}

// The PyTorch-exported models compiled with and without the pass compute the same outputs.
class AssignLayoutsModels : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

TEST_P(AssignLayoutsModels, SameOutputsAsWithoutThePass) {
  const auto& [name, batch] = GetParam();
  const std::string dir = SourcePath("tests/data/models/" + name + "/");
  auto input = ReadTensorFile(dir + "input_" + batch + ".npy");
  ASSERT_OK(input.status());
  std::vector<Tensor> outputs[2];
  int laid_out[2] = {0, 0};
  for (int with = 0; with < 2; ++with) {
    auto model = LoadModel(dir + "model.onnx");
    ASSERT_OK(model.status());
    CompileOptions options;
    options.batch_size = input->dims()[0];
    options.assign_layouts = with == 1;
    auto plan = CompileToPlan(*model->graph, options);
    ASSERT_OK(plan.status());
    for (const proto::Buffer& b : plan->buffer()) laid_out[with] += b.layout() != kPlain;
    auto session = runtime::Session::Create(*plan);
    ASSERT_OK(session.status());
    auto out = RunOnce(**session, {*input});
    ASSERT_OK(out.status());
    outputs[with] = *out;
  }
  EXPECT_EQ(laid_out[0], 0);
  EXPECT_GT(laid_out[1], 0) << "the pass laid out nothing in " << name;
  ASSERT_EQ(outputs[0].size(), outputs[1].size());
  for (size_t i = 0; i < outputs[0].size(); ++i) {
    EXPECT_EQ(CompareTensors(outputs[1][i], outputs[0][i], 1e-5, 0), "") << name << " " << batch << " output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Models, AssignLayoutsModels,
                         ::testing::Values(std::make_pair("resnet", "b1"), std::make_pair("resnet", "b64"),
                                           std::make_pair("lenet5", "b1"), std::make_pair("lenet5", "b64")),
                         [](const auto& info) { return info.param.first + "_" + info.param.second; });

}  // namespace
}  // namespace kiln
