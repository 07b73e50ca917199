// Which values a session knows to be finite (runtime/finite_values.h), and that the oneDNN
// kernels' non-finite check still finds NaN and Inf when it skips those values: a NaN from a
// graph input through two fused convolutions (the second one's input is "known finite" until
// the first kernel meets the NaN), a NaN made mid-plan by an op outside the list, and runs
// that alternate between finite and non-finite inputs.
#include "runtime/finite_values.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "compiler/compile.h"
#include "ir/graph.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::FiniteCheck;
using runtime::FiniteValues;
using runtime::KeepsFiniteValues;
using runtime::KernelSpec;

TEST(FiniteValuesTest, OpsThatKeepFiniteValuesFinite) {
  EXPECT_TRUE(KeepsFiniteValues("Conv", {}));
  EXPECT_TRUE(KeepsFiniteValues("MaxPool", {}));
  EXPECT_TRUE(KeepsFiniteValues("Add", {}));
  Attrs relu, exp;
  relu.SetString("activation", "Relu");
  exp.SetString("activation", "Exp");
  EXPECT_TRUE(KeepsFiniteValues("FusedConv", {}));
  EXPECT_TRUE(KeepsFiniteValues("FusedConv", relu));
  EXPECT_FALSE(KeepsFiniteValues("FusedMatMul", exp));  // exp(89) = Inf
  for (const char* op : {"Div", "Log", "Sqrt", "Exp", "Pow", "Reciprocal", "BatchNormalization", "FusedElementwise"}) {
    EXPECT_FALSE(KeepsFiniteValues(op, {})) << op;
  }
}

class FakeKernel : public runtime::Kernel {
 public:
  explicit FakeKernel(FiniteCheck check) : check_(check) {}
  Status Run(const std::vector<TensorRef>&, const std::vector<TensorRef>&) override { return Status::Ok(); }
  FiniteCheck ChecksFinite() const override { return check_; }

 private:
  FiniteCheck check_;
};

TEST(FiniteValuesTest, MarksValuesThroughTheSteps) {
  float input[4] = {}, weights[4] = {1, 2, 3, 4}, poisoned[4] = {1, NAN, 3, 4};
  std::vector<TensorRef> buffers(10, TensorRef{proto::DT_FLOAT, {4}, nullptr});
  buffers[0].data = input;     // a graph input
  buffers[1].data = weights;   // a finite constant
  buffers[2].data = poisoned;  // a constant holding NaN
  // A constant in device memory: never read from the host (this address would fault).
  buffers[9].data = reinterpret_cast<void*>(uintptr_t{16});
  std::vector<bool> host_constant(10, false);
  host_constant[1] = host_constant[2] = true;
  FiniteValues finite(&buffers, host_constant);
  EXPECT_FALSE(finite.finite(9));
  auto step = [&](const char* op, std::vector<int> in, int out, FiniteCheck check) {
    KernelSpec spec;
    spec.op_type = op;
    finite.Before(in, spec);
    finite.After(in, {out}, spec, FakeKernel(check));
    return spec.finite_inputs;
  };
  EXPECT_FALSE(finite.finite(0));
  EXPECT_TRUE(finite.finite(1));
  EXPECT_FALSE(finite.finite(2));
  // A graph input checked by its consumer: the output is finite.
  EXPECT_EQ(step("Conv", {0, 1}, 3, FiniteCheck::kInputs), (std::vector<bool>{false, true}));
  EXPECT_TRUE(finite.finite(3));
  // A kernel that checks nothing, an op of the list, finite inputs: finite.
  EXPECT_EQ(step("MaxPool", {3}, 4, FiniteCheck::kNone), std::vector<bool>{true});
  EXPECT_TRUE(finite.finite(4));
  // Not an op of the list: Log of a finite value may be -Inf or NaN.
  step("Log", {4}, 5, FiniteCheck::kNone);
  EXPECT_FALSE(finite.finite(5));
  // An op of the list with the NaN constant, unchecked: not finite.
  step("Add", {4, 2}, 6, FiniteCheck::kNone);
  EXPECT_FALSE(finite.finite(6));
  // A kernel that checks its outputs makes them finite, whatever it read.
  step("Div", {5, 6}, 7, FiniteCheck::kOutputs);
  EXPECT_TRUE(finite.finite(7));
  // And an unchecked graph input stays unknown through ops of the list.
  step("Relu", {0}, 8, FiniteCheck::kNone);
  EXPECT_FALSE(finite.finite(8));
}

