// ONNX ModelProto -> Graph: parse, check with ONNX's checker, lift the opset to
// the IR's (13), then build values, constants and nodes. Every failure is a
// Status naming the file (and node); no exception leaves this file.
#include "frontends/onnx/onnx_importer.h"

#include <exception>
#include <map>
#include <set>

#include "frontends/load_model.h"
#include "frontends/onnx/onnx_legacy.h"
#include "frontends/onnx/onnx_opsets.h"
#include "frontends/onnx/onnx_tensor.h"
#include "ir/core/op_registry.h"
#include "onnx/checker.h"

namespace kiln {
namespace {

using onnx_import::TensorFromOnnx;

using onnx_import::AddToGroup;
using onnx_import::IsDefaultDomain;
using onnx_import::ListByOp;
using onnx_import::NodeName;

// Reports every node outside the default domain and every op type the registry
// lacks, all at once, so a user sees the whole gap in one message.
Status CheckOpsSupported(const onnx::GraphProto& graph, const std::string& source) {
  std::vector<std::pair<std::string, std::vector<std::string>>> foreign, unknown;
  for (const auto& node : graph.node()) {
    if (onnx_import::IsPreviewGradient(node)) continue;  // the IR's Gradient op
    if (!IsDefaultDomain(node.domain())) {
      AddToGroup(foreign, node.domain() + "." + node.op_type(), NodeName(node));
    } else if (!FindOpDef(node.op_type())) {
      AddToGroup(unknown, node.op_type(), NodeName(node));
    }
  }
  if (foreign.empty() && unknown.empty()) return Status::Ok();
  std::string msg = source + ":";
  if (!unknown.empty()) msg += " unsupported ops: " + ListByOp(unknown);
  if (!foreign.empty()) {
    msg += std::string(unknown.empty() ? "" : ";") +
           " ops outside the ai.onnx domain are not supported: " + ListByOp(foreign);
  }
  return Status(StatusCode::kUnimplemented, msg);
}

// Rejects absurd declared sizes (initializer dims, input shapes) and external
// data before ONNX's checker (which would go looking for the files) sees them.
Status CheckDeclaredSizes(const onnx::GraphProto& graph, const std::string& source) {
  for (const auto& init : graph.initializer()) {
    if (init.data_location() == onnx::TensorProto::EXTERNAL || init.external_data_size() > 0) {
      return Unimplemented(source, ": initializer '", init.name(),
                           "': external tensor data is not supported (store the weights inside the model)");
    }
    Dims dims(init.dims().begin(), init.dims().end());
    Status s = CheckedElementCount(dims).status();
    if (!s.ok()) return s.WithContext(source + ": initializer '" + init.name() + "'");
  }
  for (const auto& input : graph.input()) {
    if (!input.type().has_tensor_type() || !input.type().tensor_type().has_shape()) continue;
    Dims dims;
    for (const auto& d : input.type().tensor_type().shape().dim())
      dims.push_back(d.has_dim_value() ? d.dim_value() : 1);
    Status s = CheckedElementCount(dims).status();
    if (!s.ok()) return s.WithContext(source + ": input '" + input.name() + "'");
  }
  return Status::Ok();
}

// SSA and topological order, and graph outputs that exist: libonnx's IR import
// (used by shape inference and the version converter) crashes on such graphs
// rather than reporting them, so they are checked first.
Status CheckGraphStructure(const onnx::GraphProto& graph, const std::string& source) {
  std::set<std::string> defined;
  for (const auto& init : graph.initializer()) {
    if (!defined.insert(init.name()).second) {
      return InvalidArgument(source, ": initializer '", init.name(), "' is defined twice");
    }
  }
  for (const auto& input : graph.input()) {
    if (input.name().empty()) return InvalidArgument(source, ": a graph input has no name");
    defined.insert(input.name());
  }
  for (const auto& node : graph.node()) {
    const std::string label = NodeName(node) + " (" + node.op_type() + ")";
    for (const std::string& in : node.input()) {
      if (!in.empty() && !defined.count(in)) {
        return InvalidArgument(source, ": ", label, ": input '", in, "' is not defined before this node");
      }
    }
    for (const std::string& out : node.output()) {
      if (!out.empty() && !defined.insert(out).second) {
        return InvalidArgument(source, ": ", label, ": output '", out, "' is already defined");
      }
    }
    for (const auto& a : node.attribute()) {
      if (a.has_g() || a.graphs_size() > 0) {
        return Unimplemented(source, ": ", label, ": subgraph attributes are not supported");
      }
    }
  }
  if (graph.output_size() == 0) return InvalidArgument(source, ": the graph declares no outputs");
  for (const auto& out : graph.output()) {
    if (!defined.count(out.name())) return InvalidArgument(source, ": graph output '", out.name(), "' is not defined");
  }
  return Status::Ok();
}

StatusOr<int64_t> DefaultOpset(const onnx::ModelProto& model, const std::string& source) {
  for (const auto& op : model.opset_import()) {
    if (IsDefaultDomain(op.domain())) return static_cast<int64_t>(op.version());
  }
  return InvalidArgument(source, ": the model imports no ai.onnx opset");
}

StatusOr<proto::Attribute> ConvertAttribute(const onnx::AttributeProto& a, const std::string& where) {
  proto::Attribute out;
  out.set_name(a.name());
  int type = a.type();
  if (type == onnx::AttributeProto::UNDEFINED) {  // very old models leave the type out
    type = a.has_f()          ? onnx::AttributeProto::FLOAT
           : a.has_i()        ? onnx::AttributeProto::INT
           : a.has_s()        ? onnx::AttributeProto::STRING
           : a.has_t()        ? onnx::AttributeProto::TENSOR
           : a.floats_size()  ? onnx::AttributeProto::FLOATS
           : a.ints_size()    ? onnx::AttributeProto::INTS
           : a.strings_size() ? onnx::AttributeProto::STRINGS
                              : onnx::AttributeProto::UNDEFINED;
  }
  switch (type) {
    case onnx::AttributeProto::INT: out.set_i(a.i()); break;
    case onnx::AttributeProto::FLOAT: out.set_f(a.f()); break;
    case onnx::AttributeProto::STRING: out.set_s(a.s()); break;
    case onnx::AttributeProto::INTS: out.mutable_ints()->mutable_values()->CopyFrom(a.ints()); break;
    case onnx::AttributeProto::FLOATS: out.mutable_floats()->mutable_values()->CopyFrom(a.floats()); break;
    case onnx::AttributeProto::STRINGS: out.mutable_strings()->mutable_values()->CopyFrom(a.strings()); break;
    case onnx::AttributeProto::TENSOR: {
      ASSIGN_OR_RETURN(Tensor t, TensorFromOnnx(a.t(), where + ": attribute '" + a.name() + "'"));
      t.ToProto(out.mutable_t());
      break;
    }
    default:
      return Unimplemented(where, ": attribute '", a.name(), "' has type ",
                           onnx::AttributeProto::AttributeType_Name(static_cast<onnx::AttributeProto::AttributeType>(
                               onnx::AttributeProto::AttributeType_IsValid(type) ? type : 0)),
                           ", which is not supported");
  }
  return out;
}

// Declared input type: dtype plus dims, where a dim_param (or a dim without a
// value) is symbolic: -1, with its symbol recorded for resolve-symbolic-dims.
Status AddGraphInput(const onnx::ValueInfoProto& info, Graph& graph, std::map<std::string, Value*>& values) {
  const std::string what = "input '" + info.name() + "'";
  if (!info.type().has_tensor_type()) return Unimplemented(what, ": only tensor inputs are supported");
  const auto& tt = info.type().tensor_type();
  auto dtype_or = DTypeFromOnnx(tt.elem_type());
  if (!dtype_or.ok()) return dtype_or.status().WithContext(what);
  const DType dtype = *dtype_or;
  if (!tt.has_shape()) return InvalidArgument(what, ": no shape declared (Kiln needs the rank of every input)");
  TensorType type{dtype, {}};
  std::vector<std::pair<int, std::string>> symbols;
  for (int i = 0; i < tt.shape().dim_size(); ++i) {
    const auto& d = tt.shape().dim(i);
    if (d.has_dim_value()) {
      if (d.dim_value() < 0) return InvalidArgument(what, ": negative dimension ", d.dim_value());
      type.dims.push_back(d.dim_value());
    } else {
      type.dims.push_back(-1);
      symbols.push_back({i, d.has_dim_param() && !d.dim_param().empty() ? d.dim_param() : "?"});
    }
  }
  Value* v = graph.AddInput(info.name(), type);
  v->symbolic_dims() = std::move(symbols);
  values[info.name()] = v;
  return Status::Ok();
}

// The value of a Constant node (any of its value_* forms).
StatusOr<Tensor> ConstantNodeValue(const onnx::NodeProto& node, const std::string& label) {
  if (node.attribute_size() != 1) return InvalidArgument(label, ": needs exactly one value attribute");
  const onnx::AttributeProto& a = node.attribute(0);
  if (a.name() == "value") return TensorFromOnnx(a.t(), label + ": attribute 'value'");
  if (a.name() == "value_float") return Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{a.f()});
  if (a.name() == "value_int") return Tensor::FromVector(proto::DT_INT64, {}, std::vector<int64_t>{a.i()});
  if (a.name() == "value_floats") {
    std::vector<float> v(a.floats().begin(), a.floats().end());
    return Tensor::FromVector(proto::DT_FLOAT, {static_cast<int64_t>(v.size())}, v);
  }
  if (a.name() == "value_ints") {
    std::vector<int64_t> v(a.ints().begin(), a.ints().end());
    return Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(v.size())}, v);
  }
  return Unimplemented(label, ": constant attribute '", a.name(), "' is not supported");
}

