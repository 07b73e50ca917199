// Reference kernels of the comparison, logical and selection ops (ir/core/ops/logical.cc):
// templated over the element type, numpy broadcasting through BroadcastIndexer.
#include <cmath>
#include <functional>
#include <type_traits>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/broadcast.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::DispatchBySize;
using ref::DispatchNumeric;
using ref::HalfMode;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

// out[i] = fn(a[...], b[...]) with a and b of type T broadcast to out (of type R).
template <typename T, typename R, typename Fn>
void Broadcast2(const TensorRef& a, const TensorRef& b, const TensorRef& out, Fn fn) {
  BroadcastIndexer ia(a.dims, out.dims), ib(b.dims, out.dims);
  const T* x = a.as<T>();
  const T* y = b.as<T>();
  R* z = out.as<R>();
  for (int64_t i = 0; i < out.num_elements(); ++i) z[i] = fn(x[ia(i)], y[ib(i)]);
}

Status CheckOutput(const TensorRef& out, DType dtype, const Refs& in) {
  if (out.dtype != dtype) return InvalidArgument("output type ", DTypeName(out.dtype), ", expected ", DTypeName(dtype));
  for (const TensorRef& t : in) {
    if (!BroadcastDims(t.dims, out.dims).ok() || BroadcastDims(t.dims, out.dims).value() != out.dims) {
      return InvalidArgument("input shape ", DimsToString(t.dims), " does not broadcast to ", DimsToString(out.dims));
    }
  }
  return Status::Ok();
}

// Comparisons: numeric inputs (Equal: bool too, compared as bytes), bool result.
template <template <typename> class Cmp>
Status CompareKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (in[0].dtype != in[1].dtype) return InvalidArgument("inputs have different types");
  RETURN_IF_ERROR(CheckOutput(out[0], proto::DT_BOOL, {in[0], in[1]}));
  if (in[0].dtype == proto::DT_BOOL) {
    Broadcast2<uint8_t, uint8_t>(in[0], in[1], out[0], [](uint8_t a, uint8_t b) { return Cmp<uint8_t>()(a, b); });
    return Status::Ok();
  }
  return DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    Broadcast2<T, uint8_t>(in[0], in[1], out[0], [](T a, T b) { return static_cast<uint8_t>(Cmp<T>()(a, b)); });
    return Status::Ok();
  });
}

struct LogicalNot {};

template <typename Op>
Status LogicalKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  for (const TensorRef& t : in) {
    if (t.dtype != proto::DT_BOOL) return InvalidArgument("inputs must be bool, got ", DTypeName(t.dtype));
  }
  RETURN_IF_ERROR(CheckOutput(out[0], proto::DT_BOOL, in));
  if constexpr (std::is_same_v<Op, LogicalNot>) {
    if (in[0].num_elements() != out[0].num_elements()) return InvalidArgument("output size differs from the input's");
    for (int64_t i = 0; i < out[0].num_elements(); ++i) out[0].as<uint8_t>()[i] = in[0].as<uint8_t>()[i] ? 0 : 1;
  } else {
    Broadcast2<uint8_t, uint8_t>(in[0], in[1], out[0],
                                 [](uint8_t a, uint8_t b) { return static_cast<uint8_t>(Op()(a != 0, b != 0)); });
  }
  return Status::Ok();
}

// Where: elements moved by size, so every dtype works.
Status WhereKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (in[0].dtype != proto::DT_BOOL) return InvalidArgument("condition must be bool");
  if (in[1].dtype != in[2].dtype) return InvalidArgument("X and Y have different types");
  RETURN_IF_ERROR(CheckOutput(out[0], in[1].dtype, in));
  BroadcastIndexer ic(in[0].dims, out[0].dims), ix(in[1].dims, out[0].dims), iy(in[2].dims, out[0].dims);
  return DispatchBySize(out[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    const uint8_t* c = in[0].as<uint8_t>();
    const U* x = in[1].as<U>();
    const U* y = in[2].as<U>();
    U* z = out[0].as<U>();
    for (int64_t i = 0; i < out[0].num_elements(); ++i) z[i] = c[ic(i)] ? x[ix(i)] : y[iy(i)];
    return Status::Ok();
  });
}

// Mod: fmod=1 is C fmod (the dividend's sign); fmod=0 takes the divisor's sign
// (Python's %). A zero integer divisor gives 0 rather than trapping.
template <typename T>
T ModOf(T a, T b, bool fmod) {
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

Status ModKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (in[0].dtype != in[1].dtype) return InvalidArgument("inputs have different types");
  RETURN_IF_ERROR(CheckOutput(out[0], in[0].dtype, {in[0], in[1]}));
  const bool fmod = spec.attrs.GetInt("fmod", 0) != 0;
  return DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    Broadcast2<T, T>(in[0], in[1], out[0], [fmod](T a, T b) { return ModOf(a, b, fmod); });
    return Status::Ok();
  });
}

Status SizeKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (out[0].dtype != proto::DT_INT64 || out[0].num_elements() != 1) return InvalidArgument("output must be int64[]");
  out[0].as<int64_t>()[0] = in[0].num_elements();
  return Status::Ok();
}

Status RangeKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  for (int i = 0; i < 3; ++i) {
    if (in[i].dtype != out[0].dtype || in[i].num_elements() != 1) {
      return InvalidArgument("input ", i, " must be a scalar of the output's type");
    }
  }
  return DispatchNumeric(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T start = in[0].as<T>()[0], delta = in[2].as<T>()[0];
    // start + i * delta, as ONNX's function body accumulates it.
    T value = start;
    for (int64_t i = 0; i < out[0].num_elements(); ++i, value = static_cast<T>(value + delta))
      out[0].as<T>()[i] = value;
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceLogicalKernels(KernelRegistry& r) {
  RegisterRef(r, "Equal", 2, 1, CompareKernel<std::equal_to>);
  RegisterRef(r, "Less", 2, 1, CompareKernel<std::less>);
  RegisterRef(r, "LessOrEqual", 2, 1, CompareKernel<std::less_equal>);
  RegisterRef(r, "Greater", 2, 1, CompareKernel<std::greater>);
  RegisterRef(r, "GreaterOrEqual", 2, 1, CompareKernel<std::greater_equal>);
  RegisterRef(r, "And", 2, 1, LogicalKernel<std::logical_and<bool>>, HalfMode::kNative);
  RegisterRef(r, "Or", 2, 1, LogicalKernel<std::logical_or<bool>>, HalfMode::kNative);
  RegisterRef(r, "Xor", 2, 1, LogicalKernel<std::not_equal_to<bool>>, HalfMode::kNative);
  RegisterRef(r, "Not", 1, 1, LogicalKernel<LogicalNot>, HalfMode::kNative);
  RegisterRef(r, "Where", 3, 1, WhereKernel, HalfMode::kNative);
  RegisterRef(r, "Mod", 2, 1, ModKernel);
  RegisterRef(r, "Size", 1, 1, SizeKernel, HalfMode::kNative);
  RegisterRef(r, "Range", 3, 1, RangeKernel);
}

}  // namespace kiln::runtime
