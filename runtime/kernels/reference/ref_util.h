// Shared helpers for the reference kernels: dtype dispatch, reading constant
// inputs, wrapping integer arithmetic and index arithmetic. Kept deliberately
// plain: these kernels are the ground truth the other backends are tested against.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/broadcast.h"

namespace kiln::runtime::ref {

/// Sets of dtypes a kernel computes with, by ir/core/dtypes.def's `kind` column. The
/// 16-bit floats are never dispatched: RegisterRef widens them to float32 first.
enum TypeSet : unsigned {
  kFloatTypes = 1,        // float32, float64
  kSignedIntTypes = 2,    // int8 ... int64
  kUnsignedIntTypes = 4,  // uint8 ... uint64
  kSignedTypes = kFloatTypes | kSignedIntTypes,
  kNumericTypes = kFloatTypes | kSignedIntTypes | kUnsignedIntTypes,
};

constexpr unsigned TypeSetOf(DTypeKind kind) {
  return kind == DTypeKind::kFloat      ? kFloatTypes
         : kind == DTypeKind::kSigned   ? kSignedIntTypes
         : kind == DTypeKind::kUnsigned ? kUnsignedIntTypes
                                        : 0u;
}

/// "input type uint16 is not supported (supported: float32, float64, ...)".
Status UnsupportedType(DType t, unsigned type_set);

/// Calls fn(T{}) with the C type of `t` when t is in `kSet`; an error naming the dtype
/// and the supported ones otherwise.
template <unsigned kSet, typename Fn>
Status DispatchTypes(DType t, Fn&& fn) {
  switch (t) {
#define DTYPE(ENUM, name, onnx, Storage, kind, npy)                               \
  case proto::DT_##ENUM:                                                          \
    if constexpr ((TypeSetOf(DTypeKind::kind) & kSet) != 0) return fn(Storage{}); \
    break;
#include "ir/core/dtypes.def"
#undef DTYPE
    default: break;
  }
  return UnsupportedType(t, kSet);
}

/// float32 / float64.
template <typename Fn>
Status DispatchFloat(DType t, Fn&& fn) {
  return DispatchTypes<kFloatTypes>(t, fn);
}
/// Floats and signed integers.
template <typename Fn>
Status DispatchSigned(DType t, Fn&& fn) {
  return DispatchTypes<kSignedTypes>(t, fn);
}
/// Every numeric type (bool and the 16-bit floats excluded).
template <typename Fn>
Status DispatchNumeric(DType t, Fn&& fn) {
  return DispatchTypes<kNumericTypes>(t, fn);
}

/// A dtype as a type: its storage C type, kind and enum (for kernels that handle
/// bool and the 16-bit floats themselves: Cast, printers).
template <typename S, DTypeKind K, DType D>
struct DTypeTag {
  using Storage = S;
  static constexpr DTypeKind kind = K;
  static constexpr DType dtype = D;
};

/// Calls fn(DTypeTag<...>{}) for every dtype of dtypes.def.
template <typename Fn>
Status DispatchAllTypes(DType t, Fn&& fn) {
  switch (t) {
#define DTYPE(ENUM, name, onnx, Storage, kind, npy) \
  case proto::DT_##ENUM:                            \
    return fn(DTypeTag<Storage, DTypeKind::kind, proto::DT_##ENUM>{});
#include "ir/core/dtypes.def"
#undef DTYPE
    default: return Unimplemented("input type ", DTypeName(t), " is not supported");
  }
}

/// Calls fn(U{}) with an unsigned integer type of the element size: data
/// movement ops move elements of any dtype by size.
template <typename Fn>
Status DispatchBySize(DType t, Fn&& fn) {
  switch (DTypeSize(t)) {
    case 1: return fn(uint8_t{});
    case 2: return fn(uint16_t{});
    case 4: return fn(uint32_t{});
    case 8: return fn(uint64_t{});
    default: return Unimplemented("input type ", DTypeName(t), " is not supported");
  }
}

/// Accumulator type: double for floats, int64 for integers.
template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double, int64_t>;

// Integer arithmetic wraps (two's complement) instead of being undefined on overflow.
template <typename T>
T WrapAdd(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
  } else {
    return a + b;
  }
}
template <typename T>
T WrapSub(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    using U = std::make_unsigned_t<T>;
    return static_cast<T>(static_cast<U>(static_cast<U>(a) - static_cast<U>(b)));
  } else {
    return a - b;
  }
}
template <typename T>
T WrapMul(T a, T b) {
  if constexpr (std::is_integral_v<T>) {
    // uint64 so that small types do not promote to (overflowing) int.
    return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
  } else {
    return a * b;
  }
}
template <typename T>
T WrapNeg(T a) {
  return WrapSub(T{0}, a);
}

