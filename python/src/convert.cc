#include "python/src/convert.h"

#include <cstring>

namespace kiln::python {
namespace {

PyObject* kilnError = nullptr;

struct DTypeEntry {
  DType dtype;
  uint8_t code;
  uint8_t bits;
};

// Kiln dtypes (ir/core/dtypes.def) as DLPack (code, bits): the one table both directions read.
const std::vector<DTypeEntry>& DLPackTypes() {
  static const std::vector<DTypeEntry> entries = [] {
    std::vector<DTypeEntry> out;
    for (const DTypeInfo& row : DTypeTable()) {
      nb::dlpack::dtype_code code = nb::dlpack::dtype_code::Float;
      switch (row.kind) {
        case DTypeKind::kFloat: code = nb::dlpack::dtype_code::Float; break;
        case DTypeKind::kHalf:
          code = row.dtype == proto::DT_BFLOAT16 ? nb::dlpack::dtype_code::Bfloat : nb::dlpack::dtype_code::Float;
          break;
        case DTypeKind::kSigned: code = nb::dlpack::dtype_code::Int; break;
        case DTypeKind::kUnsigned: code = nb::dlpack::dtype_code::UInt; break;
        case DTypeKind::kBool: code = nb::dlpack::dtype_code::Bool; break;
      }
      out.push_back({row.dtype, static_cast<uint8_t>(code), static_cast<uint8_t>(row.size * 8)});
    }
    return out;
  }();
  return entries;
}

std::string DLPackName(const nb::dlpack::dtype& t) {
  const char* kind = t.code == static_cast<uint8_t>(nb::dlpack::dtype_code::Float)     ? "float"
                     : t.code == static_cast<uint8_t>(nb::dlpack::dtype_code::Int)     ? "int"
                     : t.code == static_cast<uint8_t>(nb::dlpack::dtype_code::UInt)    ? "uint"
                     : t.code == static_cast<uint8_t>(nb::dlpack::dtype_code::Bool)    ? "bool"
                     : t.code == static_cast<uint8_t>(nb::dlpack::dtype_code::Complex) ? "complex"
                     : t.code == static_cast<uint8_t>(nb::dlpack::dtype_code::Bfloat)  ? "bfloat"
                                                                                       : "unknown";
  return std::string(kind) + std::to_string(t.bits);
}

}  // namespace

void Raise(const Status& status, PyObject* type) {
  if (!type) {
    switch (status.code()) {
      case StatusCode::kInvalidArgument:
      case StatusCode::kOutOfRange: type = PyExc_ValueError; break;
      case StatusCode::kNotFound: type = PyExc_FileNotFoundError; break;
      case StatusCode::kUnimplemented: type = PyExc_NotImplementedError; break;
      default: type = kilnError ? kilnError : PyExc_RuntimeError; break;
    }
  }
  PyErr_SetString(type, status.message().c_str());
  throw nb::python_error();
}

DType ArrayDType(const InputArray& array, const std::string& what) {
  const nb::dlpack::dtype t = array.dtype();
  for (const DTypeEntry& e : DLPackTypes()) {
    if (e.code == t.code && e.bits == t.bits && t.lanes == 1) return e.dtype;
  }
  Raise(InvalidArgument(what, ": dtype ", DLPackName(t), " is not supported by Kiln"), PyExc_TypeError);
}

Dims ArrayDims(const InputArray& array) {
  Dims dims(array.ndim());
  for (size_t i = 0; i < array.ndim(); ++i) dims[i] = static_cast<int64_t>(array.shape(i));
  return dims;
}

Tensor TensorFromArray(const InputArray& array, const std::string& what) {
  return Check(Tensor::FromBytes(ArrayDType(array, what), ArrayDims(array), array.data(), array.nbytes()));
}

OutputArray NewArray(DType dtype, const Dims& dims, std::vector<uint8_t> bytes) {
  nb::dlpack::dtype t{};
  for (const DTypeEntry& e : DLPackTypes()) {
    if (e.dtype == dtype) t = {e.code, e.bits, 1};
  }
  if (t.bits == 0) Raise(Internal("output of unsupported dtype ", DTypeName(dtype)));
  auto* owned = new std::vector<uint8_t>(std::move(bytes));
  nb::capsule owner(owned, [](void* p) noexcept { delete static_cast<std::vector<uint8_t>*>(p); });
  std::vector<size_t> shape(dims.begin(), dims.end());
  return OutputArray(owned->data(), shape.size(), shape.data(), owner, nullptr, t);
}

void RegisterExceptions(nb::module_& m) {
  kilnError = PyErr_NewException("kiln.KilnError", PyExc_RuntimeError, nullptr);
  m.attr("KilnError") = nb::handle(kilnError);
}

}  // namespace kiln::python
