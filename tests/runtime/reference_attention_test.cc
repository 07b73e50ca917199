// Reference kernel of Attention: hand-computed single-query cases (softmax weights,
// causal and bool masks, grouped-query heads, the KV cache, fully masked rows).
#include <gtest/gtest.h>

#include <cmath>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::F;
using reftest::RunRef;
using reftest::Values;

const Tensor kQ = F({1, 1, 1, 2}, {1, 0});
const Tensor kK = F({1, 1, 2, 2}, {1, 0, 0, 1});
const Tensor kV = F({1, 1, 2, 1}, {1, 3});

Attrs Int(const std::string& name, int64_t v) {
  Attrs a;
  a.SetInt(name, v);
  return a;
}

TEST(ReferenceAttention, SoftmaxOfScaledScores) {
  auto r = RunRef("Attention", {}, {kQ, kK, kV}, {{proto::DT_FLOAT, {1, 1, 1, 1}}});
  ASSERT_OK(r.status());
  const double w = std::exp(1 / std::sqrt(2.0));  // scores 1/sqrt(2) and 0
  EXPECT_NEAR(Values<float>((*r)[0])[0], (w * 1 + 3) / (w + 1), 1e-6);
}

TEST(ReferenceAttention, CausalBoolMaskAndFullyMaskedRows) {
  auto r = RunRef("Attention", Int("is_causal", 1), {kQ, kK, kV}, {{proto::DT_FLOAT, {1, 1, 1, 1}}});
  ASSERT_OK(r.status());
  EXPECT_FLOAT_EQ(Values<float>((*r)[0])[0], 1);  // query 0 sees key 0 only
  const Tensor keep_second = Tensor::FromVector(proto::DT_BOOL, {1, 2}, std::vector<uint8_t>{0, 1});
  r = RunRef("Attention", {}, {kQ, kK, kV, keep_second}, {{proto::DT_FLOAT, {1, 1, 1, 1}}});
  ASSERT_OK(r.status());
  EXPECT_FLOAT_EQ(Values<float>((*r)[0])[0], 3);
  const Tensor none = Tensor::FromVector(proto::DT_BOOL, {2}, std::vector<uint8_t>{0, 0});
  r = RunRef("Attention", {}, {kQ, kK, kV, none}, {{proto::DT_FLOAT, {1, 1, 1, 1}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0])[0], 0);
}

TEST(ReferenceAttention, GroupedQueryHeadsAndCache) {
  // Two query heads share the one KV head; the first key comes from the cache.
  const Tensor q = F({1, 2, 1, 2}, {1, 0, 0, 1});
  const Tensor k = F({1, 1, 1, 2}, {0, 1});
  const Tensor v = F({1, 1, 1, 1}, {3});
  const Tensor past_k = F({1, 1, 1, 2}, {1, 0});
  const Tensor past_v = F({1, 1, 1, 1}, {1});
  auto r = RunRef("Attention", {}, {q, k, v, Tensor(), past_k, past_v},
                  {{proto::DT_FLOAT, {1, 2, 1, 1}}, {proto::DT_FLOAT, {1, 1, 2, 2}}, {proto::DT_FLOAT, {1, 1, 2, 1}}});
  ASSERT_OK(r.status());
  const double w = std::exp(1 / std::sqrt(2.0));
  const std::vector<float> y = Values<float>((*r)[0]);
  EXPECT_NEAR(y[0], (w * 1 + 3) / (w + 1), 1e-6);
  EXPECT_NEAR(y[1], (1 + w * 3) / (w + 1), 1e-6);
  EXPECT_EQ(Values<float>((*r)[1]), (std::vector<float>{1, 0, 0, 1}));
  EXPECT_EQ(Values<float>((*r)[2]), (std::vector<float>{1, 3}));
}

}  // namespace
}  // namespace kiln
