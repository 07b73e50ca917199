#include "frontends/onnx/onnx_tensor.h"

#include <cstring>

#include "ir/core/onnx_tensor.h"
#include "ir/core/shape_util.h"

namespace kiln::onnx_import {

using onnx::TensorProto;

DType DTypeFromOnnx(int onnx_type) {
  auto dtype = kiln::DTypeFromOnnx(onnx_type);  // ir/core/shape_util.h: the one mapping
  return dtype.ok() ? *dtype : proto::DT_UNDEFINED;
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

StatusOr<Tensor> TensorFromOnnx(const TensorProto& p, const std::string& what) {
  OnnxTensorFields f;
  f.data_type = p.data_type();
  f.dims.assign(p.dims().begin(), p.dims().end());
  f.has_raw_data = p.has_raw_data();
  f.raw_data = {p.raw_data().data(), static_cast<int64_t>(p.raw_data().size())};
  f.float_data = {p.float_data().data(), p.float_data_size()};
  f.double_data = {p.double_data().data(), p.double_data_size()};
  f.int64_data = {p.int64_data().data(), p.int64_data_size()};
  f.int32_data = {p.int32_data().data(), p.int32_data_size()};
  f.external = p.data_location() == TensorProto::EXTERNAL || p.external_data_size() > 0;
  f.segmented = p.has_segment();
  if (!f.external && !f.segmented && DTypeFromOnnx(p.data_type()) == proto::DT_UNDEFINED) {
    return Unimplemented(what, ": data type ", OnnxTypeName(p.data_type()), " is not supported");
  }
  return TensorFromOnnxFields(f, what);
}

void TensorToOnnx(const Tensor& tensor, const std::string& name, TensorProto* p) {
  p->Clear();
  if (!name.empty()) p->set_name(name);
  p->set_data_type(DTypeToOnnx(tensor.dtype()));
  for (int64_t d : tensor.dims()) p->add_dims(d);
  p->set_raw_data(tensor.data(), static_cast<size_t>(tensor.num_bytes()));
}

}  // namespace kiln::onnx_import
