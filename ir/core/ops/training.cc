// Losses and optimizer updates (docs/training_ops.md): shape inference.
// Every float input is float32 or float64 (the training contract; no float16).
// Hyperparameters are range-checked here, as torch.optim does at construction,
// so that a bad value fails at compile time instead of producing NaNs per step.
#include <initializer_list>
#include <limits>
#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/optimizer.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::kVariadic;

bool IsTrainingFloat(DType t) { return t == proto::DT_FLOAT || t == proto::DT_DOUBLE; }

Status CheckTrainingFloat(const InferContext& ctx, int i, const char* name) {
  if (!IsTrainingFloat(ctx.input_dtype(i))) {
    return ctx.Error(name, " has type ", DTypeName(ctx.input_dtype(i)), " but needs float32 or float64");
  }
  return Status::Ok();
}

// Input i must have exactly the type (dtype and shape) of input `ref`.
Status CheckSameType(const InferContext& ctx, int i, const char* name, int ref, const char* ref_name) {
  if (ctx.input_dtype(i) != ctx.input_dtype(ref)) {
    return ctx.Error(name, " has type ", DTypeName(ctx.input_dtype(i)), " but ", ref_name, " has ",
                     DTypeName(ctx.input_dtype(ref)));
  }
  if (ctx.input_dims(i) != ctx.input_dims(ref)) {
    return ctx.Error(name, " shape ", DimsToString(ctx.input_dims(i)), " differs from ", ref_name, " shape ",
                     DimsToString(ctx.input_dims(ref)));
  }
  return Status::Ok();
}

StatusOr<bool> ReadFlag(const InferContext& ctx, const char* name) {
  const int64_t v = ctx.attrs().GetInt(name, 0);
  if (v != 0 && v != 1) return ctx.Error(name, " must be 0 or 1, got ", v);
  return v == 1;
}

// ---- Losses ---------------------------------------------------------------------------------

// The (pred, target) pair of a loss, at inputs `first` and `first + 1`. Class losses take
// pred [N, C] and, with sparse=1, int64 class indices [N]; the others any shape.
Status CheckLossInputs(const InferContext& ctx, int first, const char* pred, bool class_loss) {
  RETURN_IF_ERROR(CheckTrainingFloat(ctx, first, pred));
  const int target = first + 1;
  if (!class_loss) return CheckSameType(ctx, target, "target", first, pred);
  RETURN_IF_ERROR(ops::CheckRank(ctx, first, 2, 2, pred));
  ASSIGN_OR_RETURN(bool sparse, ReadFlag(ctx, "sparse"));
  if (!sparse) return CheckSameType(ctx, target, "target", first, pred);
  if (ctx.input_dtype(target) != proto::DT_INT64) {
    return ctx.Error("sparse target has type ", DTypeName(ctx.input_dtype(target)), " but needs int64");
  }
  const Dims& dims = ctx.input_dims(first);
  if (ctx.input_dims(target) != Dims{dims[0]}) {
    return ctx.Error("sparse target shape ", DimsToString(ctx.input_dims(target)), " does not match [N] = [", dims[0],
                     "] of ", pred, " ", DimsToString(dims));
  }
  return Status::Ok();
}

Status CheckReduction(const InferContext& ctx) {
  const std::string reduction = ctx.attrs().GetString("reduction", "mean");
  if (reduction != "mean" && reduction != "half_sum") {
    return ctx.Error("reduction must be \"mean\" or \"half_sum\", got \"", reduction, "\"");
  }
  return Status::Ok();
}

// (pred, target) -> scalar loss of pred's dtype.
template <bool kClassLoss>
Status InferLoss(InferContext& ctx, const char* pred) {
  RETURN_IF_ERROR(CheckLossInputs(ctx, 0, pred, kClassLoss));
  ctx.set_output(0, ctx.input_dtype(0), {});
  return Status::Ok();
}

