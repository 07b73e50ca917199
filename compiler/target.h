// The backend seam, first piece: what target-independent passes may ask about the
// target they compile for, without naming a backend (passes never include
// compiler/backends/; scripts/check_layers.sh enforces it). A backend implements
// Target; PassOptions::target says which one a pipeline serves.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln {

class Target {
 public:
  virtual ~Target() = default;
  virtual const char* name() const = 0;
  /// Why the target cannot run `fused` -- a FusedConv or FusedMatMul with its bias,
  /// residual and activation post-ops (ir/core/fused_ops.h) -- as one kernel; "" when it can.
  virtual std::string PostOpFusionUnsupportedReason(const Node& fused) const = 0;
};

/// The target when a caller names none: the CPU backend (compiler/backends/cpu).
const Target& DefaultTarget();

}  // namespace kiln
