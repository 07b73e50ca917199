// Tensor: an owning dense tensor (dtype, dims, bytes); TensorRef: a non-owning
// view that kernels read and write.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ir/core/dtype.h"
#include "ir/core/layout.h"

namespace kiln {

/// The static type of a value: element type and shape.
struct TensorType {
  DType dtype = proto::DT_UNDEFINED;
  Dims dims;
  bool operator==(const TensorType& o) const { return dtype == o.dtype && dims == o.dims; }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
  std::string ToString() const;  // "float32[1, 3, 224, 224]"
};

/// Non-owning view of a dense tensor: row-major unless `layout` says otherwise (only
/// kernels that accept a layout -- oneDNN ones inside a layout region -- see another).
struct TensorRef {
  DType dtype = proto::DT_UNDEFINED;
  Dims dims;
  void* data = nullptr;
  Layout layout = proto::LAYOUT_PLAIN;

  int64_t num_elements() const { return ElementCount(dims); }
  int64_t num_bytes() const { return num_elements() * DTypeSize(dtype); }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data);
  }
};

/// Owning dense tensor. Copies share storage (values are immutable by convention
/// once built; call MutableData on a fresh tensor only).
class Tensor {
 public:
  Tensor() = default;
  /// Zero-filled tensor; dims must already be validated (see CheckedElementCount).
  Tensor(DType dtype, Dims dims);

  /// Builds a tensor after validating dims and the byte count of `bytes`.
  static StatusOr<Tensor> FromBytes(DType dtype, Dims dims, const void* bytes, size_t size);
  template <typename T>
  static Tensor FromVector(DType dtype, Dims dims, const std::vector<T>& values) {
    Tensor t(dtype, std::move(dims));
    if (!values.empty()) std::memcpy(t.MutableData(), values.data(), values.size() * sizeof(T));  // memcpy(null, 0): UB
    return t;
  }
  static StatusOr<Tensor> FromProto(const proto::Tensor& p);
  void ToProto(proto::Tensor* p) const;

  DType dtype() const { return dtype_; }
  const Dims& dims() const { return dims_; }
  int64_t num_elements() const { return ElementCount(dims_); }
  int64_t num_bytes() const { return num_elements() * DTypeSize(dtype_); }
  const void* data() const { return storage_ ? storage_->data() : nullptr; }
  void* MutableData() { return storage_ ? storage_->data() : nullptr; }
  template <typename T>
  const T* data_as() const {
    return static_cast<const T*>(data());
  }
  template <typename T>
  T* mutable_data_as() {
    return static_cast<T*>(MutableData());
  }
  bool empty() const { return !storage_; }

  /// A view for kernels (the const_cast is safe: reference kernels never write inputs).
  TensorRef ref() const { return TensorRef{dtype_, dims_, const_cast<void*>(data())}; }

  /// Reads element i converted to int64 / double (any dtype); used for shape inputs.
  int64_t GetAsInt64(int64_t i) const;
  double GetAsDouble(int64_t i) const;
  std::vector<int64_t> ToInt64Vector() const;

 private:
  DType dtype_ = proto::DT_UNDEFINED;
  Dims dims_;
  std::shared_ptr<std::vector<uint8_t>> storage_;
};

}  // namespace kiln
