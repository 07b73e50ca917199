// fuse-losses: in a training graph, a softmax cross-entropy's loss, its gradient and the
// output layer's bias gradient
//   loss   = SoftmaxCrossEntropy(logits, target)
//   dX     = SoftmaxCrossEntropyGrad(dLoss, logits, target)
//   dBias  = ReduceSum(dX, axes=[0])                       (optional)
// become one FusedSoftmaxCrossEntropy(dLoss, logits, target) -> (loss, dX[, dBias]), whose
// kernel the target generates: each row's log-sum-exp is computed once for the loss and the
// gradient, and the bias gradient adds up the gradient's rows as they are written, instead of
// three kernels that each read the logits or the gradient again. float32 only (the generated
// kernels' type); the CUDA target keeps the three nodes.
#include <algorithm>

#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"
#include "compiler/target.h"

namespace kiln {
namespace {

bool IsFloatScalar(const Value* v) {
  return v && v->dtype() == proto::DT_FLOAT && ElementCount(v->dims()) == 1 && v->dims().size() <= 1;
}

// The SoftmaxCrossEntropy of `grad`'s logits and target, with its sparse flag; null if none.
Node* ForwardLoss(Graph& graph, const Node& grad) {
  for (Node* user : graph.Users(grad.input(1))) {
    if (user->op_type() == "SoftmaxCrossEntropy" && user->input(0) == grad.input(1) &&
        user->input(1) == grad.input(2) && user->attrs().GetInt("sparse", 0) == grad.attrs().GetInt("sparse", 0)) {
      return user;
    }
  }
  return nullptr;
}

// A ReduceSum of `dx` [N, C] over its rows alone (axes [0] or [-2]) into [C] or [1, C]; null if
// none. `keepdims` says which.
Node* BiasGradient(Graph& graph, Value* dx, int64_t* keepdims) {
  const int64_t classes = dx->dims()[1];
  for (Node* user : graph.Users(dx)) {
    if (user->op_type() != "ReduceSum" || user->input(0) != dx || user->output(0)->dtype() != proto::DT_FLOAT) continue;
    const auto axes = ReductionAxes(*user);
    if (!axes || axes->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -2)) continue;
    if (user->attrs().GetInt("noop_with_empty_axes", 0) != 0) continue;
    const Dims& y = user->output(0)->dims();
    if (y == Dims{1, classes} || y == Dims{classes}) {
      *keepdims = y.size() == 2 ? 1 : 0;
      return user;
    }
  }
  return nullptr;
}

class FuseLossesPass : public Pass {
 public:
  std::string name() const override { return "fuse-losses"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    if (!options.target->FusesReductions()) return false;
    // Collected first: a fusion removes nodes (losses, sums) that come later in the list.
    std::vector<Node*> grads;
    for (Node* n : graph.NodeList()) {
      if (n->op_type() == "SoftmaxCrossEntropyGrad") grads.push_back(n);
    }
    bool changed = false;
    for (Node* grad : grads) {
      Value* dloss = grad->input(0);
      Value* logits = grad->input(1);
      if (!IsFloatScalar(dloss) || logits->dtype() != proto::DT_FLOAT || logits->dims().size() != 2) continue;
      Node* loss = ForwardLoss(graph, *grad);
      if (!loss) continue;
      // The fused node runs at the earlier of the two; dLoss must exist by then.
      const std::vector<Node*> order = graph.NodeList();
      auto position = [&](const Node* n) { return std::find(order.begin(), order.end(), n) - order.begin(); };
      Node* first = position(loss) < position(grad) ? loss : grad;
      if (dloss->producer() && position(dloss->producer()) > position(first)) continue;
      int64_t keepdims = 0;
      Node* bias = BiasGradient(graph, grad->output(0), &keepdims);
      Attrs attrs;
      attrs.SetInt("sparse", grad->attrs().GetInt("sparse", 0));
      if (bias) attrs.SetInt("keepdims", keepdims);
      Node* fused = graph.InsertNodeBefore(first, "FusedSoftmaxCrossEntropy", "fused/" + loss->name(),
                                           {dloss, logits, grad->input(2)}, bias ? 3 : 2, attrs);
      std::vector<std::pair<Value*, Value*>> replaced = {{loss->output(0), fused->output(0)},
                                                         {grad->output(0), fused->output(1)}};
      if (bias) replaced.push_back({bias->output(0), fused->output(2)});
      std::vector<std::string> names;
      for (auto [from, to] : replaced) {
        to->set_type(from->type());
        graph.ReplaceAllUsesWith(from, to);
        names.push_back(from->name());
      }
      if (bias) graph.RemoveNode(bias);
      graph.RemoveNode(grad);
      graph.RemoveNode(loss);
      // Values keep their names (the trainer finds the loss output by name).
      for (size_t i = 0; i < names.size(); ++i) graph.RenameValue(replaced[i].second, names[i]);
      changed = true;
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateFuseLossesPass() { return std::make_unique<FuseLossesPass>(); }

}  // namespace kiln
