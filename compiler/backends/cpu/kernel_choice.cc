#include "compiler/backends/cpu/kernel_choice.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "ir/core/file_io.h"
#include "runtime/kernel_choice.h"

namespace kiln {
namespace {

constexpr double kTimingBudgetMs = 10;  // per product: a few alternating rounds of each candidate

bool EnvIsZero(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == "0";
}

std::string CacheDir() { return KilnCacheDir("kernels", "KILN_KERNEL_CACHE_DIR", "KILN_KERNEL_CACHE"); }

// The spec the kernels are built from: shapes, attributes, and the constants' data.
runtime::KernelSpec SpecOf(const Node& node) {
  runtime::KernelSpec spec;
  spec.name = node.name();
  spec.op_type = node.op_type();
  spec.attrs = node.attrs();
  for (const Value* v : node.inputs()) {
    const bool constant = v && v->is_constant();
    void* data = constant ? const_cast<void*>(v->constant().data()) : nullptr;
    spec.inputs.push_back(v ? TensorRef{v->dtype(), v->dims(), data, v->layout()} : TensorRef{});
    spec.constant_inputs.push_back(constant);
  }
  for (const Value* v : node.outputs()) spec.outputs.push_back(TensorRef{v->dtype(), v->dims(), nullptr, v->layout()});
  return spec;
}

// Everything the measurement depends on, one line each; the cache file's first lines.
std::string CacheKey(const runtime::KernelSpec& spec, const std::vector<std::string>& candidates, bool cold_constants) {
  std::ostringstream key;
  key << "kiln kernel choice v1\n"
      << runtime::MeasurementContext() << (cold_constants ? ", cold constants" : "") << "\n"
      << spec.op_type;
  key << " {" << spec.attrs.ToString() << "}";
  for (size_t i = 0; i < spec.inputs.size(); ++i) {
    key << " " << DimsToString(spec.inputs[i].dims) << (spec.constant_inputs[i] ? "c" : "");
  }
  key << " -> " << DimsToString(spec.outputs[0].dims) << "\ncandidates";
  for (const std::string& c : candidates) key << " " << c;
  return key.str();
}

std::string CachePath(const std::string& dir, const std::string& key) {
  char name[32];
  std::snprintf(name, sizeof(name), "/%016llx", static_cast<unsigned long long>(StableHash(key)));
  return dir + name;
}

// The cached winner and its figures, or "" when the file is missing, belongs to another
// key (a hash collision) or is damaged in any way: such an entry is ignored, then replaced.
std::pair<std::string, std::string> ReadCached(const std::string& path, const std::string& key,
                                               const std::vector<std::string>& candidates) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return {};
  std::ostringstream text;
  text << f.rdbuf();
  const std::string s = text.str();
  if (s.size() > 4096 || s.compare(0, key.size() + 1, key + "\n") != 0) return {};
  std::istringstream rest(s.substr(key.size() + 1));
  std::string tag, winner, figures;
  if (!(rest >> tag >> winner) || tag != "winner") return {};
  std::getline(rest, figures);
  std::string end;
  if (!std::getline(rest, end) || end != "end" || figures.find('\n') != std::string::npos) return {};
  for (const std::string& c : candidates) {
    if (c == winner) return {winner, figures.empty() ? "" : figures.substr(1)};
  }
  return {};
}

// Best effort: a cache that cannot be written only costs timing again. WriteFileAtomically:
// temporary + rename, never half a file, also with several compilers at once.
void WriteCached(const std::string& dir, const std::string& path, const std::string& data) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (!error) (void)WriteFileAtomically(path, data);
}

std::string Figures(const std::vector<std::string>& candidates, const std::vector<runtime::KernelTiming>& ms) {
  std::string out;
  for (size_t i = 0; i < candidates.size(); ++i) {
    char item[64];
    std::snprintf(item, sizeof(item), "%s%s %.4g ms", i ? ", " : "", candidates[i].c_str(), ms[i].median_ms);
    out += item;
  }
  return out;
}

