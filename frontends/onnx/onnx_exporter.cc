#include "frontends/onnx/onnx_exporter.h"

#include <map>
#include <memory>
#include <vector>

#include "frontends/onnx/onnx_legacy.h"
#include "frontends/onnx/onnx_opsets.h"
#include "frontends/onnx/onnx_tensor.h"
#include "ir/core/op_registry.h"
#include "ir/model_io.h"
#include "onnx/checker.h"
#include "onnx/onnx_pb.h"

namespace kiln {
namespace {

void ConvertAttribute(const proto::Attribute& a, onnx::AttributeProto* o) {
  o->set_name(a.name());
  switch (a.value_case()) {
    case proto::Attribute::kI:
      o->set_type(onnx::AttributeProto::INT);
      o->set_i(a.i());
      break;
    case proto::Attribute::kF:
      o->set_type(onnx::AttributeProto::FLOAT);
      o->set_f(a.f());
      break;
    case proto::Attribute::kS:
      o->set_type(onnx::AttributeProto::STRING);
      o->set_s(a.s());
      break;
    case proto::Attribute::kInts:
      o->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints().values()) o->add_ints(v);
      break;
    case proto::Attribute::kFloats:
      o->set_type(onnx::AttributeProto::FLOATS);
      for (float v : a.floats().values()) o->add_floats(v);
      break;
    case proto::Attribute::kStrings:
      o->set_type(onnx::AttributeProto::STRINGS);
      for (const auto& v : a.strings().values()) o->add_strings(v);
      break;
    case proto::Attribute::kT: {
      o->set_type(onnx::AttributeProto::TENSOR);
      auto t = Tensor::FromProto(a.t());
      if (t.ok()) onnx_import::TensorToOnnx(*t, a.t().name(), o->mutable_t());
      break;
    }
    case proto::Attribute::VALUE_NOT_SET:
      o->set_type(onnx::AttributeProto::INTS);  // an empty list
      break;
  }
}

// The value's type; a dimension the graph leaves open (-1) becomes "batch".
void SetValueInfo(const Value& v, onnx::ValueInfoProto* info) {
  info->set_name(v.name());
  auto* tensor = info->mutable_type()->mutable_tensor_type();
  tensor->set_elem_type(DTypeToOnnx(v.dtype()));
  auto* shape = tensor->mutable_shape();
  for (int64_t d : v.dims()) {
    auto* dim = shape->add_dim();
    if (d < 0) {
      dim->set_dim_param("batch");
    } else {
      dim->set_dim_value(d);
    }
  }
}

// Whether every node means at `opset` what it means in the IR (nodes whose op ONNX lacks
// have been refused before).
bool SameSemanticsAt(const Graph& graph, int64_t opset) {
  for (const auto& n : graph.nodes()) {
    if (!onnx_import::ImportsUnchanged(n->op_type(), onnx_import::OnnxSinceVersion(n->op_type(), opset))) return false;
  }
  return true;
}

// Infers every node's output types with the open (-1) input dimensions set to `size`.
Status InferTypesWithOpenDimsAs(Graph& graph, const std::vector<TensorType>& declared, int64_t size) {
  for (size_t i = 0; i < declared.size(); ++i) {
    TensorType t = declared[i];
    for (int64_t& d : t.dims) d = d < 0 ? size : d;
    graph.inputs()[i]->set_type(t);
  }
  for (Node* node : graph.NodeList()) {
    ASSIGN_OR_RETURN(std::vector<TensorType> types, InferNodeTypes(*node));
    for (int i = 0; i < node->num_outputs(); ++i) node->output(i)->set_type(types[i]);
  }
  return Status::Ok();
}

// Node types over open input dimensions (a symbolic batch): inferred with the open sizes
// set to 1 and to 2; a dimension that follows them is open (-1) too.
Status InferTypesWithOpenDims(Graph& graph) {
  std::vector<TensorType> declared;
  for (const Value* in : graph.inputs()) declared.push_back(in->type());
  RETURN_IF_ERROR(InferTypesWithOpenDimsAs(graph, declared, 1));
  std::map<const Value*, TensorType> with_one;
  for (Node* node : graph.NodeList()) {
    for (const Value* out : node->outputs()) with_one[out] = out->type();
  }
  RETURN_IF_ERROR(InferTypesWithOpenDimsAs(graph, declared, 2));
  for (size_t i = 0; i < declared.size(); ++i) graph.inputs()[i]->set_type(declared[i]);
  for (Node* node : graph.NodeList()) {
    for (Value* out : node->outputs()) {
      TensorType t = out->type();
      const TensorType& one = with_one[out];
      for (size_t d = 0; d < t.dims.size() && d < one.dims.size(); ++d) {
        if (t.dims[d] != one.dims[d]) t.dims[d] = -1;
      }
      out->set_type(t);
    }
  }
  return Status::Ok();
}

onnx::ModelProto BuildModel(const Graph& graph, int64_t opset) {
  onnx::ModelProto model;
  model.set_ir_version(opset >= 21 ? 10 : opset >= 19 ? 9 : opset >= 15 ? 8 : 7);
  model.set_producer_name("kiln");
  auto* opset_import = model.add_opset_import();
  opset_import->set_domain("");
  opset_import->set_version(opset);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(graph.name());
  for (const Value* v : graph.values()) {
    if (v->is_constant() && !v->producer()) onnx_import::TensorToOnnx(v->constant(), v->name(), g->add_initializer());
  }
  for (const Value* in : graph.inputs()) SetValueInfo(*in, g->add_input());
  for (const auto& n : graph.nodes()) {
    onnx::NodeProto* node = g->add_node();
    node->set_name(n->name());
    node->set_op_type(n->op_type());
    for (const Value* in : n->inputs()) node->add_input(in ? in->name() : "");
    for (const Value* out : n->outputs()) node->add_output(out->name());
    for (const auto& [name, attr] : n->attrs().all()) ConvertAttribute(attr, node->add_attribute());
  }
  for (const Value* out : graph.outputs()) SetValueInfo(*out, g->add_output());
  return model;
}

}  // namespace

