// oneDNN kernels: (1) small hand-checkable cases run directly through the
// "onednn" factories against values computed independently (naive ONNX
// formulas, in the test or precomputed below); (2) one table-driven suite that
// compiles each op twice (oneDNN on / off) and compares with the "ref" kernels;
// (3) the support check agrees with what the factories accept.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "compiler/compile.h"
#include "dnnl.hpp"
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelRegistry;
using runtime::KernelSpec;

// Multiples of 1/8 in [-1, 1]: exact in float, so sums of a few are exact too.
// The script that computed the expected values below uses the same formula.
Tensor Pattern(const Dims& dims, int seed) {
  std::vector<float> v(ElementCount(dims));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 37 + seed * 11) % 17) / 8.0f - 1.0f;
  return Tensor::FromVector(proto::DT_FLOAT, dims, v);
}

Attrs MakeAttrs(const std::vector<std::pair<std::string, std::vector<int64_t>>>& ints,
                const std::vector<std::pair<std::string, float>>& floats = {}) {
  Attrs a;
  for (const auto& [name, v] : ints) {
    if (v.size() == 1 && name != "kernel_shape" && name != "strides" && name != "pads" && name != "dilations" &&
        name != "output_padding" && name != "axes") {
      a.SetInt(name, v[0]);
    } else {
      a.SetInts(name, v);
    }
  }
  for (const auto& [name, v] : floats) a.SetFloat(name, v);
  return a;
}

class OneDnnDirectTest : public ::testing::Test {
 protected:
  OneDnnDirectTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }
  // Runs the "onednn" kernel of `op` once; an empty Tensor is an omitted input.
  StatusOr<std::vector<Tensor>> Run(const std::string& op, const Attrs& attrs, const std::vector<Tensor>& inputs,
                                    const std::vector<Dims>& output_dims) {
    KernelSpec spec;
    spec.name = "n";
    spec.op_type = op;
    spec.attrs = attrs;
    spec.env = &env_;
    for (const Tensor& t : inputs) spec.inputs.push_back(t.ref());
    std::vector<Tensor> outputs;
    for (const Dims& d : output_dims) {
      outputs.emplace_back(proto::DT_FLOAT, d);
      spec.outputs.push_back(outputs.back().ref());
    }
    ASSIGN_OR_RETURN(auto kernel, KernelRegistry::Global().Create("onednn", spec));
    RETURN_IF_ERROR(kernel->Run(spec.inputs, spec.outputs));
    return outputs;
  }
  void Expect(const std::string& op, const Attrs& attrs, const std::vector<Tensor>& inputs, const Dims& out,
              const std::vector<float>& expected, double tol = 1e-5) {
    auto result = Run(op, attrs, inputs, {out});
    ASSERT_OK(result.status());
    ASSERT_EQ(static_cast<size_t>((*result)[0].num_elements()), expected.size());
    std::string diff =
        testing::CompareTensors((*result)[0], Tensor::FromVector(proto::DT_FLOAT, out, expected), tol, tol);
    EXPECT_TRUE(diff.empty()) << op << ": " << diff;
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
};

// Expected values from a naive Python implementation of the ONNX formulas on
// Pattern() inputs (seeds as in each test).
// [1, 6, 3, 2]
const std::vector<float> kConv2d = {
    3.875f,     1.328125f,  2.203125f,  0.75f,     0.875f,     1.25f,      -0.703125f, -0.890625f, -2.46875f,
    -1.796875f, -0.703125f, -1.359375f, -0.5f,     -0.984375f, 0.828125f,  -1.421875f, 2.5f,       -0.515625f,
    0.4375f,    -1.796875f, 0.390625f,  -0.65625f, -0.984375f, -1.265625f, -0.515625f, 0.171875f,  3.015625f,
    -0.640625f, 1.0625f,    -0.484375f, 2.78125f,  1.34375f,   -0.734375f, 2.296875f,  1.25f,      0.03125f};
// [2, 4, 4]
const std::vector<float> kConv1d = {-1.140625f, -1.03125f,  0.40625f,   -0.71875f,  0.625f,    -0.828125f, -0.6875f,
                                    0.9375f,    0.53125f,   -0.890625f, -0.453125f, 1.0f,      0.4375f,    -0.953125f,
                                    -0.21875f,  1.0625f,    0.40625f,   -1.078125f, 0.09375f,  0.9375f,    -0.6875f,
                                    0.515625f,  -0.140625f, -0.5625f,   -0.453125f, 0.515625f, -0.375f,    -0.46875f,
                                    -0.21875f,  0.515625f,  -0.609375f, -0.375f};
// [1, 6, 6, 7]
const std::vector<float> kConvt = {
    -1.390625f, -1.0625f,   0.3125f,    -0.5625f,   0.25f,      -1.125f,    -1.03125f,  -0.046875f, -0.140625f,
    -0.28125f,  -1.0f,      -1.46875f,  -0.53125f,  -0.296875f, -1.265625f, 0.4375f,    -0.671875f, -0.125f,
    -1.0f,      -0.6875f,   -0.546875f, -0.328125f, -0.328125f, -0.390625f, -0.921875f, -1.3125f,   -0.453125f,
    -0.125f,    -1.40625f,  -1.25f,     0.203125f,  -0.75f,     0.140625f,  -1.3125f,   -1.125f,    -0.40625f,
    0.015625f,  0.125f,     -1.03125f,  -1.4375f,   -0.75f,     -0.5625f,   0.078125f,  0.40625f,   -1.5f,
    -0.8125f,   0.578125f,  -0.4375f,   0.71875f,   -1.578125f, 0.453125f,  0.546875f,  0.140625f,  0.1875f,
    -0.703125f, -0.46875f,  -0.171875f, -0.59375f,  -0.578125f, -0.21875f,  -0.625f,    0.15625f,   -1.03125f,
    -1.8125f,   0.046875f,  0.265625f,  0.0f,       0.171875f,  -0.84375f,  -0.515625f, 0.109375f,  0.53125f,
    -1.515625f, -0.6875f,   0.5625f,    -0.3125f,   0.671875f,  -0.75f,     -0.59375f,  0.796875f,  -0.4375f,
    0.578125f,  -0.8125f,   -0.625f,    -0.3125f,   0.015625f,  0.40625f,   0.0f,       -0.6875f,   -0.28125f,
    -0.1875f,   0.609375f,  0.515625f,  -1.546875f, -0.578125f, 0.515625f,  0.453125f,  0.421875f,  1.1875f,
    0.765625f,  0.84375f,   0.484375f,  0.28125f,   0.203125f,  0.34375f,   0.421875f,  0.421875f,  -1.734375f,
    -0.40625f,  0.59375f,   0.625f,     0.421875f,  -0.5f,      -0.078125f, 0.21875f,   -0.09375f,  -0.875f,
    -0.375f,    -0.1875f,   0.765625f,  1.1875f,    -0.921875f, -0.375f,    1.0f,       0.1875f,    1.171875f,
    0.1875f,    0.0f,       -0.5f,      0.28125f,   0.59375f,   0.296875f,  -0.125f,    0.796875f,  1.0f,
    0.96875f,   -0.03125f,  -1.359375f, 0.796875f,  0.796875f,  0.71875f,   0.578125f,  0.65625f,   0.859375f,
    1.21875f,   1.140625f,  1.5625f,    0.796875f,  0.828125f,  0.890625f,  -0.203125f, -1.171875f, 0.890625f,
    0.984375f,  0.1875f,    0.09375f,   -0.3125f,   0.375f,     0.78125f,   0.390625f,  0.0625f,    1.5f,
    0.34375f,   1.296875f,  -0.125f,    -0.703125f, 1.265625f,  0.9375f,    1.796875f,  0.8125f,    1.6875f,
    0.4375f,    -0.390625f, 1.65625f,   1.234375f,  0.609375f,  0.28125f,   1.296875f,  1.125f,     1.390625f,
    1.171875f,  -0.6875f,   0.09375f,   1.28125f,   0.5f,       0.90625f,   0.546875f,  0.53125f,   0.953125f,
    0.65625f,   0.421875f,  1.3125f,    1.265625f,  1.671875f,  1.578125f,  -0.453125f, 1.84375f,   0.6875f,
    1.703125f,  0.3125f,    -0.375f,    1.53125f,   1.203125f,  0.5f,       0.40625f,   1.71875f,   0.875f,
    1.859375f,  0.546875f,  0.21875f,   -1.375f,    -1.5625f,   -0.109375f, -1.0f,      -0.046875f, -1.5f,
    -1.65625f,  -0.375f,    -0.703125f, -1.5625f,   -1.171875f, -0.640625f, -0.578125f, -0.578125f, -0.796875f,
    -0.9375f,   -1.25f,     -0.375f,    -0.921875f, 0.1875f,    -1.515625f, -0.546875f, -0.78125f,  -1.71875f,
    -1.25f,     -0.53125f,  -0.390625f, -0.296875f, -1.28125f,  -1.375f,    0.0f,       -0.8125f,   0.0625f,
    -1.3125f,   -1.640625f, -1.03125f,  -1.125f,    -1.84375f,  -1.3125f,   -0.359375f, -0.4375f,   -0.765625f};
