// Gradient rules of ONNX's class losses (ir/core/ops/loss.cc). Both go through
// NegativeLogLikelihoodLossGrad; SoftmaxCrossEntropyLoss then back through its
// log_softmax (SoftmaxGrad with log=1), so the two share one backward kernel.
// Targets are data and class weights are fixed: neither gets a gradient.
#include "ir/gradient.h"

namespace kiln {
namespace {

using Ctx = GradientContext;

Status RefuseTargetAndWeights(const Ctx& c) {
  if (c.wants(1)) return c.Unsupported("the target input (targets are data, not parameters)");
  if (c.wants(2)) return c.Unsupported("the class weights (they are fixed, not trained)");
  return Status::Ok();
}

// dLoss/d(log-probabilities `lp`) for the node's target and weights.
StatusOr<Value*> NllBackward(Ctx& c, Value* lp) {
  std::vector<Value*> inputs = {c.dY(0), lp, c.X(1)};
  if (c.node.num_inputs() > 2 && c.X(2)) inputs.push_back(c.X(2));
  return c.Emit1("NegativeLogLikelihoodLossGrad", inputs, c.node.attrs());
}

Status NllGrad(Ctx& c) {
  RETURN_IF_ERROR(RefuseTargetAndWeights(c));
  if (!c.wants(0)) return Status::Ok();
  ASSIGN_OR_RETURN(Value * g, NllBackward(c, c.X(0)));
  c.set_grad(0, g);
  return Status::Ok();
}

// loss = NLL(log_prob), log_prob = LogSoftmax(scores, axis=1): either output may carry a gradient.
Status SoftmaxCrossEntropyLossGrad(Ctx& c) {
  RETURN_IF_ERROR(RefuseTargetAndWeights(c));
  if (!c.wants(0)) return Status::Ok();
  Attrs axis1;
  axis1.SetInt("axis", 1);
  Value* lp = c.node.num_outputs() > 1 ? c.Y(1) : nullptr;
  if (!lp) {
    ASSIGN_OR_RETURN(lp, c.Emit1("LogSoftmax", {c.X(0)}, axis1));
  }
  Value* dlp = nullptr;
  if (c.dY(0)) {
    ASSIGN_OR_RETURN(dlp, NllBackward(c, lp));
  }
  Value* dlp_direct = c.output_grads.size() > 1 ? c.dY(1) : nullptr;
  if (dlp && dlp_direct) {
    ASSIGN_OR_RETURN(dlp, c.Emit1("Add", {dlp, dlp_direct}));
  } else if (dlp_direct) {
    dlp = dlp_direct;
  }
  if (!dlp) return Status::Ok();
  axis1.SetInt("log", 1);
  ASSIGN_OR_RETURN(Value * g, c.Emit1("SoftmaxGrad", {dlp, lp}, axis1));
  c.set_grad(0, g);
  return Status::Ok();
}

}  // namespace

void RegisterLossGradients(GradientRules& r) {
  r.SetGradient(OpKind::kNegativeLogLikelihoodLoss, NllGrad);
  r.SetGradient(OpKind::kSoftmaxCrossEntropyLoss, SoftmaxCrossEntropyLossGrad);
}

}  // namespace kiln
