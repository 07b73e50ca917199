// Reference Conv, ConvTranspose, pooling and normalization kernels against
// hand-computed examples and an independent 2-D convolution written here.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using namespace reftest;  // NOLINT: test helpers

// A direct 2-D convolution, written independently of the kernel (which is N-D):
// y[n, m, oh, ow] = b[m] + sum x[n, g*Cg + c, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw] * w[m, c, kh, kw].
std::vector<float> NaiveConv2d(const Tensor& x, const Tensor& w, const std::vector<float>& bias, int group,
                               Dims strides, Dims dilations, Dims pads, Dims out_hw) {
  const int64_t n_batch = x.dims()[0], c_in = x.dims()[1], h = x.dims()[2], wd = x.dims()[3];
  const int64_t m_out = w.dims()[0], cg = w.dims()[1], kh_n = w.dims()[2], kw_n = w.dims()[3];
  const float* xp = x.data_as<float>();
  const float* wp = w.data_as<float>();
  std::vector<float> y;
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t m = 0; m < m_out; ++m) {
      const int64_t g = m / (m_out / group);
      for (int64_t oh = 0; oh < out_hw[0]; ++oh) {
        for (int64_t ow = 0; ow < out_hw[1]; ++ow) {
          double sum = bias.empty() ? 0 : bias[m];
          for (int64_t c = 0; c < cg; ++c) {
            for (int64_t kh = 0; kh < kh_n; ++kh) {
              for (int64_t kw = 0; kw < kw_n; ++kw) {
                const int64_t ih = oh * strides[0] - pads[0] + kh * dilations[0];
                const int64_t iw = ow * strides[1] - pads[1] + kw * dilations[1];
                if (ih < 0 || ih >= h || iw < 0 || iw >= wd) continue;
                sum += xp[((n * c_in + g * cg + c) * h + ih) * wd + iw] * wp[((m * cg + c) * kh_n + kh) * kw_n + kw];
              }
            }
          }
          y.push_back(static_cast<float>(sum));
        }
      }
    }
  }
  return y;
}

Tensor Pattern(const Dims& dims, int seed) {
  std::vector<float> v(ElementCount(dims));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37 + seed * 11) % 17) / 8.0f - 1.0f;
  return F(dims, v);
}

double Dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.num_elements(); ++i) s += double{a.data_as<float>()[i]} * b.data_as<float>()[i];
  return s;
}

TEST(ReferenceNnKernels, ConvKnownExample) {
  // 4x4 ramp, 3x3 box filter: window sums 45, 54, 81, 90.
  ExpectRef("Conv", {}, {Iota({1, 1, 4, 4}), F({1, 1, 3, 3}, std::vector<float>(9, 1))}, {1, 1, 2, 2},
            {45, 54, 81, 90});
  // With pads 1: the corner sees 0 + 1 + 4 + 5.
  auto padded =
      RunRef("Conv", IntsAttr("pads", {1, 1, 1, 1}), {Iota({1, 1, 4, 4}), F({1, 1, 3, 3}, std::vector<float>(9, 1))},
             {{proto::DT_FLOAT, {1, 1, 4, 4}}});
  ASSERT_OK(padded.status());
  EXPECT_EQ(Values<float>((*padded)[0])[0], 10);
  // 1-D, stride 2, difference filter; 3-D box filter.
  ExpectRef("Conv", IntsAttr("strides", {2}), {F({1, 1, 5}, {1, 2, 3, 4, 5}), F({1, 1, 2}, {1, -1})}, {1, 1, 2},
            {-1, -1});
  ExpectRef("Conv", {}, {Iota({1, 1, 2, 2, 2}), F({1, 1, 2, 2, 2}, std::vector<float>(8, 1))}, {1, 1, 1, 1, 1}, {28});
}

TEST(ReferenceNnKernels, ConvMatchesNaiveFormulaWithGroupsStridesDilationsPads) {
  const Tensor x = Pattern({2, 4, 7, 6}, 1), w = Pattern({6, 2, 3, 2}, 2);
  const std::vector<float> bias = {0.5f, -0.25f, 1, 0, 2, -1};
  Attrs a =
      IntAttr("group", 2, IntsAttr("strides", {2, 1}, IntsAttr("dilations", {1, 2}, IntsAttr("pads", {1, 0, 2, 1}))));
  // out h = (7 + 3 - 3) / 2 + 1 = 4, w = (6 + 1 - 3) / 1 + 1 = 5.
  ExpectRef("Conv", a, {x, w, F({6}, bias)}, {2, 6, 4, 5}, NaiveConv2d(x, w, bias, 2, {2, 1}, {1, 2}, {1, 0}, {4, 5}),
            1e-5);
}

