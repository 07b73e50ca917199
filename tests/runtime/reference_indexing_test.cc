// Reference kernels of GatherElements, Trilu and LayerNormalization.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::F;
using reftest::I64;
using reftest::RunRef;
using reftest::Values;

TEST(ReferenceIndexing, GatherElementsAlongEitherAxis) {
  const Tensor data = F({2, 2}, {1, 2, 3, 4});
  Attrs axis1;
  axis1.SetInt("axis", 1);
  auto r = RunRef("GatherElements", axis1, {data, I64({2, 2}, {0, 0, 1, 0})}, {{proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 1, 4, 3}));
  r = RunRef("GatherElements", {}, {data, I64({1, 2}, {1, -2})}, {{proto::DT_FLOAT, {1, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{3, 2}));
  EXPECT_FALSE(RunRef("GatherElements", {}, {data, I64({1, 2}, {2, 0})}, {{proto::DT_FLOAT, {1, 2}}}).ok());
}

TEST(ReferenceIndexing, TriluUpperLowerAndK) {
  const Tensor x = F({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto r = RunRef("Trilu", {}, {x}, {{proto::DT_FLOAT, {3, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 3, 0, 5, 6, 0, 0, 9}));
  Attrs lower;
  lower.SetInt("upper", 0);
  r = RunRef("Trilu", lower, {x, I64({}, {-1})}, {{proto::DT_FLOAT, {3, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{0, 0, 0, 4, 0, 0, 7, 8, 0}));
}

TEST(ReferenceIndexing, LayerNormalizationWithStatistics) {
  auto r = RunRef("LayerNormalization", {}, {F({2, 2}, {1, 3, 2, 2}), F({2}, {1, 2}), F({2}, {0, 1})},
                  {{proto::DT_FLOAT, {2, 2}}, {proto::DT_FLOAT, {2, 1}}, {proto::DT_FLOAT, {2, 1}}});
  ASSERT_OK(r.status());
  const double inv = 1 / std::sqrt(1 + 1e-5);
  const std::vector<float> y = Values<float>((*r)[0]);
  EXPECT_NEAR(y[0], -inv, 1e-6);
  EXPECT_NEAR(y[1], 2 * inv + 1, 1e-6);
  EXPECT_NEAR(y[2], 0, 1e-6);
  EXPECT_NEAR(y[3], 1, 1e-6);
  EXPECT_EQ(Values<float>((*r)[1]), (std::vector<float>{2, 2}));
  EXPECT_NEAR(Values<float>((*r)[2])[1], 1 / std::sqrt(1e-5), 1e-1);
}

}  // namespace
}  // namespace kiln
