// oneDNN kernels of the backward ops (runtime/kernels/onednn/onednn_backward.cc)
// against the reference kernels, float32, within 1e-4; and the support check
// declining what they cannot run.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "compiler/compile.h"
#include "dnnl.hpp"
#include "ir/core/shape_util.h"
#include "ir/graph.h"
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "runtime/kernels/onednn/channel_batch_norm.h"
#include "runtime/kernels/onednn/conv_grad_weight_direct.h"
#include "runtime/kernels/onednn/conv_grad_weight_product.h"
#include "runtime/kernels/onednn/max_pool_direct.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/session.h"
#include "tests/runtime/simd_levels.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelRegistry;
using runtime::KernelSpec;
using runtime::onednn::SimdLevel;

Tensor Rand(const Dims& dims, uint32_t seed, float lo = -1, float hi = 1) {
  return testing::RandomTensor(dims, seed, lo, hi);
}

// |x| in [0.4, 2] with random signs (away from the kinks of relu and abs).
Tensor AwayFromZero(const Dims& dims, uint32_t seed) {
  Tensor t = Rand(dims, seed, 0.4f, 2.0f);
  std::vector<float> v(t.data_as<float>(), t.data_as<float>() + t.num_elements());
  for (size_t i = 0; i < v.size(); ++i) v[i] = (i * 7 + seed) % 3 == 0 ? -v[i] : v[i];
  return Tensor::FromVector(proto::DT_FLOAT, dims, v);
}

Attrs Ints(Attrs a, const std::string& name, const std::vector<int64_t>& v) {
  a.SetInts(name, v);
  return a;
}
Attrs Int(Attrs a, const std::string& name, int64_t v) {
  a.SetInt(name, v);
  return a;
}

class OneDnnBackwardTest : public ::testing::Test {
 public:  // for the helpers below the fixture
  OneDnnBackwardTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  // Runs the `backend` kernel of `op` once on fresh (zeroed) outputs.
  StatusOr<std::vector<Tensor>> Run(const std::string& backend, const std::string& op, const Attrs& attrs,
                                    const std::vector<Tensor>& inputs, const std::vector<Dims>& output_dims) {
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
    ASSIGN_OR_RETURN(auto kernel, KernelRegistry::Global().Create(backend, spec));
    RETURN_IF_ERROR(kernel->Run(spec.inputs, spec.outputs));
    return outputs;
  }

  void ExpectMatchesRef(const std::string& op, const Attrs& attrs, const std::vector<Tensor>& inputs,
                        const std::vector<Dims>& output_dims, const std::string& what) {
    SCOPED_TRACE(op + " " + what);
    auto dnn = Run("onednn", op, attrs, inputs, output_dims);
    ASSERT_OK(dnn.status());
    auto ref = Run("ref", op, attrs, inputs, output_dims);
    ASSERT_OK(ref.status());
    for (size_t i = 0; i < output_dims.size(); ++i) {
      const std::string diff = testing::CompareTensors((*dnn)[i], (*ref)[i], 1e-4, 1e-4);
      EXPECT_TRUE(diff.empty()) << "output " << i << ": " << diff;
    }
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
};

TEST_F(OneDnnBackwardTest, EltwiseGrad) {
  struct Case {
    const char* function;
    const char* forward;
    bool uses_y, positive;
    float alpha;
  };
  const Case cases[] = {{"relu", "Relu", false, false, 0},
                        {"leaky_relu", "LeakyRelu", false, false, 0},
                        {"leaky_relu", "LeakyRelu", false, false, 0.3f},
                        {"elu", "Elu", false, false, 0.7f},
                        {"softplus", "Softplus", false, false, 0},
                        {"abs", "Abs", false, false, 0},
                        {"log", "Log", false, true, 0},
                        {"sigmoid", "Sigmoid", true, false, 0},
                        {"tanh", "Tanh", true, false, 0},
                        {"exp", "Exp", true, false, 0},
                        {"sqrt", "Sqrt", true, true, 0},
                        {"gelu", "Gelu", false, false, 0},
                        {"gelu_tanh", "GeluTanh", false, false, 0},
                        {"swish", "Swish", false, false, 0.6f}};
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const Dims dims = {2, 3, 5};
    const Tensor x = c.positive ? Rand(dims, seed++, 0.5f, 2.0f) : AwayFromZero(dims, seed++);
    Attrs fwd, grad;
    grad.SetString("function", c.function);
    if (c.alpha != 0) {
      fwd.SetFloat("alpha", c.alpha);
      grad.SetFloat("alpha", c.alpha);
    }
    Tensor t = x;
    if (c.uses_y) {
      auto y = Run("ref", c.forward, fwd, {x}, {dims});
      ASSERT_OK(y.status());
      t = (*y)[0];
    }
    ExpectMatchesRef("EltwiseGrad", grad, {Rand(dims, seed++), t}, {dims}, c.function);
  }
}

TEST_F(OneDnnBackwardTest, SoftmaxGrad) {
  const Dims dims = {2, 3, 4};
  uint32_t seed = 20;
  for (int log = 0; log <= 1; ++log) {
    for (int64_t axis : {-1, 0, 1}) {
      const Attrs fwd = Int({}, "axis", axis);
      auto y = Run("ref", log ? "LogSoftmax" : "Softmax", fwd, {Rand(dims, seed++, -2, 2)}, {dims});
      ASSERT_OK(y.status());
      ExpectMatchesRef("SoftmaxGrad", Int(fwd, "log", log), {Rand(dims, seed++), (*y)[0]}, {dims},
                       "axis " + std::to_string(axis) + " log " + std::to_string(log));
    }
  }
}

