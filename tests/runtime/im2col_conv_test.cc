// Kiln's im2col convolution (runtime/kernels/onednn/im2col_conv.h, family "im2col") against the
// reference kernel, on every instruction set this CPU has, one and three threads: strided
// windows of 1x1, 3x3 and 7x7 (ResNet's downsampling, its strided 3x3 and its first layer),
// dilation with asymmetric pads, output channels that fill no whole vector, a depth past one
// slice of the product (4 x 9 x 40 taps), bias and Relu, a residual, a bias computed per run;
// Inf and NaN inputs as the reference; what it refuses.
#include "runtime/kernels/onednn/im2col_conv.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <limits>

#include "dnnl.hpp"
#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelSpec;
using runtime::onednn::SimdLevel;

struct Im2colCase {
  std::string name, op;
  Dims x, w;
  Attrs attrs;
  bool bias = true, residual = false;
};

Attrs Window(std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dilations = {1, 1},
             bool relu = false) {
  Attrs a;
  a.SetInts("strides", strides);
  a.SetInts("pads", pads);
  a.SetInts("dilations", dilations);
  if (relu) a.SetString("activation", "Relu");
  return a;
}

class Im2colConvTest : public ::testing::Test {
 protected:
  Im2colConvTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  static Dims OutputDims(const Im2colCase& c) {
    auto g = ComputeWindowGeometry({c.x[2], c.x[3]}, {c.w[2], c.w[3]}, c.attrs);
    EXPECT_OK(g.status());
    return {c.x[0], c.w[0], g->output[0], g->output[1]};
  }

  static std::vector<Tensor> Inputs(const Im2colCase& c, uint32_t seed) {
    std::vector<Tensor> in = {testing::RandomTensor(c.x, seed), testing::RandomTensor(c.w, seed + 1, -0.2f, 0.2f)};
    in.push_back(c.bias ? testing::RandomTensor({c.w[0]}, seed + 2) : Tensor());
    if (c.residual) in.push_back(testing::RandomTensor(OutputDims(c), seed + 3));
    return in;
  }

  KernelSpec Spec(const Im2colCase& c, const std::vector<Tensor>& in, Tensor& out, bool laid_out) {
    KernelSpec spec;
    spec.name = c.name;
    spec.op_type = c.op;
    spec.attrs = c.attrs;
    spec.env = &env_;
    for (size_t i = 0; i < in.size(); ++i) {
      TensorRef r = i == 2 && !c.bias ? TensorRef{} : in[i].ref();
      if (laid_out && (i == 0 || i == 3)) r.layout = proto::LAYOUT_CHANNELS_LAST;
      spec.inputs.push_back(r);
      spec.constant_inputs.push_back(i == 1 || (i == 2 && constant_bias_));
    }
    TensorRef o = out.ref();
    if (laid_out) o.layout = proto::LAYOUT_CHANNELS_LAST;
    spec.outputs = {o};
    return spec;
  }

