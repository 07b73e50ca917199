#include "runtime/kernels/reference/ref_util.h"

#include <cmath>

#include "ir/core/shape_util.h"

namespace kiln::runtime::ref {

// IEEE half <-> float, round to nearest even; enough for a reference Cast.
float HalfToFloat(uint16_t h) {
  const uint32_t sign = (h & 0x8000u) << 16;
  const int exp = (h >> 10) & 0x1f;
  const uint32_t mant = h & 0x3ffu;
  float value;
  if (exp == 0) {
    value = std::ldexp(static_cast<float>(mant), -24);  // zero / subnormal
  } else if (exp == 31) {
    value = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  } else {
    value = std::ldexp(static_cast<float>(mant | 0x400u), exp - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  bits |= sign;
  std::memcpy(&value, &bits, 4);
  return value;
}

uint16_t FloatToHalf(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  const uint16_t sign = static_cast<uint16_t>((bits >> 16) & 0x8000u);
  const float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00u;
  if (a >= 65520.0f) return sign | 0x7c00u;  // rounds to infinity
  if (a < std::ldexp(1.0f, -14)) {           // subnormal half: multiples of 2^-24
    return sign | static_cast<uint16_t>(std::nearbyint(std::ldexp(a, 24)));
  }
  int exp;
  const float m = std::frexp(a, &exp);  // a = m * 2^exp, m in [0.5, 1)
  // 11 significant bits: round m * 2^11 to nearest even; a carry to 2^11 bumps the exponent.
  uint32_t sig = static_cast<uint32_t>(std::nearbyint(std::ldexp(m, 11)));
  if (sig == 0x800u) {
    sig = 0x400u;
    ++exp;
  }
  const uint32_t biased = static_cast<uint32_t>(exp - 1 + 15);
  if (biased >= 31) return sign | 0x7c00u;
  return sign | static_cast<uint16_t>((biased << 10) | (sig & 0x3ffu));
}

StatusOr<std::vector<int64_t>> ReadInts(const TensorRef& t, const char* what) {
  std::vector<int64_t> out(static_cast<size_t>(t.num_elements()));
  if (!out.empty() && !t.data) return InvalidArgument(what, " has no data");
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case proto::DT_INT64: out[i] = t.as<int64_t>()[i]; break;
      case proto::DT_INT32: out[i] = t.as<int32_t>()[i]; break;
      case proto::DT_INT8: out[i] = t.as<int8_t>()[i]; break;
      case proto::DT_UINT8: out[i] = t.as<uint8_t>()[i]; break;
      default: return InvalidArgument(what, " has type ", DTypeName(t.dtype), " but must be int64 or int32");
    }
  }
  return out;
}

double ElementAsDouble(const TensorRef& t, int64_t i) {
  switch (t.dtype) {
    case proto::DT_FLOAT: return t.as<float>()[i];
    case proto::DT_DOUBLE: return t.as<double>()[i];
    case proto::DT_INT64: return static_cast<double>(t.as<int64_t>()[i]);
    case proto::DT_INT32: return t.as<int32_t>()[i];
    case proto::DT_INT8: return t.as<int8_t>()[i];
    case proto::DT_UINT8: return t.as<uint8_t>()[i];
    case proto::DT_BOOL: return t.as<uint8_t>()[i] != 0 ? 1.0 : 0.0;
    default: return 0.0;
  }
}

StatusOr<double> ReadScalar(const TensorRef& t, const char* what) {
  if (t.num_elements() != 1) {
    return InvalidArgument(what, " must hold one element, got shape ", DimsToString(t.dims));
  }
  if (!t.data) return InvalidArgument(what, " has no data");
  if (t.dtype == proto::DT_FLOAT16 || t.dtype == proto::DT_UNDEFINED) {
    return InvalidArgument(what, " has unsupported type ", DTypeName(t.dtype));
  }
  return ElementAsDouble(t, 0);
}

Status CheckSameCount(const TensorRef& in, const TensorRef& out) {
  if (in.num_bytes() != out.num_bytes()) {
    return Internal("output ", DTypeName(out.dtype), DimsToString(out.dims), " does not hold the input ",
                    DTypeName(in.dtype), DimsToString(in.dims));
  }
  return Status::Ok();
}

Status CheckBuffers(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out, int min_inputs,
                    int min_outputs) {
  if (static_cast<int>(in.size()) < min_inputs) {
    return InvalidArgument("needs at least ", min_inputs, " inputs, got ", in.size());
  }
  if (static_cast<int>(out.size()) < min_outputs) {
    return InvalidArgument("needs at least ", min_outputs, " outputs, got ", out.size());
  }
  for (int i = 0; i < min_inputs; ++i) {
    if (in[i].dtype == proto::DT_UNDEFINED) return InvalidArgument("input ", i, " is missing");
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].dtype != proto::DT_UNDEFINED && !in[i].data && in[i].num_elements() > 0) {
      return InvalidArgument("input ", i, " has no data");
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].dtype != proto::DT_UNDEFINED && !out[i].data && out[i].num_elements() > 0) {
      return InvalidArgument("output ", i, " has no buffer");
    }
  }
  return Status::Ok();
}