/// double -> T for storing a computed value: integers saturate (NaN -> 0)
/// instead of the undefined behaviour of an out-of-range conversion.
template <typename T>
T FromDouble(double v) {
  if constexpr (std::is_integral_v<T>) {
    if (v != v) return T{0};
    if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) return std::numeric_limits<T>::lowest();
    // max() of int64 rounds up to 2^63 as a double: compare with >= to stay in range.
    if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
    return static_cast<T>(v);
  } else {
    return static_cast<T>(v);
  }
}

/// Element i of an int32 or int64 tensor (the caller checked the dtype), read in place.
inline int64_t IntAt(const TensorRef& t, int64_t i) {
  return t.dtype == proto::DT_INT64 ? t.as<int64_t>()[i] : t.as<int32_t>()[i];
}
/// Reads an integer (int32/int64/other integer) input as int64 values.
StatusOr<std::vector<int64_t>> ReadInts(const TensorRef& t, const char* what);
/// Gather's geometry for data dims `data` and an `indices` tensor (int32 or int64, read in
/// place: a run allocates nothing): the axis normalized, every index checked to lie in
/// [-data[axis], data[axis]), and `gathered`, the dims of the gathered tensor (Gather's output,
/// GatherGrad's dY, named `what` in the error), checked. Shared by Gather and GatherGrad.
struct GatherGeometry {
  int64_t axis = 0, size = 0;    // size: data[axis]
  int64_t outer = 1, inner = 1;  // data's elements before and after the axis
  const TensorRef* indices = nullptr;
  int64_t count = 0;  // indices' elements
  /// Index q resolved into [0, size) (negative ones count from the end).
  int64_t index(int64_t q) const {
    const int64_t v = IntAt(*indices, q);
    return v < 0 ? v + size : v;
  }
};
StatusOr<GatherGeometry> ResolveGather(const Dims& data, const TensorRef& indices, int64_t axis, const Dims& gathered,
                                       const char* what);

/// Reads a one-element input as double (any numeric dtype).
StatusOr<double> ReadScalar(const TensorRef& t, const char* what);
/// Element i of any numeric/bool tensor as double.
double ElementAsDouble(const TensorRef& t, int64_t i);

/// Checks that every input broadcasts (numpy rules, rank <= the output's) to the output.
Status CheckBroadcastInputs(const std::vector<TensorRef>& in, const TensorRef& out);
/// Checks that the bound buffers have the expected element counts (a mismatch
/// would be a caller bug; never read or write out of bounds).
Status CheckSameCount(const TensorRef& in, const TensorRef& out);
/// Checks every input and output has data unless it is empty.
Status CheckBuffers(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out, int min_inputs,
                    int min_outputs);

/// True when input i is bound (present with a dtype).
inline bool HasInput(const std::vector<TensorRef>& in, int i) {
  return i < static_cast<int>(in.size()) && in[i].dtype != proto::DT_UNDEFINED;
}
inline bool HasOutput(const std::vector<TensorRef>& out, int i) {
  return i < static_cast<int>(out.size()) && out[i].dtype != proto::DT_UNDEFINED;
}

/// Whether the bytes of `a` and `b` overlap (in-place and aliasing checks of kernels that
/// write outputs element by element: the optimizer updates, DropoutTraining).
inline bool Overlap(const TensorRef& a, const TensorRef& b) {
  const auto* pa = static_cast<const char*>(a.data);
  const auto* pb = static_cast<const char*>(b.data);
  return pa < pb + b.num_bytes() && pb < pa + a.num_bytes();
}

/// Row-major multi-index of a flat index.
inline void Unflatten(int64_t flat, const Dims& dims, Dims* index) {
  index->resize(dims.size());
  for (int i = static_cast<int>(dims.size()) - 1; i >= 0; --i) {
    (*index)[i] = dims[i] == 0 ? 0 : flat % dims[i];
    flat = dims[i] == 0 ? 0 : flat / dims[i];
  }
}

