// cuDNN, the runtime alternative to the generated convolution kinds (runtime/kernels/cuda/cudnn_conv.h):
// the library is opened with dlopen (no GPU needed for that), which Conv / FusedConv steps it
// computes and why not the others, and -- on a machine with a GPU -- the same convolutions as
// the reference kernels.
#include "runtime/kernels/cuda/cudnn_conv.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "runtime/kernel.h"
#include "tests/test_util.h"

namespace kiln::cuda {
namespace {

TEST(CudnnConvTest, OpensWithoutAGpuOrSaysWhyNotOnOneLine) {
  auto description = CudnnDescription();
  if (::access("/usr/local/cuda/lib64/libcudnn.so.9", R_OK) == 0) {
    // This machine image ships it beside the toolkit; its version needs no device.
    ASSERT_OK(description.status());
    EXPECT_NE(description->find("libcudnn.so"), std::string::npos) << *description;
    EXPECT_NE(description->find("(cuDNN 9"), std::string::npos) << *description;
  } else if (!description.ok()) {
    EXPECT_EQ(description.status().message().rfind("cuda: no cuDNN library found (", 0), 0u);
    EXPECT_EQ(description.status().message().find('\n'), std::string::npos);
  }
}

Attrs ConvAttrs(std::initializer_list<std::pair<const char*, std::vector<int64_t>>> ints, int64_t group = 1,
                const char* activation = nullptr) {
  Attrs a;
  for (const auto& [k, v] : ints) a.SetInts(k, v);
  if (group != 1) a.SetInt("group", group);
  if (activation) a.SetString("activation", activation);
  return a;
}

TEST(CudnnConvTest, StepsItComputesAndWhyNotTheOthers) {
  // Pads, strides, dilations and groups become the descriptor's; the bias and residual inputs
  // are found by position.
  auto plain =
      CudnnConvStepFor("Conv", ConvAttrs({{"pads", {1, 2, 1, 2}}, {"strides", {2, 1}}, {"dilations", {1, 2}}}, 2),
                       {{3, 4, 9, 10}, {6, 2, 3, 3}}, {3, 6, 5, 10});
  ASSERT_OK(plain.status());
  const DnnConv& c = plain->conv;
  EXPECT_EQ(c.n, 3);
  EXPECT_EQ(c.c, 4);
  EXPECT_EQ(c.oc, 6);
  EXPECT_EQ(c.group, 2);
  EXPECT_EQ(c.pad_h, 1);
  EXPECT_EQ(c.pad_w, 2);
  EXPECT_EQ(c.stride_h, 2);
  EXPECT_EQ(c.dilation_w, 2);
  EXPECT_EQ(c.oh, 5);
  EXPECT_EQ(c.ow, 10);
  EXPECT_FALSE(c.bias || c.residual || c.relu);
  EXPECT_EQ(plain->bias, -1);
  auto fused = CudnnConvStepFor("FusedConv", ConvAttrs({{"pads", {1, 1, 1, 1}}}, 1, "Relu"),
                                {{1, 3, 8, 8}, {16, 3, 3, 3}, {16}, {1, 16, 8, 8}}, {1, 16, 8, 8});
  ASSERT_OK(fused.status());
  EXPECT_TRUE(fused->conv.bias && fused->conv.residual && fused->conv.relu);
  EXPECT_EQ(fused->bias, 2);
  EXPECT_EQ(fused->residual, 3);
  const std::vector<std::tuple<std::string, Attrs, std::vector<Dims>, Dims, std::string>> refused = {
      {"MatMul", {}, {{4, 5}, {5, 6}}, {4, 6}, "not a convolution"},
      {"Conv", {}, {{1, 1, 8}, {1, 1, 3}}, {1, 1, 6}, "not a 2-D convolution"},
      {"Conv", ConvAttrs({{"pads", {0, 0, 1, 1}}}), {{1, 1, 8, 8}, {1, 1, 3, 3}}, {1, 1, 7, 7}, "asymmetric pads"},
      {"FusedConv", ConvAttrs({}, 1, "Sigmoid"), {{1, 1, 8, 8}, {2, 1, 3, 3}}, {1, 2, 6, 6}, "the activation Sigmoid"},
      {"Conv", {}, {{1, 1, 8, 8}, {2, 1, 3, 3}, {1, 2, 1, 1}}, {1, 2, 6, 6}, "a bias that is not one value"},
      {"FusedConv", {}, {{1, 1, 8, 8}, {2, 1, 3, 3}, {2}, {1, 1, 6, 6}}, {1, 2, 6, 6}, "a residual of other dims"},
      {"Conv", {}, {{1, 3, 8, 8}, {2, 2, 3, 3}}, {1, 2, 6, 6}, "input channels"},
      {"Conv", {}, {{0, 1, 8, 8}, {2, 1, 3, 3}}, {0, 2, 6, 6}, "an empty tensor"},
  };
  for (const auto& [op, attrs, inputs, output, why] : refused) {
    auto s = CudnnConvStepFor(op, attrs, inputs, output);
    ASSERT_FALSE(s.ok()) << op << " " << why;
    EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(s.status().message().find(why), std::string::npos) << s.status().message();
  }
}

// On a GPU: cuDNN's convolutions (padded, strided, dilated, grouped; bias, residual, Relu, each
// path of Run) against the reference kernels. Without a driver, opening the device is the
// one-line error instead.
TEST(CudnnConvTest, OnAGpuItComputesWhatTheReferenceDoes) {
  auto device = CudaDevice::Open(0);
  if (!device.ok()) {
    EXPECT_EQ(device.status().message().find('\n'), std::string::npos) << device.status().message();
    EXPECT_EQ(device.status().message().rfind("cuda: ", 0), 0u) << device.status().message();
    return;
  }
  CudaDevice& dev = **device;
  struct Case {
    std::string op;
    Attrs attrs;
    std::vector<Dims> inputs;
    Dims output;
  };
  const std::vector<Case> cases = {
      {"Conv", ConvAttrs({{"pads", {1, 1, 1, 1}}}), {{2, 3, 17, 13}, {8, 3, 3, 3}}, {2, 8, 17, 13}},
      {"Conv",
       ConvAttrs({{"pads", {1, 2, 1, 2}}, {"strides", {2, 1}}, {"dilations", {1, 2}}}, 2),
       {{3, 4, 9, 10}, {6, 2, 3, 3}, {6}},
       {3, 6, 5, 10}},
      {"FusedConv", ConvAttrs({{"pads", {1, 1, 1, 1}}}, 1, "Relu"), {{1, 16, 8, 8}, {16, 16, 3, 3}}, {1, 16, 8, 8}},
      {"FusedConv",
       ConvAttrs({{"pads", {1, 1, 1, 1}}}, 1, "Relu"),
       {{4, 16, 8, 8}, {16, 16, 3, 3}, {16}, {4, 16, 8, 8}},
       {4, 16, 8, 8}},
      {"FusedConv", ConvAttrs({}), {{4, 64, 7, 7}, {32, 64, 1, 1}, {32}, {4, 32, 7, 7}}, {4, 32, 7, 7}},
  };
  for (const Case& c : cases) {
    auto step = CudnnConvStepFor(c.op, c.attrs, c.inputs, c.output);
    ASSERT_OK(step.status());
    auto conv = CudnnConv::Create(step->conv, dev);
    ASSERT_OK(conv.status());
    std::vector<Tensor> host;
    std::vector<DevicePtr> on_device;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      host.push_back(testing::RandomTensor(c.inputs[i], 21 + int(i)));
      auto p = dev.Alloc(host.back().num_bytes());
      ASSERT_OK(p.status());
      on_device.push_back(*p);
      ASSERT_OK(dev.CopyToDevice(*p, host.back().data(), host.back().num_bytes()));
    }
    Tensor want(proto::DT_FLOAT, c.output), got(proto::DT_FLOAT, c.output);
    auto y = dev.Alloc(got.num_bytes());
    ASSERT_OK(y.status());
    auto at = [&](int i) { return i < 0 ? DevicePtr{0} : on_device[i]; };
    ASSERT_OK((*conv)->Run(at(step->x), at(step->w), at(step->bias), at(step->residual), *y, nullptr));
    ASSERT_OK(dev.Synchronize());
    ASSERT_OK(dev.CopyToHost(got.MutableData(), *y, got.num_bytes()));
    std::vector<TensorRef> in;
    for (const Tensor& t : host) in.push_back(t.ref());
    ASSERT_OK(runtime::RunReferenceOp(c.op, "ref", c.attrs, in, {want.ref()}));
    EXPECT_EQ(testing::CompareTensors(got, want, 1e-4, 1e-4), "") << c.op << " algorithm " << (*conv)->algorithm();
    for (DevicePtr p : on_device) ASSERT_OK(dev.Free(p));
    ASSERT_OK(dev.Free(*y));
  }
}

}  // namespace
}  // namespace kiln::cuda
