// Reference kernels of the ops added for ONNX breadth (issue 13): Mean, GlobalMaxPool, LpPool,
// bool ReduceMax/ReduceMin, EyeLike, Einsum, LpNormalization, MeanVarianceNormalization,
// ReverseSequence, Det. Expected values worked out by hand (or from numpy's definitions).
#include <cmath>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::ExpectRef;
using reftest::F;
using reftest::Iota;
using reftest::RunRef;
using reftest::Values;

Attrs Str(const std::string& name, const std::string& v) {
  Attrs a;
  a.SetString(name, v);
  return a;
}

TEST(ReferenceBreadth, MeanBroadcastsAndDividesByTheInputCount) {
  ExpectRef("Mean", {}, {F({2, 2}, {1, 2, 3, 4}), F({2}, {10, 20}), F({}, {3})}, {2, 2},
            {14 / 3.f, 25 / 3.f, 16 / 3.f, 9});
  ExpectRef("Mean", {}, {F({2}, {1, -2})}, {2}, {1, -2});
}

TEST(ReferenceBreadth, GlobalMaxPoolTakesEachPlanesMaximum) {
  ExpectRef("GlobalMaxPool", {}, {F({1, 2, 2, 2}, {1, 5, -3, 2, -1, -7, -2, -4})}, {1, 2, 1, 1}, {5, -1});
  auto nan = RunRef("GlobalMaxPool", {}, {F({1, 1, 2}, {NAN, 1})}, {{proto::DT_FLOAT, {1, 1, 1}}});
  ASSERT_OK(nan.status());
  EXPECT_TRUE(std::isnan(Values<float>((*nan)[0])[0]));
}

TEST(ReferenceBreadth, LpPoolIsThePNormOfEachWindow) {
  Attrs a = reftest::IntsAttr("kernel_shape", {2});
  a.SetInt("p", 2);
  ExpectRef("LpPool", a, {F({1, 1, 3}, {3, 4, 12})}, {1, 1, 2}, {5, std::sqrt(160.f)});
  a.SetInt("p", 1);
  a.SetInts("pads", {1, 0});
  ExpectRef("LpPool", a, {F({1, 1, 3}, {-3, 4, 12})}, {1, 1, 3}, {3, 7, 16});
}

TEST(ReferenceBreadth, BoolReduceMaxIsAnyAndReduceMinIsAll) {
  const Tensor x = Tensor::FromVector<uint8_t>(proto::DT_BOOL, {2, 3}, {0, 1, 0, 1, 1, 1});
  auto any = RunRef("ReduceMax", reftest::IntsAttr("axes", {1}), {x}, {{proto::DT_BOOL, {2, 1}}});
  ASSERT_OK(any.status());
  EXPECT_EQ(Values<uint8_t>((*any)[0]), (std::vector<uint8_t>{1, 1}));
  auto all = RunRef("ReduceMin", reftest::IntsAttr("axes", {1}), {x}, {{proto::DT_BOOL, {2, 1}}});
  ASSERT_OK(all.status());
  EXPECT_EQ(Values<uint8_t>((*all)[0]), (std::vector<uint8_t>{0, 1}));
  // An empty reduction: all() of nothing is true, any() false.
  const Tensor empty(proto::DT_BOOL, {2, 0});
  auto all_empty = RunRef("ReduceMin", reftest::IntsAttr("axes", {1}), {empty}, {{proto::DT_BOOL, {2, 1}}});
  ASSERT_OK(all_empty.status());
  EXPECT_EQ(Values<uint8_t>((*all_empty)[0]), (std::vector<uint8_t>{1, 1}));
}

TEST(ReferenceBreadth, EyeLikeSetsDiagonalK) {
  Attrs a;
  a.SetInt("k", 1);
  a.SetInt("dtype", 7);  // int64
  auto y = RunRef("EyeLike", a, {F({2, 3}, {9, 9, 9, 9, 9, 9})}, {{proto::DT_INT64, {2, 3}}});
  ASSERT_OK(y.status());
  EXPECT_EQ(Values<int64_t>((*y)[0]), (std::vector<int64_t>{0, 1, 0, 0, 0, 1}));
  a.SetInt("k", -5);  // below every row: zeros
  auto zeros = RunRef("EyeLike", a, {F({2, 3}, {9, 9, 9, 9, 9, 9})}, {{proto::DT_INT64, {2, 3}}});
  ASSERT_OK(zeros.status());
  EXPECT_EQ(Values<int64_t>((*zeros)[0]), (std::vector<int64_t>(6, 0)));
}

