#include "runtime/training/trainer.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "ir/core/file_io.h"
#include "ir/core/optimizer.h"
#include "runtime/checkpoint.h"

namespace kiln::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

// A mix of seed and epoch, so each epoch's order is reproducible on resume.
uint64_t EpochSeed(uint64_t seed, int64_t epoch) {
  uint64_t x = seed ^ (static_cast<uint64_t>(epoch) * 0x9E3779B97F4A7C15ull);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

std::string FormatDuration(double s) {
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%d:%02d:%02d", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60,
                  static_cast<int>(s) % 60);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%d:%02d", static_cast<int>(s / 60), static_cast<int>(s) % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%.0fs", s);
  }
  return buf;
}

// Keras-style: " 312/937 [=========>....................] - ETA: 3s - loss: 0.5123 - accuracy: 0.8201"
void DrawBar(std::FILE* out, int64_t done, int64_t total, const std::string& timing, const std::string& metrics,
             bool final_line) {
  const int width = 30;
  const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
  std::string bar(width, '.');
  for (int i = 0; i < filled; ++i) bar[i] = '=';
  if (filled < width && filled > 0) bar[filled - 1] = '>';
  const int digits = static_cast<int>(std::to_string(total).size());
  std::fprintf(out, "\r%*lld/%lld [%s] - %s%s%s", digits, static_cast<long long>(done), static_cast<long long>(total),
               bar.c_str(), timing.c_str(), metrics.c_str(), final_line ? "\n" : "");
  std::fflush(out);
}

std::string Metric(const char* name, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, " - %s: %.4f", name, v);
  return buf;
}

// Without its 1-sized axes.
Dims Squeezed(const Dims& dims) {
  Dims out;
  for (int64_t d : dims) {
    if (d != 1) out.push_back(d);
  }
  return out;
}

int64_t ArgMax(const float* p, int64_t n) { return std::max_element(p, p + n) - p; }

}  // namespace

TrainerOptions TrainerOptionsFromSpec(const proto::TrainingSpec& spec) {
  TrainerOptions options;
  options.epochs = spec.epochs() > 0 ? spec.epochs() : kDefaultEpochs;
  options.seed = spec.seed();
  options.shuffle = !spec.no_shuffle();
  options.loss = spec.loss();
  const proto::EarlyStopping& e = spec.early_stopping();
  if (!e.monitor().empty()) options.monitor = e.monitor();
  options.patience = e.patience();
  options.min_delta = e.min_delta();
  options.restore_best_weights = !e.has_restore_best_weights() || e.restore_best_weights();  // unset: restore
  options.checkpoint_every = spec.checkpoint_every() > 0 ? spec.checkpoint_every() : 1;
  if (spec.has_reduce_lr_on_plateau()) {
    const proto::ReduceLROnPlateau& r = spec.reduce_lr_on_plateau();
    if (!r.monitor().empty()) options.reduce_lr_monitor = r.monitor();
    options.reduce_lr_patience = r.has_patience() ? r.patience() : 10;  // Keras' defaults
    if (r.has_factor()) options.reduce_lr_factor = r.factor();
    options.reduce_lr_min = r.min_lr();
    if (r.has_min_delta()) options.reduce_lr_min_delta = r.min_delta();
  }
  return options;
}

Trainer::Trainer(Session* step, Session* eval, TrainerOptions options)
    : step_(step), eval_(eval), options_(std::move(options)) {
  best_state_.resize(step_->num_states());
  for (int i = 0; i < step_->num_states(); ++i) best_state_[i].resize(step_->state(i).num_bytes());
}

