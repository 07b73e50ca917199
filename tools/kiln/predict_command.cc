// `kiln predict MODEL --image FILE ...`: classify images (PNG, PGM, PPM of any size
// and colour) with a trained classifier and print the top-K classes. The image ->
// input conversion and the ranking are the runtime's (runtime/data/image.h), shared
// with compiled classifiers.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "compiler/load.h"
#include "frontends/load_model.h"
#include "frontends/tensor_io.h"
#include "runtime/data/image.h"
#include "runtime/session.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"
#include "tools/kiln/predict_text.h"

namespace kiln::cli {
namespace {

constexpr char kPredictHelp[] = R"(Usage: kiln predict MODEL --image FILE ... [options]
       kiln predict DECODER --text TEXT ... [--attention]

Classifies images with a trained classifier and prints the K most probable
classes of each. Images are PNG (any colour type and bit depth; transparency is
composited over white), PGM or PPM, of any size. Each becomes the model's input:
grayscale for single-channel models, inverted when its background is light
(models learn light ink on black), cropped to the ink and centred for 28x28
inputs (--fit), resized otherwise, then normalized as in training (the
preprocessing `kiln train` recorded in the model; pixels / 255 when there is
none). Softmax is applied when the output is not already a distribution.

Options:
  --image FILE|DIR          an image, or a directory of .png/.pgm/.ppm files (repeatable)
  --top K                   classes to print per image (default 3)
  --labels FILE|NAME        class names: a file with one name a line, or fashion-mnist,
                            mnist (digits); default: the model's class_names
  --fit mnist|fashion-mnist|resize
                            28x28 single-channel inputs: crop to the ink and fit it in
                            20 px centred by mass (mnist), or 28 px centred (fashion-mnist),
                            or resize the whole image (default: fashion-mnist for models
                            trained on it, else mnist)
  --invert auto|yes|no      invert gray images (default auto: when the border is light)
  --batch N                 images per run (default: all at once)
  --save-input FILE.npy     also write the model input built from the images
  --no-onednn               use the reference kernels only
  --device cpu|cuda         where the model runs (default: cpu; cuda: docs/cuda.md)
  --cpu-fallback            with --device: run what the device cannot on the CPU
  -h, --help                show this help

Text (sequence to sequence):
  --text TEXT               a question for a greedy decoder written by `kiln train
                            --decoder-out` (repeatable): encoded with the character
                            vocabulary the decoder carries; prints the decoded answer,
                            one line per --text
  --attention               after each answer, its attention weights (a row per answer
                            token, a column per question character)

Examples:
  kiln train examples/fashion_mnist_mlp.kiln.txt -o fmnist.kiln
  kiln predict fmnist.kiln --image examples/images/ankle_boot.png
  kiln predict digits.kiln --image my_digit.png --labels digits --top 5
  kiln train examples/seq2seq_addition.kiln.txt --decoder-out adder.kiln
  kiln predict adder.kiln --text "57+648" --text "9+1" --attention
)";

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool HasImageExtension(const std::string& name) {
  std::string lower = name;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* ext : {".png", ".pgm", ".ppm", ".pnm"}) {
    const size_t n = std::strlen(ext);
    if (lower.size() > n && lower.compare(lower.size() - n, n, ext) == 0) return true;
  }
  return false;
}

// --image values, directories expanded to their image files in name order.
StatusOr<std::vector<std::string>> ImageFiles(const std::vector<std::string>& specs) {
  std::vector<std::string> files;
  for (const std::string& spec : specs) {
    if (!IsDirectory(spec)) {
      files.push_back(spec);
      continue;
    }
    DIR* dir = opendir(spec.c_str());
    if (!dir) return InvalidArgument(spec, ": cannot read the directory");
    std::vector<std::string> names;
    while (const dirent* e = readdir(dir)) {
      if (HasImageExtension(e->d_name)) names.push_back(e->d_name);
    }
    closedir(dir);
    if (names.empty()) return InvalidArgument(spec, ": no .png, .pgm or .ppm files in the directory");
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) files.push_back(spec + (spec.back() == '/' ? "" : "/") + n);
  }
  return files;
}

