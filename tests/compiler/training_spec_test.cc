// Hyperparameter ranges (ValidateTrainingSpec): every numeric field of a training block
// is used as given or refused with a one-line error, never silently replaced.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/training.h"
#include "ir/graph.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

proto::TrainingSpec Spec(const std::string& text) {
  proto::TrainingSpec s;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &s)) << text;
  return s;
}

TEST(TrainingSpecTest, ValidValuesAndDefaultsPass) {
  EXPECT_OK(ValidateTrainingSpec(proto::TrainingSpec()));
  EXPECT_OK(ValidateTrainingSpec(Spec(
      "learning_rate: 0.5 momentum: 0 beta1: 0.9 beta2: 0.999 epsilon: 1e-7 rho: 0.95 weight_decay: 0 clip_norm: 0 "
      "batch_size: 1 epochs: 1 validation_split: 0.2 test_split: 0.3 checkpoint_every: 2 "
      "early_stopping { patience: 0 min_delta: 0 }")));
}

TEST(TrainingSpecTest, EveryFieldOutOfRangeIsAnError) {
  const std::pair<const char*, const char*> cases[] = {
      {"learning_rate: -0.5", "learning_rate (--lr) must be > 0, got -0.5"},
      {"learning_rate: 0", "learning_rate (--lr) must be > 0, got 0"},
      {"learning_rate: nan", "learning_rate (--lr) must be > 0, got nan"},
      {"learning_rate: inf", "learning_rate (--lr) must be > 0, got inf"},
      {"momentum: -0.1", "momentum (--momentum) must be in [0, 1)"},
      {"momentum: 1", "momentum (--momentum) must be in [0, 1)"},
      {"beta1: 1", "beta1 (--beta1) must be in [0, 1)"},
      {"beta2: -1", "beta2 (--beta2) must be in [0, 1)"},
      {"beta2: nan", "beta2 (--beta2)"},
      {"epsilon: 0", "epsilon (--epsilon) must be > 0"},
      {"epsilon: -1e-8", "epsilon (--epsilon) must be > 0"},
      {"rho: 1.5", "rho (--rho) must be in [0, 1)"},
      {"weight_decay: -0.01", "weight_decay (--weight-decay) must be >= 0"},
      {"clip_norm: -1", "clip_norm (--clip-norm) must be >= 0"},
      {"clip_norm: inf", "clip_norm (--clip-norm)"},
      {"batch_size: 0", "batch_size (--batch) must be in [1,"},
      {"batch_size: -32", "batch_size (--batch)"},
      {"epochs: -5", "epochs (--epochs) must be in [1,"},
      {"epochs: 0", "epochs (--epochs)"},
      {"validation_split: 1", "validation_split (--validation-split) must be in [0, 1)"},
      {"validation_split: -0.1", "validation_split"},
      {"test_split: nan", "test_split (--test-split)"},
      {"validation_split: 0.6 test_split: 0.5", "validation_split + test_split must be < 1"},
      {"checkpoint_every: 0", "checkpoint_every (--checkpoint-every)"},
      {"early_stopping { patience: -1 }", "early_stopping.patience (--patience) must be in [0,"},
      {"early_stopping { min_delta: -0.1 }", "early_stopping.min_delta (--min-delta) must be >= 0"},
  };
  for (const auto& [text, needle] : cases) {
    Status st = ValidateTrainingSpec(Spec(text));
    ASSERT_FALSE(st.ok()) << text;
    EXPECT_NE(st.message().find(needle), std::string::npos) << text << ": " << st.message();
    EXPECT_EQ(st.message().find('\n'), std::string::npos);
  }
}

// A given learning rate is used as it is; only an unset one takes the optimizer's default.
TEST(TrainingSpecTest, OptimizerUsesGivenValues) {
  EXPECT_FLOAT_EQ(OptimizerFromSpec(Spec("learning_rate: 0.5")).hyper.lr, 0.5f);
  EXPECT_FLOAT_EQ(OptimizerFromSpec(Spec("optimizer: 'adam'")).hyper.lr, 0.001f);
  EXPECT_FLOAT_EQ(OptimizerFromSpec(Spec("")).hyper.lr, 0.01f);
}

// A [batch, width] model ending in `last` (Softmax, Sigmoid or Identity).
std::unique_ptr<Graph> Model(int64_t width, const std::string& last) {
  auto g = std::make_unique<Graph>();
  Value* x = g->AddInput("x", {proto::DT_FLOAT, {-1, 4}});
  Value* w = g->AddConstant("w", testing::RandomTensor({4, width}, 1));
  w->set_parameter(true);
  Value* y = g->AddNode("MatMul", "fc", {x, w})->output(0);
  g->AddOutput(g->AddNode(last, "out", {y})->output(0));
  return g;
}

TEST(TrainingSpecTest, DefaultLossComesFromTheModelAlone) {
  EXPECT_EQ(*DefaultLoss(*Model(3, "Softmax")), "sparse_categorical_crossentropy");
  EXPECT_EQ(*DefaultLoss(*Model(3, "Identity")), "sparse_categorical_crossentropy");
  EXPECT_EQ(*DefaultLoss(*Model(1, "Sigmoid")), "binary_crossentropy");
  EXPECT_EQ(*DefaultLoss(*Model(1, "Identity")), "mse");
}

TEST(TrainingSpecTest, ConfigFromSpecFillsDefaultsOnce) {
  auto model = Model(3, "Softmax");
  auto config = TrainingConfigFromSpec(Spec(""), *model);
  ASSERT_OK(config.status());
  EXPECT_EQ(config->loss, "sparse_categorical_crossentropy");
  EXPECT_EQ(config->batch_size, kDefaultBatchSize);
  EXPECT_EQ(config->optimizer.name, "sgd");
  EXPECT_FLOAT_EQ(config->optimizer.hyper.lr, FindOptimizer("sgd")->defaults.lr);

  config = TrainingConfigFromSpec(Spec("loss: 'mean_squared_error' batch_size: 8 seed: 3 optimizer: 'sgd' "
                                       "momentum: 0.5 nesterov: true clip_norm: 2"),
                                  *model);
  ASSERT_OK(config.status());
  EXPECT_EQ(config->loss, "mse");
  EXPECT_EQ(config->batch_size, 8);
  EXPECT_EQ(config->seed, 3u);
  EXPECT_EQ(config->optimizer.name, "momentum") << "sgd with momentum > 0 is the momentum optimizer";
  EXPECT_FLOAT_EQ(config->optimizer.hyper.momentum, 0.5f);
  EXPECT_TRUE(config->optimizer.hyper.nesterov);
  EXPECT_FLOAT_EQ(config->optimizer.clip_norm, 2.0f);

  auto bad = TrainingConfigFromSpec(Spec("optimizer: 'lbfgs'"), *model);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown optimizer 'lbfgs' (expected sgd,"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(TrainingConfigFromSpec(Spec("learning_rate: -1"), *model).ok());
  EXPECT_FALSE(TrainingConfigFromSpec(Spec("loss: 'hinge'"), *model).ok());
}

}  // namespace
}  // namespace kiln
