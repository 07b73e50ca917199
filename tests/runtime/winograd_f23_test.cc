// Kiln's Winograd F(2x2,3x3) convolution (runtime/kernels/onednn/winograd_f23.h, family
// "wino23") against the reference kernel, on every instruction set this CPU has, one and
// three threads: odd output sides (half tiles), asymmetric and no pads, output channels that
// fill no whole vector, input channels that narrow the vectors, one tile block and many,
// bias and Relu, a residual (also in place: the output in the residual's buffer), a batch;
// Inf and NaN inputs (the direct sum, as the reference); what it refuses.
#include "runtime/kernels/onednn/winograd_f23.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <limits>

#include "dnnl.hpp"
#include "ir/core/fused_ops.h"
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelSpec;
using runtime::onednn::SimdLevel;

struct F23Case {
  std::string name, op;
  Dims x, w;
  bool bias = true, residual = false, relu = false;
  std::vector<int64_t> pads = {1, 1, 1, 1};
};

class WinogradF23Test : public ::testing::Test {
 protected:
  WinogradF23Test() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  static Dims OutputDims(const F23Case& c) {
    return {c.x[0], c.w[0], c.x[2] + c.pads[0] + c.pads[2] - 2, c.x[3] + c.pads[1] + c.pads[3] - 2};
  }

  static std::vector<Tensor> Inputs(const F23Case& c, uint32_t seed) {
    std::vector<Tensor> in = {testing::RandomTensor(c.x, seed), testing::RandomTensor(c.w, seed + 1, -0.2f, 0.2f)};
    in.push_back(c.bias ? testing::RandomTensor({c.w[0]}, seed + 2) : Tensor());
    if (c.residual) in.push_back(testing::RandomTensor(OutputDims(c), seed + 3));
    return in;
  }

