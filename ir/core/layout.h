// Physical layouts of a tensor's elements (proto::Layout): a layout never changes a
// value's logical dims, only the strides its bytes are laid out with.
#pragma once

#include <string>

#include "ir/core/dtype.h"

namespace kiln {

using Layout = proto::Layout;

/// "plain", "channels_last".
const char* LayoutName(Layout layout);
/// Element strides of a tensor of logical `dims` laid out in `layout` (channels-last needs
/// rank >= 3: dims[1] is the channel).
Dims LayoutStrides(const Dims& dims, Layout layout);
/// Whether `layout` puts the elements of `dims` in the row-major order (channels-last does
/// when there is one channel or one spatial position, e.g. a pooled [N, C, 1, 1]).
bool IsPlainOrder(const Dims& dims, Layout layout);
/// Where the element of row-major (logical) index `flat` lies, in elements, in a tensor of
/// `dims` laid out with `strides` (LayoutStrides).
int64_t LayoutOffset(const Dims& dims, const Dims& strides, int64_t flat);

}  // namespace kiln
