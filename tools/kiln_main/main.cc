// The driver of executables from `kiln compile --emit exe` (installed as libkiln_main.a):
// main() over the plan that the generated object embeds under the kiln_main_* symbols
// (compiler/codegen/plan_object.h). It reads inputs (.npy, ONNX .pb, raw float32 from
// stdin), runs the model through the C API, prints the outputs (top-k classes for a
// classifier), and can time repeated runs.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "ir/core/file_io.h"
#include "ir/core/npy.h"
#include "ir/core/onnx_tensor.h"
#include "ir/core/resource_limits.h"
#include "kiln/runtime.h"
#include "runtime/data/image.h"
#include "runtime/data/token_text.h"
#include "tools/common/tensor_format.h"
#include "tools/kiln_main/driver_util.h"

extern "C" {
extern const unsigned char kiln_main_plan[];
extern const int64_t kiln_main_plan_size;
extern const int32_t kiln_main_num_threads;
extern const kiln_kernel_entry kiln_main_kernels[];
extern const int64_t kiln_main_kernels_count;
extern const char kiln_main_model_name[];
extern const unsigned char kiln_main_training[];  // serialized kiln.proto.TrainingSpec
extern const int64_t kiln_main_training_size;
}

namespace kiln::aot {
namespace {

constexpr char kHelp[] = R"(Usage: %s [--input [NAME=]FILE ...] [options]

Runs the compiled model '%s' on its inputs and prints its outputs; for a
classifier (one output of shape [1, K]) also the top classes with probabilities.

Inputs (one per model input, by name or in order):
  -i, --input [NAME=]FILE  a .npy or ONNX TensorProto (.pb) file; FILE '-' reads raw
                           little-endian float32 from stdin
  --image FILE             a PNG, PGM or PPM image of any size for an image model (one
                           input): converted as `kiln predict` does (grayscale, inverted
                           when the background is light, fitted, normalized as in training)
  --text TEXT              a question for a seq2seq greedy decoder (kiln train --decoder-out;
                           repeatable): encoded with the vocabulary it was trained with,
                           prints the decoded answer, one line per --text

Options:
  --threads N        threads for the kernels (default: %d, 0 = all cores)
  --bench N          time N runs (after one warm-up) and print the median
  --top K            classes to show for a classifier (default 5)
  --output-dir DIR   write each output to DIR/NAME.npy instead of printing it
  --info             print the model's inputs and outputs and exit
  -h, --help         show this help

Model inputs:
%s
Examples:
  %s --input x.npy
  %s --input image=digit.pb --top 3
  %s --text 57+648           (a compiled greedy decoder)
  cat x.f32 | %s --input -
)";

void Check(kiln_status status, const std::string& context) {
  if (status != KILN_OK) Die(context + kiln_last_error());
}

int NumInputs(const kiln_session* s) {
  int n = 0;
  Check(kiln_session_num_inputs(s, &n), "");
  return n;
}

int NumOutputs(const kiln_session* s) {
  int n = 0;
  Check(kiln_session_num_outputs(s, &n), "");
  return n;
}

std::string TypeString(const kiln_tensor_info& info) {
  std::string s = std::string(kiln_dtype_name(info.dtype)) + "[";
  for (int d = 0; d < info.rank; ++d) s += (d ? ", " : "") + std::to_string(info.dims[d]);
  return s + "]";
}

struct Options {
  std::vector<std::string> inputs;
  std::string image;
  std::vector<std::string> texts;
  int threads = -1;
  int bench = 0;
  int top = 5;
  bool top_given = false;
  std::string output_dir;
  bool info = false;
};

Options ParseArgs(int argc, char** argv, const std::string& inputs_help) {
  Options o;
  ArgReader args(argc, argv);
  std::string arg;
  while (args.Next(&arg)) {
    auto next = [&] { return args.Value(); };
    if (arg == "-h" || arg == "--help") {
      const char* p = ProgramName().c_str();
      std::printf(kHelp, p, kiln_main_model_name, kiln_main_num_threads, inputs_help.c_str(), p, p, p, p);
      std::exit(0);
    } else if (arg == "-i" || arg == "--input") {
      o.inputs.push_back(next());
    } else if (arg == "--image") {
      o.image = next();
    } else if (arg == "--text") {
      o.texts.push_back(next());
    } else if (arg == "--threads") {
      o.threads = static_cast<int>(ParseCount(arg, next(), 0, 4096));
    } else if (arg == "--bench") {
      o.bench = static_cast<int>(ParseCount(arg, next(), 1));
    } else if (arg == "--top") {
      o.top = static_cast<int>(ParseCount(arg, next(), 1));
      o.top_given = true;
    } else if (arg == "--output-dir") {
      o.output_dir = next();
    } else if (arg == "--info") {
      o.info = true;
    } else {
      Usage("unknown option '" + arg + "'");
    }
  }
  return o;
}

// A file or `-` (stdin), refused as soon as it passes max_file_bytes (an endless pipe).
std::string ReadAll(const std::string& file, const std::string& where) {
  auto bytes = ReadFileBounded(file);
  if (!bytes.ok()) Die(file == "-" ? where + ": " + bytes.status().message() : bytes.status().message());
  return std::move(bytes).value();
}

// Reads `file` for input `info`, checking dtype and shape; returns the bytes to copy in.
std::string ReadInput(const std::string& file, const kiln_tensor_info& info) {
  const std::string where = "input '" + std::string(info.name) + "' (" + (file == "-" ? "stdin" : file) + ")";
  if (file == "-") {
    if (info.dtype != KILN_DTYPE_FLOAT32)
      Die(where + ": raw stdin input must be float32, the model wants " + TypeString(info));
    std::string bytes = ReadAll("-", where);
    if (bytes.size() != info.size_bytes) {
      Die(where + ": got " + std::to_string(bytes.size()) + " bytes, " + TypeString(info) + " needs " +
          std::to_string(info.size_bytes));
    }
    return bytes;
  }
  const std::string bytes = ReadAll(file, where);
  auto tensor = HasNpyMagic(bytes) ? ParseNpy(bytes, file) : ParseOnnxTensor(bytes, file);
  if (!tensor.ok()) Die(tensor.status().message());
  const Tensor& t = *tensor;
  bool match =
      static_cast<int>(t.dtype()) == static_cast<int>(info.dtype) && static_cast<int>(t.dims().size()) == info.rank;
  for (int d = 0; match && d < info.rank; ++d) match = t.dims()[d] == info.dims[d];
  if (!match) {
    Die(where + ": " + DTypeName(t.dtype()) + DimsToString(t.dims()) + " does not match the model's " +
        TypeString(info));
  }
  return std::string(static_cast<const char*>(t.data()), static_cast<size_t>(t.num_bytes()));
}

// Assigns NAME=FILE by name and plain FILEs in order.
std::vector<std::string> BindInputs(kiln_session* s, const std::vector<std::string>& specs) {
  const int n = NumInputs(s);
  std::vector<std::string> files(n);
  std::vector<std::string> ordered;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    int index = -1;
    if (eq != std::string::npos && kiln_session_find_input(s, spec.substr(0, eq).c_str(), &index) != KILN_OK) {
      std::ifstream probe(spec);
      if (!probe) Die(spec.substr(0, eq) + ": " + kiln_last_error());
    }
    if (index < 0) {
      ordered.push_back(spec);
      continue;
    }
    if (!files[index].empty()) Usage("input '" + spec.substr(0, eq) + "' is given twice");
    files[index] = spec.substr(eq + 1);
  }
  int next = 0;
  for (const std::string& file : ordered) {
    while (next < n && !files[next].empty()) ++next;
    if (next == n) Usage("the model has " + std::to_string(n) + " input(s) but more were given ('" + file + "')");
    files[next] = file;
  }
  for (int i = 0; i < n; ++i) {
    kiln_tensor_info info;
    Check(kiln_session_input_info(s, i, &info), "");
    if (files[i].empty()) {
      Usage("input '" + std::string(info.name) + "' (" + TypeString(info) + ") is missing: pass --input " + info.name +
            "=FILE");
    }
  }
  return files;
}

