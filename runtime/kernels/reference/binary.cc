// Reference kernels of ir/core/ops/binary.def: each row's forward math instantiated for
// every dtype of its type class, numpy broadcasting through BroadcastIndexer, variadic rows
// folded left to right. float16/bfloat16 are widened to float32 by RegisterRef.
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "ir/core/ops/binary_table.h"
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/broadcast.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime::ref {
namespace {

using Refs = std::vector<TensorRef>;

/// binary.def's math over one element type T: integers wrap, integer division truncates.
template <typename T>
struct TypedMath {
  bool divided_by_zero = false;  // an integer Div by zero: the kernel reports it

  static T Add(T a, T b) { return WrapAdd(a, b); }
  static T Sub(T a, T b) { return WrapSub(a, b); }
  static T Mul(T a, T b) { return WrapMul(a, b); }
  T Div(T a, T b) {
    if constexpr (std::is_integral_v<T>) {
      if (b == 0) {
        divided_by_zero = true;
        return 0;
      }
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return WrapNeg(a);  // INT_MIN / -1 overflows
      }
      return static_cast<T>(a / b);
    } else {
      return a / b;
    }
  }
  template <typename E>
  static T Pow(T a, E b) {
    return FromDouble<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
  }
  static T Max(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    }
    return a < b ? b : a;
  }
  static T Min(T a, T b) {
    if constexpr (std::is_floating_point_v<T>) {
      if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
    }
    return b < a ? b : a;
  }
  // fmod=1: C fmod (the dividend's sign); fmod=0: the divisor's sign (Python's %). An integer
  // remainder by zero is 0 rather than a trap.
  static T Mod(T a, T b, int64_t fmod) {
    if constexpr (std::is_floating_point_v<T>) {
      const T r = std::fmod(a, b);
      return fmod || r == 0 || (r < 0) == (b < 0) ? r : r + b;
    } else {
      if (b == 0) return 0;
      if constexpr (std::is_signed_v<T>) {
        if (b == -1) return 0;  // INT_MIN % -1 overflows
      }
      const T r = static_cast<T>(a % b);
      return fmod || r == 0 || (r < 0) == (b < 0) ? r : static_cast<T>(r + b);
    }
  }
  static bool Eq(T a, T b) { return a == b; }
  static bool Lt(T a, T b) { return a < b; }
  static bool Le(T a, T b) { return a <= b; }
  static bool Gt(T a, T b) { return a > b; }
  static bool Ge(T a, T b) { return a >= b; }
  static bool And(T a, T b) { return a != 0 && b != 0; }
  static bool Or(T a, T b) { return a != 0 || b != 0; }
  static bool Xor(T a, T b) { return (a != 0) != (b != 0); }
  static T BitAnd(T a, T b) { return static_cast<T>(a & b); }
  static T BitOr(T a, T b) { return static_cast<T>(a | b); }
  static T BitXor(T a, T b) { return static_cast<T>(a ^ b); }
};

// The dtypes a row's type class computes with (bool is stored as uint8_t).
constexpr unsigned TypeSetOfClass(BinaryTypes types) {
  switch (types) {
    case BinaryTypes::kNumeric:
    case BinaryTypes::kNumericAnyExponent:
    case BinaryTypes::kAny: return kNumericTypes;
    case BinaryTypes::kInteger: return kSignedIntTypes | kUnsignedIntTypes;
    case BinaryTypes::kBool: return 0;
  }
  return 0;
}

template <BinaryTypes kTypes, typename Fn>
Status DispatchClass(DType t, Fn&& fn) {
  if constexpr (kTypes == BinaryTypes::kAny || kTypes == BinaryTypes::kBool) {
    if (t == proto::DT_BOOL) return fn(uint8_t{});
  }
  if constexpr (kTypes == BinaryTypes::kBool) {
    return InvalidArgument("inputs must be bool, got ", DTypeName(t));
  } else {
    return DispatchTypes<TypeSetOfClass(kTypes)>(t, fn);
  }
}

