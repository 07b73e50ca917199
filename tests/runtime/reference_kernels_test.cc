// Reference kernels, elementwise / linalg / reductions: hand-computed cases run
// through runtime::RunReferenceOp. Conv, pooling and normalization are in
// reference_nn_kernels_test.cc, data movement in reference_shape_kernels_test.cc.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "ir/core/op_registry.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using namespace reftest;  // NOLINT: test helpers

constexpr float kNan = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(ReferenceKernels, EveryOpHasAReferenceKernel) {
  for (const OpDef* def : AllOpDefs()) {
    if (RewrittenBeforeLowering(def->name)) continue;
    EXPECT_TRUE(runtime::KernelRegistry::Global().Has("ref", def->name)) << "no reference kernel for " << def->name;
  }
}

TEST(ReferenceKernels, AddBroadcastsFloatAndInt) {
  ExpectRef("Add", {}, {Iota({2, 3}), F({3}, {10, 20, 30})}, {2, 3}, {10, 21, 32, 13, 24, 35});
  auto r = RunRef("Add", {}, {I64({2}, {1, 2}), I64({}, {5})}, {{proto::DT_INT64, {2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{6, 7}));
}

TEST(ReferenceKernels, SubMulBroadcastBothWays) {
  ExpectRef("Sub", {}, {F({2, 1}, {1, 2}), F({1, 3}, {1, 2, 3})}, {2, 3}, {0, -1, -2, 1, 0, -1});
  ExpectRef("Mul", {}, {F({3}, {1, 2, 3}), F({}, {2})}, {3}, {2, 4, 6});
  auto r = RunRef("Mul", {}, {I32({2}, {3, -4}), I32({2}, {5, 6})}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{15, -24}));
}

TEST(ReferenceKernels, DivTruncatesIntegersAndRejectsZero) {
  ExpectRef("Div", {}, {F({2}, {1, 3}), F({2}, {2, 4})}, {2}, {0.5f, 0.75f});
  auto r = RunRef("Div", {}, {I64({3}, {7, -7, 9}), I64({3}, {2, 2, -1})}, {{proto::DT_INT64, {3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{3, -3, -9}));
  auto zero = RunRef("Div", {}, {I64({1}, {1}), I64({1}, {0})}, {{proto::DT_INT64, {1}}});
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.status().message().find("division by zero"), std::string::npos) << zero.status().message();
}

TEST(ReferenceKernels, PowTakesAnyExponentType) {
  ExpectRef("Pow", {}, {F({2}, {2, 3}), F({2}, {3, 2})}, {2}, {8, 9});
  ExpectRef("Pow", {}, {F({2}, {2, 4}), I64({}, {2})}, {2}, {4, 16});
  ExpectRef("Pow", {}, {F({1}, {4}), F({}, {0.5f})}, {1}, {2});
}

TEST(ReferenceKernels, VariadicSumMaxMin) {
  ExpectRef("Sum", {}, {F({2}, {1, 2}), F({1}, {10}), F({2}, {100, 200})}, {2}, {111, 212});
  ExpectRef("Sum", {}, {F({2}, {1, 2})}, {2}, {1, 2});
  ExpectRef("Max", {}, {F({2}, {1, 5}), F({2}, {3, 2}), F({}, {4})}, {2}, {4, 5});
  ExpectRef("Min", {}, {F({2}, {1, 5}), F({2}, {3, 2}), F({}, {4})}, {2}, {1, 2});
  auto r = RunRef("Max", {}, {I32({2}, {1, -5}), I32({2}, {0, 0})}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{1, 0}));
  auto nan = RunRef("Max", {}, {F({1}, {NAN}), F({1}, {1})}, {{proto::DT_FLOAT, {1}}});
  ASSERT_OK(nan.status());
  EXPECT_TRUE(std::isnan(Values<float>((*nan)[0])[0]));
}

TEST(ReferenceKernels, Activations) {
  ExpectRef("Relu", {}, {F({3}, {-1, 0, 2})}, {3}, {0, 0, 2});
  ExpectRef("LeakyRelu", FloatAttr("alpha", 0.1f), {F({2}, {-2, 3})}, {2}, {-0.2f, 3});
  ExpectRef("LeakyRelu", {}, {F({1}, {-1})}, {1}, {-0.01f});
  // slope [2, 1] broadcasts per channel of [1, 2, 2].
  ExpectRef("PRelu", {}, {F({1, 2, 2}, {-1, 2, -3, 4}), F({2, 1}, {0.5f, 0.25f})}, {1, 2, 2}, {-0.5f, 2, -0.75f, 4});
  ExpectRef("Elu", {}, {F({2}, {-1, 2})}, {2}, {std::exp(-1.0f) - 1, 2});
  ExpectRef("Elu", FloatAttr("alpha", 2), {F({1}, {-1})}, {1}, {2 * (std::exp(-1.0f) - 1)});
  const double alpha = 1.6732632423543772, gamma = 1.0507009873554805;
  ExpectRef("Selu", {}, {F({2}, {-1, 2})}, {2},
            {static_cast<float>(gamma * alpha * (std::exp(-1.0) - 1)), static_cast<float>(2 * gamma)});
  ExpectRef("Sigmoid", {}, {F({4}, {0, 2, -2, -1000})}, {4},
            {0.5f, 1 / (1 + std::exp(-2.0f)), 1 / (1 + std::exp(2.0f)), 0});
  ExpectRef("Tanh", {}, {F({2}, {0, 1})}, {2}, {0, std::tanh(1.0f)});
  ExpectRef("Softplus", {}, {F({3}, {0, 100, -100})}, {3}, {std::log(2.0f), 100, 0});
  ExpectRef("Softsign", {}, {F({2}, {1, -3})}, {2}, {0.5f, -0.75f});
  ExpectRef("Erf", {}, {F({4}, {0.5f, -1.5f, 3, 0})}, {4}, {0.520499878f, -0.966105146f, 0.99997791f, 0});
  ExpectRef("Mish", {}, {F({4}, {1, -3, 0, -100})}, {4}, {0.8650983882673103f, -0.1456474612756246f, 0, 0});
  auto r = RunRef("Relu", {}, {I32({2}, {-3, 4})}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{0, 4}));
}