TEST(ReferenceBreadth, EinsumMatMulTransposeTraceDiagonalAndBroadcast) {
  ExpectRef("Einsum", Str("equation", "ij,jk->ik"), {Iota({2, 3}), Iota({3, 2})}, {2, 2}, {10, 13, 28, 40});
  ExpectRef("Einsum", Str("equation", "ij,jk"), {Iota({2, 3}), Iota({3, 2})}, {2, 2}, {10, 13, 28, 40});
  ExpectRef("Einsum", Str("equation", "ij->ji"), {Iota({2, 3})}, {3, 2}, {0, 3, 1, 4, 2, 5});
  ExpectRef("Einsum", Str("equation", "ii"), {Iota({3, 3})}, {}, {12});
  ExpectRef("Einsum", Str("equation", "...ii->...i"), {Iota({2, 2, 2})}, {2, 2}, {0, 3, 4, 7});
  ExpectRef("Einsum", Str("equation", "i,i"), {Iota({3}), Iota({3}, 1)}, {}, {8});
  // Ellipsis dims broadcast: [2, 1, 2] against [3, 2] -> [2, 3].
  ExpectRef("Einsum", Str("equation", "...j,...j->..."), {Iota({2, 1, 2}), Iota({3, 2})}, {2, 3}, {1, 3, 5, 3, 13, 23});
  auto ints =
      RunRef("Einsum", Str("equation", "ij->i"), {reftest::I32({2, 2}, {1, 2, 3, 4})}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(ints.status());
  EXPECT_EQ(Values<int32_t>((*ints)[0]), (std::vector<int32_t>{3, 7}));
}

TEST(ReferenceBreadth, LpNormalizationAlongAxis) {
  Attrs a;
  a.SetInt("axis", 0);
  ExpectRef("LpNormalization", a, {F({2, 2}, {3, 0, 4, 0})}, {2, 2}, {0.6f, 0, 0.8f, 0});
  a.SetInt("p", 1);
  a.SetInt("axis", -1);
  ExpectRef("LpNormalization", a, {F({2, 2}, {1, -3, 2, 2})}, {2, 2}, {0.25f, -0.75f, 0.5f, 0.5f});
}

TEST(ReferenceBreadth, MeanVarianceNormalizationOverAxes) {
  // Axis 1 of [[1, 3], [2, 2]]: means 2 and 2, standard deviations 1 and 0.
  ExpectRef("MeanVarianceNormalization", reftest::IntsAttr("axes", {1}), {F({2, 2}, {1, 3, 2, 2})}, {2, 2},
            {-1, 1, 0, 0}, 1e-6);
}

TEST(ReferenceBreadth, ReverseSequenceReversesEachPrefix) {
  Attrs time_major;  // [time 3, batch 2]
  ExpectRef("ReverseSequence", time_major, {Iota({3, 2}), reftest::Ints({3, 1})}, {3, 2}, {4, 1, 2, 3, 0, 5});
  Attrs batch_major;
  batch_major.SetInt("batch_axis", 0);
  batch_major.SetInt("time_axis", 1);
  ExpectRef("ReverseSequence", batch_major, {Iota({2, 3}), reftest::Ints({2, 0})}, {2, 3}, {1, 0, 2, 3, 4, 5});
  EXPECT_FALSE(
      RunRef("ReverseSequence", time_major, {Iota({3, 2}), reftest::Ints({4, 1})}, {{proto::DT_FLOAT, {3, 2}}}).ok());
}

TEST(ReferenceBreadth, GroupNormalizationPerGroupThenPerChannelAffine) {
  Attrs a;
  a.SetInt("num_groups", 2);
  a.SetFloat("epsilon", 0);
  // Groups {1, 3} and {4, 6}: each normalized to {-1, 1}; scale/bias per channel.
  ExpectRef("GroupNormalization", a, {F({1, 4, 1}, {1, 3, 4, 6}), F({4}, {1, 2, 3, 4}), F({4}, {0, 0, 1, 1})},
            {1, 4, 1}, {-1, 2, -2, 5});
  // ONNX 18's per-group scale and bias.
  a.SetInt("scale_per_group", 1);
  ExpectRef("GroupNormalization", a, {F({1, 4, 1}, {1, 3, 4, 6}), F({2}, {2, 3}), F({2}, {1, 0})}, {1, 4, 1},
            {-1, 3, -3, 3});
}

TEST(ReferenceBreadth, QuantizeToSixteenBitsSaturates) {
  auto q = RunRef("QuantizeLinear", {},
                  {F({3}, {1, -70000, 70000}), F({}, {0.5f}), Tensor::FromVector<int16_t>(proto::DT_INT16, {}, {-3})},
                  {{proto::DT_INT16, {3}}});
  ASSERT_OK(q.status());
  EXPECT_EQ(Values<int16_t>((*q)[0]), (std::vector<int16_t>{-1, -32768, 32767}));
  auto d = RunRef("DequantizeLinear", {},
                  {Tensor::FromVector<uint16_t>(proto::DT_UINT16, {2}, {65535, 7}), F({}, {2}),
                   Tensor::FromVector<uint16_t>(proto::DT_UINT16, {}, {5})},
                  {{proto::DT_FLOAT, {2}}});
  ASSERT_OK(d.status());
  EXPECT_EQ(Values<float>((*d)[0]), (std::vector<float>{131060, 4}));
}

TEST(ReferenceBreadth, CenterCropPadCropsAndPadsAboutTheCentre) {
  // Rows 4 -> 2 (crop 1 from the start), columns 3 -> 6 (pad 1 before, 2 after).
  ExpectRef("CenterCropPad", {}, {Iota({4, 3}), reftest::Ints({2, 6})}, {2, 6}, {0, 3, 4, 5, 0, 0, 0, 6, 7, 8, 0, 0});
}

TEST(ReferenceBreadth, CompressKeepsTheSelectedSlices) {
  const Tensor condition = Tensor::FromVector<uint8_t>(proto::DT_BOOL, {2}, {0, 1});
  Attrs axis;
  axis.SetInt("axis", 1);
  ExpectRef("Compress", axis, {Iota({2, 3}), condition}, {2, 1}, {1, 4});
  ExpectRef("Compress", {}, {Iota({2, 3}), condition}, {1}, {1});
}

TEST(ReferenceBreadth, UniqueSortedOrByFirstOccurrence) {
  const Tensor x = F({6}, {2, 1, 2, 3, 1, NAN});
  auto sorted =
      RunRef("Unique", {}, {x},
             {{proto::DT_FLOAT, {4}}, {proto::DT_INT64, {4}}, {proto::DT_INT64, {6}}, {proto::DT_INT64, {4}}});
  ASSERT_OK(sorted.status());
  const std::vector<float> y = Values<float>((*sorted)[0]);
  EXPECT_EQ(std::vector<float>(y.begin(), y.begin() + 3), (std::vector<float>{1, 2, 3}));
  EXPECT_TRUE(std::isnan(y[3]));
  EXPECT_EQ(Values<int64_t>((*sorted)[1]), (std::vector<int64_t>{1, 0, 3, 5}));
  EXPECT_EQ(Values<int64_t>((*sorted)[2]), (std::vector<int64_t>{1, 0, 1, 2, 0, 3}));
  EXPECT_EQ(Values<int64_t>((*sorted)[3]), (std::vector<int64_t>{2, 2, 1, 1}));
  Attrs first;
  first.SetInt("sorted", 0);
  first.SetInt("axis", 0);
  auto rows = RunRef("Unique", first, {reftest::I64({3, 2}, {5, 1, 0, 0, 5, 1})},
                     {{proto::DT_INT64, {2, 2}}, {proto::DT_INT64, {2}}, {proto::DT_INT64, {3}}});
  ASSERT_OK(rows.status());
  EXPECT_EQ(Values<int64_t>((*rows)[0]), (std::vector<int64_t>{5, 1, 0, 0}));
  EXPECT_EQ(Values<int64_t>((*rows)[1]), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(Values<int64_t>((*rows)[2]), (std::vector<int64_t>{0, 1, 0}));
}

TEST(ReferenceBreadth, ConvTransposeOutputShapeBeyondTheFullResultAppendsZeros) {
  ExpectRef("ConvTranspose", reftest::IntsAttr("output_shape", {5}), {F({1, 1, 2}, {1, 2}), F({1, 1, 2}, {1, 1})},
            {1, 1, 5}, {1, 3, 2, 0, 0});
}

TEST(ReferenceBreadth, DetOfABatchOfMatrices) {
  ExpectRef("Det", {}, {F({3, 2, 2}, {1, 2, 3, 4, 0, 1, 1, 0, 2, 4, 1, 2})}, {3}, {-2, -1, 0});
  ExpectRef("Det", {}, {F({3, 3}, {2, 0, 1, 1, 3, 2, 1, 1, 2})}, {}, {6}, 1e-5);
}

}  // namespace
}  // namespace kiln
