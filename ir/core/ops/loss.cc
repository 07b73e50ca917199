// ONNX's class losses with their ONNX semantics: NegativeLogLikelihoodLoss and
// SoftmaxCrossEntropyLoss (input [N, C] or [N, C, d1..dk], int labels [N, d1..dk],
// optional class weights [C], ignore_index, reduction none/sum/mean), and the
// backward op of NegativeLogLikelihoodLoss that both gradient rules use
// (ir/gradients/loss_grad.cc). Kiln's own training losses are in training.cc.
#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::TypeClass;

// Input `x` [N, C, d...], labels at `x + 1` [N, d...] (int32/int64), optional
// weights at `x + 2` [C] of x's dtype; returns the per-element loss dims [N, d...].
StatusOr<Dims> CheckClassLossInputs(const InferContext& ctx, int x, const char* x_name) {
  RETURN_IF_ERROR(CheckDType(ctx, x, TypeClass::kFloat, x_name));
  const Dims& in = ctx.input_dims(x);
  if (in.size() < 2) return ctx.Error(x_name, " must have shape [N, C, d1..dk], got ", DimsToString(in));
  Dims per_element = {in[0]};
  per_element.insert(per_element.end(), in.begin() + 2, in.end());
  const DType label_type = ctx.input_dtype(x + 1);
  if (label_type != proto::DT_INT64 && label_type != proto::DT_INT32) {
    return ctx.Error("target has type ", DTypeName(label_type), " but must be int32 or int64");
  }
  if (ctx.input_dims(x + 1) != per_element) {
    return ctx.Error("target shape ", DimsToString(ctx.input_dims(x + 1)), " must be ", DimsToString(per_element),
                     " for ", x_name, " ", DimsToString(in));
  }
  if (ctx.has_input(x + 2)) {
    if (ctx.input_dtype(x + 2) != ctx.input_dtype(x)) {
      return ctx.Error("weight has type ", DTypeName(ctx.input_dtype(x + 2)), " but ", x_name, " has ",
                       DTypeName(ctx.input_dtype(x)));
    }
    if (ctx.input_dims(x + 2) != Dims{in[1]}) {
      return ctx.Error("weight shape ", DimsToString(ctx.input_dims(x + 2)), " must be [C] = [", in[1], "]");
    }
  }
  const std::string reduction = ctx.attrs().GetString("reduction", "mean");
  if (reduction != "mean" && reduction != "sum" && reduction != "none") {
    return ctx.Error("reduction must be \"none\", \"sum\" or \"mean\", got \"", reduction, "\"");
  }
  return per_element;
}

// The loss: per element with reduction "none", else a scalar.
Dims LossDims(const InferContext& ctx, const Dims& per_element) {
  return ctx.attrs().GetString("reduction", "mean") == "none" ? per_element : Dims{};
}

// NegativeLogLikelihoodLoss(input, target, weight?) -> loss.
Status InferNll(InferContext& ctx) {
  ASSIGN_OR_RETURN(Dims per_element, CheckClassLossInputs(ctx, 0, "input"));
  ctx.set_output(0, ctx.input_dtype(0), LossDims(ctx, per_element));
  return Status::Ok();
}

// SoftmaxCrossEntropyLoss(scores, labels, weights?) -> loss, log_prob?.
Status InferSoftmaxCrossEntropyLoss(InferContext& ctx) {
  ASSIGN_OR_RETURN(Dims per_element, CheckClassLossInputs(ctx, 0, "scores"));
  ctx.set_output(0, ctx.input_dtype(0), LossDims(ctx, per_element));
  if (ctx.num_outputs() > 1) ctx.set_output(1, ctx.input_type(0));
  return Status::Ok();
}

// NegativeLogLikelihoodLossGrad(dLoss, input, target, weight?) -> dInput (input's type).
Status InferNllGrad(InferContext& ctx) {
  ASSIGN_OR_RETURN(Dims per_element, CheckClassLossInputs(ctx, 1, "input"));
  if (ctx.input_dtype(0) != ctx.input_dtype(1)) {
    return ctx.Error("dLoss has type ", DTypeName(ctx.input_dtype(0)), " but input has ",
                     DTypeName(ctx.input_dtype(1)));
  }
  const Dims loss = LossDims(ctx, per_element);
  if (ctx.input_dims(0) != loss) {
    return ctx.Error("dLoss shape ", DimsToString(ctx.input_dims(0)), " must be the loss shape ", DimsToString(loss));
  }
  ctx.set_output(0, ctx.input_type(1));
  return Status::Ok();
}

std::vector<AttrSpec> ClassLossAttrs() { return {{"reduction", AttrType::kString}, {"ignore_index", AttrType::kInt}}; }

}  // namespace

void RegisterLossOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kNegativeLogLikelihoodLoss,
         .min_inputs = 2,
         .max_inputs = 3,
         .attrs = ClassLossAttrs(),
         .infer_shape = InferNll,
         .doc = "(input [N, C, d..], target [N, d..], weight? [C]) -> -input[n, target, d] * weight[target], "
                "reduced by reduction (mean: over the weights; none, sum); ignore_index targets count 0"});
  r.Add({.kind = OpKind::kSoftmaxCrossEntropyLoss,
         .min_inputs = 2,
         .max_inputs = 3,
         .max_outputs = 2,
         .attrs = ClassLossAttrs(),
         .infer_shape = InferSoftmaxCrossEntropyLoss,
         .doc = "(scores [N, C, d..], labels, weights?) -> NegativeLogLikelihoodLoss(log_prob, labels, weights), "
                "log_prob = LogSoftmax(scores, axis=1)"});
  r.Add({.kind = OpKind::kNegativeLogLikelihoodLossGrad,
         .min_inputs = 3,
         .max_inputs = 4,
         .attrs = ClassLossAttrs(),
         .infer_shape = InferNllGrad,
         .doc = "(dLoss, input, target, weight?) -> dInput: -dLoss * weight[target] (/ the weight sum for mean) at "
                "the target class, 0 elsewhere"});
}

}  // namespace kiln