// [1, 2, 3, 3]
const std::vector<float> kMaxpoolCeil = {0.875f,  -0.25f, 0.125f, 0.625f, 1.0f,   -0.375f, 0.125f, 0.875f,  -0.875f,
                                         -0.125f, 0.625f, 1.0f,   0.875f, 0.125f, 0.5f,    1.0f,   -0.375f, 0.0f};
// [1, 2, 3, 3]
const std::vector<float> kMaxpoolDil = {0.75f,  0.625f, 1.0f,  0.5f,   0.875f, 0.75f,  0.25f,  0.625f, 1.0f,
                                        0.875f, 0.75f,  0.25f, 0.875f, 1.0f,   0.875f, 0.625f, 1.0f,   0.625f};
// [1, 2, 4, 4]
const std::vector<float> kAvgExcl = {
    -0.34375f,      -0.333333333f,  -0.3125f,      -0.125f,        -0.125f,       -0.0555555556f, -0.152777778f,
    -0.0833333333f, -0.0416666667f, 0.0277777778f, -0.0694444444f, 0.0f,          0.0f,           0.1875f,
    0.208333333f,   0.21875f,       0.34375f,      0.0f,           -0.333333333f, -0.5f,          0.208333333f,
    0.0416666667f,  -0.0555555556f, -0.104166667f, -0.0625f,       -0.111111111f, 0.0277777778f,  -0.0208333333f,
    -0.375f,        -0.1875f,       0.1875f,       0.375f};
// [1, 2, 4, 4]
const std::vector<float> kAvgIncl = {
    -0.152777778f,  -0.222222222f,  -0.208333333f,  -0.0555555556f, -0.0833333333f, -0.0555555556f, -0.152777778f,
    -0.0555555556f, -0.0277777778f, 0.0277777778f,  -0.0694444444f, 0.0f,           0.0f,           0.125f,
    0.138888889f,   0.0972222222f,  0.152777778f,   0.0f,           -0.222222222f,  -0.222222222f,  0.138888889f,
    0.0416666667f,  -0.0555555556f, -0.0694444444f, -0.0416666667f, -0.111111111f,  0.0277777778f,  -0.0138888889f,
    -0.166666667f,  -0.125f,        0.125f,         0.166666667f};
// [2, 4]
const std::vector<float> kGemm = {-1.8828125f, -0.40625f,   -0.390625f,  0.421875f,
                                  -1.7421875f, -0.4296875f, -0.1796875f, 0.0703125f};
// [2, 3, 2, 2]
const std::vector<float> kMatmul = {1.078125f,  1.265625f,  -0.15625f,  -0.296875f, 1.140625f,  1.328125f,
                                    -0.203125f, -0.34375f,  1.203125f,  -0.46875f,  -0.25f,     -0.125f,
                                    1.0f,       1.328125f,  -0.234375f, -0.234375f, 1.109375f,  1.4375f,
                                    -0.234375f, -0.234375f, 1.21875f,   -0.578125f, -0.234375f, -0.234375f};
// [1, 5, 2, 2]
const std::vector<float> kLrn = {-0.585479066f, -0.366345046f, -0.147130472f, 0.0740796131f,  0.292683537f,
                                 0.512490301f,  -0.512490301f, -0.292683537f, -0.0735652359f, 0.14687588f,
                                 0.366345046f,  0.584472928f,  -0.439698313f, -0.219680754f,  0.0f,
                                 0.219680754f,  0.439782608f,  -0.586264417f, -0.369822913f,  -0.14827457f};
// [1, 3, 7]
const std::vector<float> kConvtOpad = {0.015625f,  -0.078125f, -0.21875f, -0.03125f, 0.34375f,  0.015625f,  0.0f,
                                       -0.171875f, -0.265625f, 0.15625f,  0.34375f,  -0.3125f,  -0.640625f, 0.0f,
                                       0.171875f,  0.078125f,  -0.53125f, -0.34375f, 0.890625f, 0.5625f,    0.0f};

// Kernels too small to repay waking other threads run on the calling thread alone; the
// thread count the session set is back in place after each run.
TEST_F(OneDnnDirectTest, SmallKernelsRunOnOneThread) {
  auto spec = [&](const std::string& op, const std::vector<Dims>& inputs, const Dims& out) {
    KernelSpec s;
    s.op_type = op;
    s.env = &env_;
    for (const Dims& d : inputs) s.inputs.push_back(TensorRef{proto::DT_FLOAT, d, nullptr});
    s.outputs.push_back(TensorRef{proto::DT_FLOAT, out, nullptr});
    return s;
  };
  using runtime::onednn::OneDnnKernelRunsOnOneThread;
  EXPECT_TRUE(OneDnnKernelRunsOnOneThread(spec("MatMul", {{1, 784}, {784, 128}}, {1, 128})));  // 0.2 MFLOP
  EXPECT_FALSE(OneDnnKernelRunsOnOneThread(spec("MatMul", {{64, 784}, {784, 512}}, {64, 512})));
  EXPECT_TRUE(OneDnnKernelRunsOnOneThread(spec("FusedConv", {{1, 1, 28, 28}, {6, 1, 5, 5}}, {1, 6, 24, 24})));
  EXPECT_FALSE(OneDnnKernelRunsOnOneThread(spec("Conv", {{8, 64, 56, 56}, {64, 64, 3, 3}}, {8, 64, 56, 56})));
  EXPECT_TRUE(OneDnnKernelRunsOnOneThread(spec("Relu", {{16, 16}}, {16, 16})));
  EXPECT_FALSE(OneDnnKernelRunsOnOneThread(spec("Relu", {{1024, 1024}}, {1024, 1024})));
  // Backward products are not estimated: they keep every thread, however small.
  EXPECT_FALSE(OneDnnKernelRunsOnOneThread(spec("ConvGradInput", {{1, 1, 2, 2}, {1, 1, 1, 1}}, {1, 1, 2, 2})));
  // Unsplit memory-bound kernels of an inference plan stay on one thread up to one core's L2
  // (OpenMP's workers sleep there); training plans and compute-bound kernels keep the region.
  using runtime::onednn::OneDnnUnsplitKernelRunsOnOneThread;
  const KernelSpec transpose = spec("Transpose", {{10, 64, 64}}, {64, 10, 64});
  EXPECT_FALSE(OneDnnKernelRunsOnOneThread(transpose));
  ASSERT_TRUE(env_.use_share_team);
  EXPECT_TRUE(OneDnnUnsplitKernelRunsOnOneThread(transpose));
  EXPECT_TRUE(OneDnnUnsplitKernelRunsOnOneThread(spec("LayerNormalization", {{640, 64}, {64}, {64}}, {640, 64})));
  EXPECT_FALSE(OneDnnUnsplitKernelRunsOnOneThread(spec("Transpose", {{64, 64, 128}}, {64, 128, 64})));  // 4 MiB
  EXPECT_FALSE(OneDnnUnsplitKernelRunsOnOneThread(spec("MatMul", {{64, 784}, {784, 512}}, {64, 512})));
  EXPECT_FALSE(OneDnnUnsplitKernelRunsOnOneThread(spec("ConvGradInput", {{1, 1, 2, 2}, {1, 1, 1, 1}}, {1, 1, 2, 2})));
  env_.use_share_team = false;
  EXPECT_FALSE(OneDnnUnsplitKernelRunsOnOneThread(transpose));
  env_.use_share_team = true;
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  const int saved = omp_get_max_threads();
  omp_set_num_threads(3);
  Expect("MatMul", {}, {Pattern({2, 3}, 1), Pattern({3, 2}, 2)}, {2, 2}, {1.140625f, 1.1875f, 0.015625f, -0.265625f});
  EXPECT_EQ(omp_get_max_threads(), 3);
  omp_set_num_threads(saved);
#endif
}

