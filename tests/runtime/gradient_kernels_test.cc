// Reference kernels of the backward ops (docs/training_ops.md), checked against
// central finite differences of the forward reference ops in float64: for a
// random cotangent R, the gradient op given dY = R must equal d/dinput of
// sum(R * forward(inputs)). Every case also runs in float32 against float64.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <functional>
#include <random>
#include <set>
#include <type_traits>

#include "ir/core/ops/unary_table.h"
#include "ir/core/shape_util.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::D;
using reftest::Ints;
using reftest::OutSpec;
using reftest::RunRef;
using reftest::Values;

constexpr double kStep = 1e-6;
constexpr double kTol = 1e-6;

Tensor RandD(const Dims& dims, uint32_t seed, double lo = -1, double hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(ElementCount(dims));
  for (double& x : v) x = u(rng);
  return D(dims, v);
}

// Random values with |x| in [0.4, 2], random sign: away from the kinks of relu, abs, ...
Tensor AwayFromZero(const Dims& dims, uint32_t seed) {
  Tensor t = RandD(dims, seed, 0.4, 2.0);
  std::vector<double> v = Values<double>(t);
  std::mt19937 rng(seed + 1000);
  for (double& x : v) x = (rng() & 1) ? -x : x;
  return D(dims, v);
}

Tensor ToFloat(const Tensor& t) {
  if (t.dtype() != proto::DT_DOUBLE) return t;
  std::vector<float> v;
  for (double x : Values<double>(t)) v.push_back(static_cast<float>(x));
  return Tensor::FromVector(proto::DT_FLOAT, t.dims(), v);
}

std::vector<OutSpec> DoubleOuts(const std::vector<Dims>& dims) {
  std::vector<OutSpec> out;
  for (const Dims& d : dims) out.push_back({proto::DT_DOUBLE, d});
  return out;
}

// Runs `op` in float64; returns every output.
std::vector<Tensor> RunD(const std::string& op, const Attrs& attrs, const std::vector<Tensor>& inputs,
                         const std::vector<Dims>& outs) {
  auto result = RunRef(op, attrs, inputs, DoubleOuts(outs));
  EXPECT_TRUE(result.ok()) << op << ": " << result.status().message();
  if (!result.ok()) return {};
  return *result;
}

double Dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  const auto va = Values<double>(a), vb = Values<double>(b);
  for (size_t i = 0; i < va.size(); ++i) s += va[i] * vb[i];
  return s;
}

using ForwardFn = std::function<Tensor(const std::vector<Tensor>&)>;

// d/d inputs[which] of sum(r * f(inputs)), by central differences.
Tensor NumericGrad(const ForwardFn& f, const std::vector<Tensor>& inputs, int which, const Tensor& r) {
  std::vector<Tensor> work = inputs;
  const std::vector<double> base = Values<double>(inputs[which]);
  std::vector<double> grad(base.size());
  for (size_t i = 0; i < base.size(); ++i) {
    double loss[2];
    for (int s = 0; s < 2; ++s) {
      std::vector<double> v = base;
      v[i] += s == 0 ? kStep : -kStep;
      work[which] = D(inputs[which].dims(), v);
      loss[s] = Dot(f(work), r);
    }
    grad[i] = (loss[0] - loss[1]) / (2 * kStep);
  }
  return D(inputs[which].dims(), grad);
}

// |a - n| <= kTol * max(|a|, |n|, 0.1) everywhere (magnitudes below 0.1 compare absolutely).
void ExpectGradClose(const Tensor& analytic, const Tensor& numeric, const std::string& what) {
  ASSERT_EQ(analytic.dims(), numeric.dims()) << what;
  const auto a = Values<double>(analytic), n = Values<double>(numeric);
  double worst = 0;
  size_t worst_at = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double err = std::fabs(a[i] - n[i]) / std::max({std::fabs(a[i]), std::fabs(n[i]), 0.1});
    if (err > worst) worst = err, worst_at = i;
  }
  EXPECT_LT(worst, kTol) << what << ": element " << worst_at << " analytic " << a[worst_at] << " numeric "
                         << n[worst_at];
}

// The gradient op in float32 agrees with float64 (within float rounding).
void ExpectFloat32Matches(const std::string& op, const Attrs& attrs, const std::vector<Tensor>& inputs,
                          const std::vector<Tensor>& expected) {
  std::vector<Tensor> f_in;
  for (const Tensor& t : inputs) f_in.push_back(ToFloat(t));
  std::vector<OutSpec> outs;
  for (const Tensor& t : expected) outs.push_back({proto::DT_FLOAT, t.dims()});
  auto result = RunRef(op, attrs, f_in, outs);
  ASSERT_OK(result.status());
  for (size_t i = 0; i < expected.size(); ++i) {
    const std::string diff = testing::CompareTensors((*result)[i], ToFloat(expected[i]), 1e-4, 1e-4);
    EXPECT_TRUE(diff.empty()) << op << " float32 output " << i << ": " << diff;
  }
}

