// Checks shared by the shape-inference functions in ir/core/ops/ (not part of the
// public IR API: kernels use ir/core/shape_util.h instead).
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "ir/core/op_registry.h"
#include "ir/core/shape_util.h"

namespace kiln::ops {

/// max_inputs / max_outputs of variadic ops.
constexpr int kVariadic = std::numeric_limits<int>::max();

/// Element types an input accepts (ONNX type constraints, as Kiln's dtypes allow).
enum class TypeClass {
  kAny,            // every dtype, bool included
  kNumeric,        // everything but bool
  kSignedNumeric,  // floats and signed integers
  kFloat,          // float32, float64, float16, bfloat16
  kInteger,        // signed and unsigned integers
  kBool,
};

inline Status CheckDType(const InferContext& ctx, int i, TypeClass cls, const char* what = "input") {
  const DType t = ctx.input_dtype(i);
  bool ok = true;
  const char* need = "";
  switch (cls) {
    case TypeClass::kAny: break;
    case TypeClass::kNumeric:
      ok = IsFloatingType(t) || IsIntegerType(t);
      need = "a numeric type";
      break;
    case TypeClass::kSignedNumeric:
      ok = IsFloatingType(t) || IsSignedIntegerType(t);
      need = "a floating-point or signed integer type";
      break;
    case TypeClass::kFloat:
      ok = IsFloatingType(t);
      need = "a floating-point type";
      break;
    case TypeClass::kInteger:
      ok = IsIntegerType(t);
      need = "an integer type";
      break;
    case TypeClass::kBool:
      ok = t == proto::DT_BOOL;
      need = "bool";
      break;
  }
  if (!ok) return ctx.Error(what, " ", i, " has type ", DTypeName(t), " but needs ", need);
  return Status::Ok();
}

/// Input i must have the same dtype as input j.
inline Status CheckSameDType(const InferContext& ctx, int i, int j) {
  if (ctx.input_dtype(i) != ctx.input_dtype(j)) {
    return ctx.Error("input ", i, " has type ", DTypeName(ctx.input_dtype(i)), " but input ", j, " has ",
                     DTypeName(ctx.input_dtype(j)));
  }
  return Status::Ok();
}

/// Rank of input i within [min_rank, max_rank].
inline Status CheckRank(const InferContext& ctx, int i, int min_rank, int max_rank, const char* name) {
  const int r = ctx.input_rank(i);
  if (r < min_rank || r > max_rank) {
    if (min_rank == max_rank)
      return ctx.Error(name, " must have rank ", min_rank, ", got shape ", DimsToString(ctx.input_dims(i)));
    if (max_rank == kVariadic)
      return ctx.Error(name, " must have rank >= ", min_rank, ", got shape ", DimsToString(ctx.input_dims(i)));
    return ctx.Error(name, " must have rank ", min_rank, " to ", max_rank, ", got shape ",
                     DimsToString(ctx.input_dims(i)));
  }
  return Status::Ok();
}

/// The contents of a shape-determining integer input (int32/int64), which must
/// be a compile-time constant; `name` is its ONNX name ("shape", "axes", ...).
inline StatusOr<std::vector<int64_t>> ConstantInts(const InferContext& ctx, int i, const char* name) {
  const Tensor* t = ctx.input_value(i);
  if (!t) return ctx.Error("needs a constant '", name, "' input (input ", i, " is not known at compile time)");
  if (t->dtype() != proto::DT_INT64 && t->dtype() != proto::DT_INT32) {
    return ctx.Error("'", name, "' input must be int64, got ", DTypeName(t->dtype()));
  }
  if (t->dims().size() > 1) {
    return ctx.Error("'", name, "' input must be 1-D, got shape ", DimsToString(t->dims()));
  }
  return t->ToInt64Vector();
}

/// Wraps a shape_util error with the node label.
inline Status WithLabel(const InferContext& ctx, const Status& st) { return st.ok() ? st : ctx.Error(st.message()); }

template <typename T>
StatusOr<T> WithLabelOr(const InferContext& ctx, StatusOr<T> v) {
  if (!v.ok()) return ctx.Error(v.status().message());
  return v;
}

}  // namespace kiln::ops

/// ASSIGN_OR_RETURN for shape_util calls whose error should name the node.
#define ASSIGN_OR_RETURN_CTX(ctx, lhs, expr) \
  ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(_kiln_or_, __LINE__), lhs, ::kiln::ops::WithLabelOr((ctx), (expr)))