TEST_F(OneDnnDirectTest, Conv2dGroupedStridedDilatedAsymmetricPads) {
  Expect("Conv", MakeAttrs({{"group", {2}}, {"strides", {2, 1}}, {"dilations", {1, 2}}, {"pads", {1, 0, 2, 1}}}),
         {Pattern({1, 4, 5, 5}, 1), Pattern({6, 2, 3, 3}, 2), Pattern({6}, 3)}, {1, 6, 3, 2}, kConv2d);
}

TEST_F(OneDnnDirectTest, Conv1dSameUpperNoBias) {
  Attrs attrs = MakeAttrs({{"strides", {2}}});
  attrs.SetString("auto_pad", "SAME_UPPER");
  Expect("Conv", attrs, {Pattern({2, 3, 7}, 4), Pattern({4, 3, 2}, 5)}, {2, 4, 4}, kConv1d);
}

TEST_F(OneDnnDirectTest, ConvTransposeGroupedWithOutputPadding) {
  Expect("ConvTranspose",
         MakeAttrs({{"group", {2}}, {"strides", {2, 2}}, {"pads", {1, 0, 1, 1}}, {"output_padding", {1, 1}}}),
         {Pattern({1, 4, 3, 3}, 6), Pattern({4, 3, 3, 3}, 7), Pattern({6}, 8)}, {1, 6, 6, 7}, kConvt);
}

TEST_F(OneDnnDirectTest, ConvTransposeOutputPaddingBeyondPads) {
  Expect("ConvTranspose", MakeAttrs({{"strides", {2}}, {"output_padding", {1}}}),
         {Pattern({1, 2, 3}, 18), Pattern({2, 3, 2}, 19), Tensor()}, {1, 3, 7}, kConvtOpad);
}

TEST_F(OneDnnDirectTest, MaxPoolCeilMode) {
  Expect("MaxPool", MakeAttrs({{"kernel_shape", {2, 2}}, {"strides", {2, 2}}, {"ceil_mode", {1}}}),
         {Pattern({1, 2, 5, 5}, 9)}, {1, 2, 3, 3}, kMaxpoolCeil);
}

TEST_F(OneDnnDirectTest, MaxPoolDilated) {
  Expect("MaxPool", MakeAttrs({{"kernel_shape", {2, 2}}, {"dilations", {2, 2}}}), {Pattern({1, 2, 5, 5}, 10)},
         {1, 2, 3, 3}, kMaxpoolDil);
}

TEST_F(OneDnnDirectTest, AveragePoolCountIncludePad) {
  for (int include : {0, 1}) {
    Expect("AveragePool",
           MakeAttrs({{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}, {"count_include_pad", {include}}}),
           {Pattern({1, 2, 4, 4}, 11)}, {1, 2, 4, 4}, include ? kAvgIncl : kAvgExcl);
  }
}

TEST_F(OneDnnDirectTest, GemmTransposedWithAlphaBetaAndBroadcastC) {
  Expect("Gemm", MakeAttrs({{"transA", {1}}, {"transB", {1}}}, {{"alpha", 0.5f}, {"beta", 2.0f}}),
         {Pattern({3, 2}, 12), Pattern({4, 3}, 13), Pattern({4}, 14)}, {2, 4}, kGemm);
}

// Plain loops for the cases below: Y[m, n] = sum_k A[m, k] B[k, n].
std::vector<double> NaiveMatMul(const Tensor& a, const Tensor& b, int64_t m, int64_t k, int64_t n) {
  std::vector<double> y(m * n, 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      for (int64_t p = 0; p < k; ++p) y[i * n + j] += a.data_as<float>()[i * k + p] * b.data_as<float>()[p * n + j];
    }
  }
  return y;
}

TEST_F(OneDnnDirectTest, GemmColumnCAndBetaZero) {
  const Tensor a = Pattern({3, 4}, 35), b = Pattern({4, 5}, 36), c = Pattern({3, 1}, 37);
  const std::vector<double> ab = NaiveMatMul(a, b, 3, 4, 5);
  std::vector<float> with_c, without_c;
  for (int64_t i = 0; i < 15; ++i) {
    with_c.push_back(1.5 * ab[i] - 0.5 * c.data_as<float>()[i / 5]);
    without_c.push_back(-2.0 * ab[i]);
  }
  Expect("Gemm", MakeAttrs({}, {{"alpha", 1.5f}, {"beta", -0.5f}}), {a, b, c}, {3, 5}, with_c);
  Expect("Gemm", MakeAttrs({}, {{"alpha", -2.0f}, {"beta", 0.0f}}), {a, b, c}, {3, 5}, without_c);
}

TEST_F(OneDnnDirectTest, MatMulPromotesVectorOperands) {
  const Tensor v = Pattern({4}, 38), m = Pattern({4, 3}, 39), mt = Pattern({3, 4}, 40);
  std::vector<float> vm, mv;
  for (double x : NaiveMatMul(v, m, 1, 4, 3)) vm.push_back(x);
  for (double x : NaiveMatMul(mt, v, 3, 4, 1)) mv.push_back(x);
  Expect("MatMul", {}, {v, m}, {3}, vm);
  Expect("MatMul", {}, {mt, v}, {3}, mv);
}

TEST_F(OneDnnDirectTest, MatMulBroadcastsBatchDims) {
  Expect("MatMul", {}, {Pattern({2, 1, 2, 3}, 15), Pattern({3, 3, 2}, 16)}, {2, 3, 2, 2}, kMatmul);
}

TEST_F(OneDnnDirectTest, LrnAcrossChannels) {
  Attrs attrs = MakeAttrs({{"size", {3}}}, {{"alpha", 0.1f}, {"beta", 0.75f}, {"bias", 2.0f}});
  Expect("LRN", attrs, {Pattern({1, 5, 2, 2}, 17)}, {1, 5, 2, 2}, kLrn);
}

