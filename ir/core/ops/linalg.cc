// Linear algebra: MatMul (numpy matmul) and Gemm.
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckSameDType;

// ONNX allows float16/32/64 and 32/64-bit integers for MatMul and Gemm.
Status CheckMatMulType(const InferContext& ctx, int i) {
  const DType t = ctx.input_dtype(i);
  if (IsFloatingType(t) || t == proto::DT_INT32 || t == proto::DT_INT64) return Status::Ok();
  return ctx.Error("input ", i, " has type ", DTypeName(t), " but needs float16/32/64, int32 or int64");
}

Status InferMatMul(InferContext& ctx) {
  RETURN_IF_ERROR(CheckMatMulType(ctx, 0));
  RETURN_IF_ERROR(CheckSameDType(ctx, 1, 0));
  auto out = MatMulOutputDims(ctx.input_dims(0), ctx.input_dims(1));
  if (!out.ok()) return ctx.Error(out.status().message());
  ctx.set_output(0, ctx.input_dtype(0), *out);
  return Status::Ok();
}

// Y = alpha * op(A) * op(B) + beta * C; A and B are 2-D, C broadcasts to [M, N].
Status InferGemm(InferContext& ctx) {
  RETURN_IF_ERROR(CheckMatMulType(ctx, 0));
  RETURN_IF_ERROR(CheckSameDType(ctx, 1, 0));
  RETURN_IF_ERROR(ops::CheckRank(ctx, 0, 2, 2, "A"));
  RETURN_IF_ERROR(ops::CheckRank(ctx, 1, 2, 2, "B"));
  const int64_t trans_a = ctx.attrs().GetInt("transA", 0), trans_b = ctx.attrs().GetInt("transB", 0);
  if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1)) {
    return ctx.Error("transA and transB must be 0 or 1, got ", trans_a, " and ", trans_b);
  }
  const Dims& a = ctx.input_dims(0);
  const Dims& b = ctx.input_dims(1);
  const int64_t m = trans_a ? a[1] : a[0], k = trans_a ? a[0] : a[1];
  const int64_t kb = trans_b ? b[1] : b[0], n = trans_b ? b[0] : b[1];
  if (k != kb) {
    return ctx.Error("inner dimensions do not match: A ", DimsToString(a), (trans_a ? " (transposed)" : ""), " x B ",
                     DimsToString(b), (trans_b ? " (transposed)" : ""), " (", k, " vs ", kb, ")");
  }
  const Dims out = {m, n};
  if (ctx.has_input(2)) {
    RETURN_IF_ERROR(CheckSameDType(ctx, 2, 0));
    Status st = CheckBroadcastsTo(ctx.input_dims(2), out);
    if (!st.ok()) return ctx.Error("C ", st.message());
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

}  // namespace

void RegisterLinalgOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kMatMul,
         .min_inputs = 2,
         .max_inputs = 2,
         .infer_shape = InferMatMul,
         .doc = "numpy matmul: 1-D operands promoted, batch dims broadcast"});
  r.Add({.kind = OpKind::kGemm,
         .min_inputs = 2,
         .max_inputs = 3,
         .attrs = {{"alpha", AttrType::kFloat},
                   {"beta", AttrType::kFloat},
                   {"transA", AttrType::kInt},
                   {"transB", AttrType::kInt}},
         .infer_shape = InferGemm,
         .doc = "alpha * op(A) * op(B) + beta * C with 2-D A, B and C broadcast to [M, N]"});
}

}  // namespace kiln
