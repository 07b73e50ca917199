// Reductions. Opset 13 takes ReduceMean/ReduceMax/... axes as an attribute and
// ReduceSum axes as an optional (constant) input; opset 18 moved them all to the input,
// which the IR also takes (constant at compile time, after folding).
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::TypeClass;

Status SetReduced(InferContext& ctx, const std::vector<int64_t>& raw_axes, TypeClass types) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, types));
  const int64_t keepdims = ctx.attrs().GetInt("keepdims", 1);
  if (keepdims != 0 && keepdims != 1) return ctx.Error("keepdims must be 0 or 1, got ", keepdims);
  ASSIGN_OR_RETURN_CTX(ctx, std::vector<int64_t> axes, NormalizeAxes(raw_axes, ctx.input_rank(0)));
  ctx.set_output(0, ctx.input_dtype(0), ReducedDims(ctx.input_dims(0), axes, keepdims != 0));
  return Status::Ok();
}

// ReduceSum, and the others in their ONNX 18 form: 'axes' input; none (or empty) means
// every axis, or no reduction at all with noop_with_empty_axes=1. The others also take
// their opset-13 'axes' attribute (the importer's form when the axes are constant at import).
// ReduceMax and ReduceMin also take bool (ONNX 20): any / all.
template <TypeClass kTypes = TypeClass::kNumeric>
Status InferReduce(InferContext& ctx) {
  std::vector<int64_t> axes = ctx.attrs().GetInts("axes");
  if (ctx.has_input(1)) {
    if (ctx.attrs().Has("axes")) return ctx.Error("has both an 'axes' attribute and an 'axes' input");
    ASSIGN_OR_RETURN(axes, ops::ConstantInts(ctx, 1, "axes"));
  }
  const int64_t noop = ctx.attrs().GetInt("noop_with_empty_axes", 0);
  if (noop != 0 && noop != 1) return ctx.Error("noop_with_empty_axes must be 0 or 1, got ", noop);
  if (axes.empty() && noop) {
    RETURN_IF_ERROR(CheckDType(ctx, 0, kTypes));
    ctx.set_output(0, ctx.input_type(0));
    return Status::Ok();
  }
  return SetReduced(ctx, axes, kTypes);
}

// ArgMax, ArgMin: int64 indices along one axis (keepdims=1, select_last_index=0).
Status InferArgReduce(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kNumeric));
  const int64_t keepdims = ctx.attrs().GetInt("keepdims", 1);
  const int64_t last = ctx.attrs().GetInt("select_last_index", 0);
  if (keepdims != 0 && keepdims != 1) return ctx.Error("keepdims must be 0 or 1, got ", keepdims);
  if (last != 0 && last != 1) return ctx.Error("select_last_index must be 0 or 1, got ", last);
  if (ctx.input_rank(0) == 0) return ctx.Error("input must have rank >= 1");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), ctx.input_rank(0)));
  if (ctx.input_dims(0)[axis] == 0) return ctx.Error("axis ", axis, " is empty");
  ctx.set_output(0, proto::DT_INT64, ReducedDims(ctx.input_dims(0), {axis}, keepdims != 0));
  return Status::Ok();
}

}  // namespace

void RegisterReductionOps(OpRegistry& r) {
  for (auto [kind, what] : {std::pair{OpKind::kArgMax, "largest"}, std::pair{OpKind::kArgMin, "smallest"}}) {
    r.Add({.kind = kind,
           .attrs = {{"axis", AttrType::kInt}, {"keepdims", AttrType::kInt}, {"select_last_index", AttrType::kInt}},
           .infer_shape = InferArgReduce,
           .doc = std::string("int64 index of the ") + what +
                  " element along axis (0), the first (or last, select_last_index=1) of ties"});
  }
  const std::vector<AttrSpec> axes_attrs = {
      {"axes", AttrType::kInts}, {"keepdims", AttrType::kInt}, {"noop_with_empty_axes", AttrType::kInt}};
  r.Add({.kind = OpKind::kReduceMean,
         .max_inputs = 2,
         .attrs = axes_attrs,
         .infer_shape = InferReduce<>,
         .doc = "mean over the 'axes' attribute or constant input (all axes by default), keepdims=1"});
  r.Add({.kind = OpKind::kReduceSum,
         .max_inputs = 2,
         .attrs = {{"keepdims", AttrType::kInt}, {"noop_with_empty_axes", AttrType::kInt}},
         .infer_shape = InferReduce<>,
         .doc = "sum over the constant 'axes' input (all axes by default), keepdims=1"});
  r.Add({.kind = OpKind::kReduceMax,
         .max_inputs = 2,
         .attrs = axes_attrs,
         .infer_shape = InferReduce<TypeClass::kAny>,
         .doc = "maximum (bool: any) over the 'axes' attribute or constant input (all axes by default), keepdims=1"});
  for (auto [kind, what] :
       {std::pair{OpKind::kReduceMin, "minimum (bool: all)"}, std::pair{OpKind::kReduceProd, "product"},
        std::pair{OpKind::kReduceSumSquare, "sum of squares"}, std::pair{OpKind::kReduceL1, "sum of absolute values"},
        std::pair{OpKind::kReduceL2, "square root of the sum of squares"},
        std::pair{OpKind::kReduceLogSum, "log of the sum"},
        std::pair{OpKind::kReduceLogSumExp, "log of the sum of exponentials"}}) {
    r.Add(
        {.kind = kind,
         .max_inputs = 2,
         .attrs = axes_attrs,
         .infer_shape = kind == OpKind::kReduceMin ? InferReduce<TypeClass::kAny> : InferReduce<>,
         .doc = std::string(what) + " over the 'axes' attribute or constant input (all axes by default), keepdims=1"});
  }
}

}  // namespace kiln
