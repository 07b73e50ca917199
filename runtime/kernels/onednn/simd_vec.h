// Vectors of W floats on GCC's vector types, for the hand-written kernels of the oneDNN
// family (small_matmul.cc, small_conv.cc, vector_recurrent.cc, ...): each kernel compiles
// its loops once per instruction set through __attribute__((target(...))) entry points.
// Every function taking or returning a vector is inlined into those entry points, so no
// vector crosses a call (GCC's ABI notes do not apply). Include only from .cc files.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#pragma GCC diagnostic ignored "-Wpsabi"
#define KILN_INLINE inline __attribute__((always_inline))

namespace kiln::runtime::onednn {

template <int W>
struct VecTypes {
  typedef float F __attribute__((vector_size(W * 4), aligned(4)));  // unaligned access
  typedef int I __attribute__((vector_size(W * 4), aligned(4)));
};
template <int W>
using FloatVec = typename VecTypes<W>::F;

template <int W>
KILN_INLINE FloatVec<W> LoadVec(const float* p) {
  return *reinterpret_cast<const FloatVec<W>*>(p);
}
template <int W>
KILN_INLINE void StoreVec(float* p, FloatVec<W> v) {
  *reinterpret_cast<FloatVec<W>*>(p) = v;
}
template <int W>
KILN_INLINE FloatVec<W> Broadcast(float s) {
#if defined(__clang__)  // no __builtin_shuffle; clang folds this to a broadcast
  return FloatVec<W>{} + s;
#else
  return __builtin_shuffle(FloatVec<W>{s}, typename VecTypes<W>::I{});
#endif
}

// min(max(x, lo), hi), NaN staying NaN. GCC compiles `?:` on vectors to a compare and a
// blend, and reaches vmaxps/vminps only through intrinsics, which do not inline into the
// kernels' untargeted templates: written in assembly (max's second source is what a NaN
// lane returns), LSTM's cells ran 20% faster (vector_recurrent.cc). The operands' width
// picks ymm or zmm registers; a KILN_WIDE_ON_AVX2 build (16 lanes split over two AVX2
// registers) and clang (the fuzz build) take the portable form.
template <int W>
KILN_INLINE FloatVec<W> Clamp(const FloatVec<W>& x, float lo, float hi) {
  using V = FloatVec<W>;
#if defined(__GNUC__) && !defined(__clang__) && !defined(KILN_WIDE_ON_AVX2)
  if constexpr (W == 8 || W == 16) {  // the AVX2 and AVX-512 entry points
    V above, clamped;
    asm("vmaxps %2, %1, %0" : "=v"(above) : "v"(Broadcast<W>(lo)), "v"(x));
    asm("vminps %2, %1, %0" : "=v"(clamped) : "v"(Broadcast<W>(hi)), "v"(above));
    return clamped;
  }
#endif
  const V above = x < Broadcast<W>(lo) ? Broadcast<W>(lo) : x;
  return above > Broadcast<W>(hi) ? Broadcast<W>(hi) : above;
}
// c0 x^n + c1 x^(n-1) + ... + cn (Horner).
template <int W, class... C>
KILN_INLINE FloatVec<W> Polynomial(const FloatVec<W>& x, float c0, C... c) {
  FloatVec<W> sum = Broadcast<W>(c0);
  ((sum = sum * x + c), ...);
  return sum;
}

/// A 64-byte aligned float buffer, zeroed, allocated once (when a kernel is built).
struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using AlignedFloats = std::unique_ptr<float[], FreeDeleter>;
inline AlignedFloats AllocateZeroed(int64_t floats) {
  const size_t bytes = (static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float) + 63) / 64 * 64;
  float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (p) std::memset(p, 0, bytes);
  return AlignedFloats(p);
}

}  // namespace kiln::runtime::onednn
