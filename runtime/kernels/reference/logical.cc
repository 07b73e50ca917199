// Reference kernels of Not, Where, BitCast, Size, Range, IsInf and IsNaN (ir/core/ops/logical.cc):
// templated over the element type, numpy broadcasting through BroadcastIndexer.
#include <cmath>
#include <cstring>

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

Status CheckOutput(const TensorRef& out, DType dtype, const Refs& in) {
  if (out.dtype != dtype) return InvalidArgument("output type ", DTypeName(out.dtype), ", expected ", DTypeName(dtype));
  for (const TensorRef& t : in) {
    if (!BroadcastDims(t.dims, out.dims).ok() || BroadcastDims(t.dims, out.dims).value() != out.dims) {
      return InvalidArgument("input shape ", DimsToString(t.dims), " does not broadcast to ", DimsToString(out.dims));
    }
  }
  return Status::Ok();
}

// Not: bool in, bool out.
Status NotKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (in[0].dtype != proto::DT_BOOL) return InvalidArgument("input must be bool, got ", DTypeName(in[0].dtype));
  RETURN_IF_ERROR(CheckOutput(out[0], proto::DT_BOOL, in));
  if (in[0].num_elements() != out[0].num_elements()) return InvalidArgument("output size differs from the input's");
  for (int64_t i = 0; i < out[0].num_elements(); ++i) out[0].as<uint8_t>()[i] = in[0].as<uint8_t>()[i] ? 0 : 1;
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
    const int64_t n = out[0].num_elements();
    // Each input whole or one value (HF attention's Where(IsNaN(p), 0, p) over [1, 12, 128,
    // 128]): a plain loop, 0.5 instead of 11 ns an element.
    auto step = [&](const TensorRef& t, const BroadcastIndexer& at) -> int64_t {
      return at.identity() ? 1 : t.num_elements() == 1 ? 0 : -1;
    };
    const int64_t sc = step(in[0], ic), sx = step(in[1], ix), sy = step(in[2], iy);
    if (sc >= 0 && sx >= 0 && sy >= 0) {
      for (int64_t i = 0; i < n; ++i) z[i] = c[i * sc] ? x[i * sx] : y[i * sy];
      return Status::Ok();
    }
    for (int64_t i = 0; i < n; ++i) z[i] = c[ic(i)] ? x[ix(i)] : y[iy(i)];
    return Status::Ok();
  });
}

// BitCast: the bytes as they are (shape inference checked the sizes match).
Status BitCastKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (in[0].num_bytes() != out[0].num_bytes()) return InvalidArgument("input and output sizes differ");
  if (out[0].num_bytes() > 0) std::memcpy(out[0].data, in[0].data, static_cast<size_t>(out[0].num_bytes()));
  return Status::Ok();
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

// IsInf, IsNaN: a float input (16-bit floats arrive widened), bool out.
template <typename Pred>
Status ClassifyKernel(const Refs& in, const Refs& out, Pred pred) {
  RETURN_IF_ERROR(CheckOutput(out[0], proto::DT_BOOL, in));
  if (in[0].num_elements() != out[0].num_elements()) return InvalidArgument("output size differs from the input's");
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    uint8_t* y = out[0].as<uint8_t>();
    const int64_t n = out[0].num_elements();  // hoisted: the loop vectorizes
    for (int64_t i = 0; i < n; ++i) y[i] = pred(x[i]) ? 1 : 0;
    return Status::Ok();
  });
}

Status IsInfKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const bool negative = spec.attrs.GetInt("detect_negative", 1) != 0;
  const bool positive = spec.attrs.GetInt("detect_positive", 1) != 0;
  return ClassifyKernel(in, out, [&](auto x) { return std::isinf(x) && (x > 0 ? positive : negative); });
}

Status IsNaNKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  return ClassifyKernel(in, out, [](auto x) { return std::isnan(x); });
}

// EyeLike: zeros, then ones on diagonal k (the input's values are not read).
Status EyeLikeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& dims = out[0].dims;
  if (dims.size() != 2 || in[0].dims != dims) return InvalidArgument("input and output must have one 2-D shape");
  const int64_t k = spec.attrs.GetInt("k", 0);
  if (out[0].num_bytes() > 0) std::memset(out[0].data, 0, out[0].num_bytes());
  auto set_ones = [&](auto one) {
    using T = decltype(one);
    for (int64_t row = 0; row < dims[0]; ++row) {
      const int64_t col = row + k;  // k is any int64: compare before indexing
      if (k >= dims[1] || k <= -dims[0] || col < 0 || col >= dims[1]) continue;
      out[0].as<T>()[row * dims[1] + col] = one;
    }
    return Status::Ok();
  };
  if (out[0].dtype == proto::DT_BOOL) return set_ones(uint8_t{1});
  return DispatchNumeric(out[0].dtype, [&](auto tag) { return set_ones(static_cast<decltype(tag)>(1)); });
}

}  // namespace

void RegisterReferenceLogicalKernels(KernelRegistry& r) {
  // Equal, Less, ..., And, Or, Xor, Mod: ir/core/ops/binary.def (binary.cc).
  RegisterRef(r, "Not", 1, 1, NotKernel, HalfMode::kNative);
  RegisterRef(r, "Where", 3, 1, WhereKernel, HalfMode::kNative);
  RegisterRef(r, "BitCast", 1, 1, BitCastKernel, HalfMode::kNative);
  RegisterRef(r, "Size", 1, 1, SizeKernel, HalfMode::kNative);
  RegisterRef(r, "EyeLike", 1, 1, EyeLikeKernel);
  RegisterRef(r, "Range", 3, 1, RangeKernel);
  RegisterRef(r, "IsInf", 1, 1, IsInfKernel);
  RegisterRef(r, "IsNaN", 1, 1, IsNaNKernel);
}

}  // namespace kiln::runtime