TEST(ReferenceKernels, UnaryMath) {
  ExpectRef("Exp", {}, {F({2}, {0, 1})}, {2}, {1, std::exp(1.0f)});
  ExpectRef("Log", {}, {F({2}, {1, std::exp(1.0f)})}, {2}, {0, 1});
  ExpectRef("Sqrt", {}, {F({2}, {4, 2})}, {2}, {2, std::sqrt(2.0f)});
  ExpectRef("Neg", {}, {F({2}, {1, -2})}, {2}, {-1, 2});
  ExpectRef("Abs", {}, {F({2}, {-1.5f, 2})}, {2}, {1.5f, 2});
  auto neg = RunRef("Neg", {}, {I64({2}, {5, -6})}, {{proto::DT_INT64, {2}}});
  ASSERT_OK(neg.status());
  EXPECT_EQ(Values<int64_t>((*neg)[0]), (std::vector<int64_t>{-5, 6}));
  auto abs = RunRef("Abs", {}, {I32({2}, {-7, 8})}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(abs.status());
  EXPECT_EQ(Values<int32_t>((*abs)[0]), (std::vector<int32_t>{7, 8}));
  ExpectRef("Sin", {}, {F({3}, {0, 1, -2})}, {3}, {0, std::sin(1.0f), std::sin(-2.0f)});
  ExpectRef("Cos", {}, {F({2}, {0, 3})}, {2}, {1, std::cos(3.0f)});
  ExpectRef("Tan", {}, {F({2}, {0, 1})}, {2}, {0, std::tan(1.0f)});
  ExpectRef("Asin", {}, {F({3}, {1, -0.5f, 2})}, {3}, {1.5707963705062866f, -0.5235987901687622f, kNan});
  ExpectRef("Acos", {}, {F({2}, {1, -1})}, {2}, {0, 3.1415927410125732f});
  ExpectRef("Atan", {}, {F({2}, {1, -kInf})}, {2}, {0.7853981852531433f, -1.5707963705062866f});
  ExpectRef("Sinh", {}, {F({2}, {0, 1})}, {2}, {0, 1.175201177597046f});
  ExpectRef("Cosh", {}, {F({2}, {0, -1})}, {2}, {1, 1.5430806875228882f});
  ExpectRef("Asinh", {}, {F({2}, {0, -1})}, {2}, {0, -0.8813735842704773f});
  ExpectRef("Acosh", {}, {F({3}, {1, 2, 0.5f})}, {3}, {0, 1.316957950592041f, kNan});
  ExpectRef("Atanh", {}, {F({3}, {0, 0.5f, 2})}, {3}, {0, 0.5493061542510986f, kNan});
  ExpectRef("Floor", {}, {F({4}, {-1.5f, 1.5f, 2, -0.0f})}, {4}, {-2, 1, 2, -0.0f});
  ExpectRef("Ceil", {}, {F({4}, {-1.5f, 1.2f, 2, -0.5f})}, {4}, {-1, 2, 2, -0.0f});
  ExpectRef("Round", {}, {F({6}, {0.5f, 1.5f, 2.5f, -2.5f, 2.6f, -0.4f})}, {6}, {0, 2, 2, -2, 3, -0.0f});
  ExpectRef("Sign", {}, {F({4}, {-3, 0, 2.5f, kNan})}, {4}, {-1, 0, 1, kNan});
  // torch.nn.functional.gelu(x), gelu(x, approximate="tanh"), x * sigmoid(x) and x * sigmoid(0.5 x)
  ExpectRef("Gelu", {}, {F({3}, {1, -2, 0})}, {3}, {0.8413447460685429f, -0.04550026389635842f, 0});
  ExpectRef("GeluTanh", {}, {F({3}, {1, -2, 0})}, {3}, {0.8411919906082768f, -0.04540230591222067f, 0});
  ExpectRef("Swish", {}, {F({2}, {1, -2})}, {2}, {0.7310585786300049f, -0.2384058440442351f});
  Attrs half;
  half.SetFloat("alpha", 0.5f);
  ExpectRef("Swish", half, {F({2}, {1, -2})}, {2}, {0.6224593312018546f, -0.5378828427399902f});
  auto sign = RunRef("Sign", {}, {I32({3}, {-7, 0, 8})}, {{proto::DT_INT32, {3}}});
  ASSERT_OK(sign.status());
  EXPECT_EQ(Values<int32_t>((*sign)[0]), (std::vector<int32_t>{-1, 0, 1}));
  auto d = RunRef("Exp", {}, {D({1}, {1})}, {{proto::DT_DOUBLE, {1}}});
  ASSERT_OK(d.status());
  EXPECT_DOUBLE_EQ(Values<double>((*d)[0])[0], std::exp(1.0));
}

TEST(ReferenceKernels, ClipWithOptionalBounds) {
  ExpectRef("Clip", {}, {F({3}, {-2, 0.5f, 3}), F({}, {-1}), F({}, {1})}, {3}, {-1, 0.5f, 1});
  ExpectRef("Clip", {}, {F({3}, {-2, 0.5f, 3}), Tensor(), F({}, {1})}, {3}, {-2, 0.5f, 1});
  ExpectRef("Clip", {}, {F({3}, {-2, 0.5f, 3})}, {3}, {-2, 0.5f, 3});
  ExpectRef("Clip", {}, {F({2}, {-2, 5}), F({}, {2}), F({}, {1})}, {2}, {1, 1});  // min > max: all max
  auto r = RunRef("Clip", {}, {I64({3}, {-5, 2, 9}), I64({}, {0}), I64({}, {4})}, {{proto::DT_INT64, {3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{0, 2, 4}));
}

TEST(ReferenceKernels, SoftmaxAndLogSoftmax) {
  // exp(x - 3) / sum: 1, 2, 3 -> 0.0900306, 0.2447285, 0.6652410.
  ExpectRef("Softmax", {}, {F({2, 3}, {1, 2, 3, 0, 0, 0})}, {2, 3},
            {0.09003057f, 0.24472847f, 0.66524096f, 1 / 3.0f, 1 / 3.0f, 1 / 3.0f});
  ExpectRef("Softmax", IntAttr("axis", 0), {F({2, 1}, {0, std::log(3.0f)})}, {2, 1}, {0.25f, 0.75f});
  ExpectRef("Softmax", {}, {F({2}, {1000, 1000})}, {2}, {0.5f, 0.5f});  // no overflow
  ExpectRef("LogSoftmax", {}, {F({3}, {1, 2, 3})}, {3}, {-2.40760596f, -1.40760596f, -0.40760596f});
  ExpectRef("LogSoftmax", {}, {F({2}, {-1000, 0})}, {2}, {-1000, 0});
  // axis=1 of [2, 2, 2] pairs elements 2 apart.
  ExpectRef("Softmax", IntAttr("axis", 1), {F({1, 2, 2}, {0, 1, 0, 1})}, {1, 2, 2}, {0.5f, 0.5f, 0.5f, 0.5f});
}

TEST(ReferenceKernels, MatMulShapes) {
  const Tensor a = Iota({2, 3}), b = F({3, 2}, {1, 2, 3, 4, 5, 6});
  ExpectRef("MatMul", {}, {a, b}, {2, 2}, {13, 16, 40, 52});
  ExpectRef("MatMul", {}, {F({3}, {1, 2, 3}), b}, {2}, {22, 28});
  ExpectRef("MatMul", {}, {a, F({3}, {1, 1, 1})}, {2}, {3, 12});
  ExpectRef("MatMul", {}, {F({3}, {1, 2, 3}), F({3}, {1, 2, 3})}, {}, {14});
  // Batch broadcasting: [2, 1, 2] x [2, 1] and [1, 2] x [3, 2, 1].
  ExpectRef("MatMul", {}, {F({2, 1, 2}, {1, 2, 3, 4}), F({2, 1}, {1, 1})}, {2, 1, 1}, {3, 7});
  ExpectRef("MatMul", {}, {F({1, 2}, {5, 7}), F({3, 2, 1}, {1, 0, 0, 1, 1, 1})}, {3, 1, 1}, {5, 7, 12});
  auto r = RunRef("MatMul", {}, {I64({1, 2}, {3, 4}), I64({2, 1}, {5, 6})}, {{proto::DT_INT64, {1, 1}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{39}));
}

TEST(ReferenceKernels, GemmTransposesScalesAndBroadcastsC) {
  // op(A) = [[0,1,2],[3,4,5]] stored transposed, op(B) = [[1,2],[3,4],[5,6]] stored transposed.
  Attrs attrs = IntAttr("transA", 1, IntAttr("transB", 1, FloatAttr("alpha", 2, FloatAttr("beta", 0.5f))));
  ExpectRef("Gemm", attrs, {F({3, 2}, {0, 3, 1, 4, 2, 5}), F({2, 3}, {1, 3, 5, 2, 4, 6}), F({2}, {1, 2})}, {2, 2},
            {26.5f, 33, 80.5f, 105});
  ExpectRef("Gemm", {}, {F({1, 2}, {1, 2}), F({2, 1}, {3, 4})}, {1, 1}, {11});
  ExpectRef("Gemm", {}, {F({2, 1}, {1, 2}), F({1, 2}, {1, 1}), F({2, 1}, {10, 20})}, {2, 2}, {11, 11, 22, 22});
  ExpectRef("Gemm", {}, {F({1, 1}, {2}), F({1, 1}, {3}), F({}, {1})}, {1, 1}, {7});
}

TEST(ReferenceKernels, ReduceSum) {
  const Tensor x = Iota({2, 3});
  ExpectRef("ReduceSum", {}, {x, Ints({1})}, {2, 1}, {3, 12});
  ExpectRef("ReduceSum", IntAttr("keepdims", 0), {x, Ints({-1})}, {2}, {3, 12});
  ExpectRef("ReduceSum", {}, {x}, {1, 1}, {15});
  ExpectRef("ReduceSum", {}, {x, Ints({})}, {1, 1}, {15});
  ExpectRef("ReduceSum", IntAttr("noop_with_empty_axes", 1), {x}, {2, 3}, {0, 1, 2, 3, 4, 5});
  ExpectRef("ReduceSum", IntAttr("keepdims", 0), {Iota({2, 2, 2}), Ints({0, 2})}, {2}, {0 + 1 + 4 + 5, 2 + 3 + 6 + 7});
  auto r = RunRef("ReduceSum", {}, {I64({2, 2}, {1, 2, 3, 4}), Ints({0})}, {{proto::DT_INT64, {1, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{4, 6}));
}

TEST(ReferenceKernels, ReduceOverAContiguousBlockOfAxesMatchesTheGeneralPath) {
  // [2, 3, 4, 2] summed over the middle block {1, 2}, the leading {0, 1} and the
  // trailing {2, 3} (direct loops), and over {0, 2} (the per-element indexer).
  const Tensor x = Iota({2, 3, 4, 2});
  auto sum = [](const std::vector<int64_t>& axes) {
    std::vector<float> out;
    const int64_t d[4] = {2, 3, 4, 2};
    std::vector<bool> red(4, false);
    for (int64_t a : axes) red[a] = true;
    int64_t o[4];
    for (o[0] = 0; o[0] < (red[0] ? 1 : d[0]); ++o[0])
      for (o[1] = 0; o[1] < (red[1] ? 1 : d[1]); ++o[1])
        for (o[2] = 0; o[2] < (red[2] ? 1 : d[2]); ++o[2])
          for (o[3] = 0; o[3] < (red[3] ? 1 : d[3]); ++o[3]) {
            float s = 0;
            for (int64_t i = 0; i < 48; ++i) {
              const int64_t idx[4] = {i / 24, i / 8 % 3, i / 2 % 4, i % 2};
              bool match = true;
              for (int k = 0; k < 4; ++k) match = match && (red[k] || idx[k] == o[k]);
              if (match) s += static_cast<float>(i);
            }
            out.push_back(s);
          }
    return out;
  };
  ExpectRef("ReduceSum", IntAttr("keepdims", 0), {x, Ints({1, 2})}, {2, 2}, sum({1, 2}));
  ExpectRef("ReduceSum", IntAttr("keepdims", 0), {x, Ints({0, 1})}, {4, 2}, sum({0, 1}));
  ExpectRef("ReduceSum", {}, {x, Ints({-2, -1})}, {2, 3, 1, 1}, sum({2, 3}));
  ExpectRef("ReduceSum", IntAttr("keepdims", 0), {x, Ints({0, 2})}, {3, 2}, sum({0, 2}));
  std::vector<float> mean = sum({1, 2});
  for (float& m : mean) m /= 12;
  ExpectRef("ReduceMean", IntsAttr("axes", {1, 2}, IntAttr("keepdims", 0)), {x}, {2, 2}, mean);
}

TEST(ReferenceKernels, ReduceMeanAndMax) {
  const Tensor x = Iota({2, 3});
  ExpectRef("ReduceMean", IntsAttr("axes", {0}), {x}, {1, 3}, {1.5f, 2.5f, 3.5f});
  ExpectRef("ReduceMean", IntsAttr("axes", {-1}, IntAttr("keepdims", 0)), {x}, {2}, {1, 4});
  ExpectRef("ReduceMean", {}, {x}, {1, 1}, {2.5f});
  ExpectRef("ReduceMax", {}, {x}, {1, 1}, {5});
  ExpectRef("ReduceMax", IntsAttr("axes", {1}), {F({2, 3}, {3, 1, 2, -1, -5, 0})}, {2, 1}, {3, 0});
  auto r = RunRef("ReduceMax", IntsAttr("axes", {1}), {I32({2, 2}, {1, -2, -3, -4})}, {{proto::DT_INT32, {2, 1}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{1, -3}));
}

TEST(ReferenceKernels, Float16MathRunsInFloat32) {
  // 1.0 and 2.0 in float16; exp(1) rounds to 2.71875 (0x4170), 1 + 2 = 3 (0x4200).
  const Tensor one = Tensor::FromVector<uint16_t>(proto::DT_FLOAT16, {1}, {0x3c00});
  const Tensor two = Tensor::FromVector<uint16_t>(proto::DT_FLOAT16, {1}, {0x4000});
  auto e = RunRef("Exp", {}, {one}, {{proto::DT_FLOAT16, {1}}});
  ASSERT_OK(e.status());
  EXPECT_EQ(Values<uint16_t>((*e)[0]), (std::vector<uint16_t>{0x4170}));
  auto sum = RunRef("Add", {}, {one, two}, {{proto::DT_FLOAT16, {1}}});
  ASSERT_OK(sum.status());
  EXPECT_EQ(Values<uint16_t>((*sum)[0]), (std::vector<uint16_t>{0x4200}));
}

TEST(ReferenceKernels, ErrorsAreStatusesNotCrashes) {
  auto bool_relu = RunRef("Relu", {}, {Tensor(proto::DT_BOOL, {2})}, {{proto::DT_BOOL, {2}}});
  ASSERT_FALSE(bool_relu.ok());
  EXPECT_NE(bool_relu.status().message().find("bool"), std::string::npos) << bool_relu.status().message();
  auto int_exp = RunRef("Exp", {}, {I64({1}, {1})}, {{proto::DT_INT64, {1}}});
  ASSERT_FALSE(int_exp.ok());
  EXPECT_EQ(int_exp.status().message(), "input type int64 is not supported (supported: float32, float64)");
  auto missing = RunRef("Add", {}, {F({1}, {1})}, {{proto::DT_FLOAT, {1}}});
  EXPECT_FALSE(missing.ok());
  auto bad_shape = RunRef("MatMul", {}, {Iota({2, 3}), Iota({2, 3})}, {{proto::DT_FLOAT, {2, 3}}});
  EXPECT_FALSE(bad_shape.ok());
  auto bad_axis = RunRef("Softmax", IntAttr("axis", 3), {Iota({2})}, {{proto::DT_FLOAT, {2}}});
  EXPECT_FALSE(bad_axis.ok());
}

}  // namespace
}  // namespace kiln