struct ConvCase {
  std::string name;
  Dims x, w;
  Attrs attrs;
};

std::vector<ConvCase> ConvCases() {
  return {
      {"Plain2d", {2, 3, 6, 5}, {4, 3, 3, 3}, Ints({}, "pads", {1, 1, 1, 1})},
      {"Grouped2dStridedDilatedAsymPads",
       {2, 4, 7, 6},
       {6, 2, 3, 2},
       Ints(Ints(Ints(Int({}, "group", 2), "strides", {2, 1}), "pads", {1, 0, 0, 1}), "dilations", {1, 2})},
      {"Strided1dDilated",
       {1, 3, 11},
       {2, 3, 3},
       Ints(Ints(Ints({}, "strides", {2}), "pads", {1, 2}), "dilations", {2})},
      {"Depthwise3d", {1, 2, 4, 5, 3}, {2, 1, 2, 2, 2}, Ints(Int({}, "group", 2), "pads", {1, 0, 1, 0, 1, 1})},
  };
}

Dims ConvOutput(const ConvCase& c) {
  auto g = ComputeWindowGeometry(Dims(c.x.begin() + 2, c.x.end()), Dims(c.w.begin() + 2, c.w.end()), c.attrs);
  EXPECT_OK(g.status());
  Dims y = {c.x[0], c.w[0]};
  y.insert(y.end(), g->output.begin(), g->output.end());
  return y;
}

TEST_F(OneDnnBackwardTest, ConvGradInputAndWeight) {
  uint32_t seed = 40;
  for (const ConvCase& c : ConvCases()) {
    const Dims y = ConvOutput(c);
    const Tensor dy = Rand(y, seed++), x = Rand(c.x, seed++), w = Rand(c.w, seed++);
    ExpectMatchesRef("ConvGradInput", Ints(c.attrs, "input_shape", c.x), {dy, w}, {c.x}, c.name);
    ExpectMatchesRef("ConvGradWeight", Ints(c.attrs, "weight_shape", c.w), {dy, x}, {c.w, {c.w[0]}}, c.name);
    ExpectMatchesRef("ConvGradWeight", Ints(c.attrs, "weight_shape", c.w), {dy, x}, {c.w}, c.name + " no dB");
  }
}

// A ConvGradWeight kernel of Kiln's own (`build`, at every instruction set this CPU has, one
// and three threads, with and without dB) against the reference.
using GradWeightBuilder = StatusOr<std::unique_ptr<runtime::Kernel>> (*)(const KernelSpec&, SimdLevel);
void ExpectGradWeightKernelMatchesRef(OneDnnBackwardTest& t, ExecEnv& env, const ConvCase& c, uint32_t seed,
                                      GradWeightBuilder build) {
  const Dims y = ConvOutput(c);
  const Tensor dy = Rand(y, seed), x = Rand(c.x, seed + 1);
  const Attrs attrs = Ints(c.attrs, "weight_shape", c.w);
  for (bool bias : {true, false}) {
    std::vector<Dims> dims = {c.w};
    if (bias) dims.push_back({c.w[0]});
    auto want = t.Run("ref", "ConvGradWeight", attrs, {dy, x}, dims);
    ASSERT_OK(want.status());
    testing::ForEachThreadCountAndLevel([&](SimdLevel level, int threads) {
      KernelSpec spec;
      spec.name = c.name;
      spec.op_type = "ConvGradWeight";
      spec.attrs = attrs;
      spec.env = &env;
      spec.inputs = {dy.ref(), x.ref()};
      std::vector<Tensor> got;
      for (const Dims& d : dims) got.emplace_back(proto::DT_FLOAT, d);
      for (Tensor& g : got) spec.outputs.push_back(g.ref());
      auto kernel = build(spec, level);
      ASSERT_OK(kernel.status());
      for (int run = 0; run < 2; ++run) ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));  // no state kept
      for (size_t i = 0; i < dims.size(); ++i) {
        const std::string diff = testing::CompareTensors(got[i], (*want)[i], 1e-4, 1e-4);
        EXPECT_TRUE(diff.empty()) << c.name << " output " << i << ", level " << static_cast<int>(level) << ", "
                                  << threads << " threads: " << diff;
      }
    });
  }
}

KernelSpec GradWeightSpec(const Dims& x, const Dims& w, const Dims& y, Attrs attrs) {
  KernelSpec spec;
  spec.op_type = "ConvGradWeight";
  spec.attrs = Ints(attrs, "weight_shape", w);
  spec.inputs = {TensorRef{proto::DT_FLOAT, y, nullptr}, TensorRef{proto::DT_FLOAT, x, nullptr}};
  spec.outputs = {TensorRef{proto::DT_FLOAT, w, nullptr}};
  return spec;
}

