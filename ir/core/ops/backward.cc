// Backward ops (docs/training_ops.md): shape inference. Every op re-derives the
// forward op's geometry from its attributes (and the forward input shape it is
// given) and checks that dY has the forward output's shape.
#include <algorithm>
#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/ops/unary_table.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckRank;
using ops::CheckSameDType;
using ops::TypeClass;

Dims SpatialDims(const Dims& dims) { return Dims(dims.begin() + 2, dims.end()); }

// Input i must have exactly the dims `want` (the forward op's `what`).
Status CheckDims(const InferContext& ctx, int i, const Dims& want, const char* name, const char* what) {
  if (ctx.input_dims(i) != want) {
    return ctx.Error(name, " shape ", DimsToString(ctx.input_dims(i)), " does not match ", what, " ",
                     DimsToString(want));
  }
  return Status::Ok();
}

// A required shape attribute (input_shape, weight_shape, ...): non-negative dims.
StatusOr<Dims> ShapeAttr(const InferContext& ctx, const char* name) {
  if (!ctx.attrs().Has(name)) return ctx.Error("attribute '", name, "' is required");
  Dims dims = ctx.attrs().GetInts(name);
  for (int64_t d : dims) {
    if (d < 0) return ctx.Error(name, " ", DimsToString(dims), " has a negative dim");
  }
  return dims;
}

// Both float inputs 0 and 1 of one dtype.
Status CheckFloatPair(const InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  return CheckSameDType(ctx, 1, 0);
}

// relu and abs (ops that take integers too, outside the table), then unary.def's functions.
std::vector<std::string> EltwiseGradFunctions() {
  std::vector<std::string> out = {"relu", "abs"};
  for (const UnaryOpRow& row : UnaryOpTable()) out.push_back(row.function);
  return out;
}

// EltwiseGrad carries the forward op's float attributes (alpha, gamma, ...).
std::vector<AttrSpec> EltwiseGradAttrs() {
  std::vector<AttrSpec> out = {{"function", AttrType::kString, true}};
  for (const UnaryOpRow& row : UnaryOpTable()) {
    for (int i = 0; i < row.num_attrs; ++i) {
      bool seen = false;
      for (const AttrSpec& s : out) seen |= s.name == row.attr_names[i];
      if (!seen) out.push_back({row.attr_names[i], AttrType::kFloat});
    }
  }
  return out;
}

// dY, T (X or Y of the forward op) -> dX, all one shape.
Status InferEltwiseGrad(InferContext& ctx) {
  const std::string f = ctx.attrs().GetString("function", "");
  const std::vector<std::string> functions = EltwiseGradFunctions();
  if (std::find(functions.begin(), functions.end(), f) == functions.end()) {
    std::string list;
    for (const std::string& name : functions) list += (list.empty() ? "" : ", ") + name;
    return ctx.Error("function '", f, "' is not one of ", list);
  }
  RETURN_IF_ERROR(CheckFloatPair(ctx));
  RETURN_IF_ERROR(CheckDims(ctx, 1, ctx.input_dims(0), "T", "dY"));
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// dY, Y -> dX along one axis.
Status InferSoftmaxGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckFloatPair(ctx));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 1, ops::kVariadic, "dY"));
  RETURN_IF_ERROR(CheckDims(ctx, 1, ctx.input_dims(0), "Y", "dY"));
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", -1), ctx.input_rank(0)));
  (void)axis;
  const int64_t log = ctx.attrs().GetInt("log", 0);
  if (log != 0 && log != 1) return ctx.Error("log must be 0 or 1, got ", log);
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