// (dLoss, pred, target) -> dPred of pred's type.
template <bool kClassLoss>
Status InferLossGrad(InferContext& ctx, const char* pred) {
  RETURN_IF_ERROR(CheckLossInputs(ctx, 1, pred, kClassLoss));
  if (ctx.input_dtype(0) != ctx.input_dtype(1)) {
    return ctx.Error("dLoss has type ", DTypeName(ctx.input_dtype(0)), " but ", pred, " has ",
                     DTypeName(ctx.input_dtype(1)));
  }
  if (ctx.input_rank(0) > 1 || ElementCount(ctx.input_dims(0)) != 1) {
    return ctx.Error("dLoss must be a scalar, got shape ", DimsToString(ctx.input_dims(0)));
  }
  ctx.set_output(0, ctx.input_type(1));
  return Status::Ok();
}

Status InferSoftmaxCE(InferContext& ctx) { return InferLoss<true>(ctx, "logits"); }
Status InferSoftmaxCEGrad(InferContext& ctx) { return InferLossGrad<true>(ctx, "logits"); }
Status InferCE(InferContext& ctx) { return InferLoss<true>(ctx, "probs"); }
Status InferCEGrad(InferContext& ctx) { return InferLossGrad<true>(ctx, "probs"); }
Status InferSigmoidCE(InferContext& ctx) { return InferLoss<false>(ctx, "logits"); }
Status InferSigmoidCEGrad(InferContext& ctx) { return InferLossGrad<false>(ctx, "logits"); }
Status InferBCE(InferContext& ctx) { return InferLoss<false>(ctx, "probs"); }
Status InferBCEGrad(InferContext& ctx) { return InferLossGrad<false>(ctx, "probs"); }
// (dLoss, logits, target) -> (loss, dLogits[, dBias]): the fuse-losses pass's node for a
// SoftmaxCrossEntropy, its gradient and the bias gradient's sum of that gradient over the
// rows ([C], or [1, C] with keepdims=1).
Status InferFusedSoftmaxCE(InferContext& ctx) {
  RETURN_IF_ERROR(InferLossGrad<true>(ctx, "logits"));
  const TensorType logits = ctx.input_type(1);
  ctx.set_output(0, logits.dtype, {});
  ctx.set_output(1, logits);
  if (ctx.num_outputs() == 3) {
    ASSIGN_OR_RETURN(bool keepdims, ReadFlag(ctx, "keepdims"));
    const int64_t classes = logits.dims[1];
    ctx.set_output(2, logits.dtype, keepdims ? Dims{1, classes} : Dims{classes});
  }
  return Status::Ok();
}
Status InferMSE(InferContext& ctx) {
  RETURN_IF_ERROR(CheckReduction(ctx));
  return InferLoss<false>(ctx, "pred");
}
Status InferMSEGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckReduction(ctx));
  return InferLossGrad<false>(ctx, "pred");
}

// ---- Optimizer updates ----------------------------------------------------------------------

// A float attribute within [lo, hi] (hi_open: [lo, hi)); absent attributes take their default.
Status CheckRange(const InferContext& ctx, const char* name, float fallback, float lo, float hi, bool hi_open = false) {
  const float v = ctx.attrs().GetFloat(name, fallback);
  if (!(v >= lo) || (hi_open ? !(v < hi) : !(v <= hi))) {
    if (hi == std::numeric_limits<float>::infinity()) return ctx.Error(name, " must be >= ", lo, ", got ", v);
    return ctx.Error(name, " must be in [", lo, ", ", hi, hi_open ? ")" : "]", ", got ", v);
  }
  return Status::Ok();
}

constexpr float kInf = std::numeric_limits<float>::infinity();

