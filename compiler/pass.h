// Passes: one interface (Run -> StatusOr<bool changed>), registered by name and
// composed into pipelines written as data.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "compiler/target.h"
#include "ir/core/status.h"
#include "ir/graph.h"

namespace kiln {

struct FusionDecision;  // compiler/passes/fuse_elementwise.h

/// Options every pass may read.
struct PassOptions {
  int64_t batch_size = 1;  // value for symbolic batch dimensions
  /// Largest output (in elements) that constant folding computes at compile time.
  int64_t max_fold_elements = int64_t{1} << 20;
  /// When set, fuse-elementwise appends its verdict on every node (--explain-fusion).
  std::vector<FusionDecision>* fusion_decisions = nullptr;
  /// What target-dependent rewrites (fuse-postops, assign-layouts) ask; never null.
  const Target* target = &DefaultTarget();
  /// assign-layouts gives values the target's region layout (false: every value plain).
  bool assign_layouts = true;
};

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string name() const = 0;
  /// Transforms `graph`; returns whether it changed anything.
  virtual StatusOr<bool> Run(Graph& graph, const PassOptions& options) = 0;
};

using PassFactory = std::function<std::unique_ptr<Pass>()>;

// Each pass file defines its Create<Name>Pass(); compiler/passes/passes.def lists them.
#define PASS(name, factory, summary) std::unique_ptr<Pass> factory();
#include "compiler/passes/passes.def"
#undef PASS

std::unique_ptr<Pass> CreatePass(const std::string& name);
/// (name, one-line summary) of every registered pass.
std::vector<std::pair<std::string, std::string>> ListPasses();

/// A pipeline entry: a pass name (comments live next to the pipeline's definition).
struct PipelineEntry {
  std::string pass;
};

/// Called after each pass (for `kiln dump --after`).
using PassObserver = std::function<void(const std::string& pass, const Graph& graph)>;

/// Runs the passes in order; in verifying builds runs the verifier after each one,
/// naming the pass that broke an invariant.
Status RunPipeline(Graph& graph, const std::vector<PipelineEntry>& pipeline, const PassOptions& options,
                   const PassObserver& observer = nullptr);

/// The default inference pipeline (see pass_pipeline.cc for what each entry does).
const std::vector<PipelineEntry>& InferencePipeline();

/// The training step and its evaluation graph (compiler/training.cc), in two halves around
/// the loss, autodiff and the optimizer updates: typing first, then the cleanup.
const std::vector<PipelineEntry>& TrainingTypingPipeline();
const std::vector<PipelineEntry>& TrainingFinishPipeline(bool fuse_elementwise);

/// Convenience: the default inference pipeline (shape inference, folding, cleanup).
Status PrepareForInference(Graph& graph, const PassOptions& options, const PassObserver& observer = nullptr);

}  // namespace kiln
