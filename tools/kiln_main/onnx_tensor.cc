#include "tools/kiln_main/onnx_tensor.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <cstring>

#include "ir/shape_util.h"

namespace kiln::aot {
namespace {

using google::protobuf::internal::WireFormatLite;

template <typename T, typename Read>
bool ReadRepeated(google::protobuf::io::CodedInputStream& in, uint32_t tag, std::vector<T>* out, Read read) {
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

bool ReadInt64(google::protobuf::io::CodedInputStream& in, int64_t* v) {
  uint64_t u;
  if (!in.ReadVarint64(&u)) return false;
  *v = static_cast<int64_t>(u);
  return true;
}

bool ReadFloat(google::protobuf::io::CodedInputStream& in, float* v) {
  uint32_t u;
  if (!in.ReadLittleEndian32(&u)) return false;
  std::memcpy(v, &u, 4);
  return true;
}

bool ReadDouble(google::protobuf::io::CodedInputStream& in, double* v) {
  uint64_t u;
  if (!in.ReadLittleEndian64(&u)) return false;
  std::memcpy(v, &u, 8);
  return true;
}

}  // namespace

// The fields used: dims (1), data_type (2), float_data (4), int32_data (5), int64_data (7),
// name (8), raw_data (9), double_data (10). Segments and external data are not supported.
StatusOr<Tensor> ParseOnnxTensor(const std::string& bytes, const std::string& source) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  std::vector<int64_t> dims, int64_data, int32_data;
  std::vector<float> float_data;
  std::vector<double> double_data;
  int32_t data_type = 0;
  std::string raw;
  bool has_raw = false;
  const Status corrupt = InvalidArgument(source, ": not a valid ONNX TensorProto (truncated or corrupt protobuf)");
  while (uint32_t tag = in.ReadTag()) {
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    bool ok = true;
    switch (field) {
      case 1: ok = ReadRepeated(in, tag, &dims, ReadInt64); break;
      case 2: {
        uint32_t v;
        ok = in.ReadVarint32(&v);
        data_type = static_cast<int32_t>(v);
        break;
      }
      case 4: ok = ReadRepeated(in, tag, &float_data, ReadFloat); break;
      case 5: ok = ReadRepeated(in, tag, &int32_data, ReadInt64); break;
      case 7: ok = ReadRepeated(in, tag, &int64_data, ReadInt64); break;
      case 9: {
        uint32_t length;
        ok = in.ReadVarint32(&length) && in.ReadString(&raw, static_cast<int>(length));
        has_raw = true;
        break;
      }
      case 10: ok = ReadRepeated(in, tag, &double_data, ReadDouble); break;
      default: ok = WireFormatLite::SkipField(&in, tag); break;
    }
    if (!ok) return corrupt;
  }
  if (!in.ConsumedEntireMessage()) return corrupt;
  auto onnx_dtype = DTypeFromOnnx(data_type);
  if (!onnx_dtype.ok()) return onnx_dtype.status().WithContext(source);
  const DType dtype = *onnx_dtype;
  Tensor t(dtype, dims);
  const size_t bytes_needed = static_cast<size_t>(t.num_bytes());
  std::vector<uint8_t> values(bytes_needed);
  auto check = [&](size_t have) -> Status {
    if (have != bytes_needed) {
      return InvalidArgument(source, ": holds ", have, " bytes of data, its shape needs ", bytes_needed);
    }
    return Status::Ok();
  };
  if (has_raw) {
    RETURN_IF_ERROR(check(raw.size()));
    std::memcpy(values.data(), raw.data(), raw.size());
  } else if (dtype == proto::DT_FLOAT) {
    RETURN_IF_ERROR(check(float_data.size() * 4));
    std::memcpy(values.data(), float_data.data(), bytes_needed);
  } else if (dtype == proto::DT_DOUBLE) {
    RETURN_IF_ERROR(check(double_data.size() * 8));
    std::memcpy(values.data(), double_data.data(), bytes_needed);
  } else if (dtype == proto::DT_INT64) {
    RETURN_IF_ERROR(check(int64_data.size() * 8));
    std::memcpy(values.data(), int64_data.data(), bytes_needed);
  } else {
    // int32_data carries int32, int8, uint8 and bool, one element per entry.
    const size_t elem = static_cast<size_t>(DTypeSize(dtype));
    RETURN_IF_ERROR(check(int32_data.size() * elem));
    for (size_t i = 0; i < int32_data.size(); ++i) {
      const int32_t v = static_cast<int32_t>(int32_data[i]);
      std::memcpy(values.data() + i * elem, &v, elem);  // little-endian: the low bytes
    }
  }
  return Tensor::FromBytes(dtype, dims, values.data(), values.size());
}

}  // namespace kiln::aot
