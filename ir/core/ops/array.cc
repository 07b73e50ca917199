// Array ops along one axis, over blocks or at indices, with ONNX semantics: CumSum,
// CumProd, Hardmax, TopK, OneHot, DepthToSpace, SpaceToDepth, ScatterElements, ScatterND, GatherND. Reference kernels
// in runtime/kernels/reference/array.cc.
#include <algorithm>
#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckRank;
using ops::TypeClass;

// An integer scalar input (shape [] or [1]); `what` names it in errors.
Status CheckIntScalar(const InferContext& ctx, int i, const char* what) {
  const DType t = ctx.input_dtype(i);
  if (t != proto::DT_INT64 && t != proto::DT_INT32) {
    return ctx.Error(what, " has type ", DTypeName(t), " but must be int32 or int64");
  }
  if (ctx.input_rank(i) > 1 || ElementCount(ctx.input_dims(i)) != 1) {
    return ctx.Error(what, " must be a scalar, got shape ", DimsToString(ctx.input_dims(i)));
  }
  return Status::Ok();
}

// CumSum / CumProd (x, axis): running sum / product along axis; exclusive, reverse.
Status InferCumulative(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kNumeric));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 1, ops::kVariadic, "x"));
  RETURN_IF_ERROR(CheckIntScalar(ctx, 1, "axis"));
  if (const Tensor* axis = ctx.input_value(1)) {
    ASSIGN_OR_RETURN_CTX(ctx, int64_t a, NormalizeAxis(static_cast<int64_t>(axis->GetAsDouble(0)), ctx.input_rank(0)));
    (void)a;
  }
  for (const char* flag : {"exclusive", "reverse"}) {
    const int64_t v = ctx.attrs().GetInt(flag, 0);
    if (v != 0 && v != 1) return ctx.Error(flag, " must be 0 or 1, got ", v);
  }
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// Hardmax(x): 1 at the first maximum along axis (-1), 0 elsewhere.
Status InferHardmax(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", -1), ctx.input_rank(0)));
  (void)axis;
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// TopK(X, K) -> Values, Indices (int64): the K largest (largest=1) or smallest along axis.
Status InferTopK(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kNumeric));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 1, ops::kVariadic, "X"));
  ASSIGN_OR_RETURN(std::vector<int64_t> k, ops::ConstantInts(ctx, 1, "K"));
  if (k.size() != 1) return ctx.Error("K must have one element, got ", k.size());
  Dims dims = ctx.input_dims(0);
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", -1), dims.size()));
  if (k[0] < 0 || k[0] > dims[axis]) {
    return ctx.Error("K = ", k[0], " is out of range [0, ", dims[axis], "] for axis ", axis, " of ",
                     DimsToString(dims));
  }
  for (const char* flag : {"largest", "sorted"}) {
    const int64_t v = ctx.attrs().GetInt(flag, 1);
    if (v != 0 && v != 1) return ctx.Error(flag, " must be 0 or 1, got ", v);
  }
  dims[axis] = k[0];
  ctx.set_output(0, ctx.input_dtype(0), dims);
  if (ctx.num_outputs() > 1) ctx.set_output(1, proto::DT_INT64, dims);
  return Status::Ok();
}

// OneHot(indices, depth, values [off, on]): a new axis of size depth.
Status InferOneHot(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kNumeric, "indices"));
  RETURN_IF_ERROR(CheckDType(ctx, 1, TypeClass::kNumeric, "depth"));
  for (int i = 0; i < 2; ++i) {
    if (ctx.input_dtype(i) == proto::DT_FLOAT16) return ctx.Unsupported("float16 ", i == 0 ? "indices" : "depth");
  }
  const Tensor* depth = ctx.input_value(1);
  if (!depth) return ctx.Error("needs a constant 'depth' input (input 1 is not known at compile time)");
  if (depth->num_elements() != 1 || depth->dims().size() > 1) {
    return ctx.Error("depth must be a scalar, got shape ", DimsToString(depth->dims()));
  }
  const double d = depth->GetAsDouble(0);
  if (!(d >= 1) || d > static_cast<double>(int64_t{1} << 40)) return ctx.Error("depth must be >= 1, got ", d);
  if (ctx.input_dims(2) != Dims{2}) {
    return ctx.Error("values must have shape [2] ([off, on]), got ", DimsToString(ctx.input_dims(2)));
  }
  Dims dims = ctx.input_dims(0);
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", -1), dims.size() + 1));
  dims.insert(dims.begin() + axis, static_cast<int64_t>(d));
  ASSIGN_OR_RETURN_CTX(ctx, int64_t count, CheckedElementCount(dims));
  (void)count;
  ctx.set_output(0, ctx.input_dtype(2), dims);
  return Status::Ok();
}

