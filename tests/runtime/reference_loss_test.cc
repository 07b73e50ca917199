// Reference kernels of ONNX's class losses: NegativeLogLikelihoodLoss,
// SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLossGrad, hand-computed.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::F;
using reftest::I64;
using reftest::RunRef;
using reftest::Values;

Attrs Reduction(const std::string& r, std::optional<int64_t> ignore = std::nullopt) {
  Attrs a;
  a.SetString("reduction", r);
  if (ignore) a.SetInt("ignore_index", *ignore);
  return a;
}

// input [2, 3, 2]: element (n, d) picks input[n, target, d].
const Tensor kInput = F({2, 3, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
const Tensor kTarget = I64({2, 2}, {0, 2, 1, 2});  // picks 1, 6, 9, 12

TEST(ReferenceLoss, NllReductions) {
  auto r = RunRef("NegativeLogLikelihoodLoss", Reduction("none"), {kInput, kTarget}, {{proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{-1, -6, -9, -12}));
  r = RunRef("NegativeLogLikelihoodLoss", Reduction("sum"), {kInput, kTarget}, {{proto::DT_FLOAT, {}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{-28}));
  // mean with weights: sum(-x * w) / sum(w) = -(1*1 + 6*3 + 9*2 + 12*3) / (1 + 3 + 2 + 3).
  r = RunRef("NegativeLogLikelihoodLoss", {}, {kInput, kTarget, F({3}, {1, 2, 3})}, {{proto::DT_FLOAT, {}}});
  ASSERT_OK(r.status());
  EXPECT_FLOAT_EQ(Values<float>((*r)[0])[0], -73.0f / 9.0f);
}

TEST(ReferenceLoss, NllIgnoreIndexAndRange) {
  // ignore_index 2: elements 1 and 3 count 0 and leave the mean's denominator.
  auto r = RunRef("NegativeLogLikelihoodLoss", Reduction("mean", 2), {kInput, kTarget}, {{proto::DT_FLOAT, {}}});
  ASSERT_OK(r.status());
  EXPECT_FLOAT_EQ(Values<float>((*r)[0])[0], -5.0f);
  auto bad = RunRef("NegativeLogLikelihoodLoss", {}, {kInput, I64({2, 2}, {0, 3, 1, 2})}, {{proto::DT_FLOAT, {}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("label 3 of target element 1 is out of range [0, 3)"), std::string::npos)
      << bad.status().message();
}

TEST(ReferenceLoss, SoftmaxCrossEntropyMatchesLogSoftmaxThenNll) {
  const Tensor scores = F({2, 3}, {1, 2, 3, 0, 0, 0});
  auto r = RunRef("SoftmaxCrossEntropyLoss", Reduction("none"), {scores, I64({2}, {2, 1})},
                  {{proto::DT_FLOAT, {2}}, {proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  const std::vector<float> loss = Values<float>((*r)[0]), lp = Values<float>((*r)[1]);
  EXPECT_NEAR(loss[0], lse - 3, 1e-6);
  EXPECT_NEAR(loss[1], std::log(3.0), 1e-6);
  EXPECT_NEAR(lp[0], 1 - lse, 1e-6);
  EXPECT_NEAR(lp[4], -std::log(3.0), 1e-6);
}

TEST(ReferenceLoss, NllGradAtTheTargetClass) {
  // mean with weights [1, 2, 3]: dInput = -dLoss * w[t] / 9 at each target.
  auto r = RunRef("NegativeLogLikelihoodLossGrad", {}, {F({}, {9}), kInput, kTarget, F({3}, {1, 2, 3})},
                  {{proto::DT_FLOAT, {2, 3, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{-1, 0, 0, 0, 0, -3, 0, 0, -2, 0, 0, -3}));
  r = RunRef("NegativeLogLikelihoodLossGrad", Reduction("none", 0), {F({2, 2}, {1, 2, 3, 4}), kInput, kTarget},
             {{proto::DT_FLOAT, {2, 3, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{0, 0, 0, 0, 0, -2, 0, 0, -3, 0, 0, -4}));
}

}  // namespace
}  // namespace kiln
