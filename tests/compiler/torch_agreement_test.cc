// PyTorch agreement: the same MLP, small CNN, LSTM and GRU, from the same initial weights,
// trained on the same 20 batches in PyTorch and in Kiln, with SGD and with
// Adam; every per-step loss must match PyTorch's within 1e-4 relative and the
// final weights must agree. Fixtures: scripts/make_training_fixtures.py
// (tests/data/training/: the initial model as ONNX ending in Softmax, the
// batches, PyTorch's per-step losses and final weights).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ostream>
#include <string>
#include <vector>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/codegen/jit.h"
#include "compiler/load.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "frontends/tensor_io.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

constexpr int64_t kSteps = 20;
constexpr int64_t kBatch = 8;
constexpr double kLossRelTol = 1e-4;
// Final weights after 20 steps: float32 rounding differences (summation order
// in the kernels) compound a little over the steps (observed: < 1e-6).
constexpr double kWeightAtol = 1e-5;
constexpr double kWeightRtol = 1e-4;

struct Case {
  std::string model;      // mlp, cnn, lstm, gru
  std::string optimizer;  // sgd, adam
  float lr;
  bool use_onednn = true;
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.model << " " << c.optimizer << " lr " << c.lr << (c.use_onednn ? "" : " (reference kernels)");
}

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.model + "_" + info.param.optimizer + (info.param.use_onednn ? "" : "_reference");
}

std::string DataPath(const std::string& file) { return testing::SourcePath("tests/data/training/" + file); }

class TorchAgreementTest : public ::testing::TestWithParam<Case> {};

TEST_P(TorchAgreementTest, PerStepLossesAndFinalWeightsMatchPyTorch) {
  const Case& c = GetParam();
  const std::string prefix = c.model + "_" + c.optimizer;
  const std::string label = prefix + (c.use_onednn ? "" : " (reference kernels)");
  auto model = LoadModel(DataPath(c.model + ".onnx"));
  ASSERT_OK(model.status());
  auto xs = ReadTensorFile(DataPath(c.model + "_x.npy"));
  auto ys = ReadTensorFile(DataPath(c.model + "_y.npy"));
  auto expected_losses = ReadTensorFile(DataPath(prefix + "_losses.npy"));
  ASSERT_OK(xs.status());
  ASSERT_OK(ys.status());
  ASSERT_OK(expected_losses.status());
  ASSERT_EQ(xs->dtype(), proto::DT_FLOAT);
  ASSERT_EQ(ys->dtype(), proto::DT_INT64);
  ASSERT_EQ(expected_losses->num_elements(), kSteps);
  ASSERT_EQ(xs->dims()[0], kSteps);
  ASSERT_EQ(xs->dims()[1], kBatch);

  TrainingConfig config;
  config.batch_size = kBatch;
  config.loss = "sparse_categorical_crossentropy";
  config.optimizer = OptimizerConfig::For(c.optimizer);
  config.optimizer.hyper.lr = c.lr;
  auto program = BuildTrainingProgram(*model->graph, config);
  ASSERT_OK(program.status());
  auto plan = CompileForCpu(*program->step, CpuCompileOptions{.use_onednn = c.use_onednn});
  ASSERT_OK(plan.status());
  // The step's fused elementwise chains run as generated code.
  runtime::SessionOptions session_options;
  session_options.num_threads = 1;
  auto session_or = LoadPlan(*plan, session_options);
  ASSERT_OK(session_or.status());
  runtime::Session& session = **session_or;
  ASSERT_EQ(session.num_inputs(), 2);

  const int64_t x_bytes = xs->num_bytes() / kSteps;
  const int64_t y_bytes = ys->num_bytes() / kSteps;
  ASSERT_EQ(session.input(0).num_bytes(), x_bytes) << "input 0 is the model's input x";
  ASSERT_EQ(session.input(1).num_bytes(), y_bytes) << "input 1 is the int64 target";
  double max_rel = 0;
  for (int64_t step = 0; step < kSteps; ++step) {
    std::memcpy(session.input(0).data, static_cast<const char*>(xs->data()) + step * x_bytes, x_bytes);
    std::memcpy(session.input(1).data, static_cast<const char*>(ys->data()) + step * y_bytes, y_bytes);
    ASSERT_OK(session.Run());
    const TensorRef loss_ref = session.output(0);
    ASSERT_EQ(loss_ref.num_elements(), 1);
    const double loss = loss_ref.as<float>()[0];
    const double expected = expected_losses->GetAsDouble(step);
    const double rel = std::abs(loss - expected) / std::abs(expected);
    max_rel = std::max(max_rel, rel);
    EXPECT_LE(rel, kLossRelTol) << "step " << step << ": Kiln " << loss << ", PyTorch " << expected;
  }
  std::printf("[ %s ] max relative loss difference over %lld steps: %.3g\n", label.c_str(),
              static_cast<long long>(kSteps), max_rel);

  ASSERT_FALSE(program->parameters.empty());
  double max_weight_diff = 0;
  for (const std::string& name : program->parameters) {
    SCOPED_TRACE(name);
    auto expected = ReadTensorFile(DataPath(prefix + "_final/" + name + ".npy"));
    ASSERT_OK(expected.status());
    const int index = session.FindState(name);
    ASSERT_GE(index, 0) << "no state " << name;
    const TensorRef s = session.state(index);
    auto actual = Tensor::FromBytes(s.dtype, s.dims, s.data, static_cast<size_t>(s.num_bytes()));
    ASSERT_OK(actual.status());
    ASSERT_EQ(actual->num_elements(), expected->num_elements());
    // torch and ONNX agree on every parameter's layout (Gemm transB=1 keeps [out, in]).
    auto reshaped = Tensor::FromBytes(expected->dtype(), actual->dims(), expected->data(), expected->num_bytes());
    ASSERT_OK(reshaped.status());
    EXPECT_EQ(testing::CompareTensors(*actual, *reshaped, kWeightAtol, kWeightRtol), "");
    for (int64_t i = 0; i < actual->num_elements(); ++i) {
      max_weight_diff = std::max(
          max_weight_diff, std::abs(static_cast<double>(actual->data_as<float>()[i]) - reshaped->data_as<float>()[i]));
    }
  }
  std::printf("[ %s ] max |final weight difference|: %.3g\n", label.c_str(), max_weight_diff);
}

INSTANTIATE_TEST_SUITE_P(Models, TorchAgreementTest,
                         ::testing::Values(Case{"mlp", "sgd", 0.1f}, Case{"mlp", "adam", 0.01f},
                                           Case{"cnn", "sgd", 0.1f}, Case{"cnn", "adam", 0.01f},
                                           // nn.LSTM / nn.GRU: backpropagation through time.
                                           Case{"lstm", "sgd", 0.1f}, Case{"lstm", "adam", 0.01f},
                                           Case{"gru", "sgd", 0.1f}, Case{"gru", "adam", 0.01f},
                                           // The reference kernels alone agree too.
                                           Case{"mlp", "adam", 0.01f, false}, Case{"cnn", "adam", 0.01f, false}),
                         CaseName);

}  // namespace
}  // namespace kiln
