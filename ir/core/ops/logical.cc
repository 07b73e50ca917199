// Selection and small ONNX utilities: Not (bool), Where, CastLike, BitCast, Size, Range, IsInf and IsNaN. The
// comparisons, And/Or/Xor and Mod are rows of ir/core/ops/binary.def.
#include <cmath>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckSameDType;
using ops::TypeClass;

Status CheckBool(const InferContext& ctx, int i, const char* what) {
  if (ctx.input_dtype(i) != proto::DT_BOOL) {
    return ctx.Error(what, " has type ", DTypeName(ctx.input_dtype(i)), " but must be bool");
  }
  return Status::Ok();
}

Status InferNot(InferContext& ctx) {
  RETURN_IF_ERROR(CheckBool(ctx, 0, "X"));
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// Where(condition, X, Y): all three broadcast; X and Y share a dtype.
Status InferWhere(InferContext& ctx) {
  RETURN_IF_ERROR(CheckBool(ctx, 0, "condition"));
  RETURN_IF_ERROR(CheckSameDType(ctx, 2, 1));
  auto xy = BroadcastDims(ctx.input_dims(1), ctx.input_dims(2));
  if (!xy.ok()) return ctx.Error(xy.status().message());
  auto out = BroadcastDims(ctx.input_dims(0), *xy);
  if (!out.ok()) return ctx.Error(out.status().message());
  ctx.set_output(0, ctx.input_dtype(1), *out);
  return Status::Ok();
}

// CastLike: input 0 converted to input 1's dtype.
Status InferCastLike(InferContext& ctx) {
  ctx.set_output(0, ctx.input_dtype(1), ctx.input_dims(0));
  return Status::Ok();
}

// EyeLike(input [rows, cols]): ones on diagonal k, of the 'dtype' attribute's type (an ONNX
// TensorProto number) or the input's.
Status InferEyeLike(InferContext& ctx) {
  RETURN_IF_ERROR(ops::CheckRank(ctx, 0, 2, 2, "input"));
  DType dtype = ctx.input_dtype(0);
  if (ctx.attrs().Has("dtype")) {
    auto t = DTypeFromOnnx(ctx.attrs().GetInt("dtype", 0));
    if (!t.ok()) return ctx.Error("dtype: ", t.status().message());
    dtype = *t;
  }
  ctx.set_output(0, dtype, ctx.input_dims(0));
  return Status::Ok();
}

// BitCast: the same bytes read as the ONNX type 'to', which must have the same size.
Status InferBitCast(InferContext& ctx) {
  auto to = DTypeFromOnnx(ctx.attrs().GetInt("to", 0));
  if (!to.ok()) return ctx.Unsupported("to: ", to.status().message());
  if (DTypeSize(*to) != DTypeSize(ctx.input_dtype(0))) {
    return ctx.Error("cannot reinterpret ", DTypeName(ctx.input_dtype(0)), " (", DTypeSize(ctx.input_dtype(0)) * 8,
                     " bits) as ", DTypeName(*to), " (", DTypeSize(*to) * 8, " bits)");
  }
  ctx.set_output(0, *to, ctx.input_dims(0));
  return Status::Ok();
}

Status InferSize(InferContext& ctx) {
  ctx.set_output(0, proto::DT_INT64, {});
  return Status::Ok();
}

// Range(start, limit, delta): scalars of one numeric type, known at compile time
// (the result's length depends on them): max(ceil((limit - start) / delta), 0).
Status InferRange(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kNumeric));
  double v[3];
  for (int i = 0; i < 3; ++i) {
    RETURN_IF_ERROR(CheckSameDType(ctx, i, 0));
    if (ElementCount(ctx.input_dims(i)) != 1 || ctx.input_rank(i) > 1) {
      return ctx.Error("input ", i, " must be a scalar, got shape ", DimsToString(ctx.input_dims(i)));
    }
    const Tensor* t = ctx.input_value(i);
    if (!t) return ctx.Error("needs a constant input ", i, " (the result's length depends on it)");
    v[i] = t->GetAsDouble(0);
  }
  if (v[2] == 0) return ctx.Error("delta is 0");
  const double n = std::ceil((v[1] - v[0]) / v[2]);
  if (!(n <= static_cast<double>(kMaxTensorElements))) return ctx.Error("the range has too many elements");
  ctx.set_output(0, ctx.input_dtype(0), {n > 0 ? static_cast<int64_t>(n) : 0});
  return Status::Ok();
}

// IsInf, IsNaN: a float tensor in, a bool tensor of its shape out.
Status InferFloatClass(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  for (const char* flag : {"detect_negative", "detect_positive"}) {
    const int64_t v = ctx.attrs().GetInt(flag, 1);
    if (v != 0 && v != 1) return ctx.Error(flag, " must be 0 or 1, got ", v);
  }
  ctx.set_output(0, proto::DT_BOOL, ctx.input_dims(0));
  return Status::Ok();
}

}  // namespace

void RegisterLogicalOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kNot, .infer_shape = InferNot, .doc = "not X (bool)"});
  r.Add({.kind = OpKind::kWhere,
         .min_inputs = 3,
         .max_inputs = 3,
         .infer_shape = InferWhere,
         .doc = "condition ? X : Y, all three broadcast"});
  r.Add({.kind = OpKind::kCastLike,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"saturate", AttrType::kInt}, {"round_mode", AttrType::kString}},
         .infer_shape = InferCastLike,
         .doc = "input 0 converted to input 1's type (saturate, round_mode: float8 only)"});
  r.Add({.kind = OpKind::kEyeLike,
         .attrs = {{"dtype", AttrType::kInt}, {"k", AttrType::kInt}},
         .infer_shape = InferEyeLike,
         .doc = "a 2-D tensor of the input's shape with ones on diagonal k (0: main, > 0: above) and zeros "
                "elsewhere, of type 'dtype' (default: the input's)"});
  r.Add({.kind = OpKind::kBitCast,
         .attrs = {{"to", AttrType::kInt, true}},
         .infer_shape = InferBitCast,
         .doc = "the input's bytes read as the ONNX data type 'to' (of the same size)"});
  r.Add({.kind = OpKind::kIsInf,
         .attrs = {{"detect_negative", AttrType::kInt}, {"detect_positive", AttrType::kInt}},
         .infer_shape = InferFloatClass,
         .doc = "x == +inf (detect_positive=1) or x == -inf (detect_negative=1), as bool"});
  r.Add({.kind = OpKind::kIsNaN, .infer_shape = InferFloatClass, .doc = "x is NaN, as bool"});
  r.Add({.kind = OpKind::kSize, .infer_shape = InferSize, .doc = "the input's element count as an int64 scalar"});
  r.Add({.kind = OpKind::kRange,
         .min_inputs = 3,
         .max_inputs = 3,
         .attrs = {{"stash_type", AttrType::kInt}},
         .infer_shape = InferRange,
         .doc = "start, start + delta, ... below limit (constant scalar inputs; float16 computed in float32)"});
}

}  // namespace kiln