// The forward Conv of X [N, C, D...] with W [M, C/group, k...]: checks the
// channels and returns the output dims [N, M, O...] that dY must have.
StatusOr<Dims> ConvForwardOutput(const InferContext& ctx, const Dims& x, const Dims& w) {
  if (x.size() < 3 || x.size() > 5) return ctx.Error("input shape ", DimsToString(x), " must have rank 3 to 5");
  if (w.size() != x.size()) {
    return ctx.Error("weight ", DimsToString(w), " must have the input's rank ", x.size(), " (input ", DimsToString(x),
                     ")");
  }
  const int64_t group = ctx.attrs().GetInt("group", 1);
  if (group < 1) return ctx.Error("group must be >= 1, got ", group);
  if (x[1] != w[1] * group) {
    return ctx.Error("input channels ", x[1], " do not match weight channels ", w[1], " x group ", group);
  }
  if (w[0] % group != 0) return ctx.Error("output channels ", w[0], " are not divisible by group ", group);
  if (ctx.attrs().Has("kernel_shape") && ctx.attrs().GetInts("kernel_shape") != SpatialDims(w)) {
    return ctx.Error("kernel_shape ", DimsToString(ctx.attrs().GetInts("kernel_shape")),
                     " does not match the weight's spatial dims ", DimsToString(SpatialDims(w)));
  }
  ASSIGN_OR_RETURN_CTX(ctx, WindowGeometry g, ComputeWindowGeometry(SpatialDims(x), SpatialDims(w), ctx.attrs()));
  Dims out = {x[0], w[0]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return out;
}

// dY, W -> dX of input_shape.
Status InferConvGradInput(InferContext& ctx) {
  RETURN_IF_ERROR(CheckFloatPair(ctx));
  ASSIGN_OR_RETURN(Dims x, ShapeAttr(ctx, "input_shape"));
  ASSIGN_OR_RETURN(Dims y, ConvForwardOutput(ctx, x, ctx.input_dims(1)));
  RETURN_IF_ERROR(CheckDims(ctx, 0, y, "dY", "the Conv output"));
  ctx.set_output(0, ctx.input_dtype(0), x);
  return Status::Ok();
}

// dY, X -> dW of weight_shape [, dB [M]].
Status InferConvGradWeight(InferContext& ctx) {
  RETURN_IF_ERROR(CheckFloatPair(ctx));
  ASSIGN_OR_RETURN(Dims w, ShapeAttr(ctx, "weight_shape"));
  ASSIGN_OR_RETURN(Dims y, ConvForwardOutput(ctx, ctx.input_dims(1), w));
  RETURN_IF_ERROR(CheckDims(ctx, 0, y, "dY", "the Conv output"));
  ctx.set_output(0, ctx.input_dtype(0), w);
  if (ctx.num_outputs() > 1) ctx.set_output(1, ctx.input_dtype(0), {w[0]});
  return Status::Ok();
}

// The forward pooling output [N, C, O...] of an input [N, C, D...].
StatusOr<Dims> PoolForwardOutput(const InferContext& ctx, const Dims& x) {
  if (x.size() < 3) return ctx.Error("input shape ", DimsToString(x), " must have rank >= 3");
  const int64_t ceil_mode = ctx.attrs().GetInt("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1) return ctx.Error("ceil_mode must be 0 or 1, got ", ceil_mode);
  ASSIGN_OR_RETURN_CTX(ctx, WindowGeometry g,
                       ComputePoolGeometry(SpatialDims(x), ctx.attrs().GetInts("kernel_shape"), ctx.attrs()));
  Dims out = {x[0], x[1]};
  out.insert(out.end(), g.output.begin(), g.output.end());
  return out;
}

// dY, X -> dX.
Status InferMaxPoolGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckFloatPair(ctx));
  ASSIGN_OR_RETURN(Dims y, PoolForwardOutput(ctx, ctx.input_dims(1)));
  RETURN_IF_ERROR(CheckDims(ctx, 0, y, "dY", "the MaxPool output"));
  ctx.set_output(0, ctx.input_type(1));
  return Status::Ok();
}

// dY -> dX of input_shape.
Status InferAveragePoolGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  const int64_t count_pad = ctx.attrs().GetInt("count_include_pad", 0);
  if (count_pad != 0 && count_pad != 1) return ctx.Error("count_include_pad must be 0 or 1, got ", count_pad);
  ASSIGN_OR_RETURN(Dims x, ShapeAttr(ctx, "input_shape"));
  ASSIGN_OR_RETURN(Dims y, PoolForwardOutput(ctx, x));
  RETURN_IF_ERROR(CheckDims(ctx, 0, y, "dY", "the AveragePool output"));
  ctx.set_output(0, ctx.input_dtype(0), x);
  return Status::Ok();
}

// Inputs first..last (named) must be [C] vectors of X's (input `x`) dtype.
Status CheckChannelVectors(const InferContext& ctx, int x, int first, int last, const char* const* names) {
  const int64_t channels = ctx.input_dims(x)[1];
  for (int i = first; i <= last; ++i) {
    if (ctx.input_dtype(i) != ctx.input_dtype(x)) {
      return ctx.Error(names[i], " has type ", DTypeName(ctx.input_dtype(i)), " but X has ",
                       DTypeName(ctx.input_dtype(x)));
    }
    if (ctx.input_dims(i) != Dims{channels}) {
      return ctx.Error(names[i], " shape ", DimsToString(ctx.input_dims(i)), " does not match ", channels,
                       " channels of X ", DimsToString(ctx.input_dims(x)));
    }
  }
  return Status::Ok();
}

// X, scale, B, running_mean, running_var -> Y, new_running_mean, new_running_var, saved_mean, saved_var.
Status InferBatchNormTraining(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 2, ops::kVariadic, "X"));
  static const char* const kNames[] = {"X", "scale", "B", "running_mean", "running_var"};
  RETURN_IF_ERROR(CheckChannelVectors(ctx, 0, 1, 4, kNames));
  ctx.set_output(0, ctx.input_type(0));
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, ctx.input_type(1));
  return Status::Ok();
}

