// The kiln command: dispatches to one subcommand per file in tools/kiln/.
#include <cstdio>
#include <new>
#include <string>
#include <vector>

#include "ir/core/resource_limits.h"
#include "runtime/threading.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"

#ifndef KILN_VERSION
#define KILN_VERSION "unknown"
#endif

namespace {

constexpr char kHelp[] = R"(kiln - compile and run neural network models

Usage: kiln <command> [options]

Commands:
  run     compile a model and run it on input tensors (.npy or .pb)
  dump    print a model's graph after the inference passes (text or Graphviz DOT)
  train   train a model on a data set (compiled training step, Keras-style loop)
  predict classify images (PNG, PGM, PPM) with a trained classifier: top-K classes
  gradcheck  check a model's gradients against finite differences
  compile  compile a model ahead of time: an executable, a library (+ C header), an object or a plan
  bench   time a compiled model: compile time, run latency, arena size, peak RSS
  embeddings  a word2vec model's nearest neighbours and vectors (word2vec text format)

Options:
  -h, --help   show this help
  --version    print the version
  --limit NAME=VALUE  raise or lower a resource limit, any command (max_file_bytes,
               max_decompressed_bytes, max_tensor_bytes, max_arena_bytes; VALUE in bytes,
               K/M/G/T suffixes); also KILN_MAX_FILE_BYTES etc. (docs/reliability.md)

Models: .onnx, .kiln (binary) and .kiln.txt (text, with a Keras-like layer shorthand).

Examples:
  kiln dump examples/iris_mlp.kiln.txt
  kiln run examples/iris_mlp.kiln.txt --input examples/iris_sample.npy
  kiln compile examples/iris_mlp.kiln.txt -o iris && ./iris --input examples/iris_sample.npy
  kiln bench examples/iris_mlp.kiln.txt --batch 64 --threads 2

Run 'kiln <command> --help' for the options of a command.
)";

}  // namespace

namespace {

int Dispatch(std::vector<std::string> args) {
  using namespace kiln::cli;
  // --limit NAME=VALUE is global: taken out here, before any command parses its options.
  for (size_t i = 0; i < args.size();) {
    if (args[i] != "--limit" && args[i].rfind("--limit=", 0) != 0) {
      ++i;
      continue;
    }
    std::string spec = args[i].size() > 7 ? args[i].substr(8) : "";
    size_t taken = 1;
    if (args[i] == "--limit") {
      if (i + 1 >= args.size()) return ReportUsageError("", "--limit needs NAME=VALUE");
      spec = args[i + 1];
      taken = 2;
    }
    const kiln::Status status = kiln::SetLimitFromSpec(spec);
    if (!status.ok()) return ReportUsageError("", status.message());
    args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i + taken));
  }
  if (args.empty()) {
    std::fputs(kHelp, stderr);
    return kExitUsage;
  }
  const std::string command = args[0];
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kHelp, stdout);
    return kExitOk;
  }
  if (command == "--version") {
    std::printf("kiln %s\n", KILN_VERSION);
    return kExitOk;
  }
  if (command == "run") return RunCommand(rest);
  if (command == "dump") return DumpCommand(rest);
  if (command == "train") return TrainCommand(rest);
  if (command == "predict") return PredictCommand(rest);
  if (command == "gradcheck") return GradcheckCommand(rest);
  if (command == "compile") return CompileCommand(rest);
  if (command == "bench") return BenchCommand(rest);
  if (command == "embeddings") return EmbeddingsCommand(rest);
  if (!command.empty() && command[0] == '-') return ReportUsageError("", "unknown option '" + command + "'");
  return ReportUsageError("", "unknown command '" + command + "'");
}

}  // namespace

int main(int argc, char** argv) {
  // May re-execute this program (runtime/threading.h); `kiln train` runs training steps.
  const bool training = argc > 1 && std::string(argv[1]) == "train";
  kiln::runtime::ApplyThreadingDefaults(
      argv, training ? kiln::runtime::Workload::kTraining : kiln::runtime::Workload::kInference);
  try {
    return Dispatch(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::bad_alloc&) {
    // The last resort: sizes are checked against ir/core/resource_limits.h before allocating.
    std::fprintf(stderr, "kiln: %s\n", kiln::OutOfMemoryMessage(argc > 1 ? argv[1] : "kiln").c_str());
    return kiln::cli::kExitError;
  }
}
