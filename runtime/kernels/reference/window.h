// Sliding-window walking shared by the pooling kernels (nn.cc), convolution
// (conv.cc) and their gradients (gradient_window.cc), so forward and backward
// visit the same cells.
#pragma once

#include <vector>

#include "ir/core/shape_util.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime::ref {

// The multi-index of every element of `dims`, row-major (kernel taps, output positions).
inline std::vector<Dims> AllIndices(const Dims& dims) {
  std::vector<Dims> out(static_cast<size_t>(ElementCount(dims)));
  for (size_t i = 0; i < out.size(); ++i) Unflatten(static_cast<int64_t>(i), dims, &out[i]);
  return out;
}

// Flat offset of a spatial position, or -1 when it falls outside `dims`.
inline int64_t SpatialOffset(const Dims& pos, const Dims& dims) {
  int64_t offset = 0;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (pos[i] < 0 || pos[i] >= dims[i]) return -1;
    offset = offset * dims[i] + pos[i];
  }
  return offset;
}

// One pooling window: the input cells it covers (flat spatial offsets, padding
// skipped, row-major window order) and how many cells of the padded input it
// spans (count_include_pad).
struct Window {
  std::vector<int64_t> offsets;
  int64_t padded_count = 0;
};

class WindowWalker {
 public:
  WindowWalker(const Dims& in_spatial, const WindowGeometry& g) : in_(in_spatial), g_(g) {}

  // Fills `w` for the output position `o` (a spatial multi-index).
  void Collect(const Dims& o, Window* w) const {
    const size_t nd = in_.size();
    w->offsets.clear();
    w->padded_count = 0;
    Dims tap(nd, 0), pos(nd);
    const int64_t taps = ElementCount(g_.kernel);
    for (int64_t t = 0; t < taps; ++t) {
      Unflatten(t, g_.kernel, &tap);
      bool inside = true, in_padded = true;
      int64_t offset = 0;
      for (size_t i = 0; i < nd; ++i) {
        pos[i] = o[i] * g_.strides[i] - g_.pads[i] + tap[i] * g_.dilations[i];
        if (pos[i] < 0 || pos[i] >= in_[i]) inside = false;
        // ceil_mode windows may run past the end padding: those cells count for nothing.
        if (pos[i] < -g_.pads[i] || pos[i] >= in_[i] + g_.pads[i + nd]) in_padded = false;
        offset = offset * in_[i] + pos[i];
      }
      if (in_padded) ++w->padded_count;
      if (inside) w->offsets.push_back(offset);
    }
  }

  // Column-major flat offset (MaxPool storage_order=1) of a row-major one.
  int64_t ColumnMajor(int64_t row_major) const {
    Dims index;
    Unflatten(row_major, in_, &index);
    int64_t offset = 0;
    for (int i = static_cast<int>(in_.size()) - 1; i >= 0; --i) offset = offset * in_[i] + index[i];
    return offset;
  }

 private:
  Dims in_;
  WindowGeometry g_;
};

}  // namespace kiln::runtime::ref
