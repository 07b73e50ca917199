#include "ir/core/onnx_tensor.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <cstring>

#include "ir/core/shape_util.h"

namespace kiln {
namespace {

// TensorProto.DataType numbers this file reads by name.
enum OnnxType : int32_t {
  kFloat = 1,
  kUint8 = 2,
  kInt8 = 3,
  kInt32 = 6,
  kInt64 = 7,
  kBool = 9,
  kFloat16 = 10,
  kDouble = 11
};

Status CheckCount(int64_t have, int64_t want, const char* field, const std::string& what, const Dims& dims) {
  if (have == want) return Status::Ok();
  return InvalidArgument(what, ": ", field, " holds ", have, " values but shape ", DimsToString(dims), " needs ", want);
}

// int32_data carries int8/uint8/bool/float16 one value per entry: narrowed to T.
template <typename T>
void CopyNarrowed(const OnnxTensorFields::View<int32_t>& field, Tensor& out) {
  T* dst = out.mutable_data_as<T>();
  for (int64_t i = 0; i < field.size; ++i) dst[i] = static_cast<T>(field.data[i]);
}

template <typename T>
Tensor CopyExact(DType dtype, const Dims& dims, const OnnxTensorFields::View<T>& field) {
  Tensor t(dtype, dims);
  if (field.size) std::memcpy(t.MutableData(), field.data, static_cast<size_t>(field.size) * sizeof(T));
  return t;
}

}  // namespace

StatusOr<Tensor> TensorFromOnnxFields(const OnnxTensorFields& f, const std::string& what) {
  if (f.external) {
    return Unimplemented(what, ": external tensor data is not supported (store the weights inside the model)");
  }
  if (f.segmented) return Unimplemented(what, ": segmented tensors are not supported");
  auto dtype_or = DTypeFromOnnx(f.data_type);
  if (!dtype_or.ok()) return dtype_or.status().WithContext(what);
  const DType dtype = *dtype_or;
  const Dims& dims = f.dims;
  auto count_or = CheckedElementCount(dims);
  if (!count_or.ok()) return count_or.status().WithContext(what);
  const int64_t count = *count_or;

  if (f.has_raw_data) {
    auto t = Tensor::FromBytes(dtype, dims, f.raw_data.data, static_cast<size_t>(f.raw_data.size));
    if (!t.ok()) return t.status().WithContext(what);
    return t;
  }
  // Typed fields: exactly the one that matches the data type must hold `count` values.
  switch (f.data_type) {
    case kFloat:
      RETURN_IF_ERROR(CheckCount(f.float_data.size, count, "float_data", what, dims));
      return CopyExact(dtype, dims, f.float_data);
    case kDouble:
      RETURN_IF_ERROR(CheckCount(f.double_data.size, count, "double_data", what, dims));
      return CopyExact(dtype, dims, f.double_data);
    case kInt64:
      RETURN_IF_ERROR(CheckCount(f.int64_data.size, count, "int64_data", what, dims));
      return CopyExact(dtype, dims, f.int64_data);
    default: break;
  }
  RETURN_IF_ERROR(CheckCount(f.int32_data.size, count, "int32_data", what, dims));
  Tensor t(dtype, dims);
  switch (f.data_type) {
    case kInt32: CopyNarrowed<int32_t>(f.int32_data, t); break;
    case kInt8: CopyNarrowed<int8_t>(f.int32_data, t); break;
    case kUint8: CopyNarrowed<uint8_t>(f.int32_data, t); break;
    case kFloat16: CopyNarrowed<uint16_t>(f.int32_data, t); break;  // the raw 16-bit patterns
    case kBool: {
      uint8_t* dst = t.mutable_data_as<uint8_t>();
      for (int64_t i = 0; i < count; ++i) dst[i] = f.int32_data.data[i] != 0;
      break;
    }
    default: return Unimplemented(what, ": ONNX data type ", f.data_type, " is not supported");
  }
  return t;
}

namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

// One value, or a packed run of them.
template <typename T, typename Read>
bool ReadRepeated(CodedInputStream& in, uint32_t tag, std::vector<T>* out, Read read) {
  if (WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
    uint32_t length;
    if (!in.ReadVarint32(&length)) return false;
    const auto limit = in.PushLimit(static_cast<int>(length));
    while (in.BytesUntilLimit() > 0) {
      T v;
      if (!read(in, &v)) return false;
      out->push_back(v);
    }
    in.PopLimit(limit);
    return true;
  }
  T v;
  if (!read(in, &v)) return false;
  out->push_back(v);
  return true;
}

bool ReadInt64(CodedInputStream& in, int64_t* v) {
  uint64_t u;
  if (!in.ReadVarint64(&u)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}

bool ReadInt32(CodedInputStream& in, int32_t* v) {
  uint64_t u;  // negative int32 values are 10-byte varints
  if (!in.ReadVarint64(&u)) return false;
  *v = static_cast<int32_t>(u);
  return true;
}

bool ReadFloat(CodedInputStream& in, float* v) {
  uint32_t u;
  if (!in.ReadLittleEndian32(&u)) return false;
  std::memcpy(v, &u, 4);
  return true;
}

bool ReadDouble(CodedInputStream& in, double* v) {
  uint64_t u;
  if (!in.ReadLittleEndian64(&u)) return false;
  std::memcpy(v, &u, 8);
  return true;
}

template <typename T>
OnnxTensorFields::View<T> ViewOf(const std::vector<T>& v) {
  return {v.data(), static_cast<int64_t>(v.size())};
}

}  // namespace

// TensorProto fields: dims 1, data_type 2, segment 3, float_data 4, int32_data 5,
// int64_data 7, name 8, raw_data 9, double_data 10, external_data 13, data_location 14.
StatusOr<Tensor> ParseOnnxTensor(const std::string& bytes, const std::string& source) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  OnnxTensorFields f;
  std::vector<float> float_data;
  std::vector<double> double_data;
  std::vector<int64_t> int64_data;
  std::vector<int32_t> int32_data;
  std::string raw;
  const Status corrupt = InvalidArgument(source, ": not a valid ONNX TensorProto (truncated or corrupt protobuf)");
  while (uint32_t tag = in.ReadTag()) {
    bool ok = true;
    switch (WireFormatLite::GetTagFieldNumber(tag)) {
      case 1: ok = ReadRepeated(in, tag, &f.dims, ReadInt64); break;
      case 2: ok = ReadInt32(in, &f.data_type); break;
      case 3:
        f.segmented = true;
        ok = WireFormatLite::SkipField(&in, tag);
        break;
      case 4: ok = ReadRepeated(in, tag, &float_data, ReadFloat); break;
      case 5: ok = ReadRepeated(in, tag, &int32_data, ReadInt32); break;
      case 7: ok = ReadRepeated(in, tag, &int64_data, ReadInt64); break;
      case 9: {
        uint32_t length;
        ok = in.ReadVarint32(&length) && in.ReadString(&raw, static_cast<int>(length));
        f.has_raw_data = true;
        break;
      }
      case 10: ok = ReadRepeated(in, tag, &double_data, ReadDouble); break;
      case 13:
        f.external = true;
        ok = WireFormatLite::SkipField(&in, tag);
        break;
      case 14: {
        int32_t location = 0;
        ok = ReadInt32(in, &location);
        f.external = f.external || location == 1;  // EXTERNAL
        break;
      }
      default: ok = WireFormatLite::SkipField(&in, tag); break;
    }
    if (!ok) return corrupt;
  }
  if (!in.ConsumedEntireMessage()) return corrupt;
  f.raw_data = {raw.data(), static_cast<int64_t>(raw.size())};
  f.float_data = ViewOf(float_data);
  f.double_data = ViewOf(double_data);
  f.int64_data = ViewOf(int64_data);
  f.int32_data = ViewOf(int32_data);
  return TensorFromOnnxFields(f, source);
}

}  // namespace kiln
