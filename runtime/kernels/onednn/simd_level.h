// The instruction sets Kiln's own CPU kernels (runtime/kernels/onednn: the recurrent cells,
// small products and convolutions, Winograd, batch norm) compile their loops for, and the
// one a run picks.
#pragma once

namespace kiln::runtime::onednn {

/// The instruction sets the kernels have code for; tests run every one the CPU has.
enum class SimdLevel { kGeneric, kAvx2, kAvx512 };
bool CpuHas(SimdLevel level);
/// The widest level this CPU runs and oneDNN's ISA limit (ONEDNN_MAX_CPU_ISA) allows.
SimdLevel BestSimdLevel();

// The target of the kernels' 16-lane (kAvx512) entry points. A build with
// KILN_WIDE_ON_AVX2 (CMake option; scripts/test.sh --sanitize) compiles them for AVX2
// instead, GCC splitting each 16-lane vector in two, and kAvx512 then needs only AVX2
// (CpuHas, BestSimdLevel): the 16-lane loops' logic (their tiles, panel widths and slices)
// is tested, under the sanitizers, on CPUs without AVX-512 too.
#ifdef KILN_WIDE_ON_AVX2
#define KILN_TARGET_AVX512 __attribute__((target("avx2,fma")))
#else
#define KILN_TARGET_AVX512 __attribute__((target("avx512f,fma")))
#endif

}  // namespace kiln::runtime::onednn
