// Plan validation: everything a plan file states is checked before a session
// allocates its arena or builds a kernel, so a corrupt or hostile plan is an
// error, never a crash or a read of uninitialized memory.
#pragma once

#include "ir/core/status.h"
#include "runtime/plan.pb.h"

namespace kiln::runtime {

/// Checks, in this order:
///  - buffers: kind, dtype, dims (element count), offset (aligned to the element
///    size) and size inside the arena or the constant blob, a state's initial value
///    inside the constants;
///  - indices of inputs, outputs, states, state updates and step operands; roles:
///    inputs are arena buffers (not constants or states), every state buffer is
///    listed once as a state, a state update joins a state and a buffer of its type;
///  - steps: a known op and kernel, then the op registry's arity, attribute and
///    shape rules (InferOpTypes, as the compiler) on the buffers' types, whose
///    result must match the output buffers; steps write only arena buffers that are
///    not inputs, each buffer at most once, and read only buffers that hold a value
///    by then (inputs, states, constants, earlier outputs);
///  - lifetimes: arena buffers live at the same time do not overlap, except a
///    state and its update at the same place (an in-place update).
/// Errors start with "plan: ".
Status ValidatePlan(const proto::Plan& plan);

}  // namespace kiln::runtime