// One gradient check: the grad op's outputs [k] against the numeric gradient of
// the forward w.r.t. forward input `wrt[k]`.
struct GradCheck {
  std::string grad_op;
  Attrs grad_attrs;
  std::vector<Tensor> grad_inputs;
  std::vector<Dims> grad_outputs;
  ForwardFn forward;
  std::vector<Tensor> forward_inputs;
  std::vector<int> wrt;  // forward input per grad output (-1: not checked)
  Tensor r;              // the cotangent, also dY in grad_inputs
};

void RunGradCheck(const GradCheck& c, const std::string& what) {
  SCOPED_TRACE(what);
  const std::vector<Tensor> analytic = RunD(c.grad_op, c.grad_attrs, c.grad_inputs, c.grad_outputs);
  ASSERT_EQ(analytic.size(), c.grad_outputs.size());
  for (size_t k = 0; k < c.wrt.size(); ++k) {
    if (c.wrt[k] < 0) continue;
    ExpectGradClose(analytic[k], NumericGrad(c.forward, c.forward_inputs, c.wrt[k], c.r),
                    what + " output " + std::to_string(k));
  }
  ExpectFloat32Matches(c.grad_op, c.grad_attrs, c.grad_inputs, analytic);
}

// A forward op as a function of its inputs (output `k`).
ForwardFn Op(const std::string& op, const Attrs& attrs, const std::vector<Dims>& outs, int k = 0) {
  return [=](const std::vector<Tensor>& in) {
    std::vector<Tensor> out = RunD(op, attrs, in, outs);
    return out.empty() ? Tensor() : out[k];
  };
}

Attrs With(Attrs a, const std::string& name, const std::vector<int64_t>& v) {
  a.SetInts(name, v);
  return a;
}

// ---- EltwiseGrad -------------------------------------------------------------------------------

struct EltwiseCase {
  std::string function, forward;
  bool uses_y;
  bool positive = false;  // log, sqrt: inputs in [0.5, 2]
  float alpha = 0;        // 0: attribute omitted (default)
  double lo = 0, hi = 0;  // hi > lo: inputs uniform in [lo, hi) (the function's domain)
};

TEST(GradientKernelsTest, EltwiseGradEveryFunction) {
  const std::vector<EltwiseCase> cases = {
      {"relu", "Relu", false},
      {"leaky_relu", "LeakyRelu", false},
      {"leaky_relu", "LeakyRelu", false, false, 0.3f},
      {"elu", "Elu", false},
      {"elu", "Elu", false, false, 0.7f},
      {"softplus", "Softplus", false},
      {"softsign", "Softsign", false},
      {"selu", "Selu", false},
      {"mish", "Mish", false},
      {"erf", "Erf", false},
      {"reciprocal", "Reciprocal", true, true},
      {"selu", "Selu", false, false, 1.2f},
      {"abs", "Abs", false},
      {"log", "Log", false, true},
      {"sigmoid", "Sigmoid", true},
      {"tanh", "Tanh", true},
      {"exp", "Exp", true},
      {"sqrt", "Sqrt", true, true},
      {"hard_sigmoid", "HardSigmoid", false},
      {"hard_swish", "HardSwish", false},
      {"thresholded_relu", "ThresholdedRelu", false},
      {"shrink", "Shrink", false},
      {"celu", "Celu", false},
      {"celu", "Celu", false, false, 0.5f},
      {"gelu", "Gelu", false},
      {"gelu_tanh", "GeluTanh", false},
      {"swish", "Swish", false},
      {"swish", "Swish", false, false, 0.4f},
      {"sin", "Sin", false},
      {"cos", "Cos", false},
      {"tan", "Tan", true, false, 0, -1.4, 1.4},
      {"asin", "Asin", false, false, 0, -0.9, 0.9},
      {"acos", "Acos", false, false, 0, -0.9, 0.9},
      {"atan", "Atan", false},
      {"sinh", "Sinh", false},
      {"cosh", "Cosh", false},
      {"asinh", "Asinh", false},
      {"acosh", "Acosh", false, false, 0, 1.1, 4.0},
      {"atanh", "Atanh", false, false, 0, -0.9, 0.9},
      {"floor", "Floor", false, false, 0, 0.1, 0.9},  // between the integers: the derivative is 0
      {"ceil", "Ceil", false, false, 0, 1.1, 1.9},
      {"round", "Round", false, false, 0, -1.4, -0.6},
  };
  std::set<std::string> covered;
  uint32_t seed = 1;
  for (const EltwiseCase& e : cases) {
    covered.insert(e.function);
    const Dims dims = {3, 4, 2};
    const Tensor x = e.hi > e.lo  ? RandD(dims, seed++, e.lo, e.hi)
                     : e.positive ? RandD(dims, seed++, 0.5, 2.0)
                                  : AwayFromZero(dims, seed++);
    Attrs fwd_attrs, grad_attrs;
    grad_attrs.SetString("function", e.function);
    if (e.alpha != 0) {
      fwd_attrs.SetFloat("alpha", e.alpha);
      grad_attrs.SetFloat("alpha", e.alpha);
    }
    const Tensor r = RandD(dims, seed++);
    const Tensor t = e.uses_y ? RunD(e.forward, fwd_attrs, {x}, {dims})[0] : x;
    RunGradCheck({"EltwiseGrad", grad_attrs, {r, t}, {dims}, Op(e.forward, fwd_attrs, {dims}), {x}, {0}, r},
                 e.function + " alpha " + std::to_string(e.alpha));
  }
  EXPECT_EQ(covered.size(), 2 + UnaryOpTable().size());  // relu, abs and every row of ir/core/ops/unary.def
}

