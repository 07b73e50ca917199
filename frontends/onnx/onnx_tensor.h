// ONNX TensorProto <-> kiln Tensor, and ONNX data type numbers <-> kiln DType.
// The importer's (initializers, Constant values) and the exporter's view; .pb files are
// read by ir/core/onnx_tensor.h.
#pragma once

#include <string>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_import {

/// Kiln dtype for an ONNX TensorProto data type number; DT_UNDEFINED when Kiln has none.
DType DTypeFromOnnx(int onnx_type);
/// ONNX TensorProto data type number for a kiln dtype (0 for DT_UNDEFINED).
int DTypeToOnnx(DType dtype);
/// "FLOAT", "STRING", "BFLOAT16", ... for messages.
std::string OnnxTypeName(int onnx_type);

/// Converts a TensorProto through TensorFromOnnxFields (ir/core/onnx_tensor.h, the one
/// reader): dims and data are validated before anything is allocated. `what` names it
/// in messages ("initializer 'w'"). External data is reported as unsupported.
StatusOr<Tensor> TensorFromOnnx(const onnx::TensorProto& proto, const std::string& what);
/// Writes `tensor` as a TensorProto with raw_data.
void TensorToOnnx(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

}  // namespace kiln::onnx_import