/// A strided walk's dims, merged: extent-1 dims dropped and dims whose strides chain joined,
/// innermost last, so that the runs are as long as the layout allows. Computed once where the
/// same walk repeats (SliceWalk).
struct StridedRuns {
  Dims extent, step;
  int64_t count = 0;  // the elements walked
};
inline StridedRuns MergeStridedRuns(const Dims& dims, const Dims& strides) {
  StridedRuns r;
  r.count = 1;
  for (int64_t d : dims) r.count *= d;
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] == 1) continue;
    if (!r.extent.empty() && r.step.back() == dims[d] * strides[d]) {
      r.extent.back() *= dims[d];
      r.step.back() = strides[d];
    } else {
      r.extent.push_back(dims[d]);
      r.step.push_back(strides[d]);
    }
  }
  if (r.extent.empty()) {
    r.extent.push_back(1);
    r.step.push_back(1);
  }
  return r;
}
/// Calls run(i, offset, count, step) for the runs of `runs` from `base` (below); `index` is the
/// odometer (no allocation once it has runs.extent.size() entries).
template <typename Fn>
void ForEachRun(const StridedRuns& runs, int64_t base, Dims& index, Fn&& run) {
  if (runs.count == 0) return;
  const size_t inner_axis = runs.extent.size() - 1;
  const int64_t inner = runs.extent[inner_axis];
  index.assign(runs.extent.size(), 0);
  int64_t offset = base;
  for (int64_t i = 0; i < runs.count; i += inner) {
    run(i, offset, inner, runs.step[inner_axis]);
    for (size_t d = inner_axis; d-- > 0;) {
      offset += runs.step[d];
      if (++index[d] < runs.extent[d]) break;
      offset -= index[d] * runs.step[d];
      index[d] = 0;
    }
  }
}
/// A strided walk over every index of `dims` in row-major order: element i sits at
/// base + sum_d index_d * strides[d] of another tensor (Slice, Transpose, Expand with 0 for
/// a broadcast axis, SliceGrad). Calls run(i, offset, count, step) for consecutive runs:
/// elements i..i+count-1 sit at offset + j * step (MergeStridedRuns); the index advances like
/// an odometer, without a division per element.
template <typename Fn>
void ForEachStridedRun(const Dims& dims, const Dims& strides, int64_t base, Fn&& run) {
  Dims index;
  ForEachRun(MergeStridedRuns(dims, strides), base, index, run);
}

/// Whether integer tensor `t` (int32 or int64) holds exactly `values`; reads it in place.
bool SameInts(const TensorRef& t, const std::vector<int64_t>& values);

/// Slice's and SliceGrad's walk over the slice that their starts, ends, axes and steps inputs
/// (in[1..4]) take of a tensor of dims `data`: resolved again only when those or `data` differ
/// from the last call's, so with plan constants a run allocates nothing.
class SliceWalk {
 public:
  Status Update(const Dims& data, const std::vector<TensorRef>& in);
  /// The slice's dims, where it starts in `data` (flat) and the walk over it.
  const Dims& output() const { return output_; }
  template <typename Fn>
  void ForEach(Fn&& run) {
    ForEachRun(runs_, base_, index_, run);
  }

 private:
  static constexpr int kInputs = 4;  // starts, ends, axes, steps
  bool valid_ = false;
  Dims data_;
  bool present_[kInputs] = {};
  std::vector<int64_t> values_[kInputs];
  Dims output_, index_;
  int64_t base_ = 0;
  StridedRuns runs_;
};

using kiln::FloatToHalf;
using kiln::HalfToFloat;

/// How a kernel meets float16/bfloat16: math kernels run on float32 copies (kWidenToFloat);
/// data movement, Cast and constants handle them themselves (kNative).
enum class HalfMode { kWidenToFloat, kNative };

/// Whether any of `refs` is float16 or bfloat16.
bool AnyHalf(const std::vector<TensorRef>& refs);
/// Runs `fn` on float32 copies of the float16/bfloat16 inputs and outputs, rounding the outputs back.
Status RunWidened(const SimpleKernelFn& fn, const KernelSpec& spec, const std::vector<TensorRef>& in,
                  const std::vector<TensorRef>& out);

/// Registers `fn` as a "ref" kernel that first checks the arity and buffers.
void RegisterRef(KernelRegistry& r, const char* op, int min_inputs, int min_outputs, SimpleKernelFn fn,
                 HalfMode half = HalfMode::kWidenToFloat);

}  // namespace kiln::runtime::ref
