// `kiln compile`: a model ahead of time into a Plan file, an object file holding the
// Plan, an executable (the object linked with the prebuilt driver libkiln_main.a and
// the static runtime) or a library with a generated C header.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "compiler/aot/compile_support.h"
#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/codegen/plan_object.h"
#include "compiler/codegen/target.h"
#include "compiler/compile.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "ir/core/file_io.h"
#include "ir/model_io.h"
#include "ir/printer.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {
namespace {

using aot::CIdentifier;
using aot::FindKilnLayout;
using aot::FindTool;
using aot::GenerateLibSources;
using aot::KilnLayout;
using aot::LibSources;
using aot::RuntimeDependencyFlags;
using aot::RunTool;
using aot::TempDir;

constexpr char kCompileHelp[] = R"(Usage: kiln compile MODEL -o NAME [--emit exe|lib|obj|plan] [options]

Compiles MODEL ahead of time for this CPU (or --cpu NAME), weights included.

  --emit exe    NAME: an executable (default). It reads inputs (--input FILE.npy|FILE.pb,
                NAME=FILE, '-' for raw float32 on stdin), prints the outputs (the top
                classes of a classifier), and times runs with --bench N; see NAME --help.
  --emit lib    libNAME.a, libNAME.so and NAME.h: typed C entry points
                (NAME_create/NAME_run_ctx/NAME_run/NAME_destroy) plus the kiln_* C API.
  --emit obj    NAME.o: the compiled model as data, symbols kiln_model_NAME_plan and
                kiln_model_NAME_plan_size (load it with kiln_plan_load_memory).
  --emit plan   NAME.plan (or NAME if it has an extension): the serialized Plan, for
                kiln_plan_load_file or the C++ kiln::Plan::FromFile.

Options:
  -o, --output NAME   output name (a path; the C symbol is its file name, sanitized)
  --emit KIND         exe, lib, obj or plan (default exe)
  --batch N           batch size compiled in (default 1)
  --threads N         default thread count of the executable/library (default 0: all cores)
  --device cpu|cuda   the backend to compile for (default cpu). cuda needs no GPU here:
                      the kernels are compiled by NVRTC to PTX embedded in the plan; the
                      result needs an NVIDIA GPU and driver where it runs (docs/cuda.md)
  --cpu-fallback      with --device: what the device cannot run runs on the CPU
  --cpu NAME          generate the fused kernels for CPU NAME, an LLVM CPU name (x86-64-v2,
                      x86-64-v3, x86-64-v4, znver4, skylake-avx512, ...; default: this
                      machine's CPU and features). oneDNN picks its kernels on the machine
                      that runs the result.
  --train             (with --emit exe) compile the model's training step into a trainer:
                      ./NAME --data SPEC [--epochs N] [--out trained.kiln]; the optimizer,
                      loss, batch size (or --batch) and preprocessing come from the model's
                      training block
  --dump-step FILE    (with --train) also write the training step's graph, as
                      kiln dump --train prints it
  --force             write into an existing device or FIFO (otherwise refused)
  -h, --help          show this help

Outputs are written atomically; an output that is the model itself (also through
a symlink, a hard link or another spelling of the path) is refused.

Executables and libraries are linked by the system C++ driver ($CXX, default c++;
$CC for the library's C entry points) against the Kiln runtime found beside this
kiln binary or in <prefix>/lib ($KILN_RUNTIME_DIR overrides). See docs/aot.md.

Examples:
  kiln compile examples/iris_mlp.kiln.txt -o iris && ./iris --input examples/iris_sample.npy
  kiln compile lenet.onnx -o lenet --emit lib --threads 1 && cc app.c liblenet.a $(pkg-config --cflags --libs kiln)
  kiln compile model.onnx -o model.plan --emit plan --batch 8
  kiln compile model.onnx -o model --cpu x86-64-v3     (runs on any AVX2 machine)
  kiln compile examples/iris_mlp.kiln.txt -o iris_trainer --train && ./iris_trainer --data csv:examples/data/iris.csv
)";

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
}

std::string BaseOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string StripExtension(const std::string& name) {
  const size_t dot = name.rfind('.');
  return dot == std::string::npos || dot == 0 ? name : name.substr(0, dot);
}

struct Job {
  std::string model_path;
  std::string output;  // -o NAME as given
  std::string emit;
  int64_t batch = 1;
  int threads = 0;
  std::string symbol;  // C identifier from the output's file name
  bool train = false;
  bool batch_given = false;
  bool force = false;     // --force: write into devices and FIFOs
  std::string dump_step;  // --train --dump-step FILE: the training step's graph
  std::string device = "cpu";
  bool cpu_fallback = false;
};

// Scratch files in a private temporary directory.
Status WriteFile(const std::string& path, const std::string& bytes) {
  return WriteFileAtomically(path, bytes).WithContext("output");
}

// A finished output, through the one atomic writer (never a half-written executable).
Status Publish(const Job& job, const std::string& path, const std::string& bytes, bool executable) {
  return WriteFileAtomically(path, bytes, WriteOptions{job.force, static_cast<mode_t>(executable ? 0777 : 0666)});
}

// Moves a file built in a scratch directory (by the linker or the archiver) to `path`.
Status PublishFile(const Job& job, const std::string& from, const std::string& path, bool executable) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return Internal(from, ": cannot read the linked output");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return Publish(job, path, bytes, executable);
}

