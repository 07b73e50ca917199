#include "tools/kiln/model_inputs.h"

#include "ir/printer.h"

namespace kiln::cli {

Status UnknownInputError(const Graph& graph, const std::string& name, const std::string& model_path) {
  std::string names;
  for (const Value* v : graph.inputs()) names += (names.empty() ? "" : ", ") + v->name();
  return InvalidArgument(model_path, ": the model has no input named '", name,
                         "' (inputs: ", names.empty() ? "none" : names, ")");
}

Status MissingInputError(const Value& input, const std::string& hint) {
  return InvalidArgument("input '", input.name(), "' (", ValueTypeString(input), ") is missing: ", hint);
}

Status CheckInputDType(const Value& input, DType dtype, const std::string& where) {
  if (dtype == input.dtype()) return Status::Ok();
  return InvalidArgument(where, ": dtype ", DTypeName(dtype), " does not match the model's ", DTypeName(input.dtype()),
                         " (model input ", ValueTypeString(input), ")");
}

Status CheckInputDims(const Graph& graph, const Value& input, const Dims& dims, const std::string& where,
                      BatchBinding* batch) {
  const std::string self = "input '" + input.name() + "'";
  bool match = dims.size() == input.dims().size();
  bool has_batch = false;
  for (size_t i = 0; i < input.dims().size(); ++i) has_batch |= IsBatchDim(graph, input, static_cast<int>(i));
  for (size_t i = 0; match && i < dims.size(); ++i) {
    const int64_t want = input.dims()[i];
    if (want >= 0) {
      match = dims[i] == want;
    } else if (IsBatchDim(graph, input, static_cast<int>(i))) {
      if (batch->size < 0) {
        batch->size = dims[i];
        batch->source = self;
      }
      match = dims[i] == batch->size;
    }
  }
  if (match) return Status::Ok();
  std::string expected = ValueTypeString(input);
  if (has_batch && batch->source != self && batch->size > 0) {
    expected += " with batch " + std::to_string(batch->size) + " (from " + batch->source + ")";
  }
  return InvalidArgument(where, ": shape ", DimsToString(dims), " does not match the model's ", expected);
}

}  // namespace kiln::cli