Status Trainer::CheckData(const data::Dataset& ds, const Session& session, const char* what) const {
  RETURN_IF_ERROR(ds.Validate());
  if (session.num_inputs() < 1) return InvalidArgument("the model has no input");
  const proto::Buffer& in = session.input_desc(0);
  const Dims dims(in.dims().begin(), in.dims().end());
  const int64_t per_sample = dims.empty() || dims[0] == 0 ? 0 : ElementCount(dims) / dims[0];
  if (in.dtype() != proto::DT_FLOAT) return InvalidArgument("model input '", in.name(), "' is not float32");
  if (ds.feature_row_elements() != per_sample) {
    Dims sample(ds.features.dims().begin() + 1, ds.features.dims().end());
    return InvalidArgument(what, " data (", ds.source, "): samples have ", ds.feature_row_elements(), " features ",
                           DimsToString(sample), " but model input '", in.name(), "' takes ", per_sample,
                           " per sample (", DTypeName(in.dtype()), DimsToString(dims), ")");
  }
  // Flat samples feed any input and any samples feed a flat input (an MLP on images),
  // but structured samples must have the input's structure: [T, F] sequences are not
  // reinterpreted as [F, T].
  // Size-1 axes aside ([1, 28, 28] images feed a [28, 28] sequence input).
  const Dims sample(ds.features.dims().begin() + 1, ds.features.dims().end());
  const Dims expected = dims.empty() ? dims : Dims(dims.begin() + 1, dims.end());
  if (sample.size() > 1 && expected.size() > 1 && Squeezed(sample) != Squeezed(expected)) {
    return InvalidArgument(what, " data (", ds.source, "): samples have shape ", DimsToString(sample),
                           " but model input '", in.name(), "' takes ", DimsToString(expected), " per sample");
  }
  if (options_.token_vocabulary > 0) {
    Status ids = data::CheckTokenIds(ds, options_.token_vocabulary, options_.token_lookup);
    if (!ids.ok()) return InvalidArgument(what, " data (", ds.source, "): ", ids.message());
  }
  const proto::Buffer& pred = session.output_desc(&session == step_ ? 1 : 0);
  const int64_t width = pred.dims_size() > 1 ? pred.dims(pred.dims_size() - 1) : 1;
  if (ds.has_class_labels()) {
    const int64_t classes = width == 1 ? 2 : width;
    RETURN_IF_ERROR(data::CheckLabels(ds, classes).WithContext(std::string(what) + " data (" + ds.source + ")"));
  } else if (ds.label_row_elements() != width) {
    return InvalidArgument(what, " data (", ds.source, "): targets have ", ds.label_row_elements(),
                           " values per sample but the model predicts ", width);
  }
  return Status::Ok();
}

// The step's "target" input from dataset rows: class indices as they are
// (sparse losses), one-hot for dense losses, float targets copied.
Status Trainer::FillTarget(const data::Dataset& ds, const int64_t* rows, int64_t n, void* target) const {
  const TensorRef t = step_->input(step_->num_inputs() - 1);
  if (ds.has_class_labels()) {
    const int64_t* labels = ds.labels.data_as<int64_t>();
    if (t.dtype == proto::DT_INT64) {
      for (int64_t i = 0; i < n; ++i) static_cast<int64_t*>(target)[i] = labels[rows[i]];
      return Status::Ok();
    }
    const int64_t width = t.num_elements() / std::max<int64_t>(1, n);
    float* out = static_cast<float*>(target);
    std::fill(out, out + t.num_elements(), 0.0f);
    for (int64_t i = 0; i < n; ++i) {
      if (width == 1) {
        out[i] = static_cast<float>(labels[rows[i]]);  // binary labels as 0/1 targets
      } else {
        out[i * width + labels[rows[i]]] = 1.0f;
      }
    }
    return Status::Ok();
  }
  const int64_t row = ds.label_row_elements();
  const float* labels = ds.labels.data_as<float>();
  for (int64_t i = 0; i < n; ++i) std::memcpy(static_cast<float*>(target) + i * row, labels + rows[i] * row, row * 4);
  return Status::Ok();
}