  void ExpectMatchesRefEverywhere(const Im2colCase& c, const std::vector<Tensor>& plain_in) {
    Tensor want(proto::DT_FLOAT, OutputDims(c));
    KernelSpec ref_spec = Spec(c, plain_in, want, false);
    auto ref = runtime::KernelRegistry::Global().Create("ref", ref_spec);
    ASSERT_OK(ref.status());
    ASSERT_OK((*ref)->Run(ref_spec.inputs, ref_spec.outputs));
    std::vector<Tensor> in = plain_in;
    for (size_t i : {size_t{0}, size_t{3}}) {
      if (i < in.size()) in[i] = testing::Relayout(plain_in[i], proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
    }
    for (int threads : {1, 3}) {
      const int saved = omp_get_max_threads();
      omp_set_num_threads(threads);
      for (SimdLevel level : {SimdLevel::kGeneric, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
        if (!runtime::onednn::CpuHas(level)) continue;
        Tensor got(proto::DT_FLOAT, OutputDims(c));
        KernelSpec spec = Spec(c, in, got, true);
        ASSERT_EQ(runtime::Im2colConvUnsupportedReason(spec), "") << c.name;
        auto kernel = runtime::onednn::BuildIm2colConv(spec, level);
        ASSERT_OK(kernel.status());
        for (int run = 0; run < 2; ++run) ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));  // no state kept
        const Tensor plain = testing::Relayout(got, proto::LAYOUT_CHANNELS_LAST, proto::LAYOUT_PLAIN);
        const std::string diff = testing::CompareTensors(plain, want, 2e-5, 1e-4);
        EXPECT_TRUE(diff.empty()) << c.name << ", " << threads << " threads, level " << static_cast<int>(level) << ": "
                                  << diff;
      }
      omp_set_num_threads(saved);
    }
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
  bool constant_bias_ = true;
};

const std::vector<Im2colCase>& Cases() {
  static const auto* cases = new std::vector<Im2colCase>{
      {"downsample_1x1", "Conv", {2, 16, 14, 14}, {40, 16, 1, 1}, Window({2, 2}, {0, 0, 0, 0})},
      {"strided_3x3_relu", "FusedConv", {2, 24, 13, 12}, {32, 24, 3, 3}, Window({2, 2}, {1, 1, 1, 1}, {1, 1}, true)},
      {"stem_7x7", "FusedConv", {1, 3, 23, 20}, {20, 3, 7, 7}, Window({2, 2}, {3, 3, 3, 3}, {1, 1}, true)},
      {"dilated_asymmetric", "Conv", {1, 5, 17, 19}, {9, 5, 3, 2}, Window({2, 3}, {2, 0, 1, 3}, {2, 1}), false},
      {"deep_residual",
       "FusedConv",
       {1, 40, 9, 9},
       {12, 40, 3, 3},
       Window({2, 1}, {1, 1, 1, 1}, {1, 1}, true),
       true,
       true},
  };
  return *cases;
}

TEST_F(Im2colConvTest, MatchesTheReference) {
  for (const Im2colCase& c : Cases()) ExpectMatchesRefEverywhere(c, Inputs(c, 7));
}

TEST_F(Im2colConvTest, BiasComputedAtRunTime) {
  constant_bias_ = false;
  const Im2colCase& c = Cases()[1];
  ExpectMatchesRefEverywhere(c, Inputs(c, 9));
}

TEST_F(Im2colConvTest, NonFiniteInputsAreTheReferences) {
  const Im2colCase& c = Cases()[1];
  std::vector<Tensor> in = Inputs(c, 11);
  in[0].mutable_data_as<float>()[5] = std::numeric_limits<float>::infinity();
  in[0].mutable_data_as<float>()[700] = std::numeric_limits<float>::quiet_NaN();
  ExpectMatchesRefEverywhere(c, in);
}

TEST_F(Im2colConvTest, RefusesWhatItDoesNotRun) {
  const Im2colCase c = Cases()[1];
  std::vector<Tensor> in = Inputs(c, 3);
  Tensor out(proto::DT_FLOAT, OutputDims(c));
  auto refused = [&](const KernelSpec& spec, const std::string& why) {
    const std::string reason = runtime::Im2colConvUnsupportedReason(spec);
    EXPECT_NE(reason.find(why), std::string::npos) << why << ": " << reason;
    EXPECT_FALSE(runtime::KernelRegistry::Global().Create(runtime::kIm2colConvKernel, spec).ok()) << why;
  };
  const KernelSpec good = Spec(c, in, out, true);
  EXPECT_EQ(runtime::Im2colConvUnsupportedReason(good), "");
  EXPECT_OK(runtime::KernelRegistry::Global().Create(runtime::kIm2colConvKernel, good).status());
  refused(Spec(c, in, out, false), "channels-last");
  KernelSpec grouped = good;
  grouped.attrs.SetInt("group", 2);
  refused(grouped, "grouped");
  KernelSpec sigmoid = good;
  sigmoid.attrs.SetString("activation", "Sigmoid");
  refused(sigmoid, "activation");
  std::vector<Tensor> bad = in;
  bad[1].mutable_data_as<float>()[17] = std::numeric_limits<float>::quiet_NaN();
  refused(Spec(c, bad, out, true), "Inf or NaN");
  Im2colCase unit = c;
  unit.attrs = Window({1, 1}, {1, 1, 1, 1});
  std::vector<Tensor> in1 = Inputs(unit, 4);
  Tensor out1(proto::DT_FLOAT, OutputDims(unit));
  refused(Spec(unit, in1, out1, true), "stride 1");
}

}  // namespace
}  // namespace kiln
