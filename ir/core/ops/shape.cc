// Shape and data-movement ops. Inputs that decide an output shape (Reshape's
// shape, Slice's starts, Pad's pads, ...) must be compile-time constants:
// Kiln's shapes are static.
#include <algorithm>
#include <cstdlib>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckRank;
using ops::CheckSameDType;
using ops::ConstantInts;
using ops::kVariadic;
using ops::TypeClass;

Status InferIdentity(InferContext& ctx) {
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// [d0..d(axis-1)] x [d(axis)..] -> 2-D; axis in [-rank, rank].
Status InferFlatten(InferContext& ctx) {
  const int64_t rank = ctx.input_rank(0);
  int64_t axis = ctx.attrs().GetInt("axis", 1);
  if (axis < -rank || axis > rank) return ctx.Error("axis ", axis, " is out of range [", -rank, ", ", rank, "]");
  if (axis < 0) axis += rank;
  const Dims& x = ctx.input_dims(0);
  const int64_t outer = ElementCount(Dims(x.begin(), x.begin() + axis));
  ctx.set_output(0, ctx.input_dtype(0), Dims{outer, ElementCount(Dims(x.begin() + axis, x.end()))});
  return Status::Ok();
}

Status InferReshape(InferContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, ConstantInts(ctx, 1, "shape"));
  const int64_t allow_zero = ctx.attrs().GetInt("allowzero", 0);
  ASSIGN_OR_RETURN_CTX(ctx, Dims out, ResolveReshape(ctx.input_dims(0), shape, allow_zero != 0));
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

Status InferTranspose(InferContext& ctx) {
  ASSIGN_OR_RETURN_CTX(ctx, std::vector<int64_t> perm, ResolvePerm(ctx.attrs().GetInts("perm"), ctx.input_rank(0)));
  Dims out;
  for (int64_t p : perm) out.push_back(ctx.input_dims(0)[p]);
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

Status InferConcat(InferContext& ctx) {
  const Dims& first = ctx.input_dims(0);
  if (first.empty()) return ctx.Error("cannot concatenate scalars (input 0 has rank 0)");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), first.size()));
  Dims out = first;
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input ", i, " is missing");
    RETURN_IF_ERROR(CheckSameDType(ctx, i, 0));
    const Dims& d = ctx.input_dims(i);
    bool match = d.size() == first.size();
    for (size_t j = 0; match && j < d.size(); ++j) match = j == static_cast<size_t>(axis) || d[j] == first[j];
    if (!match) {
      return ctx.Error("input ", i, " shape ", DimsToString(d), " does not match input 0 shape ", DimsToString(first),
                       " outside axis ", axis);
    }
    out[axis] += d[axis];
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Split (opset 13): sizes from the optional constant 'split' input, else equal parts.
Status InferSplit(InferContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  if (x.empty()) return ctx.Error("cannot split a scalar");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), x.size()));
  std::vector<int64_t> split;
  if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(split, ConstantInts(ctx, 1, "split"));
  }
  // Split 18: num_outputs parts of ceil(dim / num_outputs), the last one smaller.
  const bool num_outputs_attr = ctx.attrs().Has("num_outputs");
  if (num_outputs_attr) {
    if (ctx.has_input(1)) return ctx.Error("takes the 'split' input or the num_outputs attribute, not both");
    const int64_t n = ctx.attrs().GetInt("num_outputs", 0);
    if (n != ctx.num_outputs())
      return ctx.Error("num_outputs is ", n, " but the node has ", ctx.num_outputs(), " outputs");
  }
  ASSIGN_OR_RETURN_CTX(ctx, std::vector<int64_t> sizes,
                       ResolveSplit(x[axis], split, ctx.num_outputs(), num_outputs_attr));
  for (int i = 0; i < ctx.num_outputs(); ++i) {
    Dims out = x;
    out[axis] = sizes[i];
    ctx.set_output(i, ctx.input_dtype(0), out);
  }
  return Status::Ok();
}

Status InferSlice(InferContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<int64_t> starts, ConstantInts(ctx, 1, "starts"));
  ASSIGN_OR_RETURN(std::vector<int64_t> ends, ConstantInts(ctx, 2, "ends"));
  std::vector<int64_t> axes, steps;
  if (ctx.has_input(3)) {
    ASSIGN_OR_RETURN(axes, ConstantInts(ctx, 3, "axes"));
  }
  if (ctx.has_input(4)) {
    ASSIGN_OR_RETURN(steps, ConstantInts(ctx, 4, "steps"));
  }
  ASSIGN_OR_RETURN_CTX(ctx, SliceRange range, ResolveSlice(ctx.input_dims(0), starts, ends, axes, steps));
  ctx.set_output(0, ctx.input_dtype(0), range.output);
  return Status::Ok();
}

