// Element types, shapes and their arithmetic, shared by the IR and the runtime.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/kiln.pb.h"

namespace kiln {

using DType = proto::DataType;
using Dims = std::vector<int64_t>;

/// Largest tensor Kiln will ever describe (2^34 elements, 64 GiB of floats):
/// anything larger is treated as a corrupt or hostile model, never allocated.
constexpr int64_t kMaxTensorElements = int64_t{1} << 34;

/// Size of one element in bytes; 0 for DT_UNDEFINED.
int64_t DTypeSize(DType dtype);
/// "float32", "int64", ... (ONNX/numpy spelling).
std::string DTypeName(DType dtype);
/// Parses the names DTypeName produces (and "float" as float32).
StatusOr<DType> ParseDType(const std::string& name);

/// Number of elements, or an error when a dim is negative or the product exceeds
/// kMaxTensorElements (checked without overflow).
StatusOr<int64_t> CheckedElementCount(const Dims& dims);
/// Number of elements of dims already known to be valid.
int64_t ElementCount(const Dims& dims);
/// "[1, 3, 224, 224]".
std::string DimsToString(const Dims& dims);
/// Row-major strides in elements.
Dims RowMajorStrides(const Dims& dims);

}  // namespace kiln
