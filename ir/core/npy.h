// The numpy .npy format (versions 1.0-3.0, little-endian, C order): parsed and
// encoded in memory. Shared by the frontends' tensor files and the runtime's
// training data loaders, so it lives in kiln_core and depends on nothing else.
#pragma once

#include <string>

#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln {

/// True when `bytes` starts with the .npy magic string.
bool HasNpyMagic(const std::string& bytes);
/// Parses the bytes of a .npy file; `source` names it in messages. The header's
/// shape is checked against the bytes present before the tensor is allocated.
StatusOr<Tensor> ParseNpy(const std::string& bytes, const std::string& source);
/// The bytes of a .npy file (format 1.0, C order) holding `tensor`.
StatusOr<std::string> EncodeNpy(const Tensor& tensor);

}  // namespace kiln