// Ops whose expected values are a line of C++ each.
TEST_F(OneDnnDirectTest, UnaryOpsMatchTheirFormulas) {
  struct Case {
    std::string op;
    Attrs attrs;
    std::function<double(double)> f;
  };
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  const std::vector<Case> cases = {
      {"Relu", {}, [](double x) { return x > 0 ? x : 0; }},
      {"LeakyRelu", MakeAttrs({}, {{"alpha", 0.2f}}), [](double x) { return x > 0 ? x : 0.2 * x; }},
      {"Elu", MakeAttrs({}, {{"alpha", 0.5f}}), [](double x) { return x > 0 ? x : 0.5 * (std::exp(x) - 1); }},
      {"Selu", {}, [=](double x) { return selu_g * (x > 0 ? x : selu_a * (std::exp(x) - 1)); }},
      {"Sigmoid", {}, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {"Tanh", {}, [](double x) { return std::tanh(x); }},
      {"Softplus", {}, [](double x) { return std::log1p(std::exp(x)); }},
      {"Exp", {}, [](double x) { return std::exp(x); }},
      {"Abs", {}, [](double x) { return std::fabs(x); }},
      {"Gelu", {}, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"GeluTanh",
       {},
       [](double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }},
      {"Swish", MakeAttrs({}, {{"alpha", 0.7f}}), [](double x) { return x / (1 + std::exp(-0.7 * x)); }},
      {"Neg", {}, [](double x) { return -x; }},
  };
  const Tensor x = testing::RandomTensor({2, 3, 5}, 7, -3.0f, 3.0f);
  for (const Case& c : cases) {
    std::vector<float> expected;
    for (int64_t i = 0; i < x.num_elements(); ++i) expected.push_back(c.f(x.data_as<float>()[i]));
    Expect(c.op, c.attrs, {x}, x.dims(), expected);
  }
  const Tensor pos = testing::RandomTensor({7}, 8, 0.1f, 4.0f);
  std::vector<float> roots;
  for (int64_t i = 0; i < pos.num_elements(); ++i) roots.push_back(std::sqrt(pos.data_as<float>()[i]));
  Expect("Sqrt", {}, {pos}, pos.dims(), roots);
}

TEST_F(OneDnnDirectTest, PReluBroadcastsTheSlope) {
  const Tensor x = Pattern({2, 3, 2}, 33), slope = Pattern({3, 1}, 34);
  std::vector<float> expected;
  for (int64_t i = 0; i < 12; ++i) {
    const float v = x.data_as<float>()[i];
    expected.push_back(v >= 0 ? v : v * slope.data_as<float>()[(i / 2) % 3]);
  }
  Expect("PRelu", {}, {x, slope}, x.dims(), expected);
}

TEST_F(OneDnnDirectTest, ClipReadsBoundsAtRunTimeAndRebuildsWhenTheyChange) {
  const Tensor x = Pattern({3, 4}, 20);
  for (float hi : {0.5f, 0.25f}) {
    std::vector<float> expected;
    for (int64_t i = 0; i < x.num_elements(); ++i)
      expected.push_back(std::min(hi, std::max(-0.25f, x.data_as<float>()[i])));
    Expect("Clip", {},
           {x, Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{-0.25f}),
            Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{hi})},
           x.dims(), expected);
  }
  std::vector<float> no_max;  // only min given
  for (int64_t i = 0; i < x.num_elements(); ++i) no_max.push_back(std::max(0.0f, x.data_as<float>()[i]));
  Expect("Clip", {}, {x, Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{0.0f})}, x.dims(), no_max);
  // min > max: max everywhere, as numpy's clip and the reference kernel.
  Expect("Clip", {},
         {x, Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{2.0f}),
          Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{1.0f})},
         x.dims(), std::vector<float>(x.num_elements(), 1.0f));
}

TEST_F(OneDnnDirectTest, SoftmaxAndLogSoftmaxAlongAnAxis) {
  const Tensor x = Pattern({2, 3, 4}, 21);
  const float* v = x.data_as<float>();
  for (int64_t axis : {1, -1}) {
    const int64_t a = axis < 0 ? 2 : axis;
    const int64_t stride = a == 1 ? 4 : 1, n = a == 1 ? 3 : 4;
    std::vector<float> soft(24), logsoft(24);
    for (int64_t i = 0; i < 24; ++i) {
      const int64_t base = i - ((i / stride) % n) * stride;
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += std::exp(v[base + j * stride]);
      soft[i] = std::exp(v[i]) / sum;
      logsoft[i] = v[i] - std::log(sum);
    }
    Expect("Softmax", MakeAttrs({{"axis", {axis}}}), {x}, x.dims(), soft);
    Expect("LogSoftmax", MakeAttrs({{"axis", {axis}}}), {x}, x.dims(), logsoft);
  }
}

TEST_F(OneDnnDirectTest, BinaryOpsBroadcastTheSecondInputOrSwapCommutativeOnes) {
  const Tensor a = Pattern({2, 3, 4}, 22), b = Pattern({3, 1}, 23);
  std::vector<float> sub, mul;
  for (int64_t i = 0; i < 24; ++i) {
    const float x = a.data_as<float>()[i], y = b.data_as<float>()[(i / 4) % 3];
    sub.push_back(x - y);
    mul.push_back(x * y);
  }
  Expect("Sub", {}, {a, b}, a.dims(), sub);
  Expect("Mul", {}, {b, a}, a.dims(), mul);  // broadcast first input: swapped
  auto reversed_sub = Run("Sub", {}, {b, a}, {a.dims()});
  EXPECT_FALSE(reversed_sub.ok()) << "Sub cannot swap its inputs";
}

TEST_F(OneDnnDirectTest, BatchNormalizationInference) {
  const Tensor x = Pattern({2, 3, 2, 2}, 24), scale = Pattern({3}, 25), bias = Pattern({3}, 26),
               mean = Pattern({3}, 27);
  const Tensor var = Tensor::FromVector(proto::DT_FLOAT, {3}, std::vector<float>{0.5f, 1.5f, 2.0f});
  std::vector<float> expected;
  for (int64_t i = 0; i < 24; ++i) {
    const int64_t c = (i / 4) % 3;
    expected.push_back((x.data_as<float>()[i] - mean.data_as<float>()[c]) / std::sqrt(var.data_as<float>()[c] + 1e-3f) *
                           scale.data_as<float>()[c] +
                       bias.data_as<float>()[c]);
  }
  Expect("BatchNormalization", MakeAttrs({}, {{"epsilon", 1e-3f}}), {x, scale, bias, mean, var}, x.dims(), expected);
}

// A binary op at a layout region's edge (full-size tensors in different layouts, a broadcast
// second input) runs in src0's layout with reorders in and out: the same values as plain.
TEST_F(OneDnnDirectTest, BinaryAcrossLayoutsMatchesPlain) {
  const Dims x_dims = {2, 6, 5, 4};
  const Tensor x = Pattern(x_dims, 31), full = Pattern(x_dims, 32), per_channel = Pattern({1, 6, 1, 1}, 33);
  const Layout plain = proto::LAYOUT_PLAIN, last = proto::LAYOUT_CHANNELS_LAST;
  struct Case {
    const char* op;
    const Tensor* b;
    Layout a_layout, b_layout, out_layout;
  };
  const std::vector<Case> cases = {{"Mul", &per_channel, plain, plain, last},  // EfficientNet's excitation
                                   {"Mul", &per_channel, last, plain, plain},
                                   {"Add", &full, plain, last, last},
                                   {"Sub", &full, last, plain, plain},
                                   {"Div", &full, last, last, plain}};
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.op) + " " + std::to_string(c.a_layout) + std::to_string(c.b_layout) +
                 std::to_string(c.out_layout));
    auto want = Run(c.op, {}, {x, *c.b}, {x_dims});
    ASSERT_OK(want.status());
    auto laid = [](const Tensor& t, Layout l) {
      return l == proto::LAYOUT_PLAIN ? t : testing::Relayout(t, proto::LAYOUT_PLAIN, l);
    };
    const Tensor a_in = laid(x, c.a_layout);
    const bool b_full = c.b == &full;
    const Tensor b_in = b_full ? laid(full, c.b_layout) : per_channel;
    Tensor got(proto::DT_FLOAT, x_dims);
    KernelSpec spec;
    spec.name = "n";
    spec.op_type = c.op;
    spec.env = &env_;
    spec.inputs = {a_in.ref(), b_in.ref()};
    spec.inputs[0].layout = c.a_layout;
    if (b_full) spec.inputs[1].layout = c.b_layout;
    spec.outputs = {got.ref()};
    spec.outputs[0].layout = c.out_layout;
    auto kernel = KernelRegistry::Global().Create("onednn", spec);
    ASSERT_OK(kernel.status());
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    const Tensor result = c.out_layout == plain ? got : testing::Relayout(got, c.out_layout, plain);
    EXPECT_EQ(testing::CompareTensors(result, (*want)[0], 0, 0), "");
  }
}

