// oneDNN's Winograd convolution (family "winograd", runtime/kernel_choice.h) against the
// reference kernel: Conv and FusedConv (bias, Relu, a residual), plain and channels-last
// tensors, images whose sides are no multiple of the tile, one and two threads, a batch;
// non-finite inputs take the exact path; timing with cold constants; what it refuses
// (strides, other windows, groups).
// On a CPU where oneDNN has no Winograd kernel (no AVX-512) the same cases run the direct
// algorithm (a plan chosen on another CPU still runs).
#include <gtest/gtest.h>
#include <omp.h>

#include <limits>

#include "dnnl.hpp"
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelSpec;

struct WinogradCase {
  std::string name, op;
  Dims x, w;
  bool bias = true, residual = false, relu = false;
  std::vector<int64_t> pads = {1, 1, 1, 1};
};

class WinogradConvTest : public ::testing::Test {
 protected:
  WinogradConvTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  static Attrs AttrsOf(const WinogradCase& c) {
    Attrs a;
    a.SetInts("kernel_shape", {3, 3});
    a.SetInts("pads", c.pads);
    if (c.relu) a.SetString("activation", "Relu");
    return a;
  }

  static Dims OutputDims(const WinogradCase& c) {
    return {c.x[0], c.w[0], c.x[2] + c.pads[0] + c.pads[2] - 2, c.x[3] + c.pads[1] + c.pads[3] - 2};
  }

  std::vector<Tensor> Inputs(const WinogradCase& c, uint32_t seed) const {
    std::vector<Tensor> in = {testing::RandomTensor(c.x, seed), testing::RandomTensor(c.w, seed + 1, -0.2f, 0.2f)};
    in.push_back(c.bias ? testing::RandomTensor({c.w[0]}, seed + 2) : Tensor());
    if (c.residual) in.push_back(testing::RandomTensor(OutputDims(c), seed + 3));
    return in;
  }

  // The spec of `c` over `in` and `out`; activations (not the weights or bias) laid out
  // channels-last when `laid_out`.
  KernelSpec Spec(const WinogradCase& c, const std::vector<Tensor>& in, Tensor& out, bool laid_out) {
    KernelSpec spec;
    spec.name = c.name;
    spec.op_type = c.op;
    spec.attrs = AttrsOf(c);
    spec.env = &env_;
    for (size_t i = 0; i < in.size(); ++i) {
      TensorRef r = i == 2 && !c.bias ? TensorRef{} : in[i].ref();
      if (laid_out && (i == 0 || i == 3)) r.layout = proto::LAYOUT_CHANNELS_LAST;
      spec.inputs.push_back(r);
      spec.constant_inputs.push_back(i == 1 || i == 2);
    }
    TensorRef o = out.ref();
    if (laid_out) o.layout = proto::LAYOUT_CHANNELS_LAST;
    spec.outputs = {o};
    return spec;
  }