TEST(GradientKernelsTest, EltwiseGradKinksAndErrors) {
  Attrs a;
  a.SetString("function", "relu");
  auto out = RunRef("EltwiseGrad", a, {D({3}, {1, 1, 1}), D({3}, {-1, 0, 2})}, DoubleOuts({{3}}));
  ASSERT_OK(out.status());
  EXPECT_EQ(Values<double>((*out)[0]), (std::vector<double>{0, 0, 1}));  // relu'(0) = 0
  a.SetString("function", "abs");
  out = RunRef("EltwiseGrad", a, {D({3}, {2, 2, 2}), D({3}, {-1, 0, 2})}, DoubleOuts({{3}}));
  ASSERT_OK(out.status());
  EXPECT_EQ(Values<double>((*out)[0]), (std::vector<double>{-2, 0, 2}));
  a.SetString("function", "no_such_function");
  EXPECT_FALSE(RunRef("EltwiseGrad", a, {D({1}, {1}), D({1}, {1})}, DoubleOuts({{1}})).ok());
}

// ---- SoftmaxGrad -------------------------------------------------------------------------------

TEST(GradientKernelsTest, SoftmaxGradMatchesFiniteDifferences) {
  const Dims dims = {2, 3, 4};
  uint32_t seed = 10;
  for (int log = 0; log <= 1; ++log) {
    for (int64_t axis : {-1, 0, 1}) {
      Attrs fwd;
      fwd.SetInt("axis", axis);
      Attrs grad = fwd;
      grad.SetInt("log", log);
      const char* op = log ? "LogSoftmax" : "Softmax";
      const Tensor x = RandD(dims, seed++, -2, 2), r = RandD(dims, seed++);
      const Tensor y = RunD(op, fwd, {x}, {dims})[0];
      RunGradCheck({"SoftmaxGrad", grad, {r, y}, {dims}, Op(op, fwd, {dims}), {x}, {0}, r},
                   std::string(op) + " axis " + std::to_string(axis));
    }
  }
}

// ---- Conv --------------------------------------------------------------------------------------

struct ConvCase {
  std::string name;
  Dims x, w;
  Attrs attrs;
};

Attrs ConvAttrs(int64_t group, const std::vector<int64_t>& strides, const std::vector<int64_t>& pads,
                const std::vector<int64_t>& dilations) {
  Attrs a;
  a.SetInt("group", group);
  if (!strides.empty()) a.SetInts("strides", strides);
  if (!pads.empty()) a.SetInts("pads", pads);
  if (!dilations.empty()) a.SetInts("dilations", dilations);
  return a;
}

std::vector<ConvCase> ConvCases() {
  return {
      {"Plain2d", {1, 2, 4, 4}, {3, 2, 3, 3}, ConvAttrs(1, {}, {1, 1, 1, 1}, {})},
      {"Grouped2dStridedDilatedAsymPads", {2, 4, 5, 6}, {6, 2, 3, 2}, ConvAttrs(2, {2, 1}, {1, 0, 0, 1}, {1, 2})},
      {"Strided1dDilated", {1, 3, 9}, {2, 3, 3}, ConvAttrs(1, {2}, {1, 2}, {2})},
      {"Depthwise3d", {1, 2, 4, 3, 3}, {2, 1, 2, 2, 2}, ConvAttrs(2, {1, 2, 1}, {1, 0, 1, 0, 1, 1}, {})},
      {"StrideLeavesTail", {1, 1, 6, 5}, {2, 1, 2, 3}, ConvAttrs(1, {3, 2}, {}, {})},
  };
}