// param, grad and the state inputs share one type; every output has the param's type.
// `names` lists every input but Adam's step.
// `required`: the inputs before the optional learning rate (a float32 scalar that replaces
// the lr attribute: the trainer's ReduceLROnPlateau lowers it between epochs).
Status InferUpdate(InferContext& ctx, std::initializer_list<const char*> names, int required = -1) {
  RETURN_IF_ERROR(CheckTrainingFloat(ctx, 0, "param"));
  if (required < 0) required = static_cast<int>(names.size());
  if (ctx.has_input(required)) {
    const DType lr = ctx.input_dtype(required);
    if (lr != proto::DT_FLOAT || ctx.input_rank(required) > 1 || ElementCount(ctx.input_dims(required)) != 1) {
      return ctx.Error("the learning rate input must be a float32 scalar, got ", DTypeName(lr), " ",
                       DimsToString(ctx.input_dims(required)));
    }
  }
  int i = 0;
  for (const char* name : names) {
    if (i > 0) RETURN_IF_ERROR(CheckSameType(ctx, i, name, 0, "param"));
    ++i;
  }
  RETURN_IF_ERROR(CheckRange(ctx, "lr", 0, 0, kInf));
  RETURN_IF_ERROR(CheckRange(ctx, "weight_decay", 0, 0, kInf));
  for (int k = 0; k < ctx.num_outputs(); ++k) ctx.set_output(k, ctx.input_type(0));
  return Status::Ok();
}

Status InferSGD(InferContext& ctx) { return InferUpdate(ctx, {"param", "grad"}); }

Status InferMomentum(InferContext& ctx) {
  RETURN_IF_ERROR(CheckRange(ctx, "momentum", 0.9f, 0, kInf));
  ASSIGN_OR_RETURN(bool nesterov, ReadFlag(ctx, "nesterov"));
  if (nesterov && !(ctx.attrs().GetFloat("momentum", 0.9f) > 0)) return ctx.Error("nesterov needs momentum > 0");
  return InferUpdate(ctx, {"param", "grad", "velocity"});
}

Status InferAdagrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckRange(ctx, "epsilon", 1e-10f, 0, kInf));
  return InferUpdate(ctx, {"param", "grad", "sum"});
}

Status InferAdadelta(InferContext& ctx) {
  RETURN_IF_ERROR(CheckRange(ctx, "rho", 0.9f, 0, 1));
  RETURN_IF_ERROR(CheckRange(ctx, "epsilon", 1e-6f, 0, kInf));
  return InferUpdate(ctx, {"param", "grad", "square_avg", "acc_delta"});
}

Status InferRMSprop(InferContext& ctx) {
  RETURN_IF_ERROR(CheckRange(ctx, "rho", 0.99f, 0, 1));
  RETURN_IF_ERROR(CheckRange(ctx, "epsilon", 1e-8f, 0, kInf));
  return InferUpdate(ctx, {"param", "grad", "square_avg"});
}

Status InferAdam(InferContext& ctx) {
  RETURN_IF_ERROR(CheckRange(ctx, "beta1", 0.9f, 0, 1, /*hi_open=*/true));
  RETURN_IF_ERROR(CheckRange(ctx, "beta2", 0.999f, 0, 1, /*hi_open=*/true));
  RETURN_IF_ERROR(CheckRange(ctx, "epsilon", 1e-8f, 0, kInf));
  const DType step = ctx.input_dtype(4);
  if (step != proto::DT_INT64 || ctx.input_rank(4) > 1 || ElementCount(ctx.input_dims(4)) != 1) {
    return ctx.Error("step must be an int64 scalar of shape [] or [1], got ", DTypeName(step), " ",
                     DimsToString(ctx.input_dims(4)));
  }
  return InferUpdate(ctx, {"param", "grad", "m", "v"}, 5);
}

// g1..gn -> g1'..gn': one dtype, any shapes, one output per input.
Status InferClipByGlobalNorm(InferContext& ctx) {
  if (ctx.num_outputs() != ctx.num_inputs()) {
    return ctx.Error("has ", ctx.num_inputs(), " inputs but ", ctx.num_outputs(), " outputs (needs one per input)");
  }
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input ", i, " is missing");
    if (i == 0) RETURN_IF_ERROR(CheckTrainingFloat(ctx, 0, "input 0"));
    if (i > 0) RETURN_IF_ERROR(ops::CheckSameDType(ctx, i, 0));
    ctx.set_output(i, ctx.input_type(i));
  }
  return CheckRange(ctx, "max_norm", 0, 0, kInf);
}

