// Index-driven ops: GatherElements, Trilu, and LayerNormalization and RMSNormalization
// (Transformer building blocks whose statistics are per row of the normalized axes).
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckSameDType;
using ops::TypeClass;

// GatherElements(data, indices): indices of data's rank, each dim no larger than
// data's except along axis; the result has the indices' shape.
Status InferGatherElements(InferContext& ctx) {
  const Dims& data = ctx.input_dims(0);
  const Dims& indices = ctx.input_dims(1);
  if (ctx.input_dtype(1) != proto::DT_INT64 && ctx.input_dtype(1) != proto::DT_INT32) {
    return ctx.Error("indices have type ", DTypeName(ctx.input_dtype(1)), " but must be int32 or int64");
  }
  if (data.empty()) return ctx.Error("data must have rank >= 1");
  if (indices.size() != data.size()) {
    return ctx.Error("indices ", DimsToString(indices), " must have data's rank ", data.size());
  }
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), data.size()));
  for (size_t d = 0; d < data.size(); ++d) {
    if (static_cast<int64_t>(d) != axis && indices[d] > data[d]) {
      return ctx.Error("indices ", DimsToString(indices), " exceed data ", DimsToString(data), " in dim ", d);
    }
  }
  if (const Tensor* t = ctx.input_value(1)) {  // constant indices are checked now
    for (int64_t i = 0; i < t->num_elements(); ++i) {
      const int64_t v = static_cast<int64_t>(t->GetAsDouble(i));
      if (v < -data[axis] || v >= data[axis]) {
        return ctx.Error("index ", v, " is out of range for axis ", axis, " of size ", data[axis]);
      }
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), indices);
  return Status::Ok();
}

// Trilu(input, k?): the upper (upper=1) or lower triangle of the last two dims.
Status InferTrilu(InferContext& ctx) {
  if (ctx.input_rank(0) < 2) return ctx.Error("input must have rank >= 2");
  const int64_t upper = ctx.attrs().GetInt("upper", 1);
  if (upper != 0 && upper != 1) return ctx.Error("upper must be 0 or 1, got ", upper);
  if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> k, ops::ConstantInts(ctx, 1, "k"));
    if (k.size() != 1) return ctx.Error("k must be a scalar");
  }
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// LayerNormalization(X, Scale, B?): normalized over the dims from `axis` on;
// optional Mean and InvStdDev outputs keep X's rank with those dims 1.
Status InferLayerNorm(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  const Dims& x = ctx.input_dims(0);
  if (x.empty()) return ctx.Error("X must have rank >= 1");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", -1), x.size()));
  const Dims normalized(x.begin() + axis, x.end());
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    RETURN_IF_ERROR(CheckSameDType(ctx, i, 0));
    Status st = CheckBroadcastsTo(ctx.input_dims(i), normalized);
    if (!st.ok()) return ctx.Error(i == 1 ? "Scale " : "B ", st.message());
  }
  ctx.set_output(0, ctx.input_type(0));
  Dims stats = x;
  for (size_t d = axis; d < stats.size(); ++d) stats[d] = 1;
  const int64_t stash = ctx.attrs().GetInt("stash_type", 1);
  if (stash != 1) return ctx.Unsupported("stash_type ", stash, " (only float32 statistics)");
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, proto::DT_FLOAT, stats);
  return Status::Ok();
}

// RMSNormalization(X, scale): X / sqrt(mean(X^2) + epsilon) * scale over the dims from axis.
Status InferRmsNorm(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  const Dims& x = ctx.input_dims(0);
  if (x.empty()) return ctx.Error("X must have rank >= 1");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", -1), x.size()));
  RETURN_IF_ERROR(CheckSameDType(ctx, 1, 0));
  Status st = CheckBroadcastsTo(ctx.input_dims(1), Dims(x.begin() + axis, x.end()));
  if (!st.ok()) return ctx.Error("scale ", st.message());
  const int64_t stash = ctx.attrs().GetInt("stash_type", 1);
  if (stash != 1) return ctx.Unsupported("stash_type ", stash, " (only float32 statistics)");
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// InstanceNormalization(input [N, C, ...], scale [C], B [C]): per (n, c) over the spatial dims.
Status InferInstanceNorm(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  const Dims& x = ctx.input_dims(0);
  if (x.size() < 3) return ctx.Error("input must have shape [N, C, d1..], got ", DimsToString(x));
  for (int i = 1; i < 3; ++i) {
    RETURN_IF_ERROR(CheckSameDType(ctx, i, 0));
    if (ctx.input_dims(i) != Dims{x[1]}) {
      return ctx.Error(i == 1 ? "scale" : "B", " shape ", DimsToString(ctx.input_dims(i)), " must be [C] = [", x[1],
                       "]");
    }
  }
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

}  // namespace

void RegisterIndexingOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kGatherElements,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axis", AttrType::kInt}},
         .infer_shape = InferGatherElements,
         .doc = "out[i][j][k] = data[index[i][j][k]][j][k] along axis (0)"});
  r.Add({.kind = OpKind::kTrilu,
         .max_inputs = 2,
         .attrs = {{"upper", AttrType::kInt}},
         .infer_shape = InferTrilu,
         .doc = "upper (upper=1) or lower triangle of the last two dims, from diagonal k (constant input, 0)"});
  r.Add({.kind = OpKind::kLayerNormalization,
         .min_inputs = 2,
         .max_inputs = 3,
         .max_outputs = 3,
         .attrs = {{"axis", AttrType::kInt}, {"epsilon", AttrType::kFloat}, {"stash_type", AttrType::kInt}},
         .infer_shape = InferLayerNorm,
         .doc = "(x - mean) / sqrt(var + epsilon) * Scale + B over the dims from axis (-1); Mean, InvStdDev"});
  r.Add({.kind = OpKind::kInstanceNormalization,
         .min_inputs = 3,
         .max_inputs = 3,
         .attrs = {{"epsilon", AttrType::kFloat}},
         .infer_shape = InferInstanceNorm,
         .doc = "(x - mean) / sqrt(var + epsilon) * scale[c] + B[c] over the spatial dims of each (n, c)"});
  r.Add({.kind = OpKind::kRMSNormalization,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axis", AttrType::kInt}, {"epsilon", AttrType::kFloat}, {"stash_type", AttrType::kInt}},
         .infer_shape = InferRmsNorm,
         .doc = "x / sqrt(mean(x^2) + epsilon) * scale over the dims from axis (-1)"});
}

}  // namespace kiln