double Trainer::SampleLoss(const float* p, int64_t width, const data::Dataset& ds, int64_t row) const {
  const std::string& loss = options_.loss;
  auto clamp = [](double v) { return std::min(1.0 - 1e-7, std::max(1e-7, v)); };
  if (ds.has_class_labels()) {
    const int64_t label = ds.labels.data_as<int64_t>()[row];
    if (width == 1) {
      if (loss == "mse" || loss == "half_sse") {
        const double d = p[0] - static_cast<double>(label);
        return loss == "mse" ? d * d : 0.5 * d * d;
      }
      const double q = clamp(p[0]);
      return label ? -std::log(q) : -std::log(1.0 - q);
    }
    if (loss == "mse" || loss == "half_sse") {
      double s = 0;
      for (int64_t c = 0; c < width; ++c) {
        const double d = p[c] - (c == label ? 1.0 : 0.0);
        s += d * d;
      }
      return loss == "mse" ? s / width : 0.5 * s;
    }
    return -std::log(clamp(p[label]));
  }
  const float* t = ds.labels.data_as<float>() + row * width;
  double s = 0;
  for (int64_t c = 0; c < width; ++c) {
    if (loss == "binary_crossentropy") {
      s += -(t[c] * std::log(clamp(p[c])) + (1.0 - t[c]) * std::log(1.0 - clamp(p[c])));
    } else if (loss == "categorical_crossentropy" || loss == "sparse_categorical_crossentropy") {
      s += -t[c] * std::log(clamp(p[c]));
    } else {
      const double d = p[c] - t[c];
      s += d * d;
    }
  }
  if (loss == "binary_crossentropy" || loss == "mse") return s / width;
  return loss == "half_sse" ? 0.5 * s : s;
}

// Accuracy of one prediction: argmax for classes, a 0.5 threshold for one output;
// with binary cross-entropy over several outputs (independent bits, e.g. one per
// time step) the fraction of outputs on the right side of 0.5 (Keras' binary_accuracy).
static double Correct(const float* p, int64_t width, const data::Dataset& ds, int64_t row, const std::string& loss) {
  if (ds.has_class_labels()) {
    const int64_t label = ds.labels.data_as<int64_t>()[row];
    return width == 1 ? ((p[0] >= 0.5f) == (label != 0)) : ArgMax(p, width) == label;
  }
  const float* t = ds.labels.data_as<float>() + row * width;
  if (width == 1) return (p[0] >= 0.5f) == (t[0] >= 0.5f);
  if (loss == "binary_crossentropy") {
    int64_t right = 0;
    for (int64_t c = 0; c < width; ++c) right += (p[c] >= 0.5f) == (t[c] >= 0.5f);
    return static_cast<double>(right) / static_cast<double>(width);
  }
  return ArgMax(p, width) == ArgMax(t, width);
}

static bool IsClassifier(const data::Dataset& ds, const std::string& loss) {
  return ds.has_class_labels() || loss.find("crossentropy") != std::string::npos;
}

Status Trainer::SyncEvalWeights() {
  for (int i = 0; i < eval_->num_states(); ++i) {
    const int j = step_->FindState(eval_->state_desc(i).name());
    if (j < 0) continue;
    const TensorRef src = step_->state(j);
    RETURN_IF_ERROR(eval_->SetState(i, src.data, src.num_bytes()));
  }
  return Status::Ok();
}