  static std::vector<Tensor> Relaid(const std::vector<Tensor>& in) {
    std::vector<Tensor> out = in;
    for (size_t i : {size_t{0}, size_t{3}}) {
      if (i < out.size()) out[i] = testing::Relayout(in[i], proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
    }
    return out;
  }

  Tensor Reference(const WinogradCase& c, const std::vector<Tensor>& in) {
    Tensor want(proto::DT_FLOAT, OutputDims(c));
    KernelSpec spec = Spec(c, in, want, false);
    auto ref = runtime::KernelRegistry::Global().Create("ref", spec);
    EXPECT_OK(ref.status());
    if (ref.ok()) EXPECT_OK((*ref)->Run(spec.inputs, spec.outputs));
    return want;
  }

  // The "winograd" kernel's output for `in` (plain tensors), run twice (no state carried
  // over), returned plain.
  StatusOr<Tensor> RunWinograd(const WinogradCase& c, const std::vector<Tensor>& in, bool laid_out) {
    std::vector<Tensor> bound = laid_out ? Relaid(in) : in;
    Tensor got(proto::DT_FLOAT, OutputDims(c));
    KernelSpec spec = Spec(c, bound, got, laid_out);
    ASSIGN_OR_RETURN(auto kernel, runtime::KernelRegistry::Global().Create(runtime::kWinogradKernel, spec));
    RETURN_IF_ERROR(kernel->Run(spec.inputs, spec.outputs));
    RETURN_IF_ERROR(kernel->Run(spec.inputs, spec.outputs));
    return laid_out ? testing::Relayout(got, proto::LAYOUT_CHANNELS_LAST, proto::LAYOUT_PLAIN) : got;
  }

  bool Supported(const WinogradCase& c) {
    std::vector<Tensor> in = Inputs(c, 1);
    Tensor out(proto::DT_FLOAT, OutputDims(c));
    return runtime::WinogradUnsupportedReason(Spec(c, in, out, false)).empty();
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
};

const std::vector<WinogradCase>& Cases() {
  static const auto* cases = new std::vector<WinogradCase>{
      {.name = "conv", .op = "Conv", .x = {2, 32, 12, 12}, .w = {48, 32, 3, 3}},
      {.name = "conv_no_bias_valid",
       .op = "Conv",
       .x = {1, 16, 9, 11},
       .w = {16, 16, 3, 3},
       .bias = false,
       .pads = {0, 0, 0, 0}},
      {.name = "fused_relu", .op = "FusedConv", .x = {1, 64, 7, 7}, .w = {64, 64, 3, 3}, .relu = true},
      {.name = "fused_residual_relu",
       .op = "FusedConv",
       .x = {3, 32, 13, 10},
       .w = {32, 32, 3, 3},
       .residual = true,
       .relu = true},
  };
  return *cases;
}

TEST_F(WinogradConvTest, MatchesTheReference) {
  // Where oneDNN has no Winograd kernel (no AVX-512) the compiler never offers it, and a
  // plan that names it (chosen on another CPU) runs the direct algorithm: the same checks.
  const bool here = Supported(Cases()[0]);
  if (!here) std::printf("[ NOTE     ] oneDNN has no Winograd convolution on this CPU: the direct fallback runs\n");
  for (const WinogradCase& c : Cases()) {
    EXPECT_EQ(Supported(c), here) << c.name;
    const std::vector<Tensor> in = Inputs(c, 7);
    const Tensor want = Reference(c, in);
    for (int threads : {1, 2}) {
      const int saved = omp_get_max_threads();
      omp_set_num_threads(threads);
      for (bool laid_out : {false, true}) {
        auto got = RunWinograd(c, in, laid_out);
        ASSERT_OK(got.status());
        // Winograd's transforms round differently from a direct sum: ~1e-6 relative.
        const std::string diff = testing::CompareTensors(*got, want, 2e-5, 1e-4);
        EXPECT_TRUE(diff.empty()) << c.name << ", " << threads << " threads, laid out " << laid_out << ": " << diff;
      }
      omp_set_num_threads(saved);
    }
  }
}

TEST_F(WinogradConvTest, NonFiniteInputsAreTheReferences) {
  const WinogradCase c = Cases()[3];
  std::vector<Tensor> in = Inputs(c, 11);
  // An Inf and a NaN: Winograd's transforms would spread them over whole tiles (Inf - Inf).
  in[0].mutable_data_as<float>()[5] = std::numeric_limits<float>::infinity();
  in[0].mutable_data_as<float>()[900] = std::numeric_limits<float>::quiet_NaN();
  const Tensor want = Reference(c, in);
  for (bool laid_out : {false, true}) {
    auto got = RunWinograd(c, in, laid_out);
    ASSERT_OK(got.status());
    // NaN matches NaN and an infinity itself.
    const std::string diff = testing::CompareTensors(*got, want, 1e-4, 1e-4);
    EXPECT_TRUE(diff.empty()) << "laid out " << laid_out << ": " << diff;
  }
}

// Timing with cold constants (as the compiler does for plans whose weights do not stay
// cached) flushes the weights as given and as each kernel reordered them before every run.
TEST_F(WinogradConvTest, TimesWithColdConstants) {
  const WinogradCase c = Cases()[2];
  std::vector<Tensor> in = Inputs(c, 5);
  Tensor out(proto::DT_FLOAT, OutputDims(c));
  KernelSpec spec = Spec(c, in, out, false);
  spec.env = nullptr;  // TimeKernels binds its own
  for (bool cold : {false, true}) {
    auto ms = runtime::TimeKernels({"onednn", runtime::kWinogradKernel}, spec, 5, cold);
    ASSERT_OK(ms.status());
    ASSERT_EQ(ms->size(), 2u);
    for (const runtime::KernelTiming& t : *ms) {
      EXPECT_GT(t.best_ms, 0) << cold;
      EXPECT_LE(t.best_ms, t.median_ms) << cold;
    }
  }
}

TEST_F(WinogradConvTest, RefusesWhatItDoesNotRun) {
  WinogradCase c = Cases()[0];
  std::vector<Tensor> in = Inputs(c, 3);
  Tensor out(proto::DT_FLOAT, OutputDims(c));
  auto refused = [&](KernelSpec spec, const std::string& why) {
    EXPECT_NE(runtime::WinogradUnsupportedReason(spec).find(why), std::string::npos)
        << why << ": " << runtime::WinogradUnsupportedReason(spec);
    EXPECT_FALSE(runtime::KernelRegistry::Global().Create(runtime::kWinogradKernel, spec).ok()) << why;
  };
  KernelSpec strided = Spec(c, in, out, false);
  strided.attrs.SetInts("strides", {2, 2});
  refused(strided, "strides");
  KernelSpec dilated = Spec(c, in, out, false);
  dilated.attrs.SetInts("dilations", {2, 2});
  refused(dilated, "dilations");
  KernelSpec grouped = Spec(c, in, out, false);
  grouped.attrs.SetInt("group", 2);
  refused(grouped, "grouped");
  const Tensor w5 = testing::RandomTensor({48, 32, 5, 5}, 4);
  KernelSpec wide = Spec(c, in, out, false);
  wide.inputs[1] = w5.ref();
  refused(wide, "3x3");
  KernelSpec pooled = Spec(c, in, out, false);
  pooled.op_type = "MaxPool";
  EXPECT_NE(runtime::WinogradUnsupportedReason(pooled), "");
}

}  // namespace
}  // namespace kiln
