#include "ir/core/shape_util.h"

#include <algorithm>
#include <limits>

namespace kiln {

StatusOr<Dims> BroadcastDims(const Dims& a, const Dims& b) {
  const size_t rank = std::max(a.size(), b.size());
  Dims out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      return InvalidArgument("shapes ", DimsToString(a), " and ", DimsToString(b), " cannot be broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

Status CheckBroadcastsTo(const Dims& from, const Dims& to) {
  bool ok = from.size() <= to.size();
  for (size_t i = 0; ok && i < from.size(); ++i) {
    const int64_t d = from[from.size() - 1 - i];
    ok = d == 1 || d == to[to.size() - 1 - i];
  }
  if (!ok) return InvalidArgument("shape ", DimsToString(from), " cannot be broadcast to ", DimsToString(to));
  return Status::Ok();
}

StatusOr<int64_t> NormalizeAxis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= std::max<int64_t>(rank, 1)) {
    return InvalidArgument("axis ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

StatusOr<std::vector<int64_t>> NormalizeAxes(const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<int64_t> out;
  for (int64_t axis : axes) {
    if (axis < -rank || axis >= rank) return InvalidArgument("axis ", axis, " is out of range for rank ", rank);
    out.push_back(axis < 0 ? axis + rank : axis);
  }
  std::sort(out.begin(), out.end());
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i] == out[i - 1]) return InvalidArgument("axis ", out[i], " is repeated");
  }
  return out;
}

StatusOr<Dims> MatMulOutputDims(const Dims& a, const Dims& b) {
  if (a.empty() || b.empty())
    return InvalidArgument("MatMul operands must have rank >= 1, got ", DimsToString(a), " and ", DimsToString(b));
  Dims a2 = a.size() == 1 ? Dims{1, a[0]} : a;
  Dims b2 = b.size() == 1 ? Dims{b[0], 1} : b;
  const int64_t m = a2[a2.size() - 2], k = a2.back(), kb = b2[b2.size() - 2], n = b2.back();
  if (k != kb) {
    return InvalidArgument("inner dimensions do not match: ", DimsToString(a), " x ", DimsToString(b), " (", k, " vs ",
                           kb, ")");
  }
  ASSIGN_OR_RETURN(Dims batch, BroadcastDims(Dims(a2.begin(), a2.end() - 2), Dims(b2.begin(), b2.end() - 2)));
  Dims out = batch;
  if (a.size() != 1) out.push_back(m);
  if (b.size() != 1) out.push_back(n);
  return out;
}

StatusOr<AutoPad> ParseAutoPad(const std::string& s) {
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  return InvalidArgument("auto_pad '", s, "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
}

namespace {

// Bound on strides, dilations, pads and output_padding: far above any real model, and
// low enough that the window arithmetic below cannot overflow int64 (dims are < 2^34).
constexpr int64_t kMaxWindowAttr = int64_t{1} << 24;

// Reads a per-spatial-dim attribute (default `fallback` each) and checks its length and range.
StatusOr<Dims> SpatialAttr(const Attrs& attrs, const char* name, size_t count, int64_t fallback, int64_t min) {
  Dims v = attrs.GetInts(name, Dims(count, fallback));
  if (v.size() != count) {
    return InvalidArgument(name, " has ", v.size(), " values, expected ", count, " (", DimsToString(v), ")");
  }
  for (int64_t x : v) {
    if (x < min) return InvalidArgument(name, " ", DimsToString(v), " must be >= ", min);
    if (x > kMaxWindowAttr) return InvalidArgument(name, " ", DimsToString(v), " must be <= ", kMaxWindowAttr);
  }
  return v;
}

StatusOr<WindowGeometry> ReadWindowAttrs(const Dims& input_spatial, const Dims& kernel, const Attrs& attrs) {
  const size_t n = input_spatial.size();
  WindowGeometry g;
  if (kernel.size() != n) {
    return InvalidArgument("kernel_shape ", DimsToString(kernel), " has ", kernel.size(), " dims but the input has ", n,
                           " spatial dims");
  }
  for (int64_t k : kernel) {
    if (k <= 0 || k > kMaxTensorElements) {
      return InvalidArgument("kernel_shape ", DimsToString(kernel), " must be positive and at most 2^34");
    }
  }
  g.kernel = kernel;
  ASSIGN_OR_RETURN(g.strides, SpatialAttr(attrs, "strides", n, 1, 1));
  ASSIGN_OR_RETURN(g.dilations, SpatialAttr(attrs, "dilations", n, 1, 1));
  ASSIGN_OR_RETURN(g.pads, SpatialAttr(attrs, "pads", 2 * n, 0, 0));
  g.output_padding.assign(n, 0);
  return g;
}

int64_t CeilDiv(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

}  // namespace

StatusOr<WindowGeometry> ComputeWindowGeometry(const Dims& input_spatial, const Dims& kernel, const Attrs& attrs) {
  ASSIGN_OR_RETURN(WindowGeometry g, ReadWindowAttrs(input_spatial, kernel, attrs));
  ASSIGN_OR_RETURN(AutoPad auto_pad, ParseAutoPad(attrs.GetString("auto_pad", "NOTSET")));
  const int64_t ceil_mode = attrs.GetInt("ceil_mode", 0);
  if (ceil_mode != 0 && ceil_mode != 1) return InvalidArgument("ceil_mode must be 0 or 1, got ", ceil_mode);
  const size_t n = input_spatial.size();
  g.output.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = input_spatial[i], s = g.strides[i];
    const int64_t effective_kernel = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      g.output[i] = CeilDiv(in, s);
      const int64_t total = std::max<int64_t>(0, (g.output[i] - 1) * s + effective_kernel - in);
      const int64_t small = total / 2, large = total - small;
      g.pads[i] = auto_pad == AutoPad::kSameUpper ? small : large;
      g.pads[i + n] = auto_pad == AutoPad::kSameUpper ? large : small;
    } else {
      if (auto_pad == AutoPad::kValid) g.pads[i] = g.pads[i + n] = 0;
      const int64_t padded = in + g.pads[i] + g.pads[i + n];
      if (padded < effective_kernel) {
        return InvalidArgument("spatial dim ", i, ": the kernel (", g.kernel[i], ", dilated to ", effective_kernel,
                               ") is larger than the padded input (", in, " + pads ", g.pads[i], "+", g.pads[i + n],
                               " = ", padded, ")");
      }
      const int64_t span = padded - effective_kernel;
      g.output[i] = (ceil_mode ? CeilDiv(span, s) : span / s) + 1;
      // ceil_mode's extra window must start inside the input or its begin padding (ONNX, PyTorch):
      // one that starts in the end padding covers only padding (-FLT_MAX or 0/0).
      if (ceil_mode && (g.output[i] - 1) * s >= in + g.pads[i]) --g.output[i];
    }
    if (g.output[i] <= 0) return InvalidArgument("spatial dim ", i, ": output size ", g.output[i], " is not positive");
  }
  return g;
}

StatusOr<WindowGeometry> ComputePoolGeometry(const Dims& input_spatial, const Dims& kernel, const Attrs& attrs) {
  ASSIGN_OR_RETURN(WindowGeometry g, ComputeWindowGeometry(input_spatial, kernel, attrs));
  const size_t n = g.kernel.size();
  for (size_t i = 0; i < n; ++i) {
    if (g.pads[i] >= g.kernel[i] || g.pads[i + n] >= g.kernel[i]) {
      return InvalidArgument("pads ", DimsToString(g.pads), " must be smaller than kernel_shape ",
                             DimsToString(g.kernel), " (spatial dim ", i, ")");
    }
  }
  return g;
}

StatusOr<WindowGeometry> ComputeConvTransposeGeometry(const Dims& input_spatial, const Dims& kernel,
                                                      const Attrs& attrs) {
  ASSIGN_OR_RETURN(WindowGeometry g, ReadWindowAttrs(input_spatial, kernel, attrs));
  ASSIGN_OR_RETURN(AutoPad auto_pad, ParseAutoPad(attrs.GetString("auto_pad", "NOTSET")));
  const size_t n = input_spatial.size();
  ASSIGN_OR_RETURN(g.output_padding, SpatialAttr(attrs, "output_padding", n, 0, 0));
  Dims output_shape = attrs.GetInts("output_shape");
  // output_shape names the spatial dims; a full N x C x ... shape is accepted too.
  if (output_shape.size() == n + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
  if (!output_shape.empty() && output_shape.size() != n) {
    return InvalidArgument("output_shape ", DimsToString(attrs.GetInts("output_shape")), " does not have ", n,
                           " spatial dims");
  }
  for (int64_t d : output_shape) {
    if (d <= 0 || d > kMaxTensorElements) {
      return InvalidArgument("output_shape ", DimsToString(output_shape), " must be positive and at most 2^34");
    }
  }
  g.output.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t in = input_spatial[i], s = g.strides[i];
    if (g.output_padding[i] >= std::max(s, g.dilations[i])) {
      return InvalidArgument("output_padding ", DimsToString(g.output_padding),
                             " must be smaller than the stride or the dilation in spatial dim ", i);
    }
    const int64_t full = s * (in - 1) + g.output_padding[i] + (g.kernel[i] - 1) * g.dilations[i] + 1;
    const bool same = auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower;
    if (!output_shape.empty() || same) {
      const int64_t want = !output_shape.empty() ? output_shape[i] : in * s;
      if (full < want && !output_shape.empty()) {
        // Larger than the full result: zeros appended at the end (ONNX's reference and
        // onnxruntime), i.e. a negative end padding, which the kernels treat as output_padding.
        g.pads[i] = 0;
        g.pads[i + n] = full - want;
        g.output[i] = want;
        continue;
      }
      // SAME with a kernel smaller than the stride leaves the tail uncovered (no padding, as in onnxruntime).
      const int64_t total = std::max<int64_t>(0, full - want);
      const int64_t small = total / 2, large = total - small;
      // ONNX opset 11-13: the odd element of padding goes to the end only for SAME_UPPER.
      g.pads[i] = auto_pad == AutoPad::kSameUpper ? small : large;
      g.pads[i + n] = auto_pad == AutoPad::kSameUpper ? large : small;
      g.output[i] = want;
    } else {
      if (auto_pad == AutoPad::kValid) g.pads[i] = g.pads[i + n] = 0;
      g.output[i] = full - g.pads[i] - g.pads[i + n];
    }
    if (g.output[i] <= 0) {
      return InvalidArgument("spatial dim ", i, ": output size ", g.output[i], " is not positive (pads ",
                             DimsToString(g.pads), ")");
    }
  }
  return g;
}

StatusOr<Dims> ResolveReshape(const Dims& input, const std::vector<int64_t>& shape, bool allow_zero) {
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(input));
  Dims out(shape.size());
  int infer_at = -1;
  int64_t known = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d == -1) {
      if (infer_at >= 0) return InvalidArgument("shape ", DimsToString(shape), " has more than one -1");
      infer_at = static_cast<int>(i);
      continue;
    }
    if (d < -1) return InvalidArgument("shape ", DimsToString(shape), " has an invalid dim ", d);
    if (d == 0 && !allow_zero) {
      if (i >= input.size()) {
        return InvalidArgument("shape ", DimsToString(shape), " copies dim ", i, " (0) but the input ",
                               DimsToString(input), " has rank ", input.size());
      }
      d = input[i];
    }
    out[i] = d;
    if (d > 0 && known > kMaxTensorElements / d) return InvalidArgument("shape ", DimsToString(shape), " is too large");
    known *= d;
  }
  if (infer_at >= 0) {
    if (allow_zero && known == 0) {
      return InvalidArgument("shape ", DimsToString(shape), " has both 0 and -1 with allowzero=1");
    }
    if (known == 0 || count % known != 0) {
      return InvalidArgument("cannot reshape ", DimsToString(input), " (", count, " elements) to ",
                             DimsToString(shape));
    }
    out[infer_at] = count / known;
  } else if (known != count) {
    return InvalidArgument("cannot reshape ", DimsToString(input), " (", count, " elements) to ", DimsToString(out),
                           " (", known, " elements)");
  }
  return out;
}