// The Conv output shape, from the shared window helper.
Dims ConvOutput(const ConvCase& c) {
  auto g = ComputeWindowGeometry(Dims(c.x.begin() + 2, c.x.end()), Dims(c.w.begin() + 2, c.w.end()), c.attrs);
  EXPECT_OK(g.status());
  Dims y = {c.x[0], c.w[0]};
  y.insert(y.end(), g->output.begin(), g->output.end());
  return y;
}

TEST(GradientKernelsTest, ConvGradInputMatchesFiniteDifferences) {
  uint32_t seed = 100;
  for (const ConvCase& c : ConvCases()) {
    const Dims y = ConvOutput(c);
    const Tensor x = RandD(c.x, seed++), w = RandD(c.w, seed++), r = RandD(y, seed++);
    RunGradCheck(
        {"ConvGradInput", With(c.attrs, "input_shape", c.x), {r, w}, {c.x}, Op("Conv", c.attrs, {y}), {x, w}, {0}, r},
        c.name);
  }
}

TEST(GradientKernelsTest, ConvGradWeightAndBiasMatchFiniteDifferences) {
  uint32_t seed = 200;
  for (const ConvCase& c : ConvCases()) {
    const Dims y = ConvOutput(c);
    const Tensor x = RandD(c.x, seed++), w = RandD(c.w, seed++), b = RandD({c.w[0]}, seed++), r = RandD(y, seed++);
    // Forward with bias: output 0 is checked against W (input 1), output 1 against B (input 2).
    RunGradCheck({"ConvGradWeight",
                  With(c.attrs, "weight_shape", c.w),
                  {r, x},
                  {c.w, {c.w[0]}},
                  Op("Conv", c.attrs, {y}),
                  {x, w, b},
                  {1, 2},
                  r},
                 c.name);
    // Without the bias output.
    RunGradCheck(
        {"ConvGradWeight", With(c.attrs, "weight_shape", c.w), {r, x}, {c.w}, Op("Conv", c.attrs, {y}), {x, w}, {1}, r},
        c.name + " no dB");
  }
}

// ---- Pooling -----------------------------------------------------------------------------------

struct PoolCase {
  std::string name;
  Dims x;
  Attrs attrs;
};

Attrs PoolAttrs(const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                const std::vector<int64_t>& pads, int64_t ceil_mode = 0) {
  Attrs a;
  a.SetInts("kernel_shape", kernel);
  if (!strides.empty()) a.SetInts("strides", strides);
  if (!pads.empty()) a.SetInts("pads", pads);
  if (ceil_mode) a.SetInt("ceil_mode", ceil_mode);
  return a;
}

Dims PoolOutput(const Dims& x, const Attrs& attrs) {
  auto g = ComputeWindowGeometry(Dims(x.begin() + 2, x.end()), attrs.GetInts("kernel_shape"), attrs);
  EXPECT_OK(g.status());
  Dims y = {x[0], x[1]};
  y.insert(y.end(), g->output.begin(), g->output.end());
  return y;
}

TEST(GradientKernelsTest, MaxPoolGradMatchesFiniteDifferences) {
  std::vector<PoolCase> cases = {
      {"K2S2", {2, 2, 4, 4}, PoolAttrs({2, 2}, {2, 2}, {})},
      {"OverlappingK3S1", {1, 2, 5, 4}, PoolAttrs({3, 3}, {1, 1}, {})},
      {"PadsCeilMode", {1, 2, 5, 5}, PoolAttrs({3, 3}, {2, 2}, {1, 1, 0, 0}, 1)},
      {"Dilated1d", {2, 1, 9}, With(PoolAttrs({2}, {2}, {1, 1}), "dilations", {3})},
      {"ThreeD", {1, 1, 4, 3, 4}, PoolAttrs({2, 2, 2}, {2, 1, 2}, {0, 0, 0, 1, 0, 0})},
  };
  uint32_t seed = 300;
  for (const PoolCase& c : cases) {
    const Dims y = PoolOutput(c.x, c.attrs);
    const Tensor x = RandD(c.x, seed++), r = RandD(y, seed++);
    RunGradCheck({"MaxPoolGrad", c.attrs, {r, x}, {c.x}, Op("MaxPool", c.attrs, {y}), {x}, {0}, r}, c.name);
  }
}

