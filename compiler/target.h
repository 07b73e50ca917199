// The backend seam, first piece: what target-independent passes may ask about the
// target they compile for, without naming a backend (passes never include
// compiler/backends/; scripts/check_layers.sh enforces it). A backend implements
// Target; PassOptions::target says which one a pipeline serves.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln {

class Target {
 public:
  virtual ~Target() = default;
  virtual const char* name() const = 0;
  /// Why the target cannot run `fused` -- a FusedConv or FusedMatMul with its bias,
  /// residual and activation post-ops (ir/core/fused_ops.h), or a BatchNormTraining with
  /// relu=1 -- as one kernel; "" when it can.
  virtual std::string PostOpFusionUnsupportedReason(const Node& fused) const = 0;
  /// The layout the target's kernels prefer between convolutions (assign-layouts gives it
  /// to the values of regions of kernels that accept it); plain when there is none.
  virtual Layout RegionLayout() const = 0;
  /// Why the target cannot run `node` with its inputs and outputs laid out as `inputs` and
  /// `outputs` say (one entry per input / output; an omitted input's entry is ignored);
  /// "" when it can.
  virtual std::string LayoutUnsupportedReason(const Node& node, const std::vector<Layout>& inputs,
                                              const std::vector<Layout>& outputs) const = 0;
  /// Whether fuse-elementwise makes a lone fusable op a FusedElementwise of its own (a
  /// target whose only elementwise kernels are the generated ones); else it keeps its kernel.
  virtual bool FusesSingleElementwiseOps() const { return false; }
  /// Whether fuse-elementwise ends a group with the softmax, log-softmax or bias-gradient
  /// sum that reads one of its values (a FusedReduction: the target generates its code),
  /// and fuse-losses makes a softmax cross-entropy and its gradient one FusedSoftmaxCrossEntropy.
  virtual bool FusesReductions() const { return false; }
};

/// The target when a caller names none: the CPU backend (compiler/backends/cpu).
const Target& DefaultTarget();

}  // namespace kiln
