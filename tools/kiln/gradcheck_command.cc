// `kiln gradcheck`: autodiff's gradients against central finite differences
// (float64, reference kernels) for every parameter of a model.
#include <cstdio>

#include "compiler/autodiff.h"
#include "compiler/gradcheck.h"
#include "frontends/load_model.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"

namespace kiln::cli {
namespace {

constexpr char kGradcheckHelp[] = R"(Usage: kiln gradcheck MODEL [options]

Checks the gradients autodiff builds for MODEL: the whole training graph
(model in training mode + loss) runs in float64 on the reference kernels with
random, seeded inputs and targets; for each parameter, dLoss/dp is compared with
the central difference (L(p + h) - L(p - h)) / 2h. Prints the worst relative
error per parameter tensor and fails when one exceeds --tolerance.

Options:
  --loss NAME        the loss to differentiate (default: the model's, else mse)
  --batch N          batch size (default 2)
  --seed N           random inputs and sampled elements (default 0)
  --step H           finite-difference step (default 1e-4)
  --elements N       elements checked per parameter (default 64; a seeded sample when larger)
  --tolerance T      largest accepted relative error (default 1e-4)
  --list-rules       list the ops that have gradient rules and exit
  -h, --help         show this help

Examples:
  kiln gradcheck examples/iris_mlp.kiln.txt --loss sparse_categorical_crossentropy
  kiln gradcheck --list-rules
)";

}  // namespace

int GradcheckCommand(const std::vector<std::string>& args) {
  ArgSpec spec{
      "gradcheck", {"--list-rules"}, {"--loss", "--batch", "--seed", "--step", "--elements", "--tolerance"}, {}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("gradcheck", parsed.status().message());
  if (parsed->help) {
    std::fputs(kGradcheckHelp, stdout);
    return kExitOk;
  }
  if (parsed->Has("--list-rules")) {
    for (const std::string& op : OpsWithGradientRules()) std::printf("%s\n", op.c_str());
    return kExitOk;
  }
  if (parsed->positional.size() != 1) return ReportUsageError("gradcheck", "expected one MODEL");
  GradcheckOptions options;
  double tolerance = 1e-4;
  for (const char* opt : {"--batch", "--seed", "--elements"}) {
    if (!parsed->options.count(opt)) continue;
    auto n = ParsePositiveInt(opt, parsed->Get(opt));
    if (!n.ok()) return ReportUsageError("gradcheck", n.status().message());
    if (std::string(opt) == "--batch") options.batch_size = *n;
    if (std::string(opt) == "--seed") options.seed = static_cast<uint64_t>(*n);
    if (std::string(opt) == "--elements") options.max_elements = *n;
  }
  for (const char* opt : {"--step", "--tolerance"}) {
    if (!parsed->options.count(opt)) continue;
    char* end = nullptr;
    const std::string v = parsed->Get(opt);
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end || !(x > 0))
      return ReportUsageError("gradcheck", std::string(opt) + " needs a positive number");
    if (std::string(opt) == "--step") options.step = x;
    if (std::string(opt) == "--tolerance") tolerance = x;
  }
  const std::string path = parsed->positional[0];
  auto model = LoadModel(path);
  if (!model.ok()) return ReportError(model.status());
  options.loss = parsed->Get("--loss", model->training.loss().empty() ? "mse" : model->training.loss());
  auto report = RunGradcheck(*model->graph, options);
  if (!report.ok()) return ReportError(report.status().WithContext(path));
  std::printf("%-32s %-18s %8s %14s %14s\n", "parameter", "shape", "checked", "max rel error", "max abs error");
  int failed = 0;
  for (const TensorGradcheck& r : *report) {
    const bool ok = r.max_rel_error <= tolerance;
    failed += ok ? 0 : 1;
    std::printf("%-32s %-18s %8lld %14.3e %14.3e  %s\n", r.parameter.c_str(), DimsToString(r.dims).c_str(),
                static_cast<long long>(r.checked), r.max_rel_error, r.max_abs_error, ok ? "ok" : "FAIL");
  }
  std::printf("%zu parameter tensors, %d above tolerance %.1e\n", report->size(), failed, tolerance);
  return failed ? kExitError : kExitOk;
}

}  // namespace kiln::cli
