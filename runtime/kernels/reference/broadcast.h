// numpy-broadcasting loops for the reference kernels.
#pragma once

#include "ir/status.h"
#include "ir/tensor.h"

namespace kiln::runtime {

/// Maps an output index to the index of a broadcast input of rank <= output rank.
class BroadcastIndexer {
 public:
  BroadcastIndexer(const Dims& input, const Dims& output) : out_dims_(output) {
    const size_t offset = output.size() - input.size();
    Dims in_strides = RowMajorStrides(input);
    strides_.assign(output.size(), 0);
    for (size_t i = 0; i < input.size(); ++i) strides_[offset + i] = input[i] == 1 ? 0 : in_strides[i];
  }
  int64_t operator()(int64_t flat) const {
    int64_t index = 0;
    for (int i = static_cast<int>(out_dims_.size()) - 1; i >= 0; --i) {
      const int64_t d = out_dims_[i];
      index += (flat % d) * strides_[i];
      flat /= d;
    }
    return index;
  }

 private:
  Dims out_dims_;
  Dims strides_;
};

/// out = fn(a, b) elementwise with broadcasting, for float32, float64, int32 and int64.
template <typename Fn>
Status BroadcastBinary(const TensorRef& a, const TensorRef& b, const TensorRef& out, Fn fn) {
  auto run = [&](auto tag) {
    using T = decltype(tag);
    BroadcastIndexer ia(a.dims, out.dims), ib(b.dims, out.dims);
    const T* pa = a.as<T>();
    const T* pb = b.as<T>();
    T* po = out.as<T>();
    const int64_t n = out.num_elements();
    for (int64_t i = 0; i < n; ++i) po[i] = static_cast<T>(fn(pa[ia(i)], pb[ib(i)]));
    return Status::Ok();
  };
  switch (out.dtype) {
    case proto::DT_FLOAT: return run(float{});
    case proto::DT_DOUBLE: return run(double{});
    case proto::DT_INT32: return run(int32_t{});
    case proto::DT_INT64: return run(int64_t{});
    default: return Unimplemented("broadcast kernel does not support ", DTypeName(out.dtype));
  }
}

}  // namespace kiln::runtime
