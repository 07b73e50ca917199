#include "ir/core/layout.h"

namespace kiln {

const char* LayoutName(Layout layout) {
  switch (layout) {
    case proto::LAYOUT_PLAIN: return "plain";
    case proto::LAYOUT_CHANNELS_LAST: return "channels_last";
    default: return "unknown";
  }
}

Dims LayoutStrides(const Dims& dims, Layout layout) {
  if (layout != proto::LAYOUT_CHANNELS_LAST || dims.size() < 3) return RowMajorStrides(dims);
  // Order N, spatial..., C: C innermost, then the spatial dims row-major, N outermost.
  Dims strides(dims.size());
  int64_t stride = 1;
  strides[1] = stride;
  stride *= dims[1];
  for (size_t d = dims.size() - 1; d >= 2; --d) {
    strides[d] = stride;
    stride *= dims[d];
  }
  strides[0] = stride;
  return strides;
}

bool IsPlainOrder(const Dims& dims, Layout layout) {
  if (layout == proto::LAYOUT_PLAIN || dims.size() < 3) return true;
  int64_t spatial = 1;
  for (size_t d = 2; d < dims.size(); ++d) spatial *= dims[d];
  return dims[1] == 1 || spatial == 1;
}

int64_t LayoutOffset(const Dims& dims, const Dims& strides, int64_t flat) {
  int64_t offset = 0;
  for (size_t d = dims.size(); d-- > 0;) {
    offset += flat % dims[d] * strides[d];
    flat /= dims[d];
  }
  return offset;
}

}  // namespace kiln
