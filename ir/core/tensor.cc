#include "ir/core/tensor.h"

namespace kiln {

std::string TensorType::ToString() const { return DTypeName(dtype) + DimsToString(dims); }

Tensor::Tensor(DType dtype, Dims dims)
    : dtype_(dtype),
      dims_(std::move(dims)),
      storage_(std::make_shared<std::vector<uint8_t>>(static_cast<size_t>(num_bytes()))) {}

StatusOr<Tensor> Tensor::FromBytes(DType dtype, Dims dims, const void* bytes, size_t size) {
  if (DTypeSize(dtype) == 0) return InvalidArgument("unsupported tensor data type ", static_cast<int>(dtype));
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(dims));
  const int64_t expected = count * DTypeSize(dtype);
  if (static_cast<int64_t>(size) != expected) {
    return InvalidArgument("tensor of shape ", DimsToString(dims), " and type ", DTypeName(dtype), " needs ", expected,
                           " bytes but has ", size);
  }
  Tensor t(dtype, std::move(dims));
  if (size) std::memcpy(t.MutableData(), bytes, size);
  return t;
}

StatusOr<Tensor> Tensor::FromProto(const proto::Tensor& p) {
  Dims dims(p.dims().begin(), p.dims().end());
  if (!p.raw_data().empty() || (p.float_data_size() == 0 && p.int64_data_size() == 0)) {
    return FromBytes(p.dtype(), dims, p.raw_data().data(), p.raw_data().size());
  }
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(dims));
  if (p.dtype() == proto::DT_FLOAT && p.float_data_size() == count) {
    return FromBytes(p.dtype(), dims, p.float_data().data(), count * 4);
  }
  if (p.dtype() == proto::DT_INT64 && p.int64_data_size() == count) {
    return FromBytes(p.dtype(), dims, p.int64_data().data(), count * 8);
  }
  return InvalidArgument("tensor '", p.name(), "': ", p.float_data_size() + p.int64_data_size(),
                         " values given for shape ", DimsToString(dims), " of type ", DTypeName(p.dtype()));
}

void Tensor::ToProto(proto::Tensor* p) const {
  p->set_dtype(dtype_);
  p->clear_dims();
  for (int64_t d : dims_) p->add_dims(d);
  p->set_raw_data(data(), static_cast<size_t>(num_bytes()));
}

int64_t Tensor::GetAsInt64(int64_t i) const { return ElementToInt64(dtype_, data(), i); }

double Tensor::GetAsDouble(int64_t i) const { return ElementToDouble(dtype_, data(), i); }

std::vector<int64_t> Tensor::ToInt64Vector() const {
  std::vector<int64_t> out(static_cast<size_t>(num_elements()));
  for (size_t i = 0; i < out.size(); ++i) out[i] = GetAsInt64(static_cast<int64_t>(i));
  return out;
}

}  // namespace kiln