// Whether the rounds agree: on a busy machine a thread of a parallel kernel waits for a core
// and single rounds take 10-100x longer (MLP 784x512 at batch 1 on two threads: 0.009 ms
// quiet, 1.6-6 ms at load 7), so the fastest round may be luck. Such a measurement still
// picks the kernel for this compile, but is not cached for later ones.
bool Steady(const std::vector<runtime::KernelTiming>& ms) {
  constexpr double kSteadyRatio = 1.5;  // median round over the fastest, at most
  for (const runtime::KernelTiming& t : ms) {
    if (t.median_ms > kSteadyRatio * t.best_ms) return false;
  }
  return true;
}

// Times `candidates` for `spec` (or reads the cached winner); `rule` where timing is off
// or fails.
KernelChoice Measure(const runtime::KernelSpec& spec, const std::vector<std::string>& candidates,
                     const KernelChoice& rule, bool cold_constants) {
  if (EnvIsZero("KILN_KERNEL_TIMING")) return rule;
  const std::string key = CacheKey(spec, candidates, cold_constants);
  const std::string dir = CacheDir();
  const std::string path = dir.empty() ? "" : CachePath(dir, key);
  if (!path.empty()) {
    auto [winner, figures] = ReadCached(path, key, candidates);
    if (!winner.empty()) return {winner, "cached: " + figures};
  }
  auto ms = runtime::TimeKernels(candidates, spec, kTimingBudgetMs, cold_constants);
  if (!ms.ok()) return {rule.kernel, rule.reason + " (timing failed: " + ms.status().message() + ")"};
  // The median rounds compared (the rounds alternate between the candidates, so a slower
  // spell of the machine costs each the same). The fastest round is not the measure: a round
  // can also be faster than the kernel ever runs in a model (ResNet-50's 14x14 Winograd
  // convolution once had a best round of 0.63 ms, against 1.1-1.3 ms in 17 other compiles and
  // in the model, and was chosen over a 0.8 ms direct convolution).
  size_t best = 0;
  for (size_t i = 1; i < ms->size(); ++i) {
    if ((*ms)[i].median_ms < (*ms)[best].median_ms) best = i;
  }
  const std::string figures = Figures(candidates, *ms);
  if (!Steady(*ms)) return {candidates[best], "measured: " + figures + " (unsteady: not cached)"};
  if (!path.empty()) WriteCached(dir, path, key + "\nwinner " + candidates[best] + " " + figures + "\nend\n");
  return {candidates[best], "measured: " + figures};
}

// Products over a constant B: "gemv" for few rows, by rule or measured against oneDNN's
// matmul; Kiln's blocked product "sgemm" measured against both from kSmallProductRuleRows
// rows (at one thread's few rows it only competes with oneDNN's small-shape paths).
KernelChoice ChooseProductKernel(const runtime::KernelSpec& spec, const std::string& lowered) {
  if (!runtime::SmallProductUnsupportedReason(spec).empty()) return {lowered, ""};
  const int64_t rows = runtime::SmallProductRows(spec);
  const bool blocked = runtime::BlockedProductUnsupportedReason(spec).empty();
  if (rows > runtime::SmallProductMaxRows()) {
    if (!blocked) return {lowered, ""};
    return Measure(spec, {lowered, runtime::kBlockedProductKernel}, {lowered, "rule: oneDNN without timing"},
                   /*cold_constants=*/false);
  }
  if (rows <= kSmallProductSureRows) {
    return {"gemv", "rule: " + std::to_string(rows) + " rows <= " + std::to_string(kSmallProductSureRows)};
  }
  const KernelChoice rule =
      rows <= kSmallProductRuleRows
          ? KernelChoice{"gemv", "rule: " + std::to_string(rows) + " rows <= " + std::to_string(kSmallProductRuleRows)}
          : KernelChoice{"onednn",
                         "rule: " + std::to_string(rows) + " rows > " + std::to_string(kSmallProductRuleRows)};
  std::vector<std::string> candidates = {"gemv", "onednn"};
  if (rows > kSmallProductRuleRows && blocked) candidates.push_back(runtime::kBlockedProductKernel);
  return Measure(spec, candidates, rule, /*cold_constants=*/false);
}

