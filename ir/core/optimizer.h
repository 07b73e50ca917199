// The optimizers: one row each (name, update op, state slots, default hyperparameters),
// defined next to the update ops' registry entries (ir/core/ops/training.cc). The compiler
// writes an update node's attributes from typed hyperparameters and the runtime's
// kernels read them back through the same two functions, so names and defaults exist once.
#pragma once

#include <string>
#include <vector>

#include "ir/core/attrs.h"

namespace kiln {

/// Every optimizer's hyperparameters; each optimizer reads the ones its row lists.
struct OptimizerHyperparams {
  float lr = 0;
  float weight_decay = 0;
  float momentum = 0;  // momentum, nesterov
  bool nesterov = false;
  float beta1 = 0, beta2 = 0;  // adam
  float epsilon = 0;           // adagrad, adadelta, rmsprop, adam
  float rho = 0;               // adadelta, rmsprop
};

struct OptimizerDef {
  std::string name;                 // "adam": the training block's `optimizer`
  std::string update_op;            // "AdamUpdate"
  std::vector<std::string> slots;   // per-parameter state, in the update's input order after (p, g)
  bool reads_step = false;          // the update takes the step counter as its last input
  std::vector<std::string> params;  // the attributes it reads besides lr and weight_decay, in order
  OptimizerHyperparams defaults;
};

/// The optimizer when a training block names none.
constexpr char kDefaultOptimizer[] = "sgd";

/// The training step's learning-rate state (a float32 scalar, the last input of every update)
/// when the trainer lowers the learning rate (ReduceLROnPlateau); absent otherwise.
constexpr char kLearningRateState[] = "train/learning_rate";

/// sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam.
const std::vector<OptimizerDef>& AllOptimizers();
/// nullptr when unknown.
const OptimizerDef* FindOptimizer(const std::string& name);
/// The first optimizer whose update is `op` (MomentumUpdate: momentum); nullptr when none.
const OptimizerDef* FindOptimizerByUpdateOp(const std::string& op);
/// "sgd, momentum, ... or adam" for error messages.
std::string OptimizerNameList();

/// The update node's attributes: lr, weight_decay (when not 0) and the optimizer's own.
Attrs UpdateAttrs(const OptimizerDef& def, const OptimizerHyperparams& h);
/// The inverse: the attributes an update node carries, missing ones at the defaults.
OptimizerHyperparams UpdateHyperparams(const OptimizerDef& def, const Attrs& attrs);

}  // namespace kiln