// dY, X, scale, saved_mean, saved_var -> dX, dScale, dB.
Status InferBatchNormGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckFloatPair(ctx));
  RETURN_IF_ERROR(CheckRank(ctx, 1, 2, ops::kVariadic, "X"));
  RETURN_IF_ERROR(CheckDims(ctx, 0, ctx.input_dims(1), "dY", "X"));
  static const char* const kNames[] = {"dY", "X", "scale", "saved_mean", "saved_var"};
  RETURN_IF_ERROR(CheckChannelVectors(ctx, 1, 2, 4, kNames));
  ctx.set_output(0, ctx.input_type(1));
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, ctx.input_type(2));
  return Status::Ok();
}

// X, step -> Y, mask (both X's type).
Status InferDropoutTraining(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  if (ctx.input_dtype(1) != proto::DT_INT64 || ctx.input_rank(1) != 0) {
    return ctx.Error("step must be an int64 scalar (shape []), got ", ctx.input_type(1).ToString());
  }
  const float ratio = ctx.attrs().GetFloat("ratio", 0.5f);
  if (!(ratio >= 0.0f && ratio < 1.0f)) return ctx.Error("ratio must be in [0, 1), got ", ratio);
  ctx.set_output(0, ctx.input_type(0));
  if (ctx.num_outputs() > 1) ctx.set_output(1, ctx.input_type(0));
  return Status::Ok();
}

// dY, indices -> dData of data_shape.
Status InferGatherGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  const DType index_type = ctx.input_dtype(1);
  if (index_type != proto::DT_INT32 && index_type != proto::DT_INT64) {
    return ctx.Error("indices have type ", DTypeName(index_type), " but must be int32 or int64");
  }
  ASSIGN_OR_RETURN(Dims data, ShapeAttr(ctx, "data_shape"));
  if (data.empty()) return ctx.Error("data_shape must have rank >= 1");
  ASSIGN_OR_RETURN_CTX(ctx, int64_t axis, NormalizeAxis(ctx.attrs().GetInt("axis", 0), data.size()));
  if (const Tensor* values = ctx.input_value(1)) {
    for (int64_t i = 0; i < values->num_elements(); ++i) {
      const int64_t v = values->GetAsInt64(i);
      if (v < -data[axis] || v >= data[axis]) {
        return ctx.Error("index ", v, " is out of range for axis ", axis, " of size ", data[axis]);
      }
    }
  }
  Dims y(data.begin(), data.begin() + axis);
  y.insert(y.end(), ctx.input_dims(1).begin(), ctx.input_dims(1).end());
  y.insert(y.end(), data.begin() + axis + 1, data.end());
  RETURN_IF_ERROR(CheckDims(ctx, 0, y, "dY", "the Gather output"));
  ctx.set_output(0, ctx.input_dtype(0), data);
  return Status::Ok();
}

// dY, starts, ends [, axes, steps] (constants, as Slice) -> dX of input_shape.
Status InferSliceGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  ASSIGN_OR_RETURN(Dims x, ShapeAttr(ctx, "input_shape"));
  ASSIGN_OR_RETURN(std::vector<int64_t> starts, ops::ConstantInts(ctx, 1, "starts"));
  ASSIGN_OR_RETURN(std::vector<int64_t> ends, ops::ConstantInts(ctx, 2, "ends"));
  std::vector<int64_t> axes, steps;
  if (ctx.has_input(3)) {
    ASSIGN_OR_RETURN(axes, ops::ConstantInts(ctx, 3, "axes"));
  }
  if (ctx.has_input(4)) {
    ASSIGN_OR_RETURN(steps, ops::ConstantInts(ctx, 4, "steps"));
  }
  ASSIGN_OR_RETURN_CTX(ctx, SliceRange range, ResolveSlice(x, starts, ends, axes, steps));
  RETURN_IF_ERROR(CheckDims(ctx, 0, range.output, "dY", "the Slice output"));
  ctx.set_output(0, ctx.input_dtype(0), x);
  return Status::Ok();
}

// dY, X -> dX.
Status InferReduceMaxGrad(InferContext& ctx) {
  RETURN_IF_ERROR(CheckFloatPair(ctx));
  const int64_t keepdims = ctx.attrs().GetInt("keepdims", 1);
  if (keepdims != 0 && keepdims != 1) return ctx.Error("keepdims must be 0 or 1, got ", keepdims);
  ASSIGN_OR_RETURN_CTX(ctx, std::vector<int64_t> axes, NormalizeAxes(ctx.attrs().GetInts("axes"), ctx.input_rank(1)));
  RETURN_IF_ERROR(CheckDims(ctx, 0, ReducedDims(ctx.input_dims(1), axes, keepdims != 0), "dY", "the ReduceMax output"));
  ctx.set_output(0, ctx.input_type(1));
  return Status::Ok();
}