// oneDNN's Winograd convolution against its direct one, where it runs: 0.4-0.75x the
// direct time on ResNet-50's 3x3 layers on an AVX-512 Xeon, reorders to its blocked layout
// included. Kiln's own F(2x2,3x3) ("wino23", channels-last only) is a candidate too: below
// AVX-512 oneDNN has no Winograd kernel and its direct 3x3 one runs at 50-72% of the peak;
// so is, for strided convolutions, its product over gathered rows ("im2col": oneDNN's
// jit:avx2 ran ResNet-50's strided 3x3 layers at 45-62%). Winograd's rounding differs
// (~1e-6 relative), so without timing the direct one stays. Timed with cold constants
// where the plan's do not stay cached (transformed weights are 1.8-4x the direct ones):
// each kernel's reordered or packed weights are flushed too (Kernel::PackedConstants). The
// small-product and direct-convolution choices stay timed hot.
KernelChoice ChooseConvAlgorithm(const runtime::KernelSpec& spec, const std::string& lowered, bool cold_constants) {
  std::vector<std::string> candidates = {lowered};
  if (!EnvIsZero("KILN_WINOGRAD")) {
    if (runtime::WinogradUnsupportedReason(spec).empty()) candidates.push_back(runtime::kWinogradKernel);
    if (runtime::WinogradF23UnsupportedReason(spec).empty()) candidates.push_back(runtime::kWinogradF23Kernel);
  }
  if (runtime::Im2colConvUnsupportedReason(spec).empty()) candidates.push_back(runtime::kIm2colConvKernel);
  if (candidates.size() == 1) return {lowered, ""};
  return Measure(spec, candidates, {lowered, "rule: direct convolution without timing"}, cold_constants);
}

KernelChoice ChooseConvKernel(const runtime::KernelSpec& spec, const std::string& lowered, bool cold_constants) {
  if (!runtime::SmallConvUnsupportedReason(spec).empty()) return ChooseConvAlgorithm(spec, lowered, cold_constants);
  const double macs = runtime::SmallConvMacs(spec);
  const int64_t channels = spec.inputs[0].dims[1];
  if (macs > runtime::SmallConvMaxMacs() || channels > runtime::SmallConvMaxChannels())
    return ChooseConvAlgorithm(spec, lowered, cold_constants);
  const std::string c = std::to_string(channels) + " input channel" + (channels == 1 ? "" : "s");
  const KernelChoice rule = channels <= kSmallConvRuleChannels
                                ? KernelChoice{"dconv", "rule: " + c + " <= " + std::to_string(kSmallConvRuleChannels)}
                                : KernelChoice{"onednn", "rule: " + c + " > " + std::to_string(kSmallConvRuleChannels)};
  return Measure(spec, {"dconv", "onednn"}, rule, /*cold_constants=*/false);
}

// The weight gradient of a stride-1 convolution with many taps: oneDNN's against Kiln's
// product over padded images ("wgrad"), whose padding columns make it slower on small images.
KernelChoice ChooseGradWeightKernel(const runtime::KernelSpec& spec, const std::string& lowered) {
  if (!runtime::ConvGradWeightProductUnsupportedReason(spec).empty()) return {lowered, ""};
  return Measure(spec, {lowered, runtime::kConvGradWeightProductKernel}, {lowered, "rule: oneDNN without timing"},
                 /*cold_constants=*/false);
}

}  // namespace

KernelChoice ChooseKernel(const Node& node, const std::string& lowered, int64_t plan_constant_bytes) {
  const std::string& op = node.op_type();
  if (lowered != "onednn") return {lowered, ""};
  const bool cold = plan_constant_bytes > runtime::CachedConstantBytes();
  if (op == "MatMul" || op == "FusedMatMul" || op == "Gemm") return ChooseProductKernel(SpecOf(node), lowered);
  if (op == "Conv" || op == "FusedConv") return ChooseConvKernel(SpecOf(node), lowered, cold);
  if (op == "ConvGradWeight") return ChooseGradWeightKernel(SpecOf(node), lowered);
  return {lowered, ""};
}

}  // namespace kiln
