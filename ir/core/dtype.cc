#include "ir/core/dtype.h"

#include <sstream>

namespace kiln {

int64_t DTypeSize(DType dtype) {
  switch (dtype) {
    case proto::DT_FLOAT: return 4;
    case proto::DT_UINT8: return 1;
    case proto::DT_INT8: return 1;
    case proto::DT_INT32: return 4;
    case proto::DT_INT64: return 8;
    case proto::DT_BOOL: return 1;
    case proto::DT_DOUBLE: return 8;
    case proto::DT_FLOAT16: return 2;
    default: return 0;
  }
}

std::string DTypeName(DType dtype) {
  switch (dtype) {
    case proto::DT_FLOAT: return "float32";
    case proto::DT_UINT8: return "uint8";
    case proto::DT_INT8: return "int8";
    case proto::DT_INT32: return "int32";
    case proto::DT_INT64: return "int64";
    case proto::DT_BOOL: return "bool";
    case proto::DT_DOUBLE: return "float64";
    case proto::DT_FLOAT16: return "float16";
    default: return "undefined";
  }
}

StatusOr<DType> ParseDType(const std::string& name) {
  for (int i = proto::DataType_MIN; i <= proto::DataType_MAX; ++i) {
    if (i != proto::DT_UNDEFINED && DTypeName(static_cast<DType>(i)) == name) return static_cast<DType>(i);
  }
  if (name == "float") return proto::DT_FLOAT;
  if (name == "double") return proto::DT_DOUBLE;
  return InvalidArgument("unknown data type '", name, "'");
}

StatusOr<int64_t> CheckedElementCount(const Dims& dims) {
  int64_t count = 1;
  for (int64_t d : dims) {
    if (d < 0) return InvalidArgument("negative dimension in shape ", DimsToString(dims));
    if (d == 0) return int64_t{0};
  }
  for (int64_t d : dims) {
    if (count > kMaxTensorElements / d) {
      return InvalidArgument("shape ", DimsToString(dims), " has more than 2^34 elements");
    }
    count *= d;
  }
  return count;
}

int64_t ElementCount(const Dims& dims) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  return count;
}

std::string DimsToString(const Dims& dims) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << "]";
  return os.str();
}

Dims RowMajorStrides(const Dims& dims) {
  Dims strides(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * dims[i + 1];
  return strides;
}

}  // namespace kiln