Status AddNode(const onnx::NodeProto& node, Graph& graph, std::map<std::string, Value*>& values) {
  const std::string name = NodeName(node);
  const std::string label = name + " (" + node.op_type() + ")";
  if (node.op_type() == "Constant" && node.input_size() == 0 && node.output_size() == 1) {
    // Folded at import: shape inference reads shape-like inputs (Reshape's shape,
    // Unsqueeze's axes, ...) straight from constants.
    if (values.count(node.output(0))) return InvalidArgument(label, ": output '", node.output(0), "' is defined twice");
    ASSIGN_OR_RETURN(Tensor t, ConstantNodeValue(node, label));
    values[node.output(0)] = graph.AddConstant(node.output(0), std::move(t));
    return Status::Ok();
  }
  std::vector<Value*> inputs;
  for (const std::string& in : node.input()) {
    if (in.empty()) {
      inputs.push_back(nullptr);  // an omitted optional input
      continue;
    }
    auto it = values.find(in);
    if (it == values.end()) return InvalidArgument(label, ": input '", in, "' is not defined before this node");
    inputs.push_back(it->second);
  }
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();
  std::vector<std::string> outputs(node.output().begin(), node.output().end());
  while (!outputs.empty() && outputs.back().empty()) outputs.pop_back();
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].empty()) outputs[i] = name + ":unused" + std::to_string(i);
    if (values.count(outputs[i])) return InvalidArgument(label, ": output '", outputs[i], "' is defined twice");
  }
  Attrs attrs;
  for (const auto& a : node.attribute()) {
    ASSIGN_OR_RETURN(proto::Attribute attr, ConvertAttribute(a, label));
    attrs.Set(attr);
  }
  const OpDef* def = FindOpDef(node.op_type());
  if (!def) return Unimplemented(label, ": op is not supported");  // CheckOpsSupported ran first
  RETURN_IF_ERROR(ValidateNode(*def, label, static_cast<int>(inputs.size()), static_cast<int>(outputs.size()), attrs));
  Node* n = graph.AddNode(node.op_type(), name, inputs, static_cast<int>(outputs.size()), std::move(attrs), outputs);
  for (int i = 0; i < n->num_outputs(); ++i) values[outputs[i]] = n->output(i);
  return Status::Ok();
}