TEST(GradientKernelsTest, MaxPoolGradTiesGoToTheFirstMaximum) {
  // One 2x2 window of equal values: all of dY goes to the first (row-major) element.
  auto out = RunRef("MaxPoolGrad", PoolAttrs({2, 2}, {2, 2}, {}), {D({1, 1, 1, 1}, {5}), D({1, 1, 2, 2}, {1, 3, 3, 3})},
                    DoubleOuts({{1, 1, 2, 2}}));
  ASSERT_OK(out.status());
  EXPECT_EQ(Values<double>((*out)[0]), (std::vector<double>{0, 5, 0, 0}));
  // Overlapping windows accumulate.
  out = RunRef("MaxPoolGrad", PoolAttrs({2}, {1}, {}), {D({1, 1, 2}, {1, 2}), D({1, 1, 3}, {0, 9, 1})},
               DoubleOuts({{1, 1, 3}}));
  ASSERT_OK(out.status());
  EXPECT_EQ(Values<double>((*out)[0]), (std::vector<double>{0, 3, 0}));
}

TEST(GradientKernelsTest, AveragePoolGradMatchesFiniteDifferences) {
  std::vector<PoolCase> cases = {
      {"K2S2", {2, 2, 4, 4}, PoolAttrs({2, 2}, {2, 2}, {})},
      {"OverlappingPadsExcluded", {1, 2, 5, 4}, PoolAttrs({3, 3}, {1, 2}, {1, 1, 1, 0})},
      {"OverlappingPadsIncluded", {1, 2, 5, 4}, PoolAttrs({3, 3}, {1, 2}, {1, 1, 1, 0})},
      {"CeilMode", {1, 1, 5, 5}, PoolAttrs({2, 2}, {2, 2}, {}, 1)},
      {"CeilModeIncludePad", {1, 1, 5, 6}, PoolAttrs({3, 2}, {2, 2}, {1, 0, 0, 0}, 1)},
      {"OneD", {2, 3, 7}, PoolAttrs({3}, {2}, {1, 1})},
      {"ThreeD", {1, 1, 3, 4, 3}, PoolAttrs({2, 2, 2}, {1, 2, 1}, {1, 0, 0, 0, 0, 1})},
  };
  cases[2].attrs.SetInt("count_include_pad", 1);
  cases[4].attrs.SetInt("count_include_pad", 1);
  uint32_t seed = 400;
  for (const PoolCase& c : cases) {
    const Dims y = PoolOutput(c.x, c.attrs);
    const Tensor x = RandD(c.x, seed++), r = RandD(y, seed++);
    RunGradCheck({"AveragePoolGrad",
                  With(c.attrs, "input_shape", c.x),
                  {r},
                  {c.x},
                  Op("AveragePool", c.attrs, {y}),
                  {x},
                  {0},
                  r},
                 c.name);
  }
}

// ---- BatchNorm ---------------------------------------------------------------------------------

TEST(GradientKernelsTest, BatchNormTrainingStatisticsByHand) {
  // Channel 0 sees {1, 3}: mean 2, biased var 1; channel 1 sees {2, 6}: mean 4, var 4.
  Attrs a;
  a.SetFloat("momentum", 0.75f);
  a.SetFloat("epsilon", 0.0f);
  auto out = RunRef("BatchNormTraining", a,
                    {D({2, 2}, {1, 2, 3, 6}), D({2}, {2, 1}), D({2}, {0.5, -1}), D({2}, {1, 2}), D({2}, {3, 5})},
                    DoubleOuts({{2, 2}, {2}, {2}, {2}, {2}}));
  ASSERT_OK(out.status());
  // Y = (x - mean) / sqrt(var) * scale + B.
  EXPECT_EQ(Values<double>((*out)[0]), (std::vector<double>{-1.5, -2, 2.5, 0}));
  // running * momentum + batch * (1 - momentum).
  EXPECT_EQ(Values<double>((*out)[1]), (std::vector<double>{1 * 0.75 + 2 * 0.25, 2 * 0.75 + 4 * 0.25}));
  EXPECT_EQ(Values<double>((*out)[2]), (std::vector<double>{3 * 0.75 + 1 * 0.25, 5 * 0.75 + 4 * 0.25}));
  EXPECT_EQ(Values<double>((*out)[3]), (std::vector<double>{2, 4}));
  EXPECT_EQ(Values<double>((*out)[4]), (std::vector<double>{1, 4}));
}

