// Losses and optimizer updates (docs/training_ops.md): shape inference.
#include "ir/op_registry.h"
#include "ir/ops/infer_helpers.h"
#include "ir/shape_util.h"

namespace kiln {

void RegisterTrainingOps(OpRegistry& r) {}

}  // namespace kiln
