// The direct convolution kernel (runtime/kernels/onednn/small_conv.h, family "dconv")
// against the reference kernel, on every instruction set this CPU has, one and three
// threads: one plain input channel (LeNet-5's first layer; one input channel at stride 1
// runs its own loop over pixels), channels-last inputs, strides,
// dilations and asymmetric pads, output channels that fill no whole vector or several with
// a partial last one, rows shorter than a tile, bias and Relu, a batch; non-finite weights
// next to the padding (exact: the taps outside the image add nothing); what it refuses.
#include "runtime/kernels/onednn/small_conv.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>

#include "dnnl.hpp"
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "tests/runtime/simd_levels.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelSpec;
using runtime::onednn::SimdLevel;

struct ConvCase {
  std::string name, op;
  Dims x, w;
  bool bias;
  Attrs attrs;
  bool plain_input = false;  // one channel, plain (as a model's image input)
};

Attrs MakeAttrs(const std::vector<std::pair<std::string, std::vector<int64_t>>>& ints, bool relu = false) {
  Attrs a;
  for (const auto& [name, v] : ints) a.SetInts(name, v);
  if (relu) a.SetString("activation", "Relu");
  return a;
}

class SmallConvTest : public ::testing::Test {
 protected:
  SmallConvTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  static Dims OutputDims(const ConvCase& c) {
    auto g = ComputeWindowGeometry({c.x[2], c.x[3]}, {c.w[2], c.w[3]}, c.attrs);
    EXPECT_OK(g.status());
    return {c.x[0], c.w[0], g->output[0], g->output[1]};
  }

  KernelSpec Spec(const ConvCase& c, const std::vector<Tensor>& in, Tensor& out, bool laid_out) {
    KernelSpec spec;
    spec.name = c.name;
    spec.op_type = c.op;
    spec.attrs = c.attrs;
    spec.env = &env_;
    for (size_t i = 0; i < in.size(); ++i) {
      TensorRef r = in[i].ref();
      if (laid_out && i == 0 && !c.plain_input) r.layout = proto::LAYOUT_CHANNELS_LAST;
      spec.inputs.push_back(r);
      spec.constant_inputs.push_back(i == 1 || (i == 2 && constant_bias_));
    }
    TensorRef o = out.ref();
    if (laid_out) o.layout = proto::LAYOUT_CHANNELS_LAST;
    spec.outputs = {o};
    return spec;
  }

  std::vector<Tensor> Inputs(const ConvCase& c, uint32_t seed) {
    std::vector<Tensor> in = {testing::RandomTensor(c.x, seed), testing::RandomTensor(c.w, seed + 1)};
    if (c.bias) in.push_back(testing::RandomTensor({c.w[0]}, seed + 2));
    return in;
  }

