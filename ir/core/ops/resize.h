// Resize's geometry (ONNX Resize 19: scales or sizes, axes, keep_aspect_ratio_policy),
// shared by shape inference (ir/core/ops/resize.cc) and the reference kernel
// (runtime/kernels/reference/resize.cc) so that both compute the same output size.
#pragma once

#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln::resize {

struct Geometry {
  Dims output;                 // output dims
  std::vector<double> scales;  // per dim: output / input as the coordinate transforms use it
  std::vector<double> roi;     // per dim: [start..., end...] (tf_crop_and_resize), 2 * rank values
};

/// `scales` (float) or `sizes` (int), exactly one non-empty, each with one value
/// per dim of x (or per entry of the `axes` attribute); `roi` may be empty.
/// Errors name the problem without a node label (callers add it).
StatusOr<Geometry> ResolveGeometry(const Dims& x, const std::vector<double>& roi, const std::vector<double>& scales,
                                   const std::vector<int64_t>& sizes, const Attrs& attrs);

}  // namespace kiln::resize
