// `kiln run`: load, compile and load (CompileAndLoad) and run a model once on tensors read
// from files; print the outputs or write them as .npy files.
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <map>

#include "compiler/load.h"
#include "frontends/load_model.h"
#include "frontends/tensor_io.h"
#include "ir/core/file_io.h"
#include "ir/printer.h"
#include "runtime/session.h"
#include "tools/common/tensor_format.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"
#include "tools/kiln/model_inputs.h"

namespace kiln::cli {
namespace {

constexpr char kRunHelp[] = R"(Usage: kiln run MODEL --input [NAME=]FILE ... [options]

Compiles MODEL for the CPU (or --device) and runs it once. Inputs are .npy or .pb (ONNX
TensorProto) files, given by input name (NAME=FILE) or in the model's input
order (FILE). Their dtype and shape must match the model; a symbolic batch
dimension takes the size of the input (or --batch).

Options:
  -i, --input [NAME=]FILE   an input tensor (repeat for each model input)
  --batch N                 value of the symbolic batch dimension (default: from the inputs)
  --output-dir DIR          write each output to DIR/NAME.npy instead of printing it
  --threads N               threads for oneDNN and the fused kernels (default: all cores)
  --device cpu|cuda         where the model runs (default: cpu). cuda needs an NVIDIA GPU
                            and its driver, and runs only what the CUDA backend lowers
                            (docs/cuda.md); an unsupported node is an error, never a
                            silent CPU fallback (unless --cpu-fallback)
  --cpu-fallback            with --device: run what the device cannot on the CPU
  --no-onednn               use the reference kernels only
  --no-layouts              keep every value plain (skip the assign-layouts pass)
  --check-numerics          stop at the first node (in execution order) that makes a NaN
                            or Inf from finite inputs, or that reads an already non-finite
                            input or weight; print it on one line and exit 3
  -h, --help                show this help

Examples:
  kiln run examples/iris_mlp.kiln.txt --input examples/iris_sample.npy
  kiln run model.onnx --input data=input_0.pb --output-dir out/
)";

struct BoundInput {
  Value* value = nullptr;  // the graph input
  std::string file;
  Tensor tensor;
};

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// --check-numerics: exit status when a non-finite value is found (1 stays "bad
// input/model", so scripts can tell the two apart).
constexpr int kExitNonFinite = 3;

// The first NaN or Inf of a float tensor: "NaN at [flat index]", or "" if none.
std::string FirstNonFinite(const TensorRef& t) {
  // In logical (row-major) order whatever the buffer's layout (layout regions).
  const bool plain = t.layout == proto::LAYOUT_PLAIN;
  const Dims strides = LayoutStrides(t.dims, t.layout);
  auto scan = [&](auto* p) -> std::string {
    for (int64_t i = 0, n = t.num_elements(); i < n; ++i) {
      const auto v = p[plain ? i : LayoutOffset(t.dims, strides, i)];
      if (!std::isfinite(v)) {
        return std::string(std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf") + " at flat index " + std::to_string(i);
      }
    }
    return "";
  };
  if (!t.data) return "";
  if (t.dtype == proto::DT_FLOAT) return scan(t.as<const float>());
  if (t.dtype == proto::DT_DOUBLE) return scan(t.as<const double>());
  return "";
}

// A step's first non-finite input (one already non-finite before it ran: a model
// input, weight or state, since computed ones are caught at their producer), else
// its first non-finite output. Sets *finding to "<node>: <what>".
Status CheckStepNumerics(const proto::Plan& plan, const proto::Step& step, const std::vector<TensorRef>& inputs,
                         const std::vector<TensorRef>& outputs, std::string* finding) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string what = FirstNonFinite(inputs[i]);
    if (what.empty()) continue;
    *finding = step.name() + ": input '" + plan.buffer(step.input(i)).name() + "' is already non-finite (" + what + ")";
    return InvalidArgument(*finding);
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string what = FirstNonFinite(outputs[i]);
    if (what.empty()) continue;
    *finding = step.name() + " (" + step.op_type() + "): output '" + plan.buffer(step.output(i)).name() +
               "' is non-finite (" + what + ") from finite inputs";
    return InvalidArgument(*finding);
  }
  return Status::Ok();
}

