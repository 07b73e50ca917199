#include "runtime/kernels/onednn/simd_level.h"

#include "dnnl.h"

namespace kiln::runtime::onednn {

bool CpuHas(SimdLevel level) {
  switch (level) {
#ifdef KILN_WIDE_ON_AVX2
    case SimdLevel::kAvx512: return CpuHas(SimdLevel::kAvx2);
#else
    case SimdLevel::kAvx512: return __builtin_cpu_supports("avx512f");
#endif
    case SimdLevel::kAvx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case SimdLevel::kGeneric: return true;
  }
  return false;
}

SimdLevel BestSimdLevel() {
  // Within oneDNN's limit too (ONEDNN_MAX_CPU_ISA=AVX2 runs the whole runtime as on an AVX2
  // machine); its ISA values are bit sets, each containing the ones below it.
  const auto isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
  auto allows = [isa](dnnl_cpu_isa_t level) { return (isa & level) == static_cast<unsigned>(level); };
#ifdef KILN_WIDE_ON_AVX2
  const dnnl_cpu_isa_t wide = dnnl_cpu_isa_avx2;
#else
  const dnnl_cpu_isa_t wide = dnnl_cpu_isa_avx512_core;
#endif
  if (CpuHas(SimdLevel::kAvx512) && allows(wide)) return SimdLevel::kAvx512;
  if (CpuHas(SimdLevel::kAvx2) && allows(dnnl_cpu_isa_avx2)) return SimdLevel::kAvx2;
  return SimdLevel::kGeneric;
}

}  // namespace kiln::runtime::onednn