// DepthToSpace / SpaceToDepth (x [N, C, H, W]): blocksize (required), mode DCR or CRD.
template <bool kToSpace>
Status InferDepthSpace(InferContext& ctx) {
  RETURN_IF_ERROR(CheckRank(ctx, 0, 4, 4, "input"));
  const int64_t b = ctx.attrs().GetInt("blocksize", 0);
  if (b < 1 || b > (int64_t{1} << 20)) return ctx.Error("blocksize must be >= 1, got ", b);
  const std::string mode = ctx.attrs().GetString("mode", "DCR");
  if (mode != "DCR" && mode != "CRD") return ctx.Error("mode must be DCR or CRD, got ", mode);
  Dims d = ctx.input_dims(0);
  if (kToSpace) {
    if (d[1] % (b * b) != 0) return ctx.Error("channels ", d[1], " are not divisible by blocksize^2 = ", b * b);
    d = {d[0], d[1] / (b * b), d[2] * b, d[3] * b};
  } else {
    if (d[2] % b != 0 || d[3] % b != 0) {
      return ctx.Error("height and width ", d[2], "x", d[3], " are not divisible by blocksize ", b);
    }
    d = {d[0], d[1] * b * b, d[2] / b, d[3] / b};
  }
  ctx.set_output(0, ctx.input_dtype(0), d);
  return Status::Ok();
}

Status CheckIndexType(const InferContext& ctx, int i) {
  if (ctx.input_dtype(i) != proto::DT_INT64 && ctx.input_dtype(i) != proto::DT_INT32) {
    return ctx.Error("indices have type ", DTypeName(ctx.input_dtype(i)), " but must be int32 or int64");
  }
  return Status::Ok();
}

// Constant indices (input 1) are checked now: element i indexes a dim of size bound(i).
template <typename Bound>
Status CheckConstantIndices(const InferContext& ctx, Bound bound) {
  const Tensor* t = ctx.input_value(1);
  if (!t) return Status::Ok();
  for (int64_t i = 0; i < t->num_elements(); ++i) {
    const int64_t v = static_cast<int64_t>(t->GetAsDouble(i)), size = bound(i);
    if (v < -size || v >= size) return ctx.Error("index ", v, " is out of range for a dim of size ", size);
  }
  return Status::Ok();
}

Status CheckScatterReduction(const InferContext& ctx) {
  const std::string r = ctx.attrs().GetString("reduction", "none");
  if (r != "none" && r != "add" && r != "mul" && r != "max" && r != "min") {
    return ctx.Error("reduction must be none, add, mul, max or min, got \"", r, "\"");
  }
  if (r != "none" && ctx.input_dtype(0) == proto::DT_BOOL) return ctx.Error("reduction ", r, " on bool data");
  return Status::Ok();
}