// data[r] gathered with indices[q] along axis -> rank r + q - 1.
Status InferGather(InferContext& ctx) {
  const Dims& data = ctx.input_dims(0);
  const Dims& indices = ctx.input_dims(1);
  if (data.empty()) return ctx.Error("data must have rank >= 1");
  const DType index_type = ctx.input_dtype(1);
  if (index_type != proto::DT_INT32 && index_type != proto::DT_INT64) {
    return ctx.Error("indices have type ", DTypeName(index_type), " but must be int32 or int64");
  }
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), data.size()));
  if (const Tensor* values = ctx.input_value(1)) {
    const int64_t size = data[axis];
    for (int64_t i = 0; i < values->num_elements(); ++i) {
      const int64_t v = values->GetAsInt64(i);
      if (v < -size || v >= size) {
        return ctx.Error("index ", v, " is out of range for axis ", axis, " of size ", size);
      }
    }
  }
  Dims out(data.begin(), data.begin() + axis);
  out.insert(out.end(), indices.begin(), indices.end());
  out.insert(out.end(), data.begin() + axis + 1, data.end());
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Pad (opset 13): pads input [2 * rank] (begins, then ends; negative crops),
// optional scalar constant_value input, mode attribute.
Status InferPad(InferContext& ctx) {
  const std::string mode = ctx.attrs().GetString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap") {
    return ctx.Error("mode '", mode, "' is not one of constant, reflect, edge, wrap");
  }
  const Dims& x = ctx.input_dims(0);
  const size_t rank = x.size();
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, ConstantInts(ctx, 1, "pads"));
  if (ctx.has_input(3)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, ConstantInts(ctx, 3, "axes"));
    ASSIGN_OR_RETURN_CTX(ctx, pads, ExpandPadAxes(pads, axes, static_cast<int64_t>(rank)));
  }
  if (pads.size() != 2 * rank) {
    return ctx.Error("pads ", DimsToString(pads), " has ", pads.size(), " values, expected 2 x rank = ", 2 * rank);
  }
  if (ctx.has_input(2)) {
    RETURN_IF_ERROR(CheckSameDType(ctx, 2, 0));
    if (ElementCount(ctx.input_dims(2)) != 1 || ctx.input_rank(2) > 1) {
      return ctx.Error("constant_value must be a scalar, got shape ", DimsToString(ctx.input_dims(2)));
    }
  }
  Dims out = x;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t begin = pads[i], end = pads[i + rank];
    if (std::max(std::abs(begin), std::abs(end)) > kMaxTensorElements) {
      return ctx.Error("pads ", DimsToString(pads), " are out of range");
    }
    out[i] = x[i] + begin + end;
    if (out[i] < 0) {
      return ctx.Error("pads ", DimsToString(pads), " crop axis ", i, " of size ", x[i], " below zero");
    }
    if (mode == "reflect" && (begin >= x[i] || end >= x[i]) && (begin > 0 || end > 0)) {
      return ctx.Error("reflect pads ", begin, ", ", end, " on axis ", i, " must be smaller than its size ", x[i]);
    }
    if ((mode == "edge" || mode == "wrap") && x[i] == 0 && (begin > 0 || end > 0)) {
      return ctx.Error(mode, " padding of the empty axis ", i);
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Squeeze (opset 13): optional constant 'axes' input; without it (or with an
// empty one, as onnxruntime reads it) every size-1 dim goes.
Status InferSqueeze(InferContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  std::vector<int64_t> axes;
  if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> raw, ConstantInts(ctx, 1, "axes"));
    ASSIGN_OR_RETURN_CTX(ctx, axes, NormalizeAxes(raw, x.size()));
    for (int64_t a : axes) {
      if (x[a] != 1) return ctx.Error("cannot squeeze axis ", a, " of size ", x[a], " (shape ", DimsToString(x), ")");
    }
  }
  Dims out;
  for (size_t i = 0; i < x.size(); ++i) {
    const bool drop = axes.empty() ? x[i] == 1 : std::binary_search(axes.begin(), axes.end(), static_cast<int64_t>(i));
    if (!drop) out.push_back(x[i]);
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Unsqueeze (opset 13): 'axes' index the output, whose rank is rank + len(axes).
Status InferUnsqueeze(InferContext& ctx) {
  const Dims& x = ctx.input_dims(0);
  ASSIGN_OR_RETURN(std::vector<int64_t> raw, ConstantInts(ctx, 1, "axes"));
  const int64_t out_rank = static_cast<int64_t>(x.size() + raw.size());
  ASSIGN_OR_RETURN_CTX(ctx, std::vector<int64_t> axes, NormalizeAxes(raw, out_rank));
  Dims out;
  size_t next = 0;
  for (int64_t i = 0; i < out_rank; ++i) {
    out.push_back(std::binary_search(axes.begin(), axes.end(), i) ? 1 : x[next++]);
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

Status InferExpand(InferContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, ConstantInts(ctx, 1, "shape"));
  for (int64_t d : shape) {
    if (d < 0) return ctx.Error("shape ", DimsToString(shape), " has a negative dim");
  }
  ASSIGN_OR_RETURN_CTX(ctx, Dims out, BroadcastDims(ctx.input_dims(0), shape));
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Exactly one of the value attributes; value_float(s) are float32, value_int(s) int64.
Status InferConstant(InferContext& ctx) {
  static const char* const kValueAttrs[] = {"value",      "value_float",  "value_floats",  "value_int",
                                            "value_ints", "value_string", "value_strings", "sparse_value"};
  std::string which;
  int count = 0;
  for (const char* name : kValueAttrs) {
    if (ctx.attrs().Has(name)) {
      which = name;
      ++count;
    }
  }
  if (count != 1) return ctx.Error("needs exactly one value attribute, got ", count);
  if (which == "value") {
    auto t = Tensor::FromProto(*ctx.attrs().GetTensor("value"));
    if (!t.ok()) return ctx.Error("value: ", t.status().message());
    if (t->dtype() == proto::DT_UNDEFINED) return ctx.Error("value tensor has no data type");
    ctx.set_output(0, t->dtype(), t->dims());
  } else if (which == "value_float") {
    ctx.set_output(0, proto::DT_FLOAT, {});
  } else if (which == "value_floats") {
    ctx.set_output(0, proto::DT_FLOAT, {static_cast<int64_t>(ctx.attrs().GetFloats(which).size())});
  } else if (which == "value_int") {
    ctx.set_output(0, proto::DT_INT64, {});
  } else if (which == "value_ints") {
    ctx.set_output(0, proto::DT_INT64, {static_cast<int64_t>(ctx.attrs().GetInts(which).size())});
  } else {
    return ctx.Error(which, " is not supported (Kiln has no string or sparse tensors)");
  }
  return Status::Ok();
}

// ConstantOfShape: constant int64 shape input; 'value' is a one-element tensor (default float32 0).
Status InferConstantOfShape(InferContext& ctx) {
  if (ctx.input_dtype(0) != proto::DT_INT64) {
    return ctx.Error("shape input has type ", DTypeName(ctx.input_dtype(0)), " but must be int64");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, ConstantInts(ctx, 0, "input"));
  for (int64_t d : shape) {
    if (d < 0) return ctx.Error("shape ", DimsToString(shape), " has a negative dim");
  }
  DType dtype = proto::DT_FLOAT;
  if (const proto::Tensor* value = ctx.attrs().GetTensor("value")) {
    auto t = Tensor::FromProto(*value);
    if (!t.ok()) return ctx.Error("value: ", t.status().message());
    if (t->num_elements() != 1 || t->dims().size() > 1) {
      return ctx.Error("value must hold one element, got shape ", DimsToString(t->dims()));
    }
    if (t->dtype() == proto::DT_UNDEFINED) return ctx.Error("value tensor has no data type");
    dtype = t->dtype();
  }
  ctx.set_output(0, dtype, shape);
  return Status::Ok();
}

// Shape: int64 [end - start] (start/end from opset 15, clamped as ONNX does).
Status InferShapeOp(InferContext& ctx) {
  const int64_t rank = ctx.input_rank(0);
  int64_t start = ctx.attrs().GetInt("start", 0), end = ctx.attrs().GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  ctx.set_output(0, proto::DT_INT64, {std::max<int64_t>(0, end - start)});
  return Status::Ok();
}

Status InferCast(InferContext& ctx) {
  auto to = DTypeFromOnnx(ctx.attrs().GetInt("to", 0));
  if (!to.ok()) return ctx.Unsupported("to: ", to.status().message());
  ctx.set_output(0, *to, ctx.input_dims(0));
  return Status::Ok();
}

}  // namespace

void RegisterShapeOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kFlatten,
         .attrs = {{"axis", AttrType::kInt}},
         .infer_shape = InferFlatten,
         .doc = "reshape to 2-D [prod(dims before axis), prod(dims from axis)] (axis=1)"});
  r.Add({.kind = OpKind::kReshape,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"allowzero", AttrType::kInt}},
         .infer_shape = InferReshape,
         .doc = "reshape to a constant shape (0 copies a dim, -1 is inferred)"});
  r.Add({.kind = OpKind::kTranspose,
         .attrs = {{"perm", AttrType::kInts}},
         .infer_shape = InferTranspose,
         .doc = "permute dims (default: reverse them)"});
  r.Add({.kind = OpKind::kConcat,
         .max_inputs = kVariadic,
         .attrs = {{"axis", AttrType::kInt, true}},
         .infer_shape = InferConcat,
         .doc = "concatenate 1+ tensors along axis"});
  r.Add({.kind = OpKind::kSplit,
         .max_inputs = 2,
         .max_outputs = kVariadic,
         .attrs = {{"axis", AttrType::kInt}, {"num_outputs", AttrType::kInt}},
         .infer_shape = InferSplit,
         .doc = "split along axis by the constant 'split' sizes, or into equal parts (num_outputs: the last smaller)"});
  r.Add({.kind = OpKind::kSlice,
         .min_inputs = 3,
         .max_inputs = 5,
         .infer_shape = InferSlice,
         .doc = "strided slice with constant starts/ends/axes/steps inputs (ONNX clamping)"});
  r.Add({.kind = OpKind::kGather,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axis", AttrType::kInt}},
         .infer_shape = InferGather,
         .doc = "take entries along axis at int32/int64 indices"});
  r.Add(
      {.kind = OpKind::kPad,
       .min_inputs = 2,
       .max_inputs = 4,
       .attrs = {{"mode", AttrType::kString}},
       .infer_shape = InferPad,
       .doc = "pad (or crop) by constant pads over all or the constant 'axes'; mode constant, reflect, edge or wrap"});
  r.Add({.kind = OpKind::kSqueeze,
         .max_inputs = 2,
         .infer_shape = InferSqueeze,
         .doc = "remove size-1 dims at the constant 'axes' (all of them without axes)"});
  r.Add({.kind = OpKind::kUnsqueeze,
         .min_inputs = 2,
         .max_inputs = 2,
         .infer_shape = InferUnsqueeze,
         .doc = "insert size-1 dims at the constant 'axes' of the output"});
  r.Add({.kind = OpKind::kExpand,
         .min_inputs = 2,
         .max_inputs = 2,
         .infer_shape = InferExpand,
         .doc = "broadcast to a constant shape (bidirectionally)"});
  r.Add({.kind = OpKind::kIdentity, .infer_shape = InferIdentity, .doc = "copy of the input"});
  r.Add({.kind = OpKind::kConstant,
         .min_inputs = 0,
         .max_inputs = 0,
         .attrs = {{"value", AttrType::kTensor},
                   {"value_float", AttrType::kFloat},
                   {"value_floats", AttrType::kFloats},
                   {"value_int", AttrType::kInt},
                   {"value_ints", AttrType::kInts},
                   {"value_string", AttrType::kString},
                   {"value_strings", AttrType::kStrings},
                   {"sparse_value", AttrType::kTensor}},
         .infer_shape = InferConstant,
         .doc = "a constant from exactly one of value / value_float(s) / value_int(s)"});
  r.Add({.kind = OpKind::kConstantOfShape,
         .attrs = {{"value", AttrType::kTensor}},
         .infer_shape = InferConstantOfShape,
         .doc = "tensor of the constant int64 shape filled with 'value' (default float32 0)"});
  r.Add({.kind = OpKind::kShape,
         .attrs = {{"start", AttrType::kInt}, {"end", AttrType::kInt}},
         .infer_shape = InferShapeOp,
         .doc = "the input's dims [start:end] as a 1-D int64 tensor"});
  r.Add({.kind = OpKind::kCast,
         .attrs = {{"to", AttrType::kInt, true}},
         .infer_shape = InferCast,
         .doc = "convert elements to the ONNX data type 'to'"});
}

}  // namespace kiln
