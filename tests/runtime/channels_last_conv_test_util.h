// What the tests of Kiln's channels-last convolution kernels share (winograd_f23_test.cc,
// im2col_conv_test.cc): a case, its random inputs, its spec, the reference kernel's output, and
// a kernel's output at every instruction set this CPU has, on one and three threads, run
// twice (no state carried over), with a residual also in place (the output in its buffer).
#pragma once

#include <gtest/gtest.h>
#include <omp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dnnl.hpp"
#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel
#include "tests/runtime/simd_levels.h"
#include "tests/test_util.h"

namespace kiln::testing {

struct ChannelsLastConvCase {
  std::string name, op;
  Dims x, w;
  Attrs attrs;
  bool bias = true, residual = false;
};

/// Builds the kernel under test for a spec at an instruction set (an error where it refuses).
using ConvKernelBuilder =
    std::function<StatusOr<std::unique_ptr<runtime::Kernel>>(const runtime::KernelSpec&, runtime::onednn::SimdLevel)>;

class ChannelsLastConvTest : public ::testing::Test {
 protected:
  ChannelsLastConvTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  static Dims OutputDims(const ChannelsLastConvCase& c) {
    auto g = ComputeWindowGeometry({c.x[2], c.x[3]}, {c.w[2], c.w[3]}, c.attrs);
    EXPECT_OK(g.status());
    return g.ok() ? Dims{c.x[0], c.w[0], g->output[0], g->output[1]} : Dims{};
  }

  /// X, W (small: sums of many taps stay near 1), bias (or an empty tensor), the residual.
  static std::vector<Tensor> Inputs(const ChannelsLastConvCase& c, uint32_t seed) {
    std::vector<Tensor> in = {RandomTensor(c.x, seed), RandomTensor(c.w, seed + 1, -0.2f, 0.2f)};
    in.push_back(c.bias ? RandomTensor({c.w[0]}, seed + 2) : Tensor());
    if (c.residual) in.push_back(RandomTensor(OutputDims(c), seed + 3));
    return in;
  }

  /// The spec of `c` over `in` and `out`; X, Y and the residual channels-last when `laid_out`.
  runtime::KernelSpec Spec(const ChannelsLastConvCase& c, const std::vector<Tensor>& in, Tensor& out, bool laid_out) {
    runtime::KernelSpec spec;
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

  Tensor Reference(const ChannelsLastConvCase& c, const std::vector<Tensor>& in) {
    Tensor want(proto::DT_FLOAT, OutputDims(c));
    runtime::KernelSpec spec = Spec(c, in, want, false);
    auto ref = runtime::KernelRegistry::Global().Create("ref", spec);
    EXPECT_OK(ref.status());
    if (ref.ok()) EXPECT_OK((*ref)->Run(spec.inputs, spec.outputs));
    return want;
  }

  /// The kernel over `plain_in` (relaid channels-last), run twice; with `in_place` the residual
  /// is copied into the output buffer before each run and read from there, as the memory
  /// planner lets the output take the residual's buffer. Returned plain.
  StatusOr<Tensor> Run(const ConvKernelBuilder& build, const ChannelsLastConvCase& c,
                       const std::vector<Tensor>& plain_in, runtime::onednn::SimdLevel level, bool in_place) {
    std::vector<Tensor> in = plain_in;
    for (size_t i : {size_t{0}, size_t{3}}) {
      if (i < in.size()) in[i] = Relayout(plain_in[i], proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
    }
    Tensor got(proto::DT_FLOAT, OutputDims(c));
    runtime::KernelSpec spec = Spec(c, in, got, true);
    ASSIGN_OR_RETURN(auto kernel, build(spec, level));
    for (int run = 0; run < 2; ++run) {
      std::vector<TensorRef> inputs = spec.inputs;
      if (in_place) {
        std::copy_n(in[3].data_as<float>(), in[3].num_elements(), got.mutable_data_as<float>());
        inputs[kFusedResidualInput] = spec.outputs[0];
      }
      RETURN_IF_ERROR(kernel->Run(inputs, spec.outputs));
    }
    return Relayout(got, proto::LAYOUT_CHANNELS_LAST, proto::LAYOUT_PLAIN);
  }

  /// Every instruction set this CPU has, 1 and 3 threads, in place too where `c` has a
  /// residual, against the reference within 2e-5 + 1e-4 relative (another order of sums).
  void ExpectMatchesRefEverywhere(const ConvKernelBuilder& build, const ChannelsLastConvCase& c,
                                  const std::vector<Tensor>& in) {
    using runtime::onednn::SimdLevel;
    const Tensor want = Reference(c, in);
    ForEachThreadCountAndLevel([&](SimdLevel level, int threads) {
      for (bool in_place : {false, true}) {
        if (in_place && !c.residual) continue;
        auto got = Run(build, c, in, level, in_place);
        ASSERT_TRUE(got.ok()) << c.name << ": " << got.status().message();
        const std::string diff = CompareTensors(*got, want, 2e-5, 1e-4);
        EXPECT_TRUE(diff.empty()) << c.name << ", " << threads << " threads, level " << static_cast<int>(level)
                                  << ", in place " << in_place << ": " << diff;
      }
    });
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  runtime::ExecEnv env_;
  bool constant_bias_ = true;  // a plan constant (copied once), else read on every run
};

}  // namespace kiln::testing
