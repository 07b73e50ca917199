// Kiln's Winograd F(2x2,3x3) convolution (runtime/kernels/onednn/winograd_f23.h, family
// "wino23") against the reference kernel, on every instruction set this CPU has, one and
// three threads: odd output sides (half tiles), asymmetric and no pads, output channels that
// fill no whole vector, input channels that narrow the vectors, one tile block and many,
// bias and Relu, a residual (also in place: the output in the residual's buffer), a batch;
// Inf and NaN inputs (the direct sum, as the reference); what it refuses.
#include "runtime/kernels/onednn/winograd_f23.h"

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

class WinogradF23Test : public testing::ChannelsLastConvTest {
 protected:
  // The kernel at `level`, where it takes the spec.
  static StatusOr<std::unique_ptr<runtime::Kernel>> Build(const KernelSpec& spec, runtime::onednn::SimdLevel level) {
    const std::string why = runtime::WinogradF23UnsupportedReason(spec);
    if (!why.empty()) return Internal("refused: ", why);
    return runtime::onednn::BuildWinogradF23(spec, level);
  }
  void ExpectMatchesRefEverywhere(const ChannelsLastConvCase& c, const std::vector<Tensor>& in) {
    ChannelsLastConvTest::ExpectMatchesRefEverywhere(Build, c, in);
  }
};

// 3x3 windows with `pads`, Relu where `relu`.
Attrs Window3x3(std::vector<int64_t> pads = {1, 1, 1, 1}, bool relu = false) {
  Attrs a;
  a.SetInts("kernel_shape", {3, 3});
  a.SetInts("pads", pads);
  if (relu) a.SetString("activation", "Relu");
  return a;
}

const std::vector<ChannelsLastConvCase>& Cases() {
  static const auto* cases = new std::vector<ChannelsLastConvCase>{
      {"conv", "Conv", {2, 32, 12, 12}, {48, 32, 3, 3}, Window3x3()},
      {"odd_sides_no_pads", "Conv", {1, 16, 9, 12}, {16, 16, 3, 3}, Window3x3({0, 0, 0, 0}), /*bias=*/false},
      {"asymmetric_pads", "Conv", {1, 8, 7, 6}, {20, 8, 3, 3}, Window3x3({0, 2, 1, 1})},
      {"channels_of_four", "FusedConv", {2, 12, 5, 9}, {5, 12, 3, 3}, Window3x3({1, 1, 1, 1}, true)},
      {"small_image_wide", "FusedConv", {1, 64, 7, 7}, {64, 64, 3, 3}, Window3x3({1, 1, 1, 1}, true)},
      {"residual_relu",
       "FusedConv",
       {3, 32, 13, 10},
       {40, 32, 3, 3},
       Window3x3({1, 1, 1, 1}, true),
       true,
       /*residual=*/true},
      {"many_blocks", "FusedConv", {2, 16, 40, 38}, {24, 16, 3, 3}, Window3x3({1, 1, 1, 1}, true)},
  };
  return *cases;
}

TEST_F(WinogradF23Test, MatchesTheReference) {
  for (const ChannelsLastConvCase& c : Cases()) ExpectMatchesRefEverywhere(c, Inputs(c, 7));
}

TEST_F(WinogradF23Test, BiasComputedAtRunTime) {
  constant_bias_ = false;  // a training step's bias: read on every run
  const ChannelsLastConvCase& c = Cases()[0];
  ExpectMatchesRefEverywhere(c, Inputs(c, 9));
}

TEST_F(WinogradF23Test, NonFiniteInputsAreTheReferences) {
  for (const ChannelsLastConvCase& c : {Cases()[5], Cases()[6]}) {
    std::vector<Tensor> in = Inputs(c, 11);
    // An Inf and a NaN: the transforms would spread them over whole tiles (Inf - Inf).
    in[0].mutable_data_as<float>()[5] = std::numeric_limits<float>::infinity();
    in[0].mutable_data_as<float>()[900] = std::numeric_limits<float>::quiet_NaN();
    ExpectMatchesRefEverywhere(c, in);  // NaN matches NaN, an infinity itself
  }
}

