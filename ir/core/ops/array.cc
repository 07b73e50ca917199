// Array ops along one axis or over blocks, with ONNX semantics: CumSum, CumProd,
// Hardmax, TopK, OneHot, DepthToSpace, SpaceToDepth. Reference kernels in
// runtime/kernels/reference/array.cc.
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
    return ctx.Error("K = ", k[0], " is out of range [0, ", dims[axis], "] for axis ", axis, " of ", DimsToString(dims));
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
}

}  // namespace kiln
