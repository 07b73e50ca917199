// Builds the training step as one graph: the model in training mode, a loss,
// its gradients (autodiff) and the optimizer's parameter updates, with every
// parameter and optimizer moment as persistent state. The same passes and
// backend then compile it like any inference graph.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/core/optimizer.h"
#include "ir/core/status.h"
#include "ir/graph.h"
#include "ir/kiln.pb.h"

namespace kiln {
namespace runtime {
class Session;
}  // namespace runtime

struct FusionDecision;  // compiler/passes/fuse_elementwise.h

/// An optimizer with every hyperparameter resolved (start from For(name): its defaults).
struct OptimizerConfig {
  std::string name = kDefaultOptimizer;  // a row of AllOptimizers() (ir/core/optimizer.h)
  OptimizerHyperparams hyper = FindOptimizer(kDefaultOptimizer)->defaults;
  float clip_norm = 0.0f;  // > 0: clip the gradients by their global norm
  /// The updates read the learning rate from the state kLearningRateState (optimizer.h; initially
  /// hyper.lr), which the trainer lowers (ReduceLROnPlateau), instead of a constant.
  bool learning_rate_state = false;

  /// `name` at its defaults (an unknown name keeps sgd's values; building the step reports it).
  static OptimizerConfig For(const std::string& name);
};

/// The batch size when neither the training block nor the command line sets one.
constexpr int64_t kDefaultBatchSize = 32;

struct TrainingConfig {
  /// categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy,
  /// mse (mean), half_sse (½Σ). Computed from logits when the model ends in softmax/sigmoid.
  std::string loss = "sparse_categorical_crossentropy";
  OptimizerConfig optimizer;
  int64_t batch_size = kDefaultBatchSize;
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
  /// The backend the step is compiled for (compiler/backend.h): its target decides what
  /// fuse-elementwise makes a generated kernel (cuda: lone elementwise ops too).
  std::string device = "cpu";
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

/// The optimizer a model file's training block describes, unset fields at the optimizer's
/// defaults (sgd with momentum > 0 is the momentum optimizer, Keras style).
OptimizerConfig OptimizerFromSpec(const proto::TrainingSpec& spec);

/// The loss when the training block names none, from the model alone (so that `kiln train`,
/// `kiln compile --train` and `kiln dump --train` agree without the data): a [batch, classes]
/// output with classes > 1 -> sparse_categorical_crossentropy; one column after a Sigmoid ->
/// binary_crossentropy; anything else -> mse.
StatusOr<std::string> DefaultLoss(const Graph& model);

/// The one mapping from a training block to the training step's configuration, used by every
/// entry point: the block is validated, the loss is the block's (canonical) or DefaultLoss,
/// the batch size the block's (else kDefaultBatchSize), the optimizer OptimizerFromSpec.
/// Command-line overrides are applied to the block before the call.
StatusOr<TrainingConfig> TrainingConfigFromSpec(const proto::TrainingSpec& spec, const Graph& model);

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
