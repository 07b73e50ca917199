// Ops whose output shape depends on an input's values (CenterCropPad's shape, Compress's
// condition, Unique's data): the static IR takes them when that input is constant. Unique's
// grouping is shared by shape inference (ir/core/ops/value_shaped.cc) and the reference kernel
// (runtime/kernels/reference/value_shaped.cc) so both find the same number of unique slices.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "ir/core/tensor.h"

namespace kiln::unique {

/// x as [outer, n, inner] around `axis` (axis < 0: the flattened elements, outer = inner = 1).
struct Slicing {
  int64_t outer = 1, n = 1, inner = 1;
};
inline Slicing SliceAlong(const Dims& x, int64_t axis) {
  Slicing s;
  s.n = ElementCount(x);
  if (axis >= 0) {
    s.n = x[axis];
    for (int64_t d = 0; d < axis; ++d) s.outer *= x[d];
    for (size_t d = axis + 1; d < x.size(); ++d) s.inner *= x[d];
  }
  return s;
}

struct Result {
  std::vector<int64_t> first;    // per unique slice, in output order: its first index in x
  std::vector<int64_t> inverse;  // per slice of x: the output position of its value
  std::vector<int64_t> counts;   // per unique slice: how often it occurs
};

/// The slices of x along `axis` (every element when axis < 0), grouped by value; output
/// order ascending (lexicographic over the slice's elements, NaN last) when `sorted`, else
/// by first occurrence.
template <typename T>
Result Find(const T* data, const Dims& x, int64_t axis, bool sorted) {
  // Plain variables: clang (C++17) cannot capture structured bindings in lambdas.
  const Slicing s = SliceAlong(x, axis);
  const int64_t outer = s.outer, n = s.n, inner = s.inner;
  auto at = [&](int64_t slice, int64_t o, int64_t i) { return data[(o * n + slice) * inner + i]; };
  auto element_less = [](T a, T b) {  // a total order: NaN above everything, NaNs equal
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return !std::isnan(a) && std::isnan(b);
    }
    return a < b;
  };
  auto compare = [&](int64_t a, int64_t b) {  // -1, 0, 1
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const T va = at(a, o, i), vb = at(b, o, i);
        if (element_less(va, vb)) return -1;
        if (element_less(vb, va)) return 1;
      }
    }
    return 0;
  };
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    const int c = compare(a, b);
    return c != 0 ? c < 0 : a < b;  // ties by index: each group starts at its first occurrence
  });
  Result r;
  std::vector<int64_t> group_of(static_cast<size_t>(n));
  for (size_t k = 0; k < order.size(); ++k) {
    if (k == 0 || compare(order[k - 1], order[k]) != 0) {
      r.first.push_back(order[k]);
      r.counts.push_back(0);
    }
    group_of[order[k]] = static_cast<int64_t>(r.first.size()) - 1;
    ++r.counts.back();
  }
  std::vector<int64_t> position(r.first.size());
  std::iota(position.begin(), position.end(), 0);
  if (!sorted) {  // groups by first occurrence
    std::vector<int64_t> by_first(position);
    std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) { return r.first[a] < r.first[b]; });
    Result reordered;
    for (size_t p = 0; p < by_first.size(); ++p) {
      position[by_first[p]] = static_cast<int64_t>(p);
      reordered.first.push_back(r.first[by_first[p]]);
      reordered.counts.push_back(r.counts[by_first[p]]);
    }
    r.first = std::move(reordered.first);
    r.counts = std::move(reordered.counts);
  }
  r.inverse.resize(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) r.inverse[j] = position[group_of[j]];
  return r;
}

}  // namespace kiln::unique
