// Tensor files: ONNX TensorProto (.pb) and numpy (.npy), read and written.
#pragma once

#include <string>

#include "ir/core/npy.h"  // EncodeNpy, ParseNpy
#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln {

/// Reads a tensor from `.pb` (ONNX TensorProto) or `.npy` (by extension, else by
/// content). Errors name the file; sizes are validated before any allocation.
StatusOr<Tensor> ReadTensorFile(const std::string& path);
/// Writes `.npy` or `.pb` by extension, atomically.
Status WriteTensorFile(const std::string& path, const Tensor& tensor);

/// Parses the bytes of a tensor file held in memory; `source` names it in messages
/// and its extension picks the format (`.npy`, `.pb`; otherwise the content does).
StatusOr<Tensor> ParseTensorBytes(const std::string& bytes, const std::string& source);

}  // namespace kiln
