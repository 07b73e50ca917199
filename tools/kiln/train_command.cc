// `kiln train`: compile a model's training step (forward, loss, backward,
// optimizer) and run the trainer on a data set; write the trained model.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>

#include "compiler/load.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "ir/core/file_io.h"
#include "ir/core/optimizer.h"
#include "ir/model_io.h"
#include "ir/printer.h"
#include "runtime/data/dataset.h"
#include "runtime/training/curves_svg.h"
#include "runtime/training/summary_writer.h"
#include "runtime/training/trainer.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"
#include "tools/kiln/greedy_decoding.h"
#include "tools/kiln/report_json.h"
#include "tools/kiln/reports.pb.h"

namespace kiln::cli {
namespace {

constexpr char kTrainHelp[] = R"(Usage: kiln train MODEL [--data SPEC] [options]

Compiles the training step of MODEL (forward pass, loss, gradients and the
optimizer's updates, as one graph) and trains it, Keras style: shuffled
mini-batches, a progress bar per epoch, validation, early stopping and
checkpoints. The model file's `training { ... }` block sets the defaults;
these options override it.

Data:
  --data SPEC               the training data (see below); default: the model's `data`
  --preprocess P            scale (x/255), minmax, standardize or none (default: the model's, else none)
  --validation-split F      hold out fraction F of the training data for validation
  --validation-data SPEC    validation data from another spec
  --test-split F            hold out fraction F as the test set when the data has none
Loss and optimizer:
  --loss NAME               sparse_categorical_crossentropy, categorical_crossentropy,
                            binary_crossentropy, mse, half_sse (default: from the model's
                            output: classes -> sparse_categorical_crossentropy, one column
                            after a Sigmoid -> binary_crossentropy, else mse)
  --optimizer NAME          sgd, momentum, nesterov, adagrad, adadelta, rmsprop, adam (default sgd)
  --lr X                    learning rate (default 0.01; adam 0.001; adadelta 1.0)
  --momentum X, --nesterov  momentum for sgd/momentum/nesterov
  --beta1 X, --beta2 X, --epsilon X, --rho X, --weight-decay X
  --clip-norm X             clip the gradients by their global norm
Loop:
  --epochs N                default 10          --batch N      default 32
  --seed N                  shuffling and dropout (default 0)
  --no-shuffle              keep the data order
  --patience N              early stopping after N epochs without improvement
  --monitor M               val_loss (default), val_accuracy, loss, accuracy
  --min-delta X             smallest change that counts as an improvement
  --no-restore-best         keep the last weights instead of the best ones
  --reduce-lr-patience N    ReduceLROnPlateau: multiply the learning rate by --reduce-lr-factor
                            (default 0.1) after N epochs without an improvement of
                            --reduce-lr-monitor (default val_loss, else loss) by more than
                            --reduce-lr-min-delta (default 0.0001), never below --reduce-lr-min (0)
  --checkpoint FILE         write a checkpoint (atomically) every --checkpoint-every epochs;
                            it keeps the best weights too
  --resume                  continue from --checkpoint when it exists (it must be a valid
                            checkpoint of this training step, else an error)
Output:
  -o, --out FILE            the trained model; the extension picks the format: .kiln
                            (binary), .kiln.txt (text) or .onnx (ONNX export)
  --export-onnx FILE.onnx   also write the trained model as ONNX
  --decoder-out FILE        seq2seq models (a greedy_decoding block): also write the
                            compiled greedy decoder (encoder ids in, decoded ids out)
  --force                   write into an existing device or FIFO (otherwise refused)
  --threads N               oneDNN threads (default: all cores)
  --device cpu|cuda         where the training step runs (default: cpu; cuda: forward,
                            backward and optimizer updates on the GPU, the weights kept
                            there between steps, docs/cuda.md)
  --dump-step FILE          write the compiled training step's graph (as kiln dump --train
                            prints it) to FILE
  --report-json FILE        write the run as JSON: per-epoch seconds and metrics,
                            compile time, threads, batch and steps per epoch
  --logdir DIR              write TensorBoard logs (DIR/train, DIR/validation): loss and
                            accuracy per step and per epoch, learning rate, weight
                            histograms; watch with `tensorboard --logdir DIR`
  --plot FILE.svg           write the loss and accuracy curves as an SVG image
  --quiet                   no progress output
  --predict N               print the predictions for the first N test samples
  --profile                 print the time of each training-step kernel at the end
  -h, --help                show this help

Data specs:
%s
Examples:
  kiln train examples/fashion_mnist_mlp.kiln.txt --epochs 10 -o fmnist.kiln
  kiln train examples/iris_mlp.kiln.txt --data csv:examples/data/iris.csv --test-split 0.5
  kiln train model.kiln.txt --data npy:x.npy,y.npy --optimizer adam --lr 0.001 --patience 3
)";

StatusOr<float> ParseFloatOption(const std::string& option, const std::string& value) {
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v)) {
    return InvalidArgument("option '", option, "' needs a number, got '", value, "'");
  }
  return static_cast<float>(v);
}

