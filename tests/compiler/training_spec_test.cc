// Hyperparameter ranges (ValidateTrainingSpec): every numeric field of a training block
// is used as given or refused with a one-line error, never silently replaced.
#include <google/protobuf/text_format.h>
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/training.h"
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
  EXPECT_FLOAT_EQ(OptimizerFromSpec(Spec("learning_rate: 0.5")).learning_rate, 0.5f);
  EXPECT_FLOAT_EQ(OptimizerFromSpec(Spec("optimizer: 'adam'")).learning_rate, 0.001f);
  EXPECT_FLOAT_EQ(OptimizerFromSpec(Spec("")).learning_rate, 0.01f);
}

}  // namespace
}  // namespace kiln
