// Reverse-mode automatic differentiation over the IR: appends the backward
// graph of a scalar loss using the gradient rule of each op's definition.
#pragma once

#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/graph.h"

namespace kiln {

/// Appends nodes computing dLoss/dw for each w in `wrt` and returns them in the
/// same order (null for a w that does not affect the loss). Every op between the
/// parameters and the loss must have a gradient rule; otherwise one error names
/// every such node. Value types must be inferred.
StatusOr<std::vector<Value*>> AppendGradients(Graph& graph, Value* loss, const std::vector<Value*>& wrt);

/// The ops that have a gradient rule, sorted by name.
std::vector<std::string> OpsWithGradientRules();

}  // namespace kiln
