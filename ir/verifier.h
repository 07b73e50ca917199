// The verifier: the standing invariant check between passes.
#pragma once

#include "ir/core/status.h"
#include "ir/graph.h"

namespace kiln {

/// Checks that every op is known with valid arity and attributes, values are
/// defined before use (SSA, topological order), outputs exist, and wherever a
/// node's inputs and outputs are typed, shape inference agrees with the recorded
/// output types. Reports every problem, one per line.
Status Verify(const Graph& graph);

}  // namespace kiln
