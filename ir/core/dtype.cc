#include "ir/core/dtype.h"

#include <cmath>
#include <cstring>
#include <iterator>
#include <limits>
#include <sstream>

namespace kiln {

const std::vector<DTypeInfo>& DTypeTable() {
  static const std::vector<DTypeInfo> rows = {
#define DTYPE(ENUM, name, onnx, Storage, kind, npy) \
  {proto::DT_##ENUM, name, onnx, static_cast<int64_t>(sizeof(Storage)), DTypeKind::kind, npy, #Storage},
#include "ir/core/dtypes.def"
#undef DTYPE
  };
  return rows;
}

const DTypeInfo* FindDType(DType dtype) {
  for (const DTypeInfo& row : DTypeTable()) {
    if (row.dtype == dtype) return &row;
  }
  return nullptr;
}

int64_t DTypeSize(DType dtype) {
  const DTypeInfo* row = FindDType(dtype);
  return row ? row->size : 0;
}

std::string DTypeName(DType dtype) {
  const DTypeInfo* row = FindDType(dtype);
  return row ? row->name : "undefined";
}

StatusOr<DType> ParseDType(const std::string& name) {
  for (const DTypeInfo& row : DTypeTable()) {
    if (name == row.name) return row.dtype;
  }
  if (name == "float") return proto::DT_FLOAT;
  if (name == "double") return proto::DT_DOUBLE;
  return InvalidArgument("unknown data type '", name, "'");
}

std::string OnnxDTypeName(int64_t onnx_type) {
  // TensorProto.DataType's names (onnx.proto), also those of the types Kiln lacks, for messages.
  static const char* const kNames[] = {
      "UNDEFINED", "FLOAT",      "UINT8",      "INT8",         "UINT16",         "INT16",      "INT32",
      "INT64",     "STRING",     "BOOL",       "FLOAT16",      "DOUBLE",         "UINT32",     "UINT64",
      "COMPLEX64", "COMPLEX128", "BFLOAT16",   "FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ",
      "UINT4",     "INT4",       "FLOAT4E2M1", "FLOAT8E8M0",   "UINT2",          "INT2"};
  if (onnx_type >= 0 && onnx_type < static_cast<int64_t>(std::size(kNames))) return kNames[onnx_type];
  return "type " + std::to_string(onnx_type);
}

StatusOr<DType> DTypeFromOnnx(int64_t onnx_type) {
  for (const DTypeInfo& row : DTypeTable()) {
    if (row.onnx == onnx_type) return row.dtype;
  }
  std::string supported;
  for (const DTypeInfo& row : DTypeTable()) supported += (supported.empty() ? "" : ", ") + std::string(row.name);
  return Unimplemented("unsupported dtype ", OnnxDTypeName(onnx_type), " (ONNX data type ", onnx_type,
                       "; Kiln supports ", supported, ")");
}

int DTypeToOnnx(DType dtype) {
  const DTypeInfo* row = FindDType(dtype);
  return row ? row->onnx : 0;
}

bool IsFloatingType(DType dtype) {
  const DTypeInfo* row = FindDType(dtype);
  return row && (row->kind == DTypeKind::kFloat || row->kind == DTypeKind::kHalf);
}

bool IsIntegerType(DType dtype) {
  const DTypeInfo* row = FindDType(dtype);
  return row && (row->kind == DTypeKind::kSigned || row->kind == DTypeKind::kUnsigned);
}

bool IsSignedIntegerType(DType dtype) {
  const DTypeInfo* row = FindDType(dtype);
  return row && row->kind == DTypeKind::kSigned;
}

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

// bfloat16 is the top half of a float32.
float BFloat16ToFloat(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint16_t FloatToBFloat16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if (std::isnan(f)) return static_cast<uint16_t>((bits >> 16) | 0x40u);  // stays a (quiet) NaN
  // Round to nearest even on the 16 dropped bits; a carry into the exponent is the right result.
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

float Float16BitsToFloat(DType dtype, uint16_t bits) {
  return dtype == proto::DT_BFLOAT16 ? BFloat16ToFloat(bits) : HalfToFloat(bits);
}

uint16_t FloatToFloat16Bits(DType dtype, float f) {
  return dtype == proto::DT_BFLOAT16 ? FloatToBFloat16(f) : FloatToHalf(f);
}

namespace {

// One stored element of a dtype of kind K as double.
template <DTypeKind K, typename Storage>
double StoredToDouble(DType dtype, Storage v) {
  if constexpr (K == DTypeKind::kHalf) return Float16BitsToFloat(dtype, v);
  if constexpr (K == DTypeKind::kBool) return v != 0 ? 1.0 : 0.0;
  return static_cast<double>(v);
}

}  // namespace

double ElementToDouble(DType dtype, const void* data, int64_t i) {
  switch (dtype) {
#define DTYPE(ENUM, name, onnx, Storage, kind, npy) \
  case proto::DT_##ENUM:                            \
    return StoredToDouble<DTypeKind::kind>(dtype, static_cast<const Storage*>(data)[i]);
#include "ir/core/dtypes.def"
#undef DTYPE
    default: return 0.0;
  }
}

int64_t ElementToInt64(DType dtype, const void* data, int64_t i) {
  if (IsFloatingType(dtype)) {
    const double v = ElementToDouble(dtype, data, i);
    if (v != v) return 0;
    if (v <= -9223372036854775808.0) return std::numeric_limits<int64_t>::min();
    if (v >= 9223372036854775808.0) return std::numeric_limits<int64_t>::max();
    return static_cast<int64_t>(v);
  }
  switch (dtype) {
#define DTYPE(ENUM, name, onnx, Storage, kind, npy) \
  case proto::DT_##ENUM:                            \
    return static_cast<int64_t>(static_cast<const Storage*>(data)[i]);
#include "ir/core/dtypes.def"
#undef DTYPE
    default: return 0;
  }
}

StatusOr<int64_t> CheckedElementCount(const Dims& dims) {
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) return InvalidArgument("negative dimension in shape ", DimsToString(dims));
    if (d == 0) return int64_t{0};
  }
  for (int64_t d : dims) {
    if (count > kMaxTensorElements / d) {
      return InvalidArgument("shape ", DimsToString(dims), " has more than 2^34 elements");
    }
    count *= d;
  }
  return count;
}

int64_t ElementCount(const Dims& dims) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  return count;
}

std::string DimsToString(const Dims& dims) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << "]";
  return os.str();
}

Dims RowMajorStrides(const Dims& dims) {
  Dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  return strides;
}

}  // namespace kiln
