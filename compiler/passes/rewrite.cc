#include "compiler/passes/rewrite.h"

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"

namespace kiln {

bool ReplaceValue(Graph& graph, Value* from, Value* to) {
  if (from == to) return false;
  if (!graph.IsGraphOutput(from)) {
    graph.ReplaceAllUsesWith(from, to);
    return true;
  }
  if (!to->producer() || to->is_constant() || to->is_state() || graph.IsGraphOutput(to)) return false;
  const std::string name = from->name();
  graph.ReplaceAllUsesWith(from, to);
  graph.RenameValue(to, name);
  return true;
}

bool ReplaceWithNewValue(Graph& graph, Value* from, Value* fresh) {
  const std::string name = from->name();
  if (!ReplaceValue(graph, from, fresh)) return false;
  graph.RenameValue(fresh, name);
  return true;
}

Value* AddDerivedConstant(Graph& graph, const Value* original, const std::string& name, Tensor t) {
  Value* v = graph.AddConstant(name, std::move(t));
  v->set_parameter(original && original->is_parameter());
  return v;
}

StatusOr<bool> FoldNode(Graph& graph, Node* node, const PassOptions& options) {
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

bool IsConstantFilledWith(const Value* v, double x) {
  if (!v || !v->is_constant()) return false;
  const Tensor& t = v->constant();
  if (t.dtype() == proto::DT_BOOL) return false;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    if (t.GetAsDouble(i) != x) return false;
  }
  return true;
}

bool IsReshapeLike(const Node& node) {
  // Identity is simplify's; the others are the memory planner's views.
  return IsViewOp(node.op_type()) && node.op_type() != "Identity" && node.input(0) && node.num_outputs() == 1;
}

bool CollapseReshapeChain(Graph& graph, Node* node) {
  Value* src = node->input(0);
  while (src->producer() && IsReshapeLike(*src->producer())) src = src->producer()->input(0);
  Value* out = node->output(0);
  if (!out->has_type() || src->dtype() != out->dtype()) return false;
  if (src->dims() != out->dims() && src == node->input(0)) return false;  // a single reshape: nothing to collapse
  return ReplaceWithReshapeOf(graph, node, src);
}

bool ReplaceWithReshapeOf(Graph& graph, Node* node, Value* src) {
  Value* out = node->output(0);
  if (!out->has_type() || src->dtype() != out->dtype()) return false;
  if (src->dims() == out->dims()) return ReplaceValue(graph, out, src);
  // A 0 in an explicit shape means "copy the input's dim", so empty tensors keep their chain.
  for (int64_t d : out->dims()) {
    if (d == 0) return false;
  }
  const Dims& dims = out->dims();
  Value* shape = graph.AddConstant(
      node->name() + "_shape",
      Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(dims.size())}, std::vector<int64_t>(dims)));
  Node* reshape = graph.InsertNodeBefore(node, "Reshape", node->name(), {src, shape});
  reshape->output(0)->set_type(out->type());
  if (!ReplaceWithNewValue(graph, out, reshape->output(0))) {
    graph.RemoveNode(reshape);
    return false;
  }
  return true;
}

Value* OtherOperand(const Node* node, const char* op, const Value* v) {
  if (!node || node->op_type() != op || node->num_inputs() != 2) return nullptr;
  if (node->input(0) == v && node->input(1) != v) return node->input(1);
  if (node->input(1) == v && node->input(0) != v) return node->input(0);
  return nullptr;
}

std::optional<std::vector<int64_t>> ReductionAxes(const Node& node) {
  if (node.num_inputs() < 2 || !node.input(1)) return node.attrs().GetInts("axes");
  const Value* a = node.input(1);
  if (!a->is_constant()) return std::nullopt;
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < a->constant().num_elements(); ++i) {
    axes.push_back(static_cast<int64_t>(a->constant().GetAsDouble(i)));
  }
  return axes;
}

Node* SoleUser(Graph& graph, Value* v) {
  if (graph.IsGraphOutput(v) || graph.NumUses(v) != 1) return nullptr;
  return graph.Users(v).front();
}

void RemoveUnusedNodes(Graph& graph) {
  std::vector<Node*> nodes = graph.NodeList();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    bool used = false;
    for (Value* out : (*it)->outputs()) used = used || graph.NumUses(out) > 0;
    if (!used) graph.RemoveNode(*it);
  }
}

}  // namespace kiln
