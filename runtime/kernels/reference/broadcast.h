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

}  // namespace kiln::runtime
