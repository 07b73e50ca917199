// Reference kernels of the array ops (CumSum, CumProd, Hardmax, TopK, OneHot,
// DepthToSpace, SpaceToDepth), RMSNormalization and Resize, hand-computed.
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

Tensor I8(const Dims& dims, const std::vector<int8_t>& v) { return Tensor::FromVector(proto::DT_INT8, dims, v); }
Tensor U8(const Dims& dims, const std::vector<uint8_t>& v) { return Tensor::FromVector(proto::DT_UINT8, dims, v); }

Attrs Int(const std::string& name, int64_t v, Attrs a = {}) {
  a.SetInt(name, v);
  return a;
}
Attrs Str(const std::string& name, const std::string& v, Attrs a = {}) {
  a.SetString(name, v);
  return a;
}

TEST(ReferenceArray, CumSumAndCumProdModes) {
  const Tensor x = F({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = RunRef("CumSum", {}, {x, I64({}, {1})}, {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 3, 6, 4, 9, 15}));
  r = RunRef("CumSum", Int("exclusive", 1, Int("reverse", 1)), {x, I64({}, {0})}, {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{4, 5, 6, 0, 0, 0}));
  r = RunRef("CumProd", Int("exclusive", 1), {x, I64({}, {-1})}, {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 1, 2, 1, 4, 20}));
  auto i = RunRef("CumSum", {}, {reftest::I32({3}, {2147483647, 1, 1}), I64({}, {0})}, {{proto::DT_INT32, {3}}});
  ASSERT_OK(i.status());
  EXPECT_EQ(Values<int32_t>((*i)[0]), (std::vector<int32_t>{2147483647, -2147483647 - 1, -2147483647}));  // wraps
}

TEST(ReferenceArray, HardmaxPicksTheFirstMaximum) {
  auto r = RunRef("Hardmax", {}, {F({2, 3}, {1, 3, 3, -1, -2, -3})}, {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{0, 1, 0, 1, 0, 0}));
}

TEST(ReferenceArray, TopKLargestSmallestAndTies) {
  const Tensor x = F({2, 4}, {1, 4, 4, 2, 0, -1, 5, -1});
  auto r = RunRef("TopK", {}, {x, I64({1}, {2})}, {{proto::DT_FLOAT, {2, 2}}, {proto::DT_INT64, {2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{4, 4, 5, 0}));
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{1, 2, 2, 0}));
  r = RunRef("TopK", Int("largest", 0), {x, I64({1}, {2})}, {{proto::DT_FLOAT, {2, 2}}, {proto::DT_INT64, {2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, -1, -1}));
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{0, 3, 1, 3}));
  // NaN sorts above every number (as NumPy and ONNX Runtime do), ties still by index.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  r = RunRef("TopK", {}, {F({4}, {1, nan, 3, nan}), I64({1}, {3})}, {{proto::DT_FLOAT, {3}}, {proto::DT_INT64, {3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{1, 3, 2}));
  r = RunRef("TopK", Int("largest", 0), {F({4}, {1, nan, 3, nan}), I64({1}, {3})},
             {{proto::DT_FLOAT, {3}}, {proto::DT_INT64, {3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{0, 2, 1}));
}

TEST(ReferenceArray, OneHotNegativeAndOutOfRangeIndices) {
  auto r = RunRef("OneHot", Int("axis", 0), {I64({3}, {0, -1, 7}), I64({}, {3}), F({2}, {-1, 5})},
                  {{proto::DT_FLOAT, {3, 3}}});
  ASSERT_OK(r.status());
  // [depth, N]: index 0 -> row 0, -1 -> row 2, 7 -> all off.
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{5, -1, -1, -1, -1, -1, -1, 5, -1}));
}

TEST(ReferenceArray, DepthToSpaceModesAndSpaceToDepthInverts) {
  std::vector<float> v(8);
  for (int i = 0; i < 8; ++i) v[i] = static_cast<float>(i);
  const Tensor depth = F({1, 8, 1, 1}, v);
  auto dcr = RunRef("DepthToSpace", Int("blocksize", 2), {depth}, {{proto::DT_FLOAT, {1, 2, 2, 2}}});
  ASSERT_OK(dcr.status());
  EXPECT_EQ(Values<float>((*dcr)[0]), (std::vector<float>{0, 2, 4, 6, 1, 3, 5, 7}));
  auto crd =
      RunRef("DepthToSpace", Str("mode", "CRD", Int("blocksize", 2)), {depth}, {{proto::DT_FLOAT, {1, 2, 2, 2}}});
  ASSERT_OK(crd.status());
  EXPECT_EQ(Values<float>((*crd)[0]), v);
  auto back = RunRef("SpaceToDepth", Int("blocksize", 2), {(*dcr)[0]}, {{proto::DT_FLOAT, {1, 8, 1, 1}}});
  ASSERT_OK(back.status());
  EXPECT_EQ(Values<float>((*back)[0]), v);
}

