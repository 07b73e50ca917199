// Reference kernels of CenterCropPad, Compress and Unique (ir/core/ops/value_shaped.h).
// Elements are moved by size (every dtype); Unique compares values (16-bit floats widened).
#include "ir/core/ops/value_shaped.h"

#include <cstring>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::HalfMode;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

// Output cell -> input cell: the centred offset per dim (crop: input starts later; pad: output
// starts later); outside the input the output is zero.
Status CenterCropPadKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  const Dims &x = in[0].dims, &y = out[0].dims;
  if (x.size() != y.size() || out[0].dtype != in[0].dtype) return InvalidArgument("input and output ranks differ");
  const int64_t size = DTypeSize(in[0].dtype);
  Dims shift(x.size());  // input index = output index + shift
  for (size_t d = 0; d < x.size(); ++d) shift[d] = x[d] >= y[d] ? (x[d] - y[d]) / 2 : -((y[d] - x[d]) / 2);
  if (out[0].num_bytes() > 0) std::memset(out[0].data, 0, out[0].num_bytes());
  const auto* src = static_cast<const uint8_t*>(in[0].data);
  auto* dst = static_cast<uint8_t*>(out[0].data);
  Dims index;
  for (int64_t o = 0; o < out[0].num_elements(); ++o) {
    ref::Unflatten(o, y, &index);
    int64_t from = 0;
    bool inside = true;
    for (size_t d = 0; d < x.size() && inside; ++d) {
      const int64_t i = index[d] + shift[d];
      inside = i >= 0 && i < x[d];
      from = from * x[d] + i;
    }
    if (inside) std::memcpy(dst + o * size, src + from * size, size);
  }
  return Status::Ok();
}

Status CompressKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (in[1].dtype != proto::DT_BOOL || out[0].dtype != in[0].dtype) return InvalidArgument("condition must be bool");
  int64_t axis = -1;
  if (spec.attrs.Has("axis")) {
    if (x.empty()) return InvalidArgument("axis needs an input of rank >= 1, got a scalar");
    ASSIGN_OR_RETURN(axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), x.size()));
  }
  const auto [outer, length, inner] = unique::SliceAlong(x, axis);
  const int64_t n = std::min(in[1].num_elements(), length);
  int64_t kept = 0;
  for (int64_t j = 0; j < n; ++j) kept += in[1].as<uint8_t>()[j] != 0;
  if (out[0].num_elements() != outer * kept * inner) return InvalidArgument("output has the wrong size");
  const int64_t row = inner * DTypeSize(in[0].dtype);
  const auto* src = static_cast<const uint8_t*>(in[0].data);
  auto* dst = static_cast<uint8_t*>(out[0].data);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t j = 0; j < n; ++j) {
      if (!in[1].as<uint8_t>()[j]) continue;
      std::memcpy(dst, src + (o * length + j) * row, row);
      dst += row;
    }
  }
  return Status::Ok();
}

Status UniqueKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  int64_t axis = -1;
  if (spec.attrs.Has("axis")) {
    if (x.empty()) return InvalidArgument("axis needs an input of rank >= 1, got a scalar");
    ASSIGN_OR_RETURN(axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), x.size()));
  }
  const bool sorted = spec.attrs.GetInt("sorted", 1) != 0;
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    const unique::Result r = unique::Find<T>(in[0].as<T>(), x, axis, sorted);
    const int64_t k = static_cast<int64_t>(r.first.size());
    const auto [outer, n, inner] = unique::SliceAlong(x, axis);
    if (out[0].dtype != in[0].dtype || out[0].num_elements() != outer * k * inner) {
      return InvalidArgument("Y has the wrong size for ", k, " unique values");
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t p = 0; p < k; ++p) {
        for (int64_t i = 0; i < inner; ++i) {
          out[0].as<T>()[(o * k + p) * inner + i] = in[0].as<T>()[(o * n + r.first[p]) * inner + i];
        }
      }
    }
    const std::vector<int64_t>* extra[] = {&r.first, &r.inverse, &r.counts};
    for (int i = 1; i < 4; ++i) {
      if (!ref::HasOutput(out, i)) continue;
      const std::vector<int64_t>& v = *extra[i - 1];
      if (out[i].dtype != proto::DT_INT64 || out[i].num_elements() != static_cast<int64_t>(v.size())) {
        return InvalidArgument("output ", i, " must be int64 of ", v.size(), " values");
      }
      if (!v.empty()) std::memcpy(out[i].data, v.data(), v.size() * sizeof(int64_t));
    }
    return Status::Ok();
  };
  if (in[0].dtype == proto::DT_BOOL) return run(uint8_t{});
  return ref::DispatchNumeric(in[0].dtype, run);
}

}  // namespace

void RegisterReferenceValueShapedKernels(KernelRegistry& r) {
  RegisterRef(r, "CenterCropPad", 2, 1, CenterCropPadKernel, HalfMode::kNative);
  RegisterRef(r, "Compress", 2, 1, CompressKernel, HalfMode::kNative);
  RegisterRef(r, "Unique", 1, 1, UniqueKernel);  // 16-bit floats compared as float32
}

}  // namespace kiln::runtime