TensorRef OutputRef(kiln_session* s, int i, kiln_tensor_info* info) {
  Check(kiln_session_output_info(s, i, info), "");
  const void* data = nullptr;
  size_t size = 0;
  Check(kiln_session_output(s, i, &data, &size), "");
  TensorRef ref;
  ref.dtype = static_cast<DType>(info->dtype);
  ref.dims.assign(info->dims, info->dims + info->rank);
  ref.data = const_cast<void*>(data);
  return ref;
}

// A classifier's scores: probabilities as they are when they already form a
// distribution, else softmax of the logits.
void PrintTopClasses(const TensorRef& out, int top) {
  const float* v = out.as<float>();
  const int64_t k = out.dims[1];
  double sum = 0;
  bool distribution = true;
  for (int64_t i = 0; i < k; ++i) {
    distribution = distribution && v[i] >= 0 && v[i] <= 1;
    sum += v[i];
  }
  distribution = distribution && std::fabs(sum - 1.0) < 1e-3;
  std::vector<double> p(v, v + k);
  if (!distribution) {
    const double max = *std::max_element(p.begin(), p.end());
    double z = 0;
    for (double& x : p) z += (x = std::exp(x - max));
    for (double& x : p) x /= z;
  }
  std::vector<int64_t> order(k);
  for (int64_t i = 0; i < k; ++i) order[i] = i;
  const int64_t shown = std::min<int64_t>(top, k);
  std::partial_sort(order.begin(), order.begin() + shown, order.end(),
                    [&](int64_t a, int64_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  std::printf("top %lld classes%s:\n", static_cast<long long>(shown), distribution ? "" : " (softmax of the output)");
  for (int64_t i = 0; i < shown; ++i) {
    std::printf("  class %lld: %.6f\n", static_cast<long long>(order[i]), p[order[i]]);
  }
}

// --image: the picture converted as `kiln predict` converts it (runtime/data/image.h, with the
// class names and preprocessing the model was trained with), one run, the top classes.
int ClassifyImage(kiln_session* s, const Options& o) {
  if (!o.inputs.empty()) Usage("--image takes the place of --input: give one or the other");
  if (NumInputs(s) != 1) Usage("--image needs a model with one input; this one has " + std::to_string(NumInputs(s)));
  proto::TrainingSpec training;
  if (!training.ParseFromArray(kiln_main_training, static_cast<int>(kiln_main_training_size))) {
    Die("the embedded training spec is corrupt");
  }
  std::string warning;
  const proto::InputPreprocessing pre = runtime::InputPreprocessingOf(training, &warning);
  if (!warning.empty()) std::fprintf(stderr, "%s: warning: %s\n", kiln_main_model_name, warning.c_str());
  kiln_tensor_info info;
  Check(kiln_session_input_info(s, 0, &info), "");
  const Dims dims(info.dims, info.dims + info.rank);
  auto sample = runtime::LoadImageInput(o.image, dims, pre, runtime::DefaultImageInputOptions(training));
  if (!sample.ok()) Die(sample.status().message());
  // Row 0 holds the image; a model compiled for a larger batch sees zeros in the other rows.
  const int64_t row_bytes = sample->num_bytes();
  std::string batch(static_cast<size_t>(row_bytes * (info.rank > 0 && info.dims[0] > 0 ? info.dims[0] : 1)), '\0');
  std::memcpy(batch.data(), sample->data(), static_cast<size_t>(row_bytes));
  Check(kiln_session_set_input(s, 0, batch.data(), batch.size()), "");
  Check(kiln_session_run(s), "");
  kiln_tensor_info out_info;
  const TensorRef out = OutputRef(s, 0, &out_info);
  if (out.dtype != proto::DT_FLOAT || out.dims.size() != 2 || out.dims[1] < 2) {
    Die("--image needs a classifier (an output of shape [N, K]); this model's is " + TypeString(out_info));
  }
  const std::vector<std::string> labels(training.class_names().begin(), training.class_names().end());
  const int64_t width = out.dims[1];
  const auto top = runtime::TopK(out.as<float>(), width, o.top_given ? o.top : 3);
  std::fputs(runtime::FormatPredictions(
                 o.image, top, static_cast<int64_t>(labels.size()) == width ? labels : std::vector<std::string>{})
                 .c_str(),
             stdout);
  return 0;
}

// --text: each question encoded with the decoder's character vocabulary (the embedded
// training spec's greedy_decoding.tokens, as `kiln predict --text` reads it), batch rows
// filled in order (a last partial batch repeats its last text), each answer decoded.
int AnswerTexts(kiln_session* s, const Options& o) {
  if (!o.inputs.empty() || !o.image.empty()) Usage("--text takes the place of --input and --image");
  proto::TrainingSpec training;
  if (!training.ParseFromArray(kiln_main_training, static_cast<int>(kiln_main_training_size))) {
    Die("the embedded training spec is corrupt");
  }
  if (!training.has_greedy_decoding() || NumInputs(s) != 1) {
    Die("--text needs a greedy decoder (kiln train --decoder-out FILE, then kiln compile FILE)");
  }
  auto vocabulary = data::CharacterVocabulary::Create(training.greedy_decoding());
  if (!vocabulary.ok()) Die(vocabulary.status().message());
  kiln_tensor_info info;
  Check(kiln_session_input_info(s, 0, &info), "");
  if (info.rank != 2 || info.dtype != KILN_DTYPE_FLOAT32) Die("--text needs a float32 [batch, length] input");
  const int64_t batch = info.dims[0], length = info.dims[1];
  std::vector<float> ids;
  for (const std::string& text : o.texts) {  // every text is checked before the first run
    auto encoded = vocabulary->Encode(text, length);
    if (!encoded.ok()) Die(encoded.status().message());
    ids.insert(ids.end(), encoded->begin(), encoded->end());
  }
  const int64_t n = static_cast<int64_t>(o.texts.size());
  std::vector<float> rows(static_cast<size_t>(batch * length));
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t valid = std::min(batch, n - first);
    for (int64_t r = 0; r < batch; ++r) {
      const int64_t src = first + std::min(r, valid - 1);
      std::copy_n(ids.begin() + src * length, length, rows.begin() + r * length);
    }
    Check(kiln_session_set_input(s, 0, rows.data(), rows.size() * sizeof(float)), "");
    Check(kiln_session_run(s), "");
    kiln_tensor_info out_info;
    const TensorRef out = OutputRef(s, 0, &out_info);
    const int64_t steps = out.num_elements() / batch;
    for (int64_t r = 0; r < valid; ++r) {
      auto answer = vocabulary->Decode(out.as<float>() + r * steps, steps);
      if (!answer.ok()) Die(answer.status().message());
      std::printf("%s\n", answer->c_str());
    }
  }
  return 0;
}

std::string SafeFileName(const std::string& name) {
  std::string out;
  for (char c : name) out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
  return out.empty() ? "_" : out;
}

int Main(int argc, char** argv) {
  SetProgramName(argv[0]);

  kiln_plan* plan = nullptr;
  Check(kiln_plan_load_memory(kiln_main_plan, static_cast<size_t>(kiln_main_plan_size), &plan), "embedded plan: ");
  kiln_session_options probe_options;
  kiln_session_options_init(&probe_options);
  // The help text lists the inputs, so the session exists before the arguments are parsed;
  // the thread count is applied per run (below) and does not need a second session.
  probe_options.num_threads = kiln_main_num_threads;
  probe_options.kernels = kiln_main_kernels;
  probe_options.num_kernels = static_cast<size_t>(kiln_main_kernels_count);
  kiln_session* s = nullptr;
  Check(kiln_session_create(plan, &probe_options, &s), "");
  // Freed on every return (--info, --image, a run); Die() exits with it still reachable.
  struct SessionOwner {
    kiln_session*& session;
    ~SessionOwner() { kiln_session_free(session); }
  } owner{s};

  std::string inputs_help;
  for (int i = 0; i < NumInputs(s); ++i) {
    kiln_tensor_info info;
    Check(kiln_session_input_info(s, i, &info), "");
    inputs_help += "  " + std::string(info.name) + ": " + TypeString(info) + "\n";
  }
  const Options o = ParseArgs(argc, argv, inputs_help);
  if (o.threads >= 0 && o.threads != kiln_main_num_threads) {
    kiln_session_free(s);
    s = nullptr;
    probe_options.num_threads = o.threads;
    Check(kiln_session_create(plan, &probe_options, &s), "");
  }
  kiln_plan_free(plan);
  if (o.info) {
    std::printf("model %s\ninputs:\n%s", kiln_main_model_name, inputs_help.c_str());
    std::printf("outputs:\n");
    for (int i = 0; i < NumOutputs(s); ++i) {
      kiln_tensor_info info;
      Check(kiln_session_output_info(s, i, &info), "");
      std::printf("  %s: %s\n", info.name, TypeString(info).c_str());
    }
    return 0;
  }

  if (!o.texts.empty()) return AnswerTexts(s, o);
  if (!o.image.empty()) return ClassifyImage(s, o);

  const std::vector<std::string> files = BindInputs(s, o.inputs);
  if (!o.output_dir.empty()) {
    // The .npy outputs never replace an input file (any spelling or link of it).
    NamedPaths in, out;
    for (const std::string& f : files) {
      if (f != "-") in.push_back({"input", f});
    }
    for (int i = 0; i < NumOutputs(s); ++i) {
      kiln_tensor_info info;
      Check(kiln_session_output_info(s, i, &info), "");
      out.push_back({std::string("output '") + info.name + "'", o.output_dir + "/" + SafeFileName(info.name) + ".npy"});
    }
    const Status distinct = CheckDistinctPaths(in, out);
    if (!distinct.ok()) Usage(distinct.message());
  }
  for (int i = 0; i < static_cast<int>(files.size()); ++i) {
    kiln_tensor_info info;
    Check(kiln_session_input_info(s, i, &info), "");
    const std::string bytes = ReadInput(files[i], info);
    Check(kiln_session_set_input(s, i, bytes.data(), bytes.size()), "");
  }
  Check(kiln_session_run(s), "");
  if (o.bench > 0) {
    std::vector<double> ms;
    for (int r = 0; r < o.bench; ++r) {
      const auto start = std::chrono::steady_clock::now();
      Check(kiln_session_run(s), "");
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(ms.begin(), ms.end());
    std::printf("bench: %d runs, median %.4f ms, min %.4f ms, max %.4f ms\n", o.bench, ms[ms.size() / 2], ms.front(),
                ms.back());
  }

  if (!o.output_dir.empty()) {
    struct stat st;
    if (stat(o.output_dir.c_str(), &st) != 0 && mkdir(o.output_dir.c_str(), 0755) != 0) {
      Die(o.output_dir + ": cannot create directory");
    } else if (stat(o.output_dir.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
      Die(o.output_dir + ": exists and is not a directory");
    }
  }
  const int outputs = NumOutputs(s);
  for (int i = 0; i < outputs; ++i) {
    kiln_tensor_info info;
    const TensorRef out = OutputRef(s, i, &info);
    if (!o.output_dir.empty()) {
      auto copy = Tensor::FromBytes(out.dtype, out.dims, out.data, static_cast<size_t>(out.num_bytes()));
      if (!copy.ok()) Die(copy.status().message());
      auto npy = EncodeNpy(*copy);
      if (!npy.ok()) Die(npy.status().message());
      const std::string path = o.output_dir + "/" + SafeFileName(info.name) + ".npy";
      const Status written = WriteFileAtomically(path, *npy);
      if (!written.ok()) Die(written.message());
      std::printf("%s: %s -> %s\n", info.name, TypeString(info).c_str(), path.c_str());
      continue;
    }
    std::printf("%s: %s\n%s\n", info.name, TypeString(info).c_str(), cli::FormatTensorValues(out).c_str());
    if (outputs == 1 && info.dtype == KILN_DTYPE_FLOAT32 && info.rank == 2 && info.dims[0] == 1 && info.dims[1] > 1) {
      PrintTopClasses(out, o.top);
    }
  }
  return 0;
}

}  // namespace
}  // namespace kiln::aot

int main(int argc, char** argv) {
  return kiln::aot::RunGuarded(kiln::aot::Main, argc, argv, kiln::runtime::Workload::kInference);
}
