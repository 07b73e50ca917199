// ONNX TensorProto <-> kiln Tensor, and ONNX data type numbers <-> kiln DType.
// Shared by the importer (initializers, Constant values) and tensor_io (.pb files).
#pragma once

#include <string>

#include "ir/status.h"
#include "ir/tensor.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_import {

/// Kiln dtype for an ONNX TensorProto data type number; DT_UNDEFINED when Kiln has none.
DType DTypeFromOnnx(int onnx_type);
/// ONNX TensorProto data type number for a kiln dtype (0 for DT_UNDEFINED).
int DTypeToOnnx(DType dtype);
/// "FLOAT", "STRING", "BFLOAT16", ... for messages.
std::string OnnxTypeName(int onnx_type);

/// Converts a TensorProto (raw_data or the typed fields) after validating its dims
/// against kMaxTensorElements and its data against the element count, so a
/// hostile file never causes a large allocation. `what` names it in messages
/// ("initializer 'w'"). External data is reported as unsupported.
StatusOr<Tensor> TensorFromOnnx(const onnx::TensorProto& proto, const std::string& what);
/// Writes `tensor` as a TensorProto with raw_data.
void TensorToOnnx(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

}  // namespace kiln::onnx_import
