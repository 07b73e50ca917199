// kiln.load(): a model to compile (optimizer, loss, metrics), fit, evaluate, predict and
// save, with Keras' names. Training runs the CLI's trainer (runtime/training) on the
// training step BuildTrainingProgram builds; the GIL is released while it runs and
// taken back for the Python callbacks at the end of each epoch.
#include "compiler/training.h"

#include <google/protobuf/text_format.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/vector.h>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/codegen/jit.h"
#include "compiler/load.h"
#include "frontends/load_model.h"
#include "python/src/convert.h"
#include "python/src/inference.h"
#include "runtime/data/dataset.h"
#include "runtime/training/summary_writer.h"
#include "runtime/training/trainer.h"
#include "tools/kiln/commands.h"

namespace kiln::python {
namespace {

// The fields Model.compile() replaces when it is given an optimizer: Keras' compile sets
// the whole optimizer, so values from the model file's block do not leak into another one.
void ClearOptimizer(proto::TrainingSpec* s) {
  s->clear_optimizer();
  s->clear_learning_rate();
  s->clear_momentum();
  s->clear_nesterov();
  s->clear_beta1();
  s->clear_beta2();
  s->clear_epsilon();
  s->clear_rho();
  s->clear_weight_decay();
  s->clear_clip_norm();
}

StatusOr<std::unique_ptr<runtime::Session>> CompileGraph(Graph& graph, const std::string& what) {
  CompileOptions options;
  options.prepare_for_inference = false;  // a training program's graph, optimized already
  auto session = CompileAndLoad(graph, options);
  if (!session.ok()) return session.status().WithContext(what);
  return session;
}

data::Dataset ToDataset(const InputArray& x, const InputArray& y, const std::string& x_name,
                        const std::string& y_name) {
  return Check(data::DatasetFromTensors(TensorFromArray(x, x_name), TensorFromArray(y, y_name), x_name, y_name));
}

}  // namespace

/// What fit() takes besides the data (kiln/model.py fills it from Keras' arguments).
struct FitOptions {
  int64_t batch_size = 0;  // 0: the training block's, else 32
  int64_t epochs = 0;      // 0: the training block's, else 1
  bool shuffle = true;
  std::optional<uint64_t> seed;  // unset: the training block's
  // EarlyStopping (patience 0: none).
  std::string monitor = "val_loss";
  int64_t patience = 0;
  double min_delta = 0;
  bool restore_best_weights = false;
  bool verbose = true;
  std::string log_dir;  // TensorBoard event files (kiln.TensorBoard), as kiln train --logdir
};

class TrainableModel {
 public:
  static std::unique_ptr<TrainableModel> Load(const std::string& path) {
    auto model = std::make_unique<TrainableModel>();
    {
      nb::gil_scoped_release released;
      auto loaded = LoadModel(path);
      if (loaded.ok()) model->model_ = std::move(loaded).value();
      if (!loaded.ok()) {
        nb::gil_scoped_acquire held;
        Raise(loaded.status());
      }
    }
    if (model->model_.source.empty()) model->model_.source = path;
    return model;
  }

  std::string name() const { return model_.graph->name(); }
  std::string source() const { return model_.source; }
  std::vector<std::string> metrics() const {
    return {model_.training.metrics().begin(), model_.training.metrics().end()};
  }
  std::string training_spec() const {
    std::string text;
    google::protobuf::TextFormat::PrintToString(model_.training, &text);
    return text;
  }

  /// `spec_text`: training-block fields in protobuf text ("optimizer: 'adam' loss: '...'").
  void Compile(const std::string& spec_text, bool replace_optimizer, bool replace_metrics) {
    proto::TrainingSpec delta;
    if (!google::protobuf::TextFormat::ParseFromString(spec_text, &delta)) {
      Raise(InvalidArgument("compile(): cannot read the training settings '", spec_text, "'"));
    }
    proto::TrainingSpec spec = model_.training;
    if (replace_optimizer) ClearOptimizer(&spec);
    if (replace_metrics) spec.clear_metrics();
    spec.MergeFrom(delta);
    Check(cli::CheckTrainingSpec(spec));
    model_.training = std::move(spec);
    training_.reset();
  }

