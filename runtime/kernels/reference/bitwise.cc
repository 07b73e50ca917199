// Reference kernels of BitShift and BitwiseNot (ir/core/ops/bitwise.cc), for every integer width.
#include <type_traits>

#include "runtime/kernel.h"
#include "runtime/kernels/reference/broadcast.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::DispatchTypes;
using ref::HalfMode;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;
constexpr unsigned kIntegers = ref::kSignedIntTypes | ref::kUnsignedIntTypes;

// x << s or x >> s with C++'s undefined cases defined: bits shifted out of the width are lost
// (a left shift wraps), a right shift of a signed x is arithmetic, and a shift amount outside
// [0, width) shifts every bit out (0, or -1 for a negative x shifted right).
template <typename T>
T Shift(T x, T amount, bool left) {
  using U = std::make_unsigned_t<T>;
  constexpr int kWidth = sizeof(T) * 8;
  bool out_of_range = false;
  if constexpr (std::is_signed_v<T>) out_of_range = amount < 0;
  out_of_range = out_of_range || static_cast<U>(amount) >= static_cast<U>(kWidth);
  if (out_of_range) return left || x >= 0 ? T{0} : T(-1);
  const int s = static_cast<int>(amount);
  if (left) return static_cast<T>(static_cast<U>(static_cast<U>(x) << s));
  if constexpr (std::is_signed_v<T>) {
    // Arithmetic shift spelt out (>> of a negative value is implementation-defined before C++20).
    return x >= 0 ? static_cast<T>(x >> s) : static_cast<T>(~static_cast<T>(~x >> s));
  }
  return static_cast<T>(x >> s);
}

Status BitShiftKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (in[1].dtype != in[0].dtype || out[0].dtype != in[0].dtype) {
    return InvalidArgument("X, Y and Z must share one integer type");
  }
  RETURN_IF_ERROR(ref::CheckBroadcastInputs(in, out[0]));
  const std::string direction = spec.attrs.GetString("direction", "");
  if (direction != "LEFT" && direction != "RIGHT") return InvalidArgument("direction must be LEFT or RIGHT");
  const bool left = direction == "LEFT";
  return DispatchTypes<kIntegers>(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    BroadcastIndexer ix(in[0].dims, out[0].dims), iy(in[1].dims, out[0].dims);
    const T* x = in[0].as<T>();
    const T* y = in[1].as<T>();
    T* z = out[0].as<T>();
    for (int64_t i = 0; i < out[0].num_elements(); ++i) z[i] = Shift<T>(x[ix(i)], y[iy(i)], left);
    return Status::Ok();
  });
}

Status BitwiseNotKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (out[0].dtype != in[0].dtype) return InvalidArgument("output type differs from the input's");
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  return DispatchTypes<kIntegers>(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < out[0].num_elements(); ++i) out[0].as<T>()[i] = static_cast<T>(~in[0].as<T>()[i]);
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceBitwiseKernels(KernelRegistry& r) {
  RegisterRef(r, "BitShift", 2, 1, BitShiftKernel, HalfMode::kNative);
  RegisterRef(r, "BitwiseNot", 1, 1, BitwiseNotKernel, HalfMode::kNative);
}

}  // namespace kiln::runtime
