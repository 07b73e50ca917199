// Kiln's im2col convolution (runtime/kernels/onednn/im2col_conv.h, family "im2col") against the
// reference kernel, on every instruction set this CPU has, one and three threads: strided
// windows of 1x1, 3x3 and 7x7 (ResNet's downsampling, its strided 3x3 and its first layer),
// dilation with asymmetric pads, output channels that fill no whole vector, a depth past one
// slice of the product (4 x 9 x 40 taps), bias and Relu, a residual (also in place), a bias
// computed per run; Inf and NaN inputs as the reference; what it refuses.
#include "runtime/kernels/onednn/im2col_conv.h"

#include <gtest/gtest.h>

#include <limits>

#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "tests/runtime/channels_last_conv_test_util.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::KernelSpec;
using testing::ChannelsLastConvCase;

Attrs Window(std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dilations = {1, 1},
             bool relu = false) {
  Attrs a;
  a.SetInts("strides", strides);
  a.SetInts("pads", pads);
  a.SetInts("dilations", dilations);
  if (relu) a.SetString("activation", "Relu");
  return a;
}

class Im2colConvTest : public testing::ChannelsLastConvTest {
 protected:
  // The kernel at `level`, where it takes the spec.
  static StatusOr<std::unique_ptr<runtime::Kernel>> Build(const KernelSpec& spec, runtime::onednn::SimdLevel level) {
    const std::string why = runtime::Im2colConvUnsupportedReason(spec);
    if (!why.empty()) return Internal("refused: ", why);
    return runtime::onednn::BuildIm2colConv(spec, level);
  }
  void ExpectMatchesRefEverywhere(const ChannelsLastConvCase& c, const std::vector<Tensor>& in) {
    ChannelsLastConvTest::ExpectMatchesRefEverywhere(Build, c, in);
  }
};

const std::vector<ChannelsLastConvCase>& Cases() {
  static const auto* cases = new std::vector<ChannelsLastConvCase>{
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
  for (const ChannelsLastConvCase& c : Cases()) ExpectMatchesRefEverywhere(c, Inputs(c, 7));
}

TEST_F(Im2colConvTest, BiasComputedAtRunTime) {
  constant_bias_ = false;
  const ChannelsLastConvCase& c = Cases()[1];
  ExpectMatchesRefEverywhere(c, Inputs(c, 9));
}

TEST_F(Im2colConvTest, NonFiniteInputsAreTheReferences) {
  const ChannelsLastConvCase& c = Cases()[1];
  std::vector<Tensor> in = Inputs(c, 11);
  in[0].mutable_data_as<float>()[5] = std::numeric_limits<float>::infinity();
  in[0].mutable_data_as<float>()[700] = std::numeric_limits<float>::quiet_NaN();
  ExpectMatchesRefEverywhere(c, in);
}

TEST_F(Im2colConvTest, RefusesWhatItDoesNotRun) {
  const ChannelsLastConvCase c = Cases()[1];
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
  ChannelsLastConvCase unit = c;
  unit.attrs = Window({1, 1}, {1, 1, 1, 1});
  std::vector<Tensor> in1 = Inputs(unit, 4);
  Tensor out1(proto::DT_FLOAT, OutputDims(unit));
  refused(Spec(unit, in1, out1, true), "stride 1");
}

}  // namespace
}  // namespace kiln