TEST(ReferenceArray, RMSNormalization) {
  auto r = RunRef("RMSNormalization", Int("axis", 1), {F({2, 2}, {3, 4, 0, 0}), F({2}, {1, 2})},
                  {{proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(r.status());
  const double rms = std::sqrt(12.5 + 1e-5);
  const std::vector<float> y = Values<float>((*r)[0]);
  EXPECT_NEAR(y[0], 3 / rms, 1e-6);
  EXPECT_NEAR(y[1], 8 / rms, 1e-6);
  EXPECT_EQ(y[2], 0);
}

Tensor Floats(const std::vector<float>& v) { return F({static_cast<int64_t>(v.size())}, v); }

TEST(ReferenceArray, ResizeNearestLinearAndAlignCorners) {
  const Tensor x = F({1, 1, 2, 2}, {1, 2, 3, 4});
  const Tensor empty = F({0}, {});
  auto r = RunRef("Resize", {}, {x, empty, Floats({1, 1, 2, 2})}, {{proto::DT_FLOAT, {1, 1, 4, 4}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
  // half_pixel linear along one axis, as PyTorch's align_corners=False: [1, 1.25, 1.75, 2].
  const Tensor row = F({1, 2}, {1, 2});
  r = RunRef("Resize", Str("mode", "linear"), {row, empty, Floats({1, 2})}, {{proto::DT_FLOAT, {1, 4}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 1.25f, 1.75f, 2}));
  r = RunRef("Resize", Str("coordinate_transformation_mode", "align_corners", Str("mode", "linear")),
             {row, empty, empty, I64({2}, {1, 3})}, {{proto::DT_FLOAT, {1, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 1.5f, 2}));
  EXPECT_FALSE(RunRef("Resize", {}, {row, empty, Floats({1, 2}), I64({2}, {1, 4})}, {{proto::DT_FLOAT, {1, 4}}}).ok());
}

TEST(ReferenceArray, ScatterElementsAndScatterNDReductions) {
  const Tensor data = F({2, 3}, {1, 2, 3, 4, 5, 6});
  auto r = RunRef("ScatterElements", Int("axis", 1), {data, I64({1, 2}, {2, -3}), F({1, 2}, {10, 20})},
                  {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{20, 2, 10, 4, 5, 6}));
  r = RunRef("ScatterND", Str("reduction", "add"), {data, I64({2, 1}, {1, 1}), F({2, 3}, {1, 1, 1, 2, 2, 2})},
             {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 3, 7, 8, 9}));
  r = RunRef("ScatterND", Str("reduction", "max"), {data, I64({1, 2}, {0, 2}), F({1}, {-1})},
             {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  EXPECT_FALSE(
      RunRef("ScatterND", {}, {data, I64({1, 1}, {2}), F({1, 3}, {0, 0, 0})}, {{proto::DT_FLOAT, {2, 3}}}).ok());
}

TEST(ReferenceArray, GatherNDWithBatchDims) {
  const Tensor data = F({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto r = RunRef("GatherND", {}, {data, I64({2, 2}, {0, 1, 1, 0})}, {{proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{2, 3, 4, 5}));
  r = RunRef("GatherND", Int("batch_dims", 1), {data, I64({2, 1}, {1, 0})}, {{proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{2, 3, 4, 5}));
}

TEST(ReferenceArray, QuantizeRoundsHalfToEvenAndSaturates) {
  const Tensor x = F({2, 3}, {0.5f, 1.5f, 2.5f, -300, 300, 1});
  auto r = RunRef("QuantizeLinear", {}, {x, F({}, {1}), I8({}, {0})}, {{proto::DT_INT8, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int8_t>((*r)[0]), (std::vector<int8_t>{0, 2, 2, -128, 127, 1}));
  // Per axis 1: scales [1, 2, 4], uint8 zero points [10, 20, 30].
  r = RunRef("QuantizeLinear", {}, {x, F({3}, {1, 2, 4}), U8({3}, {10, 20, 30})}, {{proto::DT_UINT8, {2, 3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<uint8_t>((*r)[0]), (std::vector<uint8_t>{10, 21, 31, 0, 170, 30}));
  auto d =
      RunRef("DequantizeLinear", Int("axis", 0),
             {U8({2, 3}, {10, 20, 30, 0, 1, 2}), F({2}, {0.5f, 2}), U8({2}, {10, 1})}, {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_OK(d.status());
  EXPECT_EQ(Values<float>((*d)[0]), (std::vector<float>{0, 5, 10, -2, 0, 2}));
}

}  // namespace
}  // namespace kiln