  /// One dict per epoch: epoch, loss, [accuracy], [val_loss, val_accuracy], seconds.
  nb::list Fit(const InputArray& x, const InputArray& y, const std::optional<InputArray>& x_val,
               const std::optional<InputArray>& y_val, const FitOptions& fit, const nb::object& on_epoch_end) {
    const proto::TrainingSpec& spec = model_.training;
    data::Dataset train = ToDataset(x, y, "x", "y");
    std::optional<data::Dataset> validation;
    if (x_val && y_val) validation = ToDataset(*x_val, *y_val, "validation x", "validation y");
    const int64_t batch = fit.batch_size > 0 ? fit.batch_size : spec.has_batch_size() ? spec.batch_size() : 32;
    const uint64_t seed = fit.seed ? *fit.seed : spec.seed();
    EnsureTraining(batch, seed, !fit.log_dir.empty());

    // The block's trainer options (as kiln train), then fit()'s arguments; Keras' fit trains one epoch by default.
    runtime::TrainerOptions options = runtime::TrainerOptionsFromSpec(spec);
    options.epochs = fit.epochs > 0 ? fit.epochs : spec.has_epochs() ? spec.epochs() : 1;
    options.seed = seed;
    options.shuffle = fit.shuffle;
    options.loss = training_->loss;
    options.monitor = fit.monitor;
    options.patience = fit.patience;
    options.min_delta = fit.min_delta;
    options.restore_best_weights = fit.restore_best_weights;
    options.progress = fit.verbose;
    std::unique_ptr<runtime::TrainingLog> log;
    if (!fit.log_dir.empty()) {
      auto opened = runtime::TrainingLog::Open(fit.log_dir, *training_->step, *training_->eval,
                                               OptimizerFromSpec(spec).hyper.lr, "kiln.Model.fit (" + source() + ")");
      if (!opened.ok()) Raise(opened.status());
      log = std::move(opened).value();
      log->Attach(options);
    }
    std::optional<nb::python_error> callback_error;
    runtime::Trainer* running = nullptr;  // the trainer below, for the callbacks' stop_training
    if (!on_epoch_end.is_none()) {
      // After any observer already set (a TensorBoard log attached to `options` goes first).
      options.on_epoch = [&, before = options.on_epoch](const runtime::EpochStats& st) -> Status {
        if (before) RETURN_IF_ERROR(before(st));
        nb::gil_scoped_acquire held;
        try {
          if (nb::cast<bool>(on_epoch_end(EpochDict(st)))) running->RequestStop();
        } catch (nb::python_error& e) {
          callback_error.emplace(std::move(e));
          return Internal("a callback raised an exception");
        }
        return Status::Ok();
      };
    }
    runtime::Trainer trainer(training_->step.get(), training_->eval.get(), options);
    running = &trainer;
    StatusOr<std::vector<runtime::EpochStats>> history = std::vector<runtime::EpochStats>{};
    {
      nb::gil_scoped_release released;
      Status checked = trainer.CheckEvaluationData(train, "training");
      if (checked.ok() && validation) checked = trainer.CheckEvaluationData(*validation, "validation");
      history = checked.ok() ? trainer.Fit(train, validation ? &*validation : nullptr)
                             : StatusOr<std::vector<runtime::EpochStats>>(checked);
      // The trained weights become the model's. A failed fit (NaN loss, a callback's
      // exception) leaves the model as it was and drops the half-trained step.
      if (history.ok()) {
        Status copied = CopyStatesToGraph(*training_->eval, model_.graph.get());
        if (!copied.ok()) history = copied;
      }
    }
    if (!history.ok()) training_.reset();
    if (callback_error) callback_error->restore(), throw nb::python_error();
    if (!history.ok()) Raise(history.status().WithContext(model_.source));
    nb::list out;
    for (const runtime::EpochStats& st : *history) out.append(EpochDict(st));
    return out;
  }

  /// (loss, accuracy; -1 when the model is not a classifier).
  std::pair<double, double> Evaluate(const InputArray& x, const InputArray& y, int64_t batch_size) {
    data::Dataset ds = ToDataset(x, y, "x", "y");
    const proto::TrainingSpec& spec = model_.training;
    if (!training_) EnsureTraining(batch_size > 0 ? batch_size : 32, spec.seed(), false);
    runtime::TrainerOptions options;
    options.loss = training_->loss;
    options.progress = false;
    runtime::Trainer trainer(training_->step.get(), training_->eval.get(), options);
    StatusOr<runtime::Evaluation> e = runtime::Evaluation{};
    {
      nb::gil_scoped_release released;
      e = trainer.Evaluate(ds);
    }
    if (!e.ok()) Raise(e.status().WithContext(model_.source));
    return {e->loss, e->accuracy};
  }

  std::unique_ptr<InferenceSession> Inference(int threads) const {
    return std::make_unique<InferenceSession>(model_.graph->Clone(), model_.source, threads);
  }

  void Save(const std::string& path) const { Check(SaveModel(*model_.graph, model_.training, path)); }

