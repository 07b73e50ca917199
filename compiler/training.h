// Builds the training step as one graph: the model in training mode, a loss,
// its gradients (autodiff) and the optimizer's parameter updates, with every
// parameter and optimizer moment as persistent state. The same passes and
// backend then compile it like any inference graph.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ir/kiln.pb.h"
#include "ir/status.h"

namespace kiln {
namespace runtime {
class Session;
}  // namespace runtime

struct FusionDecision;  // compiler/passes/fuse_elementwise.h

struct OptimizerConfig {
  std::string name = "sgd";  // sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam
  float learning_rate = 0.01f;
  float momentum = -1.0f;  // momentum/nesterov (default 0.9); sgd with momentum > 0 is momentum
  bool nesterov = false;
  float beta1 = 0.9f, beta2 = 0.999f;  // adam
  float epsilon = -1.0f;               // < 0: the optimizer's own default
  float rho = -1.0f;                   // adadelta (0.9), rmsprop (0.99); < 0: default
  float weight_decay = 0.0f;
  float clip_norm = 0.0f;  // > 0: clip the gradients by their global norm
};

struct TrainingConfig {
  /// categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
  /// mse (mean), half_sse (½Σ). Computed from logits when the model ends in softmax/sigmoid.
  std::string loss = "sparse_categorical_crossentropy";
  OptimizerConfig optimizer;
  int64_t batch_size = 32;
  uint64_t seed = 0;  // dropout masks
  /// false: BatchNormalization and Dropout stay in inference mode (frozen statistics,
  /// identity) instead of becoming BatchNormTraining / DropoutTraining. For gradcheck
  /// of their inference-mode gradient rules; training always uses true.
  bool training_mode = true;
  /// Fuse elementwise chains (forward and backward) into generated kernels.
  bool fuse_elementwise = true;
  /// Also output each trained parameter's gradient (before clipping) as
  /// "<parameter>/gradient", after loss and prediction (gradient histograms in --logdir).
  bool gradient_outputs = false;
  /// When set, receives fuse-elementwise's verdict on every node of the step (--explain-fusion).
  std::vector<FusionDecision>* fusion_decisions = nullptr;
};

/// The graphs a trainer runs. Both are typed for `batch_size` and keep the
/// parameters as state under their model names, so weights move between them
/// (and into checkpoints) by name.
struct TrainingProgram {
  std::unique_ptr<Graph> step;          // inputs: model inputs + "target"; outputs: loss, prediction[, gradients]
  std::unique_ptr<Graph> eval;          // the model in inference mode; outputs: prediction
  std::string loss;                     // the loss actually used (after resolving aliases)
  std::vector<std::string> parameters;  // trained parameters, in graph order
};

/// The inference model as a graph with parameters as state (no updates) at a fixed batch size.
StatusOr<std::unique_ptr<Graph>> BuildEvalGraph(const Graph& model, int64_t batch_size);

/// The model in training mode with the loss attached: outputs (loss, prediction),
/// inputs the model's plus "target", float parameters as state. `parameters`
/// receives the trainable ones. Used by BuildTrainingProgram and gradcheck.
StatusOr<std::unique_ptr<Graph>> BuildLossGraph(const Graph& model, const TrainingConfig& config,
                                                std::vector<Value*>* parameters, std::string* loss_name = nullptr);

StatusOr<TrainingProgram> BuildTrainingProgram(const Graph& model, const TrainingConfig& config);

/// The optimizer a model file's training block describes (defaults filled in:
/// sgd; lr 0.01, adam 0.001, adadelta 1.0).
OptimizerConfig OptimizerFromSpec(const proto::TrainingSpec& spec);

/// Every numeric hyperparameter of a training block (learning rate, momentum, betas,
/// epsilon, rho, decay, clip norm, batch size, epochs, splits, checkpoint interval,
/// patience, min delta) in its valid range; unset fields take their defaults.
Status ValidateTrainingSpec(const proto::TrainingSpec& spec);

/// "sparse_categorical_crossentropy" etc.: the canonical loss name, or an error listing the valid ones.
StatusOr<std::string> CanonicalLossName(const std::string& name);

/// Replaces the value of every constant of `graph` that `session` holds as a state of the
/// same name (trained parameters, batch-norm statistics) by the session's current value.
Status CopyStatesToGraph(const runtime::Session& session, Graph* graph);

}  // namespace kiln
