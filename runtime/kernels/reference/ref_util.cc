#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime::ref {

StatusOr<std::vector<int64_t>> ReadInts(const TensorRef& t, const char* what) {
  std::vector<int64_t> out(static_cast<size_t>(t.num_elements()));
  if (!out.empty() && !t.data) return InvalidArgument(what, " has no data");
  for (size_t i = 0; i < out.size(); ++i) {
    switch (t.dtype) {
      case proto::DT_INT64: out[i] = t.as<int64_t>()[i]; break;
      case proto::DT_INT32: out[i] = t.as<int32_t>()[i]; break;
      case proto::DT_INT8: out[i] = t.as<int8_t>()[i]; break;
      case proto::DT_UINT8: out[i] = t.as<uint8_t>()[i]; break;
      default: return InvalidArgument(what, " has type ", DTypeName(t.dtype), " but must be int64 or int32");
    }
  }
  return out;
}

double ElementAsDouble(const TensorRef& t, int64_t i) {
  switch (t.dtype) {
    case proto::DT_FLOAT: return t.as<float>()[i];
    case proto::DT_DOUBLE: return t.as<double>()[i];
    case proto::DT_INT64: return static_cast<double>(t.as<int64_t>()[i]);
    case proto::DT_INT32: return t.as<int32_t>()[i];
    case proto::DT_INT8: return t.as<int8_t>()[i];
    case proto::DT_UINT8: return t.as<uint8_t>()[i];
    case proto::DT_BOOL: return t.as<uint8_t>()[i] != 0 ? 1.0 : 0.0;
    default: return 0.0;
  }
}

StatusOr<double> ReadScalar(const TensorRef& t, const char* what) {
  if (t.num_elements() != 1) {
    return InvalidArgument(what, " must hold one element, got shape ", DimsToString(t.dims));
  }
  if (!t.data) return InvalidArgument(what, " has no data");
  if (t.dtype == proto::DT_FLOAT16 || t.dtype == proto::DT_UNDEFINED) {
    return InvalidArgument(what, " has unsupported type ", DTypeName(t.dtype));
  }
  return ElementAsDouble(t, 0);
}

Status CheckSameCount(const TensorRef& in, const TensorRef& out) {
  if (in.num_bytes() != out.num_bytes()) {
    return Internal("output ", DTypeName(out.dtype), DimsToString(out.dims), " does not hold the input ",
                    DTypeName(in.dtype), DimsToString(in.dims));
  }
  return Status::Ok();
}

Status CheckBuffers(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out, int min_inputs,
                    int min_outputs) {
  if (static_cast<int>(in.size()) < min_inputs) {
    return InvalidArgument("needs at least ", min_inputs, " inputs, got ", in.size());
  }
  if (static_cast<int>(out.size()) < min_outputs) {
    return InvalidArgument("needs at least ", min_outputs, " outputs, got ", out.size());
  }
  for (int i = 0; i < min_inputs; ++i) {
    if (in[i].dtype == proto::DT_UNDEFINED) return InvalidArgument("input ", i, " is missing");
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].dtype != proto::DT_UNDEFINED && !in[i].data && in[i].num_elements() > 0) {
      return InvalidArgument("input ", i, " has no data");
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].dtype != proto::DT_UNDEFINED && !out[i].data && out[i].num_elements() > 0) {
      return InvalidArgument("output ", i, " has no buffer");
    }
  }
  return Status::Ok();
}

void RegisterRef(KernelRegistry& r, const char* op, int min_inputs, int min_outputs, SimpleKernelFn fn) {
  r.Register("ref", op,
             MakeSimpleKernel([min_inputs, min_outputs, fn](const KernelSpec& spec, const std::vector<TensorRef>& in,
                                                            const std::vector<TensorRef>& out) -> Status {
               RETURN_IF_ERROR(CheckBuffers(in, out, min_inputs, min_outputs));
               return fn(spec, in, out);
             }));
}

}  // namespace kiln::runtime::ref
