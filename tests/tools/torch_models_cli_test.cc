// The PyTorch-exported reference models (tests/data/models: an MLP, LeNet-5, a
// small ResNet with BatchNorm and residual adds, and a 2-layer Transformer encoder
// with GELU and a causal mask at opsets 14 and 17, 2-layer bidirectional LSTM and GRU
// in PyTorch's sequence-first layout) through `kiln run` — the default
// path, oneDNN kernels included — match PyTorch's outputs within 1e-4.
#include <gtest/gtest.h>

#include <cstdio>

#include "compiler/pass.h"
#include "frontends/tensor_io.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

struct Case {
  std::string model, batch;
};

class TorchModelsCli : public ::testing::TestWithParam<Case> {};

TEST_P(TorchModelsCli, KilnRunMatchesPyTorch) {
  const Case& c = GetParam();
  const std::string dir = testing::SourcePath("tests/data/models/" + c.model + "/");
  const std::string out = testing::MakeTempDir();
  std::string log;
  const int code = testing::RunCommand(std::string(KILN_TOOL_PATH) + " run " + dir + "model.onnx --input " + dir +
                                           "input_" + c.batch + ".npy --output-dir " + out,
                                       &log);
  ASSERT_EQ(code, 0) << log;
  // The one output's file name is printed as "NAME: TYPE -> PATH".
  const size_t arrow = log.find(" -> ");
  ASSERT_NE(arrow, std::string::npos) << log;
  const std::string path = log.substr(arrow + 4, log.find('\n', arrow) - arrow - 4);
  auto actual = ReadTensorFile(path);
  ASSERT_OK(actual.status());
  auto expected = ReadTensorFile(dir + "output_" + c.batch + ".npy");
  ASSERT_OK(expected.status());
  const std::string diff = testing::CompareTensors(*actual, *expected, 1e-4, 1e-4);
  EXPECT_TRUE(diff.empty()) << c.model << " " << c.batch << ": " << diff;
}

INSTANTIATE_TEST_SUITE_P(
    Models, TorchModelsCli,
    ::testing::Values(Case{"mlp", "b1"}, Case{"mlp", "b64"}, Case{"lenet5", "b1"}, Case{"lenet5", "b64"},
                      Case{"resnet", "b1"}, Case{"resnet", "b64"}, Case{"transformer_op14", "b1"},
                      Case{"transformer_op14", "b64"}, Case{"transformer_op17", "b1"}, Case{"transformer_op17", "b64"},
                      Case{"lstm", "b1"}, Case{"lstm", "b64"}, Case{"gru", "b1"}, Case{"gru", "b64"}),
    [](const ::testing::TestParamInfo<Case>& info) { return info.param.model + "_" + info.param.batch; });

// Autodiff through the Transformer encoder (attention, softmax, GELU's Erf, LayerNorm
// decomposed at opset 14 and as LayerNormalization at 17): `kiln gradcheck` compares
// every parameter's gradient with central differences.
TEST(TorchModelsGradcheck, TransformerEncoder) {
  for (const std::string model : {"transformer_op14", "transformer_op17"}) {
    const std::string path = testing::SourcePath("tests/data/models/" + model + "/model.onnx");
    std::string log;
    EXPECT_EQ(testing::RunCommand(std::string(KILN_TOOL_PATH) + " gradcheck " + path + " --elements 16", &log), 0)
        << model << ":\n"
        << log;
    EXPECT_NE(log.find(", 0 above tolerance"), std::string::npos) << model << ":\n" << log;
  }
}

// `kiln dump --after PASS` prints the graph after each pass of the inference
// pipeline, and the optimized models are made of fused oneDNN nodes.
TEST(TorchModelsDump, AfterEveryPipelinePassAndFusedResult) {
  for (const std::string model : {"mlp", "lenet5", "resnet"}) {
    const std::string path = testing::SourcePath("tests/data/models/" + model + "/model.onnx");
    for (const PipelineEntry& entry : InferencePipeline()) {
      std::string log;
      ASSERT_EQ(testing::RunCommand(std::string(KILN_TOOL_PATH) + " dump " + path + " --after " + entry.pass, &log), 0)
          << log;
      EXPECT_NE(log.find("# after pass " + entry.pass + "\n"), std::string::npos) << model << " " << entry.pass;
    }
    std::string log;
    ASSERT_EQ(testing::RunCommand(std::string(KILN_TOOL_PATH) + " dump " + path, &log), 0) << log;
    EXPECT_NE(log.find(model == "mlp" ? "FusedMatMul(" : "FusedConv("), std::string::npos) << model << ":\n" << log;
    EXPECT_EQ(log.find("BatchNormalization("), std::string::npos) << model << ": BN is folded\n" << log;
  }
}

// `kiln dump --layouts`: the CNNs' convolution regions go channels-last and convert far
// less per run; the MLP has nothing to lay out.
TEST(TorchModelsDump, LayoutsReport) {
  for (const std::string model : {"mlp", "lenet5", "resnet"}) {
    const std::string path = testing::SourcePath("tests/data/models/" + model + "/model.onnx");
    std::string log;
    ASSERT_EQ(testing::RunCommand(std::string(KILN_TOOL_PATH) + " dump " + path + " --layouts", &log), 0) << log;
    int without = -1, with = -1, values = -1;
    const size_t at = log.find("Layout conversions per run: ");
    ASSERT_NE(at, std::string::npos) << model << ":\n" << log;
    ASSERT_EQ(std::sscanf(log.c_str() + at, "Layout conversions per run: %d without assign-layouts, %d with it (%d",
                          &without, &with, &values),
              3)
        << log;
    if (model == "mlp") {
      EXPECT_EQ(values, 0) << log;
      EXPECT_EQ(without, with) << log;
    } else {
      EXPECT_GT(values, 0) << model << ":\n" << log;
      EXPECT_NE(log.find("channels_last  (FusedConv)"), std::string::npos) << model << ":\n" << log;
      // (LeNet-5: 3 without, 1 with -- plain pools run a direct kernel with no reorder.)
      EXPECT_LE(with * 3, without) << model << ":\n" << log;
    }
  }
}

}  // namespace
}  // namespace kiln