// Runs `fn` on float32 copies of the float16 inputs and outputs (reference math in float16
// is float math rounded once per op, as onnxruntime's CPU kernels do).
Status RunWidened(const SimpleKernelFn& fn, const KernelSpec& spec, const std::vector<TensorRef>& in,
                  const std::vector<TensorRef>& out) {
  std::vector<std::vector<float>> storage;
  storage.reserve(in.size() + out.size());
  auto widen = [&storage](std::vector<TensorRef> refs, bool copy_values) {
    for (TensorRef& t : refs) {
      if (t.dtype != proto::DT_FLOAT16) continue;
      storage.emplace_back(static_cast<size_t>(t.num_elements()));
      if (copy_values) {
        for (int64_t i = 0; i < t.num_elements(); ++i) storage.back()[i] = HalfToFloat(t.as<uint16_t>()[i]);
      }
      t.dtype = proto::DT_FLOAT;
      t.data = storage.back().data();
    }
    return refs;
  };
  KernelSpec wide = spec;
  wide.inputs = widen(in, true);
  wide.outputs = widen(out, false);
  RETURN_IF_ERROR(fn(wide, wide.inputs, wide.outputs));
  for (size_t k = 0; k < out.size(); ++k) {
    if (out[k].dtype != proto::DT_FLOAT16) continue;
    const float* src = wide.outputs[k].as<float>();
    for (int64_t i = 0; i < out[k].num_elements(); ++i) out[k].as<uint16_t>()[i] = FloatToHalf(src[i]);
  }
  return Status::Ok();
}

bool AnyHalf(const std::vector<TensorRef>& refs) {
  for (const TensorRef& t : refs) {
    if (t.dtype == proto::DT_FLOAT16) return true;
  }
  return false;
}

namespace {}  // namespace

void RegisterRef(KernelRegistry& r, const char* op, int min_inputs, int min_outputs, SimpleKernelFn fn, HalfMode half) {
  r.Register(
      "ref", op,
      MakeSimpleKernel([min_inputs, min_outputs, fn, half](const KernelSpec& spec, const std::vector<TensorRef>& in,
                                                           const std::vector<TensorRef>& out) -> Status {
        RETURN_IF_ERROR(CheckBuffers(in, out, min_inputs, min_outputs));
        if (half == HalfMode::kWidenToFloat && (AnyHalf(in) || AnyHalf(out))) {
          return RunWidened(fn, spec, in, out);
        }
        return fn(spec, in, out);
      }));
}

StatusOr<GatherGeometry> ResolveGather(const Dims& data, const TensorRef& indices, int64_t axis) {
  if (data.empty()) return InvalidArgument("data must have rank >= 1");
  GatherGeometry g;
  ASSIGN_OR_RETURN(g.axis, NormalizeAxis(axis, static_cast<int64_t>(data.size())));
  ASSIGN_OR_RETURN(g.indices, ReadInts(indices, "indices"));
  const int64_t size = data[g.axis];
  for (int64_t& v : g.indices) {
    if (v < -size || v >= size) return InvalidArgument("index ", v, " out of range for axis of size ", size);
    if (v < 0) v += size;
  }
  g.gathered.assign(data.begin(), data.begin() + g.axis);
  g.gathered.insert(g.gathered.end(), indices.dims.begin(), indices.dims.end());
  g.gathered.insert(g.gathered.end(), data.begin() + g.axis + 1, data.end());
  return g;
}

}  // namespace kiln::runtime::ref