TEST(ReferenceNnKernels, ConvAutoPadMatchesExplicitPads) {
  const Tensor x = Pattern({1, 2, 5, 5}, 3), w = Pattern({3, 2, 2, 2}, 4);
  // Kernel 2, stride 1: SAME pads one cell, at the end (UPPER) or the beginning (LOWER).
  for (const auto& [mode, pads] :
       std::vector<std::pair<std::string, Dims>>{{"SAME_UPPER", {0, 0}}, {"SAME_LOWER", {1, 1}}}) {
    Attrs a;
    a.SetString("auto_pad", mode);
    ExpectRef("Conv", a, {x, w}, {1, 3, 5, 5}, NaiveConv2d(x, w, {}, 1, {1, 1}, {1, 1}, pads, {5, 5}), 1e-5);
  }
  Attrs valid;
  valid.SetString("auto_pad", "VALID");
  ExpectRef("Conv", valid, {x, w}, {1, 3, 4, 4}, NaiveConv2d(x, w, {}, 1, {1, 1}, {1, 1}, {0, 0}, {4, 4}), 1e-5);
}

TEST(ReferenceNnKernels, ConvTransposeKnownExamples) {
  const Tensor x = F({1, 1, 2, 2}, {1, 2, 3, 4}), ones = F({1, 1, 2, 2}, {1, 1, 1, 1});
  ExpectRef("ConvTranspose", {}, {x, ones}, {1, 1, 3, 3}, {1, 3, 2, 4, 10, 6, 3, 7, 4});
  ExpectRef("ConvTranspose", IntsAttr("strides", {2, 2}), {x, ones}, {1, 1, 4, 4},
            {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Bias and pads that crop one cell from each border of the 3x3 result.
  ExpectRef("ConvTranspose", IntsAttr("pads", {1, 1, 1, 1}), {x, ones, F({1}, {0.5f})}, {1, 1, 1, 1}, {10.5f});
}

// ConvTranspose is the adjoint of Conv with the same weight tensor:
// <Conv(x), y> == <x, ConvTranspose(y)> for every x, y.
TEST(ReferenceNnKernels, ConvTransposeIsTheAdjointOfConv) {
  const Tensor x = Pattern({1, 4, 7, 6}, 5), w = Pattern({6, 2, 3, 2}, 6), y = Pattern({1, 6, 4, 4}, 7);
  Attrs conv =
      IntAttr("group", 2, IntsAttr("strides", {2, 1}, IntsAttr("dilations", {1, 2}, IntsAttr("pads", {1, 0, 1, 0}))));
  // Conv: h = (7 + 2 - 3) / 2 + 1 = 4, w = (6 - 3) + 1 = 4. ConvTranspose back: h = 2 * 3 + 3 - 2 = 7, w = 3 + 3 = 6.
  auto cx = RunRef("Conv", conv, {x, w}, {{proto::DT_FLOAT, {1, 6, 4, 4}}});
  ASSERT_OK(cx.status());
  auto ty = RunRef("ConvTranspose", conv, {y, w}, {{proto::DT_FLOAT, {1, 4, 7, 6}}});
  ASSERT_OK(ty.status());
  EXPECT_NEAR(Dot((*cx)[0], y), Dot(x, (*ty)[0]), 1e-4);
}

TEST(ReferenceNnKernels, ConvTransposeOutputPaddingAndShape) {
  // output_padding extends the result at the end (with zeros here).
  Attrs extra = IntsAttr("strides", {2, 2}, IntsAttr("output_padding", {1, 1}));
  ExpectRef("ConvTranspose", extra, {F({1, 1, 1, 1}, {2}), F({1, 1, 1, 1}, {3})}, {1, 1, 2, 2}, {6, 0, 0, 0});
  // output_shape 2x2 of the full 3x3 result: the odd padding cell goes to the beginning (NOTSET).
  const Tensor x = F({1, 1, 2, 2}, {1, 2, 3, 4}), ones = F({1, 1, 2, 2}, {1, 1, 1, 1});
  ExpectRef("ConvTranspose", IntsAttr("output_shape", {2, 2}), {x, ones}, {1, 1, 2, 2}, {10, 6, 7, 4});
  Attrs upper;
  upper.SetString("auto_pad", "SAME_UPPER");
  ExpectRef("ConvTranspose", upper, {x, ones}, {1, 1, 2, 2}, {1, 3, 4, 10});
}

TEST(ReferenceNnKernels, MaxPool) {
  Attrs k2s2 = IntsAttr("kernel_shape", {2, 2}, IntsAttr("strides", {2, 2}));
  auto r =
      RunRef("MaxPool", k2s2, {Iota({1, 1, 4, 4})}, {{proto::DT_FLOAT, {1, 1, 2, 2}}, {proto::DT_INT64, {1, 1, 2, 2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{5, 7, 13, 15}));
  EXPECT_EQ(Values<int64_t>((*r)[1]), (std::vector<int64_t>{5, 7, 13, 15}));
  // Padded cells are ignored, not zeros: an all-negative input keeps its values.
  ExpectRef("MaxPool", IntsAttr("pads", {1, 1, 1, 1}, k2s2), {F({1, 1, 2, 2}, {-1, -2, -3, -4})}, {1, 1, 2, 2},
            {-1, -2, -3, -4});
  // ceil_mode adds a last window that hangs off the end; dilations skip cells.
  Attrs k2s2_1d = IntsAttr("kernel_shape", {2}, IntsAttr("strides", {2}));
  ExpectRef("MaxPool", IntAttr("ceil_mode", 1, k2s2_1d), {F({1, 1, 5}, {1, 2, 3, 4, 5})}, {1, 1, 3}, {2, 4, 5});
  ExpectRef("MaxPool", k2s2_1d, {F({1, 1, 5}, {1, 2, 3, 4, 5})}, {1, 1, 2}, {2, 4});
  ExpectRef("MaxPool", IntsAttr("kernel_shape", {2}, IntsAttr("dilations", {2})), {F({1, 1, 5}, {5, 1, 2, 4, 3})},
            {1, 1, 3}, {5, 4, 3});
}

TEST(ReferenceNnKernels, MaxPoolOnBytesAndDoubles) {
  Attrs k2 = IntsAttr("kernel_shape", {2});
  auto u8 = RunRef("MaxPool", k2, {Tensor::FromVector<uint8_t>(proto::DT_UINT8, {1, 1, 3}, {200, 7, 250})},
                   {{proto::DT_UINT8, {1, 1, 2}}});
  ASSERT_OK(u8.status());
  EXPECT_EQ(Values<uint8_t>((*u8)[0]), (std::vector<uint8_t>{200, 250}));
  auto d = RunRef("MaxPool", k2, {D({1, 1, 3}, {-1, -3, -2})}, {{proto::DT_DOUBLE, {1, 1, 2}}});
  ASSERT_OK(d.status());
  EXPECT_EQ(Values<double>((*d)[0]), (std::vector<double>{-1, -2}));
}

TEST(ReferenceNnKernels, MaxPoolIndicesCountBatchChannelAndStorageOrder) {
  // Channel 1 holds its max 8 at (0, 1): row-major 1 + 6, column-major 1 * 2 + 0 + 6.
  const Tensor x = F({1, 2, 2, 3}, {0, 1, 9, 3, 4, 5, 0, 8, 1, 2, 3, 4});
  Attrs a = IntsAttr("kernel_shape", {2, 3});
  for (int order : {0, 1}) {
    auto r = RunRef("MaxPool", IntAttr("storage_order", order, a), {x},
                    {{proto::DT_FLOAT, {1, 2, 1, 1}}, {proto::DT_INT64, {1, 2, 1, 1}}});
    ASSERT_OK(r.status());
    EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{9, 8}));
    EXPECT_EQ(Values<int64_t>((*r)[1]), order == 0 ? (std::vector<int64_t>{2, 7}) : (std::vector<int64_t>{4, 8}));
  }
}

TEST(ReferenceNnKernels, AveragePool) {
  ExpectRef("AveragePool", IntsAttr("kernel_shape", {2, 2}, IntsAttr("strides", {2, 2})), {Iota({1, 1, 4, 4})},
            {1, 1, 2, 2}, {2.5f, 4.5f, 10.5f, 12.5f});
  // 3x3 ramp x[r][c] = 3r + c, 3x3 windows, pads 1: the mean of the in-bounds cells...
  Attrs a = IntsAttr("kernel_shape", {3, 3}, IntsAttr("pads", {1, 1, 1, 1}));
  ExpectRef("AveragePool", a, {Iota({1, 1, 3, 3})}, {1, 1, 3, 3}, {2, 2.5f, 3, 3.5f, 4, 4.5f, 5, 5.5f, 6});
  // ... or their sum over all 9 cells with count_include_pad.
  ExpectRef("AveragePool", IntAttr("count_include_pad", 1, a), {Iota({1, 1, 3, 3})}, {1, 1, 3, 3},
            {8 / 9.0f, 15 / 9.0f, 12 / 9.0f, 21 / 9.0f, 4, 27 / 9.0f, 20 / 9.0f, 33 / 9.0f, 24 / 9.0f});
  // ceil_mode: the last window holds one real cell (cells past the end padding never count).
  Attrs c = IntsAttr("kernel_shape", {2}, IntsAttr("strides", {2}, IntAttr("ceil_mode", 1)));
  ExpectRef("AveragePool", c, {F({1, 1, 5}, {1, 2, 3, 4, 5})}, {1, 1, 3}, {1.5f, 3.5f, 5});
  ExpectRef("AveragePool", IntAttr("count_include_pad", 1, c), {F({1, 1, 5}, {1, 2, 3, 4, 5})}, {1, 1, 3},
            {1.5f, 3.5f, 5});
}

TEST(ReferenceNnKernels, GlobalAveragePool) {
  ExpectRef("GlobalAveragePool", {}, {Iota({1, 2, 2, 2})}, {1, 2, 1, 1}, {1.5f, 5.5f});
  ExpectRef("GlobalAveragePool", {}, {Iota({2, 1, 3})}, {2, 1, 1}, {1, 4});
}

TEST(ReferenceNnKernels, BatchNormalizationInference) {
  const Tensor x = F({1, 2, 1, 2}, {1, 2, 3, 4});
  const Tensor scale = F({2}, {1, 2}), bias = F({2}, {0, 1}), mean = F({2}, {1, 3}), var = F({2}, {4, 1});
  ExpectRef("BatchNormalization", FloatAttr("epsilon", 0), {x, scale, bias, mean, var}, {1, 2, 1, 2}, {0, 0.5f, 1, 3});
  const float s0 = 1 / std::sqrt(4 + 1e-5f), s1 = 2 / std::sqrt(1 + 1e-5f);
  auto r = RunRef("BatchNormalization", {}, {x, scale, bias, mean, var},
                  {{proto::DT_FLOAT, {1, 2, 1, 2}}, {proto::DT_FLOAT, {2}}, {proto::DT_FLOAT, {2}}});
  ASSERT_OK(r.status());
  const std::vector<float> y = Values<float>((*r)[0]);
  EXPECT_NEAR(y[1], 1 * s0, 1e-6);
  EXPECT_NEAR(y[3], 1 * s1 + 1, 1e-6);
  EXPECT_EQ(Values<float>((*r)[1]), (std::vector<float>{1, 3}));
  EXPECT_EQ(Values<float>((*r)[2]), (std::vector<float>{4, 1}));
  EXPECT_FALSE(RunRef("BatchNormalization", IntAttr("training_mode", 1), {x, scale, bias, mean, var},
                      {{proto::DT_FLOAT, {1, 2, 1, 2}}})
                   .ok());
}

TEST(ReferenceNnKernels, LrnFollowsTheOnnxFormula) {
  // size 2: channel c sums squares over [c, c + 1]; y = x / (1 + 1/2 * sum)^1.
  Attrs a = IntAttr("size", 2, FloatAttr("alpha", 1, FloatAttr("beta", 1, FloatAttr("bias", 1))));
  ExpectRef("LRN", a, {F({1, 3, 1, 1}, {1, 2, 3})}, {1, 3, 1, 1}, {1 / 3.5f, 2 / 7.5f, 3 / 5.5f});
  // size 3 with the default alpha, beta, bias: window [c - 1, c + 1].
  const std::vector<float> x = {1, 2, 3, 4};
  std::vector<float> expected;
  for (int c = 0; c < 4; ++c) {
    double sq = 0;
    for (int k = std::max(0, c - 1); k <= std::min(3, c + 1); ++k) sq += x[k] * x[k];
    expected.push_back(static_cast<float>(x[c] / std::pow(1.0 + 1e-4 / 3 * sq, 0.75)));
  }
  ExpectRef("LRN", IntAttr("size", 3), {F({1, 4, 1}, x)}, {1, 4, 1}, expected);
}

}  // namespace
}  // namespace kiln
