// Comparison, logical and selection ops, and small ONNX utilities: Equal, Less,
// LessOrEqual, Greater, GreaterOrEqual (numpy-broadcast, bool result), And, Or,
// Xor, Not (bool), Where, Mod, CastLike, Size and Range.
#include <cmath>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckSameDType;
using ops::TypeClass;

// Two inputs of one dtype of class `kClass`, broadcast; the result is bool
// (comparisons, logical ops) or the inputs' type (Mod).
template <TypeClass kClass, bool kBoolResult>
Status InferBinary(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, kClass));
  RETURN_IF_ERROR(CheckSameDType(ctx, 1, 0));
  auto out = BroadcastDims(ctx.input_dims(0), ctx.input_dims(1));
  if (!out.ok()) return ctx.Error(out.status().message());
  ctx.set_output(0, kBoolResult ? proto::DT_BOOL : ctx.input_dtype(0), *out);
  return Status::Ok();
}

Status CheckBool(const InferContext& ctx, int i, const char* what) {
  if (ctx.input_dtype(i) != proto::DT_BOOL) {
    return ctx.Error(what, " has type ", DTypeName(ctx.input_dtype(i)), " but must be bool");
  }
  return Status::Ok();
}

Status InferLogical(InferContext& ctx) {
  for (int i = 0; i < ctx.num_inputs(); ++i) RETURN_IF_ERROR(CheckBool(ctx, i, i == 0 ? "A" : "B"));
  Dims out = ctx.input_dims(0);
  if (ctx.num_inputs() == 2) {
    auto b = BroadcastDims(out, ctx.input_dims(1));
    if (!b.ok()) return ctx.Error(b.status().message());
    out = *b;
  }
  ctx.set_output(0, proto::DT_BOOL, out);
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

// Mod: remainder with the divisor's sign (fmod=0, Python's %) or C fmod (fmod=1).
Status InferMod(InferContext& ctx) {
  const int64_t fmod = ctx.attrs().GetInt("fmod", 0);
  if (fmod != 0 && fmod != 1) return ctx.Error("fmod must be 0 or 1, got ", fmod);
  return InferBinary<TypeClass::kNumeric, false>(ctx);
}

// CastLike: input 0 converted to input 1's dtype.
Status InferCastLike(InferContext& ctx) {
  ctx.set_output(0, ctx.input_dtype(1), ctx.input_dims(0));
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

OpDef Compare(OpKind kind, const char* doc, bool allow_bool) {
  return {.kind = kind,
          .min_inputs = 2,
          .max_inputs = 2,
          .infer_shape = allow_bool ? InferBinary<TypeClass::kAny, true> : InferBinary<TypeClass::kNumeric, true>,
          .doc = doc};
}

OpDef Logical(OpKind kind, const char* doc) {
  return {.kind = kind, .min_inputs = 2, .max_inputs = 2, .infer_shape = InferLogical, .doc = doc};
}

}  // namespace

void RegisterLogicalOps(OpRegistry& r) {
  r.Add(Compare(OpKind::kEqual, "A == B with numpy broadcasting (bool result)", true));
  r.Add(Compare(OpKind::kLess, "A < B with numpy broadcasting (bool result)", false));
  r.Add(Compare(OpKind::kLessOrEqual, "A <= B with numpy broadcasting (bool result)", false));
  r.Add(Compare(OpKind::kGreater, "A > B with numpy broadcasting (bool result)", false));
  r.Add(Compare(OpKind::kGreaterOrEqual, "A >= B with numpy broadcasting (bool result)", false));
  r.Add(Logical(OpKind::kAnd, "A and B (bool) with numpy broadcasting"));
  r.Add(Logical(OpKind::kOr, "A or B (bool) with numpy broadcasting"));
  r.Add(Logical(OpKind::kXor, "A xor B (bool) with numpy broadcasting"));
  r.Add({.kind = OpKind::kNot, .infer_shape = InferLogical, .doc = "not X (bool)"});
  r.Add({.kind = OpKind::kWhere,
         .min_inputs = 3,
         .max_inputs = 3,
         .infer_shape = InferWhere,
         .doc = "condition ? X : Y, all three broadcast"});
  r.Add({.kind = OpKind::kMod,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"fmod", AttrType::kInt}},
         .infer_shape = InferMod,
         .doc = "remainder with the divisor's sign (fmod=0) or the dividend's (C fmod, fmod=1)"});
  r.Add({.kind = OpKind::kCastLike,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"saturate", AttrType::kInt}, {"round_mode", AttrType::kString}},
         .infer_shape = InferCastLike,
         .doc = "input 0 converted to input 1's type (saturate, round_mode: float8 only)"});
  r.Add({.kind = OpKind::kSize, .infer_shape = InferSize, .doc = "the input's element count as an int64 scalar"});
  r.Add({.kind = OpKind::kRange,
         .min_inputs = 3,
         .max_inputs = 3,
         .attrs = {{"stash_type", AttrType::kInt}},
         .infer_shape = InferRange,
         .doc = "start, start + delta, ... below limit (constant scalar inputs; float16 computed in float32)"});
}

}  // namespace kiln