// Every file the job writes, known before anything is compiled.
std::vector<std::string> OutputsOf(const Job& job) {
  if (job.emit == "plan") {
    return {BaseOf(job.output).find('.') != std::string::npos ? job.output : job.output + ".plan"};
  }
  if (job.emit == "obj") return {EndsWith(job.output, ".o") ? job.output : job.output + ".o"};
  if (job.emit == "lib") {
    const std::string dir = DirOf(job.output), base = BaseOf(job.output);
    return {dir + "/lib" + base + ".a", dir + "/lib" + base + ".so", dir + "/" + base + ".h"};
  }
  return {job.output};
}

// Links `object` with the prebuilt `driver` (libkiln_main.a or libkiln_train_main.a) and the static runtime.
Status LinkExe(const Job& job, const std::string& object, const std::string& driver) {
  ASSIGN_OR_RETURN(KilnLayout layout, FindKilnLayout());
  ASSIGN_OR_RETURN(std::string cxx, FindTool("CXX", "c++"));
  TempDir tmp;
  if (!tmp.ok()) return Internal("cannot create a temporary directory");
  const std::string obj = tmp.path() + "/" + job.symbol + ".o";
  RETURN_IF_ERROR(WriteFile(obj, object));
  // Linked in the scratch directory, then written through the atomic writer.
  const std::string linked = tmp.path() + "/" + job.symbol + ".exe";
  std::vector<std::string> argv = {
      cxx, "-o", linked, obj, layout.lib_dir + "/" + driver, layout.lib_dir + "/libkiln_runtime.a"};
  for (const std::string& flag : RuntimeDependencyFlags()) argv.push_back(flag);
  RETURN_IF_ERROR(RunTool(argv, "linking " + job.output));
  return PublishFile(job, linked, job.output, /*executable=*/true);
}

Status EmitExe(const Job& job, const proto::Plan& plan, const proto::TrainingSpec& training) {
  codegen::PlanObjectOptions options{job.symbol, job.threads, /*main_aliases=*/true, /*training=*/""};
  // Class names and input preprocessing: what --image and the top-k printout need.
  if (!training.SerializeToString(&options.training)) return Internal("cannot serialize the training spec");
  ASSIGN_OR_RETURN(std::string object, codegen::EmitPlanObject(plan, options));
  return LinkExe(job, object, "libkiln_main.a");
}

// --train: the training step and the evaluation plan at the training batch size, and the
// model itself (for writing the trained weights), linked with the trainer driver.
Status EmitTrainer(const Job& job, const Model& model) {
  proto::TrainingSpec spec = model.training;
  if (job.batch_given) spec.set_batch_size(job.batch);
  auto config = TrainingConfigFromSpec(spec, *model.graph);
  if (!config.ok()) return config.status().WithContext(job.model_path);
  config->device = job.device;
  auto program = BuildTrainingProgram(*model.graph, *config);
  if (!program.ok()) return program.status().WithContext(job.model_path);
  if (!job.dump_step.empty()) {
    RETURN_IF_ERROR(WriteFileAtomically(job.dump_step, PrintGraph(*program->step), WriteOptions{job.force}));
  }
  CompileOptions options;
  options.device = job.device;
  options.prepare_for_inference = false;  // BuildTrainingProgram optimized both
  auto step = CompileToPlan(*program->step, options);
  if (!step.ok()) return step.status().WithContext(job.model_path + " (training step)");
  auto eval = CompileToPlan(*program->eval, options);
  if (!eval.ok()) return eval.status().WithContext(job.model_path + " (evaluation)");
  spec.set_loss(program->loss);
  spec.set_batch_size(config->batch_size);
  std::string model_bytes;
  if (!ModelToProto(*model.graph, spec).SerializeToString(&model_bytes)) {
    return Internal(job.model_path, ": cannot serialize the model");
  }
  ASSIGN_OR_RETURN(std::string object,
                   codegen::EmitTrainerObject(*step, *eval, model_bytes, {job.symbol, job.threads, true, ""}));
  return LinkExe(job, object, "libkiln_train_main.a");
}

