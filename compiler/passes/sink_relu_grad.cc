// sink-relu-grad: in a training graph, Relu -> MaxPool has the backward
//   EltwiseGrad{relu}(MaxPoolGrad(dP, Y), Y)        over Y's elements (Y = Relu(X))
// which this pass rewrites to
//   MaxPoolGrad(EltwiseGrad{relu}(dP, P), Y)        the mask over the pooled P = MaxPool(Y)
// MaxPoolGrad sends each window's dP to its winner w, where Y[w] = P for that window, so the
// mask Y[w] > 0 is P > 0 (a NaN winner is the NaN P: 0 both ways; overlapping windows that
// share a winner share its mask, so masking each before the sum is masking the sum). The
// mask then runs over the pooled tensor: a quarter of the elements for 2x2 pooling (the bench
// CNN's largest relu gradient, 1.6 M elements, becomes 0.4 M). MaxPool's P is its first
// maximal element (strict >, as MaxPoolGrad's winner) in the reference; a NaN in a window
// makes the step's loss NaN, which the trainer reports, whichever NaN rule a kernel has.
#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

bool IsReluGrad(const Node& n) { return n.op_type() == "EltwiseGrad" && n.attrs().GetString("function", "") == "relu"; }

// The MaxPool of `y` with the attributes of `grad` (its single, non-Indices output), or null.
Node* ForwardPool(Graph& graph, Value* y, const Node& grad) {
  for (Node* user : graph.Users(y)) {
    if (user->op_type() != "MaxPool" || user->input(0) != y || user->num_outputs() != 1) continue;
    bool same = true;
    for (const char* a : {"kernel_shape", "strides", "pads", "dilations", "auto_pad", "ceil_mode"}) {
      const proto::Attribute *mine = user->attrs().Find(a), *theirs = grad.attrs().Find(a);
      same &= (mine == nullptr) == (theirs == nullptr) &&
              (mine == nullptr || mine->SerializeAsString() == theirs->SerializeAsString());
    }
    if (same && user->output(0)->dims() == grad.input(0)->dims()) return user;
  }
  return nullptr;
}

class SinkReluGradPass : public Pass {
 public:
  std::string name() const override { return "sink-relu-grad"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions&) override {
    bool changed = false;
    for (Node* mask : graph.NodeList()) {
      if (!IsReluGrad(*mask)) continue;
      Value* routed = mask->input(0);
      Node* pool_grad = routed->producer();
      if (pool_grad == nullptr || pool_grad->op_type() != "MaxPoolGrad" || graph.NumUses(routed) != 1 ||
          graph.IsGraphOutput(routed)) {
        continue;
      }
      Value* y = pool_grad->input(1);
      // The mask must be the Relu output's, and the pool's input that Relu output.
      if (mask->input(1) != y || y->producer() == nullptr || y->producer()->op_type() != "Relu") continue;
      Node* pool = ForwardPool(graph, y, *pool_grad);
      if (pool == nullptr) continue;
      Value* pooled = pool->output(0);
      Node* small = graph.InsertNodeBefore(pool_grad, "EltwiseGrad", mask->name(), {pool_grad->input(0), pooled}, 1,
                                           mask->attrs());
      small->output(0)->set_type(pool_grad->input(0)->type());
      Node* sunk =
          graph.InsertNodeBefore(mask, "MaxPoolGrad", pool_grad->name(), {small->output(0), y}, 1, pool_grad->attrs());
      sunk->output(0)->set_type(mask->output(0)->type());
      if (!ReplaceWithNewValue(graph, mask->output(0), sunk->output(0))) {
        graph.RemoveNode(sunk);
        graph.RemoveNode(small);
        continue;
      }
      changed = true;
    }
    if (changed) RemoveUnusedNodes(graph);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateSinkReluGradPass() { return std::make_unique<SinkReluGradPass>(); }

}  // namespace kiln
