// Einsum's equation, resolved against the operands' shapes: shared by shape inference
// (ir/core/ops/einsum.cc) and the reference kernel (runtime/kernels/reference/einsum.cc).
#pragma once

#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln::einsum {

/// Every index of the contraction: the output's first (in output order), then the summed ones.
/// Letters name themselves; the dims an ellipsis covers get their own indices.
struct Plan {
  Dims sizes;                             // per index: its extent
  int num_output = 0;                     // sizes[0, num_output) are the output's dims
  std::vector<std::vector<int>> operand;  // per operand, per dim: the index it walks (repeated: a diagonal)
  std::vector<Dims> operand_dims;         // the operands' dims (an ellipsis dim of 1 broadcasts)
  Dims output_dims() const { return Dims(sizes.begin(), sizes.begin() + num_output); }
};

/// Parses `equation` ("ij,jk->ik", "...ii->...i", implicit "ij,jk") for operands of `dims`.
/// Errors name the problem without a node label (callers add it).
StatusOr<Plan> Resolve(const std::string& equation, const std::vector<Dims>& dims);

}  // namespace kiln::einsum
