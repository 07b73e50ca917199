// The driver of trainers from `kiln compile --train` (installed as libkiln_train_main.a):
// main() over the training-step and evaluation Plans and the model that the generated
// object embeds (kiln_main_train_*; compiler/codegen/plan_object.h). It loads the data
// (--data SPEC, as `kiln train`), runs the runtime's Trainer and writes the trained model.
#include <google/protobuf/text_format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "ir/core/file_io.h"
#include "ir/core/optimizer.h"
#include "ir/core/resource_limits.h"
#include "kiln/runtime.h"
#include "runtime/compiled_kernels.h"
#include "runtime/data/dataset.h"
#include "runtime/session.h"
#include "runtime/training/trainer.h"
#include "tools/kiln_main/driver_util.h"

extern "C" {
extern const unsigned char kiln_main_train_step[];
extern const int64_t kiln_main_train_step_size;
extern const unsigned char kiln_main_train_eval[];
extern const int64_t kiln_main_train_eval_size;
extern const unsigned char kiln_main_train_model[];
extern const int64_t kiln_main_train_model_size;
extern const int32_t kiln_main_num_threads;
extern const kiln_kernel_entry kiln_main_kernels[];
extern const int64_t kiln_main_kernels_count;
extern const char kiln_main_model_name[];
}

