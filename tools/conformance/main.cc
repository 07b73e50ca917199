// kiln_conformance: runs ONNX test suites (folders holding model.onnx and
// test_data_set_*/{input,output}_K.pb: ONNX's backend and node suites) through
// import, compile and a runtime Session, and compares with the expected outputs
// (rtol 1e-3, atol 1e-7).
//
// Usage: kiln_conformance [DIR [--min-pass N]]... [--filter SUBSTR] [--verbose] [--no-fork]
//                         [--device cpu|cuda] [--cpu-fallback]
// Several suites print one total each; `--min-pass N` after a DIR is that suite's
// minimum (before any DIR it applies to the default suite).
// Each case runs in a child process so that a crashing kernel fails its case,
// not the whole run. A model whose shapes depend on an integer input is compiled
// once per data set with that input bound (see CompileCase).
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/codegen/jit.h"
#include "compiler/compile.h"
#include "compiler/load.h"
#include "frontends/load_model.h"
#include "frontends/tensor_io.h"
#include "runtime/session.h"

namespace fs = std::filesystem;

namespace kiln {
namespace {

constexpr double kAtol = 1e-7;
constexpr double kRtol = 1e-3;
constexpr unsigned kCaseTimeoutSeconds = 120;

struct Suite {
  std::string dir;
  long min_pass = 0;
};

struct Options {
  std::vector<Suite> suites;
  std::string filter;
  bool verbose = false;
  bool fork_cases = true;
  std::string device = "cpu";  // the backend the cases compile for (scripts/check_cuda.sh: cuda)
  bool cpu_fallback = false;
};

struct Case {
  std::string name;  // relative to the suite root: "pytorch-converted/test_Conv2d"
  fs::path dir;
  std::vector<std::string> data_sets;  // "test_data_set_0", ...
};

std::vector<Case> FindCases(const fs::path& root, const std::string& filter) {
  std::vector<Case> cases;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_directory() || !fs::exists(it->path() / "model.onnx")) continue;
    Case c;
    c.dir = it->path();
    c.name = fs::relative(it->path(), root).string();
    if (!filter.empty() && c.name.find(filter) == std::string::npos) continue;
    for (const auto& entry : fs::directory_iterator(c.dir)) {
      std::string leaf = entry.path().filename().string();
      if (entry.is_directory() && leaf.rfind("test_data_set_", 0) == 0) c.data_sets.push_back(leaf);
    }
    std::sort(c.data_sets.begin(), c.data_sets.end());
    cases.push_back(std::move(c));
  }
  std::sort(cases.begin(), cases.end(), [](const Case& a, const Case& b) { return a.name < b.name; });
  return cases;
}

std::string TypeString(DType dtype, const Dims& dims) { return DTypeName(dtype) + DimsToString(dims); }

// Empty when `actual` matches `expected` (dtype, shape, values within tolerance; NaN == NaN).
std::string Compare(const Tensor& actual, const Tensor& expected) {
  if (actual.dtype() != expected.dtype() || actual.dims() != expected.dims()) {
    return "got " + TypeString(actual.dtype(), actual.dims()) + ", expected " +
           TypeString(expected.dtype(), expected.dims());
  }
  int64_t bad = 0, first = -1;
  double worst = 0;
  for (int64_t i = 0; i < expected.num_elements(); ++i) {
    double a = actual.GetAsDouble(i), e = expected.GetAsDouble(i);
    if ((std::isnan(a) && std::isnan(e)) || a == e) continue;  // a == e: equal infinities
    double diff = std::fabs(a - e);
    if (!(diff <= kAtol + kRtol * std::fabs(e))) {
      if (first < 0) first = i;
      ++bad;
      worst = std::isnan(diff) ? diff : std::max(worst, diff);
    }
  }
  if (bad == 0) return "";
  std::ostringstream os;
  os << bad << " of " << expected.num_elements() << " values differ (first at " << first << ": got "
     << actual.GetAsDouble(first) << ", expected " << expected.GetAsDouble(first) << "; max |diff| " << worst << ")";
  return os.str();
}

