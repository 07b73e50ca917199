// ONNX TensorProto <-> kiln Tensor (ONNX data type numbers <-> kiln DType: ir/core/dtype.h).
// The importer's (initializers, Constant values) and the exporter's view; .pb files are
// read by ir/core/onnx_tensor.h.
#pragma once

#include <string>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_import {

/// Converts a TensorProto through TensorFromOnnxFields (ir/core/onnx_tensor.h, the one
/// reader): dims and data are validated before anything is allocated. `what` names it
/// in messages ("initializer 'w'"). External data is reported as unsupported.
StatusOr<Tensor> TensorFromOnnx(const onnx::TensorProto& proto, const std::string& what);
/// Writes `tensor` as a TensorProto with raw_data.
void TensorToOnnx(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

}  // namespace kiln::onnx_import