namespace kiln::aot {
namespace {

constexpr char kHelp[] = R"(Usage: %s --data SPEC [options]

Trains the compiled model '%s' (loss %s, optimizer %s, batch %lld) and writes the
trained model.

Options:
  --data SPEC          training data (default: the model's training block: '%s')
  --epochs N           epochs (default %lld)
  -o, --out FILE       the trained model (.kiln, or .kiln.txt for text); default: none
  --checkpoint FILE    write a checkpoint after every epoch, with the best weights (and
                       --resume from it; it must match this trainer)
  --resume             continue from --checkpoint when it exists
  --threads N          threads for the kernels (default: %d, 0 = all cores)
  --quiet              no progress bars
  -h, --help           show this help

Data specs:
%s
Examples:
  %s --data csv:iris.csv --epochs 50 --out trained.kiln
)";

template <typename T>
T OrDie(StatusOr<T> v) {
  if (!v.ok()) Die(v.status().message());
  return std::move(v).value();
}

void OrDie(const Status& s) {
  if (!s.ok()) Die(s.message());
}

std::unique_ptr<runtime::Session> MakeSession(const unsigned char* data, int64_t size, int threads, const char* what) {
  proto::Plan plan;
  if (!plan.ParseFromArray(data, static_cast<int>(size))) Die(std::string("embedded ") + what + " plan is corrupt");
  runtime::SessionOptions options;
  options.num_threads = threads;
  // The generated kernels of both plans, compiled into this executable.
  options.compiled_kernels =
      runtime::KernelsFromTable(reinterpret_cast<const runtime::KernelTableEntry*>(kiln_main_kernels),
                                static_cast<size_t>(kiln_main_kernels_count));
  auto s = runtime::Session::Create(std::move(plan), options);
  if (!s.ok()) Die(std::string(what) + ": " + s.status().message());
  return std::move(s).value();
}

// The model with the trained value of every state the evaluation plan shares with it.
Status WriteTrainedModel(proto::Model model, const runtime::Session& eval, const std::string& path) {
  for (proto::Tensor& t : *model.mutable_graph()->mutable_initializer()) {
    const int i = eval.FindState(t.name());
    if (i < 0) continue;
    const TensorRef s = eval.state(i);
    t.clear_float_data();
    t.clear_int64_data();
    t.set_raw_data(s.data, static_cast<size_t>(s.num_bytes()));
  }
  ASSIGN_OR_RETURN(ModelFormat format, ModelFormatForOutput(path));
  std::string bytes;
  const bool ok = format == ModelFormat::kKilnText ? google::protobuf::TextFormat::PrintToString(model, &bytes)
                                                   : model.SerializeToString(&bytes);
  if (!ok) return Internal(path, ": cannot serialize the model");
  return WriteFileAtomically(path, bytes);
}

int Main(int argc, char** argv) {
  SetProgramName(argv[0]);
  proto::Model model;
  if (!model.ParseFromArray(kiln_main_train_model, static_cast<int>(kiln_main_train_model_size))) {
    Die("the embedded model is corrupt");
  }
  proto::TrainingSpec spec = model.training();
  int threads = kiln_main_num_threads;
  std::string out, checkpoint;
  bool quiet = false, resume = false;
  ArgReader args(argc, argv);
  std::string arg;
  while (args.Next(&arg)) {
    auto next = [&] { return args.Value(); };
    if (arg == "-h" || arg == "--help") {
      const char* p = ProgramName().c_str();
      std::printf(kHelp, p, kiln_main_model_name, spec.loss().c_str(),
                  spec.optimizer().empty() ? kDefaultOptimizer : spec.optimizer().c_str(),
                  static_cast<long long>(spec.batch_size()), spec.data().c_str(),
                  static_cast<long long>(runtime::TrainerOptionsFromSpec(spec).epochs), kiln_main_num_threads,
                  data::DataSpecHelp().c_str(), p);
      return 0;
    } else if (arg == "--data") {
      spec.set_data(next());
    } else if (arg == "--epochs") {
      spec.set_epochs(ParseCount(arg, next(), 1, 1000000000));
    } else if (arg == "-o" || arg == "--out") {
      out = next();
    } else if (arg == "--checkpoint") {
      checkpoint = next();
    } else if (arg == "--resume") {
      resume = true;
    } else if (arg == "--threads") {
      threads = static_cast<int>(ParseCount(arg, next(), 0, 4096));
    } else if (arg == "--quiet") {
      quiet = true;
    } else {
      Usage("unknown option '" + arg + "'");
    }
  }
  if (spec.data().empty()) Usage("no training data: pass --data SPEC");
  if (resume && checkpoint.empty()) Usage("--resume needs --checkpoint FILE");
  // Every output checked before the data is loaded, so a finished training is never lost.
  if (!out.empty()) {
    auto format = ModelFormatForOutput(out);
    if (!format.ok()) Usage("-o " + format.status().message());
    if (*format == ModelFormat::kOnnx)
      Usage("-o " + out + ": a compiled trainer writes .kiln or .kiln.txt; export ONNX with kiln train");
    OrDie(CheckOutputPath(out));
  }
  if (!checkpoint.empty()) OrDie(CheckOutputPath(checkpoint));
  if (!out.empty() && !checkpoint.empty()) OrDie(CheckDistinctPaths({}, {{"-o", out}, {"--checkpoint", checkpoint}}));

  data::TrainingData sets = OrDie(data::LoadTrainingData(spec));
  *model.mutable_training()->mutable_input_preprocessing() = sets.preprocessing;  // for predict on the result
  auto step = MakeSession(kiln_main_train_step, kiln_main_train_step_size, threads, "training step");
  auto eval = MakeSession(kiln_main_train_eval, kiln_main_train_eval_size, threads, "evaluation");

  // The embedded block carries the resolved loss and batch size (kiln compile --train).
  runtime::TrainerOptions options = runtime::TrainerOptionsFromSpec(spec);
  const data::TokenIdInput token_ids = data::FindTokenIdInput(model.graph());
  options.token_vocabulary = token_ids.vocabulary;
  options.token_lookup = token_ids.lookup;
  options.checkpoint_path = checkpoint;
  options.resume = resume;
  options.progress = !quiet;
  runtime::Trainer trainer(step.get(), eval.get(), options);
  OrDie(trainer.CheckEvaluationData(sets.train, "training"));
  if (sets.validation) OrDie(trainer.CheckEvaluationData(*sets.validation, "validation"));
  if (sets.test) OrDie(trainer.CheckEvaluationData(*sets.test, "test"));
  if (!quiet) {
    std::printf("Training %s: %lld training samples, loss %s, batch %lld\n", kiln_main_model_name,
                static_cast<long long>(sets.train.size()), spec.loss().c_str(),
                static_cast<long long>(spec.batch_size()));
  }
  const auto history = OrDie(trainer.Fit(sets.train, sets.validation ? &*sets.validation : nullptr));
  if (!history.empty()) {
    const runtime::EpochStats& last = history.back();
    std::printf("Final epoch %lld: loss %.4f", static_cast<long long>(last.epoch), last.loss);
    if (last.accuracy >= 0) std::printf(", accuracy %.4f", last.accuracy);
    std::printf("\n");
  }
  if (sets.test) {
    const runtime::Evaluation e = OrDie(trainer.Evaluate(*sets.test));
    std::printf("Test: loss %.4f", e.loss);
    if (e.accuracy >= 0) std::printf(", accuracy %.4f (%.2f%%)", e.accuracy, 100.0 * e.accuracy);
    std::printf(" on %lld samples\n", static_cast<long long>(e.samples));
  }
  if (!out.empty()) {
    OrDie(trainer.SyncEvalWeights());
    Status written = WriteTrainedModel(model, *eval, out);
    if (!written.ok() && !checkpoint.empty()) {
      Die(written.message() + " (the trained weights are kept in " + checkpoint + "; rerun with --resume)");
    }
    OrDie(written);
    std::printf("Wrote %s\n", out.c_str());
  }
  return 0;
}

}  // namespace
}  // namespace kiln::aot

int main(int argc, char** argv) {
  return kiln::aot::RunGuarded(kiln::aot::Main, argc, argv, kiln::runtime::Workload::kTraining);
}
