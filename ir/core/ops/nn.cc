// Convolution, pooling and normalization ops (NCHW layout, 1-D to 3-D spatial
// dims for Conv/ConvTranspose). Window arithmetic lives in ir/core/shape_util.cc so
// the kernels compute the same geometry.
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckRank;
using ops::CheckSameDType;
using ops::kVariadic;
using ops::TypeClass;

Dims SpatialDims(const Dims& dims) { return Dims(dims.begin() + 2, dims.end()); }

// kernel_shape, when given, must agree with the weight's spatial dims.
Status CheckKernelShape(const InferContext& ctx, const Dims& weight) {
  if (!ctx.attrs().Has("kernel_shape")) return Status::Ok();
  const Dims kernel = ctx.attrs().GetInts("kernel_shape");
  if (kernel != SpatialDims(weight)) {
    return ctx.Error("kernel_shape ", DimsToString(kernel), " does not match the weight's spatial dims ",
                     DimsToString(SpatialDims(weight)), " (weight ", DimsToString(weight), ")");
  }
  return Status::Ok();
}

StatusOr<int64_t> ReadGroup(const InferContext& ctx) {
  const int64_t group = ctx.attrs().GetInt("group", 1);
  if (group < 1) return ctx.Error("group must be >= 1, got ", group);
  return group;
}

// Bias B: 1-D with one value per output channel.
Status CheckBias(const InferContext& ctx, int i, int64_t channels) {
  if (!ctx.has_input(i)) return Status::Ok();
  RETURN_IF_ERROR(CheckSameDType(ctx, i, 0));
  if (ctx.input_dims(i) != Dims{channels}) {
    return ctx.Error("bias shape ", DimsToString(ctx.input_dims(i)), " does not match ", channels, " output channels");
  }
  return Status::Ok();
}

// Conv and ConvTranspose: float X and W of one rank (3-5); returns the group.
StatusOr<int64_t> CheckConvOperands(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(CheckSameDType(ctx, 1, 0));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 3, 5, "input"));
  const Dims& x = ctx.input_dims(0);
  const Dims& w = ctx.input_dims(1);
  if (w.size() != x.size()) {
    return ctx.Error("weight ", DimsToString(w), " must have the input's rank ", x.size(), " (input ", DimsToString(x),
                     ")");
  }
  return ReadGroup(ctx);
}

