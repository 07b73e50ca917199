// Resize with ONNX Resize 19's semantics (opsets 11-19 map onto it): nearest, linear
// and cubic interpolation over any dims, every coordinate_transformation_mode,
// antialias, exclude_outside, axes and keep_aspect_ratio_policy. The reference
// kernel is runtime/kernels/reference/resize.cc.
#include "ir/core/ops/resize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace resize {
namespace {

Status CheckOneOf(const Attrs& attrs, const char* name, const char* fallback, std::initializer_list<const char*> ok) {
  const std::string v = attrs.GetString(name, fallback);
  std::string list;
  for (const char* o : ok) {
    if (v == o) return Status::Ok();
    list += std::string(list.empty() ? "" : ", ") + o;
  }
  return InvalidArgument(name, " must be one of ", list, ", got \"", v, "\"");
}

Status CheckAttrs(const Attrs& attrs) {
  RETURN_IF_ERROR(CheckOneOf(attrs, "mode", "nearest", {"nearest", "linear", "cubic"}));
  RETURN_IF_ERROR(CheckOneOf(attrs, "coordinate_transformation_mode", "half_pixel",
                             {"half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
                              "tf_crop_and_resize"}));
  RETURN_IF_ERROR(CheckOneOf(attrs, "nearest_mode", "round_prefer_floor",
                             {"round_prefer_floor", "round_prefer_ceil", "floor", "ceil"}));
  RETURN_IF_ERROR(CheckOneOf(attrs, "keep_aspect_ratio_policy", "stretch", {"stretch", "not_larger", "not_smaller"}));
  for (const char* flag : {"antialias", "exclude_outside"}) {
    const int64_t v = attrs.GetInt(flag, 0);
    if (v != 0 && v != 1) return InvalidArgument(flag, " must be 0 or 1, got ", v);
  }
  if (attrs.GetInt("antialias", 0) == 1 && attrs.GetString("mode", "nearest") == "nearest") {
    return InvalidArgument("antialias needs mode linear or cubic");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<Geometry> ResolveGeometry(const Dims& x, const std::vector<double>& roi, const std::vector<double>& scales,
                                   const std::vector<int64_t>& sizes, const Attrs& attrs) {
  RETURN_IF_ERROR(CheckAttrs(attrs));
  const int64_t rank = static_cast<int64_t>(x.size());
  std::vector<int64_t> axes = attrs.GetInts("axes");
  if (axes.empty()) {
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  std::vector<bool> seen(rank, false);
  for (int64_t& a : axes) {
    ASSIGN_OR_RETURN(a, NormalizeAxis(a, rank));
    if (seen[a]) return InvalidArgument("axis ", a, " is repeated in axes");
    seen[a] = true;
  }
  const size_t n = axes.size();
  if (scales.empty() == sizes.empty()) return InvalidArgument("needs exactly one of 'scales' and 'sizes'");
  if (!scales.empty() && scales.size() != n) {
    return InvalidArgument("scales has ", scales.size(), " values but needs ", n, " (one per resized axis)");
  }
  if (!sizes.empty() && sizes.size() != n) {
    return InvalidArgument("sizes has ", sizes.size(), " values but needs ", n, " (one per resized axis)");
  }
  if (!roi.empty() && roi.size() != 2 * n) return InvalidArgument("roi has ", roi.size(), " values but needs ", 2 * n);
  Geometry g;
  g.output = x;
  g.scales.assign(rank, 1.0);
  g.roi.assign(2 * rank, 0.0);
  for (int64_t d = 0; d < rank; ++d) g.roi[rank + d] = 1.0;
  for (size_t i = 0; i < n; ++i) {
    if (!roi.empty()) {
      g.roi[axes[i]] = roi[i];
      g.roi[rank + axes[i]] = roi[n + i];
    }
  }
  constexpr double kMaxDim = static_cast<double>(int64_t{1} << 40);
  if (!scales.empty()) {
    for (size_t i = 0; i < n; ++i) {
      const double s = scales[i];
      if (!(s > 0) || !(s * static_cast<double>(x[axes[i]]) < kMaxDim)) {
        return InvalidArgument("scale ", s, " of axis ", axes[i], " must be > 0 and give a size below 2^40");
      }
      g.scales[axes[i]] = s;
      g.output[axes[i]] = static_cast<int64_t>(s * static_cast<double>(x[axes[i]]));
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      if (sizes[i] < 0 || sizes[i] > (int64_t{1} << 40)) return InvalidArgument("size ", sizes[i], " is out of range");
      if (x[axes[i]] == 0) return InvalidArgument("axis ", axes[i], " of size 0 cannot be resized to sizes");
      g.scales[axes[i]] = static_cast<double>(sizes[i]) / static_cast<double>(x[axes[i]]);
      g.output[axes[i]] = sizes[i];
    }
    const std::string policy = attrs.GetString("keep_aspect_ratio_policy", "stretch");
    if (policy != "stretch") {
      double scale = policy == "not_larger" ? INFINITY : 0;
      for (int64_t a : axes)
        scale = policy == "not_larger" ? std::min(scale, g.scales[a]) : std::max(scale, g.scales[a]);
      for (int64_t a : axes) {
        g.scales[a] = scale;
        g.output[a] = static_cast<int64_t>(scale * static_cast<double>(x[a]) + 0.5);  // round half up
      }
    }
  }
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(g.output));
  (void)count;
  return g;
}

}  // namespace resize

namespace {

// The values of a float input (scales, roi) known at compile time; empty when omitted or empty.
StatusOr<std::vector<double>> ConstantFloats(const InferContext& ctx, int i, const char* name) {
  if (!ctx.has_input(i)) return std::vector<double>{};
  if (!IsFloatingType(ctx.input_dtype(i))) {
    return ctx.Error("'", name, "' has type ", DTypeName(ctx.input_dtype(i)), " but must be a float type");
  }
  if (ElementCount(ctx.input_dims(i)) == 0) return std::vector<double>{};
  const Tensor* t = ctx.input_value(i);
  if (!t) return ctx.Error("needs a constant '", name, "' input (input ", i, " is not known at compile time)");
  std::vector<double> out;
  for (int64_t k = 0; k < t->num_elements(); ++k) out.push_back(t->GetAsDouble(k));
  return out;
}

// Resize(X, roi?, scales?, sizes?).
Status InferResize(InferContext& ctx) {
  RETURN_IF_ERROR(ops::CheckDType(ctx, 0, ops::TypeClass::kNumeric, "X"));
  ASSIGN_OR_RETURN(std::vector<double> roi, ConstantFloats(ctx, 1, "roi"));
  ASSIGN_OR_RETURN(std::vector<double> scales, ConstantFloats(ctx, 2, "scales"));
  std::vector<int64_t> sizes;
  if (ctx.has_input(3) && ElementCount(ctx.input_dims(3)) > 0) {
    ASSIGN_OR_RETURN(sizes, ops::ConstantInts(ctx, 3, "sizes"));
  }
  auto g = resize::ResolveGeometry(ctx.input_dims(0), roi, scales, sizes, ctx.attrs());
  if (!g.ok()) return ctx.Error(g.status().message());
  ctx.set_output(0, ctx.input_dtype(0), g->output);
  return Status::Ok();
}

}  // namespace

void RegisterResizeOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kResize,
         .max_inputs = 4,
         .attrs = {{"mode", AttrType::kString},
                   {"coordinate_transformation_mode", AttrType::kString},
                   {"nearest_mode", AttrType::kString},
                   {"cubic_coeff_a", AttrType::kFloat},
                   {"exclude_outside", AttrType::kInt},
                   {"extrapolation_value", AttrType::kFloat},
                   {"antialias", AttrType::kInt},
                   {"axes", AttrType::kInts},
                   {"keep_aspect_ratio_policy", AttrType::kString}},
         .infer_shape = InferResize,
         .doc = "(X, roi?, scales?, sizes?) -> X resized by constant scales or to constant sizes: nearest, linear "
                "or cubic (mode), ONNX's coordinate transformation modes, antialias"});
}

}  // namespace kiln