StatusOr<std::vector<std::string>> ReadLabels(const std::string& spec) {
  std::vector<std::string> names = runtime::KnownClassNames(spec);
  if (!names.empty()) return names;
  std::ifstream in(spec);
  if (!in) {
    return NotFound(spec, ": no such labels file (or use --labels fashion-mnist or mnist)");
  }
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    names.push_back(line);
  }
  while (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) return InvalidArgument(spec, ": the labels file is empty");
  return names;
}

struct PredictOptions {
  std::vector<std::string> files;
  int64_t top = 3;
  int64_t batch = 0;
  runtime::ImageInputOptions image;
  bool fit_given = false;
  std::vector<std::string> labels;
  bool use_onednn = true;
  std::string device = "cpu";
  bool cpu_fallback = false;
  std::string save_input;
};

Status Predict(const std::string& model_path, PredictOptions o) {
  ASSIGN_OR_RETURN(Model model, LoadModel(model_path));
  const Graph& g = *model.graph;
  if (g.inputs().size() != 1) {
    return InvalidArgument(model_path, ": an image classifier takes one input, this model has ", g.inputs().size());
  }
  const Value& input = *g.inputs()[0];
  if (input.dtype() != proto::DT_FLOAT) {
    return InvalidArgument(model_path, ": input '", input.name(), "' is ", DTypeName(input.dtype()),
                           ", not float32 image data");
  }
  auto layout = runtime::ImageLayoutOf(input.dims());
  if (!layout.ok()) return layout.status().WithContext(model_path + ": input '" + input.name() + "'");
  std::string warning;
  const proto::InputPreprocessing pre = runtime::InputPreprocessingOf(model.training, &warning);
  if (!warning.empty()) std::fprintf(stderr, "kiln: warning: %s: %s\n", model_path.c_str(), warning.c_str());
  if (!o.fit_given) o.image.fit = runtime::DefaultImageInputOptions(model.training).fit;
  if (o.labels.empty()) o.labels.assign(model.training.class_names().begin(), model.training.class_names().end());

  // Every image is read and converted before compiling: a bad file fails fast.
  const int64_t n = static_cast<int64_t>(o.files.size());
  Dims sample_dims = input.dims();
  sample_dims[0] = 1;
  ASSIGN_OR_RETURN(int64_t sample_elements, CheckedElementCount(sample_dims));
  Dims all_dims = sample_dims;
  all_dims[0] = n;
  Tensor all(proto::DT_FLOAT, all_dims);
  for (int64_t i = 0; i < n; ++i) {
    ASSIGN_OR_RETURN(Tensor x, runtime::LoadImageInput(o.files[i], input.dims(), pre, o.image));
    std::copy_n(x.data_as<float>(), sample_elements, all.mutable_data_as<float>() + i * sample_elements);
  }
  if (!o.save_input.empty()) RETURN_IF_ERROR(WriteTensorFile(o.save_input, all));

  const int64_t batch = input.dims()[0] > 0 ? input.dims()[0] : (o.batch > 0 ? std::min(o.batch, n) : n);
  CompileOptions options;
  options.batch_size = batch;
  options.use_onednn = o.use_onednn;
  options.device = o.device;
  options.cpu_fallback = o.cpu_fallback;
  auto created = CompileAndLoad(*model.graph, options);
  if (!created.ok()) return created.status().WithContext(model_path);
  runtime::Session& s = **created;
  const TensorRef in = s.input(0);
  const TensorRef out = s.output(0);
  if (out.dtype != proto::DT_FLOAT) return InvalidArgument(model_path, ": the output is not float32 scores");
  const int64_t width = out.num_elements() / batch;
  if (width < 2) return InvalidArgument(model_path, ": the output has ", width, " score(s) per image, not classes");
  if (!o.labels.empty() && static_cast<int64_t>(o.labels.size()) != width) {
    std::fprintf(stderr, "kiln: warning: %lld class names for %lld classes; names beyond them are not shown\n",
                 static_cast<long long>(o.labels.size()), static_cast<long long>(width));
  }
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t rows = std::min(batch, n - first);
    float* dst = static_cast<float*>(in.data);
    for (int64_t r = 0; r < batch; ++r) {  // a final partial batch repeats its last image
      const int64_t src = first + std::min(r, rows - 1);
      std::copy_n(all.data_as<float>() + src * sample_elements, sample_elements, dst + r * sample_elements);
    }
    RETURN_IF_ERROR(s.Run().WithContext(model_path));
    for (int64_t r = 0; r < rows; ++r) {
      const auto top = runtime::TopK(out.as<float>() + r * width, width, o.top);
      std::fputs(runtime::FormatPredictions(o.files[first + r], top, o.labels).c_str(), stdout);
    }
  }
  return Status::Ok();
}

}  // namespace