Status EmitLib(const Job& job, const proto::Plan& plan) {
  ASSIGN_OR_RETURN(std::string object, codegen::EmitPlanObject(plan, {job.symbol, job.threads, false, ""}));
  ASSIGN_OR_RETURN(KilnLayout layout, FindKilnLayout());
  ASSIGN_OR_RETURN(std::string cc, FindTool("CC", "cc"));
  ASSIGN_OR_RETURN(std::string cxx, FindTool("CXX", "c++"));
  ASSIGN_OR_RETURN(std::string ar, FindTool("AR", "ar"));
  TempDir tmp;
  if (!tmp.ok()) return Internal("cannot create a temporary directory");
  const std::string dir = DirOf(job.output), base = BaseOf(job.output);
  const std::string& s = job.symbol;
  const LibSources sources = GenerateLibSources(plan, s, job.model_path, job.batch, job.threads);
  const std::string model_obj = tmp.path() + "/" + s + "_model.o", api_obj = tmp.path() + "/" + s + "_api.o";
  RETURN_IF_ERROR(WriteFile(model_obj, object));
  RETURN_IF_ERROR(WriteFile(tmp.path() + "/" + s + ".h", sources.header));
  RETURN_IF_ERROR(WriteFile(tmp.path() + "/" + s + "_api.c", sources.source));
  RETURN_IF_ERROR(RunTool({cc, "-std=c99", "-O2", "-fPIC", "-Wall", "-I" + tmp.path(), "-I" + layout.include_dir, "-c",
                           tmp.path() + "/" + s + "_api.c", "-o", api_obj},
                          "compiling the entry points of " + job.output));
  const std::string archive = tmp.path() + "/lib" + s + ".a", shared = tmp.path() + "/lib" + s + ".so";
  RETURN_IF_ERROR(RunTool({ar, "rcs", archive, model_obj, api_obj}, "archiving lib" + s + ".a"));
  // The shared library depends on libkiln_runtime.so (found through its rpath or the loader path),
  // so a program may load it next to other Kiln code without two copies of the runtime.
  std::vector<std::string> argv = {cxx,
                                   "-shared",
                                   "-o",
                                   shared,
                                   "-Wl,-soname,lib" + s + ".so",
                                   model_obj,
                                   api_obj,
                                   "-L" + layout.lib_dir,
                                   "-Wl,-rpath," + layout.lib_dir,
                                   "-lkiln_runtime"};
  RETURN_IF_ERROR(RunTool(argv, "linking lib" + s + ".so"));
  // Everything built: move the three files into place.
  struct Out {
    std::string from, to;
  };
  const std::vector<std::string> to = OutputsOf(job);
  const std::vector<Out> outs = {{archive, to[0]}, {shared, to[1]}, {tmp.path() + "/" + s + ".h", to[2]}};
  for (const Out& o : outs) {
    RETURN_IF_ERROR(PublishFile(job, o.from, o.to, EndsWith(o.to, ".so")));
    std::printf("wrote %s\n", o.to.c_str());
  }
  return Status::Ok();
}

Status Compile(const Job& job) {
  ASSIGN_OR_RETURN(Model model, LoadModel(job.model_path));
  if (job.train) {
    RETURN_IF_ERROR(EmitTrainer(job, model));
    std::printf("wrote %s\n", job.output.c_str());
    return Status::Ok();
  }
  CompileOptions options;
  options.device = job.device;
  options.cpu_fallback = job.cpu_fallback;
  options.batch_size = job.batch;
  auto compiled = CompileToPlan(*model.graph, options);
  if (!compiled.ok()) return compiled.status().WithContext(job.model_path);
  const proto::Plan& plan = *compiled;
  if (job.emit == "plan") {
    const std::string path = OutputsOf(job)[0];
    std::string bytes;
    if (!plan.SerializeToString(&bytes)) return Internal(job.model_path, ": cannot serialize the plan");
    RETURN_IF_ERROR(Publish(job, path, bytes, false));
    std::printf("wrote %s (%zu bytes)\n", path.c_str(), bytes.size());
    return Status::Ok();
  }
  if (job.emit == "obj") {
    const std::string path = OutputsOf(job)[0];
    ASSIGN_OR_RETURN(std::string object, codegen::EmitPlanObject(plan, {job.symbol, job.threads, false, ""}));
    RETURN_IF_ERROR(Publish(job, path, object, false));
    std::printf("wrote %s (symbols %s, %s)\n", path.c_str(), codegen::PlanSymbol(job.symbol, "_plan").c_str(),
                codegen::PlanSymbol(job.symbol, "_plan_size").c_str());
    return Status::Ok();
  }
  if (job.emit == "exe") {
    RETURN_IF_ERROR(EmitExe(job, plan, model.training));
    std::printf("wrote %s\n", job.output.c_str());
    return Status::Ok();
  }
  return EmitLib(job, plan);
}

}  // namespace

