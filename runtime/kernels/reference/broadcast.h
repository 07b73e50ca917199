// numpy-broadcasting loops for the reference kernels.
#pragma once

#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln::runtime {

/// Maps an output index to the index of a broadcast input of rank <= output rank.
/// Ranks up to kInlineRank live inline: building one in a kernel's Run does not
/// touch the heap (steady-state runs allocate nothing).
class BroadcastIndexer {
 public:
  static constexpr size_t kInlineRank = 8;
  BroadcastIndexer() = default;
  BroadcastIndexer(const Dims& input, const Dims& output) : rank_(output.size()) {
    if (rank_ > kInlineRank) {
      heap_.assign(2 * rank_, 0);
      dims_ = heap_.data();
      strides_ = heap_.data() + rank_;
    }
    const size_t offset = output.size() - input.size();
    int64_t stride = 1;
    for (size_t i = rank_; i-- > 0;) {
      dims_[i] = output[i];
      strides_[i] = 0;
      if (i >= offset) {
        const int64_t d = input[i - offset];
        strides_[i] = d == 1 ? 0 : stride;
        stride *= d;
      }
    }
    identity_ = input == output;
  }
  BroadcastIndexer(const BroadcastIndexer&) = delete;
  BroadcastIndexer& operator=(const BroadcastIndexer&) = delete;
  /// True when input and output shapes are equal (index i maps to i).
  bool identity() const { return identity_; }
  int64_t operator()(int64_t flat) const {
    if (identity_) return flat;
    int64_t index = 0;
    for (size_t i = rank_; i-- > 0;) {
      const int64_t d = dims_[i];
      index += (flat % d) * strides_[i];
      flat /= d;
    }
    return index;
  }

 private:
  size_t rank_ = 0;
  bool identity_ = true;
  int64_t inline_[2 * kInlineRank] = {};
  int64_t* dims_ = inline_;
  int64_t* strides_ = inline_ + kInlineRank;
  std::vector<int64_t> heap_;  // ranks above kInlineRank only
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