TEST_F(OneDnnDirectTest, GlobalAveragePoolConcatAndSum) {
  const Tensor x = Pattern({2, 3, 3, 3}, 28);
  std::vector<float> gap(6, 0.0f);
  for (int64_t i = 0; i < 54; ++i) gap[i / 9] += x.data_as<float>()[i] / 9;
  Expect("GlobalAveragePool", {}, {x}, {2, 3, 1, 1}, gap);

  const Tensor a = Pattern({2, 1, 3}, 29), b = Pattern({2, 2, 3}, 30);
  std::vector<float> cat;
  for (int n = 0; n < 2; ++n) {
    for (int j = 0; j < 3; ++j) cat.push_back(a.data_as<float>()[n * 3 + j]);
    for (int j = 0; j < 6; ++j) cat.push_back(b.data_as<float>()[n * 6 + j]);
  }
  Expect("Concat", MakeAttrs({{"axis", {1}}}), {a, b}, {2, 3, 3}, cat);

  const Tensor c = Pattern({2, 2, 3}, 31), d = Pattern({2, 2, 3}, 32);
  std::vector<float> sum;
  for (int i = 0; i < 12; ++i) sum.push_back(b.data_as<float>()[i] + c.data_as<float>()[i] + d.data_as<float>()[i]);
  Expect("Sum", {}, {b, c, d}, b.dims(), sum);
}

// ---- oneDNN vs the reference kernels, through the compiler and a Session ----

struct RefCase {
  std::string name;
  std::string op;
  std::vector<Dims> inputs;  // kOmitted: an omitted optional input
  Attrs attrs;
  std::vector<int> constant_inputs = {};  // become graph constants (weights), the rest graph inputs
  std::vector<int> positive_inputs = {};  // drawn from [0.1, 2) (variances, Log/Sqrt inputs)
  int num_outputs = 1;
};
const Dims kOmitted = {-1};

std::ostream& operator<<(std::ostream& os, const RefCase& c) { return os << c.name; }

Attrs WithString(Attrs a, const std::string& name, const std::string& value) {
  a.SetString(name, value);
  return a;
}

// A one-node graph over the case's inputs; the same seeds give the same data.
std::unique_ptr<Graph> BuildCaseGraph(const RefCase& c, std::vector<Tensor>* graph_inputs) {
  auto g = std::make_unique<Graph>();
  std::vector<Value*> ins;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (c.inputs[i] == kOmitted) {
      ins.push_back(nullptr);
      continue;
    }
    const bool positive = std::count(c.positive_inputs.begin(), c.positive_inputs.end(), i) > 0;
    Tensor t = testing::RandomTensor(c.inputs[i], 100 + i, positive ? 0.1f : -1.0f, positive ? 2.0f : 1.0f);
    if (std::count(c.constant_inputs.begin(), c.constant_inputs.end(), i)) {
      ins.push_back(g->AddConstant("c" + std::to_string(i), t));
    } else {
      ins.push_back(g->AddInput("x" + std::to_string(i), {proto::DT_FLOAT, c.inputs[i]}));
      graph_inputs->push_back(t);
    }
  }
  Node* node = g->AddNode(c.op, "node", ins, c.num_outputs, c.attrs);
  for (int i = 0; i < c.num_outputs; ++i) g->AddOutput(node->output(i));
  return g;
}

StatusOr<std::vector<Tensor>> RunPlan(const proto::Plan& plan, const std::vector<Tensor>& inputs) {
  ASSIGN_OR_RETURN(auto session, runtime::Session::Create(plan));
  for (size_t i = 0; i < inputs.size(); ++i) {
    RETURN_IF_ERROR(session->SetInput(static_cast<int>(i), inputs[i].data(), inputs[i].num_bytes()));
  }
  RETURN_IF_ERROR(session->Run());
  std::vector<Tensor> outputs;
  for (int i = 0; i < session->num_outputs(); ++i) {
    TensorRef r = session->output(i);
    ASSIGN_OR_RETURN(Tensor t, Tensor::FromBytes(r.dtype, r.dims, r.data, r.num_bytes()));
    outputs.push_back(std::move(t));
  }
  return outputs;
}

// x -> Conv(16->16) [-> Conv(16->32)], 3x3 with padding: blocked layouts, so both
// kernels reorder their activations through scratch.
std::unique_ptr<Graph> ConvChainGraph(bool first, bool second) {
  auto g = std::make_unique<Graph>();
  const Attrs attrs = MakeAttrs({{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}});
  Value* v = g->AddInput("x", {proto::DT_FLOAT, {2, 16, 14, 14}});
  if (first) {
    v = g->AddNode("Conv", "conv1", {v, g->AddConstant("w1", testing::RandomTensor({16, 16, 3, 3}, 1))}, 1, attrs)
            ->output(0);
  }
  if (second) {
    v = g->AddNode("Conv", "conv2", {v, g->AddConstant("w2", testing::RandomTensor({32, 16, 3, 3}, 2))}, 1, attrs)
            ->output(0);
  }
  g->AddOutput(v);
  return g;
}

TEST(OneDnnScratchTest, KernelsOfASessionShareOneScratchBuffer) {
  // Without layout regions (assign-layouts), so that each conv reorders in and out itself.
  auto scratch_of = [](bool first, bool second) -> int64_t {
    CompileOptions options;
    options.assign_layouts = false;
    auto plan = CompileToPlan(*ConvChainGraph(first, second), options);
    EXPECT_OK(plan.status());
    if (!plan.ok()) return -1;
    for (const proto::Step& s : plan->step()) EXPECT_EQ(s.kernel(), "onednn") << s.name();
    auto session = runtime::Session::Create(*plan);
    EXPECT_OK(session.status());
    return session.ok() ? (*session)->scratch_size() : -1;
  };
  const int64_t conv1 = scratch_of(true, false), conv2 = scratch_of(false, true), both = scratch_of(true, true);
  ASSERT_GT(conv1, 0);
  ASSERT_GT(conv2, 0);
  EXPECT_EQ(both, std::max(conv1, conv2));
  EXPECT_LT(both, conv1 + conv2);
  // With it, the activation between the convs is channels-last in the arena: less scratch.
  auto laid_out = CompileToPlan(*ConvChainGraph(true, true));
  ASSERT_OK(laid_out.status());
  auto laid_out_session = runtime::Session::Create(*laid_out);
  ASSERT_OK(laid_out_session.status());
  EXPECT_LT((*laid_out_session)->scratch_size(), both);

  // Still right, also on a second run (the scratch then holds the last step's copies).
  const Tensor x = testing::RandomTensor({2, 16, 14, 14}, 3);
  CompileOptions options;
  auto dnn_plan = CompileToPlan(*ConvChainGraph(true, true), options);
  ASSERT_OK(dnn_plan.status());
  options.use_onednn = false;
  auto ref_plan = CompileToPlan(*ConvChainGraph(true, true), options);
  ASSERT_OK(ref_plan.status());
  auto ref_out = RunPlan(*ref_plan, {x});
  ASSERT_OK(ref_out.status());
  auto session = runtime::Session::Create(*dnn_plan);
  ASSERT_OK(session.status());
  ASSERT_OK((*session)->SetInput(0, x.data(), x.num_bytes()));
  for (int run = 0; run < 2; ++run) {
    ASSERT_OK((*session)->Run());
    TensorRef y = (*session)->output(0);
    auto dnn_out = Tensor::FromBytes(y.dtype, y.dims, y.data, y.num_bytes());
    ASSERT_OK(dnn_out.status());
    const std::string diff = testing::CompareTensors(*dnn_out, (*ref_out)[0], 1e-4, 1e-4);
    EXPECT_TRUE(diff.empty()) << "run " << run << ": " << diff;
  }
}

