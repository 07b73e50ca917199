// Atomic file writes, shared by the compiler side (models, tensors, dumps) and
// the runtime (checkpoints): a crash or a full disk never leaves a half-written file.
#pragma once

#include <string>

#include "ir/status.h"

namespace kiln {

/// Writes `contents` to `path` atomically: a temp file beside it, then rename.
Status WriteFileAtomically(const std::string& path, const std::string& contents);

}  // namespace kiln
