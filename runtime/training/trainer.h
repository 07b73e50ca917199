// The trainer: the outer loop around a compiled training step (epochs,
// shuffled mini-batches, validation, early stopping, checkpoints, Keras-style
// progress). Part of the runtime, so ahead-of-time trainers need no compiler.
#pragma once

#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/kiln.pb.h"
#include "runtime/data/dataset.h"
#include "runtime/plan.pb.h"
#include "runtime/session.h"

namespace kiln::runtime {

/// Epochs when neither the training block nor the command line sets them.
constexpr int64_t kDefaultEpochs = 10;

struct EpochStats;

struct TrainerOptions {
  int64_t epochs = kDefaultEpochs;
  uint64_t seed = 0;  // shuffling (each epoch's order depends on seed and epoch only)
  bool shuffle = true;
  /// The loss of the step graph, for the host-side validation loss:
  /// sparse_categorical_crossentropy, categorical_crossentropy, binary_crossentropy, mse, half_sse.
  std::string loss = "sparse_categorical_crossentropy";
  // Early stopping (patience 0: off).
  std::string monitor = "val_loss";  // val_loss, val_accuracy, loss, accuracy
  int64_t patience = 0;
  double min_delta = 0.0;
  bool restore_best_weights = true;
  // ReduceLROnPlateau (reduce_lr_patience 0: off): after reduce_lr_patience epochs without
  // an improvement of reduce_lr_monitor by more than reduce_lr_min_delta, the learning rate
  // (the step's state kLearningRateState, ir/core/optimizer.h) is multiplied by
  // reduce_lr_factor, never below reduce_lr_min.
  std::string reduce_lr_monitor = "val_loss";
  int64_t reduce_lr_patience = 0;
  double reduce_lr_factor = 0.1;
  double reduce_lr_min = 0.0;
  double reduce_lr_min_delta = 1e-4;
  // Checkpoints (written atomically after every `checkpoint_every` epochs; "" = none).
  std::string checkpoint_path;
  int64_t checkpoint_every = 1;
  bool resume = false;  // continue from checkpoint_path when it exists
  // When the model's input holds token ids (an embedding lookup): the vocabulary size
  // and the lookup's name; every data set's ids are checked against it. 0: no ids.
  int64_t token_vocabulary = 0;
  std::string token_lookup;
  // Output: a progress bar per epoch (redrawn in place on a terminal).
  std::FILE* out = stdout;
  bool progress = true;
  // Observers (TensorBoard logs, the Python callbacks), called when set: after every
  // step with the global step (from 1) and its batch loss, and after every epoch with
  // its statistics (the step session then holds the epoch's weights). An error stops training.
  /// `accuracy` is the batch's (-1 when the model is not a classifier).
  std::function<Status(int64_t global_step, double loss, double accuracy)> on_step;
  std::function<Status(const EpochStats&)> on_epoch;
};

/// The trainer's options a model file's training block sets (epochs, seed, shuffling, the
/// loss, early stopping, the checkpoint interval); the caller adds the checkpoint path,
/// resume and progress. The one mapping `kiln train` and compiled trainers share.
TrainerOptions TrainerOptionsFromSpec(const proto::TrainingSpec& spec);

struct EpochStats {
  int64_t epoch = 0;  // 1-based
  double loss = 0, accuracy = -1;
  double val_loss = -1, val_accuracy = -1;  // -1: no validation data / not a classifier
  double seconds = 0;
  double learning_rate = -1;  // the epoch's, when the trainer schedules it (-1: a constant)
};

struct Evaluation {
  double loss = 0;
  double accuracy = -1;  // -1 for non-classifiers
  int64_t samples = 0;
};

class Trainer {
 public:
  /// `step`: the training-step session (inputs: model inputs then "target";
  /// outputs: loss, prediction). `eval`: the inference session at the same batch
  /// size; parameters are copied into it by state name before evaluating.
  Trainer(Session* step, Session* eval, TrainerOptions options);

  /// Trains on `train`, validating on `validation` (may be null) after each epoch.
  StatusOr<std::vector<EpochStats>> Fit(const data::Dataset& train, const data::Dataset* validation);
  /// Loss and accuracy of the current weights on `ds` (every sample, the last batch padded).
  StatusOr<Evaluation> Evaluate(const data::Dataset& ds);
  /// Checks `ds` against the eval session's input and output (what Evaluate will
  /// check), so a bad test set is an error before training rather than after.
  Status CheckEvaluationData(const data::Dataset& ds, const char* what) const { return CheckData(ds, *eval_, what); }
  /// Copies every state the eval session shares (by name) from the step session.
  Status SyncEvalWeights();

  /// `stopped`: early stopping ended the run (a resume trains no further).
  Status SaveCheckpoint(const std::string& path, int64_t epochs_done, bool stopped = false) const;
  /// Restores states from a checkpoint validated against the step (checkpoint.h);
  /// returns the epochs it had completed.
  StatusOr<int64_t> LoadCheckpoint(const std::string& path);

  /// Ends Fit after the current epoch (Keras' model.stop_training, set by a Python callback
  /// from on_epoch).
  void RequestStop() { stop_requested_ = true; }

  /// Step of the epoch where training stopped early (-1: ran every epoch).
  int64_t stopped_epoch() const { return stopped_epoch_; }
  int64_t best_epoch() const { return best_epoch_; }

 private:
  Status CheckData(const data::Dataset& ds, const Session& session, const char* what) const;
  Status FillTarget(const data::Dataset& ds, const int64_t* rows, int64_t n, void* target) const;
  double SampleLoss(const float* pred, int64_t width, const data::Dataset& ds, int64_t row) const;
  bool IsBetter(double value) const;
  /// ReduceLROnPlateau after an epoch: lowers the learning rate state when due.
  Status MaybeReduceLearningRate(const EpochStats& st, const std::string& monitor);
  bool StatesFinite() const;
  void SnapshotBest();
  void RestoreBest();

  Session* step_;
  Session* eval_;
  TrainerOptions options_;
  // Early stopping state.
  double best_metric_ = 0;
  bool have_best_ = false;
  int64_t best_epoch_ = -1;
  int64_t wait_ = 0;
  int64_t stopped_epoch_ = -1;
  bool resumed_stopped_ = false;
  bool stop_requested_ = false;
  std::vector<std::vector<uint8_t>> best_state_;  // per step state, preallocated once
  // ReduceLROnPlateau state.
  int learning_rate_state_ = -1;  // the step's state index
  double lr_best_ = 0;
  bool lr_have_best_ = false;
  int64_t lr_wait_ = 0;
};

}  // namespace kiln::runtime