// Assigns each --input to a graph input: NAME=FILE by name, plain FILEs in order.
StatusOr<std::vector<BoundInput>> BindInputs(const Graph& graph, const std::vector<std::string>& specs,
                                             const std::string& model_path) {
  std::vector<BoundInput> bound(graph.inputs().size());
  for (size_t i = 0; i < bound.size(); ++i) bound[i].value = graph.inputs()[i];
  std::vector<std::string> ordered;
  for (const std::string& spec : specs) {
    const size_t eq = spec.find('=');
    int index = -1;
    if (eq != std::string::npos) {
      for (size_t i = 0; i < bound.size(); ++i) {
        if (bound[i].value->name() == spec.substr(0, eq)) index = static_cast<int>(i);
      }
      if (index < 0 && !FileExists(spec)) return UnknownInputError(graph, spec.substr(0, eq), model_path);
    }
    if (index < 0) {
      ordered.push_back(spec);
      continue;
    }
    if (!bound[index].file.empty()) return InvalidArgument("input '", bound[index].value->name(), "' is given twice");
    bound[index].file = spec.substr(eq + 1);
  }
  size_t next = 0;
  for (const std::string& file : ordered) {
    while (next < bound.size() && !bound[next].file.empty()) ++next;
    if (next == bound.size()) {
      return InvalidArgument(model_path, ": the model has ", bound.size(), " input(s) but more files were given ('",
                             file, "')");
    }
    bound[next].file = file;
  }
  for (const auto& b : bound) {
    if (b.file.empty()) return MissingInputError(*b.value, "pass --input " + b.value->name() + "=FILE");
  }
  return bound;
}

// Reads each file and checks it against the model's declared type (CheckInputDims:
// the batch must agree across inputs and --batch).
Status ReadAndCheckInputs(const Graph& graph, std::vector<BoundInput>& inputs, int64_t* batch, bool batch_given) {
  BatchBinding binding{*batch, batch_given ? "--batch" : ""};
  for (BoundInput& in : inputs) {
    const std::string where = "input '" + in.value->name() + "' (" + in.file + ")";
    if (!FileExists(in.file)) return NotFound(in.file, ": no such file (for input '", in.value->name(), "')");
    auto tensor = ReadTensorFile(in.file);
    if (!tensor.ok()) return tensor.status().WithContext("input '" + in.value->name() + "'");
    in.tensor = std::move(tensor).value();
    RETURN_IF_ERROR(CheckInputDType(*in.value, in.tensor.dtype(), where));
    RETURN_IF_ERROR(CheckInputDims(graph, *in.value, in.tensor.dims(), where, &binding));
  }
  *batch = binding.size;
  return Status::Ok();
}

// Output names become file names: keep them readable and inside the directory.
std::string SafeFileName(const std::string& name) {
  std::string out;
  for (char c : name)
    out += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.') ? c : '_';
  if (out.empty() || out[0] == '.') out = "_" + out;
  return out;
}

Status EnsureDirectory(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) == 0) {
    return S_ISDIR(st.st_mode) ? Status::Ok() : InvalidArgument(dir, ": exists and is not a directory");
  }
  if (mkdir(dir.c_str(), 0755) != 0) return InvalidArgument(dir, ": cannot create directory");
  return Status::Ok();
}

// --output-dir before any work: an existing writable directory, or one that can be created.
Status CheckOutputDirectory(const std::string& dir) {
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return CheckOutputPath(dir).WithContext("--output-dir");
  if (!S_ISDIR(st.st_mode)) return InvalidArgument(dir, ": exists and is not a directory");
  if (access(dir.c_str(), W_OK | X_OK) != 0) return InvalidArgument(dir, ": directory is not writable");
  return Status::Ok();
}

