// fuse-layer-norm: the layer normalization that exporters before ONNX opset 17 spell out
// (PyTorch's nn.LayerNorm at opset 14, Keras' LayerNormalization)
//   mean = ReduceMean(x, last axis); d = x - mean; var = ReduceMean(d ^ 2, last axis)
//   y = d / Sqrt(var + epsilon) [* scale] [+ bias]
// becomes one LayerNormalization(x, scale, bias) {axis=-1, epsilon}: one pass over the rows
// by oneDNN instead of two reference reductions and five elementwise steps (the opset-14
// Transformer encoder at batch 64: ReduceMean alone took 0.74 of 1.85 ms). The same
// formula (biased variance), so the results agree to rounding. Float32, the last axis only;
// every intermediate value must be used by the pattern alone.
#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

// A ReduceMean of `x` over its last axis alone, keeping it.
bool IsMeanOverLastAxis(const Node* n, const Value* x) {
  if (!n || n->op_type() != "ReduceMean" || n->input(0) != x || !x->has_type() || x->dims().empty() ||
      n->attrs().GetInt("keepdims", 1) != 1) {
    return false;
  }
  const auto axes = ReductionAxes(*n);
  const int64_t rank = static_cast<int64_t>(x->dims().size());
  return axes && axes->size() == 1 && ((*axes)[0] == -1 || (*axes)[0] == rank - 1);
}

// A float32 constant with one value per element of the normalized axis (its dims [D] or
// [1, ..., D]): a LayerNormalization Scale or B.
bool IsPerFeatureConstant(const Value* v, int64_t features) {
  if (!v || !v->is_constant() || v->dtype() != proto::DT_FLOAT || v->dims().empty() || v->dims().back() != features) {
    return false;
  }
  return v->constant().num_elements() == features;
}

class FuseLayerNormPass : public Pass {
 public:
  std::string name() const override { return "fuse-layer-norm"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions&) override {
    bool changed = false;
    for (Node* mean : graph.NodeList()) {
      if (mean->op_type() != "ReduceMean") continue;
      Value* x = mean->input(0);
      if (!IsMeanOverLastAxis(mean, x) || x->dtype() != proto::DT_FLOAT) continue;
      const int64_t features = x->dims().back();
      // d = x - mean, read by the square and the division alone.
      Node* sub = SoleUser(graph, mean->output(0));
      if (!sub || sub->op_type() != "Sub" || sub->input(0) != x || sub->input(1) != mean->output(0)) continue;
      Value* d = sub->output(0);
      if (graph.IsGraphOutput(d) || graph.NumUses(d) != 2 || d->dims() != x->dims()) continue;
      Node* pow = nullptr;
      Node* div = nullptr;
      for (Node* user : graph.Users(d)) {
        if (user->op_type() == "Pow" && user->input(0) == d && IsConstantFilledWith(user->input(1), 2.0)) pow = user;
        if (user->op_type() == "Div" && user->input(0) == d) div = user;
      }
      if (!pow || !div) continue;
      Node* var = SoleUser(graph, pow->output(0));
      if (!IsMeanOverLastAxis(var, pow->output(0))) continue;
      Node* add_eps = SoleUser(graph, var->output(0));
      const Value* eps = OtherOperand(add_eps, "Add", var->output(0));
      if (!eps || !eps->is_constant() || eps->constant().num_elements() != 1) continue;
      Node* sqrt = SoleUser(graph, add_eps->output(0));
      if (!sqrt || sqrt->op_type() != "Sqrt" || SoleUser(graph, sqrt->output(0)) != div ||
          div->input(1) != sqrt->output(0)) {
        continue;
      }
      // Optional affine tail: * scale, then + bias.
      Value* y = div->output(0);
      Value* scale = nullptr;
      Value* bias = nullptr;
      if (Node* mul = SoleUser(graph, y); mul && mul->op_type() == "Mul") {
        Value* s = OtherOperand(mul, "Mul", y);
        if (IsPerFeatureConstant(s, features) && mul->output(0)->dims() == x->dims()) {
          scale = s;
          y = mul->output(0);
        }
      }
      if (Node* add = SoleUser(graph, y); add && add->op_type() == "Add") {
        Value* b = OtherOperand(add, "Add", y);
        if (IsPerFeatureConstant(b, features) && add->output(0)->dims() == x->dims()) {
          bias = b;
          y = add->output(0);
        }
      }
      if (!scale) {
        scale = graph.AddConstant(mean->name() + "_unit_scale",
                                  Tensor::FromVector(proto::DT_FLOAT, {features}, std::vector<float>(features, 1.0f)));
      }
      std::vector<Value*> inputs = {x, scale};
      if (bias) inputs.push_back(bias);
      Attrs attrs;
      attrs.SetInt("axis", -1);
      attrs.SetFloat("epsilon", static_cast<float>(eps->constant().GetAsDouble(0)));
      Node* norm =
          graph.InsertNodeBefore(mean, "LayerNormalization", mean->name() + "/LayerNormalization", inputs, 1, attrs);
      norm->output(0)->set_type(y->type());
      if (!ReplaceWithNewValue(graph, y, norm->output(0))) {
        graph.RemoveNode(norm);
        continue;
      }
      changed = true;
    }
    if (changed) RemoveUnusedNodes(graph);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateFuseLayerNormPass() { return std::make_unique<FuseLayerNormPass>(); }

}  // namespace kiln
