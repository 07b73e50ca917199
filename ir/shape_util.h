// Shape helpers shared by shape inference and kernels (one helper, used by both).
#pragma once

#include "ir/dtype.h"
#include "ir/status.h"

namespace kiln {

/// numpy broadcasting of two shapes.
StatusOr<Dims> BroadcastDims(const Dims& a, const Dims& b);
/// Normalizes a possibly negative axis against `rank`; error when out of range.
StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank);

}  // namespace kiln
