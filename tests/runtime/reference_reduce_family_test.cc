// Reference kernels of the ONNX-13 reductions past Sum/Mean/Max and ArgMax/ArgMin.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::F;
using reftest::I64;
using reftest::RunRef;
using reftest::Values;

Attrs Axes(std::vector<int64_t> axes, int64_t keepdims = 1) {
  Attrs a;
  a.SetInts("axes", axes);
  a.SetInt("keepdims", keepdims);
  return a;
}

std::vector<float> Reduce(const std::string& op, const Attrs& a, const Tensor& x, const Dims& out) {
  auto r = RunRef(op, a, {x}, {{proto::DT_FLOAT, out}});
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().message();
  return r.ok() ? Values<float>((*r)[0]) : std::vector<float>{};
}

TEST(ReferenceReduceFamily, EveryKindOverOneAxis) {
  const Tensor x = F({2, 3}, {1, -2, 3, 4, 0.5f, -6});
  EXPECT_EQ(Reduce("ReduceMin", Axes({1}, 0), x, {2}), (std::vector<float>{-2, -6}));
  EXPECT_EQ(Reduce("ReduceProd", Axes({1}, 0), x, {2}), (std::vector<float>{-6, -12}));
  EXPECT_EQ(Reduce("ReduceSumSquare", Axes({0}, 0), x, {3}), (std::vector<float>{17, 4.25f, 45}));
  EXPECT_EQ(Reduce("ReduceL1", Axes({1}), x, {2, 1}), (std::vector<float>{6, 10.5f}));
  const auto l2 = Reduce("ReduceL2", Axes({1}, 0), x, {2});
  EXPECT_NEAR(l2[0], std::sqrt(14.0), 1e-6);
  EXPECT_NEAR(l2[1], std::sqrt(52.25), 1e-5);
  const auto log_sum = Reduce("ReduceLogSum", Axes({0}, 0), F({2, 2}, {1, 2, 3, 4}), {2});
  EXPECT_NEAR(log_sum[0], std::log(4.0), 1e-6);
  EXPECT_NEAR(log_sum[1], std::log(6.0), 1e-6);
  // Large values stay finite: max + log(sum(exp(x - max))).
  const auto lse = Reduce("ReduceLogSumExp", Axes({1}, 0), F({1, 2}, {1000, 1000}), {1});
  EXPECT_NEAR(lse[0], 1000 + std::log(2.0), 1e-3);
}

TEST(ReferenceReduceFamily, EmptySetsGiveTheIdentity) {
  const Tensor empty = F({2, 0, 4}, {});
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Reduce("ReduceMin", Axes({1}), empty, {2, 1, 4}), std::vector<float>(8, inf));
  EXPECT_EQ(Reduce("ReduceProd", Axes({1}), empty, {2, 1, 4}), std::vector<float>(8, 1));
  EXPECT_EQ(Reduce("ReduceL2", Axes({1}), empty, {2, 1, 4}), std::vector<float>(8, 0));
  EXPECT_EQ(Reduce("ReduceLogSumExp", Axes({1}), empty, {2, 1, 4}), std::vector<float>(8, -inf));
}

TEST(ReferenceReduceFamily, ArgMaxArgMinTiesAndNaN) {
  Attrs a;
  a.SetInt("axis", 1);
  auto r = RunRef("ArgMax", a, {F({2, 3}, {1, 3, 3, NAN, 0, 1})}, {{proto::DT_INT64, {2, 1}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{1, 0}));
  a.SetInt("select_last_index", 1);
  r = RunRef("ArgMax", a, {F({2, 3}, {1, 3, 3, 2, 0, 1})}, {{proto::DT_INT64, {2, 1}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{2, 0}));
  Attrs b;
  b.SetInt("keepdims", 0);
  r = RunRef("ArgMin", b, {I64({3, 2}, {5, 1, 2, 7, 2, 0})}, {{proto::DT_INT64, {2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{1, 2}));
}

}  // namespace
}  // namespace kiln
