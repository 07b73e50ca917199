// Reference kernels of the comparison, logical and selection ops (ir/core/ops/logical.cc).
#include <gtest/gtest.h>

#include <cmath>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::F;
using reftest::I32;
using reftest::I64;
using reftest::RunRef;
using reftest::Values;

Tensor B(const Dims& dims, const std::vector<uint8_t>& v) { return Tensor::FromVector(proto::DT_BOOL, dims, v); }

std::vector<uint8_t> RunBool(const std::string& op, const std::vector<Tensor>& in, const Dims& dims) {
  auto r = RunRef(op, {}, in, {{proto::DT_BOOL, dims}});
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().message();
  return r.ok() ? Values<uint8_t>((*r)[0]) : std::vector<uint8_t>{};
}

TEST(ReferenceLogical, ComparisonsBroadcastOverEveryType) {
  const Tensor a = F({2, 2}, {1, 2, 3, NAN}), b = F({2}, {2, 2});
  EXPECT_EQ(RunBool("Equal", {a, b}, {2, 2}), (std::vector<uint8_t>{0, 1, 0, 0}));
  EXPECT_EQ(RunBool("Less", {a, b}, {2, 2}), (std::vector<uint8_t>{1, 0, 0, 0}));
  EXPECT_EQ(RunBool("LessOrEqual", {a, b}, {2, 2}), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(RunBool("Greater", {a, b}, {2, 2}), (std::vector<uint8_t>{0, 0, 1, 0}));
  EXPECT_EQ(RunBool("GreaterOrEqual", {a, b}, {2, 2}), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(RunBool("Less", {I32({3}, {-5, 0, 7}), I32({}, {0})}, {3}), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_EQ(RunBool("Equal", {B({3}, {1, 0, 1}), B({3}, {1, 1, 0})}, {3}), (std::vector<uint8_t>{1, 0, 0}));
  EXPECT_FALSE(RunRef("Less", {}, {F({1}, {1}), I64({1}, {1})}, {{proto::DT_BOOL, {1}}}).ok());
}

TEST(ReferenceLogical, AndOrXorNot) {
  const Tensor a = B({4}, {0, 0, 1, 1}), b = B({4}, {0, 1, 0, 1});
  EXPECT_EQ(RunBool("And", {a, b}, {4}), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(RunBool("Or", {a, b}, {4}), (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(RunBool("Xor", {a, b}, {4}), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(RunBool("Not", {a}, {4}), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_EQ(RunBool("And", {B({2, 1}, {1, 0}), B({2}, {1, 1})}, {2, 2}), (std::vector<uint8_t>{1, 1, 0, 0}));
  EXPECT_FALSE(RunRef("And", {}, {F({1}, {1}), B({1}, {1})}, {{proto::DT_BOOL, {1}}}).ok());
}

TEST(ReferenceLogical, IsInfIsNaN) {
  const Tensor x = F({5}, {INFINITY, -INFINITY, NAN, 0, 1e38f});
  EXPECT_EQ(RunBool("IsInf", {x}, {5}), (std::vector<uint8_t>{1, 1, 0, 0, 0}));
  EXPECT_EQ(RunBool("IsNaN", {x}, {5}), (std::vector<uint8_t>{0, 0, 1, 0, 0}));
  Attrs positive_only;
  positive_only.SetInt("detect_negative", 0);
  auto r = RunRef("IsInf", positive_only, {x}, {{proto::DT_BOOL, {5}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<uint8_t>((*r)[0]), (std::vector<uint8_t>{1, 0, 0, 0, 0}));
  const Tensor half = Tensor::FromVector(proto::DT_FLOAT16, {3}, std::vector<uint16_t>{0x7c00, 0xfc00, 0x7e00});
  EXPECT_EQ(RunBool("IsInf", {half}, {3}), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(RunBool("IsNaN", {half}, {3}), (std::vector<uint8_t>{0, 0, 1}));
  EXPECT_FALSE(RunRef("IsNaN", {}, {I32({1}, {1})}, {{proto::DT_BOOL, {1}}}).ok());
}

TEST(ReferenceLogical, WhereBroadcastsAllThree) {
  auto r = RunRef("Where", {}, {B({2, 1}, {1, 0}), F({2}, {1, 2}), F({}, {9})}, {{proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 9, 9}));
  auto i = RunRef("Where", {}, {B({2}, {0, 1}), I64({2}, {1, 2}), I64({2}, {3, 4})}, {{proto::DT_INT64, {2}}});
  ASSERT_OK(i.status());
  EXPECT_EQ(Values<int64_t>((*i)[0]), (std::vector<int64_t>{3, 2}));
  // Whole inputs and single values (the plain loop): Where(IsNaN(p), 0, p) and a scalar condition.
  auto nan_to_zero =
      RunRef("Where", {}, {B({2, 2}, {0, 1, 1, 0}), F({}, {0}), F({2, 2}, {1, 2, 3, 4})}, {{proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(nan_to_zero.status());
  EXPECT_EQ(Values<float>((*nan_to_zero)[0]), (std::vector<float>{1, 0, 0, 4}));
  auto scalar_condition =
      RunRef("Where", {}, {B({}, {1}), F({1, 3}, {5, 6, 7}), F({}, {9})}, {{proto::DT_FLOAT, {1, 3}}});
  ASSERT_OK(scalar_condition.status());
  EXPECT_EQ(Values<float>((*scalar_condition)[0]), (std::vector<float>{5, 6, 7}));
}

TEST(ReferenceLogical, ModSignsAndZeroDivisor) {
  Attrs fmod;
  fmod.SetInt("fmod", 1);
  auto r = RunRef("Mod", {}, {I64({4}, {7, -7, 7, 5}), I64({4}, {3, 3, -3, 0})}, {{proto::DT_INT64, {4}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{1, 2, -2, 0}));  // the divisor's sign; x % 0 -> 0
  r = RunRef("Mod", fmod, {I64({3}, {7, -7, 7}), I64({3}, {3, 3, -3})}, {{proto::DT_INT64, {3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[0]), (std::vector<int64_t>{1, -1, 1}));  // the dividend's sign
  r = RunRef("Mod", fmod, {F({2}, {5.5f, -5.5f}), F({2}, {2, 2})}, {{proto::DT_FLOAT, {2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1.5f, -1.5f}));
}

TEST(ReferenceLogical, CastLikeSizeRange) {
  auto c = RunRef("CastLike", {}, {F({2}, {1.7f, -2}), I32({}, {0})}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(c.status());
  EXPECT_EQ(Values<int32_t>((*c)[0]), (std::vector<int32_t>{1, -2}));
  auto s = RunRef("Size", {}, {F({2, 3}, {1, 2, 3, 4, 5, 6})}, {{proto::DT_INT64, {}}});
  ASSERT_OK(s.status());
  EXPECT_EQ(Values<int64_t>((*s)[0]), (std::vector<int64_t>{6}));
  auto r = RunRef("Range", {}, {F({}, {1}), F({}, {2.2f}), F({}, {0.5f})}, {{proto::DT_FLOAT, {3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 1.5f, 2}));
  auto down = RunRef("Range", {}, {I64({}, {10}), I64({}, {4}), I64({}, {-3})}, {{proto::DT_INT64, {2}}});
  ASSERT_OK(down.status());
  EXPECT_EQ(Values<int64_t>((*down)[0]), (std::vector<int64_t>{10, 7}));
}

}  // namespace
}  // namespace kiln