// "" (the default) or one of `valid`.
Status CheckName(const char* what, const std::string& name, std::initializer_list<const char*> valid) {
  if (name.empty()) return Status::Ok();
  std::string list;
  for (const char* v : valid) {
    if (name == v) return Status::Ok();
    list += (list.empty() ? "" : v == *(valid.end() - 1) ? " or " : ", ") + std::string(v);
  }
  return InvalidArgument("unknown ", what, " '", name, "' (expected ", list, ")");
}

// The model's training spec with the command-line overrides applied. Applied to
// an empty spec, it checks the command line alone.
StatusOr<proto::TrainingSpec> MergeSpec(const proto::TrainingSpec& file, const ParsedArgs& a) {
  proto::TrainingSpec s = file;
  auto str = [&](const char* opt, std::string* field) {
    if (a.options.count(opt)) *field = a.Get(opt);
  };
  std::string v;
  str("--data", s.mutable_data());
  str("--preprocess", s.mutable_preprocess());
  str("--validation-data", s.mutable_validation_data());
  str("--loss", s.mutable_loss());
  str("--optimizer", s.mutable_optimizer());
  for (const char* opt : {"--lr", "--momentum", "--beta1", "--beta2", "--epsilon", "--rho", "--weight-decay",
                          "--clip-norm", "--validation-split", "--test-split", "--min-delta", "--reduce-lr-factor",
                          "--reduce-lr-min", "--reduce-lr-min-delta"}) {
    if (!a.options.count(opt)) continue;
    ASSIGN_OR_RETURN(float x, ParseFloatOption(opt, a.Get(opt)));
    const std::string o = opt;
    if (o == "--lr") s.set_learning_rate(x);
    if (o == "--momentum") s.set_momentum(x);
    if (o == "--beta1") s.set_beta1(x);
    if (o == "--beta2") s.set_beta2(x);
    if (o == "--epsilon") s.set_epsilon(x);
    if (o == "--rho") s.set_rho(x);
    if (o == "--weight-decay") s.set_weight_decay(x);
    if (o == "--clip-norm") s.set_clip_norm(x);
    if (o == "--validation-split") s.set_validation_split(x);
    if (o == "--test-split") s.set_test_split(x);
    if (o == "--min-delta") s.mutable_early_stopping()->set_min_delta(x);
    if (o == "--reduce-lr-factor") s.mutable_reduce_lr_on_plateau()->set_factor(x);
    if (o == "--reduce-lr-min") s.mutable_reduce_lr_on_plateau()->set_min_lr(x);
    if (o == "--reduce-lr-min-delta") s.mutable_reduce_lr_on_plateau()->set_min_delta(x);
  }
  for (const char* opt : {"--epochs", "--batch", "--patience", "--checkpoint-every", "--reduce-lr-patience"}) {
    if (!a.options.count(opt)) continue;
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt(opt, a.Get(opt)));
    const std::string o = opt;
    if (o == "--epochs") s.set_epochs(n);
    if (o == "--batch") s.set_batch_size(n);
    if (o == "--patience") s.mutable_early_stopping()->set_patience(n);
    if (o == "--checkpoint-every") s.set_checkpoint_every(n);
    if (o == "--reduce-lr-patience") s.mutable_reduce_lr_on_plateau()->set_patience(n);
  }
  if (a.options.count("--seed")) {
    char* end = nullptr;
    const std::string seed = a.Get("--seed");
    const unsigned long long n = std::strtoull(seed.c_str(), &end, 10);
    if (seed.empty() || *end != '\0')
      return InvalidArgument("option '--seed' needs a non-negative integer, got '", seed, "'");
    s.set_seed(n);
  }
  if (a.options.count("--monitor")) s.mutable_early_stopping()->set_monitor(a.Get("--monitor"));
  if (a.options.count("--reduce-lr-monitor"))
    s.mutable_reduce_lr_on_plateau()->set_monitor(a.Get("--reduce-lr-monitor"));
  if (a.Has("--nesterov")) s.set_nesterov(true);
  if (a.Has("--no-shuffle")) s.set_no_shuffle(true);
  if (a.Has("--no-restore-best")) s.mutable_early_stopping()->set_restore_best_weights(false);
  RETURN_IF_ERROR(CheckTrainingSpec(s));
  if (!s.has_epochs()) s.set_epochs(runtime::kDefaultEpochs);
  if (!s.has_batch_size()) s.set_batch_size(kDefaultBatchSize);
  return s;
}

}  // namespace

