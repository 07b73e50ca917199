// Elementwise ops: numpy-broadcasting arithmetic, activations, unary math,
// Clip and the softmax family (shape-preserving).
#include "ir/core/op_registry.h"
#include "ir/core/ops/binary_table.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/ops/unary_table.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckSameDType;
using ops::kVariadic;
using ops::TypeClass;

// Add, Sub, Mul, Div, Sum, Max, Min: every input has the same dtype; shapes broadcast.
template <TypeClass kClass>
Status InferBroadcast(InferContext& ctx) {
  Dims out = ctx.input_dims(0);
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input ", i, " is missing");
    RETURN_IF_ERROR(CheckDType(ctx, i, kClass));
    if (i == 0) continue;
    RETURN_IF_ERROR(CheckSameDType(ctx, i, 0));
    auto b = BroadcastDims(out, ctx.input_dims(i));
    if (!b.ok()) return ctx.Error(b.status().message());
    out = *b;
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// A row of ir/core/ops/binary.def: every input of the row's type class and (but Pow's exponent)
// one dtype; shapes broadcast; the result has the first input's type or is bool.
template <OpKind kKind>
Status InferBinaryRow(InferContext& ctx) {
  static const BinaryOpRow& row = *FindBinaryOp(OpKindName(kKind));  // registered from the table: present
  static const TypeClass kClass[] = {TypeClass::kNumeric, TypeClass::kNumeric, TypeClass::kAny, TypeClass::kBool,
                                     TypeClass::kInteger};
  Dims out = ctx.input_dims(0);
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input ", i, " is missing");
    RETURN_IF_ERROR(CheckDType(ctx, i, kClass[static_cast<int>(row.types)]));
    if (i == 0) continue;
    if (row.types != BinaryTypes::kNumericAnyExponent) RETURN_IF_ERROR(CheckSameDType(ctx, i, 0));
    auto b = BroadcastDims(out, ctx.input_dims(i));
    if (!b.ok()) return ctx.Error(b.status().message());
    out = *b;
  }
  if (*row.attr) {  // the rows' int attributes are flags
    const int64_t v = ctx.attrs().GetInt(row.attr, row.attr_default);
    if (v != 0 && v != 1) return ctx.Error(row.attr, " must be 0 or 1, got ", v);
  }
  ctx.set_output(0, row.result == BinaryResult::kBoolResult ? proto::DT_BOOL : ctx.input_dtype(0), out);
  return Status::Ok();
}

template <TypeClass kClass>
Status InferUnary(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, kClass));
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// PRelu: slope broadcasts unidirectionally to X (e.g. [C, 1, 1] against [N, C, H, W]).
Status InferPRelu(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kSignedNumeric));
  RETURN_IF_ERROR(CheckSameDType(ctx, 1, 0));
  Status st = CheckBroadcastsTo(ctx.input_dims(1), ctx.input_dims(0));
  if (!st.ok()) return ctx.Error("slope ", st.message());
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// Clip: min and max are optional scalar inputs of the input's type.
Status InferClip(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kNumeric));
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    const char* name = i == 1 ? "min" : "max";
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) {
      return ctx.Error(name, " has type ", DTypeName(ctx.input_dtype(i)), " but the input has ",
                       DTypeName(ctx.input_dtype(0)));
    }
    if (ElementCount(ctx.input_dims(i)) != 1 || ctx.input_rank(i) > 1) {
      return ctx.Error(name, " must be a scalar, got shape ", DimsToString(ctx.input_dims(i)));
    }
  }
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// Softmax / LogSoftmax (opset 13): one axis, default -1.
Status InferSoftmax(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  if (ctx.input_rank(0) == 0) return ctx.Error("input must have rank >= 1");
  auto axis = NormalizeAxis(ctx.attrs().GetInt("axis", -1), ctx.input_rank(0));
  if (!axis.ok()) return ctx.Error(axis.status().message());
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

OpDef Unary(OpKind kind, InferShapeFn fn, const char* doc, std::vector<AttrSpec> attrs = {}) {
  return {.kind = kind, .attrs = std::move(attrs), .infer_shape = fn, .doc = doc};
}

}  // namespace

void RegisterElementwiseOps(OpRegistry& r) {
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, summary, ...)          \
  r.Add({.kind = OpKind::k##Name,                                                                  \
         .min_inputs = BinaryArity::arity == BinaryArity::kTwo ? 2 : 1,                            \
         .max_inputs = BinaryArity::arity == BinaryArity::kTwo ? 2 : kVariadic,                    \
         .attrs = *attr ? std::vector<AttrSpec>{{attr, AttrType::kInt}} : std::vector<AttrSpec>{}, \
         .infer_shape = InferBinaryRow<OpKind::k##Name>,                                           \
         .doc = std::string(summary) + " with numpy broadcasting"});
#include "ir/core/ops/binary.def"
#undef BINARY
  r.Add({.kind = OpKind::kSum,
         .max_inputs = kVariadic,
         .infer_shape = InferBroadcast<TypeClass::kFloat>,
         .doc = "elementwise sum of 1+ inputs with numpy broadcasting"});
  r.Add({.kind = OpKind::kMean,
         .max_inputs = kVariadic,
         .infer_shape = InferBroadcast<TypeClass::kFloat>,
         .doc = "elementwise mean of 1+ inputs with numpy broadcasting"});

  // Relu, Neg: opset 13 allows floats (Relu) and signed ints (Neg); opset 14 adds signed ints to Relu,
  // which the importer maps down, so both accept signed numerics.
  r.Add(Unary(OpKind::kRelu, InferUnary<TypeClass::kSignedNumeric>, "max(x, 0)"));
  r.Add({.kind = OpKind::kPRelu,
         .min_inputs = 2,
         .max_inputs = 2,
         .infer_shape = InferPRelu,
         .doc = "x >= 0 ? x : slope * x, slope broadcast to x"});
  for (const UnaryOpRow& row : UnaryOpTable()) {  // ir/core/ops/unary.def
    std::vector<AttrSpec> attrs;
    for (int i = 0; i < row.num_attrs; ++i) attrs.push_back({row.attr_names[i], AttrType::kFloat});
    r.Add(Unary(row.kind, InferUnary<TypeClass::kFloat>, row.doc, std::move(attrs)));
  }
  r.Add(Unary(OpKind::kNeg, InferUnary<TypeClass::kSignedNumeric>, "-x"));
  r.Add(Unary(OpKind::kAbs, InferUnary<TypeClass::kNumeric>, "|x|"));
  r.Add(Unary(OpKind::kSign, InferUnary<TypeClass::kNumeric>, "1 if x > 0, -1 if x < 0, else x (0 or NaN)"));
  r.Add({.kind = OpKind::kClip,
         .max_inputs = 3,
         .infer_shape = InferClip,
         .doc = "min(max(x, min), max) with optional scalar min/max inputs"});
  r.Add(Unary(OpKind::kSoftmax, InferSoftmax, "exp(x) / sum(exp(x)) along axis (default -1)",
              {{"axis", AttrType::kInt}}));
  r.Add(
      Unary(OpKind::kLogSoftmax, InferSoftmax, "log(softmax(x)) along axis (default -1)", {{"axis", AttrType::kInt}}));
}

}  // namespace kiln