// X: [N, C, D1..Dn], W: [M, C / group, k1..kn], B: [M] -> [N, M, O1..On].
Status InferConv(InferContext& ctx) {
  ASSIGN_OR_RETURN(int64_t group, CheckConvOperands(ctx));
  const Dims& x = ctx.input_dims(0);
  const Dims& w = ctx.input_dims(1);
  if (x[1] != w[1] * group) {
    return ctx.Error("input channels ", x[1], " do not match weight channels ", w[1], " x group ", group);
  }
  if (w[0] % group != 0) return ctx.Error("output channels ", w[0], " are not divisible by group ", group);
  RETURN_IF_ERROR(CheckKernelShape(ctx, w));
  RETURN_IF_ERROR(CheckBias(ctx, 2, w[0]));
  ASSIGN_OR_RETURN_CTX(ctx, WindowGeometry g, ComputeWindowGeometry(SpatialDims(x), SpatialDims(w), ctx.attrs()));
  Dims out = {x[0], w[0]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// X: [N, C, D1..Dn], W: [C, M / group, k1..kn], B: [M] -> [N, M, O1..On].
Status InferConvTranspose(InferContext& ctx) {
  ASSIGN_OR_RETURN(int64_t group, CheckConvOperands(ctx));
  const Dims& x = ctx.input_dims(0);
  const Dims& w = ctx.input_dims(1);
  if (x[1] != w[0]) return ctx.Error("input channels ", x[1], " do not match weight dim 0 (", w[0], ")");
  if (x[1] % group != 0) return ctx.Error("input channels ", x[1], " are not divisible by group ", group);
  const int64_t out_channels = w[1] * group;
  RETURN_IF_ERROR(CheckKernelShape(ctx, w));
  RETURN_IF_ERROR(CheckBias(ctx, 2, out_channels));
  ASSIGN_OR_RETURN_CTX(ctx, WindowGeometry g,
                       ComputeConvTransposeGeometry(SpatialDims(x), SpatialDims(w), ctx.attrs()));
  Dims out = {x[0], out_channels};
  out.insert(out.end(), g.output.begin(), g.output.end());
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// MaxPool / AveragePool: [N, C, D1..Dn] -> [N, C, O1..On]; MaxPool's optional
// second output holds int64 flat indices.
Status InferPool(InferContext& ctx, bool is_max) {
  const DType t = ctx.input_dtype(0);
  if (!IsFloatingType(t) && !(is_max && (t == proto::DT_INT8 || t == proto::DT_UINT8))) {
    return ctx.Error("input has type ", DTypeName(t), " but needs a floating-point type",
                     is_max ? " or int8/uint8" : "");
  }
  RETURN_IF_ERROR(CheckRank(ctx, 0, 3, kVariadic, "input"));
  const Dims& x = ctx.input_dims(0);
  if (is_max) {
    const int64_t order = ctx.attrs().GetInt("storage_order", 0);
    if (order != 0 && order != 1) return ctx.Error("storage_order must be 0 or 1, got ", order);
  } else {
    const int64_t count_pad = ctx.attrs().GetInt("count_include_pad", 0);
    if (count_pad != 0 && count_pad != 1) return ctx.Error("count_include_pad must be 0 or 1, got ", count_pad);
  }
  ASSIGN_OR_RETURN_CTX(ctx, WindowGeometry g,
                       ComputePoolGeometry(SpatialDims(x), ctx.attrs().GetInts("kernel_shape"), ctx.attrs()));
  Dims out = {x[0], x[1]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  ctx.set_output(0, t, out);
  if (ctx.num_outputs() > 1) ctx.set_output(1, proto::DT_INT64, out);
  return Status::Ok();
}

Status InferMaxPool(InferContext& ctx) { return InferPool(ctx, true); }
// LpPool: AveragePool's windows (padding counts for nothing) with exponent p >= 1.
Status InferLpPool(InferContext& ctx) {
  const int64_t p = ctx.attrs().GetInt("p", 2);
  if (p < 1) return ctx.Error("p must be >= 1, got ", p);
  return InferPool(ctx, false);
}
Status InferAveragePool(InferContext& ctx) { return InferPool(ctx, false); }

Status InferGlobalPool(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 3, kVariadic, "input"));
  Dims out = ctx.input_dims(0);
  for (size_t i = 2; i < out.size(); ++i) out[i] = 1;
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Inference form: Y = scale * (X - mean) / sqrt(var + epsilon) + B over channel dim 1.
// Outputs 1 and 2 (running mean / var, opset 14 style) are typed like the statistics.
Status InferBatchNorm(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 2, kVariadic, "input"));
  const int64_t training = ctx.attrs().GetInt("training_mode", 0);
  if (training != 0) return ctx.Error("training_mode must be 0 (inference), got ", training);
  const int64_t channels = ctx.input_dims(0)[1];
  static const char* const kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (int i = 1; i < 5; ++i) {
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) {
      return ctx.Error(kNames[i], " has type ", DTypeName(ctx.input_dtype(i)), " but X has ",
                       DTypeName(ctx.input_dtype(0)));
    }
    if (ctx.input_dims(i) != Dims{channels}) {
      return ctx.Error(kNames[i], " shape ", DimsToString(ctx.input_dims(i)), " does not match ", channels,
                       " channels of X ", DimsToString(ctx.input_dims(0)));
    }
  }
  ctx.set_output(0, ctx.input_type(0));
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, ctx.input_type(2 + i));
  return Status::Ok();
}

Status InferLrn(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 3, kVariadic, "input"));
  const int64_t size = ctx.attrs().GetInt("size", 0);
  if (size <= 0) return ctx.Error("size must be positive, got ", size);
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// Dropout (opset 13): optional scalar ratio (float) and training_mode (bool) inputs;
// the optional mask output is bool with the data's shape.
Status InferDropout(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  if (ctx.has_input(1)) {
    RETURN_IF_ERROR(CheckDType(ctx, 1, TypeClass::kFloat, "ratio input"));
    if (ElementCount(ctx.input_dims(1)) != 1 || ctx.input_rank(1) > 1) {
      return ctx.Error("ratio must be a scalar, got shape ", DimsToString(ctx.input_dims(1)));
    }
    if (const Tensor* ratio = ctx.input_value(1)) {
      const double r = ratio->GetAsDouble(0);
      if (!(r >= 0.0 && r < 1.0)) return ctx.Error("ratio must be in [0, 1), got ", r);
    }
  }
  if (ctx.has_input(2)) {
    if (ctx.input_dtype(2) != proto::DT_BOOL || ElementCount(ctx.input_dims(2)) != 1 || ctx.input_rank(2) > 1) {
      return ctx.Error("training_mode must be a bool scalar, got ", ctx.input_type(2).ToString());
    }
  }
  ctx.set_output(0, ctx.input_type(0));
  if (ctx.num_outputs() > 1) ctx.set_output(1, proto::DT_BOOL, ctx.input_dims(0));
  return Status::Ok();
}

}  // namespace

void RegisterNnOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kConv,
         .min_inputs = 2,
         .max_inputs = 3,
         .attrs = {{"auto_pad", AttrType::kString},
                   {"dilations", AttrType::kInts},
                   {"group", AttrType::kInt},
                   {"kernel_shape", AttrType::kInts},
                   {"pads", AttrType::kInts},
                   {"strides", AttrType::kInts}},
         .infer_shape = InferConv,
         .doc = "N-D convolution (1-3 spatial dims) of X [N, C, ...] with W [M, C/group, k...], optional bias [M]"});
  r.Add({.kind = OpKind::kConvTranspose,
         .min_inputs = 2,
         .max_inputs = 3,
         .attrs = {{"auto_pad", AttrType::kString},
                   {"dilations", AttrType::kInts},
                   {"group", AttrType::kInt},
                   {"kernel_shape", AttrType::kInts},
                   {"output_padding", AttrType::kInts},
                   {"output_shape", AttrType::kInts},
                   {"pads", AttrType::kInts},
                   {"strides", AttrType::kInts}},
         .infer_shape = InferConvTranspose,
         .doc = "transposed convolution of X [N, C, ...] with W [C, M/group, k...], optional bias [M]"});
  r.Add({.kind = OpKind::kMaxPool,
         .max_outputs = 2,
         .attrs = {{"auto_pad", AttrType::kString},
                   {"ceil_mode", AttrType::kInt},
                   {"dilations", AttrType::kInts},
                   {"kernel_shape", AttrType::kInts, true},
                   {"pads", AttrType::kInts},
                   {"storage_order", AttrType::kInt},
                   {"strides", AttrType::kInts}},
         .infer_shape = InferMaxPool,
         .doc = "max over sliding windows; optional int64 Indices output"});
  r.Add({.kind = OpKind::kAveragePool,
         .attrs = {{"auto_pad", AttrType::kString},
                   {"ceil_mode", AttrType::kInt},
                   {"count_include_pad", AttrType::kInt},
                   {"dilations", AttrType::kInts},  // AveragePool 19
                   {"kernel_shape", AttrType::kInts, true},
                   {"pads", AttrType::kInts},
                   {"strides", AttrType::kInts}},
         .infer_shape = InferAveragePool,
         .doc = "mean over sliding windows (count_include_pad chooses the divisor)"});
  r.Add({.kind = OpKind::kLpPool,
         .attrs = {{"auto_pad", AttrType::kString},
                   {"ceil_mode", AttrType::kInt},   // LpPool 18
                   {"dilations", AttrType::kInts},  // LpPool 18
                   {"kernel_shape", AttrType::kInts, true},
                   {"p", AttrType::kInt},
                   {"pads", AttrType::kInts},
                   {"strides", AttrType::kInts}},
         .infer_shape = InferLpPool,
         .doc = "(sum of |x|^p over sliding windows)^(1/p), p = 2 by default"});
  r.Add({.kind = OpKind::kGlobalAveragePool,
         .infer_shape = InferGlobalPool,
         .doc = "mean over all spatial dims: [N, C, ...] -> [N, C, 1, ...]"});
  r.Add({.kind = OpKind::kGlobalMaxPool,
         .infer_shape = InferGlobalPool,
         .doc = "maximum over all spatial dims (NaN wins): [N, C, ...] -> [N, C, 1, ...]"});
  r.Add({.kind = OpKind::kBatchNormalization,
         .min_inputs = 5,
         .max_inputs = 5,
         .max_outputs = 3,
         .attrs = {{"epsilon", AttrType::kFloat}, {"momentum", AttrType::kFloat}, {"training_mode", AttrType::kInt}},
         .infer_shape = InferBatchNorm,
         .doc = "inference batch norm with running statistics over channel dim 1"});
  r.Add({.kind = OpKind::kLRN,
         .attrs = {{"alpha", AttrType::kFloat},
                   {"beta", AttrType::kFloat},
                   {"bias", AttrType::kFloat},
                   {"size", AttrType::kInt, true}},
         .infer_shape = InferLrn,
         .doc = "local response normalization across `size` neighbouring channels"});
  r.Add({.kind = OpKind::kDropout,
         .max_inputs = 3,
         .max_outputs = 2,
         .attrs = {{"seed", AttrType::kInt}},
         .infer_shape = InferDropout,
         .doc = "identity at inference; optional ratio/training_mode inputs and bool mask output"});
}

}  // namespace kiln