Status CheckTrainingSpec(const proto::TrainingSpec& s) {
  RETURN_IF_ERROR(ValidateTrainingSpec(s));
  if (!s.loss().empty()) RETURN_IF_ERROR(CanonicalLossName(s.loss()).status());
  if (!s.optimizer().empty() && !FindOptimizer(s.optimizer())) {
    return InvalidArgument("unknown optimizer '", s.optimizer(), "' (expected ", OptimizerNameList(), ")");
  }
  RETURN_IF_ERROR(CheckName("preprocessing", s.preprocess(), {"scale", "minmax", "standardize", "none"}));
  RETURN_IF_ERROR(CheckName("monitor", s.early_stopping().monitor(), {"val_loss", "val_accuracy", "loss", "accuracy"}));
  RETURN_IF_ERROR(CheckName("reduce_lr_on_plateau.monitor", s.reduce_lr_on_plateau().monitor(),
                            {"val_loss", "val_accuracy", "loss", "accuracy"}));
  for (const std::string& m : s.metrics()) {
    if (m != "loss" && m != "accuracy" && m != "acc") {
      return InvalidArgument("unknown metric '", m, "' (expected loss or accuracy)");
    }
  }
  return Status::Ok();
}

namespace {

// `kiln train --report-json`: what benchmarks and scripts read (bench/train_mlp.sh).
Status WriteReport(const std::string& path, const std::string& model, const TrainingConfig& config, int threads,
                   int64_t train_samples, double compile_seconds, const std::vector<runtime::EpochStats>& history,
                   const WriteOptions& write) {
  reports::TrainingReport r;
  r.set_model(model);
  r.set_optimizer(config.optimizer.name);
  r.set_learning_rate(config.optimizer.hyper.lr);
  r.set_batch_size(static_cast<int32_t>(config.batch_size));
  r.set_threads(threads);
  r.set_train_samples(static_cast<int32_t>(train_samples));
  r.set_steps_per_epoch(static_cast<int32_t>(train_samples / config.batch_size));
  r.set_compile_seconds(compile_seconds);
  for (const runtime::EpochStats& e : history) {
    reports::EpochReport* epoch = r.add_epochs();
    epoch->set_epoch(static_cast<int32_t>(e.epoch));
    epoch->set_seconds(e.seconds);
    epoch->set_loss(e.loss);
    if (e.accuracy >= 0) epoch->set_accuracy(e.accuracy);
    if (e.val_loss >= 0) epoch->set_val_loss(e.val_loss);
    if (e.val_accuracy >= 0) epoch->set_val_accuracy(e.val_accuracy);
    if (e.learning_rate >= 0) epoch->set_learning_rate(e.learning_rate);
  }
  return WriteFileAtomically(path, ReportJson(r, /*indented=*/true), write);
}

StatusOr<std::unique_ptr<runtime::Session>> CompileSession(Graph& g, const std::string& device, int threads,
                                                           bool profile, const std::string& what) {
  CompileOptions compile;
  compile.device = device;
  compile.prepare_for_inference = false;  // BuildTrainingProgram optimized it already
  runtime::SessionOptions options;
  options.num_threads = threads;
  options.profile = profile;
  auto session = CompileAndLoad(g, compile, options);
  if (!session.ok()) return session.status().WithContext(what);
  return session;
}

// The trained model: the original graph with the trained values of every
// parameter (and batch-norm statistic) in place of the initial ones.
Status WriteTrainedModel(const Model& model, const runtime::Session& eval, const proto::TrainingSpec& spec,
                         const std::string& out, const std::string& onnx_out, const WriteOptions& write) {
  std::unique_ptr<Graph> trained = model.graph->Clone();
  RETURN_IF_ERROR(CopyStatesToGraph(eval, trained.get()));
  // Every output is serialized (and the ONNX one checked) before any is written, so
  // a failure leaves no output behind; each write is atomic.
  std::string kiln_bytes, onnx_bytes;
  if (!out.empty()) {
    ASSIGN_OR_RETURN(kiln_bytes, SerializeModel(*trained, spec, out));
  }
  if (!onnx_out.empty()) {
    ASSIGN_OR_RETURN(onnx_bytes, SerializeModel(*trained, spec, onnx_out));
  }
  if (!out.empty()) RETURN_IF_ERROR(WriteFileAtomically(out, kiln_bytes, write));
  if (!onnx_out.empty()) {
    Status st = WriteFileAtomically(onnx_out, onnx_bytes, write);
    if (!st.ok() && !out.empty()) std::remove(out.c_str());
    RETURN_IF_ERROR(st);
  }
  return Status::Ok();
}

// Every file `kiln train` will write, checked before the data is loaded or anything is
// compiled, so no late failure loses a finished training: known model formats, no
// output that is the model or another output, existing writable directories.
// Returns the exit code of a failed check (0: all good).
int CheckTrainOutputs(const ParsedArgs& a) {
  const bool force = a.Has("--force");
  NamedPaths outputs;
  for (const char* opt :
       {"--out", "--export-onnx", "--report-json", "--checkpoint", "--plot", "--dump-step", "--decoder-out"}) {
    if (a.options.count(opt)) outputs.push_back({opt, a.Get(opt)});
  }
  if (a.options.count("--out")) {
    auto f = ModelFormatForOutput(a.Get("--out"));
    if (!f.ok()) return ReportUsageError("train", "-o " + f.status().message());
  }
  if (a.options.count("--export-onnx")) {
    auto f = ModelFormatForOutput(a.Get("--export-onnx"));
    if (!f.ok() || *f != ModelFormat::kOnnx) {
      return ReportUsageError("train", "--export-onnx " + a.Get("--export-onnx") + ": the name must end in .onnx");
    }
  }
  Status distinct = CheckDistinctPaths({{"model", a.positional[0]}}, outputs);
  if (!distinct.ok()) return ReportUsageError("train", distinct.message());
  for (const auto& [opt, path] : outputs) {
    // A checkpoint is read back by --resume: always a regular file.
    Status st = CheckOutputPath(path, force && std::string(opt) != "--checkpoint");
    if (!st.ok()) return ReportError(st.WithContext(opt));
  }
  return kExitOk;
}

// "<index> (<name>)" when the training spec names the classes.
std::string ClassName(const proto::TrainingSpec& spec, int64_t c) {
  std::string s = std::to_string(c);
  if (c >= 0 && c < spec.class_names_size()) s += " (" + spec.class_names(static_cast<int>(c)) + ")";
  return s;
}

// Up to 8 values of a row, "0.7160 0.7030 ...".
std::string FormatValues(const float* v, int64_t count) {
  std::string s;
  char buf[32];
  for (int64_t i = 0; i < std::min<int64_t>(count, 8); ++i) {
    std::snprintf(buf, sizeof buf, "%s%.4f", i ? " " : "", v[i]);
    s += buf;
  }
  return count > 8 ? s + " ..." : s;
}

// The first `n` test samples: predicted class with its probability, and the truth; for
// models that predict values (regression, forecasts, several independent bits) the values.
Status PrintPredictions(runtime::Session& eval, const data::Dataset& test, int64_t n, const proto::TrainingSpec& spec,
                        const std::string& loss) {
  const TensorRef in = eval.input(0);
  const int64_t batch = in.dims.empty() ? 1 : in.dims[0];
  ASSIGN_OR_RETURN(data::BatchIterator it, data::BatchIterator::Create(test, batch));
  it.StartEpoch(0, false);
  const TensorRef pred = eval.output(0);
  const int64_t width = pred.num_elements() / batch;
  std::printf("Predictions on the first %lld test samples:\n", static_cast<long long>(std::min(n, test.size())));
  for (int64_t b = 0; b * batch < std::min(n, test.size()); ++b) {
    ASSIGN_OR_RETURN(int64_t valid, it.FillPadded(b, in.data, nullptr));
    RETURN_IF_ERROR(eval.Run());
    for (int64_t i = 0; i < valid && b * batch + i < n; ++i) {
      const float* p = pred.as<float>() + i * width;
      const int64_t row = b * batch + i;
      const bool values = !test.has_class_labels() && loss != "categorical_crossentropy" &&
                          !(loss == "binary_crossentropy" && width == 1);
      if (values) {
        std::printf("  #%-5lld predicted %s  true %s\n", static_cast<long long>(row), FormatValues(p, width).c_str(),
                    FormatValues(test.labels.data_as<float>() + row * width, width).c_str());
        continue;
      }
      const int64_t top = width == 1 ? (p[0] >= 0.5f) : std::max_element(p, p + width) - p;
      const float prob = width == 1 ? (top ? p[0] : 1.0f - p[0]) : p[top];
      std::printf("  #%-5lld predicted %-22s p=%.3f", static_cast<long long>(row), ClassName(spec, top).c_str(), prob);
      if (test.has_class_labels()) {
        const int64_t truth = test.labels.data_as<int64_t>()[row];
        std::printf("  true %-22s %s", ClassName(spec, truth).c_str(), truth == top ? "ok" : "WRONG");
      }
      std::printf("\n");
    }
  }
  return Status::Ok();
}

Status Train(const ParsedArgs& args) {
  const std::string model_path = args.positional[0];
  const bool quiet = args.Has("--quiet");
  ASSIGN_OR_RETURN(Model model, LoadModel(model_path));
  // The file's block on its own (a flag overriding a bad value does not make the file valid),
  // then with the flags applied (which were checked alone: errors are the file's).
  RETURN_IF_ERROR(ValidateTrainingSpec(model.training).WithContext(model_path));
  auto merged = MergeSpec(model.training, args);
  if (!merged.ok()) return merged.status().WithContext(model_path);
  // ONNX outputs: an export the untrained graph cannot make (Kiln-only ops) fails now,
  // not after the last epoch (training changes values, never ops).
  for (const char* opt : {"--out", "--export-onnx"}) {
    const std::string path = args.Get(opt);
    auto format = ModelFormatForOutput(path);
    if (!path.empty() && format.ok() && *format == ModelFormat::kOnnx) {
      RETURN_IF_ERROR(SerializeModel(*model.graph, model.training, path).status());
    }
  }
  proto::TrainingSpec spec = std::move(merged).value();
  if (args.options.count("--decoder-out") && !spec.has_greedy_decoding()) {
    return InvalidArgument(model_path, ": --decoder-out needs a greedy_decoding block in the model's training block");
  }
  RETURN_IF_ERROR(CheckDecoderVocabulary(*model.graph, spec.greedy_decoding()).WithContext(model_path));
  if (spec.data().empty()) {
    return InvalidArgument(model_path, ": no training data: pass --data SPEC (or set `data` in the training block)");
  }
  int threads = 0;
  if (args.options.count("--threads")) {
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt("--threads", args.Get("--threads")));
    threads = static_cast<int>(n);
  }

