// A reader for ONNX TensorProto files (.pb) that needs neither libonnx nor its
// generated code: the AOT driver links only the runtime.
#pragma once

#include <string>

#include "ir/status.h"
#include "ir/tensor.h"

namespace kiln::aot {

/// Parses a serialized onnx.TensorProto; errors name `source`.
StatusOr<Tensor> ParseOnnxTensor(const std::string& bytes, const std::string& source);

}  // namespace kiln::aot
