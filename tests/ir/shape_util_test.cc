// The shared shape helpers that kernels rely on beyond output sizes: resolved
// pads, slice starts and steps.
#include "ir/core/shape_util.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace kiln {
namespace {

Attrs WindowAttrs(const std::string& auto_pad, const Dims& strides) {
  Attrs a;
  a.SetString("auto_pad", auto_pad);
  a.SetInts("strides", strides);
  return a;
}

TEST(ShapeUtilTest, SamePaddingPutsTheOddElementAtTheEndForUpperAndTheStartForLower) {
  // in 6, k 4, s 1: out 6, total pad 3.
  auto upper = ComputeWindowGeometry({6}, {4}, WindowAttrs("SAME_UPPER", {1}));
  ASSERT_OK(upper.status());
  EXPECT_EQ(upper->output, (Dims{6}));
  EXPECT_EQ(upper->pads, (Dims{1, 2}));
  auto lower = ComputeWindowGeometry({6}, {4}, WindowAttrs("SAME_LOWER", {1}));
  ASSERT_OK(lower.status());
  EXPECT_EQ(lower->pads, (Dims{2, 1}));
  // in 7, k 3, s 2: out 4, total pad (4-1)*2+3-7 = 2.
  auto strided = ComputeWindowGeometry({7}, {3}, WindowAttrs("SAME_UPPER", {2}));
  ASSERT_OK(strided.status());
  EXPECT_EQ(strided->output, (Dims{4}));
  EXPECT_EQ(strided->pads, (Dims{1, 1}));
}

TEST(ShapeUtilTest, ExplicitPadsAndCeilMode) {
  Attrs a;
  a.SetInts("pads", {0, 1, 1, 0});
  a.SetInts("strides", {2, 3});
  a.SetInts("dilations", {1, 2});
  a.SetInt("ceil_mode", 1);
  auto g = ComputeWindowGeometry({8, 9}, {3, 2}, a);
  ASSERT_OK(g.status());
  // H: ceil((8 + 0 + 1 - 3) / 2) + 1 = 4; W: ceil((9 + 1 + 0 - 3) / 3) + 1 = 4.
  EXPECT_EQ(g->output, (Dims{4, 4}));
  EXPECT_EQ(g->pads, (Dims{0, 1, 1, 0}));
}

TEST(ShapeUtilTest, ConvTransposeOutputShapeDerivesPads) {
  Attrs a;
  a.SetInts("strides", {2});
  a.SetInts("output_shape", {10});
  // full = 2 * (5 - 1) + 3 = 11, total pad 1: NOTSET puts the odd element first (ONNX opset 11-13).
  auto g = ComputeConvTransposeGeometry({5}, {3}, a);
  ASSERT_OK(g.status());
  EXPECT_EQ(g->output, (Dims{10}));
  EXPECT_EQ(g->pads, (Dims{1, 0}));
  a.SetString("auto_pad", "SAME_UPPER");
  g = ComputeConvTransposeGeometry({5}, {3}, a);
  ASSERT_OK(g.status());
  EXPECT_EQ(g->pads, (Dims{0, 1}));
  // Larger than the full result: zeros appended at the end (a negative end padding).
  a.SetInts("output_shape", {12});
  g = ComputeConvTransposeGeometry({5}, {3}, a);
  ASSERT_OK(g.status());
  EXPECT_EQ(g->output, (Dims{12}));
  EXPECT_EQ(g->pads, (Dims{0, -1}));
}

TEST(ShapeUtilTest, SliceResolvesStartsAndSteps) {
  auto r = ResolveSlice({10, 20}, {-3, 100}, {1, -100}, {0, 1}, {-2, -1});
  ASSERT_OK(r.status());
  // axis 0: 7, 5, 3 ; axis 1: start clamps to 19, end to -1: all 20.
  EXPECT_EQ(r->starts, (Dims{7, 19}));
  EXPECT_EQ(r->steps, (Dims{-2, -1}));
  EXPECT_EQ(r->output, (Dims{3, 20}));
  EXPECT_FALSE(ResolveSlice({10}, {0, 0}, {1, 1}, {0, 0}, {}).ok());  // axis repeated
}

TEST(ShapeUtilTest, ReshapeSplitPermAndDTypes) {
  EXPECT_EQ(*ResolveReshape({2, 3, 4}, {-1, 0}, false), (Dims{8, 3}));
  EXPECT_FALSE(ResolveReshape({2, 3, 4}, {7, -1}, false).ok());
  EXPECT_EQ(*ResolveSplit(7, {3, 4}, 2), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(*ResolvePerm({}, 3), (std::vector<int64_t>{2, 1, 0}));
  EXPECT_EQ(*MatMulOutputDims({7, 2, 3}, {3, 5}), (Dims{7, 2, 5}));
  EXPECT_EQ(*DTypeFromOnnx(11), proto::DT_DOUBLE);
  EXPECT_EQ(*DTypeFromOnnx(16), proto::DT_BFLOAT16);
  EXPECT_FALSE(DTypeFromOnnx(17).ok());  // float8e4m3fn
  EXPECT_EQ(ReducedDims({2, 3, 4}, {0, 2}, false), (Dims{3}));
}

}  // namespace
}  // namespace kiln
