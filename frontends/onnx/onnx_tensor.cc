#include "frontends/onnx/onnx_tensor.h"

#include <cstring>

#include "ir/core/onnx_tensor.h"
#include "ir/core/shape_util.h"

namespace kiln::onnx_import {

using onnx::TensorProto;

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
  f.uint64_data = {p.uint64_data().data(), p.uint64_data_size()};
  f.external = p.data_location() == TensorProto::EXTERNAL || p.external_data_size() > 0;
  f.segmented = p.has_segment();
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