// Timing with cold constants flushes the kernel's transformed weights too (PackedConstants).
TEST_F(WinogradF23Test, TimesWithColdConstants) {
  const ChannelsLastConvCase& c = Cases()[4];
  std::vector<Tensor> in = Inputs(c, 5);
  for (size_t i : {size_t{0}}) in[i] = testing::Relayout(in[i], proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
  Tensor out(proto::DT_FLOAT, OutputDims(c));
  KernelSpec spec = Spec(c, in, out, true);
  auto kernel = runtime::onednn::BuildWinogradF23(spec, runtime::onednn::BestSimdLevel());
  ASSERT_OK(kernel.status());
  const auto packed = (*kernel)->PackedConstants();
  ASSERT_EQ(packed.size(), 1u);
  EXPECT_GE(packed[0].bytes, 16 * 64 * 64 * sizeof(float));  // 16 planes of C x K
  spec.env = nullptr;                                        // TimeKernels binds its own
  for (bool cold : {false, true}) {
    auto ms = runtime::TimeKernels({"onednn", runtime::kWinogradF23Kernel}, spec, 5, cold);
    ASSERT_OK(ms.status());
    for (const runtime::KernelTiming& t : *ms) EXPECT_GT(t.best_ms, 0) << cold;
  }
}

TEST_F(WinogradF23Test, RefusesWhatItDoesNotRun) {
  const ChannelsLastConvCase c = Cases()[0];
  std::vector<Tensor> in = Inputs(c, 3);
  Tensor out(proto::DT_FLOAT, OutputDims(c));
  auto refused = [&](const KernelSpec& spec, const std::string& why) {
    const std::string reason = runtime::WinogradF23UnsupportedReason(spec);
    EXPECT_NE(reason.find(why), std::string::npos) << why << ": " << reason;
    EXPECT_FALSE(runtime::KernelRegistry::Global().Create(runtime::kWinogradF23Kernel, spec).ok()) << why;
  };
  const KernelSpec good = Spec(c, in, out, true);
  EXPECT_EQ(runtime::WinogradF23UnsupportedReason(good), "");
  EXPECT_OK(runtime::KernelRegistry::Global().Create(runtime::kWinogradF23Kernel, good).status());
  refused(Spec(c, in, out, false), "channels-last");
  KernelSpec strided = good;
  strided.attrs.SetInts("strides", {2, 2});
  refused(strided, "strides");
  KernelSpec dilated = good;
  dilated.attrs.SetInts("dilations", {2, 2});
  refused(dilated, "dilations");
  KernelSpec grouped = good;
  grouped.attrs.SetInt("group", 2);
  refused(grouped, "grouped");
  KernelSpec sigmoid = good;
  sigmoid.op_type = "FusedConv";
  sigmoid.attrs.SetString("activation", "Sigmoid");
  refused(sigmoid, "activation");
  KernelSpec computed_weights = good;
  computed_weights.constant_inputs[1] = false;
  refused(computed_weights, "constant");
  std::vector<Tensor> bad = in;
  bad[1].mutable_data_as<float>()[17] = std::numeric_limits<float>::infinity();
  refused(Spec(c, bad, out, true), "Inf or NaN");
  const ChannelsLastConvCase five = {"five", "Conv", {1, 8, 9, 9}, {8, 8, 5, 5}, Window3x3()};
  std::vector<Tensor> in5 = Inputs(five, 4);
  Tensor out5(proto::DT_FLOAT, {1, 8, 7, 7});
  refused(Spec(five, in5, out5, true), "3x3");
  const ChannelsLastConvCase odd = {"odd", "Conv", {1, 6, 9, 9}, {8, 6, 3, 3}, Window3x3()};
  std::vector<Tensor> in6 = Inputs(odd, 5);
  Tensor out6(proto::DT_FLOAT, OutputDims(odd));
  refused(Spec(odd, in6, out6, true), "multiple of 4");
}

}  // namespace
}  // namespace kiln
