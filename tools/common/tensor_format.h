// numpy-style printing of tensors for `kiln run`: nested brackets, and for big
// tensors only the first and last elements of each axis ("...").
#pragma once

#include <string>

#include "ir/core/tensor.h"

namespace kiln::cli {

struct TensorFormatOptions {
  int64_t threshold = 1000;  // summarize above this many elements (numpy's default)
  int64_t edge_items = 3;    // elements kept at each end of a summarized axis
  int precision = 6;         // significant digits of floats
};

/// "[[0.1, 0.2],\n [0.3, 0.4]]" for `tensor`'s values.
std::string FormatTensorValues(const TensorRef& tensor, const TensorFormatOptions& options = {});

}  // namespace kiln::cli