TEST(GradientKernelsTest, BatchNormTrainingAgreesWithInferenceOnSavedStats) {
  const Dims x_dims = {3, 4, 2, 3};
  const Tensor x = RandD(x_dims, 500, -2, 3), scale = RandD({4}, 501), b = RandD({4}, 502);
  const Tensor rm = RandD({4}, 503), rv = RandD({4}, 504, 0.5, 2);
  Attrs a;
  a.SetFloat("epsilon", 1e-3f);
  const auto out = RunD("BatchNormTraining", a, {x, scale, b, rm, rv}, {x_dims, {4}, {4}, {4}, {4}});
  ASSERT_EQ(out.size(), 5u);
  const auto inference = RunD("BatchNormalization", a, {x, scale, b, out[3], out[4]}, {x_dims});
  ASSERT_EQ(inference.size(), 1u);
  EXPECT_EQ(testing::CompareTensors(out[0], inference[0], 1e-12, 1e-12), "");
  // Default momentum 0.9.
  const auto m = Values<double>(out[3]), v = Values<double>(out[4]);
  const auto rmv = Values<double>(rm), rvv = Values<double>(rv);
  for (int c = 0; c < 4; ++c) {
    EXPECT_NEAR(Values<double>(out[1])[c], rmv[c] * 0.9 + m[c] * 0.1, 1e-7);  // momentum is a float attribute
    EXPECT_NEAR(Values<double>(out[2])[c], rvv[c] * 0.9 + v[c] * 0.1, 1e-7);
  }
  ExpectFloat32Matches("BatchNormTraining", a, {x, scale, b, rm, rv}, out);
}

TEST(GradientKernelsTest, BatchNormGradMatchesFiniteDifferences) {
  uint32_t seed = 600;
  for (const Dims& x_dims : std::vector<Dims>{{3, 2, 2, 2}, {5, 3}, {2, 3, 4}}) {
    const int64_t c = x_dims[1];
    const Tensor x = RandD(x_dims, seed++, -2, 2), scale = RandD({c}, seed++), b = RandD({c}, seed++);
    const Tensor rm = RandD({c}, seed++), rv = RandD({c}, seed++, 0.5, 1.5), r = RandD(x_dims, seed++);
    Attrs a;
    a.SetFloat("epsilon", 1e-2f);
    const std::vector<Dims> outs = {x_dims, {c}, {c}, {c}, {c}};
    const auto fwd = RunD("BatchNormTraining", a, {x, scale, b, rm, rv}, outs);
    ASSERT_EQ(fwd.size(), 5u);
    RunGradCheck({"BatchNormGrad",
                  a,
                  {r, x, scale, fwd[3], fwd[4]},
                  {x_dims, {c}, {c}},
                  Op("BatchNormTraining", a, outs),
                  {x, scale, b, rm, rv},
                  {0, 1, 2},
                  r},
                 DimsToString(x_dims));
  }
}

// ---- DropoutTraining ---------------------------------------------------------------------------

std::vector<Tensor> Dropout(const Tensor& x, int64_t step, float ratio, int64_t seed, DType dtype = proto::DT_DOUBLE) {
  Attrs a;
  a.SetFloat("ratio", ratio);
  a.SetInt("seed", seed);
  auto out = RunRef("DropoutTraining", a, {x, reftest::I64({}, {step})}, {{dtype, x.dims()}, {dtype, x.dims()}});
  EXPECT_OK(out.status());
  return out.ok() ? *out : std::vector<Tensor>{};
}

TEST(GradientKernelsTest, DropoutTrainingMask) {
  const int64_t n = 100000;
  const Tensor x = RandD({n}, 700);
  for (float ratio : {0.1f, 0.5f, 0.8f}) {
    SCOPED_TRACE(ratio);
    const auto out = Dropout(x, 3, ratio, 42);
    ASSERT_EQ(out.size(), 2u);
    const double scale = 1.0 / (1.0 - static_cast<double>(ratio));
    const auto y = Values<double>(out[0]), mask = Values<double>(out[1]), xv = Values<double>(x);
    int64_t kept = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_TRUE(mask[i] == 0 || mask[i] == scale) << i << ": " << mask[i];
      ASSERT_EQ(y[i], xv[i] * mask[i]) << i;
      kept += mask[i] != 0;
    }
    // Binomial: sd = sqrt(n p (1 - p)) <= 158; 5 sd.
    EXPECT_NEAR(static_cast<double>(kept) / n, 1.0 - ratio, 0.008);
  }
}

TEST(GradientKernelsTest, DropoutTrainingIsAPureFunctionOfSeedStepAndIndex) {
  const Tensor x = RandD({1000}, 701);
  const auto a = Dropout(x, 7, 0.5f, 1), b = Dropout(x, 7, 0.5f, 1);
  const auto c = Dropout(x, 8, 0.5f, 1), d = Dropout(x, 7, 0.5f, 2);
  EXPECT_EQ(Values<double>(a[1]), Values<double>(b[1]));
  EXPECT_NE(Values<double>(a[1]), Values<double>(c[1]));
  EXPECT_NE(Values<double>(a[1]), Values<double>(d[1]));
  // The mask of element i does not depend on the tensor's size or values.
  const auto small = Dropout(RandD({10}, 702), 7, 0.5f, 1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Values<double>(small[1])[i], Values<double>(a[1])[i]) << i;
  // float32 draws the same mask.
  const auto f = Dropout(ToFloat(x), 7, 0.5f, 1, proto::DT_FLOAT);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(static_cast<double>(Values<float>(f[1])[i]), Values<double>(a[1])[i]) << i;
}

