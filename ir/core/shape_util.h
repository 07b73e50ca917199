// Shape helpers shared by shape inference and kernels (one helper, used by both).
// Every function here implements ONNX opset-13 semantics; errors carry the
// numbers but not the node (callers prefix the node label).
#pragma once

#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/dtype.h"
#include "ir/core/status.h"

namespace kiln {

/// numpy broadcasting of two shapes.
StatusOr<Dims> BroadcastDims(const Dims& a, const Dims& b);
/// Unidirectional broadcasting: `from` must broadcast to exactly `to` (Gemm's C, PRelu's slope).
Status CheckBroadcastsTo(const Dims& from, const Dims& to);
/// Normalizes a possibly negative axis against `rank`; error when out of range.
StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank);
/// Normalizes a list of axes against `rank`, sorted ascending; error when one is
/// out of range or repeated.
StatusOr<std::vector<int64_t>> NormalizeAxes(const std::vector<int64_t>& axes, int64_t rank);

/// numpy matmul: 1-D operands are promoted (and the extra dim dropped from the
/// result), batch dims broadcast.
StatusOr<Dims> MatMulOutputDims(const Dims& a, const Dims& b);

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };
StatusOr<AutoPad> ParseAutoPad(const std::string& s);

/// The geometry of a sliding window over the spatial dims of Conv, ConvTranspose
/// and the pooling ops, after auto_pad is resolved into explicit pads.
struct WindowGeometry {
  Dims kernel;          // n spatial kernel sizes
  Dims strides;         // n
  Dims dilations;       // n
  Dims pads;            // 2n: the n begin pads, then the n end pads
  Dims output_padding;  // n (ConvTranspose only; zeros otherwise)
  Dims output;          // n output spatial sizes
};

/// Conv and pooling: reads auto_pad, pads, strides, dilations and ceil_mode
/// (absent attributes take their defaults) and computes the output size
///   out = floor_or_ceil((in + pad_begin + pad_end - ((k - 1) * d + 1)) / s) + 1
/// (ceil with ceil_mode=1, less the last window when it would start in the end
/// padding), or ceil(in / s) for SAME_UPPER / SAME_LOWER, whose
/// total padding goes to the end (UPPER) or the beginning (LOWER) when odd.
StatusOr<WindowGeometry> ComputeWindowGeometry(const Dims& input_spatial, const Dims& kernel, const Attrs& attrs);
/// MaxPool / AveragePool (and their gradients): ComputeWindowGeometry, and, as
/// ONNX requires, every pad smaller than the kernel (else windows of padding only
/// give -FLT_MAX or 0/0).
StatusOr<WindowGeometry> ComputePoolGeometry(const Dims& input_spatial, const Dims& kernel, const Attrs& attrs);

/// ConvTranspose: also reads output_padding and output_shape.
///   out = s * (in - 1) + output_padding + ((k - 1) * d + 1) - pad_begin - pad_end
/// With output_shape (or SAME_*: out = in * s) the pads are derived from the
/// requested size, split like Conv's SAME_UPPER unless auto_pad is SAME_LOWER.
StatusOr<WindowGeometry> ComputeConvTransposeGeometry(const Dims& input_spatial, const Dims& kernel,
                                                      const Attrs& attrs);

/// Reshape's target: 0 copies the input dim (unless allow_zero), one -1 is inferred.
StatusOr<Dims> ResolveReshape(const Dims& input, const std::vector<int64_t>& shape, bool allow_zero);

/// Reshape-like ops: the output holds the input's elements in the same order (its bytes,
/// unchanged), so a host plan may give it the input's buffer (compiler/memory_planner.h).
bool IsViewOp(const std::string& op);

/// A Slice resolved against the input: per input axis, the first index, the
/// step and the output size (axes not sliced: start 0, step 1, full size).
struct SliceRange {
  Dims starts;
  Dims steps;
  Dims output;
};
/// ONNX Slice: negative starts/ends count from the end, then are clamped to
/// [0, dim] (or [-1, dim - 1] for negative steps); steps must be nonzero.
/// `axes` and `steps` may be empty (all leading axes / all ones).
StatusOr<SliceRange> ResolveSlice(const Dims& input, const std::vector<int64_t>& starts,
                                  const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                  const std::vector<int64_t>& steps);

/// Split sizes along a dim of size `dim`: `split` when given (must sum to dim),
/// else `num_outputs` equal parts (dim must divide evenly), or with `last_smaller`
/// (Split 18's num_outputs) parts of ceil(dim / num_outputs), the last one smaller.
StatusOr<std::vector<int64_t>> ResolveSplit(int64_t dim, const std::vector<int64_t>& split, int num_outputs,
                                            bool last_smaller = false);

/// Pad 18's optional axes: `pads` [begins, ends] over `axes` spread to all `rank`
/// axes (others 0). Without axes, `pads` is returned as is.
StatusOr<std::vector<int64_t>> ExpandPadAxes(const std::vector<int64_t>& pads, const std::vector<int64_t>& axes,
                                             int64_t rank);

/// Transpose permutation: empty means reverse; otherwise must be a permutation of 0..rank-1.
StatusOr<std::vector<int64_t>> ResolvePerm(const std::vector<int64_t>& perm, int64_t rank);

/// Output dims of a reduction over `axes` (already normalized; empty = all axes).
Dims ReducedDims(const Dims& input, const std::vector<int64_t>& axes, bool keepdims);

}  // namespace kiln