  // The kernel at `level` (twice: no state carried over) against the reference kernel.
  void ExpectMatchesRef(const ConvCase& c, SimdLevel level, const std::vector<Tensor>& plain_in) {
    const Dims y = OutputDims(c);
    std::vector<Tensor> in = plain_in;
    if (!c.plain_input) in[0] = testing::Relayout(plain_in[0], proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
    Tensor got(proto::DT_FLOAT, y), want(proto::DT_FLOAT, y);
    KernelSpec spec = Spec(c, in, got, true);
    ASSERT_EQ(runtime::SmallConvUnsupportedReason(spec), "") << c.name;
    auto kernel = runtime::onednn::BuildSmallConv(spec, level);
    ASSERT_TRUE(kernel.ok()) << c.name << ": " << kernel.status().message();
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    KernelSpec ref_spec = Spec(c, plain_in, want, false);
    auto ref = runtime::KernelRegistry::Global().Create("ref", ref_spec);
    ASSERT_OK(ref.status());
    ASSERT_OK((*ref)->Run(ref_spec.inputs, ref_spec.outputs));
    const Tensor plain_got = testing::Relayout(got, proto::LAYOUT_CHANNELS_LAST, proto::LAYOUT_PLAIN);
    const std::string diff = testing::CompareTensors(plain_got, want, 2e-5, 1e-4);
    EXPECT_TRUE(diff.empty()) << c.name << " at level " << static_cast<int>(level) << ": " << diff;
  }

  void ExpectMatchesRefEverywhere(const ConvCase& c, const std::vector<Tensor>& in) {
    testing::ForEachThreadCountAndLevel([&](SimdLevel level, int) { ExpectMatchesRef(c, level, in); });
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
  bool constant_bias_ = false;  // a plan constant (copied once), else read on every run
};

TEST_F(SmallConvTest, MatchesTheReference) {
  for (const ConvCase& c : std::vector<ConvCase>{
           {"lenet_first",
            "FusedConv",
            {1, 1, 28, 28},
            {6, 1, 5, 5},
            true,
            MakeAttrs({{"pads", {2, 2, 2, 2}}}, true),
            true},
           {"lenet_second", "FusedConv", {1, 6, 14, 14}, {16, 6, 5, 5}, true, MakeAttrs({}, true)},
           {"one_channel_three_outputs", "Conv", {2, 1, 7, 21}, {3, 1, 3, 4}, true, MakeAttrs({})},
           {"one_channel_strided", "Conv", {1, 1, 9, 40}, {4, 1, 3, 3}, true, MakeAttrs({{"strides", {1, 2}}})},
           {"batch", "Conv", {3, 3, 9, 17}, {20, 3, 3, 3}, true, MakeAttrs({{"pads", {1, 1, 1, 1}}})},
           {"strided_dilated",
            "Conv",
            {1, 5, 19, 23},
            {7, 5, 3, 2},
            false,
            MakeAttrs({{"strides", {2, 3}}, {"dilations", {2, 1}}, {"pads", {2, 0, 1, 3}}})},
           {"narrow_rows", "Conv", {2, 4, 6, 5}, {33, 4, 3, 3}, true, MakeAttrs({{"pads", {0, 1, 2, 1}}})},
           {"wide_window", "FusedConv", {1, 2, 12, 30}, {9, 2, 1, 7}, true, MakeAttrs({{"pads", {0, 3, 0, 3}}}, true)},
       }) {
    ExpectMatchesRefEverywhere(c, Inputs(c, 5));
  }
}

TEST_F(SmallConvTest, SamePadding) {
  ConvCase c{"same_upper", "Conv", {1, 3, 11, 10}, {8, 3, 4, 4}, true, MakeAttrs({{"strides", {2, 2}}})};
  c.attrs.SetString("auto_pad", "SAME_UPPER");
  ExpectMatchesRefEverywhere(c, Inputs(c, 9));
  constant_bias_ = true;
  ExpectMatchesRefEverywhere(c, Inputs(c, 10));
}

// An Inf weight meets the padding at the image's edge: the reference adds nothing for taps
// outside the image; 0 * Inf would make those outputs NaN.
TEST_F(SmallConvTest, NonFiniteWeightsNextToThePadding) {
  ConvCase c{"inf_weight", "Conv", {1, 2, 8, 8}, {3, 2, 3, 3}, true, MakeAttrs({{"pads", {1, 1, 1, 1}}})};
  std::vector<Tensor> in = Inputs(c, 11);
  in[1].mutable_data_as<float>()[0] = std::numeric_limits<float>::infinity();  // tap (0, 0) of channel 0
  in[1].mutable_data_as<float>()[5] = std::numeric_limits<float>::quiet_NaN();
  ExpectMatchesRefEverywhere(c, in);
  // NaN in the image reaches every output whose window holds it.
  ConvCase d = c;
  in = Inputs(d, 12);
  in[0].mutable_data_as<float>()[20] = std::numeric_limits<float>::quiet_NaN();
  ExpectMatchesRefEverywhere(d, in);
}

TEST_F(SmallConvTest, RefusesWhatItDoesNotCompute) {
  auto reason = [&](ConvCase c, bool weights_constant = true, bool plain_output = false) {
    std::vector<Tensor> in = Inputs(c, 1);
    Tensor out(proto::DT_FLOAT, OutputDims(c));
    KernelSpec spec = Spec(c, in, out, true);
    spec.constant_inputs[1] = weights_constant;
    if (plain_output) spec.outputs[0].layout = proto::LAYOUT_PLAIN;
    return runtime::SmallConvUnsupportedReason(spec);
  };
  const ConvCase ok{"ok", "Conv", {1, 4, 8, 8}, {8, 4, 3, 3}, true, MakeAttrs({})};
  EXPECT_EQ(reason(ok), "");
  EXPECT_NE(reason(ok, false), "");       // weights computed at run time
  EXPECT_NE(reason(ok, true, true), "");  // a plain output
  ConvCase grouped{"g", "Conv", {1, 4, 8, 8}, {8, 2, 3, 3}, true, MakeAttrs({{"group", {2}}})};
  EXPECT_NE(reason(grouped), "");
  ConvCase plain_many{"p", "Conv", {1, 4, 8, 8}, {8, 4, 3, 3}, true, MakeAttrs({}), true};
  EXPECT_NE(reason(plain_many), "");  // plain input of several channels
  ConvCase tanh{"t", "FusedConv", {1, 4, 8, 8}, {8, 4, 3, 3}, true, MakeAttrs({})};
  tanh.attrs.SetString("activation", "Tanh");
  EXPECT_NE(reason(tanh), "");
  KernelSpec spec;
  spec.op_type = "Conv";
  spec.inputs = {TensorRef{proto::DT_FLOAT, {1, 4, 8}, nullptr}, TensorRef{proto::DT_FLOAT, {8, 4, 3}, nullptr}};
  spec.constant_inputs = {false, true};
  spec.outputs = {TensorRef{proto::DT_FLOAT, {1, 8, 6}, nullptr}};
  EXPECT_NE(runtime::SmallConvUnsupportedReason(spec), "");
}

}  // namespace
}  // namespace kiln