// A one-step plan whose step runs on oneDNN, or on a product kernel of Kiln's own that the
// compiler may pick by measurement instead ("gemv" for few rows, "sgemm" for many:
// compiler/backends/cpu/kernel_choice.cc), so which one it is may differ from run to run.
bool IsOneDnnOrOwnProduct(const proto::Plan& plan) {
  const std::string& kernel = plan.step(0).kernel();
  return kernel == "onednn" || kernel == "gemv" || kernel == runtime::kBlockedProductKernel;
}
// The plan, and for a product kernel of Kiln's own the same plan on oneDNN too: both kernels
// are tested.
std::vector<proto::Plan> PerKernelFamily(const proto::Plan& plan) {
  std::vector<proto::Plan> plans = {plan};
  if (plan.step(0).kernel() != "onednn") {
    plans.push_back(plan);
    plans.back().mutable_step(0)->set_kernel("onednn");
  }
  return plans;
}

class OneDnnVsRefTest : public ::testing::TestWithParam<RefCase> {};

TEST_P(OneDnnVsRefTest, MatchesReference) {
  const RefCase& c = GetParam();
  std::vector<Tensor> inputs, unused;
  auto dnn_graph = BuildCaseGraph(c, &inputs);
  auto ref_graph = BuildCaseGraph(c, &unused);
  CompileOptions options;
  auto dnn_plan = CompileToPlan(*dnn_graph, options);
  ASSERT_OK(dnn_plan.status());
  ASSERT_EQ(dnn_plan->step_size(), 1);
  ASSERT_TRUE(IsOneDnnOrOwnProduct(*dnn_plan))
      << "oneDNN declined: " << OneDnnUnsupportedReason(*dnn_graph->nodes().front());

  options.use_onednn = false;
  auto ref_plan = CompileToPlan(*ref_graph, options);
  ASSERT_OK(ref_plan.status());
  ASSERT_EQ(ref_plan->step(0).kernel(), "ref");
  auto ref_out = RunPlan(*ref_plan, inputs);
  ASSERT_OK(ref_out.status());
  for (const proto::Plan& plan : PerKernelFamily(*dnn_plan)) {
    auto dnn_out = RunPlan(plan, inputs);
    ASSERT_OK(dnn_out.status());
    ASSERT_EQ(dnn_out->size(), ref_out->size());
    for (size_t i = 0; i < dnn_out->size(); ++i) {
      ASSERT_EQ((*dnn_out)[i].dims(), (*ref_out)[i].dims());
      const std::string diff = testing::CompareTensors((*dnn_out)[i], (*ref_out)[i], 1e-5, 1e-5);
      EXPECT_TRUE(diff.empty()) << plan.step(0).kernel() << " output " << i << ": " << diff;
    }
  }
}