StatusOr<std::unique_ptr<Graph>> BuildGraph(const onnx::GraphProto& g) {
  auto graph = std::make_unique<Graph>();
  if (!g.name().empty()) graph->set_name(g.name());
  std::map<std::string, Value*> values;
  for (const auto& init : g.initializer()) {
    if (values.count(init.name())) return InvalidArgument("initializer '", init.name(), "' is defined twice");
    ASSIGN_OR_RETURN(Tensor t, TensorFromOnnx(init, "initializer '" + init.name() + "'"));
    DType dtype = t.dtype();
    Value* v = graph->AddConstant(init.name(), std::move(t));
    // Floating-point initializers are the weights; integer ones are shapes and indices.
    v->set_parameter(IsFloatingType(dtype));
    values[init.name()] = v;
  }
  for (const auto& input : g.input()) {
    if (values.count(input.name())) continue;  // has an initializer: a constant, not an input
    RETURN_IF_ERROR(AddGraphInput(input, *graph, values));
  }
  for (const auto& node : g.node()) RETURN_IF_ERROR(AddNode(node, *graph, values));
  for (const auto& out : g.output()) {
    auto it = values.find(out.name());
    if (it == values.end()) return InvalidArgument("graph output '", out.name(), "' is not defined");
    graph->AddOutput(it->second);
  }
  if (graph->outputs().empty()) return InvalidArgument("the graph declares no outputs");
  return graph;
}