std::vector<AttrSpec> ConvAttrs(const char* shape_attr) {
  return {{"dilations", AttrType::kInts}, {"group", AttrType::kInt},    {"kernel_shape", AttrType::kInts},
          {"pads", AttrType::kInts},      {"strides", AttrType::kInts}, {shape_attr, AttrType::kInts, true}};
}

}  // namespace

void RegisterGradientOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kEltwiseGrad,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = EltwiseGradAttrs(),
         .infer_shape = InferEltwiseGrad,
         .doc = "dX = dY * f'(T) of a unary activation; T is X or Y depending on `function`"});
  r.Add({.kind = OpKind::kSoftmaxGrad,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axis", AttrType::kInt}, {"log", AttrType::kInt}},
         .infer_shape = InferSoftmaxGrad,
         .doc = "gradient of Softmax (or LogSoftmax with log=1) from dY and the forward output Y"});
  r.Add({.kind = OpKind::kConvGradInput,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = ConvAttrs("input_shape"),
         .infer_shape = InferConvGradInput,
         .doc = "gradient of Conv w.r.t. X from dY and W; dX has input_shape"});
  r.Add({.kind = OpKind::kConvGradWeight,
         .min_inputs = 2,
         .max_inputs = 2,
         .max_outputs = 2,
         .attrs = ConvAttrs("weight_shape"),
         .infer_shape = InferConvGradWeight,
         .doc = "gradient of Conv w.r.t. W (weight_shape) from dY and X; optional bias gradient [M]"});
  r.Add({.kind = OpKind::kMaxPoolGrad,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"ceil_mode", AttrType::kInt},
                   {"dilations", AttrType::kInts},
                   {"kernel_shape", AttrType::kInts, true},
                   {"pads", AttrType::kInts},
                   {"strides", AttrType::kInts}},
         .infer_shape = InferMaxPoolGrad,
         .doc = "gradient of MaxPool: each window's dY goes to its first maximal X element"});
  r.Add({.kind = OpKind::kAveragePoolGrad,
         .attrs = {{"ceil_mode", AttrType::kInt},
                   {"count_include_pad", AttrType::kInt},
                   {"dilations", AttrType::kInts},
                   {"input_shape", AttrType::kInts, true},
                   {"kernel_shape", AttrType::kInts, true},
                   {"pads", AttrType::kInts},
                   {"strides", AttrType::kInts}},
         .infer_shape = InferAveragePoolGrad,
         .doc = "gradient of AveragePool (adjoint, same divisor rule); dX has input_shape"});
  r.Add({.kind = OpKind::kBatchNormTraining,
         .min_inputs = 5,
         .max_inputs = 5,
         .max_outputs = 5,
         .attrs = {{"epsilon", AttrType::kFloat}, {"momentum", AttrType::kFloat}, {"relu", AttrType::kInt}},
         .infer_shape = InferBatchNormTraining,
         .doc = "batch norm with batch statistics: Y, updated running mean/var, saved mean/biased var; "
                "relu=1: Y = max(0, Y) (fuse-postops)"});
  r.Add({.kind = OpKind::kBatchNormGrad,
         .min_inputs = 5,
         .max_inputs = 5,
         .max_outputs = 3,
         .attrs = {{"epsilon", AttrType::kFloat}},
         .infer_shape = InferBatchNormGrad,
         .doc = "gradient of BatchNormTraining's Y w.r.t. X, scale and B"});
  r.Add({.kind = OpKind::kDropoutTraining,
         .min_inputs = 2,
         .max_inputs = 2,
         .max_outputs = 2,
         .attrs = {{"ratio", AttrType::kFloat}, {"seed", AttrType::kInt}},
         .infer_shape = InferDropoutTraining,
         .doc = "Y = X * mask, mask 0 or 1/(1-ratio) hashed from (seed, step, index)"});
  r.Add({.kind = OpKind::kGatherGrad,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axis", AttrType::kInt}, {"data_shape", AttrType::kInts, true}},
         .infer_shape = InferGatherGrad,
         .doc = "scatter-add of dY into zeros of data_shape at Gather's indices"});
  r.Add({.kind = OpKind::kSliceGrad,
         .min_inputs = 3,
         .max_inputs = 5,
         .attrs = {{"input_shape", AttrType::kInts, true}},
         .infer_shape = InferSliceGrad,
         .doc = "zeros of input_shape with dY written where Slice reads"});
  r.Add({.kind = OpKind::kReduceMaxGrad,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"axes", AttrType::kInts}, {"keepdims", AttrType::kInt}},
         .infer_shape = InferReduceMaxGrad,
         .doc = "gradient of ReduceMax: each group's dY goes to its first maximal element"});
}

}  // namespace kiln