  // Data: train / validation / test, preprocessed with statistics of the training set.
  ASSIGN_OR_RETURN(data::TrainingData sets, data::LoadTrainingData(spec));
  data::Dataset train = std::move(sets.train);
  std::optional<data::Dataset> validation = std::move(sets.validation), test = std::move(sets.test);
  *spec.mutable_input_preprocessing() = sets.preprocessing;  // written into the trained model for predict

  // Compile the training step and the evaluation graph.
  const auto compile_start = std::chrono::steady_clock::now();
  auto config = TrainingConfigFromSpec(spec, *model.graph);
  if (!config.ok()) return config.status().WithContext(model_path);
  config->gradient_outputs = args.options.count("--logdir") > 0;  // gradient histograms
  config->device = args.Get("--device", "cpu");
  auto program = BuildTrainingProgram(*model.graph, *config);
  if (!program.ok()) return program.status().WithContext(model_path);
  if (args.options.count("--dump-step")) {
    RETURN_IF_ERROR(
        WriteFileAtomically(args.Get("--dump-step"), PrintGraph(*program->step), WriteOptions{args.Has("--force")}));
  }
  const bool profile = args.Has("--profile");
  const std::string device = args.Get("--device", "cpu");
  ASSIGN_OR_RETURN(auto step,
                   CompileSession(*program->step, device, threads, profile, model_path + " (training step)"));
  ASSIGN_OR_RETURN(auto eval, CompileSession(*program->eval, device, threads, false, model_path + " (evaluation)"));
  const double compile_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count();
  if (!quiet) {
    std::printf("Training %s: %zu parameter tensors, loss %s, optimizer %s (lr %g), batch %lld, compiled in %.2fs\n",
                model.graph->name().c_str(), program->parameters.size(), program->loss.c_str(),
                config->optimizer.name.c_str(), config->optimizer.hyper.lr, static_cast<long long>(config->batch_size),
                compile_seconds);
    std::printf("Data: %lld training samples%s%s\n", static_cast<long long>(train.size()),
                validation ? (", " + std::to_string(validation->size()) + " validation").c_str() : "",
                test ? (", " + std::to_string(test->size()) + " test").c_str() : "");
  }

