// The reference kernels end to end: constant folding of an int64 shape
// subgraph at compile time (runtime::RunReferenceOp), then a plan of "ref"
// steps run by a Session.
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/compile.h"
#include "frontends/load_model.h"
#include "frontends/tensor_io.h"
#include "runtime/session.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using namespace reftest;  // NOLINT: test helpers

TEST(ReferenceEndToEnd, ShapeSubgraphFoldsAndTheRestRunsOnRefKernels) {
  // y = Softmax(Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1]) * [1, 1])), x: float[2, 3, 4].
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 4}});
  Value* shape = g.AddNode("Shape", "shape", {x})->output(0);
  Value* batch = g.AddNode("Gather", "batch", {shape, g.AddConstant("zero", I64({}, {0}))})->output(0);
  Value* batch1 = g.AddNode("Unsqueeze", "batch1", {batch, g.AddConstant("axes", Ints({0}))})->output(0);
  Value* rest = g.AddNode("Constant", "rest", {}, 1, IntsAttr("value_ints", {-1}))->output(0);
  Value* target = g.AddNode("Concat", "target", {batch1, rest}, 1, IntAttr("axis", 0))->output(0);
  Value* scaled = g.AddNode("Mul", "scaled", {target, g.AddConstant("ones", Ints({1, 1}))})->output(0);
  Value* as_float = g.AddNode("Cast", "as_float", {scaled}, 1, IntAttr("to", 1))->output(0);
  Value* back = g.AddNode("Cast", "back", {as_float}, 1, IntAttr("to", 7))->output(0);
  Value* flat = g.AddNode("Reshape", "flat", {x, back})->output(0);
  Value* y = g.AddNode("Softmax", "softmax", {flat})->output(0);
  g.AddOutput(y);

  CompileOptions options;
  options.use_onednn = false;
  auto plan = CompileToPlan(g, options);
  ASSERT_OK(plan.status());
  for (const proto::Step& step : plan->step()) {
    EXPECT_EQ(step.kernel(), "ref") << step.name();
    EXPECT_TRUE(step.op_type() == "Reshape" || step.op_type() == "Softmax")
        << step.name() << " (" << step.op_type() << ") should have been folded";
  }

  auto session = runtime::Session::Create(*plan);
  ASSERT_OK(session.status());
  const Tensor input = Iota({2, 3, 4}, 0, 0.1f);
  ASSERT_OK((*session)->SetInput(0, input.data(), input.num_bytes()));
  ASSERT_OK((*session)->Run());
  const TensorRef out = (*session)->output(0);
  ASSERT_EQ(out.dims, (Dims{2, 12}));
  // Each row is a ramp with step 0.1: softmax_j = exp(0.1 j) / sum_k exp(0.1 k).
  double sum = 0;
  for (int k = 0; k < 12; ++k) sum += std::exp(0.1 * k);
  for (int row = 0; row < 2; ++row) {
    for (int j = 0; j < 12; ++j) EXPECT_NEAR(out.as<float>()[row * 12 + j], std::exp(0.1 * j) / sum, 1e-6);
  }
}

// Session::Start / Finish (the trainer's double-buffered batches): the run reads its inputs
// in Start, so the next inputs written before Finish do not change it; a second Start before
// Finish is an error; Run is Start + Finish.
TEST(ReferenceEndToEnd, StartReadsTheInputsSoTheNextOnesCanBeWrittenBeforeFinish) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3}});
  g.AddOutput(g.AddNode("Relu", "relu", {g.AddNode("Neg", "neg", {x})->output(0)})->output(0));
  CompileOptions options;
  options.use_onednn = false;
  auto plan = CompileToPlan(g, options);
  ASSERT_OK(plan.status());
  auto session = runtime::Session::Create(*plan);
  ASSERT_OK(session.status());
  runtime::Session& s = **session;
  const Tensor first = Iota({2, 3}, -3, 1.f), second = Iota({2, 3}, 0, 1.f);
  ASSERT_OK(s.SetInput(0, first.data(), first.num_bytes()));
  ASSERT_OK(s.Start());
  EXPECT_FALSE(s.Start().ok()) << "a second Start before Finish";
  ASSERT_OK(s.Finish());
  ASSERT_OK(s.Start());
  ASSERT_OK(s.SetInput(0, second.data(), second.num_bytes()));  // the next batch, while "the device works"
  ASSERT_OK(s.Finish());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(s.output(0).as<float>()[i], std::max(0.f, 3.f - i)) << i;
  ASSERT_OK(s.Finish());  // nothing pending: a no-op
  ASSERT_OK(s.Run());
  for (int i = 0; i < 6; ++i) EXPECT_EQ(s.output(0).as<float>()[i], 0.f) << i;
}