// ConvGradWeight with few taps runs the direct kernel (conv_grad_weight_direct.h): strides,
// dilations and asymmetric pads, pixels that fill no whole vector, 9, 25 and 32 taps, more
// images than threads and fewer; 33 taps are oneDNN's.
TEST_F(OneDnnBackwardTest, DirectConvGradWeightMatchesTheReference) {
  const std::vector<ConvCase> cases = {
      {"gray3x3", {5, 1, 28, 28}, {32, 1, 3, 3}, Ints({}, "pads", {1, 1, 1, 1})},
      {"lenet5x5", {3, 1, 13, 11}, {6, 1, 5, 5}, Ints({}, "pads", {2, 2, 2, 2})},
      {"strided_dilated",
       {2, 2, 17, 19},
       {7, 2, 4, 4},
       Ints(Ints(Ints({}, "strides", {2, 3}), "pads", {1, 2, 2, 1}), "dilations", {2, 1})},
      {"one_image", {1, 3, 6, 5}, {4, 3, 3, 3}, Ints({}, "pads", {0, 1, 1, 0})},
  };
  uint32_t seed = 90;
  for (const ConvCase& c : cases) {
    ASSERT_TRUE(runtime::onednn::DirectConvGradWeightRuns(GradWeightSpec(c.x, c.w, ConvOutput(c), c.attrs)));
    ExpectGradWeightKernelMatchesRef(*this, env_, c, seed, runtime::onednn::BuildDirectConvGradWeight);
    seed += 2;
  }
  EXPECT_FALSE(runtime::onednn::DirectConvGradWeightRuns(
      GradWeightSpec({1, 11, 5, 5}, {4, 11, 3, 1}, {1, 4, 5, 5}, Ints({}, "pads", {1, 0, 1, 0}))));  // 33 taps
}

// ConvGradWeight at stride 1 with many taps, as a product over padded images
// (conv_grad_weight_product.h): the Fashion-MNIST CNN's second layer, output channels that
// fill no pair of panels, asymmetric pads, a dilated 5x3 window, one image; and what it
// refuses (a stride, few taps, padded rows over 5/4 of the output's, groups).
TEST_F(OneDnnBackwardTest, ConvGradWeightProductMatchesTheReference) {
  const std::vector<ConvCase> cases = {
      {"cnn_conv2", {3, 32, 14, 14}, {64, 32, 3, 3}, Ints({}, "pads", {1, 1, 1, 1})},
      {"odd_outputs_asymmetric_pads", {2, 5, 9, 12}, {11, 5, 3, 3}, Ints({}, "pads", {0, 1, 2, 0})},
      {"dilated_5x3", {2, 3, 20, 24}, {7, 3, 5, 3}, Ints(Ints({}, "pads", {4, 1, 4, 1}), "dilations", {2, 1})},
      {"one_image", {1, 8, 10, 10}, {17, 8, 3, 3}, Ints({}, "pads", {1, 1, 1, 1})},
  };
  uint32_t seed = 120;
  for (const ConvCase& c : cases) {
    EXPECT_EQ(runtime::ConvGradWeightProductUnsupportedReason(GradWeightSpec(c.x, c.w, ConvOutput(c), c.attrs)), "")
        << c.name;
    ExpectGradWeightKernelMatchesRef(*this, env_, c, seed, runtime::onednn::BuildConvGradWeightProduct);
    seed += 2;
  }
  const Attrs pads = Ints({}, "pads", {1, 1, 1, 1});
  for (const KernelSpec& refused : {
           GradWeightSpec({1, 8, 14, 14}, {4, 8, 3, 3}, {1, 4, 7, 7}, Ints(pads, "strides", {2, 2})),
           GradWeightSpec({1, 3, 14, 14}, {4, 3, 3, 3}, {1, 4, 14, 14}, pads),  // 27 taps: the direct kernel's
           GradWeightSpec({1, 8, 7, 7}, {4, 8, 3, 3}, {1, 4, 7, 7}, pads),      // rows 9 / 7 wide
           GradWeightSpec({1, 8, 14, 14}, {4, 4, 3, 3}, {1, 4, 14, 14}, Int(pads, "group", 2)),
       }) {
    EXPECT_NE(runtime::ConvGradWeightProductUnsupportedReason(refused), "") << refused.attrs.ToString();
  }
  // Through the family's registration: an Inf in X meets a padding column's zero (NaN, where
  // the reference's sum is finite or +-Inf); the output scan then runs the reference.
  const ConvCase c = cases[1];
  Tensor dy = Rand(ConvOutput(c), 7), x = Rand(c.x, 8);
  x.mutable_data_as<float>()[3 * 12 + 11] = INFINITY;  // image 0, channel 0, row 3, last column
  const Attrs attrs = Ints(c.attrs, "weight_shape", c.w);
  auto got = Run(runtime::kConvGradWeightProductKernel, "ConvGradWeight", attrs, {dy, x}, {c.w, {c.w[0]}});
  auto want = Run("ref", "ConvGradWeight", attrs, {dy, x}, {c.w, {c.w[0]}});
  ASSERT_OK(got.status());
  ASSERT_OK(want.status());
  for (size_t i = 0; i < 2; ++i) {
    const std::string diff = testing::CompareTensors((*got)[i], (*want)[i], 1e-4, 1e-4);
    EXPECT_TRUE(diff.empty()) << "output " << i << ": " << diff;
  }
}