  runtime::TrainerOptions options = runtime::TrainerOptionsFromSpec(spec);
  options.loss = program->loss;  // resolved (the block may name none)
  const data::TokenIdInput token_ids = data::FindTokenIdInput(ModelToProto(*model.graph, spec).graph());
  options.token_vocabulary = token_ids.vocabulary;
  options.token_lookup = token_ids.lookup;
  options.checkpoint_path = args.Get("--checkpoint");
  options.resume = args.Has("--resume");
  options.progress = !quiet;
  std::unique_ptr<runtime::TrainingLog> log;
  if (args.options.count("--logdir")) {
    ASSIGN_OR_RETURN(log, runtime::TrainingLog::Open(args.Get("--logdir"), *step, *eval, config->optimizer.hyper.lr,
                                                     args.command_line));
    log->Attach(options);
  }
  runtime::Trainer trainer(step.get(), eval.get(), options);
  // Every set against the model now, so a bad test set is not found only after training.
  for (const auto& [ds, what] : {std::pair<const data::Dataset*, const char*>{&train, "training"},
                                 {validation ? &*validation : nullptr, "validation"},
                                 {test ? &*test : nullptr, "test"}}) {
    if (ds) RETURN_IF_ERROR(trainer.CheckEvaluationData(*ds, what).WithContext(model_path));
  }
  const auto start = std::chrono::steady_clock::now();
  auto fitted = trainer.Fit(train, validation ? &*validation : nullptr);
  if (!fitted.ok()) return fitted.status().WithContext(model_path);
  const std::vector<runtime::EpochStats> history = std::move(fitted).value();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const WriteOptions write{args.Has("--force")};
  // A failed report is returned only after the trained model is written: it costs no weights.
  Status report;
  if (args.options.count("--report-json")) {
    report = WriteReport(args.Get("--report-json"), model_path, *config, threads, train.size(), compile_seconds,
                         history, write);
  }
  if (report.ok() && args.options.count("--plot")) {
    report = WriteFileAtomically(args.Get("--plot"), runtime::TrainingCurvesSvg(history, model.graph->name()), write);
  }

