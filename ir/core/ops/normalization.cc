// Normalizations along axes and other per-slice ops ONNX added beside the core set:
// LpNormalization, MeanVarianceNormalization, ReverseSequence, Det.
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::TypeClass;

// LpNormalization(input): x / ||x||_p along axis (-1), p 1 or 2.
Status InferLpNormalization(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  const int64_t p = ctx.attrs().GetInt("p", 2);
  if (p != 1 && p != 2) return ctx.Error("p must be 1 or 2, got ", p);
  if (ctx.input_rank(0) == 0) return ctx.Error("input must have rank >= 1");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", -1), ctx.input_rank(0)));
  (void)axis;
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// MeanVarianceNormalization(X): over 'axes' ([0, 2, 3] by default, so rank >= 4 then).
Status InferMvn(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  ASSIGN_OR_RETURN_CTX(ctx, std::vector<int64_t> axes,
                       NormalizeAxes(ctx.attrs().GetInts("axes", {0, 2, 3}), ctx.input_rank(0)));
  (void)axes;
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// ReverseSequence(input, sequence_lens [batch]): batch_axis and time_axis are 0 and 1 in
// either order; every length in [0, time] when known.
Status InferReverseSequence(InferContext& ctx) {
  RETURN_IF_ERROR(ops::CheckRank(ctx, 0, 2, ops::kVariadic, "input"));
  const int64_t batch_axis = ctx.attrs().GetInt("batch_axis", 1), time_axis = ctx.attrs().GetInt("time_axis", 0);
  if (!((batch_axis == 0 && time_axis == 1) || (batch_axis == 1 && time_axis == 0))) {
    return ctx.Error("batch_axis and time_axis must be 0 and 1 (either way), got ", batch_axis, " and ", time_axis);
  }
  if (ctx.input_dtype(1) != proto::DT_INT64) {
    return ctx.Error("sequence_lens has type ", DTypeName(ctx.input_dtype(1)), " but must be int64");
  }
  const Dims& x = ctx.input_dims(0);
  if (ctx.input_dims(1) != Dims{x[batch_axis]}) {
    return ctx.Error("sequence_lens has shape ", DimsToString(ctx.input_dims(1)), " but must be [batch] = [",
                     x[batch_axis], "]");
  }
  if (const Tensor* lens = ctx.input_value(1)) {
    for (int64_t i = 0; i < lens->num_elements(); ++i) {
      const int64_t n = static_cast<int64_t>(lens->GetAsDouble(i));
      if (n < 0 || n > x[time_axis])
        return ctx.Error("sequence_lens[", i, "] = ", n, " is outside [0, ", x[time_axis], "]");
    }
  }
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// GroupNormalization(X [N, C, ...], scale, bias): C a multiple of num_groups; scale and bias
// [C] (ONNX 21), or [num_groups] with scale_per_group=1 (ONNX 18's form, which the importer marks).
Status InferGroupNormalization(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(ops::CheckRank(ctx, 0, 2, ops::kVariadic, "X"));
  const int64_t groups = ctx.attrs().GetInt("num_groups", 0), channels = ctx.input_dims(0)[1];
  if (groups < 1 || channels % groups != 0) {
    return ctx.Error("num_groups = ", groups, " must be positive and divide the ", channels, " channels");
  }
  const int64_t per_group = ctx.attrs().GetInt("scale_per_group", 0);
  if (per_group != 0 && per_group != 1) return ctx.Error("scale_per_group must be 0 or 1, got ", per_group);
  for (int i = 1; i < 3; ++i) {
    RETURN_IF_ERROR(ops::CheckSameDType(ctx, i, 0));
    const Dims& d = ctx.input_dims(i);
    if (d != Dims{per_group ? groups : channels}) {
      return ctx.Error(i == 1 ? "scale" : "bias", " has shape ", DimsToString(d), " but must be ",
                       per_group ? "[num_groups] = [" : "[C] = [", per_group ? groups : channels, "]");
    }
  }
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// Det(X [..., M, M]) -> [...].
Status InferDet(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(ops::CheckRank(ctx, 0, 2, ops::kVariadic, "input"));
  const Dims& x = ctx.input_dims(0);
  if (x[x.size() - 1] != x[x.size() - 2])
    return ctx.Error("input ", DimsToString(x), " is not a batch of square matrices");
  ctx.set_output(0, ctx.input_dtype(0), Dims(x.begin(), x.end() - 2));
  return Status::Ok();
}

}  // namespace

void RegisterNormalizationOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kLpNormalization,
         .attrs = {{"axis", AttrType::kInt}, {"p", AttrType::kInt}},
         .infer_shape = InferLpNormalization,
         .doc = "x / ||x||_p along axis (-1), p = 1 or 2 (default 2); a zero norm gives 0"});
  r.Add({.kind = OpKind::kMeanVarianceNormalization,
         .attrs = {{"axes", AttrType::kInts}},
         .infer_shape = InferMvn,
         .doc = "(x - mean) / (std + 1e-9) over axes ([0, 2, 3] by default)"});
  r.Add({.kind = OpKind::kReverseSequence,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"batch_axis", AttrType::kInt}, {"time_axis", AttrType::kInt}},
         .infer_shape = InferReverseSequence,
         .doc = "the first sequence_lens[b] steps along time_axis (0) of each batch entry b (batch_axis 1) "
                "reversed, the rest copied"});
  r.Add({.kind = OpKind::kGroupNormalization,
         .min_inputs = 3,
         .max_inputs = 3,
         .attrs = {{"epsilon", AttrType::kFloat},
                   {"num_groups", AttrType::kInt, true},
                   {"scale_per_group", AttrType::kInt},
                   {"stash_type", AttrType::kInt}},
         .infer_shape = InferGroupNormalization,
         .doc = "(x - mean) / sqrt(var + epsilon) over each group of C / num_groups channels (and the spatial "
                "dims), then * scale + bias per channel ([C]), or per group with scale_per_group=1 ([num_groups], ONNX "
                "18)"});
  r.Add({.kind = OpKind::kDet,
         .infer_shape = InferDet,
         .doc = "determinant of each square matrix of the last two dims: [..., M, M] -> [...]"});
}

}  // namespace kiln