OpDef Loss(OpKind kind, InferShapeFn fn, std::vector<AttrSpec> attrs, const char* doc) {
  return {.kind = kind, .min_inputs = 2, .max_inputs = 2, .attrs = std::move(attrs), .infer_shape = fn, .doc = doc};
}

OpDef LossGrad(OpKind kind, InferShapeFn fn, std::vector<AttrSpec> attrs, const char* doc) {
  return {.kind = kind, .min_inputs = 3, .max_inputs = 3, .attrs = std::move(attrs), .infer_shape = fn, .doc = doc};
}

// weight_decay is common to every update.
OpDef Update(OpKind kind, int inputs, int outputs, InferShapeFn fn, std::vector<AttrSpec> attrs, const char* doc) {
  attrs.push_back({"weight_decay", AttrType::kFloat});
  return {.kind = kind,
          .min_inputs = inputs,
          .max_inputs = inputs + 1,  // the optional learning rate
          .min_outputs = outputs,
          .max_outputs = outputs,
          .attrs = std::move(attrs),
          .infer_shape = fn,
          .doc = doc};
}

}  // namespace

// The optimizers' defaults are torch.optim's (sgd/momentum: lr 0.01, the Keras default).
const std::vector<OptimizerDef>& AllOptimizers() {
  static const std::vector<OptimizerDef> optimizers = {
      {"sgd", "SGDUpdate", {}, false, {}, {.lr = 0.01f}},
      {"momentum", "MomentumUpdate", {"velocity"}, false, {"momentum", "nesterov"}, {.lr = 0.01f, .momentum = 0.9f}},
      {"nesterov",
       "MomentumUpdate",
       {"velocity"},
       false,
       {"momentum", "nesterov"},
       {.lr = 0.01f, .momentum = 0.9f, .nesterov = true}},
      {"adagrad", "AdagradUpdate", {"accumulator"}, false, {"epsilon"}, {.lr = 0.01f, .epsilon = 1e-10f}},
      {"adadelta",
       "AdadeltaUpdate",
       {"square_avg", "delta_avg"},
       false,
       {"epsilon", "rho"},
       {.lr = 1.0f, .epsilon = 1e-6f, .rho = 0.9f}},
      {"rmsprop",
       "RMSpropUpdate",
       {"square_avg"},
       false,
       {"epsilon", "rho"},
       {.lr = 0.01f, .epsilon = 1e-8f, .rho = 0.99f}},
      {"adam",
       "AdamUpdate",
       {"m", "v"},
       true,
       {"beta1", "beta2", "epsilon"},
       {.lr = 0.001f, .beta1 = 0.9f, .beta2 = 0.999f, .epsilon = 1e-8f}},
  };
  return optimizers;
}

const OptimizerDef* FindOptimizer(const std::string& name) {
  for (const OptimizerDef& def : AllOptimizers()) {
    if (def.name == name) return &def;
  }
  return nullptr;
}

const OptimizerDef* FindOptimizerByUpdateOp(const std::string& op) {
  for (const OptimizerDef& def : AllOptimizers()) {
    if (def.update_op == op) return &def;
  }
  return nullptr;
}

std::string OptimizerNameList() {
  std::string list;
  const auto& all = AllOptimizers();
  for (size_t i = 0; i < all.size(); ++i) list += (i == 0 ? "" : i + 1 == all.size() ? " or " : ", ") + all[i].name;
  return list;
}

namespace {
// The float hyperparameters by attribute name (nesterov, the one flag, is an int attribute).
float OptimizerHyperparams::*FloatField(const std::string& name) {
  if (name == "momentum") return &OptimizerHyperparams::momentum;
  if (name == "beta1") return &OptimizerHyperparams::beta1;
  if (name == "beta2") return &OptimizerHyperparams::beta2;
  if (name == "epsilon") return &OptimizerHyperparams::epsilon;
  if (name == "rho") return &OptimizerHyperparams::rho;
  return nullptr;
}
}  // namespace

