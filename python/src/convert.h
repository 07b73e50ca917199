// Conversions between Kiln and Python: Status -> exceptions, NumPy/DLPack arrays <-> tensors.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <string>

#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln::python {

namespace nb = nanobind;

/// A read-only CPU array in C order: NumPy arrays (or anything with DLPack / the buffer
/// protocol) cross without a copy when they already have that layout.
using InputArray = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
/// A NumPy array that owns its memory.
using OutputArray = nb::ndarray<nb::numpy>;

/// Raises the Python exception for `status`: ValueError (bad argument), FileNotFoundError,
/// NotImplementedError, else kiln.KilnError. `type` overrides the exception type.
[[noreturn]] void Raise(const Status& status, PyObject* type = nullptr);
/// Raises unless `status` is ok.
inline void Check(const Status& status) {
  if (!status.ok()) Raise(status);
}
template <typename T>
T Check(StatusOr<T> value) {
  if (!value.ok()) Raise(value.status());
  return std::move(value).value();
}

/// The Kiln dtype of an array; TypeError when Kiln has no such dtype.
DType ArrayDType(const InputArray& array, const std::string& what);
Dims ArrayDims(const InputArray& array);
/// An owning copy of an array.
Tensor TensorFromArray(const InputArray& array, const std::string& what);
/// A new NumPy array holding `bytes` (taken over) with the given type.
OutputArray NewArray(DType dtype, const Dims& dims, std::vector<uint8_t> bytes);

/// Registers kiln.KilnError (a RuntimeError) on the module.
void RegisterExceptions(nb::module_& m);

}  // namespace kiln::python
