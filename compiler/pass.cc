#include "compiler/pass.h"

#include "ir/verifier.h"

namespace kiln {

namespace {
struct PassInfo {
  const char* name;
  PassFactory factory;
  const char* summary;
};
const std::vector<PassInfo>& Passes() {
  static const std::vector<PassInfo> passes = {
#define PASS(name, factory, summary) {name, factory, summary},
#include "compiler/passes/passes.def"
#undef PASS
  };
  return passes;
}
}  // namespace

std::unique_ptr<Pass> CreatePass(const std::string& name) {
  for (const auto& p : Passes()) {
    if (name == p.name) return p.factory();
  }
  return nullptr;
}

std::vector<std::pair<std::string, std::string>> ListPasses() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : Passes()) out.emplace_back(p.name, p.summary);
  return out;
}

Status RunPipeline(Graph& graph, const std::vector<PipelineEntry>& pipeline, const PassOptions& options,
                   const PassObserver& observer) {
  for (const auto& entry : pipeline) {
    auto pass = CreatePass(entry.pass);
    if (!pass) return InvalidArgument("unknown pass '", entry.pass, "'");
    auto changed = pass->Run(graph, options);
    if (!changed.ok()) return changed.status();
#if KILN_VERIFY_PASSES
    Status verified = Verify(graph);
    if (!verified.ok()) return Internal("IR invalid after pass '", entry.pass, "': ", verified.message());
#endif
    if (observer) observer(entry.pass, graph);
  }
  return Status::Ok();
}

const std::vector<PipelineEntry>& InferencePipeline() {
  static const std::vector<PipelineEntry> pipeline = {
      // Symbolic dims (ONNX dim_params such as "batch") become --batch N.
      {"resolve-symbolic-dims"},
      // Static types everywhere; shape subgraphs (Shape -> Gather -> Concat) fold to constants.
      {"infer-shapes"},
      // ONNX Gradient nodes become backward graphs (which need the types above).
      {"expand-gradients"},
      // Identities go first so that the passes below see the real producers:
      // x+0, x*1, Identity, inference Dropout, no-op Casts, reshape chains.
      {"simplify"},
      // Exporters wrap layouts in Transpose pairs and transpose weights at run time.
      {"eliminate-transposes"},
      // Batch-first recurrent layers run batch-first (layout=1): no transposes of the sequence.
      {"recurrent-batch-first"},
      // What the two passes above exposed (e.g. arithmetic on now-adjacent constants).
      {"fold-constants"},
      // Duplicate subexpressions (shared shape constants, repeated branches) once.
      {"cse"},
      // A layer norm spelled out by an exporter before opset 17 becomes one LayerNormalization
      // (after CSE, which merges the epsilon and exponent constants it compares).
      {"fuse-layer-norm"},
      // Inference BN becomes Conv/MatMul weights and bias (needs the Conv's sole use, so after CSE).
      {"fold-batchnorm"},
      // Conv/MatMul/Gemm + bias + residual + activation -> one oneDNN primitive with post-ops.
      {"fuse-postops"},
      // Folding and rewriting leave shape computations and unused initializers behind.
      {"dce"},
      // Elementwise chains become one generated kernel each (one pass over memory).
      {"fuse-elementwise"},
      // Fusion leaves the members' now-unused constants behind.
      {"dce"},
      // Conv regions keep one layout (channels-last) between their kernels: reorders only at
      // the edges. Last, so that it sees the final nodes (fused ones included).
      {"assign-layouts"},
  };
  return pipeline;
}

// The training graphs run no rewrites of the model: BN folding is wrong while the
// statistics change, and the fused post-op ops have no gradient rules.
const std::vector<PipelineEntry>& TrainingTypingPipeline() {
  static const std::vector<PipelineEntry> pipeline = {
      // The batch size is the training block's (or the command line's).
      {"resolve-symbolic-dims"},
      // Static types for the loss, autodiff and the updates; shape subgraphs fold.
      {"infer-shapes"},
  };
  return pipeline;
}

const std::vector<PipelineEntry>& TrainingFinishPipeline(bool fuse_elementwise) {
  static const std::vector<PipelineEntry> fused = {
      // Gradients of parameters that do not reach the loss, unused forward values.
      {"dce"},
      // Relu -> MaxPool: the relu gradient over the pooled elements (a quarter for 2x2).
      {"sink-relu-grad"},
      // After autodiff, so no gradient rule is needed: a Conv/MatMul whose bias-add and Relu
      // outputs only the Relu reads (Relu's gradient reads its output) becomes one primitive.
      {"fuse-postops"},
      // A softmax cross-entropy, its gradient and the output layer's bias gradient: one kernel.
      {"fuse-losses"},
      // Forward and backward chains alike; optimizer updates and every other state update
      // stay nodes of their own (the pass never fuses them).
      {"fuse-elementwise"},
      // The fused members' now-unused constants.
      {"dce"},
  };
  static const std::vector<PipelineEntry> unfused = {{"dce"}};
  return fuse_elementwise ? fused : unfused;
}

Status PrepareForInference(Graph& graph, const PassOptions& options, const PassObserver& observer) {
  return RunPipeline(graph, InferencePipeline(), options, observer);
}

}  // namespace kiln