enum class Outcome { kPass, kFail, kUnsupported };

const char* OutcomeName(Outcome o) {
  return o == Outcome::kPass ? "PASS" : o == Outcome::kFail ? "FAIL" : "UNSUPPORTED";
}

std::string Line(Outcome o, const std::string& name, const std::string& reason) {
  std::string line = std::string(OutcomeName(o)) + " " + name;
  if (!reason.empty()) line += ": " + reason;
  for (char& ch : line) {
    if (ch == '\n') ch = ' ';  // one line per data set
  }
  return line + "\n";
}

Outcome OutcomeOf(const Status& s) {
  return s.code() == StatusCode::kUnimplemented ? Outcome::kUnsupported : Outcome::kFail;
}

// Runs one data set against a live session; returns the failure reason or "".
std::string RunDataSet(runtime::Session& session, const std::vector<std::string>& input_names, const fs::path& dir) {
  for (size_t k = 0;; ++k) {
    fs::path file = dir / ("input_" + std::to_string(k) + ".pb");
    if (!fs::exists(file)) {
      if (k != input_names.size()) {
        return "the data set has " + std::to_string(k) + " inputs, the model " + std::to_string(input_names.size());
      }
      break;
    }
    if (k >= input_names.size()) return "the data set has more inputs than the model";
    auto tensor = ReadTensorFile(file.string());
    if (!tensor.ok()) return tensor.status().message();
    int index = session.FindInput(input_names[k]);
    if (index < 0) continue;  // an input the compiled plan does not read
    const proto::Buffer& desc = session.input_desc(index);
    Dims dims(desc.dims().begin(), desc.dims().end());
    if (tensor->dtype() != desc.dtype() || tensor->dims() != dims) {
      return "input '" + input_names[k] + "' is " + TypeString(tensor->dtype(), tensor->dims()) +
             ", the plan expects " + TypeString(desc.dtype(), dims);
    }
    Status s = session.SetInput(index, tensor->data(), static_cast<size_t>(tensor->num_bytes()));
    if (!s.ok()) return s.message();
  }
  Status run = session.Run();
  if (!run.ok()) return "run: " + run.message();
  int k = 0;
  for (;; ++k) {
    fs::path file = dir / ("output_" + std::to_string(k) + ".pb");
    if (!fs::exists(file)) break;
    if (k >= session.num_outputs()) return "the data set has more outputs than the plan";
    auto expected = ReadTensorFile(file.string());
    if (!expected.ok()) return expected.status().message();
    TensorRef out = session.output(k);
    auto actual = Tensor::FromBytes(out.dtype, out.dims, out.data, static_cast<size_t>(out.num_bytes()));
    if (!actual.ok()) return "output " + std::to_string(k) + ": " + actual.status().message();
    std::string diff = Compare(*actual, *expected);
    if (!diff.empty())
      return "output " + std::to_string(k) + " '" + session.plan().buffer(session.plan().output(k)).name() +
             "': " + diff;
  }
  if (k != session.num_outputs())
    return "the data set has " + std::to_string(k) + " outputs, the plan " + std::to_string(session.num_outputs());
  return "";
}

// Inputs that may determine a shape: integer tensors (Expand's shape, say),
// scalars of any type (Range's start, limit and delta), Resize's float roi and scales,
// Compress's bool condition and Unique's data (ir/core/ops/value_shaped.h).
bool MayDetermineShape(const Value& v) {
  static const std::pair<const char*, int> kShapingSlots[] = {
      {"Resize", 1}, {"Resize", 2}, {"Compress", 1}, {"Unique", 0}};
  for (const Use& use : v.uses()) {
    for (const auto& [op, slot] : kShapingSlots) {
      if (use.node->op_type() == op && use.slot == slot) return true;
    }
  }
  return v.dtype() == proto::DT_INT64 || v.dtype() == proto::DT_INT32 || v.dims().empty();
}