// docs/training_ops.md's hash, written out as the spec says (the keep test in double),
// against the kernel's vector loops: every size around the vector widths and the parallel
// chunks, ratios near the threshold's rounding, one and several threads, float32 and
// float64, with and without the mask, x and Y one buffer or two.
uint64_t SpecSplitMix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename T>
void ExpectDropoutMatchesSpec(int64_t n, float ratio, int64_t seed, int64_t step, bool with_mask, bool in_place) {
  SCOPED_TRACE(::testing::Message() << "n " << n << " ratio " << ratio << " seed " << seed << " step " << step
                                    << (with_mask ? " mask" : "") << (in_place ? " in place" : ""));
  const DType dtype = std::is_same_v<T, float> ? proto::DT_FLOAT : proto::DT_DOUBLE;
  std::vector<T> x(n), y(n, T(-7)), mask(n, T(-7));
  for (int64_t i = 0; i < n; ++i) x[i] = static_cast<T>(1 + i % 97) / T(8);
  const std::vector<T> x0 = x;
  Attrs a;
  a.SetFloat("ratio", ratio);
  a.SetInt("seed", seed);
  const Tensor step_t = reftest::I64({}, {step});
  T* y_data = in_place ? x.data() : y.data();
  std::vector<TensorRef> outs = {TensorRef{dtype, {n}, y_data}};
  if (with_mask) outs.push_back(TensorRef{dtype, {n}, mask.data()});
  ASSERT_OK(runtime::RunReferenceOp("DropoutTraining", "d", a, {TensorRef{dtype, {n}, x.data()}, step_t.ref()}, outs));
  const uint64_t base = SpecSplitMix64(SpecSplitMix64(static_cast<uint64_t>(seed)) ^ static_cast<uint64_t>(step));
  const T scale = static_cast<T>(1.0 / (1.0 - static_cast<double>(ratio)));
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t h = SpecSplitMix64(base ^ static_cast<uint64_t>(i));
    const bool kept = static_cast<double>(h >> 11) * 0x1.0p-53 >= static_cast<double>(ratio);
    const T m = kept ? scale : T(0);
    ASSERT_EQ(y_data[i], x0[i] * m) << i;
    if (with_mask) {
      ASSERT_EQ(mask[i], m) << i;
    }
  }
}

TEST(GradientKernelsTest, DropoutTrainingMatchesTheDocumentedHash) {
  const int max_threads = omp_get_max_threads();
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    for (int64_t n : {1, 7, 8, 17, 33, 1000, 32767, 32768, 70001}) {
      // ratio * 2^53 is an integer for a float ratio above ~2^-29; 1e-12f's is not (the ceil).
      for (float ratio : {0.0f, 1e-12f, 0.1f, 0.3f, 0.5f, 0.999f}) {
        ExpectDropoutMatchesSpec<float>(n, ratio, 42, 3 + n, true, false);
        ExpectDropoutMatchesSpec<double>(n, ratio, -5, 1 << 20, true, true);
      }
      ExpectDropoutMatchesSpec<float>(n, 0.2f, 7, 9, false, true);
      ExpectDropoutMatchesSpec<float>(n, 0.2f, 7, 9, false, false);
      ExpectDropoutMatchesSpec<float>(n, 0.2f, 7, 9, true, true);
    }
  }
  omp_set_num_threads(max_threads);
}

TEST(GradientKernelsTest, DropoutTrainingRatioZeroIsIdentity) {
  const Tensor x = RandD({3, 50}, 703);
  const auto out = Dropout(x, 12, 0.0f, 5);
  EXPECT_EQ(Values<double>(out[0]), Values<double>(x));
  for (double m : Values<double>(out[1])) EXPECT_EQ(m, 1.0);
}

TEST(GradientKernelsTest, DropoutTrainingRejectsBadStepAndRatio) {
  Attrs a;
  EXPECT_FALSE(RunRef("DropoutTraining", a, {D({2}, {1, 2}), D({}, {1})}, DoubleOuts({{2}})).ok());
  a.SetFloat("ratio", 1.0f);
  EXPECT_FALSE(RunRef("DropoutTraining", a, {D({2}, {1, 2}), reftest::I64({}, {1})}, DoubleOuts({{2}})).ok());
}

// ---- GatherGrad, SliceGrad, ReduceMaxGrad ------------------------------------------------------

