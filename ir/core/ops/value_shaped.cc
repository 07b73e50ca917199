// Ops whose output shape depends on an input's values (see value_shaped.h): CenterCropPad,
// Compress, Unique. Each needs that input constant ("needs a constant ..." otherwise).
#include "ir/core/ops/value_shaped.h"

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

// CenterCropPad(input_data, shape): each of 'axes' (every dim by default) cropped or
// zero-padded about its centre to shape[i].
Status InferCenterCropPad(InferContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  const DType shape_type = ctx.input_dtype(1);
  if (shape_type != proto::DT_INT64 && shape_type != proto::DT_INT32) {
    return ctx.Error("shape has type ", DTypeName(shape_type), " but must be int32 or int64");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, ops::ConstantInts(ctx, 1, "shape"));
  std::vector<int64_t> raw_axes = ctx.attrs().GetInts("axes");
  if (!ctx.attrs().Has("axes")) {
    for (size_t i = 0; i < x.size(); ++i) raw_axes.push_back(static_cast<int64_t>(i));
  }
  ASSIGN_OR_RETURN_CTX(ctx, std::vector<int64_t> axes, NormalizeAxes(raw_axes, x.size()));
  if (shape.size() != axes.size()) {
    return ctx.Error("shape has ", shape.size(), " values but there are ", axes.size(), " axes");
  }
  Dims out = x;
  for (size_t i = 0; i < axes.size(); ++i) {
    if (shape[i] < 0) return ctx.Error("shape[", i, "] = ", shape[i], " is negative");
    out[axes[i]] = shape[i];
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Compress(input, condition [n] bool, axis?): the slices along axis (or the flattened
// elements) whose condition is true; condition may be shorter than the axis.
Status InferCompress(InferContext& ctx) {
  if (ctx.input_dtype(1) != proto::DT_BOOL) {
    return ctx.Error("condition has type ", DTypeName(ctx.input_dtype(1)), " but must be bool");
  }
  if (ctx.input_rank(1) != 1) return ctx.Error("condition must be 1-D, got ", DimsToString(ctx.input_dims(1)));
  const Dims& x = ctx.input_dims(0);
  int64_t length = ElementCount(x);
  int64_t axis = -1;
  if (ctx.attrs().Has("axis")) {
    ASSIGN_OR_RETURN_CTX(ctx, axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), x.size()));
    length = x[axis];
  }
  if (ctx.input_dims(1)[0] > length) {
    return ctx.Error("condition has ", ctx.input_dims(1)[0], " values but the ", axis < 0 ? "input" : "axis", " has ",
                     length);
  }
  const Tensor* condition = ctx.input_value(1);
  if (!condition) return ctx.Error("needs a constant 'condition' input (the output's shape depends on it)");
  int64_t kept = 0;
  for (int64_t i = 0; i < condition->num_elements(); ++i) kept += condition->data_as<uint8_t>()[i] != 0;
  Dims out = {kept};
  if (axis >= 0) {
    out = x;
    out[axis] = kept;
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Unique(X): Y (the unique values or slices), indices, inverse_indices, counts (int64).
Status InferUnique(InferContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  int64_t axis = -1;
  if (ctx.attrs().Has("axis")) {
    // NormalizeAxis lets a scalar take axis 0; Unique's axis must name a dimension.
    if (x.empty()) return ctx.Error("axis needs an input of rank >= 1, got a scalar");
    ASSIGN_OR_RETURN_CTX(ctx, axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), x.size()));
  }
  const int64_t sorted = ctx.attrs().GetInt("sorted", 1);
  if (sorted != 0 && sorted != 1) return ctx.Error("sorted must be 0 or 1, got ", sorted);
  const Tensor* value = ctx.input_value(0);
  if (!value) return ctx.Error("needs a constant input X (the output's shape depends on its values)");
  int64_t unique_count = 0;
  auto count = [&](const auto* data) {
    unique_count = static_cast<int64_t>(unique::Find(data, x, axis, sorted != 0).first.size());
  };
  if (value->dtype() == proto::DT_FLOAT16 || value->dtype() == proto::DT_BFLOAT16) {  // by value, as float
    std::vector<float> wide(static_cast<size_t>(value->num_elements()));
    for (size_t i = 0; i < wide.size(); ++i) wide[i] = static_cast<float>(value->GetAsDouble(static_cast<int64_t>(i)));
    count(wide.data());
  } else {
    switch (value->dtype()) {
#define DTYPE(ENUM, name, onnx, Storage, kind, npy) \
  case proto::DT_##ENUM:                            \
    count(value->data_as<Storage>());               \
    break;
#include "ir/core/dtypes.def"
#undef DTYPE
      default: return ctx.Error("X has unsupported type ", DTypeName(value->dtype()));
    }
  }
  Dims y = {unique_count};
  if (axis >= 0) {
    y = x;
    y[axis] = unique_count;
  }
  ctx.set_output(0, ctx.input_dtype(0), y);
  const int64_t slices = axis >= 0 ? x[axis] : ElementCount(x);
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, proto::DT_INT64, {i == 2 ? slices : unique_count});
  return Status::Ok();
}

}  // namespace

void RegisterValueShapedOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kCenterCropPad,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axes", AttrType::kInts}},
         .infer_shape = InferCenterCropPad,
         .doc = "each of 'axes' (all by default) cropped or zero-padded about its centre to the constant "
                "shape input (the extra cell, if any, at the end)"});
  r.Add({.kind = OpKind::kCompress,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axis", AttrType::kInt}},
         .infer_shape = InferCompress,
         .doc = "the slices along axis (or the flattened elements) where the constant bool condition is true"});
  r.Add({.kind = OpKind::kUnique,
         .max_outputs = 4,
         .attrs = {{"axis", AttrType::kInt}, {"sorted", AttrType::kInt}},
         .infer_shape = InferUnique,
         .doc = "the unique elements (or slices along axis) of a constant X, ascending (sorted=1) or by first "
                "occurrence; int64 indices (first occurrences), inverse_indices, counts"});
}

}  // namespace kiln
