// Checking tensors against a model's inputs: the messages `kiln run` and the Python
// InferenceSession give for an unknown, missing or mistyped input.
#pragma once

#include <string>

#include "ir/core/status.h"
#include "ir/graph.h"

namespace kiln::cli {

/// "<model>: the model has no input named 'x' (inputs: a, b)".
Status UnknownInputError(const Graph& graph, const std::string& name, const std::string& model_path);
/// "input 'x' (float32[batch, 4]) is missing: <hint>".
Status MissingInputError(const Value& input, const std::string& hint);

/// The batch of one run: -1 until an input (or an option) fixes it, and what fixed it.
struct BatchBinding {
  int64_t size = -1;
  std::string source;  // "--batch", "input 'x'"
};

/// `where` names the tensor in messages ("input 'x' (x.npy)").
Status CheckInputDType(const Value& input, DType dtype, const std::string& where);
/// Fixed dims must match; symbolic dims match any size, except that batch dims (IsBatchDim
/// of ir/graph.h) must agree: the first input with one binds the batch.
Status CheckInputDims(const Graph& graph, const Value& input, const Dims& dims, const std::string& where,
                      BatchBinding* batch);

}  // namespace kiln::cli