std::vector<RefCase> RefCases() {
  std::vector<RefCase> cases;
  auto add = [&](RefCase c) { cases.push_back(std::move(c)); };
  // Convolution family: weights (and bias) are constants, as in real models.
  add({"Conv1d", "Conv", {{2, 3, 9}, {4, 3, 3}, {4}}, MakeAttrs({{"strides", {2}}, {"pads", {1, 2}}}), {1, 2}});
  add({"Conv2dDepthwiseDilated",
       "Conv",
       {{1, 4, 7, 6}, {4, 1, 3, 3}, {4}},
       MakeAttrs({{"group", {4}}, {"dilations", {2, 1}}, {"pads", {0, 1, 2, 1}}}),
       {1, 2}});
  add({"Conv2dSameLowerNoBias",
       "Conv",
       {{1, 3, 6, 5}, {5, 3, 2, 3}},
       WithString(MakeAttrs({{"strides", {2, 2}}}), "auto_pad", "SAME_LOWER"),
       {1}});
  // Weights that are graph inputs are reordered on every run; constant ones once, when the kernel is built.
  add({"Conv2dRuntimeWeights", "Conv", {{1, 8, 6, 6}, {16, 8, 3, 3}, {16}}, MakeAttrs({{"pads", {1, 1, 1, 1}}}), {2}});
  add({"Conv3dGrouped",
       "Conv",
       {{1, 4, 4, 5, 4}, {6, 2, 2, 3, 2}, {6}},
       MakeAttrs({{"group", {2}}, {"pads", {1, 0, 1, 0, 1, 1}}}),
       {1, 2}});
  add({"ConvTranspose1d",
       "ConvTranspose",
       {{1, 3, 5}, {3, 2, 3}, {2}},
       MakeAttrs({{"strides", {2}}, {"pads", {1, 0}}, {"output_padding", {1}}}),
       {1, 2}});
  add({"ConvTranspose2dGroupedDilated",
       "ConvTranspose",
       {{2, 4, 3, 4}, {4, 2, 2, 3}},
       MakeAttrs({{"group", {2}}, {"strides", {2, 1}}, {"dilations", {1, 2}}}),
       {1}});
  add({"ConvTranspose2dOutputShape",
       "ConvTranspose",
       {{1, 2, 3, 3}, {2, 3, 3, 3}, {3}},
       MakeAttrs({{"strides", {2, 2}}, {"output_shape", {6, 7}}}),
       {1, 2}});
  add({"ConvTranspose3d",
       "ConvTranspose",
       {{1, 2, 2, 3, 2}, {2, 2, 2, 2, 2}},
       MakeAttrs({{"strides", {1, 2, 2}}, {"pads", {0, 1, 0, 1, 0, 0}}}),
       {1}});
  // Pooling.
  add({"MaxPool1d", "MaxPool", {{2, 3, 9}}, MakeAttrs({{"kernel_shape", {3}}, {"strides", {2}}, {"pads", {1, 1}}})});
  add({"MaxPool2dCeilDilated",
       "MaxPool",
       {{1, 2, 7, 8}},
       MakeAttrs({{"kernel_shape", {2, 3}}, {"strides", {2, 2}}, {"dilations", {2, 1}}, {"ceil_mode", {1}}})});
  add({"MaxPool3dSameUpper",
       "MaxPool",
       {{1, 2, 4, 5, 3}},
       WithString(MakeAttrs({{"kernel_shape", {2, 2, 2}}, {"strides", {2, 2, 2}}}), "auto_pad", "SAME_UPPER")});
  add({"AveragePoolExcludePad",
       "AveragePool",
       {{1, 3, 6, 6}},
       MakeAttrs({{"kernel_shape", {3, 3}}, {"strides", {2, 2}}, {"pads", {1, 1, 1, 1}}})});
  add({"AveragePoolIncludePad",
       "AveragePool",
       {{2, 2, 5, 5}},
       MakeAttrs({{"kernel_shape", {3, 2}}, {"pads", {1, 0, 1, 1}}, {"count_include_pad", {1}}})});
  add({"AveragePoolCeilExclude",
       "AveragePool",
       {{1, 2, 6, 7}},
       MakeAttrs({{"kernel_shape", {2, 2}}, {"strides", {2, 2}}, {"ceil_mode", {1}}})});
  add({"GlobalAveragePool1d", "GlobalAveragePool", {{2, 3, 5}}, {}});
  add({"GlobalAveragePool3d", "GlobalAveragePool", {{1, 4, 2, 3, 3}}, {}});
  // Normalization.
  add({"BatchNorm2d",
       "BatchNormalization",
       {{2, 3, 4, 5}, {3}, {3}, {3}, {3}},
       MakeAttrs({}, {{"epsilon", 1e-3f}}),
       {1, 2, 3, 4},
       {4}});
  add({"BatchNormRank2", "BatchNormalization", {{4, 6}, {6}, {6}, {6}, {6}}, {}, {1, 2, 3, 4}, {4}});
  add({"LRN", "LRN", {{2, 7, 3, 3}}, MakeAttrs({{"size", {5}}}, {{"alpha", 0.01f}, {"beta", 0.6f}, {"bias", 1.5f}})});
  add({"LayerNormLastAxis", "LayerNormalization", {{2, 3, 8}, {8}, {8}}, {}, {1, 2}});
  add({"LayerNormAxis1NoBias",
       "LayerNormalization",
       {{2, 3, 4}, {3, 4}},
       MakeAttrs({{"axis", {1}}}, {{"epsilon", 1e-3f}})});
  // Linear algebra.
  add({"MatMul2d", "MatMul", {{3, 5}, {5, 4}}, {}});
  add({"MatMulVectorLeft", "MatMul", {{5}, {2, 5, 3}}, {}});
  add({"MatMulVectorRight", "MatMul", {{2, 3, 5}, {5}}, {}});
  add({"MatMulBatchBroadcast", "MatMul", {{3, 1, 2, 4}, {2, 4, 3}}, {}, {1}});
  // Weights shared by every batch: one product of 2 * 3 * 4 rows.
  add({"MatMulBatchRowsShareWeights", "MatMul", {{2, 3, 4, 5}, {5, 6}}, {}, {1}});
  add({"MatMulBatchRowsRuntimeWeights", "MatMul", {{2, 3, 4, 5}, {5, 6}}, {}});
  add({"FusedMatMulBatchRowsBiasResidual", "FusedMatMul", {{2, 3, 4, 5}, {5, 6}, {1, 6}, {2, 3, 4, 6}}, {}, {1, 2}});
  add({"FusedMatMulBatchRowsRank4Bias", "FusedMatMul", {{2, 3, 4, 5}, {5, 6}, {1, 1, 1, 6}}, {}, {1, 2}});
  add({"GemmPlain", "Gemm", {{3, 4}, {4, 5}}, {}, {1}});
  add({"GemmTransBiasRow", "Gemm", {{4, 3}, {5, 4}, {5}}, MakeAttrs({{"transA", {1}}, {"transB", {1}}}), {1, 2}});
  add({"GemmAlphaBetaFullC",
       "Gemm",
       {{3, 4}, {4, 5}, {3, 5}},
       MakeAttrs({}, {{"alpha", 0.7f}, {"beta", -1.5f}}),
       {1, 2}});
  add({"GemmColumnC", "Gemm", {{3, 4}, {4, 5}, {3, 1}}, MakeAttrs({}, {{"beta", 0.5f}}), {1, 2}});
  add({"GemmBetaZero", "Gemm", {{3, 4}, {4, 5}, {3, 5}}, MakeAttrs({}, {{"alpha", 2.0f}, {"beta", 0.0f}}), {1, 2}});
  // Fused ops (ir/core/fused_ops.h): bias, residual (sum / binary_add post-op) and eltwise post-ops.
  add({"FusedConvResidualRelu",
       "FusedConv",
       {{2, 8, 6, 6}, {16, 8, 3, 3}, {16}, {2, 16, 6, 6}},
       WithString(MakeAttrs({{"pads", {1, 1, 1, 1}}}), "activation", "Relu"),
       {1, 2}});
  add({"FusedConvGroupedStridedClip",
       "FusedConv",
       {{1, 4, 7, 7}, {4, 2, 3, 3}, kOmitted, {1, 4, 3, 3}},
       WithString(
           MakeAttrs({{"group", {2}}, {"strides", {2, 2}}}, {{"activation_alpha", -0.2f}, {"activation_beta", 0.3f}}),
           "activation", "Clip"),
       {1}});
  add({"FusedConvElu",
       "FusedConv",
       {{1, 3, 5, 5}, {4, 3, 1, 1}, {4}},
       WithString(MakeAttrs({}, {{"activation_alpha", 0.5f}}), "activation", "Elu"),
       {1, 2}});
  add({"FusedConvSwish",
       "FusedConv",
       {{1, 3, 5, 5}, {4, 3, 3, 3}, {4}},
       WithString(MakeAttrs({{"pads", {1, 1, 1, 1}}}, {{"activation_alpha", 1.0f}}), "activation", "Swish"),
       {1, 2}});
  add({"FusedMatMulGelu",
       "FusedMatMul",
       {{4, 6}, {6, 5}, {5}},
       WithString(MakeAttrs({}), "activation", "Gelu"),
       {1, 2}});
  add({"FusedMatMulBiasResidualSigmoid",
       "FusedMatMul",
       {{4, 6}, {6, 5}, {5}, {4, 5}},
       WithString(MakeAttrs({}), "activation", "Sigmoid"),
       {1, 2}});
  add({"FusedMatMulBatchedLeakyRelu",
       "FusedMatMul",
       {{2, 3, 6}, {6, 4}, {1, 4}},
       WithString(MakeAttrs({}, {{"activation_alpha", 0.1f}}), "activation", "LeakyRelu"),
       {1, 2}});
  add({"FusedMatMulResidualTanh",
       "FusedMatMul",
       {{3, 4}, {4, 2}, kOmitted, {3, 2}},
       WithString(MakeAttrs({}), "activation", "Tanh"),
       {1}});
  // Elementwise.
  for (const char* op : {"Relu", "Sigmoid", "Tanh", "Softplus", "Exp", "Abs", "Neg", "Selu"}) {
    add({op, op, {{2, 3, 4}}, {}});
  }
  add({"LeakyRelu", "LeakyRelu", {{2, 3, 4}}, MakeAttrs({}, {{"alpha", 0.3f}})});
  add({"PReluPerChannel", "PRelu", {{2, 3, 4, 2}, {3, 1, 1}}, {}, {1}});
  add({"PReluScalarSlope", "PRelu", {{2, 5}, {1}}, {}, {1}});
  add({"Elu", "Elu", {{2, 3, 4}}, MakeAttrs({}, {{"alpha", 0.7f}})});
  add({"Sqrt", "Sqrt", {{2, 3, 4}}, {}, {}, {0}});
  add({"ClipBoth", "Clip", {{3, 5}, {}, {}}, {}, {1, 2}});
  add({"ClipMaxOnly", "Clip", {{3, 5}, kOmitted, {}}, {}, {2}});
  add({"SoftmaxAxis0", "Softmax", {{3, 4, 2}}, MakeAttrs({{"axis", {0}}})});
  add({"SoftmaxDefaultAxis", "Softmax", {{2, 5}}, {}});
  add({"LogSoftmaxAxis1", "LogSoftmax", {{2, 3, 4}}, MakeAttrs({{"axis", {1}}})});
  // Broadcasting binary ops, variadic Sum and Concat.
  add({"AddSameShape", "Add", {{2, 3, 4}, {2, 3, 4}}, {}});
  add({"SubBroadcastRow", "Sub", {{2, 3, 4}, {4}}, {}});
  add({"MulBroadcastFirst", "Mul", {{3, 1}, {2, 3, 4}}, {}});
  add({"DivScalar", "Div", {{2, 3}, {}}, {}, {}, {1}});
  add({"MaxBroadcastMiddle", "Max", {{2, 3, 4}, {2, 1, 4}}, {}});
  add({"MinScalarFirst", "Min", {{}, {3, 2}}, {}});
  add({"SumThree", "Sum", {{2, 3}, {2, 3}, {2, 3}}, {}});
  add({"ConcatAxis1", "Concat", {{2, 1, 3}, {2, 4, 3}, {2, 2, 3}}, MakeAttrs({{"axis", {1}}})});
  add({"ConcatNegativeAxis", "Concat", {{2, 3}, {2, 2}}, MakeAttrs({{"axis", {-1}}})});
  add({"TransposeBatchFirst", "Transpose", {{3, 5, 4}}, MakeAttrs({{"perm", {1, 0, 2}}})});
  add({"TransposeDefaultReverses", "Transpose", {{2, 3, 4, 5}}, {}});
  add({"Transpose2d", "Transpose", {{3, 7}}, MakeAttrs({{"perm", {1, 0}}})});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllOps, OneDnnVsRefTest, ::testing::ValuesIn(RefCases()),
                         [](const ::testing::TestParamInfo<RefCase>& info) { return info.param.name; });

// ---- Non-finite values: oneDNN must give the reference kernels' NaN / Inf ----

// Each case of the table above with NaN, +Inf and -Inf written into graph input
// `poisoned` (-1: into every graph input), at positions that differ per input so
// binary ops see NaN/Inf against finite values and against each other.
struct NonFiniteCase {
  RefCase base;
  int poisoned;
};
std::ostream& operator<<(std::ostream& os, const NonFiniteCase& c) { return os << c.base.name << c.poisoned; }

