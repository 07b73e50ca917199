// TensorBoard event files: `kiln train --logdir DIR` (and the Python package's
// TensorBoard callback) write scalars, histograms and text that TensorBoard shows
// live. Part of the runtime so ahead-of-time trainers can log too.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ir/core/status.h"

namespace kiln::runtime {

/// CRC-32C (Castagnoli), the checksum of TFRecord framing.
uint32_t Crc32c(const void* data, size_t size);

class SummaryWriter {
 public:
  /// Creates `logdir` (and its parents) when missing and a new event file in it,
  /// `events.out.tfevents.<seconds>.<host>.<pid>.kiln`, never replacing a file.
  static StatusOr<std::unique_ptr<SummaryWriter>> Open(const std::string& logdir);
  ~SummaryWriter();

  Status AddScalar(const std::string& tag, int64_t step, double value);
  /// A histogram of `n` values with `buckets` equal-width buckets over [min, max]
  /// (non-finite values are counted in min/max as TensorBoard expects: skipped).
  Status AddHistogram(const std::string& tag, int64_t step, const float* values, int64_t n, int buckets = 30);
  /// Markdown text (the text dashboard).
  Status AddText(const std::string& tag, int64_t step, const std::string& text);
  /// Pushes buffered records to the file so TensorBoard sees them now.
  Status Flush();

  const std::string& path() const { return path_; }

 private:
  SummaryWriter(std::FILE* file, std::string path) : file_(file), path_(std::move(path)) {}
  Status WriteRecord(const std::string& data);

  std::FILE* file_;
  std::string path_;
};

}  // namespace kiln::runtime

namespace kiln::runtime {

class Session;
struct TrainerOptions;

/// What `kiln train --logdir DIR` records, the layout of Keras' TensorBoard callback so
/// TensorBoard overlays training and validation: DIR/train gets `batch_loss` and
/// `batch_accuracy` per step, `epoch_loss`, `epoch_accuracy` and `epoch_learning_rate`
/// per epoch, histograms `weights/<name>` of every parameter and `gradients/<name>`
/// of its gradient at the epoch's last step (when the step was compiled with
/// TrainingConfig::gradient_outputs), and the command as text; DIR/validation gets `epoch_loss` and `epoch_accuracy`
/// (the val_* metrics).
class TrainingLog {
 public:
  /// `step`: the training-step session; its states that `eval` shares by name are the
  /// parameters (the rest are optimizer state).
  static StatusOr<std::unique_ptr<TrainingLog>> Open(const std::string& logdir, const Session& step,
                                                     const Session& eval, double learning_rate,
                                                     const std::string& command);
  /// Sets `options.on_step` and `options.on_epoch` to record into this log (which must
  /// outlive the training).
  void Attach(TrainerOptions& options);

 private:
  TrainingLog() = default;
  Status OnStep(int64_t step, double loss, double accuracy);
  Status OnEpoch(int64_t epoch, double loss, double accuracy, double val_loss, double val_accuracy);

  std::unique_ptr<SummaryWriter> train_, validation_;
  const Session* step_ = nullptr;
  std::vector<int> parameter_states_;  // indexes into step_'s states
  std::vector<int> gradient_outputs_;  // indexes into step_'s outputs
  double learning_rate_ = 0;
  int64_t last_step_ = 0;
};

}  // namespace kiln::runtime