Attrs UpdateAttrs(const OptimizerDef& def, const OptimizerHyperparams& h) {
  Attrs a;
  a.SetFloat("lr", h.lr);
  if (h.weight_decay != 0.0f) a.SetFloat("weight_decay", h.weight_decay);
  for (const std::string& name : def.params) {
    if (name == "nesterov") {
      a.SetInt("nesterov", h.nesterov ? 1 : 0);
    } else {
      a.SetFloat(name, h.*FloatField(name));
    }
  }
  return a;
}

OptimizerHyperparams UpdateHyperparams(const OptimizerDef& def, const Attrs& a) {
  OptimizerHyperparams h = def.defaults;
  h.lr = a.GetFloat("lr", h.lr);
  h.weight_decay = a.GetFloat("weight_decay", 0.0f);
  for (const std::string& name : def.params) {
    if (name == "nesterov") {
      h.nesterov = a.GetInt("nesterov", h.nesterov ? 1 : 0) != 0;
    } else {
      float OptimizerHyperparams::*field = FloatField(name);
      h.*field = a.GetFloat(name, h.*field);
    }
  }
  return h;
}

// Gradient(xs...) -> dy/dx for each x: ONNX's ai.onnx.preview.training.Gradient, whose
// attribute y names a float scalar of the graph. Each output has its x's type; the
// expand-gradients pass replaces the node by autodiff's backward graph.
Status InferGradientOp(InferContext& ctx) {
  const std::vector<std::string> xs = ctx.attrs().GetStrings("xs");
  if (static_cast<int>(xs.size()) != ctx.num_inputs() || ctx.num_outputs() != ctx.num_inputs()) {
    return ctx.Error("xs names ", xs.size(), " values but the node has ", ctx.num_inputs(), " inputs and ",
                     ctx.num_outputs(), " outputs (one gradient per x)");
  }
  if (ctx.attrs().GetString("y", "").empty()) return ctx.Error("attribute y (the value to differentiate) is empty");
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    RETURN_IF_ERROR(ops::CheckDType(ctx, i, ops::TypeClass::kFloat, "x"));
    ctx.set_output(i, ctx.input_type(i));
  }
  return Status::Ok();
}

void RegisterTrainingOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kGradient,
         .max_inputs = ops::kVariadic,
         .max_outputs = ops::kVariadic,
         .attrs = {{"xs", AttrType::kStrings, true}, {"y", AttrType::kString, true}, {"zs", AttrType::kStrings}},
         .infer_shape = InferGradientOp,
         .doc = "dy/dx for each input x (ONNX ai.onnx.preview.training Gradient; y a float scalar), expanded by "
                "autodiff"});
  const AttrSpec sparse = {"sparse", AttrType::kInt};
  const AttrSpec reduction = {"reduction", AttrType::kString};
  r.Add(Loss(OpKind::kSoftmaxCrossEntropy, InferSoftmaxCE, {sparse},
             "(logits [N, C], target) -> mean over N of -sum_c target * log_softmax(logits); sparse=1: int64 [N] "
             "labels"));
  r.Add(LossGrad(OpKind::kSoftmaxCrossEntropyGrad, InferSoftmaxCEGrad, {sparse},
                 "(dLoss, logits, target) -> dLoss * (softmax * sum_c target - target) / N"));
  r.Add({.kind = OpKind::kFusedSoftmaxCrossEntropy,
         .min_inputs = 3,
         .max_inputs = 3,
         .min_outputs = 2,
         .max_outputs = 3,
         .attrs = {sparse, {"keepdims", AttrType::kInt}},
         .infer_shape = InferFusedSoftmaxCE,
         .doc = "(dLoss, logits, target) -> (SoftmaxCrossEntropy, its gradient[, the gradient's sum over the rows: "
                "a bias gradient, [1, C] with keepdims=1]); made by fuse-losses, one generated kernel on the CPU"});
  r.Add(Loss(OpKind::kCrossEntropy, InferCE, {sparse},
             "(probs [N, C], target) -> mean over N of -sum_c target * log(clamp(probs, 1e-7, 1)); sparse=1: int64 "
             "[N] labels"));
  r.Add(LossGrad(OpKind::kCrossEntropyGrad, InferCEGrad, {sparse},
                 "(dLoss, probs, target) -> -dLoss * target / clamp(probs) / N"));
  r.Add(Loss(OpKind::kSigmoidCrossEntropy, InferSigmoidCE, {},
             "(logits, target) -> mean of max(x, 0) - x * t + log1p(exp(-|x|))"));
  r.Add(LossGrad(OpKind::kSigmoidCrossEntropyGrad, InferSigmoidCEGrad, {},
                 "(dLoss, logits, target) -> dLoss * (sigmoid(x) - t) / numel"));
  r.Add(Loss(OpKind::kBinaryCrossEntropy, InferBCE, {},
             "(probs, target) -> mean of -(t log p + (1 - t) log(1 - p)), p clamped to [1e-7, 1 - 1e-7]"));
  r.Add(LossGrad(OpKind::kBinaryCrossEntropyGrad, InferBCEGrad, {},
                 "(dLoss, probs, target) -> dLoss * (p - t) / (p (1 - p)) / numel, p clamped"));
  r.Add(Loss(OpKind::kMeanSquaredError, InferMSE, {reduction},
             "(pred, target) -> mean((p - t)^2), or 0.5 * sum((p - t)^2) with reduction=\"half_sum\""));
  r.Add(LossGrad(OpKind::kMeanSquaredErrorGrad, InferMSEGrad, {reduction},
                 "(dLoss, pred, target) -> dLoss * 2 (p - t) / numel, or dLoss * (p - t) (half_sum)"));

  const AttrSpec lr_required = {"lr", AttrType::kFloat, true};
  const AttrSpec lr = {"lr", AttrType::kFloat};
  const AttrSpec epsilon = {"epsilon", AttrType::kFloat};
  const AttrSpec rho = {"rho", AttrType::kFloat};
  r.Add(Update(OpKind::kSGDUpdate, 2, 1, InferSGD, {lr_required}, "(p, g[, lr]) -> p - lr * g"));
  r.Add(
      Update(OpKind::kMomentumUpdate, 3, 2, InferMomentum,
             {lr_required, {"momentum", AttrType::kFloat}, {"nesterov", AttrType::kInt}},
             "(p, g, v[, lr]) -> (p', v'): v' = momentum * v + g; p' = p - lr * (nesterov ? g + momentum * v' : v')"));
  r.Add(Update(OpKind::kAdagradUpdate, 3, 2, InferAdagrad, {lr_required, epsilon},
               "(p, g, s[, lr]) -> (p', s'): s' = s + g^2; p' = p - lr * g / (sqrt(s') + epsilon)"));
  r.Add(Update(OpKind::kAdadeltaUpdate, 4, 3, InferAdadelta, {lr, rho, epsilon},
               "(p, g, s, d[, lr]) -> (p', s', d'): Adadelta as torch.optim (lr=1, rho=0.9, epsilon=1e-6)"));
  r.Add(Update(OpKind::kRMSpropUpdate, 3, 2, InferRMSprop, {lr_required, rho, epsilon},
               "(p, g, s[, lr]) -> (p', s'): s' = rho * s + (1 - rho) * g^2; p' = p - lr * g / (sqrt(s') + epsilon)"));
  r.Add(Update(OpKind::kAdamUpdate, 5, 3, InferAdam,
               {lr, {"beta1", AttrType::kFloat}, {"beta2", AttrType::kFloat}, epsilon},
               "(p, g, m, v, step[, lr]) -> (p', m', v'): Adam as torch.optim; step = updates done so far (int64)"));
  r.Add({.kind = OpKind::kClipByGlobalNorm,
         .max_inputs = kVariadic,
         .max_outputs = kVariadic,
         .attrs = {{"max_norm", AttrType::kFloat, true}},
         .infer_shape = InferClipByGlobalNorm,
         .doc = "(g1..gn) -> gi * min(1, max_norm / (norm + 1e-6)), norm = sqrt(sum of all gi^2)"});
}

}  // namespace kiln