  if (test) {
    ASSIGN_OR_RETURN(runtime::Evaluation e, trainer.Evaluate(*test));
    std::printf("Test: loss %.4f", e.loss);
    if (e.accuracy >= 0) std::printf(", accuracy %.4f (%.2f%%)", e.accuracy, 100.0 * e.accuracy);
    std::printf(" on %lld samples\n", static_cast<long long>(e.samples));
  }
  if (spec.has_greedy_decoding()) {
    std::unique_ptr<Graph> trained = model.graph->Clone();
    RETURN_IF_ERROR(CopyStatesToGraph(*eval, trained.get()));
    RETURN_IF_ERROR(ReportGreedyDecoding(*trained, spec.greedy_decoding(), test ? &*test : nullptr, config->batch_size,
                                         threads, args.Get("--decoder-out"), write)
                        .WithContext(model_path));
  }
  if (!quiet) {
    std::printf("Trained %zu epoch(s) in %.1fs\n", history.size(), seconds);
  }
  if (profile) std::printf("Training step profile:\n%s", step->ProfileReport().c_str());
  if (args.options.count("--predict")) {
    ASSIGN_OR_RETURN(int64_t n, ParsePositiveInt("--predict", args.Get("--predict")));
    if (!test) return InvalidArgument("--predict needs test data (a data spec with a test set, or --test-split)");
    RETURN_IF_ERROR(PrintPredictions(*eval, *test, n, spec, program->loss));
  }
  const std::string out = args.Get("--out");
  const std::string onnx_out = args.Get("--export-onnx");
  Status written = WriteTrainedModel(model, *eval, spec, out, onnx_out, write);
  if (!written.ok() && !options.checkpoint_path.empty()) {
    return Status(written.code(), written.message() + " (the trained weights are kept in " + options.checkpoint_path +
                                      "; rerun with --resume to write them)");
  }
  RETURN_IF_ERROR(written);
  if (!out.empty()) std::printf("Wrote %s\n", out.c_str());
  if (!onnx_out.empty()) std::printf("Wrote %s\n", onnx_out.c_str());
  return report;
}

}  // namespace