 private:
  // The compiled training step and evaluation graph, kept across fit() calls (and with
  // them the optimizer's state) while the batch size, seed and compile() settings stay.
  struct Training {
    int64_t batch = 0;
    uint64_t seed = 0;
    bool gradient_outputs = false;
    std::string loss;
    std::unique_ptr<runtime::Session> step, eval;
  };

  static nb::dict EpochDict(const runtime::EpochStats& st) {
    nb::dict d;
    d["epoch"] = st.epoch;
    d["loss"] = st.loss;
    if (st.accuracy >= 0) d["accuracy"] = st.accuracy;
    if (st.val_loss >= 0) d["val_loss"] = st.val_loss;
    if (st.val_accuracy >= 0) d["val_accuracy"] = st.val_accuracy;
    d["seconds"] = st.seconds;
    return d;
  }

  void EnsureTraining(int64_t batch, uint64_t seed, bool gradient_outputs) {
    if (training_ && training_->batch == batch && training_->seed == seed &&
        training_->gradient_outputs == gradient_outputs) {
      return;
    }
    const proto::TrainingSpec& spec = model_.training;
    if (spec.loss().empty()) {
      Raise(InvalidArgument(model_.source,
                            ": no loss: pass loss=... to compile() (or set `loss` in the model's training block)"));
    }
    // The one mapping from a training block to the step (as kiln train), with fit()'s
    // batch size and seed written into the block.
    proto::TrainingSpec fit_spec = spec;
    fit_spec.set_batch_size(batch);
    fit_spec.set_seed(seed);
    auto config = TrainingConfigFromSpec(fit_spec, *model_.graph);
    Check(config.status().WithContext(model_.source));
    config->gradient_outputs = gradient_outputs;  // gradient histograms in a TensorBoard log
    auto training = std::make_unique<Training>();
    training->batch = batch;
    training->seed = seed;
    training->gradient_outputs = gradient_outputs;
    Status status;
    {
      nb::gil_scoped_release released;
      auto program = BuildTrainingProgram(*model_.graph, *config);
      status = program.status().WithContext(model_.source);
      if (program.ok()) {
        training->loss = program->loss;
        auto step = CompileGraph(*program->step, model_.source + " (training step)");
        auto eval = CompileGraph(*program->eval, model_.source + " (evaluation)");
        status = !step.ok() ? step.status() : eval.status();
        if (status.ok()) {
          training->step = std::move(step).value();
          training->eval = std::move(eval).value();
        }
      }
    }
    Check(status);
    training_ = std::move(training);
  }

  Model model_;
  std::unique_ptr<Training> training_;
};

void BindTraining(nb::module_& m) {
  m.def(
      "_check_training_spec",
      [](const std::string& text) {
        proto::TrainingSpec spec;
        if (!google::protobuf::TextFormat::ParseFromString(text, &spec)) {
          Raise(InvalidArgument("cannot read the training settings '", text, "'"));
        }
        Check(cli::CheckTrainingSpec(spec));
      },
      nb::arg("text"));
  nb::class_<FitOptions>(m, "_FitOptions")
      .def(nb::init<>())
      .def_rw("batch_size", &FitOptions::batch_size)
      .def_rw("epochs", &FitOptions::epochs)
      .def_rw("shuffle", &FitOptions::shuffle)
      .def_rw("seed", &FitOptions::seed, nb::arg().none())
      .def_rw("monitor", &FitOptions::monitor)
      .def_rw("patience", &FitOptions::patience)
      .def_rw("min_delta", &FitOptions::min_delta)
      .def_rw("restore_best_weights", &FitOptions::restore_best_weights)
      .def_rw("verbose", &FitOptions::verbose)
      .def_rw("log_dir", &FitOptions::log_dir);
  nb::class_<TrainableModel>(m, "_Model")
      .def_static("load", &TrainableModel::Load, nb::arg("path"))
      .def_prop_ro("name", &TrainableModel::name)
      .def_prop_ro("source", &TrainableModel::source)
      .def_prop_ro("metrics", &TrainableModel::metrics)
      .def_prop_ro("training_spec", &TrainableModel::training_spec)
      .def("compile", &TrainableModel::Compile, nb::arg("spec_text"), nb::arg("replace_optimizer"),
           nb::arg("replace_metrics"))
      .def("fit", &TrainableModel::Fit, nb::arg("x"), nb::arg("y"), nb::arg("x_val").none(), nb::arg("y_val").none(),
           nb::arg("options"), nb::arg("on_epoch_end").none())
      .def("evaluate", &TrainableModel::Evaluate, nb::arg("x"), nb::arg("y"), nb::arg("batch_size"))
      .def("inference_session", &TrainableModel::Inference, nb::arg("threads"))
      .def("save", &TrainableModel::Save, nb::arg("path"));
}

}  // namespace kiln::python