class OneDnnNonFiniteTest : public ::testing::TestWithParam<NonFiniteCase> {};

TEST_P(OneDnnNonFiniteTest, PropagatesLikeTheReference) {
  const NonFiniteCase& c = GetParam();
  std::vector<Tensor> inputs, unused;
  auto dnn_graph = BuildCaseGraph(c.base, &inputs);
  auto ref_graph = BuildCaseGraph(c.base, &unused);
  const float kSpecial[] = {std::nanf(""), INFINITY, -INFINITY};
  for (size_t j = 0; j < inputs.size(); ++j) {
    if (c.poisoned >= 0 && static_cast<size_t>(c.poisoned) != j) continue;
    float* v = inputs[j].mutable_data_as<float>();
    const int64_t n = inputs[j].num_elements();
    for (int k = 0; k < 3; ++k) v[(k * 5 + j) % n] = kSpecial[(k + j) % 3];
  }
  CompileOptions options;
  auto dnn_plan = CompileToPlan(*dnn_graph, options);
  ASSERT_OK(dnn_plan.status());
  ASSERT_TRUE(IsOneDnnOrOwnProduct(*dnn_plan));
  options.use_onednn = false;
  auto ref_plan = CompileToPlan(*ref_graph, options);
  ASSERT_OK(ref_plan.status());
  auto ref_out = RunPlan(*ref_plan, inputs);
  ASSERT_OK(ref_out.status());
  for (const proto::Plan& plan : PerKernelFamily(*dnn_plan)) {
    auto dnn_out = RunPlan(plan, inputs);
    ASSERT_OK(dnn_out.status());
    ASSERT_EQ(dnn_out->size(), ref_out->size());
    const std::string& family = plan.step(0).kernel();
    int nonfinite = 0;
    for (size_t i = 0; i < dnn_out->size(); ++i) {
      const Tensor &d = (*dnn_out)[i], &r = (*ref_out)[i];
      ASSERT_EQ(d.dims(), r.dims());
      for (int64_t e = 0; e < d.num_elements(); ++e) {
        const float a = d.data_as<float>()[e], b = r.data_as<float>()[e];
        if (std::isnan(b) || std::isinf(b)) {
          ++nonfinite;
          // NaN-ness and Inf values exactly.
          EXPECT_TRUE(std::isnan(b) ? std::isnan(a) : a == b)
              << family << " output " << i << "[" << e << "]: " << a << " vs " << b;
        } else {
          EXPECT_NEAR(a, b, 1e-5 + 1e-5 * std::fabs(b)) << family << " output " << i << "[" << e << "]";
        }
      }
    }
    EXPECT_GT(nonfinite, 0) << "no non-finite value reached the output: the case tests nothing";
  }
}

std::vector<NonFiniteCase> NonFiniteCases() {
  std::vector<NonFiniteCase> cases;
  for (const RefCase& c : RefCases()) {
    int graph_inputs = 0;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      if (c.inputs[i] != kOmitted && !std::count(c.constant_inputs.begin(), c.constant_inputs.end(), i)) {
        ++graph_inputs;
      }
    }
    cases.push_back({c, -1});
    for (int j = 0; graph_inputs > 1 && j < graph_inputs; ++j) cases.push_back({c, j});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(AllOps, OneDnnNonFiniteTest, ::testing::ValuesIn(NonFiniteCases()),
                         [](const ::testing::TestParamInfo<NonFiniteCase>& info) {
                           return info.param.base.name + (info.param.poisoned < 0
                                                              ? std::string("_AllInputs")
                                                              : "_Input" + std::to_string(info.param.poisoned));
                         });

// ---- The support check: what the compiler asks before picking oneDNN ----

std::string ReasonFor(const std::string& op, const std::vector<TensorType>& inputs, const std::vector<Dims>& outputs,
                      const Attrs& attrs = {}) {
  runtime::KernelSpec spec;
  spec.name = "n";
  spec.op_type = op;
  spec.attrs = attrs;
  for (const TensorType& t : inputs) spec.inputs.push_back(TensorRef{t.dtype, t.dims, nullptr});
  for (const Dims& d : outputs) spec.outputs.push_back(TensorRef{inputs[0].dtype, d, nullptr});
  return runtime::OneDnnUnsupportedReason(spec);
}

TEST(OneDnnSupportTest, AcceptsWhatTheFactoriesBuild) {
  EXPECT_EQ(ReasonFor("Relu", {{proto::DT_FLOAT, {2, 3}}}, {{2, 3}}), "");
  EXPECT_EQ(ReasonFor("Add", {{proto::DT_FLOAT, {2, 3}}, {proto::DT_FLOAT, {3}}}, {{2, 3}}), "");
}

TEST(OneDnnSupportTest, GivesReasonsForWhatItCannotRun) {
  const TensorType x{proto::DT_FLOAT, {1, 2, 5, 5}};
  EXPECT_NE(ReasonFor("MaxPool", {x}, {{1, 2, 2, 2}, {1, 2, 2, 2}},
                      MakeAttrs({{"kernel_shape", {2, 2}}, {"strides", {2, 2}}}))
                .find("Indices"),
            std::string::npos);
  EXPECT_NE(ReasonFor("Add", {{proto::DT_INT64, {2}}, {proto::DT_INT64, {2}}}, {{2}}).find("float32"),
            std::string::npos);
  EXPECT_NE(ReasonFor("Sub", {{proto::DT_FLOAT, {3}}, {proto::DT_FLOAT, {2, 3}}}, {{2, 3}}), "");
  EXPECT_NE(ReasonFor("Add", {{proto::DT_FLOAT, {3, 1}}, {proto::DT_FLOAT, {1, 4}}}, {{3, 4}}), "");
  EXPECT_NE(ReasonFor("LRN", {x}, {x.dims}, MakeAttrs({{"size", {2}}})), "");
  // LayerNormalization: a Scale that broadcasts within the normalized axes, and the
  // Mean/InvStdDev outputs, are the reference kernel's.
  const TensorType rows{proto::DT_FLOAT, {2, 3, 4}};
  EXPECT_NE(ReasonFor("LayerNormalization", {rows, {proto::DT_FLOAT, {4}}}, {rows.dims}, MakeAttrs({{"axis", {1}}}))
                .find("Scale"),
            std::string::npos);
  EXPECT_NE(ReasonFor("LayerNormalization", {rows, {proto::DT_FLOAT, {4}}}, {rows.dims, {2, 3, 1}}).find("Mean"),
            std::string::npos);
  EXPECT_EQ(ReasonFor("LayerNormalization", {rows, {proto::DT_FLOAT, {4}}}, {rows.dims}), "");
  EXPECT_NE(
      ReasonFor(
          "AveragePool", {x}, {{1, 2, 3, 3}},
          MakeAttrs({{"kernel_shape", {2, 2}}, {"strides", {2, 2}}, {"ceil_mode", {1}}, {"count_include_pad", {1}}})),
      "");
  EXPECT_NE(ReasonFor("Softsign", {x}, {x.dims}), "");
}

TEST(OneDnnSupportTest, CompilerFallsBackWhenOneDnnDeclines) {
  Graph g;
  Value* a = g.AddInput("a", {proto::DT_FLOAT, {3}});
  Value* b = g.AddInput("b", {proto::DT_FLOAT, {2, 3}});
  Node* sub = g.AddNode("Sub", "sub", {a, b});
  g.AddOutput(sub->output(0));
  Node* add = g.AddNode("Add", "add", {b, b});
  g.AddOutput(add->output(0));
  auto plan = CompileToPlan(g);
  ASSERT_OK(plan.status());
  EXPECT_EQ(plan->step(0).kernel(), "ref") << "oneDNN broadcasts only the second input of Sub";
  EXPECT_EQ(plan->step(1).kernel(), "onednn");
}

}  // namespace
}  // namespace kiln
