#include "ir/core/onnx_tensor.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <cstring>

#include "ir/core/shape_util.h"

namespace kiln {
namespace {

Status CheckCount(int64_t have, int64_t want, const char* field, const std::string& what, const Dims& dims) {
  if (have == want) return Status::Ok();
  return InvalidArgument(what, ": ", field, " holds ", have, " values but shape ", DimsToString(dims), " needs ", want);
}

// int32_data / uint64_data carry the smaller types one value per entry (16-bit floats as their
// bit patterns, bool as 0/1): narrowed to the element's storage type.
template <typename Storage, DTypeKind kind, typename F>
void CopyNarrowedAs(const OnnxTensorFields::View<F>& field, Tensor& out) {
  Storage* dst = out.mutable_data_as<Storage>();
  for (int64_t i = 0; i < field.size; ++i) {
    dst[i] = kind == DTypeKind::kBool ? field.data[i] != 0 : static_cast<Storage>(field.data[i]);
  }
}

template <typename F>
void CopyNarrowed(const OnnxTensorFields::View<F>& field, Tensor& out) {
  switch (out.dtype()) {
#define DTYPE(ENUM, name, onnx, Storage, kind, npy) \
  case proto::DT_##ENUM:                            \
    return CopyNarrowedAs<Storage, DTypeKind::kind>(field, out);
#include "ir/core/dtypes.def"
#undef DTYPE
    default: return;
  }
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
  switch (dtype) {
    case proto::DT_FLOAT:
      RETURN_IF_ERROR(CheckCount(f.float_data.size, count, "float_data", what, dims));
      return CopyExact(dtype, dims, f.float_data);
    case proto::DT_DOUBLE:
      RETURN_IF_ERROR(CheckCount(f.double_data.size, count, "double_data", what, dims));
      return CopyExact(dtype, dims, f.double_data);
    case proto::DT_INT64:
      RETURN_IF_ERROR(CheckCount(f.int64_data.size, count, "int64_data", what, dims));
      return CopyExact(dtype, dims, f.int64_data);
    case proto::DT_UINT64:
      RETURN_IF_ERROR(CheckCount(f.uint64_data.size, count, "uint64_data", what, dims));
      return CopyExact(dtype, dims, f.uint64_data);
    default: break;
  }
  // The count is checked before allocating: a tiny file may claim a huge shape.
  const bool wide = dtype == proto::DT_UINT32;
  RETURN_IF_ERROR(wide ? CheckCount(f.uint64_data.size, count, "uint64_data", what, dims)
                       : CheckCount(f.int32_data.size, count, "int32_data", what, dims));
  Tensor t(dtype, dims);
  if (wide) {
    CopyNarrowed(f.uint64_data, t);
  } else {
    CopyNarrowed(f.int32_data, t);
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

bool ReadUint64(CodedInputStream& in, uint64_t* v) { return in.ReadVarint64(v); }

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
// int64_data 7, name 8, raw_data 9, double_data 10, uint64_data 11, external_data 13, data_location 14.
StatusOr<Tensor> ParseOnnxTensor(const std::string& bytes, const std::string& source) {
  CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  OnnxTensorFields f;
  std::vector<float> float_data;
  std::vector<double> double_data;
  std::vector<int64_t> int64_data;
  std::vector<int32_t> int32_data;
  std::vector<uint64_t> uint64_data;
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
      case 11: ok = ReadRepeated(in, tag, &uint64_data, ReadUint64); break;
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
  f.uint64_data = ViewOf(uint64_data);
  return TensorFromOnnxFields(f, source);
}

}  // namespace kiln