int PredictCommand(const std::vector<std::string>& args) {
  ArgSpec spec{"predict",
               {"--no-onednn", "--attention", "--cpu-fallback"},
               {"--image", "--text", "--top", "--labels", "--fit", "--invert", "--batch", "--save-input", "--device"},
               {}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("predict", parsed.status().message());
  if (parsed->help) {
    std::fputs(kPredictHelp, stdout);
    return kExitOk;
  }
  if (parsed->positional.size() != 1) {
    return ReportUsageError("predict", parsed->positional.empty()
                                           ? "missing MODEL"
                                           : "expected one MODEL, got " + std::to_string(parsed->positional.size()) +
                                                 " (images go after --image)");
  }
  std::string device;
  if (int rc = ResolveDevice(*parsed, /*runs_here=*/true, &device); rc != kExitOk) return rc;
  if (!parsed->GetAll("--text").empty()) {
    if (!parsed->GetAll("--image").empty()) return ReportUsageError("predict", "--text and --image do not mix");
    TextPredictOptions text;
    text.texts = parsed->GetAll("--text");
    text.attention = parsed->Has("--attention");
    text.use_onednn = !parsed->Has("--no-onednn");
    text.device = device;
    text.cpu_fallback = parsed->Has("--cpu-fallback");
    Status status = PredictText(parsed->positional[0], text);
    return status.ok() ? kExitOk : ReportError(status);
  }
  if (parsed->Has("--attention")) return ReportUsageError("predict", "--attention goes with --text");
  PredictOptions o;
  if (parsed->GetAll("--image").empty()) return ReportUsageError("predict", "missing --image FILE or --text TEXT");
  for (const char* opt : {"--top", "--batch"}) {
    if (!parsed->options.count(opt)) continue;
    auto v = ParsePositiveInt(opt, parsed->Get(opt));
    if (!v.ok()) return ReportUsageError("predict", v.status().message());
    (std::strcmp(opt, "--top") == 0 ? o.top : o.batch) = *v;
  }
  if (parsed->options.count("--fit")) {
    auto fit = runtime::ParseImageFit(parsed->Get("--fit"));
    if (!fit.ok()) return ReportUsageError("predict", fit.status().message());
    o.image.fit = *fit;
    o.fit_given = true;
  }
  const std::string invert = parsed->Get("--invert", "auto");
  if (invert == "yes") {
    o.image.invert = runtime::ImageInputOptions::Invert::kYes;
  } else if (invert == "no") {
    o.image.invert = runtime::ImageInputOptions::Invert::kNo;
  } else if (invert != "auto") {
    return ReportUsageError("predict", "--invert takes auto, yes or no, not '" + invert + "'");
  }
  o.use_onednn = !parsed->Has("--no-onednn");
  o.device = device;
  o.cpu_fallback = parsed->Has("--cpu-fallback");
  o.save_input = parsed->Get("--save-input");
  Status status = Status::Ok();
  if (parsed->options.count("--labels")) {
    auto labels = ReadLabels(parsed->Get("--labels"));
    if (!labels.ok()) return ReportError(labels.status());
    o.labels = std::move(labels).value();
  }
  auto files = ImageFiles(parsed->GetAll("--image"));
  if (!files.ok()) return ReportError(files.status());
  o.files = std::move(files).value();
  status = Predict(parsed->positional[0], std::move(o));
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace kiln::cli