StatusOr<Model> ImportModelProto(onnx::ModelProto& model, const std::string& source) {
  if (!model.has_graph()) return InvalidArgument(source, ": not a valid ONNX model (no graph)");
  RETURN_IF_ERROR(CheckOpsSupported(model.graph(), source));
  ASSIGN_OR_RETURN(int64_t opset, DefaultOpset(model, source));
  RETURN_IF_ERROR(CheckGraphStructure(model.graph(), source));
  RETURN_IF_ERROR(CheckDeclaredSizes(model.graph(), source));
  if (opset > onnx_import::kNewestSupportedOpset) {
    return Unimplemented(source, ": ai.onnx opset ", opset, " is newer than the newest supported (",
                         onnx_import::kNewestSupportedOpset, ")");
  }
  // libonnx's checker knows schemas up to its opset; newer models are checked by
  // the importer itself (structure above, then each node's arity, attributes and
  // types against the registry while the graph is built).
  try {
    if (opset <= onnx_import::kNewestLibonnxOpset) onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return InvalidArgument(source, ": invalid ONNX model: ", e.what());
  } catch (...) {
    return InvalidArgument(source, ": invalid ONNX model (the ONNX checker failed)");
  }
  try {
    RETURN_IF_ERROR(onnx_import::LiftToIrOpset(model, opset, source));
  } catch (...) {  // LiftToIrOpset catches libonnx's exceptions; this is a last guard
    return Internal(source, ": unexpected error while converting the opset");
  }
  // The converter may introduce ops of its own.
  RETURN_IF_ERROR(CheckOpsSupported(model.graph(), source));
  auto graph = BuildGraph(model.graph());
  if (!graph.ok()) return graph.status().WithContext(source);
  if (model.graph().name().empty()) {
    std::string base = source.substr(source.find_last_of('/') == std::string::npos ? 0 : source.find_last_of('/') + 1);
    (*graph)->set_name(base.substr(0, base.find('.')).empty() ? "main" : base.substr(0, base.find('.')));
  }
  Model m;
  m.graph = std::move(graph).value();
  m.source = source;
  return m;
}

}  // namespace

StatusOr<Model> ImportOnnxBytes(const std::string& bytes, const std::string& source) {
  onnx::ModelProto model;
  if (bytes.empty() || !model.ParseFromString(bytes)) {
    return InvalidArgument(source, ": not a valid ONNX model (truncated or corrupt protobuf)");
  }
  return ImportModelProto(model, source);
}

StatusOr<Model> ImportOnnxFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFile(path));
  return ImportOnnxBytes(bytes, path);
}

}  // namespace kiln