// Imports and compiles the case. With `data_set`, such graph inputs are bound
// to that data set's values first: Kiln's shapes are static, so an input that
// determines a shape is known at compile time or not at all.
struct Compiled {
  std::vector<std::string> input_names;
  std::unique_ptr<runtime::Session> session;
};
StatusOr<Compiled> CompileCase(const Case& c, const Options& options, const fs::path* data_set) {
  ASSIGN_OR_RETURN(Model model, ImportOnnxFile((c.dir / "model.onnx").string()));
  Graph& graph = *model.graph;
  Compiled out;
  std::vector<Value*> inputs = graph.inputs();
  for (size_t k = 0; k < inputs.size(); ++k) {
    out.input_names.push_back(inputs[k]->name());
    if (!data_set || !MayDetermineShape(*inputs[k])) continue;
    auto value = ReadTensorFile((*data_set / ("input_" + std::to_string(k) + ".pb")).string());
    if (!value.ok()) return value.status();
    graph.ReplaceAllUsesWith(inputs[k], graph.AddConstant(inputs[k]->name() + "_bound", *value));
  }
  CompileOptions compile;
  compile.device = options.device;
  compile.cpu_fallback = options.cpu_fallback;
  // The suite's inputs have static shapes; a symbolic batch takes 1.
  if (!inputs.empty() && !inputs[0]->dims().empty() && inputs[0]->dims()[0] > 0) {
    compile.batch_size = inputs[0]->dims()[0];
  }
  auto plan = CompileToPlan(graph, compile);
  if (!plan.ok()) return plan.status().WithContext("compile");
  if (options.verbose) {
    std::fprintf(stderr, "%s: %d nodes, %d steps, arena %lld bytes\n", c.name.c_str(), graph.num_nodes(),
                 plan->step_size(), static_cast<long long>(plan->arena_size()));
  }
  auto session = LoadPlan(*plan);
  if (!session.ok()) return session.status().WithContext("session");
  out.session = std::move(session).value();
  return out;
}

// Runs every data set of one case; writes one line per data set to `out`.
void RunCase(const Case& c, const Options& options, const std::function<void(const std::string&)>& out) {
  auto compiled = CompileCase(c, options, nullptr);
  const bool specialize = !compiled.ok() && compiled.status().message().find("needs a constant") != std::string::npos;
  for (const std::string& ds : c.data_sets) {
    const std::string name = c.name + "/" + ds;
    const fs::path dir = c.dir / ds;
    if (specialize) compiled = CompileCase(c, options, &dir);
    if (!compiled.ok()) {
      out(Line(OutcomeOf(compiled.status()), name, compiled.status().message()));
      continue;
    }
    std::string reason = RunDataSet(*compiled->session, compiled->input_names, dir);
    out(Line(reason.empty() ? Outcome::kPass : Outcome::kFail, name, reason));
  }
}