TEST(GradientKernelsTest, GatherGradMatchesFiniteDifferences) {
  struct Case {
    Dims data;
    int64_t axis;
    Tensor indices;
  };
  const std::vector<Case> cases = {
      {{5, 3}, 0, reftest::I64({2, 3}, {0, 4, -1, 2, 0, 0})},  // repeats accumulate, -1 wraps
      {{2, 4, 3}, 1, reftest::I32({4}, {3, -4, 3, 1})},
      {{3, 4}, -1, reftest::I64({}, {2})},
  };
  uint32_t seed = 800;
  for (const Case& c : cases) {
    Attrs a;
    a.SetInt("axis", c.axis);
    const int64_t axis = c.axis < 0 ? c.axis + static_cast<int64_t>(c.data.size()) : c.axis;
    Dims y(c.data.begin(), c.data.begin() + axis);
    y.insert(y.end(), c.indices.dims().begin(), c.indices.dims().end());
    y.insert(y.end(), c.data.begin() + axis + 1, c.data.end());
    const Tensor data = RandD(c.data, seed++), r = RandD(y, seed++);
    RunGradCheck({"GatherGrad",
                  With(a, "data_shape", c.data),
                  {r, c.indices},
                  {c.data},
                  Op("Gather", a, {y}),
                  {data, c.indices},
                  {0},
                  r},
                 "axis " + std::to_string(c.axis));
  }
  Attrs a;
  a.SetInts("data_shape", {3});
  EXPECT_FALSE(RunRef("GatherGrad", a, {D({1}, {1}), Ints({3})}, DoubleOuts({{3}})).ok());
}

TEST(GradientKernelsTest, SliceGradMatchesFiniteDifferences) {
  struct Case {
    Dims x;
    std::vector<Tensor> params;  // starts, ends [, axes, steps]
  };
  const std::vector<Case> cases = {
      {{4, 5}, {Ints({1, 0}), Ints({3, 5})}},
      {{4, 6}, {Ints({-1, 1}), Ints({-100, 6}), Ints({0, 1}), Ints({-2, 2})}},
      {{3, 4, 5}, {Ints({1}), Ints({100}), Ints({-1}), Ints({3})}},
      {{6}, {Ints({5}), Ints({0}), Tensor(), Ints({-1})}},
  };
  uint32_t seed = 900;
  for (const Case& c : cases) {
    std::vector<Tensor> fwd_in = {RandD(c.x, seed++)};
    fwd_in.insert(fwd_in.end(), c.params.begin(), c.params.end());
    // The Slice output shape from the shared helper.
    std::vector<std::vector<int64_t>> p;
    for (const Tensor& t : c.params) p.push_back(t.empty() ? std::vector<int64_t>{} : t.ToInt64Vector());
    while (p.size() < 4) p.emplace_back();
    auto range = ResolveSlice(c.x, p[0], p[1], p[2], p[3]);
    ASSERT_OK(range.status());
    const Dims y = range->output;
    const Tensor r = RandD(y, seed++);
    std::vector<Tensor> grad_in = {r};
    grad_in.insert(grad_in.end(), c.params.begin(), c.params.end());
    Attrs a;
    a.SetInts("input_shape", c.x);
    RunGradCheck({"SliceGrad", a, grad_in, {c.x}, Op("Slice", {}, {y}), fwd_in, {0}, r}, DimsToString(c.x));
  }
}

TEST(GradientKernelsTest, ReduceMaxGradMatchesFiniteDifferences) {
  struct Case {
    std::vector<int64_t> axes;
    int64_t keepdims;
  };
  const Dims x_dims = {3, 4, 5};
  uint32_t seed = 1000;
  for (const Case& c : std::vector<Case>{{{1}, 1}, {{0, 2}, 0}, {{}, 1}, {{-1}, 0}, {{}, 0}}) {
    Attrs a;
    if (!c.axes.empty()) a.SetInts("axes", c.axes);
    a.SetInt("keepdims", c.keepdims);
    auto axes = NormalizeAxes(c.axes, 3);
    ASSERT_OK(axes.status());
    const Dims y = ReducedDims(x_dims, *axes, c.keepdims != 0);
    const Tensor x = RandD(x_dims, seed++), r = RandD(y, seed++);
    RunGradCheck({"ReduceMaxGrad", a, {r, x}, {x_dims}, Op("ReduceMax", a, {y}), {x}, {0}, r},
                 DimsToString(c.axes) + " keepdims " + std::to_string(c.keepdims));
  }
  // Ties: the first maximal element takes the whole gradient.
  Attrs a;
  a.SetInts("axes", {1});
  auto out = RunRef("ReduceMaxGrad", a, {D({2, 1}, {7, 8}), D({2, 3}, {1, 4, 4, 2, 2, 0})}, DoubleOuts({{2, 3}}));
  ASSERT_OK(out.status());
  EXPECT_EQ(Values<double>((*out)[0]), (std::vector<double>{0, 7, 0, 8, 0, 0}));
}

}  // namespace
}  // namespace kiln
