// Linear quantization with ONNX semantics (QuantizeLinear / DequantizeLinear up to
// version 25, on the dtypes Kiln has): per-tensor (scalar scale), per-axis ([C]
// scale along axis) and blocked (scale of x's rank, block_size along axis)
// quantization. Reference kernels in runtime/kernels/reference/quantize.cc.
#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

// The scale (input 1) and optional zero point (input 2) against x (input 0).
Status CheckScaleShape(const InferContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const Dims& scale = ctx.input_dims(1);
  const int64_t block = ctx.attrs().GetInt("block_size", 0);
  if (block < 0) return ctx.Error("block_size must be >= 0, got ", block);
  const bool per_tensor = ElementCount(scale) == 1 && scale.size() <= 1;
  if (!per_tensor || block > 0) {
    if (x.empty()) return ctx.Error("a per-axis scale needs x of rank >= 1");
    ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 1), x.size()));
    if (block == 0 && scale != Dims{x[axis]}) {
      return ctx.Error("scale shape ", DimsToString(scale), " must be [] or [", x[axis], "] (axis ", axis, " of x ",
                       DimsToString(x), ")");
    }
    if (block > 0) {
      Dims blocked = x;
      blocked[axis] = (x[axis] + block - 1) / block;
      if (scale != blocked) {
        return ctx.Error("scale shape ", DimsToString(scale), " must be ", DimsToString(blocked), " for block_size ",
                         block, " along axis ", axis);
      }
    }
  }
  if (ctx.has_input(2) && ctx.input_dims(2) != scale) {
    return ctx.Error("zero point shape ", DimsToString(ctx.input_dims(2)), " must be the scale's ",
                     DimsToString(scale));
  }
  return Status::Ok();
}

bool IsQuantizedType(DType t) {
  return t == proto::DT_INT8 || t == proto::DT_UINT8 || t == proto::DT_INT16 || t == proto::DT_UINT16 ||
         t == proto::DT_INT32;
}

// QuantizeLinear(x, y_scale, y_zero_point?) -> y of the zero point's dtype (output_dtype, else uint8).
Status InferQuantize(InferContext& ctx) {
  RETURN_IF_ERROR(ops::CheckDType(ctx, 0, ops::TypeClass::kFloat, "x"));
  RETURN_IF_ERROR(ops::CheckDType(ctx, 1, ops::TypeClass::kFloat, "y_scale"));
  RETURN_IF_ERROR(CheckScaleShape(ctx));
  DType out = proto::DT_UINT8;
  if (ctx.attrs().Has("output_dtype") && ctx.attrs().GetInt("output_dtype", 0) != 0) {
    auto t = DTypeFromOnnx(static_cast<int>(ctx.attrs().GetInt("output_dtype", 0)));
    if (!t.ok() || !IsQuantizedType(*t)) {
      return ctx.Unsupported("output_dtype ", ctx.attrs().GetInt("output_dtype", 0),
                             " (supported: int8, uint8, int16, uint16, int32)");
    }
    out = *t;
  }
  if (ctx.has_input(2)) {
    if (ctx.attrs().Has("output_dtype") && ctx.input_dtype(2) != out) {
      return ctx.Error("y_zero_point has type ", DTypeName(ctx.input_dtype(2)), " but output_dtype is ",
                       DTypeName(out));
    }
    out = ctx.input_dtype(2);
  }
  if (!IsQuantizedType(out))
    return ctx.Unsupported("quantizing to ", DTypeName(out), " (supported: int8, uint8, int16, uint16, int32)");
  const int64_t saturate = ctx.attrs().GetInt("saturate", 1);
  if (saturate != 0 && saturate != 1) return ctx.Error("saturate must be 0 or 1, got ", saturate);
  ctx.set_output(0, out, ctx.input_dims(0));
  return Status::Ok();
}

// DequantizeLinear(x, x_scale, x_zero_point?) -> (x - zero point) * scale, of the scale's dtype.
Status InferDequantize(InferContext& ctx) {
  if (!IsQuantizedType(ctx.input_dtype(0))) {
    return ctx.Unsupported("dequantizing ", DTypeName(ctx.input_dtype(0)),
                           " (supported: int8, uint8, int16, uint16, int32)");
  }
  RETURN_IF_ERROR(ops::CheckDType(ctx, 1, ops::TypeClass::kFloat, "x_scale"));
  RETURN_IF_ERROR(CheckScaleShape(ctx));
  if (ctx.has_input(2)) RETURN_IF_ERROR(ops::CheckSameDType(ctx, 2, 0));
  if (ctx.attrs().GetInt("output_dtype", 0) != 0) {
    auto t = DTypeFromOnnx(static_cast<int>(ctx.attrs().GetInt("output_dtype", 0)));
    if (!t.ok() || *t != ctx.input_dtype(1)) return ctx.Error("output_dtype must be the scale's dtype");
  }
  ctx.set_output(0, ctx.input_dtype(1), ctx.input_dims(0));
  return Status::Ok();
}

}  // namespace

void RegisterQuantizeOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kQuantizeLinear,
         .min_inputs = 2,
         .max_inputs = 3,
         .attrs = {{"axis", AttrType::kInt},
                   {"block_size", AttrType::kInt},
                   {"saturate", AttrType::kInt},
                   {"output_dtype", AttrType::kInt},
                   {"precision", AttrType::kInt}},
         .infer_shape = InferQuantize,
         .doc = "saturate(round_half_even(x / y_scale) + y_zero_point): per tensor, per axis (1) or in blocks "
                "(block_size); int8, uint8 (default), int16, uint16, int32"});
  r.Add({.kind = OpKind::kDequantizeLinear,
         .min_inputs = 2,
         .max_inputs = 3,
         .attrs = {{"axis", AttrType::kInt}, {"block_size", AttrType::kInt}, {"output_dtype", AttrType::kInt}},
         .infer_shape = InferDequantize,
         .doc = "(x - x_zero_point) * x_scale: per tensor, per axis (1) or in blocks (block_size)"});
}

}  // namespace kiln