// The lowest opset from 13 at which every node keeps the IR's meaning and ONNX's checker
// accepts the model: 13 for MLPs and CNNs, 14 for a batch-first LSTM (its `layout`
// attribute), 17 for LayerNormalization. The checker knows schemas up to libonnx's opset;
// a model that needs a newer one is checked by Kiln's importer when it is read back.
StatusOr<std::string> SerializeOnnx(const Graph& source, const std::string& path) {
  // Every value typed, the graph outputs' above all (ONNX requires their types): a graph
  // built from layers leaves its node types to the compiler's shape pass.
  std::unique_ptr<Graph> typed = source.Clone();
  Graph& graph = *typed;
  RETURN_IF_ERROR(InferTypesWithOpenDims(graph).WithContext(path));
  std::vector<std::string> kiln_only;
  for (const auto& n : graph.nodes()) {
    if (onnx_import::OnnxSinceVersion(n->op_type(), onnx_import::kNewestSupportedOpset) == 0) {
      kiln_only.push_back(n->Label());
    }
  }
  if (!kiln_only.empty()) {
    std::string msg = path + ": cannot export Kiln-only ops to ONNX:";
    for (const std::string& k : kiln_only) msg += " " + k;
    return Unimplemented(msg);
  }
  std::string checker_error;
  for (int64_t opset = 13; opset <= onnx_import::kNewestSupportedOpset; ++opset) {
    if (!SameSemanticsAt(graph, opset)) continue;
    onnx::ModelProto model = BuildModel(graph, opset);
    if (opset <= onnx_import::kNewestLibonnxOpset) {
      try {
        onnx::checker::check_model(model);
      } catch (const std::exception& e) {
        if (checker_error.empty()) checker_error = e.what();
        continue;
      }
    }
    std::string bytes;
    if (!model.SerializeToString(&bytes)) return Internal(path, ": cannot serialize the ONNX model");
    return bytes;
  }
  if (!checker_error.empty()) return Internal(path, ": the exported model fails ONNX's checker: ", checker_error);
  return Unimplemented(path, ": no ONNX opset from 13 to ", onnx_import::kNewestSupportedOpset,
                       " keeps the meaning of every node");
}

Status ExportOnnx(const Graph& graph, const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeOnnx(graph, path));
  return WriteFileAtomically(path, bytes);
}

}  // namespace kiln