// out[i] = f(in_0[...], in_1[...], ...) folded left to right, every input broadcast to out;
// A of type T, the other inputs of type E (T but for Pow's exponent), out of type R.
template <typename T, typename E, typename R, typename Fn>
void Fold(const Refs& in, const TensorRef& out, Fn f) {
  R* y = out.as<R>();
  const int64_t n = out.num_elements();
  BroadcastIndexer ia(in[0].dims, out.dims), ib(in[1].dims, out.dims);
  const T* a = in[0].as<T>();
  const E* b = in[1].as<E>();
  if (ia.identity() && ib.identity()) {
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<R>(f(a[i], b[i]));
  } else {
    for (int64_t i = 0; i < n; ++i) y[i] = static_cast<R>(f(a[ia(i)], b[ib(i)]));
  }
  if constexpr (std::is_same_v<T, R> && std::is_same_v<T, E>) {  // variadic rows: keep folding into out
    for (size_t k = 2; k < in.size(); ++k) {
      BroadcastIndexer ik(in[k].dims, out.dims);
      const E* c = in[k].as<E>();
      for (int64_t i = 0; i < n; ++i) y[i] = static_cast<R>(f(y[i], c[ik(i)]));
    }
  }
}

// One row's kernel; `forward(m, a, b, a0)` is the row's math.
template <BinaryTypes kTypes, BinaryResult kResult, typename Forward>
SimpleKernelFn RowKernel(const char* attr, int64_t attr_default, Forward forward) {
  return [=](const KernelSpec& spec, const Refs& in, const Refs& out) -> Status {
    const DType t = in[0].dtype;
    for (size_t i = 1; i < in.size(); ++i) {
      if (kTypes != BinaryTypes::kNumericAnyExponent && in[i].dtype != t) {
        return InvalidArgument("input ", i, " has type ", DTypeName(in[i].dtype), " but input 0 has ", DTypeName(t));
      }
    }
    const DType want = kResult == BinaryResult::kBoolResult ? proto::DT_BOOL : t;
    if (out[0].dtype != want) {
      return InvalidArgument("output type ", DTypeName(out[0].dtype), ", expected ", DTypeName(want));
    }
    RETURN_IF_ERROR(CheckBroadcastInputs(in, out[0]));
    if (in.size() == 1) {  // a variadic row of one input: a copy
      RETURN_IF_ERROR(CheckSameCount(in[0], out[0]));
      if (in[0].num_bytes() > 0) std::memcpy(out[0].data, in[0].data, in[0].num_bytes());
      return Status::Ok();
    }
    const int64_t a0 = *attr ? spec.attrs.GetInt(attr, attr_default) : 0;
    return DispatchClass<kTypes>(t, [&](auto tag) -> Status {
      using T = decltype(tag);
      using R = std::conditional_t<kResult == BinaryResult::kBoolResult, uint8_t, T>;
      auto run = [&](auto exponent_tag) -> Status {
        using E = decltype(exponent_tag);
        TypedMath<T> m;
        Fold<T, E, R>(in, out[0], [&](T a, E b) { return forward(m, a, b, a0); });
        if (m.divided_by_zero && out[0].num_elements() > 0) return InvalidArgument("integer division by zero");
        return Status::Ok();
      };
      if constexpr (kTypes == BinaryTypes::kNumericAnyExponent) {
        return DispatchNumeric(in[1].dtype, run);
      } else {
        return run(T{});
      }
    });
  };
}

}  // namespace
}  // namespace kiln::runtime::ref

namespace kiln::runtime {

void RegisterReferenceBinaryKernels(KernelRegistry& r) {
  using ref::RegisterRef;
  using ref::RowKernel;
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, doc, forward, ...) \
  RegisterRef(r, #Name, BinaryArity::arity == BinaryArity::kTwo ? 2 : 1, 1,                    \
              RowKernel<BinaryTypes::types, BinaryResult::result>(                             \
                  attr, attr_default, [](auto& m, auto a, auto b, [[maybe_unused]] int64_t a0) { return forward; }));
#include "ir/core/ops/binary.def"
#undef BINARY
}

}  // namespace kiln::runtime
