#include "frontends/onnx/onnx_tensor.h"

#include <cstring>

namespace kiln::onnx_import {

using onnx::TensorProto;

DType DTypeFromOnnx(int onnx_type) {
  switch (onnx_type) {
    case TensorProto::FLOAT: return proto::DT_FLOAT;
    case TensorProto::UINT8: return proto::DT_UINT8;
    case TensorProto::INT8: return proto::DT_INT8;
    case TensorProto::INT32: return proto::DT_INT32;
    case TensorProto::INT64: return proto::DT_INT64;
    case TensorProto::BOOL: return proto::DT_BOOL;
    case TensorProto::DOUBLE: return proto::DT_DOUBLE;
    case TensorProto::FLOAT16: return proto::DT_FLOAT16;
    default: return proto::DT_UNDEFINED;
  }
}

int DTypeToOnnx(DType dtype) {
  switch (dtype) {
    case proto::DT_FLOAT: return TensorProto::FLOAT;
    case proto::DT_UINT8: return TensorProto::UINT8;
    case proto::DT_INT8: return TensorProto::INT8;
    case proto::DT_INT32: return TensorProto::INT32;
    case proto::DT_INT64: return TensorProto::INT64;
    case proto::DT_BOOL: return TensorProto::BOOL;
    case proto::DT_DOUBLE: return TensorProto::DOUBLE;
    case proto::DT_FLOAT16: return TensorProto::FLOAT16;
    default: return TensorProto::UNDEFINED;
  }
}

std::string OnnxTypeName(int onnx_type) {
  if (TensorProto::DataType_IsValid(onnx_type)) {
    return TensorProto::DataType_Name(static_cast<TensorProto::DataType>(onnx_type));
  }
  return "type " + std::to_string(onnx_type);
}

namespace {

// Copies `count` values of a repeated field into `out`, narrowing to T (ONNX stores
// int8/uint8/bool/int16/float16 in int32_data, one value per entry).
template <typename T, typename Field>
void CopyNarrowed(const Field& field, Tensor& out) {
  T* dst = out.mutable_data_as<T>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<T>(field.Get(i));
}

Status CheckCount(int64_t have, int64_t want, const std::string& field, const std::string& what, const Dims& dims) {
  if (have == want) return Status::Ok();
  return InvalidArgument(what, ": ", field, " holds ", have, " values but shape ", DimsToString(dims), " needs ", want);
}

}  // namespace

StatusOr<Tensor> TensorFromOnnx(const TensorProto& p, const std::string& what) {
  if (p.data_location() == TensorProto::EXTERNAL || p.external_data_size() > 0) {
    return Unimplemented(what, ": external tensor data is not supported (store the weights inside the model)");
  }
  if (p.has_segment()) return Unimplemented(what, ": segmented tensors are not supported");
  DType dtype = DTypeFromOnnx(p.data_type());
  if (dtype == proto::DT_UNDEFINED) {
    return Unimplemented(what, ": data type ", OnnxTypeName(p.data_type()), " is not supported");
  }
  Dims dims(p.dims().begin(), p.dims().end());
  auto count_or = CheckedElementCount(dims);
  if (!count_or.ok()) return count_or.status().WithContext(what);
  const int64_t count = *count_or;

  if (p.has_raw_data()) {
    auto t = Tensor::FromBytes(dtype, dims, p.raw_data().data(), p.raw_data().size());
    if (!t.ok()) return t.status().WithContext(what);
    return t;
  }
  // Typed fields: exactly the one that matches the data type must hold `count` values.
  switch (p.data_type()) {
    case TensorProto::FLOAT: {
      RETURN_IF_ERROR(CheckCount(p.float_data_size(), count, "float_data", what, dims));
      Tensor t(dtype, dims);
      if (count) std::memcpy(t.MutableData(), p.float_data().data(), count * sizeof(float));
      return t;
    }
    case TensorProto::DOUBLE: {
      RETURN_IF_ERROR(CheckCount(p.double_data_size(), count, "double_data", what, dims));
      Tensor t(dtype, dims);
      if (count) std::memcpy(t.MutableData(), p.double_data().data(), count * sizeof(double));
      return t;
    }
    case TensorProto::INT64: {
      RETURN_IF_ERROR(CheckCount(p.int64_data_size(), count, "int64_data", what, dims));
      Tensor t(dtype, dims);
      if (count) std::memcpy(t.MutableData(), p.int64_data().data(), count * sizeof(int64_t));
      return t;
    }
    case TensorProto::INT32: {
      RETURN_IF_ERROR(CheckCount(p.int32_data_size(), count, "int32_data", what, dims));
      Tensor t(dtype, dims);
      CopyNarrowed<int32_t>(p.int32_data(), t);
      return t;
    }
    case TensorProto::INT8: {
      RETURN_IF_ERROR(CheckCount(p.int32_data_size(), count, "int32_data", what, dims));
      Tensor t(dtype, dims);
      CopyNarrowed<int8_t>(p.int32_data(), t);
      return t;
    }
    case TensorProto::UINT8:
    case TensorProto::BOOL: {
      RETURN_IF_ERROR(CheckCount(p.int32_data_size(), count, "int32_data", what, dims));
      Tensor t(dtype, dims);
      if (p.data_type() == TensorProto::BOOL) {
        uint8_t* dst = t.mutable_data_as<uint8_t>();
        for (int64_t i = 0; i < count; ++i) dst[i] = p.int32_data(static_cast<int>(i)) != 0;
      } else {
        CopyNarrowed<uint8_t>(p.int32_data(), t);
      }
      return t;
    }
    case TensorProto::FLOAT16: {  // the raw 16-bit patterns, one per int32 entry
      RETURN_IF_ERROR(CheckCount(p.int32_data_size(), count, "int32_data", what, dims));
      Tensor t(dtype, dims);
      CopyNarrowed<uint16_t>(p.int32_data(), t);
      return t;
    }
    default: break;
  }
  return Unimplemented(what, ": data type ", OnnxTypeName(p.data_type()), " is not supported");
}

void TensorToOnnx(const Tensor& tensor, const std::string& name, TensorProto* p) {
  p->Clear();
  if (!name.empty()) p->set_name(name);
  p->set_data_type(DTypeToOnnx(tensor.dtype()));
  for (int64_t d : tensor.dims()) p->add_dims(d);
  p->set_raw_data(tensor.data(), static_cast<size_t>(tensor.num_bytes()));
}

}  // namespace kiln::onnx_import
