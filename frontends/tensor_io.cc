// .npy and ONNX TensorProto (.pb) tensor files. Headers and declared shapes are
// checked against the bytes actually present before a tensor is allocated; the
// .npy format itself lives in ir/core/npy.cc (shared with the runtime's data loaders).
#include "frontends/tensor_io.h"

#include "frontends/onnx/onnx_tensor.h"
#include "ir/core/npy.h"
#include "ir/core/onnx_tensor.h"
#include "ir/model_io.h"

namespace kiln {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

StatusOr<Tensor> ParseTensorBytes(const std::string& bytes, const std::string& source) {
  if (EndsWith(source, ".npy")) return ParseNpy(bytes, source);
  if (EndsWith(source, ".pb")) return ParseOnnxTensor(bytes, source);
  if (HasNpyMagic(bytes)) return ParseNpy(bytes, source);
  return ParseOnnxTensor(bytes, source);
}

StatusOr<Tensor> ReadTensorFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ParseTensorBytes(bytes, path);
}

Status WriteTensorFile(const std::string& path, const Tensor& tensor) {
  std::string bytes;
  if (EndsWith(path, ".pb")) {
    if (DTypeToOnnx(tensor.dtype()) == 0) {
      return InvalidArgument(path, ": cannot write a tensor of type ", DTypeName(tensor.dtype()));
    }
    onnx::TensorProto proto;
    onnx_import::TensorToOnnx(tensor, "", &proto);
    if (!proto.SerializeToString(&bytes)) return Internal(path, ": cannot serialize the tensor");
  } else {
    auto encoded = EncodeNpy(tensor);
    if (!encoded.ok()) return encoded.status().WithContext(path);
    bytes = std::move(encoded).value();
  }
  return WriteFileAtomically(path, bytes);
}

}  // namespace kiln