int CompileCommand(const std::vector<std::string>& args) {
  ArgSpec spec{"compile",
               {"--train", "--force", "--cpu-fallback"},
               {"--output", "--emit", "--batch", "--threads", "--dump-step", "--cpu", "--device"},
               {{"-o", "--output"}}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("compile", parsed.status().message());
  if (parsed->help) {
    std::fputs(kCompileHelp, stdout);
    return kExitOk;
  }
  if (parsed->positional.size() != 1) {
    return ReportUsageError("compile", parsed->positional.empty()
                                           ? "missing MODEL"
                                           : "expected one MODEL, got " + std::to_string(parsed->positional.size()));
  }
  Job job;
  if (int rc = ResolveDevice(*parsed, /*runs_here=*/false, &job.device); rc != kExitOk) return rc;
  job.cpu_fallback = parsed->Has("--cpu-fallback");
  job.model_path = parsed->positional[0];
  job.output = parsed->Get("--output");
  if (job.output.empty()) return ReportUsageError("compile", "missing -o NAME");
  job.emit = parsed->Get("--emit", "exe");
  if (job.emit != "exe" && job.emit != "lib" && job.emit != "obj" && job.emit != "plan") {
    return ReportUsageError("compile", "--emit: expected exe, lib, obj or plan, got '" + job.emit + "'");
  }
  if (parsed->options.count("--batch")) {
    auto b = ParsePositiveInt("--batch", parsed->Get("--batch"));
    if (!b.ok()) return ReportUsageError("compile", b.status().message());
    job.batch = *b;
    job.batch_given = true;
  }
  job.train = parsed->Has("--train");
  if (job.train && job.emit != "exe") return ReportUsageError("compile", "--train makes an executable (--emit exe)");
  job.dump_step = parsed->Get("--dump-step");
  if (!job.dump_step.empty() && !job.train) return ReportUsageError("compile", "--dump-step needs --train");
  if (parsed->options.count("--threads")) {
    const std::string t = parsed->Get("--threads");
    auto n = t == "0" ? StatusOr<int64_t>(0) : ParsePositiveInt("--threads", t);
    if (!n.ok() || *n > 4096) return ReportUsageError("compile", "--threads: expected 0..4096, got '" + t + "'");
    job.threads = static_cast<int>(*n);
  }
  if (parsed->options.count("--cpu")) {
    Status cpu = codegen::SetTargetCpu(parsed->Get("--cpu"));
    if (!cpu.ok()) return ReportUsageError("compile", cpu.message());
  }
  std::string base = BaseOf(job.output);
  if (base.empty()) return ReportUsageError("compile", "-o " + job.output + ": not a file name");
  if (job.emit == "plan" || job.emit == "obj") base = StripExtension(base);
  job.symbol = CIdentifier(base);
  if (job.emit == "lib" && job.symbol != base) {
    return ReportUsageError("compile",
                            "-o " + job.output + ": a library name must be a C identifier (e.g. " + job.symbol + ")");
  }
  job.force = parsed->Has("--force");
  // Every output checked before compiling: distinct from the model and from each other,
  // in an existing writable directory.
  const std::vector<std::string> outputs = OutputsOf(job);
  NamedPaths named;
  for (const std::string& o : outputs) named.push_back({"output", o});
  if (!job.dump_step.empty()) named.push_back({"--dump-step", job.dump_step});
  Status distinct = CheckDistinctPaths({{"model", job.model_path}}, named);
  if (!distinct.ok()) return ReportUsageError("compile", distinct.message());
  for (const auto& [what, o] : named) {
    Status st = CheckOutputPath(o, job.force);
    if (!st.ok()) return ReportError(st);
  }
  Status status = Compile(job);
  return status.ok() ? kExitOk : ReportError(status);
}

}  // namespace kiln::cli