// Convolution gradients compute with IEEE arithmetic alone, so their kernels scan the outputs
// after a run rather than the (larger) inputs before it (onednn_common.cc): NaN and +-Inf in
// dY or X, next to the padding too, must still come out as the reference's.
TEST_F(OneDnnBackwardTest, ConvGradientsOfNonFiniteValuesAreTheReferences) {
  const float kSpecial[] = {std::nanf(""), INFINITY, -INFINITY};
  uint32_t seed = 70;
  for (const ConvCase& c : ConvCases()) {
    const Dims y = ConvOutput(c);
    for (int k = 0; k < 3; ++k) {
      Tensor dy = Rand(y, seed++), x = Rand(c.x, seed++), w = Rand(c.w, seed++);
      dy.mutable_data_as<float>()[0] = kSpecial[k];  // a corner: its windows reach into the padding
      x.mutable_data_as<float>()[x.num_elements() / 2] = kSpecial[(k + 1) % 3];
      ExpectMatchesRef("ConvGradInput", Ints(c.attrs, "input_shape", c.x), {dy, w}, {c.x}, c.name);
      ExpectMatchesRef("ConvGradWeight", Ints(c.attrs, "weight_shape", c.w), {dy, x}, {c.w, {c.w[0]}}, c.name);
    }
  }
}

struct PoolCase {
  std::string name;
  Dims x;
  Attrs attrs;
};

Dims PoolOutput(const PoolCase& c) {
  auto g = ComputeWindowGeometry(Dims(c.x.begin() + 2, c.x.end()), c.attrs.GetInts("kernel_shape"), c.attrs);
  EXPECT_OK(g.status());
  Dims y = {c.x[0], c.x[1]};
  y.insert(y.end(), g->output.begin(), g->output.end());
  return y;
}

Attrs Pool(const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides, const std::vector<int64_t>& pads) {
  Attrs a = Ints(Ints({}, "kernel_shape", kernel), "strides", strides);
  if (!pads.empty()) a.SetInts("pads", pads);
  return a;
}

std::vector<PoolCase> PoolCases() {
  return {
      {"K2S2", {2, 3, 6, 6}, Pool({2, 2}, {2, 2}, {})},
      {"K2S2Odd", {3, 4, 9, 7}, Pool({2, 2}, {2, 2}, {})},
      {"StrideBeyondKernelPads", {2, 3, 7, 8}, Pool({2, 3}, {3, 3}, {1, 0, 0, 1})},
      {"OverlappingPads", {1, 2, 7, 6}, Pool({3, 3}, {1, 2}, {1, 1, 1, 0})},
      {"CeilMode", {1, 2, 7, 7}, Int(Pool({2, 2}, {2, 2}, {}), "ceil_mode", 1)},
      {"OneD", {2, 3, 9}, Pool({3}, {2}, {1, 1})},
      {"ThreeD", {1, 2, 4, 5, 4}, Pool({2, 2, 2}, {1, 2, 2}, {1, 0, 0, 0, 0, 1})},
  };
}

TEST_F(OneDnnBackwardTest, AveragePoolGrad) {
  uint32_t seed = 60;
  for (const PoolCase& c : PoolCases()) {
    const Dims y = PoolOutput(c);
    for (int include_pad = 0; include_pad <= 1; ++include_pad) {
      if (include_pad && c.attrs.GetInt("ceil_mode", 0)) continue;  // declined, see below
      const Attrs a = Ints(Int(c.attrs, "count_include_pad", include_pad), "input_shape", c.x);
      ExpectMatchesRef("AveragePoolGrad", a, {Rand(y, seed++)}, {c.x}, c.name + " pad " + std::to_string(include_pad));
    }
  }
}

TEST_F(OneDnnBackwardTest, MaxPoolGrad) {
  uint32_t seed = 80;
  for (const PoolCase& c : PoolCases()) {
    const Dims y = PoolOutput(c);
    ExpectMatchesRef("MaxPoolGrad", c.attrs, {Rand(y, seed++), Rand(c.x, seed++)}, {c.x}, c.name);
    // Ties (a ReLU'd input: windows of zeros) must go to the first maximum, as the reference does.
    Tensor x = Rand(c.x, seed++);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      float& v = x.mutable_data_as<float>()[i];
      v = v < 0.3f ? 0.0f : v;
    }
    ExpectMatchesRef("MaxPoolGrad", c.attrs, {Rand(y, seed++), x}, {c.x}, c.name + " ties");
  }
}

// Non-overlapping windows run the direct kernel (one pass per plane; max_pool_direct.h), which
// must route each window's dY exactly as the reference does, NaNs included; overlapping ones
// stay oneDNN's.
TEST_F(OneDnnBackwardTest, MaxPoolGradDirectKernelForNonOverlappingWindows) {
  auto reason = [&](const PoolCase& c) {
    Tensor dy(proto::DT_FLOAT, PoolOutput(c)), x(proto::DT_FLOAT, c.x), dx(proto::DT_FLOAT, c.x);
    KernelSpec spec;
    spec.op_type = "MaxPoolGrad";
    spec.attrs = c.attrs;
    spec.inputs = {dy.ref(), x.ref()};
    spec.outputs = {dx.ref()};
    return runtime::onednn::DirectMaxPoolGradUnsupportedReason(spec);
  };
  const std::vector<PoolCase> cases = PoolCases();
  std::vector<std::string> direct;
  for (const PoolCase& c : cases) {
    if (reason(c).empty()) direct.push_back(c.name);
  }
  EXPECT_EQ(direct, (std::vector<std::string>{"K2S2", "K2S2Odd", "StrideBeyondKernelPads", "CeilMode"}));
  EXPECT_EQ(reason(cases[3]), "overlapping windows");
  uint32_t seed = 120;
  for (const PoolCase& c : cases) {
    if (!reason(c).empty()) continue;
    Tensor x = Rand(c.x, seed++);
    for (int64_t i = 0; i < x.num_elements(); i += 5) x.mutable_data_as<float>()[i] = std::nanf("");
    ExpectMatchesRef("MaxPoolGrad", c.attrs, {Rand(PoolOutput(c), seed++), x}, {c.x}, c.name + " NaNs");
  }
}

