// ONNX TensorProto -> Tensor, written once for every reader: the ONNX importer
// (initializers and Constant values of a parsed model), tensor files (.pb) and the
// compiled drivers (which link the runtime only, never libonnx). Part of the core.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln {

/// The TensorProto fields a tensor is made of, as views (no copy of the data).
struct OnnxTensorFields {
  template <typename T>
  struct View {
    const T* data = nullptr;
    int64_t size = 0;
  };
  int32_t data_type = 0;  // TensorProto.DataType
  std::vector<int64_t> dims;
  bool has_raw_data = false;
  View<char> raw_data;
  View<float> float_data;
  View<double> double_data;
  View<int64_t> int64_data;
  View<int32_t> int32_data;    // int32, and one entry per int8/int16/uint8/uint16/bool/(b)float16 value
  View<uint64_t> uint64_data;  // uint32, uint64
  bool external = false;       // data_location EXTERNAL or external_data entries
  bool segmented = false;
};

/// Validates the dims against kMaxTensorElements and the data against the element count
/// before anything is allocated, so a hostile file never causes a large allocation.
/// `what` names the tensor in messages ("initializer 'w'", a file name).
StatusOr<Tensor> TensorFromOnnxFields(const OnnxTensorFields& fields, const std::string& what);

/// A serialized onnx.TensorProto (a .pb tensor file), read from the protobuf wire format
/// without libonnx. Errors name `source`.
StatusOr<Tensor> ParseOnnxTensor(const std::string& bytes, const std::string& source);

}  // namespace kiln