int TrainCommand(const std::vector<std::string>& args) {
  ArgSpec spec{"train",
               {"--nesterov", "--no-shuffle", "--no-restore-best", "--resume", "--quiet", "--profile", "--force"},
               {"--data",
                "--preprocess",
                "--validation-split",
                "--validation-data",
                "--test-split",
                "--loss",
                "--optimizer",
                "--lr",
                "--momentum",
                "--beta1",
                "--beta2",
                "--epsilon",
                "--rho",
                "--weight-decay",
                "--clip-norm",
                "--epochs",
                "--batch",
                "--seed",
                "--patience",
                "--monitor",
                "--min-delta",
                "--reduce-lr-patience",
                "--reduce-lr-factor",
                "--reduce-lr-min",
                "--reduce-lr-min-delta",
                "--reduce-lr-monitor",
                "--checkpoint",
                "--checkpoint-every",
                "--out",
                "--export-onnx",
                "--decoder-out",
                "--threads",
                "--device",
                "--report-json",
                "--logdir",
                "--plot",
                "--dump-step",
                "--predict"},
               {{"-o", "--out"}}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("train", parsed.status().message());
  if (parsed->help) {
    std::printf(kTrainHelp, data::DataSpecHelp().c_str());
    return kExitOk;
  }
  if (parsed->positional.size() != 1) {
    return ReportUsageError("train", parsed->positional.empty() ? "missing MODEL" : "expected one MODEL");
  }
  // Option values are command-line mistakes (exit 2); the model file's are checked later.
  auto flags = MergeSpec(proto::TrainingSpec(), *parsed);
  if (!flags.ok()) return ReportUsageError("train", flags.status().message());
  if (parsed->options.count("--threads")) {
    auto n = ParsePositiveInt("--threads", parsed->Get("--threads"));
    if (!n.ok()) return ReportUsageError("train", n.status().message());
  }
  if (parsed->Has("--resume") && !parsed->options.count("--checkpoint")) {
    return ReportUsageError("train", "--resume needs --checkpoint FILE");
  }
  if (int code = CheckTrainOutputs(*parsed)) return code;
  std::string device;
  if (int rc = ResolveDevice(*parsed, /*runs_here=*/true, &device); rc != kExitOk) return rc;
  Status status = Train(*parsed);
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace kiln::cli