// MaxPool 2x2/2 runs the direct kernel, X and Y each plain NCHW or channels-last (odd sizes
// drop the last row/column as floor windows do; NaNs and ties as the reference's first
// maximum); other windows stay oneDNN's (the same results either way).
TEST_F(OneDnnBackwardTest, MaxPoolDirectKernelFor2x2Stride2) {
  auto spec_for = [&](const Attrs& attrs, const Dims& x, const Dims& y, Layout layout, Layout out_layout) {
    KernelSpec spec;
    spec.op_type = "MaxPool";
    spec.attrs = attrs;
    spec.env = &env_;
    spec.inputs = {TensorRef{proto::DT_FLOAT, x, nullptr, layout}};
    spec.outputs = {TensorRef{proto::DT_FLOAT, y, nullptr, out_layout}};
    return spec;
  };
  const Attrs k2s2 = Pool({2, 2}, {2, 2}, {});
  EXPECT_EQ(runtime::onednn::DirectMaxPoolUnsupportedReason(
                spec_for(k2s2, {2, 3, 8, 6}, {2, 3, 4, 3}, proto::LAYOUT_PLAIN, proto::LAYOUT_PLAIN)),
            "");
  EXPECT_EQ(
      runtime::onednn::DirectMaxPoolUnsupportedReason(spec_for(Pool({3, 3}, {2, 2}, {1, 1, 1, 1}), {1, 2, 7, 7},
                                                               {1, 2, 4, 4}, proto::LAYOUT_PLAIN, proto::LAYOUT_PLAIN)),
      "not 2x2 windows, stride 2, nor channels-last");
  EXPECT_EQ(runtime::onednn::DirectMaxPoolUnsupportedReason(spec_for(
                Int(k2s2, "ceil_mode", 1), {1, 2, 7, 7}, {1, 2, 4, 4}, proto::LAYOUT_PLAIN, proto::LAYOUT_PLAIN)),
            "ceil_mode windows past the input");
  uint32_t seed = 140;
  for (const Dims& x_dims :
       std::vector<Dims>{{2, 3, 8, 6}, {3, 5, 9, 7}, {1, 16, 28, 28}, {2, 6, 28, 28}, {2, 19, 6, 5}}) {
    const Dims y_dims = {x_dims[0], x_dims[1], x_dims[2] / 2, x_dims[3] / 2};
    Tensor x = Rand(x_dims, seed++);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      float& v = x.mutable_data_as<float>()[i];
      if (i % 7 == 0) v = std::nanf("");
      if (i % 5 == 0) v = 0.0f;  // ties, as after a Relu
    }
    Tensor want(proto::DT_FLOAT, y_dims);
    ASSERT_OK(runtime::RunReferenceOp("MaxPool", "ref", k2s2, {x.ref()}, {want.ref()}));
    for (Layout layout : {proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST}) {
      for (Layout out_layout : {proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST}) {
        SCOPED_TRACE(DimsToString(x_dims) + (layout == proto::LAYOUT_PLAIN ? " plain" : " channels-last") + " to" +
                     (out_layout == proto::LAYOUT_PLAIN ? " plain" : " channels-last"));
        Tensor in = layout == proto::LAYOUT_PLAIN ? x : testing::Relayout(x, proto::LAYOUT_PLAIN, layout);
        Tensor got(proto::DT_FLOAT, y_dims);
        KernelSpec spec = spec_for(k2s2, x_dims, y_dims, layout, out_layout);
        spec.inputs[0].data = in.ref().data;
        spec.outputs[0].data = got.ref().data;
        EXPECT_EQ(runtime::onednn::DirectMaxPoolUnsupportedReason(spec), "");
        auto kernel = KernelRegistry::Global().Create("onednn", spec);
        ASSERT_OK(kernel.status());
        ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
        const Tensor plain =
            out_layout == proto::LAYOUT_PLAIN ? got : testing::Relayout(got, out_layout, proto::LAYOUT_PLAIN);
        EXPECT_EQ(testing::CompareTensors(plain, want, 0, 0), "");
      }
    }
  }
}