// x -> [pre] -> Conv+Relu -> Conv+Relu -> y, oneDNN kernels (fused with their Relu), 8x8.
std::unique_ptr<Graph> ReluConvs(const char* pre) {
  auto g = std::make_unique<Graph>();
  Attrs attrs;
  attrs.SetInts("kernel_shape", {3, 3});
  attrs.SetInts("pads", {1, 1, 1, 1});
  Value* v = g->AddInput("x", {proto::DT_FLOAT, {2, 8, 8, 8}});
  if (pre) v = g->AddNode(pre, "pre", {v}, 1, {})->output(0);
  for (int i = 0; i < 2; ++i) {
    Value* w = g->AddConstant("w" + std::to_string(i), testing::RandomTensor({8, 8, 3, 3}, 10 + i));
    v = g->AddNode("Conv", "conv" + std::to_string(i), {v, w}, 1, attrs)->output(0);
    v = g->AddNode("Relu", "relu" + std::to_string(i), {v}, 1, {})->output(0);
  }
  g->AddOutput(v);
  return g;
}

// Runs the oneDNN plan and the reference plan of ReluConvs(pre) on each input in turn (one
// session each, so a run follows runs with other inputs); the outputs must agree, NaN for NaN.
void ExpectLikeTheReference(const char* pre, const std::vector<Tensor>& inputs) {
  auto fast = CompileToPlan(*ReluConvs(pre));
  ASSERT_OK(fast.status());
  int onednn = 0;
  for (const proto::Step& s : fast->step()) onednn += s.kernel() == "onednn" && s.op_type() == "FusedConv";
  ASSERT_EQ(onednn, 2) << "both convolutions on oneDNN";
  CompileOptions options;
  options.use_onednn = false;
  auto exact = CompileToPlan(*ReluConvs(pre), options);
  ASSERT_OK(exact.status());
  auto fast_session = runtime::Session::Create(*fast);
  auto exact_session = runtime::Session::Create(*exact);
  ASSERT_OK(fast_session.status());
  ASSERT_OK(exact_session.status());
  for (size_t r = 0; r < inputs.size(); ++r) {
    SCOPED_TRACE("run " + std::to_string(r));
    for (auto* s : {fast_session->get(), exact_session->get()}) {
      ASSERT_OK(s->SetInput(0, inputs[r].data(), inputs[r].num_bytes()));
      ASSERT_OK(s->Run());
    }
    const TensorRef a = (*fast_session)->output(0), b = (*exact_session)->output(0);
    auto got = Tensor::FromBytes(a.dtype, a.dims, a.data, a.num_bytes());
    auto want = Tensor::FromBytes(b.dtype, b.dims, b.data, b.num_bytes());
    ASSERT_OK(got.status());
    ASSERT_OK(want.status());
    int nan = 0;
    for (int64_t e = 0; e < want->num_elements(); ++e) nan += std::isnan(want->data_as<float>()[e]);
    EXPECT_EQ(testing::CompareTensors(*got, *want, 1e-4, 1e-4), "") << nan << " NaN in the reference's output";
  }
}

Tensor WithValue(Tensor t, int64_t at, float value) {
  t.mutable_data_as<float>()[at] = value;
  return t;
}

TEST(FiniteValuesTest, ANaNFromTheInputStillReachesTheOutput) {
  const Tensor finite = testing::RandomTensor({2, 8, 8, 8}, 3, -1, 1);
  // The second convolution's input is known finite until the first kernel meets the NaN; a
  // run with finite inputs in between must not leave the flag set, nor clear it too early.
  ExpectLikeTheReference(nullptr, {WithValue(finite, 77, NAN), finite, WithValue(finite, 600, INFINITY),
                                   WithValue(finite, 5, -INFINITY), finite});
}

TEST(FiniteValuesTest, ANaNMadeMidPlanByAnOpOutsideTheListIsFound) {
  // Sqrt of the negative inputs: NaN from finite values, before the first convolution.
  ExpectLikeTheReference("Sqrt", {testing::RandomTensor({2, 8, 8, 8}, 4, -1, 1)});
}

}  // namespace
}  // namespace kiln