// Runs the case in a child; returns the lines it reported, plus a FAIL line for
// every data set it did not report when it crashed or timed out.
std::vector<std::string> RunCaseIsolated(const Case& c, const Options& options) {
  std::vector<std::string> lines;
  int fds[2];
  if (pipe(fds) != 0) {
    RunCase(c, options, [&](const std::string& l) { lines.push_back(l); });
    return lines;
  }
  std::fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(kCaseTimeoutSeconds);
    RunCase(c, options, [&](const std::string& l) {
      size_t done = 0;
      while (done < l.size()) {
        ssize_t n = write(fds[1], l.data() + done, l.size() - done);
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
    });
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string buffer;
  char chunk[4096];
  ssize_t n;
  while ((n = read(fds[0], chunk, sizeof(chunk))) > 0) buffer.append(chunk, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  std::istringstream in(buffer);
  std::string line;
  while (std::getline(in, line)) lines.push_back(line + "\n");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::string why = WIFSIGNALED(status)
                          ? (WTERMSIG(status) == SIGALRM ? std::string("timed out")
                                                         : "crashed (signal " + std::to_string(WTERMSIG(status)) + ")")
                          : "exited with status " + std::to_string(WEXITSTATUS(status));
    for (size_t i = lines.size(); i < c.data_sets.size(); ++i) {
      lines.push_back(Line(Outcome::kFail, c.name + "/" + c.data_sets[i], why));
    }
  }
  return lines;
}

struct Totals {
  long passed = 0, failed = 0, unsupported = 0;
};

Totals RunSuite(const Suite& suite, const Options& options) {
  Totals t;
  for (const Case& c : FindCases(suite.dir, options.filter)) {
    std::vector<std::string> lines;
    if (options.fork_cases) {
      lines = RunCaseIsolated(c, options);
    } else {
      RunCase(c, options, [&](const std::string& l) { lines.push_back(l); });
    }
    for (const std::string& l : lines) {
      std::fputs(l.c_str(), stdout);
      if (l.rfind("PASS ", 0) == 0) {
        ++t.passed;
      } else {
        ++t.failed;
        if (l.rfind("UNSUPPORTED ", 0) == 0) ++t.unsupported;
      }
    }
    std::fflush(stdout);
  }
  return t;
}

int Main(int argc, char** argv) {
  Options options;
  long default_min_pass = 0;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--filter" && i + 1 < argc) {
      options.filter = argv[++i];
    } else if (arg == "--min-pass" && i + 1 < argc) {
      char* end = nullptr;
      long n = std::strtol(argv[++i], &end, 10);
      if (!end || *end) {
        std::fprintf(stderr, "kiln_conformance: --min-pass needs a number\n");
        return 2;
      }
      (options.suites.empty() ? default_min_pass : options.suites.back().min_pass) = n;
    } else if (arg == "--verbose") {
      options.verbose = true;
    } else if (arg == "--no-fork") {
      options.fork_cases = false;
    } else if (arg == "--device" && i + 1 < argc) {
      options.device = argv[++i];
      if (options.device != "cpu" && options.device != "cuda") {
        std::fprintf(stderr, "kiln_conformance: --device must be cpu or cuda, not '%s'\n", options.device.c_str());
        return 2;
      }
    } else if (arg == "--cpu-fallback") {
      options.cpu_fallback = true;
    } else if (arg == "--help" || arg == "-h") {
      std::printf(
          "usage: kiln_conformance [DIR [--min-pass N]]... [--filter SUBSTR] [--verbose] [--no-fork]\n"
          "                        [--device cpu|cuda] [--cpu-fallback]\n"
          "  Runs each suite DIR (default: %s) and prints its totals; exits 1 when a suite\n"
          "  passes fewer data sets than the --min-pass that follows it. --device compiles\n"
          "  every case for that backend (--cpu-fallback: what it cannot lower runs on the host).\n",
          KILN_CONFORMANCE_DIR);
      return 0;
    } else if (!arg.empty() && arg[0] != '-') {
      options.suites.push_back({arg, 0});
    } else {
      std::fprintf(stderr, "kiln_conformance: unknown argument '%s' (see --help)\n", arg.c_str());
      return 2;
    }
  }
  if (options.suites.empty()) options.suites.push_back({KILN_CONFORMANCE_DIR, default_min_pass});
  for (const Suite& suite : options.suites) {
    if (!fs::is_directory(suite.dir)) {
      std::fprintf(stderr, "kiln_conformance: %s: no such directory\n", suite.dir.c_str());
      return 2;
    }
  }
  std::vector<Totals> totals;
  for (const Suite& suite : options.suites) totals.push_back(RunSuite(suite, options));
  bool ok = true;
  for (size_t i = 0; i < options.suites.size(); ++i) {
    const Suite& suite = options.suites[i];
    const Totals& t = totals[i];
    const bool enough = t.passed >= suite.min_pass;
    ok = ok && enough;
    std::printf("%s: %ld passed, %ld failed (%ld unsupported)%s\n", suite.dir.c_str(), t.passed, t.failed,
                t.unsupported, enough ? "" : (" -- fewer than the required " + std::to_string(suite.min_pass)).c_str());
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace kiln

int main(int argc, char** argv) { return kiln::Main(argc, argv); }