// Any window over channels-last X and Y (ResNet's 3x3/2 with padding; overlapping, strided,
// asymmetric and ceil_mode windows), NaNs and ties, against the reference; a window in the
// padding alone is oneDNN's.
TEST_F(OneDnnBackwardTest, MaxPoolDirectKernelForAnyWindowChannelsLast) {
  struct Case {
    Dims x;
    Attrs attrs;
  };
  const std::vector<Case> cases = {
      {{2, 64, 15, 14}, Pool({3, 3}, {2, 2}, {1, 1, 1, 1})},
      {{1, 5, 9, 8}, Pool({3, 3}, {1, 1}, {1, 1, 1, 1})},
      {{2, 19, 11, 13}, Pool({2, 3}, {1, 2}, {0, 2, 1, 1})},
      {{1, 8, 7, 7}, Int(Pool({3, 3}, {2, 2}, {}), "ceil_mode", 1)},
  };
  uint32_t seed = 160;
  for (const Case& c : cases) {
    auto g = ComputePoolGeometry({c.x[2], c.x[3]}, c.attrs.GetInts("kernel_shape"), c.attrs);
    ASSERT_OK(g.status());
    const Dims y_dims = {c.x[0], c.x[1], g->output[0], g->output[1]};
    Tensor x = Rand(c.x, seed++);
    for (int64_t i = 0; i < x.num_elements(); ++i) {
      float& v = x.mutable_data_as<float>()[i];
      if (i % 11 == 0) v = std::nanf("");
      if (i % 5 == 0) v = 0.0f;
    }
    Tensor want(proto::DT_FLOAT, y_dims);
    ASSERT_OK(runtime::RunReferenceOp("MaxPool", "ref", c.attrs, {x.ref()}, {want.ref()}));
    const Tensor in = testing::Relayout(x, proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
    Tensor got(proto::DT_FLOAT, y_dims);
    KernelSpec spec;
    spec.op_type = "MaxPool";
    spec.attrs = c.attrs;
    spec.env = &env_;
    spec.inputs = {TensorRef{proto::DT_FLOAT, c.x, in.ref().data, proto::LAYOUT_CHANNELS_LAST}};
    spec.outputs = {TensorRef{proto::DT_FLOAT, y_dims, got.ref().data, proto::LAYOUT_CHANNELS_LAST}};
    EXPECT_EQ(runtime::onednn::DirectMaxPoolUnsupportedReason(spec), "") << DimsToString(c.x);
    auto kernel = runtime::onednn::BuildDirectMaxPool(spec);
    ASSERT_OK(kernel.status());
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    EXPECT_EQ(
        testing::CompareTensors(testing::Relayout(got, proto::LAYOUT_CHANNELS_LAST, proto::LAYOUT_PLAIN), want, 0, 0),
        "")
        << DimsToString(c.x);
  }
  KernelSpec padded;
  padded.op_type = "MaxPool";
  padded.attrs = Pool({2, 2}, {1, 1}, {2, 0, 0, 0});
  padded.inputs = {TensorRef{proto::DT_FLOAT, {1, 4, 5, 5}, nullptr, proto::LAYOUT_CHANNELS_LAST}};
  padded.outputs = {TensorRef{proto::DT_FLOAT, {1, 4, 6, 4}, nullptr, proto::LAYOUT_CHANNELS_LAST}};
  EXPECT_NE(runtime::onednn::DirectMaxPoolUnsupportedReason(padded), "");
}

TEST_F(OneDnnBackwardTest, BatchNormTrainingAndGrad) {
  uint32_t seed = 100;
  for (const Dims& x_dims : std::vector<Dims>{{4, 3, 5, 6}, {8, 5}, {2, 3, 7}, {2, 2, 3, 2, 2}}) {
    const int64_t c = x_dims[1];
    const Tensor x = Rand(x_dims, seed++, -2, 3), scale = Rand({c}, seed++), b = Rand({c}, seed++);
    const Tensor rm = Rand({c}, seed++), rv = Rand({c}, seed++, 0.5f, 2.0f);
    Attrs a;
    a.SetFloat("epsilon", 1e-3f);
    a.SetFloat("momentum", 0.8f);
    const std::string what = DimsToString(x_dims);
    ExpectMatchesRef("BatchNormTraining", a, {x, scale, b, rm, rv}, {x_dims, {c}, {c}, {c}, {c}}, what);
    ExpectMatchesRef("BatchNormTraining", a, {x, scale, b, rm, rv}, {x_dims, {c}, {c}}, what + " no saved stats");
    auto fwd = Run("ref", "BatchNormTraining", a, {x, scale, b, rm, rv}, {x_dims, {c}, {c}, {c}, {c}});
    ASSERT_OK(fwd.status());
    const Tensor dy = Rand(x_dims, seed++);
    ExpectMatchesRef("BatchNormGrad", a, {dy, x, scale, (*fwd)[3], (*fwd)[4]}, {x_dims, {c}, {c}}, what);
    ExpectMatchesRef("BatchNormGrad", a, {dy, x, scale, (*fwd)[3], (*fwd)[4]}, {x_dims}, what + " dX only");
  }
}

// The channel kernels (channel_batch_norm.h) that the oneDNN builders use for plain
// [N, C, H, W] tensors, against the reference: runs shorter and longer than a vector and
// with tails, a mean far from zero (the centred sums), one and three threads, and the
// running statistics updated in their own buffers.
TEST_F(OneDnnBackwardTest, BatchNormChannelKernels) {
  const int max_threads = omp_get_max_threads();
  uint32_t seed = 300;
  struct Case {
    Dims x;
    float lo, hi;
  };
  for (const Case& k : std::vector<Case>{{{3, 4, 17}, -2, 3},
                                         {{2, 5, 8}, -1, 1},
                                         {{4, 3, 7, 9}, 100, 101},
                                         {{2, 3, 4, 4, 3}, -1, 1},
                                         {{16, 32, 28, 28}, -3, 2}}) {
    for (int threads : {1, 3}) {
      omp_set_num_threads(threads);
      const Dims& x_dims = k.x;
      const int64_t c = x_dims[1];
      const std::string what = DimsToString(x_dims) + " threads " + std::to_string(threads);
      SCOPED_TRACE(what);
      const Tensor x = Rand(x_dims, seed++, k.lo, k.hi), scale = Rand({c}, seed++), b = Rand({c}, seed++);
      const Tensor rm = Rand({c}, seed++), rv = Rand({c}, seed++, 0.5f, 2.0f);
      Attrs a;
      a.SetFloat("epsilon", 1e-3f);
      a.SetFloat("momentum", 0.8f);
      KernelSpec spec;
      spec.name = "bn";
      spec.op_type = "BatchNormTraining";
      spec.attrs = a;
      spec.env = &env_;
      for (const Tensor* t : {&x, &scale, &b, &rm, &rv}) spec.inputs.push_back(t->ref());
      for (const Dims& d : std::vector<Dims>{x_dims, {c}, {c}, {c}, {c}}) spec.outputs.push_back({proto::DT_FLOAT, d});
      ASSERT_EQ(runtime::onednn::ChannelBatchNormUnsupportedReason(spec), "");
      ExpectMatchesRef("BatchNormTraining", a, {x, scale, b, rm, rv}, {x_dims, {c}, {c}, {c}, {c}}, what);
      ExpectMatchesRef("BatchNormTraining", a, {x, scale, b, rm, rv}, {x_dims}, what + " Y only");
      auto fwd = Run("ref", "BatchNormTraining", a, {x, scale, b, rm, rv}, {x_dims, {c}, {c}, {c}, {c}});
      ASSERT_OK(fwd.status());
      const Tensor dy = Rand(x_dims, seed++);
      ExpectMatchesRef("BatchNormGrad", a, {dy, x, scale, (*fwd)[3], (*fwd)[4]}, {x_dims, {c}, {c}}, what);
      ExpectMatchesRef("BatchNormGrad", a, {dy, x, scale, (*fwd)[3], (*fwd)[4]}, {x_dims}, what + " dX only");
      // Each instruction set's loops (the builder picks the widest), with and without the
      // fused Relu, against the reference.
      for (int relu : {0, 1}) {
        KernelSpec each = spec;
        each.attrs.SetInt("relu", relu);
        auto want = Run("ref", "BatchNormTraining", each.attrs, {x, scale, b, rm, rv}, {x_dims, {c}, {c}, {c}, {c}});
        ASSERT_OK(want.status());
        for (SimdLevel level : testing::CpuSimdLevels()) {
          SCOPED_TRACE(::testing::Message() << "level " << static_cast<int>(level) << " relu " << relu);
          std::vector<Tensor> got;
          std::vector<TensorRef> got_refs;
          for (const Dims& d : std::vector<Dims>{x_dims, {c}, {c}, {c}, {c}}) {
            got.emplace_back(proto::DT_FLOAT, d);
            got_refs.push_back(got.back().ref());
          }
          auto kernel = runtime::onednn::BuildChannelBatchNorm(each, level);
          ASSERT_OK(kernel.status());
          ASSERT_OK((*kernel)->Run(each.inputs, got_refs));
          for (size_t i = 0; i < got.size(); ++i)
            EXPECT_EQ(testing::CompareTensors(got[i], (*want)[i], 1e-4, 1e-4), "");
          KernelSpec grad = each;
          grad.op_type = "BatchNormGrad";
          grad.inputs = {dy.ref(), x.ref(), scale.ref(), (*fwd)[3].ref(), (*fwd)[4].ref()};
          grad.outputs.resize(3);
          auto want_grad = Run("ref", "BatchNormGrad", a, {dy, x, scale, (*fwd)[3], (*fwd)[4]}, {x_dims, {c}, {c}});
          ASSERT_OK(want_grad.status());
          auto grad_kernel = runtime::onednn::BuildChannelBatchNorm(grad, level);
          ASSERT_OK(grad_kernel.status());
          ASSERT_OK((*grad_kernel)->Run(grad.inputs, {got_refs[0], got_refs[1], got_refs[2]}));
          for (size_t i = 0; i < 3; ++i) EXPECT_EQ(testing::CompareTensors(got[i], (*want_grad)[i], 1e-4, 1e-4), "");
        }
      }
      // The running statistics in place, as the training step binds them.
      Tensor mean = *Tensor::FromBytes(proto::DT_FLOAT, {c}, rm.data(), rm.num_bytes());
      Tensor var = *Tensor::FromBytes(proto::DT_FLOAT, {c}, rv.data(), rv.num_bytes()), y(proto::DT_FLOAT, x_dims);
      auto kernel = KernelRegistry::Global().Create("onednn", spec);
      ASSERT_OK(kernel.status());
      ASSERT_OK((*kernel)->Run({x.ref(), scale.ref(), b.ref(), mean.ref(), var.ref()},
                               {y.ref(), mean.ref(), var.ref(), TensorRef{}, TensorRef{}}));
      EXPECT_EQ(testing::CompareTensors(mean, (*fwd)[1], 1e-5, 1e-5), "");
      EXPECT_EQ(testing::CompareTensors(var, (*fwd)[2], 1e-5, 1e-5), "");
    }
  }
  omp_set_num_threads(max_threads);
}

TEST_F(OneDnnBackwardTest, BatchNormChannelKernelsDeclineWhatOneDnnRuns) {
  auto reason = [](const Dims& x, DType dtype = proto::DT_FLOAT, Layout layout = proto::LAYOUT_PLAIN) {
    KernelSpec spec;
    spec.op_type = "BatchNormTraining";
    spec.inputs.push_back({dtype, x, nullptr, layout});
    for (int i = 0; i < 4; ++i) spec.inputs.push_back({dtype, {x[1]}, nullptr});
    spec.outputs.push_back({dtype, x, nullptr, layout});
    return runtime::onednn::ChannelBatchNormUnsupportedReason(spec);
  };
  EXPECT_EQ(reason({2, 3, 4, 4}), "");
  EXPECT_NE(reason({8, 5}), "");        // [N, C]: strided channels
  EXPECT_NE(reason({2, 3, 7}), "");     // runs shorter than 8
  EXPECT_NE(reason({0, 3, 4, 4}), "");  // empty
  EXPECT_NE(reason({2, 3, 4, 4}, proto::DT_DOUBLE), "");
  EXPECT_NE(reason({2, 16, 4, 4}, proto::DT_FLOAT, proto::LAYOUT_CHANNELS_LAST), "");
}

std::string ReasonFor(const std::string& op, const std::vector<TensorType>& inputs, const std::vector<Dims>& outputs,
                      const Attrs& attrs) {
  KernelSpec spec;
  spec.name = "n";
  spec.op_type = op;
  spec.attrs = attrs;
  for (const TensorType& t : inputs) spec.inputs.push_back(TensorRef{t.dtype, t.dims, nullptr});
  for (const Dims& d : outputs) spec.outputs.push_back(TensorRef{inputs[0].dtype, d, nullptr});
  return runtime::OneDnnUnsupportedReason(spec);
}

TEST(OneDnnBackwardSupportTest, AcceptsAndDeclines) {
  const TensorType f{proto::DT_FLOAT, {2, 3}};
  Attrs relu;
  relu.SetString("function", "relu");
  EXPECT_EQ(ReasonFor("EltwiseGrad", {f, f}, {f.dims}, relu), "");
  Attrs softsign;
  softsign.SetString("function", "softsign");
  EXPECT_NE(ReasonFor("EltwiseGrad", {f, f}, {f.dims}, softsign).find("softsign"), std::string::npos);
  const TensorType d{proto::DT_DOUBLE, {2, 3}};
  EXPECT_NE(ReasonFor("EltwiseGrad", {d, d}, {d.dims}, relu).find("float32"), std::string::npos);
  // count_include_pad with a ceil_mode window that runs past the end padding.
  Attrs pool =
      Ints(Ints(Ints(Int(Int({}, "ceil_mode", 1), "count_include_pad", 1), "kernel_shape", {2, 2}), "strides", {2, 2}),
           "input_shape", {1, 2, 5, 5});
  EXPECT_NE(ReasonFor("AveragePoolGrad", {{proto::DT_FLOAT, {1, 2, 3, 3}}}, {{1, 2, 5, 5}}, pool), "");
  EXPECT_EQ(ReasonFor("AveragePoolGrad", {{proto::DT_FLOAT, {1, 2, 3, 3}}}, {{1, 2, 5, 5}},
                      Int(pool, "count_include_pad", 0)),
            "");
}

// Lowering picks oneDNN where the factory accepts the node and the reference kernel
// elsewhere, and the plan runs.
TEST(OneDnnBackwardSupportTest, CompilerPicksOneDnnOrFallsBack) {
  Graph g;
  Value* dy = g.AddInput("dy", {proto::DT_FLOAT, {2, 3}});
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3}});
  Attrs relu, softsign;
  relu.SetString("function", "relu");
  softsign.SetString("function", "softsign");
  Node* a = g.AddNode("EltwiseGrad", "relu_grad", {dy, x}, 1, relu);
  Node* b = g.AddNode("EltwiseGrad", "softsign_grad", {dy, x}, 1, softsign);
  g.AddOutput(a->output(0));
  g.AddOutput(b->output(0));
  auto plan = CompileToPlan(g);
  ASSERT_OK(plan.status());
  ASSERT_EQ(plan->step_size(), 2);
  EXPECT_EQ(plan->step(0).kernel(), "onednn");
  EXPECT_EQ(plan->step(1).kernel(), "ref");
  auto session = runtime::Session::Create(*plan);
  ASSERT_OK(session.status());
  const std::vector<float> dy_v = {1, 2, 3, 4, 5, 6}, x_v = {-1, 1, -2, 2, 0.5f, -0.5f};
  ASSERT_OK((*session)->SetInput(0, dy_v.data(), dy_v.size() * sizeof(float)));
  ASSERT_OK((*session)->SetInput(1, x_v.data(), x_v.size() * sizeof(float)));
  ASSERT_OK((*session)->Run());
  const float* relu_out = (*session)->output(0).as<float>();
  const float* softsign_out = (*session)->output(1).as<float>();
  for (int i = 0; i < 6; ++i) {
    EXPECT_FLOAT_EQ(relu_out[i], x_v[i] > 0 ? dy_v[i] : 0.0f) << i;
    EXPECT_FLOAT_EQ(softsign_out[i], dy_v[i] / ((1 + std::fabs(x_v[i])) * (1 + std::fabs(x_v[i])))) << i;
  }
}

}  // namespace
}  // namespace kiln
