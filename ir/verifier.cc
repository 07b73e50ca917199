#include "ir/verifier.h"

#include <unordered_set>

#include "ir/core/op_registry.h"

namespace kiln {

Status Verify(const Graph& graph) {
  std::vector<std::string> errors;
  std::unordered_set<const Value*> defined;
  for (Value* v : graph.inputs()) defined.insert(v);
  for (const StateVar& st : graph.states()) {
    defined.insert(st.value);
    if (st.value->is_constant()) errors.push_back("state '" + st.value->name() + "' is also a constant");
    if (st.initial.dtype() != st.value->dtype() || st.initial.dims() != st.value->dims()) {
      errors.push_back("state '" + st.value->name() + "' is " + st.value->type().ToString() +
                       " but its initial value is " + TensorType{st.initial.dtype(), st.initial.dims()}.ToString());
    }
  }
  for (Value* v : graph.values()) {
    if (v->is_constant() && !v->producer()) defined.insert(v);
  }
  // A non-plain layout lives between the steps of one compiled graph only: what enters or
  // leaves it (inputs, outputs, constants, state) is plain.
  std::unordered_set<const Value*> outputs(graph.outputs().begin(), graph.outputs().end());
  for (Value* v : graph.values()) {
    if (v->layout() == proto::LAYOUT_PLAIN) continue;
    const std::string what = "value '" + v->name() + "' has layout " + LayoutName(v->layout()) + " but ";
    if (!v->producer() || v->is_constant() || v->is_state()) {
      errors.push_back(what + "is not a computed temporary");
    } else if (outputs.count(v)) {
      errors.push_back(what + "is a graph output");
    } else if (v->has_type() && (v->dims().size() < 3 || v->dtype() != proto::DT_FLOAT)) {
      errors.push_back(what + "is " + v->type().ToString() + " (a layout needs a float32 tensor of rank >= 3)");
    }
  }
  std::unordered_set<std::string> node_names;
  for (const auto& node_ptr : graph.nodes()) {
    const Node& node = *node_ptr;
    if (!node_names.insert(node.name()).second) errors.push_back("node name '" + node.name() + "' is used twice");
    if (!node.def()) {
      errors.push_back(node.Label() + ": unknown op '" + node.op_type() + "'");
      continue;
    }
    Status valid = ValidateNode(*node.def(), node.Label(), node.num_inputs(), node.num_outputs(), node.attrs());
    if (!valid.ok()) {
      errors.push_back(valid.message());
      continue;
    }
    bool inputs_typed = true;
    for (Value* in : node.inputs()) {
      if (!in) continue;
      if (!defined.count(in))
        errors.push_back(node.Label() + ": input '" + in->name() + "' is used before it is defined");
      inputs_typed = inputs_typed && in->has_type();
    }
    bool outputs_typed = true;
    for (Value* out : node.outputs()) {
      if (out->producer() != &node)
        errors.push_back(node.Label() + ": output '" + out->name() + "' has another producer");
      if (!defined.insert(out).second)
        errors.push_back(node.Label() + ": output '" + out->name() + "' is defined twice");
      outputs_typed = outputs_typed && out->has_type();
    }
    if (inputs_typed && outputs_typed) {
      auto inferred = InferNodeTypes(node);
      if (!inferred.ok()) {
        errors.push_back(inferred.status().message());
        continue;
      }
      for (int i = 0; i < node.num_outputs(); ++i) {
        const TensorType& want = (*inferred)[i];
        if (want.dtype != proto::DT_UNDEFINED && want != node.output(i)->type()) {
          errors.push_back(node.Label() + ": output '" + node.output(i)->name() + "' is recorded as " +
                           node.output(i)->type().ToString() + " but shape inference gives " + want.ToString());
        }
      }
    }
  }
  for (Value* out : graph.outputs()) {
    if (!out) {
      errors.push_back("a graph output is missing");
    } else if (!defined.count(out)) {
      errors.push_back("graph output '" + out->name() + "' is not defined");
    }
  }
  for (const StateVar& st : graph.states()) {
    if (!st.update) continue;
    if (!defined.count(st.update)) {
      errors.push_back("update of state '" + st.value->name() + "' ('" + st.update->name() + "') is not defined");
    } else if (st.update->has_type() && st.update->type() != st.value->type()) {
      errors.push_back("update of state '" + st.value->name() + "' is " + st.update->type().ToString() +
                       " but the state is " + st.value->type().ToString());
    }
  }
  if (errors.empty()) return Status::Ok();
  std::string msg;
  for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "\n" : "") + errors[i];
  return InvalidArgument(msg);
}

}  // namespace kiln