// A run that fails is over: the session runs again once the cause is gone (a caller that
// retries, e.g. from Python, is not stuck with "not finished").
TEST(ReferenceEndToEnd, AFailedRunDoesNotLeaveTheSessionStarted) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2}});
  g.AddOutput(g.AddNode("Relu", "relu", {x})->output(0));
  CompileOptions options;
  options.use_onednn = false;
  auto plan = CompileToPlan(g, options);
  ASSERT_OK(plan.status());
  runtime::SessionOptions failing;
  bool fail = true;
  failing.after_step = [&](const proto::Step&, const std::vector<TensorRef>&, const std::vector<TensorRef>&) {
    return fail ? InvalidArgument("stop here") : Status::Ok();
  };
  auto session = runtime::Session::Create(*plan, failing);
  ASSERT_OK(session.status());
  EXPECT_FALSE((*session)->Run().ok());
  fail = false;
  EXPECT_OK((*session)->Run());
}

// The PyTorch-exported models (tests/data/models) on reference kernels only
// match PyTorch's own outputs.
struct TorchCase {
  std::string model;
  std::string batch;
  int64_t batch_size;
};

class ReferenceTorchModels : public ::testing::TestWithParam<TorchCase> {};

TEST_P(ReferenceTorchModels, MatchPyTorch) {
  const TorchCase& c = GetParam();
  const std::string dir = testing::SourcePath("tests/data/models/" + c.model + "/");
  auto model = LoadModel(dir + "model.onnx");
  ASSERT_OK(model.status());
  auto input = ReadTensorFile(dir + "input_" + c.batch + ".npy");
  ASSERT_OK(input.status());
  auto expected = ReadTensorFile(dir + "output_" + c.batch + ".npy");
  ASSERT_OK(expected.status());
  CompileOptions options;
  options.use_onednn = false;
  options.batch_size = c.batch_size;
  auto plan = CompileToPlan(*model->graph, options);
  ASSERT_OK(plan.status());
  // Without compiled code the session runs fused ("jit") steps on the reference interpreter.
  for (const proto::Step& step : plan->step()) {
    EXPECT_TRUE(step.kernel() == "ref" || step.kernel() == "jit") << step.name() << ": " << step.kernel();
  }
  auto session = runtime::Session::Create(*plan);
  ASSERT_OK(session.status());
  ASSERT_OK((*session)->SetInput(0, input->data(), input->num_bytes()));
  ASSERT_OK((*session)->Run());
  const TensorRef out = (*session)->output(0);
  auto actual = Tensor::FromBytes(out.dtype, out.dims, out.data, out.num_bytes());
  ASSERT_OK(actual.status());
  const std::string diff = testing::CompareTensors(*actual, *expected, 1e-4, 1e-4);
  EXPECT_TRUE(diff.empty()) << c.model << " " << c.batch << ": " << diff;
}

INSTANTIATE_TEST_SUITE_P(Models, ReferenceTorchModels,
                         ::testing::Values(TorchCase{"mlp", "b1", 1}, TorchCase{"mlp", "b64", 64},
                                           TorchCase{"lenet5", "b1", 1}, TorchCase{"lenet5", "b64", 64},
                                           TorchCase{"resnet", "b1", 1}),
                         [](const ::testing::TestParamInfo<TorchCase>& info) {
                           return info.param.model + "_" + info.param.batch;
                         });

}  // namespace
}  // namespace kiln
