// `kiln dump`: the graph in the text form (ir/printer.h) or as Graphviz DOT.
#include <cstdio>
#include <map>

#include "compiler/load.h"
#include "compiler/memory_planner.h"
#include "compiler/passes/fuse_elementwise.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "ir/core/file_io.h"
#include "ir/core/op_registry.h"
#include "ir/model_io.h"
#include "ir/printer.h"
#include "runtime/session.h"
#include "tools/kiln/args.h"
#include "tools/kiln/commands.h"
#include "tools/kiln/graph_html.h"
#include "tools/kiln/ops_markdown.h"

namespace kiln::cli {
namespace {

constexpr char kDumpHelp[] = R"(Usage: kiln dump MODEL [options]
       kiln dump --ops [--format markdown]

Prints a model's graph after the inference pipeline (shape inference,
simplification, folding, CSE, batch-norm folding, oneDNN post-op and elementwise
fusion, dead-code elimination; --after all shows each) and lowering, with every
value's type, a table of parameter counts, and a summary of the compiled plan.

Options:
  --format F          text listing (default), dot (Graphviz DOT) or html: one
                      self-contained page with the graph laid out by Graphviz, each
                      node clickable for its op, attributes, shapes, dtypes and
                      parameter counts (with --memory: its buffers), and a search box
  --batch N           value of the symbolic batch dimension (default 1; with --train
                      the training block's batch size, else 32)
  --raw               print the graph as loaded, before any pass
  --after PASS|all    also print the graph after the named pass (or every pass)
  --no-onednn         lower to reference kernels only
  --device cpu|cuda   lower for this backend (default cpu). cuda needs no GPU here:
                      the plan is compiled (NVRTC), not run; docs/cuda.md
  --cpu-fallback      with --device: what the device cannot run runs on the CPU
  --kernels           with --device cuda: print the CUDA C of every kernel of the
                      plan instead of the graph
  --layouts           instead of the graph, print every 4-D value's layout after the
                      assign-layouts pass and the layout conversions (reorders of
                      activations inside the oneDNN kernels) one run makes without
                      and with the pass, per step and in total
  --no-layouts        skip the assign-layouts pass (every value plain)
  --memory            print the memory plan instead of the graph: the arena's exact
                      peak size, each buffer's offset, size and live steps, and what
                      reuse saves (with --train: of the training step)
  -o, --output FILE   write to FILE instead of stdout (atomically; never the model itself)
  --force             with -o: write into an existing device or FIFO (otherwise refused)
  --train             print the training step instead: the model in training mode,
                      its loss, the backward pass and the optimizer updates (from
                      the model's training block; --loss overrides the loss)
  --loss NAME         the loss for --train (default: the training block's, else
                      chosen from the model's output as kiln train does)
  --explain-fusion    instead of the graph, say for every node whether the
                      fuse-elementwise pass fused it, into which FusedElementwise
                      node, and why (not); with --train, for the training step
  --ops               list the ops Kiln knows, with a line on each (--format markdown:
                      docs/ops.md, with inputs, attributes, dtypes, ONNX versions)
  -h, --help          show this help

Examples:
  kiln dump examples/iris_mlp.kiln.txt
  kiln dump model.onnx --batch 8 --after all
  kiln dump examples/iris_mlp.kiln.txt --train
  kiln dump resnet50.onnx --memory
  kiln dump model.onnx --explain-fusion
  kiln dump resnet50.onnx --layouts
  kiln dump model.onnx --format dot -o model.dot && dot -Tsvg model.dot -o model.svg
  kiln dump model.onnx --format html --memory -o model.html
)";

std::string ListOps() {
  std::string out;
  for (const OpDef* def : AllOpDefs()) {
    char line[256];
    std::snprintf(line, sizeof(line), "%-20s %s\n", def->name.c_str(), def->doc.c_str());
    out += line;
  }
  return out;
}

// One paragraph on the lowered plan: kernels by family, arena and constant sizes.
std::string PlanSummary(const proto::Plan& plan) {
  std::map<std::string, int> by_kernel;
  for (const auto& step : plan.step()) ++by_kernel[step.kernel()];
  std::string kernels;
  for (const auto& [kernel, count] : by_kernel)
    kernels += (kernels.empty() ? "" : ", ") + std::to_string(count) + " " + kernel;
  std::string device;
  if (!plan.device().empty()) {
    device = ", device " + plan.device() + " arena " + FormatBytes(plan.device_arena_size()) + ", " +
             std::to_string(plan.kernel_image_size()) + " kernel images";
  }
  std::string choices;  // where the compiler chose among kernels, and why
  for (const auto& step : plan.step()) {
    if (!step.kernel_reason().empty())
      choices +=
          "  " + step.name() + " (" + step.op_type() + "): " + step.kernel() + ", " + step.kernel_reason() + "\n";
  }
  return "Plan: " + std::to_string(plan.step_size()) + " steps (" + (kernels.empty() ? "none" : kernels) + "), arena " +
         FormatBytes(plan.arena_size()) + ", constants " + FormatBytes(static_cast<int64_t>(plan.constants().size())) +
         device + "\n" + (choices.empty() ? "" : "Kernel choices:\n" + choices);
}

// kiln dump --device cuda --kernels: each kernel image's source, as compiled.
std::string KernelListing(const proto::Plan& plan) {
  std::string out;
  for (const proto::KernelImage& image : plan.kernel_image()) {
    out += "// " + image.name() + ": " + image.format() + " for " + image.arch() + ", " +
           std::to_string(image.data().size()) + " bytes\n" + image.source() + "\n";
  }
  return out;
}

// Layout conversions per step of `plan`'s kernels (they are built, not run).
StatusOr<std::vector<int>> ConversionsPerStep(proto::Plan plan) {
  ASSIGN_OR_RETURN(auto session, LoadPlan(std::move(plan)));
  return session->LayoutConversionsPerStep();
}

// kiln dump --layouts: `loaded` compiled with and without assign-layouts; the values of
// rank 4 with their layouts (after the pass) and the conversions one run makes.
StatusOr<std::string> LayoutReport(const Graph& loaded, CompileOptions options) {
  std::vector<int> per_step[2];
  std::unique_ptr<Graph> with;
  proto::Plan with_plan;
  for (int pass = 0; pass < 2; ++pass) {
    std::unique_ptr<Graph> graph = loaded.Clone();
    options.assign_layouts = pass == 1;
    ASSIGN_OR_RETURN(proto::Plan plan, CompileToPlan(*graph, options));
    if (pass == 1) with_plan = plan;
    ASSIGN_OR_RETURN(per_step[pass], ConversionsPerStep(std::move(plan)));
    if (pass == 1) with = std::move(graph);
  }
  std::string out = "values of rank 4 (after assign-layouts):\n";
  int laid_out = 0;
  for (const auto& node : with->nodes()) {
    for (const Value* v : node->outputs()) {
      if (!v->has_type() || v->dims().size() != 4) continue;
      laid_out += v->layout() != proto::LAYOUT_PLAIN;
      out += "  %" + v->name() + ": " + v->type().ToString() + "  " + LayoutName(v->layout()) + "  (" +
             node->op_type() + ")\n";
    }
  }
  out += "layout conversions per step (with assign-layouts):\n";
  int total[2] = {0, 0};
  for (int pass = 0; pass < 2; ++pass) {
    for (int n : per_step[pass]) total[pass] += n;
  }
  for (int i = 0; i < with_plan.step_size(); ++i) {
    if (per_step[1][i] == 0) continue;
    const proto::Step& step = with_plan.step(i);
    out += "  " + step.name() + " (" + step.op_type() + "): " + std::to_string(per_step[1][i]) + "\n";
  }
  out += "Layout conversions per run: " + std::to_string(total[0]) + " without assign-layouts, " +
         std::to_string(total[1]) + " with it (" + std::to_string(laid_out) + " values " +
         LayoutName(proto::LAYOUT_CHANNELS_LAST) + ")\n";
  return out;
}

// The HTML page of `graph` (compiled to `plan`), with the plan's buffers when `memory`.
Status HtmlPage(const Graph& graph, const proto::Plan& plan, bool memory, const std::string& title, std::string* out) {
  MemoryReport report;
  if (memory) report = ReportMemory(plan);
  ASSIGN_OR_RETURN(*out, GraphHtml(graph, memory ? &report : nullptr, title));
  return Status::Ok();
}

}  // namespace

int DumpCommand(const std::vector<std::string>& args) {
  ArgSpec spec{"dump",
               {"--raw", "--no-onednn", "--ops", "--train", "--memory", "--explain-fusion", "--force", "--layouts",
                "--no-layouts", "--kernels", "--cpu-fallback"},
               {"--format", "--batch", "--output", "--after", "--loss", "--device"},
               {{"-o", "--output"}}};
  auto parsed = ParseArgs(args, spec);
  if (!parsed.ok()) return ReportUsageError("dump", parsed.status().message());
  if (parsed->help) {
    std::fputs(kDumpHelp, stdout);
    return kExitOk;
  }
  const std::string format = parsed->Get("--format", "text");
  if (format != "text" && format != "dot" && format != "html" && !(format == "markdown" && parsed->Has("--ops"))) {
    return ReportUsageError("dump",
                            "--format must be 'text', 'dot' or 'html' (with --ops: 'markdown'), got '" + format + "'");
  }
  const bool html = format == "html";
  if (html && (parsed->options.count("--after") || parsed->Has("--explain-fusion") || parsed->Has("--ops"))) {
    return ReportUsageError("dump", "--format html shows one graph: drop --after, --explain-fusion and --ops");
  }
  if (parsed->Has("--layouts") &&
      (format != "text" || parsed->Has("--raw") || parsed->Has("--train") || parsed->Has("--memory") ||
       parsed->Has("--explain-fusion") || parsed->Has("--no-layouts") || parsed->options.count("--after"))) {
    return ReportUsageError("dump",
                            "--layouts prints its own text report: drop --format, --raw, --train, --memory, "
                            "--explain-fusion, --no-layouts and --after");
  }
  std::string device;
  if (int rc = ResolveDevice(*parsed, /*runs_here=*/false, &device); rc != kExitOk) return rc;
  if (device != "cpu" && parsed->Has("--layouts")) {
    return ReportUsageError("dump", "--layouts reports the CPU's oneDNN layouts: drop --device");
  }
  const bool kernels = parsed->Has("--kernels");
  if (kernels && (device == "cpu" || parsed->Has("--train") || parsed->Has("--raw") || parsed->Has("--memory") ||
                  parsed->Has("--explain-fusion") || format != "text")) {
    return ReportUsageError("dump",
                            "--kernels lists a device plan's kernels: give --device cuda, drop --train, "
                            "--raw, --memory, --explain-fusion and --format");
  }
  int64_t batch = 1;
  if (parsed->options.count("--batch")) {
    auto b = ParsePositiveInt("--batch", parsed->Get("--batch"));
    if (!b.ok()) return ReportUsageError("dump", b.status().message());
    batch = *b;
  }
  const std::string after = parsed->Get("--after");
  if (!after.empty() && after != "all" && !CreatePass(after)) {
    return ReportUsageError("dump", "--after: unknown pass '" + after + "'");
  }
  const std::string output_path = parsed->Get("--output");
  const bool force = parsed->Has("--force");
  if (!output_path.empty()) {
    // Before any pass runs: the output is not the model (nor any spelling or link of
    // it) and its directory exists.
    if (!parsed->positional.empty()) {
      Status distinct = CheckDistinctPaths({{"model", parsed->positional[0]}}, {{"-o", output_path}});
      if (!distinct.ok()) return ReportUsageError("dump", distinct.message());
    }
    Status st = CheckOutputPath(output_path, force);
    if (!st.ok()) return ReportError(st);
  }

  std::string text;
  if (parsed->Has("--ops")) {
    if (!parsed->positional.empty()) return ReportUsageError("dump", "--ops takes no model");
    text = format == "markdown" ? OpsMarkdown() : ListOps();
  } else {
    if (parsed->positional.size() != 1) {
      return ReportUsageError("dump", parsed->positional.empty()
                                          ? "missing MODEL"
                                          : "expected one MODEL, got " + std::to_string(parsed->positional.size()));
    }
    const std::string model_path = parsed->positional[0];
    auto model = LoadModel(model_path);
    if (!model.ok()) return ReportError(model.status());
    Graph& graph = *model->graph;
    std::vector<FusionDecision> decisions;
    const bool explain = parsed->Has("--explain-fusion");
    auto print = [&](const Graph& g) {
      if (explain) return FormatFusionDecisions(decisions);
      return format == "dot" ? PrintDot(g) : PrintGraph(g);
    };
    if (explain && parsed->Has("--raw"))
      return ReportUsageError("dump", "--explain-fusion runs the passes; drop --raw");
    if (parsed->Has("--raw") && html) {
      auto page = GraphHtml(graph, nullptr, model_path + " (as loaded)");
      if (!page.ok()) return ReportError(page.status());
      text = std::move(page).value();
    } else if (parsed->Has("--raw")) {
      text = print(graph);
    } else if (parsed->Has("--train")) {
      proto::TrainingSpec spec = model->training;
      if (parsed->options.count("--batch")) spec.set_batch_size(batch);
      if (parsed->options.count("--loss")) spec.set_loss(parsed->Get("--loss"));
      auto config = TrainingConfigFromSpec(spec, graph);
      if (!config.ok()) return ReportError(config.status().WithContext(model_path));
      config->fusion_decisions = &decisions;
      config->device = device;
      auto program = BuildTrainingProgram(graph, *config);
      if (!program.ok()) return ReportError(program.status().WithContext(model_path));
      CompileOptions step_options;
      step_options.device = device;
      step_options.use_onednn = !parsed->Has("--no-onednn");
      step_options.prepare_for_inference = false;  // BuildTrainingProgram optimized it
      auto plan = CompileToPlan(*program->step, step_options);
      if (!plan.ok()) return ReportError(plan.status().WithContext(model_path));
      if (html) {
        Status page = HtmlPage(*program->step, *plan, parsed->Has("--memory"), model_path + " (training step)", &text);
        if (!page.ok()) return ReportError(page);
      } else if (parsed->Has("--memory")) {
        text = PlanSummary(*plan) + FormatPlanMemory(*plan);
      } else {
        text = print(*program->step);
        if (format == "text" && !explain) text += PlanSummary(*plan);
      }
    } else {
      const ParamCounts loaded = CountParams(graph);  // before the passes fold weights into constants
      CompileOptions options;
      options.device = device;
      options.cpu_fallback = parsed->Has("--cpu-fallback");
      options.batch_size = batch;
      options.use_onednn = !parsed->Has("--no-onednn");
      options.assign_layouts = !parsed->Has("--no-layouts");
      if (parsed->Has("--layouts")) {
        auto report = LayoutReport(graph, options);
        if (!report.ok()) return ReportError(report.status().WithContext(model_path));
        text = std::move(report).value();
      } else {
        options.fusion_decisions = &decisions;
        if (!after.empty()) {
          options.observer = [&](const std::string& pass, const Graph& g) {
            if (after != "all" && after != pass) return;
            text += (format == "dot" ? "// after pass " : "# after pass ") + pass + "\n" + print(g) + "\n";
          };
        }
        auto plan = CompileToPlan(graph, options);
        if (!plan.ok()) return ReportError(plan.status().WithContext(model_path));
        if (kernels) {
          text = KernelListing(*plan);
        } else if (html) {
          Status page = HtmlPage(graph, *plan, parsed->Has("--memory"), model_path, &text);
          if (!page.ok()) return ReportError(page);
        } else if (parsed->Has("--memory")) {
          text += PlanSummary(*plan) + FormatPlanMemory(*plan);
        } else {
          text += print(graph);
          const ParamCounts compiled = CountParams(graph);
          if (format == "text" && !explain &&
              (compiled.total != loaded.total || compiled.trainable != loaded.trainable)) {
            // Folding (batch norm into convolutions, a recurrent bias into the op's B) changes the
            // counts above; the model's own, as Keras counts them, are these.
            text += "As loaded: " + FormatCount(loaded.total) + " params, " + FormatCount(loaded.trainable) +
                    " trainable (before the passes fold weights into constants)\n";
          }
          if (format == "text" && !explain) text += PlanSummary(*plan);
        }
      }
    }
  }

  if (output_path.empty()) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return kExitOk;
  }
  Status written = WriteFileAtomically(output_path, text, WriteOptions{force});
  return written.ok() ? kExitOk : ReportError(written);
}

}  // namespace kiln::cli