// ScatterElements(data, indices, updates): updates[i][j] goes to data[indices[i][j]][j] along axis.
Status InferScatterElements(InferContext& ctx) {
  RETURN_IF_ERROR(CheckIndexType(ctx, 1));
  RETURN_IF_ERROR(CheckScatterReduction(ctx));
  const Dims& data = ctx.input_dims(0);
  if (data.empty()) return ctx.Error("data must have rank >= 1");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), data.size()));
  const Dims& indices = ctx.input_dims(1);
  if (indices.size() != data.size() || ctx.input_dims(2) != indices) {
    return ctx.Error("indices ", DimsToString(indices), " and updates ", DimsToString(ctx.input_dims(2)),
                     " must have one shape of data's rank ", data.size());
  }
  for (size_t d = 0; d < data.size(); ++d) {
    if (static_cast<int64_t>(d) != axis && indices[d] > data[d]) {
      return ctx.Error("indices ", DimsToString(indices), " exceed data ", DimsToString(data), " in dim ", d);
    }
  }
  RETURN_IF_ERROR(ops::CheckSameDType(ctx, 2, 0));
  RETURN_IF_ERROR(CheckConstantIndices(ctx, [&](int64_t) { return data[axis]; }));
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// ScatterND(data, indices [..., k], updates [..., data dims from k]).
Status InferScatterND(InferContext& ctx) {
  RETURN_IF_ERROR(CheckIndexType(ctx, 1));
  RETURN_IF_ERROR(CheckScatterReduction(ctx));
  const Dims& data = ctx.input_dims(0);
  const Dims& indices = ctx.input_dims(1);
  if (data.empty() || indices.empty()) return ctx.Error("data and indices must have rank >= 1");
  const int64_t k = indices.back();
  if (k < 1 || k > static_cast<int64_t>(data.size())) {
    return ctx.Error("the last dim of indices (", k, ") must be in [1, ", data.size(), "]");
  }
  Dims updates(indices.begin(), indices.end() - 1);
  updates.insert(updates.end(), data.begin() + k, data.end());
  if (ctx.input_dims(2) != updates) {
    return ctx.Error("updates shape ", DimsToString(ctx.input_dims(2)), " must be ", DimsToString(updates));
  }
  RETURN_IF_ERROR(ops::CheckSameDType(ctx, 2, 0));
  RETURN_IF_ERROR(CheckConstantIndices(ctx, [&](int64_t i) { return data[i % k]; }));
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// GatherND(data, indices [..., k]) with batch_dims b -> data[:b] + indices[b:-1] + data[b + k:].
Status InferGatherND(InferContext& ctx) {
  RETURN_IF_ERROR(CheckIndexType(ctx, 1));
  const Dims& data = ctx.input_dims(0);
  const Dims& indices = ctx.input_dims(1);
  const int64_t b = ctx.attrs().GetInt("batch_dims", 0);
  if (data.empty() || indices.empty()) return ctx.Error("data and indices must have rank >= 1");
  if (b < 0 || b >= static_cast<int64_t>(std::min(data.size(), indices.size()))) {
    return ctx.Error("batch_dims ", b, " must be less than both ranks");
  }
  const int64_t k = indices.back();
  if (k < 1 || b + k > static_cast<int64_t>(data.size())) {
    return ctx.Error("the last dim of indices (", k, ") must be in [1, ", data.size() - b, "]");
  }
  for (int64_t d = 0; d < b; ++d) {
    if (data[d] != indices[d]) return ctx.Error("batch dim ", d, " differs: ", data[d], " vs ", indices[d]);
  }
  RETURN_IF_ERROR(CheckConstantIndices(ctx, [&](int64_t i) { return data[b + i % k]; }));
  Dims out(data.begin(), data.begin() + b);
  out.insert(out.end(), indices.begin() + b, indices.end() - 1);
  out.insert(out.end(), data.begin() + b + k, data.end());
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

// Tile(input, repeats (constant int64 [rank])): each dim repeated.
Status InferTile(InferContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ops::ConstantInts(ctx, 1, "repeats"));
  Dims dims = ctx.input_dims(0);
  if (repeats.size() != dims.size()) {
    return ctx.Error("repeats has ", repeats.size(), " values but the input has rank ", dims.size());
  }
  for (size_t d = 0; d < dims.size(); ++d) {
    if (repeats[d] < 0) return ctx.Error("repeats must be >= 0, got ", repeats[d]);
    if (dims[d] > 0 && repeats[d] > (int64_t{1} << 40) / dims[d])
      return ctx.Error("repeats ", repeats[d], " is too large");
    dims[d] *= repeats[d];
  }
  ASSIGN_OR_RETURN_CTX(ctx, int64_t count, CheckedElementCount(dims));
  (void)count;
  ctx.set_output(0, ctx.input_dtype(0), dims);
  return Status::Ok();
}

std::vector<AttrSpec> CumulativeAttrs() { return {{"exclusive", AttrType::kInt}, {"reverse", AttrType::kInt}}; }
std::vector<AttrSpec> DepthSpaceAttrs() { return {{"blocksize", AttrType::kInt, true}, {"mode", AttrType::kString}}; }

}  // namespace

void RegisterArrayOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kCumSum,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = CumulativeAttrs(),
         .infer_shape = InferCumulative,
         .doc = "running sum along axis (scalar input); exclusive, reverse"});
  r.Add({.kind = OpKind::kCumProd,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = CumulativeAttrs(),
         .infer_shape = InferCumulative,
         .doc = "running product along axis (scalar input); exclusive, reverse"});
  r.Add({.kind = OpKind::kHardmax,
         .attrs = {{"axis", AttrType::kInt}},
         .infer_shape = InferHardmax,
         .doc = "1 at the first maximum along axis (-1), 0 elsewhere"});
  r.Add({.kind = OpKind::kTopK,
         .min_inputs = 2,
         .max_inputs = 2,
         .max_outputs = 2,
         .attrs = {{"axis", AttrType::kInt}, {"largest", AttrType::kInt}, {"sorted", AttrType::kInt}},
         .infer_shape = InferTopK,
         .doc = "the K (constant input) largest (largest=1) or smallest values along axis (-1) and their int64 "
                "indices; ties go to the lower index"});
  r.Add({.kind = OpKind::kOneHot,
         .min_inputs = 3,
         .max_inputs = 3,
         .attrs = {{"axis", AttrType::kInt}},
         .infer_shape = InferOneHot,
         .doc = "(indices, depth (constant), values [off, on]) -> on where the new axis (-1) equals the index "
                "(negative ones count from depth), off elsewhere"});
  r.Add({.kind = OpKind::kDepthToSpace,
         .attrs = DepthSpaceAttrs(),
         .infer_shape = InferDepthSpace<true>,
         .doc = "[N, C, H, W] -> [N, C / b^2, H b, W b]; mode DCR (depth-column-row, default) or CRD"});
  r.Add({.kind = OpKind::kSpaceToDepth,
         .attrs = DepthSpaceAttrs(),
         .infer_shape = InferDepthSpace<false>,
         .doc = "[N, C, H, W] -> [N, C b^2, H / b, W / b], the inverse of DepthToSpace (mode DCR or CRD)"});
  r.Add({.kind = OpKind::kScatterElements,
         .min_inputs = 3,
         .max_inputs = 3,
         .attrs = {{"axis", AttrType::kInt}, {"reduction", AttrType::kString}},
         .infer_shape = InferScatterElements,
         .doc = "data with updates[i][j] written to [indices[i][j]][j] along axis (0); reduction none, add, mul, "
                "max, min"});
  r.Add(
      {.kind = OpKind::kScatterND,
       .min_inputs = 3,
       .max_inputs = 3,
       .attrs = {{"reduction", AttrType::kString}},
       .infer_shape = InferScatterND,
       .doc = "data with the slices updates[i...] written at data[indices[i...]]; reduction none, add, mul, max, min"});
  r.Add({.kind = OpKind::kTile,
         .min_inputs = 2,
         .max_inputs = 2,
         .infer_shape = InferTile,
         .doc = "the input repeated repeats[d] times along each dim d (constant repeats)"});
  r.Add({.kind = OpKind::kGatherND,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"batch_dims", AttrType::kInt}},
         .infer_shape = InferGatherND,
         .doc = "the slices data[indices[i...]] (the last indices dim indexes data's leading dims after batch_dims)"});
}

}  // namespace kiln
