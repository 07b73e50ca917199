// From a graph node / plan step to a generated kernel kind (cuda_kinds.h): which
// ops a kind computes, with which attributes, and why not otherwise. The CUDA
// lowering (the backend seam) calls it per step; the tests run it over the
// examples' plans.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/backends/cuda/cuda_kinds.h"
#include "ir/core/attrs.h"

namespace kiln::cuda {

struct CudaOpView {
  std::string op_type;
  Attrs attrs;
  std::vector<Dims> input_dims;
  std::vector<DType> input_dtypes;  // DT_UNDEFINED: an omitted optional input
  int num_outputs = 1;
  std::vector<Dims> output_dims;  // the view ops' (Reshape, Flatten, ...) result dims
  /// Values of the int64/int32 inputs that are constants (ReduceSum's axes, Slice's
  /// starts/ends/axes/steps); nullopt where not constant or not known.
  std::vector<std::optional<std::vector<int64_t>>> constant_ints;
};

/// The kind's description for the op; kUnimplemented with the reason when no kind
/// computes it (another op, dtype or attribute: a one-line message naming the op).
StatusOr<CudaKernelDesc> CudaKindForOp(const CudaOpView& op);

}  // namespace kiln::cuda
