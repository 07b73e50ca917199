// Reference kernels that produce values of a chosen dtype: Cast (between every
// dtype of ir/core/dtypes.def), Constant and ConstantOfShape.
#include <cmath>
#include <cstring>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime::ref {
namespace {

using Refs = std::vector<TensorRef>;

// The value of element i in a type that holds it exactly: the integer itself, double for floats.
template <typename From>
auto Load(const typename From::Storage* p, int64_t i) {
  if constexpr (From::kind == DTypeKind::kBool) {
    return static_cast<int64_t>(p[i] != 0);
  } else if constexpr (From::kind == DTypeKind::kHalf) {
    return static_cast<double>(Float16BitsToFloat(From::dtype, p[i]));
  } else if constexpr (From::kind == DTypeKind::kFloat) {
    return static_cast<double>(p[i]);
  } else {
    return p[i];
  }
}

template <typename To, typename V>
typename To::Storage Store(V v) {
  using S = typename To::Storage;
  if constexpr (To::kind == DTypeKind::kBool) {
    return v != 0 ? 1 : 0;
  } else if constexpr (To::kind == DTypeKind::kHalf) {
    return FloatToFloat16Bits(To::dtype, static_cast<float>(v));
  } else if constexpr (std::is_floating_point_v<V> && std::is_integral_v<S>) {
    return FromDouble<S>(v);  // saturating: an out-of-range float -> int conversion is undefined in C++
  } else {
    return static_cast<S>(v);  // integer -> integer wraps like numpy's astype
  }
}

Status ConvertElements(const TensorRef& in, const TensorRef& out) {
  if (in.num_elements() != out.num_elements()) {
    return InvalidArgument("output ", DimsToString(out.dims), " does not match the input ", DimsToString(in.dims));
  }
  return DispatchAllTypes(in.dtype, [&](auto from_tag) {
    using From = decltype(from_tag);
    return DispatchAllTypes(out.dtype, [&](auto to_tag) {
      using To = decltype(to_tag);
      const auto* x = static_cast<const typename From::Storage*>(in.data);
      auto* y = static_cast<typename To::Storage*>(out.data);
      for (int64_t i = 0; i < out.num_elements(); ++i) y[i] = Store<To>(Load<From>(x, i));
      return Status::Ok();
    });
  });
}

Status CastKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (spec.attrs.Has("to")) {
    ASSIGN_OR_RETURN(DType to, DTypeFromOnnx(spec.attrs.GetInt("to", 0)));
    if (to != out[0].dtype) {
      return InvalidArgument("output type ", DTypeName(out[0].dtype), " does not match to=", DTypeName(to));
    }
  }
  return ConvertElements(in[0], out[0]);
}

// Constant: exactly one of value / value_float(s) / value_int(s).
Status ConstantKernel(const KernelSpec& spec, const Refs&, const Refs& out) {
  Tensor value;
  const Attrs& a = spec.attrs;
  if (const proto::Tensor* t = a.GetTensor("value")) {
    ASSIGN_OR_RETURN(value, Tensor::FromProto(*t));
  } else if (a.Has("value_float")) {
    value = Tensor::FromVector<float>(proto::DT_FLOAT, {}, {a.GetFloat("value_float", 0)});
  } else if (a.Has("value_floats")) {
    const std::vector<float> v = a.GetFloats("value_floats");
    value = Tensor::FromVector(proto::DT_FLOAT, {static_cast<int64_t>(v.size())}, v);
  } else if (a.Has("value_int")) {
    value = Tensor::FromVector<int64_t>(proto::DT_INT64, {}, {a.GetInt("value_int", 0)});
  } else if (a.Has("value_ints")) {
    const std::vector<int64_t> v = a.GetInts("value_ints");
    value = Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(v.size())}, v);
  } else {
    return InvalidArgument("needs one of value, value_float, value_floats, value_int, value_ints");
  }
  if (value.dtype() != out[0].dtype || value.num_elements() != out[0].num_elements()) {
    return InvalidArgument("value ", DTypeName(value.dtype()), DimsToString(value.dims()),
                           " does not match the output ", DTypeName(out[0].dtype), DimsToString(out[0].dims));
  }
  if (value.num_bytes() > 0) std::memcpy(out[0].data, value.data(), value.num_bytes());
  return Status::Ok();
}

// ConstantOfShape: the output (dims from the shape input) filled with 'value' (default float 0).
Status ConstantOfShapeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadInts(in[0], "shape"));
  if (Dims(shape) != out[0].dims) {
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " differs from the shape input ",
                           DimsToString(shape));
  }
  Tensor value = Tensor::FromVector<float>(proto::DT_FLOAT, {1}, {0.0f});
  if (const proto::Tensor* t = spec.attrs.GetTensor("value")) {
    ASSIGN_OR_RETURN(value, Tensor::FromProto(*t));
  }
  if (value.num_elements() != 1) return InvalidArgument("value must hold one element");
  if (value.dtype() != out[0].dtype) {
    return InvalidArgument("value type ", DTypeName(value.dtype()), " differs from the output's ",
                           DTypeName(out[0].dtype));
  }
  const int64_t es = DTypeSize(out[0].dtype);
  auto* y = static_cast<uint8_t*>(out[0].data);
  for (int64_t i = 0; i < out[0].num_elements(); ++i) std::memcpy(y + i * es, value.data(), es);
  return Status::Ok();
}

}  // namespace

void RegisterCastKernels(KernelRegistry& r) {
  RegisterRef(r, "Cast", 1, 1, CastKernel, HalfMode::kNative);
  RegisterRef(r, "CastLike", 2, 1, CastKernel, HalfMode::kNative);  // to = the output's (input 1's) type
  RegisterRef(r, "Constant", 0, 1, ConstantKernel, HalfMode::kNative);
  RegisterRef(r, "ConstantOfShape", 1, 1, ConstantOfShapeKernel, HalfMode::kNative);
}

}  // namespace kiln::runtime::ref