StatusOr<Evaluation> Trainer::Evaluate(const data::Dataset& ds) {
  RETURN_IF_ERROR(CheckData(ds, *eval_, "evaluation"));
  RETURN_IF_ERROR(SyncEvalWeights());
  const TensorRef in = eval_->input(0);
  const int64_t batch = in.dims.empty() ? 1 : in.dims[0];
  ASSIGN_OR_RETURN(data::BatchIterator it, data::BatchIterator::Create(ds, batch));
  it.StartEpoch(0, false);
  const TensorRef pred = eval_->output(0);
  const int64_t width = pred.num_elements() / batch;
  Evaluation e;
  double loss = 0;
  double correct = 0;
  for (int64_t b = 0; b < it.num_batches(false); ++b) {
    ASSIGN_OR_RETURN(int64_t valid, it.FillPadded(b, in.data, nullptr));
    RETURN_IF_ERROR(eval_->Run());
    const float* p = pred.as<float>();
    for (int64_t i = 0; i < valid; ++i) {
      const int64_t row = it.order()[b * batch + i];
      loss += SampleLoss(p + i * width, width, ds, row);
      correct += Correct(p + i * width, width, ds, row, options_.loss);
    }
    e.samples += valid;
  }
  e.loss = e.samples ? loss / static_cast<double>(e.samples) : 0.0;
  if (IsClassifier(ds, options_.loss)) e.accuracy = e.samples ? correct / static_cast<double>(e.samples) : 0.0;
  return e;
}

bool Trainer::IsBetter(double value) const {
  if (!have_best_) return true;
  const bool maximize = options_.monitor.find("accuracy") != std::string::npos;
  return maximize ? value > best_metric_ + options_.min_delta : value < best_metric_ - options_.min_delta;
}

namespace {
double MonitoredValue(const EpochStats& st, const std::string& monitor) {
  return monitor == "val_loss"       ? st.val_loss
         : monitor == "val_accuracy" ? st.val_accuracy
         : monitor == "accuracy"     ? st.accuracy
                                     : st.loss;
}
}  // namespace

Status Trainer::MaybeReduceLearningRate(const EpochStats& st, const std::string& monitor) {
  const double value = MonitoredValue(st, monitor);
  const bool maximize = monitor.find("accuracy") != std::string::npos;
  const double delta = options_.reduce_lr_min_delta;
  if (!lr_have_best_ || (maximize ? value > lr_best_ + delta : value < lr_best_ - delta)) {
    lr_best_ = value;
    lr_have_best_ = true;
    lr_wait_ = 0;
    return Status::Ok();
  }
  if (++lr_wait_ < options_.reduce_lr_patience) return Status::Ok();
  lr_wait_ = 0;
  const TensorRef lr = step_->state(learning_rate_state_);
  const float old_lr = lr.as<float>()[0];
  const float new_lr = static_cast<float>(std::max(options_.reduce_lr_min, old_lr * options_.reduce_lr_factor));
  if (!(new_lr < old_lr)) return Status::Ok();  // at the floor already
  RETURN_IF_ERROR(step_->SetState(learning_rate_state_, &new_lr, sizeof new_lr));
  if (options_.progress) {
    std::fprintf(options_.out, "Epoch %lld: reducing the learning rate to %g (%s did not improve for %lld epochs)\n",
                 static_cast<long long>(st.epoch), new_lr, monitor.c_str(),
                 static_cast<long long>(options_.reduce_lr_patience));
  }
  return Status::Ok();
}

bool Trainer::StatesFinite() const {
  for (int i = 0; i < step_->num_states(); ++i) {
    const TensorRef s = step_->state(i);
    if (s.dtype != proto::DT_FLOAT) continue;
    const float* p = s.as<float>();
    for (int64_t j = 0; j < s.num_elements(); ++j) {
      if (!std::isfinite(p[j])) return false;
    }
  }
  return true;
}

void Trainer::SnapshotBest() {
  for (int i = 0; i < step_->num_states(); ++i) {
    std::memcpy(best_state_[i].data(), step_->state(i).data, best_state_[i].size());
  }
}

void Trainer::RestoreBest() {
  for (int i = 0; i < step_->num_states(); ++i) {
    std::memcpy(step_->state(i).data, best_state_[i].data(), best_state_[i].size());
  }
}

