// Reference kernel of DropoutTraining (docs/training_ops.md, "DropoutTraining's hash").
// It runs every training step over every dropped activation, so like the optimizer
// updates it is written for speed: the keep test is an integer comparison, the loop is
// compiled once per instruction set (AVX-512 has 64-bit vector multiplies, AVX2 emulates
// them, plain x86-64 stays scalar) and large tensors are split over the session's
// threads. The mask is the documented hash of (seed, step, element index) whatever the
// path or the thread count, so every backend and every run draws the same one.
//
// Before: one scalar loop with the keep test in double, ~7 ns per element (the
// Fashion-MNIST MLP's two dropouts were a quarter of its training step).
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using Refs = std::vector<TensorRef>;

inline uint64_t SplitMix64(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// Element i is kept when u = (h >> 11) * 2^-53 >= ratio. Both sides scaled by 2^53 (exact
// in double), that is (h >> 11) >= ratio * 2^53, i.e. (h >> 11) >= ceil(ratio * 2^53)
// among integers. Both are below 2^63, so the comparison may be signed (AVX2 has no
// unsigned 64-bit compare).
int64_t KeepThreshold(double ratio) { return static_cast<int64_t>(std::ceil(std::ldexp(ratio, 53))); }

template <typename T>
struct Draw {
  uint64_t base;      // splitmix64(splitmix64(seed) ^ step)
  int64_t threshold;  // KeepThreshold(ratio)
  T scale;            // 1 / (1 - ratio)
};

// Elements [begin, end) with any exact sharing among x, y and mask: element i of x is read
// before element i of either output is written.
template <typename T, bool kMask>
inline void DropoutRange(const Draw<T>& d, int64_t begin, int64_t end, const T* x, T* y, T* mask) {
  for (int64_t i = begin; i < end; ++i) {
    const int64_t bits = static_cast<int64_t>(SplitMix64(d.base ^ static_cast<uint64_t>(i)) >> 11);
    const T m = bits >= d.threshold ? d.scale : T(0);
    const T xi = x[i];
    y[i] = xi * m;
    if constexpr (kMask) mask[i] = m;
  }
}

// The same loop for x and y disjoint (kInPlace false) or one buffer (true: x unused), the
// mask apart from both, so it vectorizes without run-time alias checks.
template <typename T, bool kMask, bool kInPlace>
inline void DropoutRangeNoAlias(const Draw<T>& d, int64_t begin, int64_t end, const T* __restrict x, T* __restrict y,
                                T* __restrict mask) {
  // Locals: the stores through T* could otherwise alias d and keep the loop scalar.
  const uint64_t base = d.base;
  const int64_t threshold = d.threshold;
  const T scale = d.scale;
  for (int64_t i = begin; i < end; ++i) {
    const int64_t bits = static_cast<int64_t>(SplitMix64(base ^ static_cast<uint64_t>(i)) >> 11);
    const T m = bits >= threshold ? scale : T(0);
    y[i] = (kInPlace ? y[i] : x[i]) * m;
    if constexpr (kMask) mask[i] = m;
  }
}

template <typename T>
using RangeFn = void (*)(const Draw<T>&, int64_t, int64_t, const T*, T*, T*);

#define KILN_DROPOUT_ISA(Name, target_attr)                                                        \
  template <typename T, bool kMask>                                                                \
  target_attr void Name(const Draw<T>& d, int64_t begin, int64_t end, const T* x, T* y, T* mask) { \
    if (x == y) {                                                                                  \
      DropoutRangeNoAlias<T, kMask, true>(d, begin, end, nullptr, y, mask);                        \
    } else {                                                                                       \
      DropoutRangeNoAlias<T, kMask, false>(d, begin, end, x, y, mask);                             \
    }                                                                                              \
  }
KILN_DROPOUT_ISA(RunAvx512, __attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))))
KILN_DROPOUT_ISA(RunAvx2, __attribute__((target("avx2"))))
KILN_DROPOUT_ISA(RunGeneric, )
#undef KILN_DROPOUT_ISA

template <typename T, bool kMask>
RangeFn<T> PickRange() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw")) {
    return RunAvx512<T, kMask>;
  }
  if (__builtin_cpu_supports("avx2")) return RunAvx2<T, kMask>;
  return RunGeneric<T, kMask>;
}

// Below two chunks a parallel region costs more than it saves.
constexpr int64_t kChunk = 16384;

Status DropoutTrainingKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (in[1].dtype != proto::DT_INT64 || in[1].num_elements() != 1) {
    return InvalidArgument("step must be an int64 scalar, got ", DTypeName(in[1].dtype), DimsToString(in[1].dims));
  }
  const bool with_mask = ref::HasOutput(out, 1);
  for (const TensorRef* t : {&out[0], with_mask ? &out[1] : nullptr}) {
    if (t && (t->dtype != in[0].dtype || t->dims != in[0].dims)) {
      return InvalidArgument(t == &out[0] ? "Y" : "mask", " is ", DTypeName(t->dtype), DimsToString(t->dims),
                             ", expected ", DTypeName(in[0].dtype), DimsToString(in[0].dims));
    }
  }
  const double ratio = spec.attrs.GetFloat("ratio", 0.5f);
  if (!(ratio >= 0.0 && ratio < 1.0)) return InvalidArgument("ratio must be in [0, 1), got ", ratio);
  const uint64_t seed = static_cast<uint64_t>(spec.attrs.GetInt("seed", 0));
  const uint64_t step = static_cast<uint64_t>(in[1].as<int64_t>()[0]);
  const int64_t n = in[0].num_elements();
  // x and Y are one buffer or disjoint, and the mask overlaps neither: the vector loops.
  // Otherwise (a mask sharing a buffer: never planned, but a caller may bind it) the plain
  // loop, which reads element i of x before it writes element i of either output.
  const bool exact_or_disjoint = in[0].data == out[0].data || !ref::Overlap(in[0], out[0]);
  const bool mask_apart = !with_mask || (!ref::Overlap(out[1], in[0]) && !ref::Overlap(out[1], out[0]));
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const Draw<T> draw{SplitMix64(SplitMix64(seed) ^ step), KeepThreshold(ratio), static_cast<T>(1.0 / (1.0 - ratio))};
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    T* mask = with_mask ? out[1].as<T>() : nullptr;
    if (!exact_or_disjoint || !mask_apart) {
      with_mask ? DropoutRange<T, true>(draw, 0, n, x, y, mask) : DropoutRange<T, false>(draw, 0, n, x, y, mask);
      return Status::Ok();
    }
    static const RangeFn<T> with = PickRange<T, true>(), without = PickRange<T, false>();
    const RangeFn<T> run = with_mask ? with : without;
    if (n < 2 * kChunk || omp_get_max_threads() == 1) {
      run(draw, 0, n, x, y, mask);
      return Status::Ok();
    }
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) run(draw, c * kChunk, std::min(n, (c + 1) * kChunk), x, y, mask);
    return Status::Ok();
  });
}

}  // namespace

namespace ref {
void RegisterDropoutKernel(KernelRegistry& r) { RegisterRef(r, "DropoutTraining", 2, 1, DropoutTrainingKernel); }
}  // namespace ref

}  // namespace kiln::runtime
