// The instruction sets and thread counts the tests of Kiln's own CPU kernels run them at
// (runtime/kernels/onednn: the kernels compile their loops once per SimdLevel).
#pragma once

#include <omp.h>

#include <vector>

#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel, CpuHas

namespace kiln::testing {

/// The instruction sets this CPU runs, narrowest first.
inline std::vector<runtime::onednn::SimdLevel> CpuSimdLevels() {
  using runtime::onednn::SimdLevel;
  std::vector<SimdLevel> levels;
  for (SimdLevel level : {SimdLevel::kGeneric, SimdLevel::kAvx2, SimdLevel::kAvx512}) {
    if (runtime::onednn::CpuHas(level)) levels.push_back(level);
  }
  return levels;
}

/// fn(level, threads) at 1 and 3 OpenMP threads (one thread, and more than the shares a
/// kernel expects) for each of CpuSimdLevels(); the thread count is restored after.
template <class F>
void ForEachThreadCountAndLevel(const F& fn) {
  const int saved = omp_get_max_threads();
  for (int threads : {1, 3}) {
    omp_set_num_threads(threads);
    for (runtime::onednn::SimdLevel level : CpuSimdLevels()) fn(level, threads);
  }
  omp_set_num_threads(saved);
}

}  // namespace kiln::testing
