// resolve-symbolic-dims and infer-shapes (with constant folding of small
// all-constant subgraphs, which turns ONNX shape computations into constants).
#include "compiler/pass.h"
#include "ir/op_registry.h"
#include "runtime/kernel.h"

namespace kiln {
namespace {

class ResolveSymbolicDimsPass : public Pass {
 public:
  std::string name() const override { return "resolve-symbolic-dims"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    bool changed = false;
    for (Value* in : graph.inputs()) {
      TensorType t = in->type();
      for (size_t i = 0; i < t.dims.size(); ++i) {
        if (t.dims[i] >= 0) continue;
        if (i != 0) {
          std::string symbol = "?";
          for (auto& [idx, sym] : in->symbolic_dims()) {
            if (idx == static_cast<int>(i)) symbol = sym;
          }
          return InvalidArgument("input '", in->name(), "': dimension ", i, " is symbolic ('", symbol,
                                 "'); only the batch dimension (0) may be, and it is fixed by --batch");
        }
        t.dims[i] = options.batch_size;
        changed = true;
      }
      in->set_type(t);
      in->symbolic_dims().clear();
    }
    return changed;
  }
};

class InferShapesPass : public Pass {
 public:
  std::string name() const override { return "infer-shapes"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    std::vector<std::string> errors;
    bool changed = false;
    for (Value* in : graph.inputs()) {
      if (!in->has_type()) errors.push_back("input '" + in->name() + "' has no declared type");
    }
    for (Node* node : graph.NodeList()) {
      bool inputs_ready = true;
      for (Value* in : node->inputs()) inputs_ready = inputs_ready && (!in || in->has_type());
      if (!inputs_ready) continue;  // an earlier error already covers this node
      auto types = InferNodeTypes(*node);
      if (!types.ok()) {
        errors.push_back(types.status().message());
        continue;
      }
      for (int i = 0; i < node->num_outputs(); ++i) {
        if (node->output(i)->type() != (*types)[i]) changed = true;
        node->output(i)->set_type((*types)[i]);
      }
      auto folded = TryFold(graph, node, options);
      if (!folded.ok()) {
        errors.push_back(folded.status().message());
        continue;
      }
      changed = changed || *folded;
    }
    if (!errors.empty()) {
      std::string msg;
      for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "\n" : "") + errors[i];
      return InvalidArgument(msg);
    }
    return changed;
  }

 private:
  // Evaluates `node` at compile time when all its inputs are known and its
  // outputs are small; the node is removed and its outputs become constants.
  static StatusOr<bool> TryFold(Graph& graph, Node* node, const PassOptions& options) {
    if (node->op_type() == "Shape") {
      const Dims& dims = node->input(0)->dims();
      int64_t rank = static_cast<int64_t>(dims.size());
      int64_t start = node->attrs().GetInt("start", 0), end = node->attrs().GetInt("end", rank);
      if (start < 0) start += rank;
      if (end < 0) end += rank;
      start = std::max<int64_t>(0, std::min(start, rank));
      end = std::max<int64_t>(start, std::min(end, rank));
      std::vector<int64_t> values(dims.begin() + start, dims.begin() + end);
      Value* out = node->output(0);
      graph.RemoveNode(node);
      out->set_constant(Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(values.size())}, values));
      return true;
    }
    for (Value* in : node->inputs()) {
      if (in && !in->is_constant()) return false;
    }
    int64_t total = 0;
    for (Value* out : node->outputs()) {
      if (!out->has_type()) return false;
      total += ElementCount(out->dims());
    }
    if (total > options.max_fold_elements) return false;
    if (!runtime::KernelRegistry::Global().Has("ref", node->op_type())) return false;
    std::vector<TensorRef> ins;
    for (Value* in : node->inputs()) ins.push_back(in ? in->constant().ref() : TensorRef{});
    std::vector<Tensor> results;
    std::vector<TensorRef> outs;
    for (Value* out : node->outputs()) {
      results.emplace_back(out->dtype(), out->dims());
      outs.push_back(results.back().ref());
    }
    RETURN_IF_ERROR(runtime::RunReferenceOp(node->op_type(), node->name(), node->attrs(), ins, outs)
                        .WithContext(node->Label() + " (constant folding)"));
    std::vector<Value*> outputs = node->outputs();
    graph.RemoveNode(node);
    for (size_t i = 0; i < outputs.size(); ++i) outputs[i]->set_constant(std::move(results[i]));
    return true;
  }
};

class DeadCodeEliminationPass : public Pass {
 public:
  std::string name() const override { return "dce"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    bool changed = false;
    std::vector<Node*> nodes = graph.NodeList();
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      Node* node = *it;
      bool used = false;
      for (Value* out : node->outputs()) used = used || graph.NumUses(out) > 0;
      if (!used) {
        graph.RemoveNode(node);
        changed = true;
      }
    }
    size_t before = graph.values().size();
    graph.RemoveDeadValues();
    return changed || graph.values().size() != before;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateResolveSymbolicDimsPass() { return std::make_unique<ResolveSymbolicDimsPass>(); }
std::unique_ptr<Pass> CreateInferShapesPass() { return std::make_unique<InferShapesPass>(); }
std::unique_ptr<Pass> CreateDeadCodeEliminationPass() { return std::make_unique<DeadCodeEliminationPass>(); }

}  // namespace kiln