StatusOr<SliceRange> ResolveSlice(const Dims& input, const std::vector<int64_t>& starts,
                                  const std::vector<int64_t>& ends, const std::vector<int64_t>& axes,
                                  const std::vector<int64_t>& steps) {
  const int64_t rank = static_cast<int64_t>(input.size());
  if (starts.size() != ends.size()) {
    return InvalidArgument("starts has ", starts.size(), " values but ends has ", ends.size());
  }
  if (!axes.empty() && axes.size() != starts.size()) {
    return InvalidArgument("axes has ", axes.size(), " values but starts has ", starts.size());
  }
  if (!steps.empty() && steps.size() != starts.size()) {
    return InvalidArgument("steps has ", steps.size(), " values but starts has ", starts.size());
  }
  if (axes.empty() && static_cast<int64_t>(starts.size()) > rank) {
    return InvalidArgument("starts has ", starts.size(), " values but the input has rank ", rank);
  }
  SliceRange r;
  r.starts.assign(rank, 0);
  r.steps.assign(rank, 1);
  r.output = input;
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < starts.size(); ++i) {
    int64_t axis = static_cast<int64_t>(i);
    if (!axes.empty()) {
      if (axes[i] < -rank || axes[i] >= rank) {
        return InvalidArgument("axis ", axes[i], " is out of range for rank ", rank);
      }
      axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    }
    if (seen[axis]) return InvalidArgument("axis ", axis, " is sliced twice");
    seen[axis] = true;
    const int64_t step = steps.empty() ? 1 : steps[i];
    if (step == 0) return InvalidArgument("step of axis ", axis, " is 0");
    const int64_t dim = input[axis];
    int64_t start = starts[i], end = ends[i];
    if (start < 0) start += dim;
    if (end < 0) end = end < std::numeric_limits<int64_t>::min() + dim ? -1 : end + dim;
    if (step > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
    }
    const int64_t span = end - start;
    int64_t size = 0;
    // Written so that no step (even INT64_MIN / INT64_MAX) overflows.
    if (step > 0 && span > 0) size = (span - 1) / step + 1;
    if (step < 0 && span < 0) size = (span + 1) / step + 1;
    r.starts[axis] = size > 0 ? start : 0;
    r.steps[axis] = step;
    r.output[axis] = size;
  }
  return r;
}