  // The spec of `c` over `in` and `out`, the activations channels-last when `laid_out`.
  KernelSpec Spec(const F23Case& c, const std::vector<Tensor>& in, Tensor& out, bool laid_out) {
    KernelSpec spec;
    spec.name = c.name;
    spec.op_type = c.op;
    spec.attrs.SetInts("kernel_shape", {3, 3});
    spec.attrs.SetInts("pads", c.pads);
    if (c.relu) spec.attrs.SetString("activation", "Relu");
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

  Tensor Reference(const F23Case& c, const std::vector<Tensor>& in) {
    Tensor want(proto::DT_FLOAT, OutputDims(c));
    KernelSpec spec = Spec(c, in, want, false);
    auto ref = runtime::KernelRegistry::Global().Create("ref", spec);
    EXPECT_OK(ref.status());
    if (ref.ok()) EXPECT_OK((*ref)->Run(spec.inputs, spec.outputs));
    return want;
  }

  // The kernel at `level` over `plain_in` (relaid channels-last), run twice (no state carried
  // over; with `in_place` the residual is copied into the output buffer before each run, as
  // the memory planner lets the output take the residual's buffer), returned plain.
  StatusOr<Tensor> Run(const F23Case& c, const std::vector<Tensor>& plain_in, SimdLevel level, bool in_place) {
    std::vector<Tensor> in = plain_in;
    for (size_t i : {size_t{0}, size_t{3}}) {
      if (i < in.size()) in[i] = testing::Relayout(plain_in[i], proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
    }
    Tensor got(proto::DT_FLOAT, OutputDims(c));
    KernelSpec spec = Spec(c, in, got, true);
    if (runtime::WinogradF23UnsupportedReason(spec) != "")
      return Internal("refused: ", runtime::WinogradF23UnsupportedReason(spec));
    ASSIGN_OR_RETURN(auto kernel, runtime::onednn::BuildWinogradF23(spec, level));
    for (int run = 0; run < 2; ++run) {
      std::vector<TensorRef> inputs = spec.inputs;
      if (in_place) {
        std::copy_n(in[3].data_as<float>(), in[3].num_elements(), got.mutable_data_as<float>());
        inputs[kFusedResidualInput] = spec.outputs[0];
      }
      RETURN_IF_ERROR(kernel->Run(inputs, spec.outputs));
    }
    return testing::Relayout(got, proto::LAYOUT_CHANNELS_LAST, proto::LAYOUT_PLAIN);
  }

  void ExpectMatchesRefEverywhere(const F23Case& c, const std::vector<Tensor>& in) {
    const Tensor want = Reference(c, in);
    for (int threads : {1, 3}) {
      const int saved = omp_get_max_threads();
      omp_set_num_threads(threads);
      for (SimdLevel level : {SimdLevel::kGeneric, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
        if (!runtime::onednn::CpuHas(level)) continue;
        for (bool in_place : {false, true}) {
          if (in_place && !c.residual) continue;
          auto got = Run(c, in, level, in_place);
          ASSERT_TRUE(got.ok()) << c.name << ": " << got.status().message();
          // The transforms round differently from a direct sum: ~1e-6 relative.
          const std::string diff = testing::CompareTensors(*got, want, 2e-5, 1e-4);
          EXPECT_TRUE(diff.empty()) << c.name << ", " << threads << " threads, level " << static_cast<int>(level)
                                    << ", in place " << in_place << ": " << diff;
        }
      }
      omp_set_num_threads(saved);
    }
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
  bool constant_bias_ = true;
};

const std::vector<F23Case>& Cases() {
  static const auto* cases = new std::vector<F23Case>{
      {.name = "conv", .op = "Conv", .x = {2, 32, 12, 12}, .w = {48, 32, 3, 3}},
      {.name = "odd_sides_no_pads",
       .op = "Conv",
       .x = {1, 16, 9, 12},
       .w = {16, 16, 3, 3},
       .bias = false,
       .pads = {0, 0, 0, 0}},
      {.name = "asymmetric_pads", .op = "Conv", .x = {1, 8, 7, 6}, .w = {20, 8, 3, 3}, .pads = {0, 2, 1, 1}},
      {.name = "channels_of_four", .op = "FusedConv", .x = {2, 12, 5, 9}, .w = {5, 12, 3, 3}, .relu = true},
      {.name = "small_image_wide", .op = "FusedConv", .x = {1, 64, 7, 7}, .w = {64, 64, 3, 3}, .relu = true},
      {.name = "residual_relu",
       .op = "FusedConv",
       .x = {3, 32, 13, 10},
       .w = {40, 32, 3, 3},
       .residual = true,
       .relu = true},
      {.name = "many_blocks", .op = "FusedConv", .x = {2, 16, 40, 38}, .w = {24, 16, 3, 3}, .relu = true},
  };
  return *cases;
}

TEST_F(WinogradF23Test, MatchesTheReference) {
  for (const F23Case& c : Cases()) ExpectMatchesRefEverywhere(c, Inputs(c, 7));
}

TEST_F(WinogradF23Test, BiasComputedAtRunTime) {
  constant_bias_ = false;  // a training step's bias: read on every run
  const F23Case& c = Cases()[0];
  ExpectMatchesRefEverywhere(c, Inputs(c, 9));
}

TEST_F(WinogradF23Test, NonFiniteInputsAreTheReferences) {
  for (const F23Case& c : {Cases()[5], Cases()[6]}) {
    std::vector<Tensor> in = Inputs(c, 11);
    // An Inf and a NaN: the transforms would spread them over whole tiles (Inf - Inf).
    in[0].mutable_data_as<float>()[5] = std::numeric_limits<float>::infinity();
    in[0].mutable_data_as<float>()[900] = std::numeric_limits<float>::quiet_NaN();
    ExpectMatchesRefEverywhere(c, in);  // NaN matches NaN, an infinity itself
  }
}

// Timing with cold constants flushes the kernel's transformed weights too (PackedConstants).
TEST_F(WinogradF23Test, TimesWithColdConstants) {
  const F23Case& c = Cases()[4];
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
  const F23Case c = Cases()[0];
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
  const F23Case five = {.name = "five", .op = "Conv", .x = {1, 8, 9, 9}, .w = {8, 8, 5, 5}};
  std::vector<Tensor> in5 = Inputs(five, 4);
  Tensor out5(proto::DT_FLOAT, {1, 8, 7, 7});
  refused(Spec(five, in5, out5, true), "3x3");
  const F23Case odd = {.name = "odd", .op = "Conv", .x = {1, 6, 9, 9}, .w = {8, 6, 3, 3}};
  std::vector<Tensor> in6 = Inputs(odd, 5);
  Tensor out6(proto::DT_FLOAT, OutputDims(odd));
  refused(Spec(odd, in6, out6, true), "multiple of 4");
}

}  // namespace
}  // namespace kiln