Status Run(const ParsedArgs& args, const std::string& device, int64_t batch, bool batch_given, int threads,
           bool* non_finite) {
  const std::string model_path = args.positional[0];
  const std::string output_dir = args.Get("--output-dir");
  if (!output_dir.empty()) RETURN_IF_ERROR(CheckOutputDirectory(output_dir));
  ASSIGN_OR_RETURN(Model model, LoadModel(model_path));
  ASSIGN_OR_RETURN(std::vector<BoundInput> inputs, BindInputs(*model.graph, args.GetAll("--input"), model_path));
  // The .npy files --output-dir will hold never overwrite the model or an input file.
  if (!output_dir.empty()) {
    NamedPaths in = {{"model", model_path}}, out;
    for (const BoundInput& b : inputs) in.push_back({"input '" + b.value->name() + "'", b.file});
    for (const Value* v : model.graph->outputs()) {
      out.push_back({"output '" + v->name() + "'", output_dir + "/" + SafeFileName(v->name()) + ".npy"});
    }
    RETURN_IF_ERROR(CheckDistinctPaths(in, out));
  }
  RETURN_IF_ERROR(ReadAndCheckInputs(*model.graph, inputs, &batch, batch_given));
  // Kept by name: compilation may rewrite the graph but keeps input names.
  std::vector<std::pair<std::string, Tensor>> feeds;
  for (auto& in : inputs) feeds.emplace_back(in.value->name(), std::move(in.tensor));

  CompileOptions options;
  options.device = device;
  options.cpu_fallback = args.Has("--cpu-fallback");
  options.batch_size = batch > 0 ? batch : 1;
  options.use_onednn = !args.Has("--no-onednn");
  options.assign_layouts = !args.Has("--no-layouts");
  runtime::SessionOptions session_options;
  session_options.num_threads = threads;
  std::string finding;
  const proto::Plan* plan = nullptr;  // the session's, once it exists (no step runs before)
  if (args.Has("--check-numerics")) {
    session_options.after_step = [&finding, &plan](const proto::Step& step, const std::vector<TensorRef>& in,
                                                   const std::vector<TensorRef>& out) {
      return CheckStepNumerics(*plan, step, in, out, &finding);
    };
  }
  auto session = CompileAndLoad(*model.graph, options, session_options);
  if (!session.ok()) return session.status().WithContext(model_path);
  runtime::Session& s = **session;
  plan = &s.plan();
  for (const auto& [name, tensor] : feeds) {
    const int index = s.FindInput(name);
    if (index < 0) return Internal(model_path, ": compiled plan has no input '", name, "'");
    RETURN_IF_ERROR(
        s.SetInput(index, tensor.data(), static_cast<size_t>(tensor.num_bytes())).WithContext("input '" + name + "'"));
  }
  Status run = s.Run();
  if (!finding.empty()) {
    std::fprintf(stderr, "kiln: %s\n", finding.c_str());
    *non_finite = true;
    return Status::Ok();
  }
  RETURN_IF_ERROR(run.WithContext(model_path));

  if (!output_dir.empty()) RETURN_IF_ERROR(EnsureDirectory(output_dir));
  for (int i = 0; i < s.num_outputs(); ++i) {
    const proto::Buffer& desc = s.output_desc(i);
    const TensorRef out = s.output(i);
    const std::string type = DTypeName(out.dtype) + DimsToString(out.dims);
    if (output_dir.empty()) {
      std::printf("%s: %s\n%s\n", desc.name().c_str(), type.c_str(), FormatTensorValues(out).c_str());
      continue;
    }
    ASSIGN_OR_RETURN(Tensor copy,
                     Tensor::FromBytes(out.dtype, out.dims, out.data, static_cast<size_t>(out.num_bytes())));
    const std::string path = output_dir + "/" + SafeFileName(desc.name()) + ".npy";
    RETURN_IF_ERROR(WriteTensorFile(path, copy));
    std::printf("%s: %s -> %s\n", desc.name().c_str(), type.c_str(), path.c_str());
  }
  return Status::Ok();
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  ArgSpec spec{"run",
               {"--no-onednn", "--no-layouts", "--check-numerics", "--cpu-fallback"},
               {"--input", "--batch", "--output-dir", "--threads", "--device"},
               {{"-i", "--input"}}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("run", parsed.status().message());
  if (parsed->help) {
    std::fputs(kRunHelp, stdout);
    return kExitOk;
  }
  if (parsed->positional.size() != 1) {
    return ReportUsageError("run", parsed->positional.empty()
                                       ? "missing MODEL"
                                       : "expected one MODEL, got " + std::to_string(parsed->positional.size()) +
                                             " (inputs go after --input)");
  }
  int64_t batch = -1;
  const bool batch_given = parsed->options.count("--batch") > 0;
  if (batch_given) {
    auto b = ParsePositiveInt("--batch", parsed->Get("--batch"));
    if (!b.ok()) return ReportUsageError("run", b.status().message());
    batch = *b;
  }
  int threads = 0;
  if (parsed->options.count("--threads")) {
    auto t = ParsePositiveInt("--threads", parsed->Get("--threads"));
    if (!t.ok()) return ReportUsageError("run", t.status().message());
    threads = static_cast<int>(*t);
  }
  std::string device;
  if (int rc = ResolveDevice(*parsed, /*runs_here=*/true, &device); rc != kExitOk) return rc;
  if (device != "cpu" && parsed->Has("--check-numerics")) {
    return ReportUsageError("run", "--check-numerics reads every step's values on the host: use --device cpu");
  }
  bool non_finite = false;
  Status status = Run(*parsed, device, batch, batch_given, threads, &non_finite);
  if (non_finite) return kExitNonFinite;
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace kiln::cli