StatusOr<std::vector<EpochStats>> Trainer::Fit(const data::Dataset& train, const data::Dataset* validation) {
  stop_requested_ = false;
  RETURN_IF_ERROR(CheckData(train, *step_, "training"));
  if (validation) RETURN_IF_ERROR(CheckData(*validation, *eval_, "validation"));
  const TensorRef features = step_->input(0);
  const TensorRef target = step_->input(step_->num_inputs() - 1);
  const int64_t batch = features.dims.empty() ? 1 : features.dims[0];
  ASSIGN_OR_RETURN(data::BatchIterator it, data::BatchIterator::Create(train, batch));
  const int64_t steps = it.num_batches(/*drop_last=*/true);
  if (steps == 0) {
    return InvalidArgument("training data (", train.source, ") has ", train.size(),
                           " samples, fewer than one batch of ", batch);
  }
  std::string monitor = options_.monitor;
  if (!validation && monitor.rfind("val_", 0) == 0) monitor = monitor.substr(4);
  options_.monitor = monitor;
  std::string lr_monitor = options_.reduce_lr_monitor;
  if (!validation && lr_monitor.rfind("val_", 0) == 0) lr_monitor = lr_monitor.substr(4);
  learning_rate_state_ = step_->FindState(kLearningRateState);
  if (options_.reduce_lr_patience > 0 && learning_rate_state_ < 0) {
    return InvalidArgument("reduce_lr_on_plateau: the training step has no learning-rate state '", kLearningRateState,
                           "' (build it with the reduce_lr_on_plateau block)");
  }

  // Where the checkpoints go is checked before the first epoch, not found out after it.
  if (!options_.checkpoint_path.empty()) RETURN_IF_ERROR(CheckOutputPath(options_.checkpoint_path));
  int64_t first_epoch = 0;
  std::string last_checkpoint = "none";
  if (options_.resume && !options_.checkpoint_path.empty()) {
    struct stat st;
    if (::stat(options_.checkpoint_path.c_str(), &st) == 0) {  // absent: a fresh start; anything else must load
      ASSIGN_OR_RETURN(first_epoch, LoadCheckpoint(options_.checkpoint_path));
      last_checkpoint = options_.checkpoint_path + " (epoch " + std::to_string(first_epoch) + ")";
      if (options_.progress) {
        std::fprintf(options_.out, "Resuming from %s after epoch %lld\n", options_.checkpoint_path.c_str(),
                     static_cast<long long>(first_epoch));
      }
    }
  }
  const TensorRef loss_out = step_->output(0);
  const TensorRef pred = step_->output(1);  // (gradient outputs may follow)
  const int64_t width = pred.num_elements() / batch;
  const bool classifier = IsClassifier(train, options_.loss);
  const bool tty = isatty(fileno(options_.out));
  std::vector<EpochStats> history;
  const int64_t last_epoch = resumed_stopped_ ? first_epoch : options_.epochs;  // early-stopped runs stay stopped
  for (int64_t epoch = first_epoch; epoch < last_epoch; ++epoch) {
    const Clock::time_point start = Clock::now();
    if (options_.progress) {
      std::fprintf(options_.out, "Epoch %lld/%lld\n", static_cast<long long>(epoch + 1),
                   static_cast<long long>(options_.epochs));
    }
    it.StartEpoch(EpochSeed(options_.seed, epoch), options_.shuffle);
    double loss_sum = 0;
    double correct = 0;
    Clock::time_point last_draw = start;
    // Double-buffered batches: step s's inputs go to the device (pinned staging) when it
    // starts, so batch s + 1 is gathered into the input buffers while the device computes
    // step s (Session::Start / Finish; on the CPU the step has ended when Start returns).
    auto fill = [&](int64_t s) -> Status {
      RETURN_IF_ERROR(it.Fill(s, features.data, nullptr));
      return FillTarget(train, it.order().data() + s * batch, batch, target.data);
    };
    RETURN_IF_ERROR(fill(0));
    for (int64_t s = 0; s < steps; ++s) {
      const int64_t* rows = it.order().data() + s * batch;
      Status ran = step_->Start();  // (the context string is built only on failure: no allocation per step)
      if (ran.ok() && s + 1 < steps) ran = fill(s + 1);
      if (ran.ok()) ran = step_->Finish();
      if (!ran.ok()) return ran.WithContext("epoch " + std::to_string(epoch + 1) + ", step " + std::to_string(s + 1));
      const double loss = loss_out.as<float>()[0];
      if (!std::isfinite(loss)) {
        return InvalidArgument("the loss became ", std::isnan(loss) ? "NaN" : "infinite", " at epoch ", epoch + 1,
                               ", step ", s + 1, " of ", steps,
                               " (try a lower learning rate); last good checkpoint: ", last_checkpoint);
      }
      loss_sum += loss;
      const double correct_before = correct;
      if (classifier) {
        for (int64_t i = 0; i < batch; ++i)
          correct += Correct(pred.as<float>() + i * width, width, train, rows[i], options_.loss);
      }
      if (options_.on_step) {
        const double accuracy = classifier ? (correct - correct_before) / batch : -1.0;
        RETURN_IF_ERROR(options_.on_step(epoch * steps + s + 1, loss, accuracy));
      }
      if (options_.progress && tty && (Seconds(last_draw) > 0.1 || s + 1 == steps)) {
        last_draw = Clock::now();
        const double elapsed = Seconds(start);
        const double eta = elapsed / (s + 1) * (steps - s - 1);
        std::string metrics = Metric("loss", loss_sum / (s + 1));
        if (classifier) metrics += Metric("accuracy", correct / static_cast<double>((s + 1) * batch));
        DrawBar(options_.out, s + 1, steps, "ETA: " + FormatDuration(eta), metrics, false);
      }
    }
    // The last update can make the weights non-finite with the loss still finite:
    // never checkpoint (or write out) such weights.
    if (!StatesFinite()) {
      return InvalidArgument("the weights became NaN or infinite at epoch ", epoch + 1, ", step ", steps, " of ", steps,
                             " (try a lower learning rate); last good checkpoint: ", last_checkpoint);
    }
    EpochStats st;
    st.epoch = epoch + 1;
    st.loss = loss_sum / steps;
    if (learning_rate_state_ >= 0) {  // 6 digits: 0.003, not 0.0030000000260770321
      char text[32];
      std::snprintf(text, sizeof text, "%.6g", step_->state(learning_rate_state_).as<float>()[0]);
      st.learning_rate = std::strtod(text, nullptr);
    }
    if (classifier) st.accuracy = correct / static_cast<double>(steps * batch);
    if (validation) {
      ASSIGN_OR_RETURN(Evaluation v, Evaluate(*validation));
      st.val_loss = v.loss;
      st.val_accuracy = v.accuracy;
    }
    st.seconds = Seconds(start);
    history.push_back(st);
    if (options_.on_epoch) RETURN_IF_ERROR(options_.on_epoch(st));
    if (options_.progress) {
      std::string metrics = Metric("loss", st.loss);
      if (st.accuracy >= 0) metrics += Metric("accuracy", st.accuracy);
      if (validation) metrics += Metric("val_loss", st.val_loss);
      if (st.val_accuracy >= 0) metrics += Metric("val_accuracy", st.val_accuracy);
      char timing[64];
      std::snprintf(timing, sizeof timing, "%s %.0fms/step", FormatDuration(st.seconds).c_str(),
                    1000.0 * st.seconds / steps);
      DrawBar(options_.out, steps, steps, timing, metrics, true);
    }

    if (options_.reduce_lr_patience > 0) RETURN_IF_ERROR(MaybeReduceLearningRate(st, lr_monitor));
    bool stop = false;
    if (options_.patience > 0) {
      const double value = MonitoredValue(st, monitor);
      if (IsBetter(value)) {
        best_metric_ = value;
        have_best_ = true;
        best_epoch_ = st.epoch;
        wait_ = 0;
        if (options_.restore_best_weights) SnapshotBest();
      } else if (++wait_ >= options_.patience) {
        stop = true;
        stopped_epoch_ = st.epoch;
      }
    }
    const bool stopped_by_request = stop_requested_ && !stop;
    if (stopped_by_request) {
      stop = true;
      stopped_epoch_ = st.epoch;
    }
    if (!options_.checkpoint_path.empty() &&
        (stop || (epoch + 1) % std::max<int64_t>(1, options_.checkpoint_every) == 0 || epoch + 1 == options_.epochs)) {
      RETURN_IF_ERROR(SaveCheckpoint(options_.checkpoint_path, epoch + 1, stop));
      last_checkpoint = options_.checkpoint_path + " (epoch " + std::to_string(epoch + 1) + ")";
    }
    if (stop) {
      if (options_.progress && !stopped_by_request) {
        std::fprintf(options_.out,
                     "Epoch %lld: early stopping (%s did not improve for %lld epochs; best %.4f at epoch %lld)\n",
                     static_cast<long long>(st.epoch), monitor.c_str(), static_cast<long long>(options_.patience),
                     best_metric_, static_cast<long long>(best_epoch_));
      }
      break;
    }
  }
  if (options_.patience > 0 && options_.restore_best_weights && have_best_) {
    RestoreBest();
    if (options_.progress) {
      std::fprintf(options_.out, "Restoring the weights of the best epoch (%lld)\n",
                   static_cast<long long>(best_epoch_));
    }
  }
  RETURN_IF_ERROR(SyncEvalWeights());
  return history;
}