StatusOr<std::vector<int64_t>> ExpandPadAxes(const std::vector<int64_t>& pads, const std::vector<int64_t>& axes,
                                             int64_t rank) {
  if (axes.empty()) return pads;
  if (pads.size() != 2 * axes.size()) {
    return InvalidArgument("pads ", DimsToString(pads), " has ", pads.size(), " values, expected 2 x ", axes.size(),
                           " axes");
  }
  RETURN_IF_ERROR(NormalizeAxes(axes, rank).status());  // in range, none repeated
  std::vector<int64_t> out(2 * rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    out[axis] = pads[i];
    out[axis + rank] = pads[i + axes.size()];
  }
  return out;
}

StatusOr<std::vector<int64_t>> ResolveSplit(int64_t dim, const std::vector<int64_t>& split, int num_outputs,
                                            bool last_smaller) {
  if (!split.empty()) {
    if (static_cast<int>(split.size()) != num_outputs) {
      return InvalidArgument("split ", DimsToString(split), " has ", split.size(), " parts but there are ", num_outputs,
                             " outputs");
    }
    int64_t total = 0;
    for (int64_t s : split) {
      if (s < 0) return InvalidArgument("split ", DimsToString(split), " has a negative size");
      if (s > dim)
        return InvalidArgument("split ", DimsToString(split), " has a part larger than the axis (", dim, ")");
      total += s;
    }
    if (total != dim) {
      return InvalidArgument("split ", DimsToString(split), " sums to ", total, " but the axis has size ", dim);
    }
    return split;
  }
  if (last_smaller && num_outputs > 0) {
    const int64_t part = (dim + num_outputs - 1) / num_outputs;
    std::vector<int64_t> sizes;
    for (int i = 0; i < num_outputs; ++i) sizes.push_back(std::clamp<int64_t>(dim - i * part, 0, part));
    return sizes;
  }
  if (num_outputs <= 0 || dim % num_outputs != 0) {
    return InvalidArgument("axis of size ", dim, " cannot be split evenly into ", num_outputs, " outputs");
  }
  return std::vector<int64_t>(num_outputs, dim / num_outputs);
}

StatusOr<std::vector<int64_t>> ResolvePerm(const std::vector<int64_t>& perm, int64_t rank) {
  std::vector<int64_t> out;
  if (perm.empty()) {
    for (int64_t i = rank - 1; i >= 0; --i) out.push_back(i);
    return out;
  }
  if (static_cast<int64_t>(perm.size()) != rank) {
    return InvalidArgument("perm ", DimsToString(perm), " has ", perm.size(), " entries but the input has rank ", rank);
  }
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p]) {
      return InvalidArgument("perm ", DimsToString(perm), " is not a permutation of 0..", rank - 1);
    }
    seen[p] = true;
  }
  return perm;
}

Dims ReducedDims(const Dims& input, const std::vector<int64_t>& axes, bool keepdims) {
  Dims out;
  for (size_t i = 0; i < input.size(); ++i) {
    const bool reduced = axes.empty() || std::find(axes.begin(), axes.end(), static_cast<int64_t>(i)) != axes.end();
    if (!reduced) {
      out.push_back(input[i]);
    } else if (keepdims) {
      out.push_back(1);
    }
  }
  return out;
}

bool IsViewOp(const std::string& op) {
  return op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" || op == "Identity";
}

}  // namespace kiln
