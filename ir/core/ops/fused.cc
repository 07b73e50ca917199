// Fused inference ops made by the fuse-postops pass (see ir/core/fused_ops.h). Shape
// inference delegates the core to Conv's / MatMul's so the two cannot drift.
#include "ir/core/fused_ops.h"
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {

namespace {

// Runs `core`'s shape inference on the first `n` inputs of `ctx`.
Status InferCore(InferContext& ctx, const char* core, int n) {
  std::vector<ShapeInput> inputs;
  for (int i = 0; i < n && i < ctx.num_inputs(); ++i) {
    ShapeInput si;
    si.present = ctx.has_input(i);
    if (si.present) {
      si.type = ctx.input_type(i);
      si.value = ctx.input_value(i);
    }
    inputs.push_back(si);
  }
  InferContext core_ctx(ctx.label(), ctx.attrs(), std::move(inputs), 1);
  RETURN_IF_ERROR(FindOpDef(core)->infer_shape(core_ctx));
  ctx.set_output(0, core_ctx.outputs()[0]);
  return Status::Ok();
}

// Fused ops are float-only (the pass fuses float32 for oneDNN): activations are float functions.
Status CheckPostOps(InferContext& ctx) {
  RETURN_IF_ERROR(ops::CheckDType(ctx, 0, ops::TypeClass::kFloat));
  const TensorType& out = ctx.outputs()[0];
  if (ctx.has_input(kFusedResidualInput)) {
    RETURN_IF_ERROR(ops::CheckSameDType(ctx, kFusedResidualInput, 0));
    if (ctx.input_dims(kFusedResidualInput) != out.dims) {
      return ctx.Error("residual ", DimsToString(ctx.input_dims(kFusedResidualInput)), " must have the output's shape ",
                       DimsToString(out.dims));
    }
  }
  const std::string act = ctx.attrs().GetString("activation", "");
  if (!act.empty() && !IsFusableActivation(act)) return ctx.Error("activation '", act, "' cannot be fused");
  return Status::Ok();
}

// FusedConv: Conv's X, W, B plus the residual Z [N, M, O...].
Status InferFusedConv(InferContext& ctx) {
  RETURN_IF_ERROR(InferCore(ctx, "Conv", 3));
  return CheckPostOps(ctx);
}

// FusedMatMul: MatMul's A, B; a bias that broadcasts to the output; the residual Z.
Status InferFusedMatMul(InferContext& ctx) {
  RETURN_IF_ERROR(InferCore(ctx, "MatMul", 2));
  if (ctx.has_input(kFusedBiasInput)) {
    RETURN_IF_ERROR(ops::CheckSameDType(ctx, kFusedBiasInput, 0));
    Status st = CheckBroadcastsTo(ctx.input_dims(kFusedBiasInput), ctx.outputs()[0].dims);
    if (!st.ok()) return ctx.Error("bias ", st.message());
  }
  return CheckPostOps(ctx);
}

const std::vector<AttrSpec> kActivationAttrs = {
    {"activation", AttrType::kString}, {"activation_alpha", AttrType::kFloat}, {"activation_beta", AttrType::kFloat}};

std::vector<AttrSpec> WithActivation(std::vector<AttrSpec> attrs) {
  attrs.insert(attrs.end(), kActivationAttrs.begin(), kActivationAttrs.end());
  return attrs;
}

}  // namespace

void RegisterFusedOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kFusedConv,
         .min_inputs = 2,
         .max_inputs = 4,
         .attrs = WithActivation(r.Find("Conv")->attrs),
         .infer_shape = InferFusedConv,
         .doc = "activation(Conv(X, W, B) + Z): Conv with oneDNN post-ops (inference only)"});
  r.Add({.kind = OpKind::kFusedMatMul,
         .min_inputs = 2,
         .max_inputs = 4,
         .attrs = WithActivation({}),
         .infer_shape = InferFusedMatMul,
         .doc = "activation(MatMul(A, B) + bias + Z): MatMul with oneDNN post-ops (inference only)"});
}

}  // namespace kiln