static void StateToProto(const Session& s, int i, const void* data, proto::Tensor* t) {
  const proto::Buffer& b = s.state_desc(i);
  t->set_name(b.name());
  t->set_dtype(b.dtype());
  for (int64_t d : b.dims()) t->add_dims(d);
  t->set_raw_data(data, s.state(i).num_bytes());
}

Status Trainer::SaveCheckpoint(const std::string& path, int64_t epochs_done, bool stopped) const {
  proto::Checkpoint ckpt;
  for (int i = 0; i < step_->num_states(); ++i) StateToProto(*step_, i, step_->state(i).data, ckpt.add_state());
  ckpt.set_epoch(epochs_done);
  ckpt.set_best_metric(have_best_ ? best_metric_ : 0.0);
  ckpt.set_best_epoch(have_best_ ? best_epoch_ : -1);
  ckpt.set_epochs_without_improvement(wait_);
  ckpt.set_stopped(stopped);
  // The best weights travel with the checkpoint, so a failed final write loses nothing.
  if (have_best_ && options_.restore_best_weights) {
    for (int i = 0; i < step_->num_states(); ++i) StateToProto(*step_, i, best_state_[i].data(), ckpt.add_best_state());
  }
  return WriteCheckpoint(path, ckpt);
}

StatusOr<int64_t> Trainer::LoadCheckpoint(const std::string& path) {
  // Everything is checked against this training step before any state changes.
  ASSIGN_OR_RETURN(proto::Checkpoint ckpt, ReadCheckpoint(path, CheckpointStates(*step_)));
  RETURN_IF_ERROR(RestoreStates(*step_, ckpt.state()).WithContext(path));
  for (const proto::Tensor& t : ckpt.best_state()) {
    const int i = step_->FindState(t.name());
    std::memcpy(best_state_[i].data(), t.raw_data().data(), t.raw_data().size());
  }
  have_best_ = ckpt.best_epoch() >= 1 && (ckpt.best_state_size() > 0 || !options_.restore_best_weights);
  best_epoch_ = ckpt.best_epoch();
  best_metric_ = ckpt.best_metric();
  wait_ = ckpt.epochs_without_improvement();
  resumed_stopped_ = ckpt.stopped();
  return ckpt.epoch();
}

}  // namespace kiln::runtime
