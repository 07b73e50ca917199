#include "frontends/onnx/onnx_exporter.h"

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

}  // namespace

StatusOr<std::string> SerializeOnnx(const Graph& graph, const std::string& path) {
  onnx::ModelProto model;
  model.set_ir_version(7);
  model.set_producer_name("kiln");
  auto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  onnx::GraphProto* g = model.mutable_graph();
  g->set_name(graph.name());
  std::vector<std::string> kiln_only;
  for (const Value* v : graph.values()) {
    if (v->is_constant() && !v->producer()) onnx_import::TensorToOnnx(v->constant(), v->name(), g->add_initializer());
  }
  for (const Value* in : graph.inputs()) SetValueInfo(*in, g->add_input());
  for (const auto& n : graph.nodes()) {
    const OpDef* def = n->def();
    if (!def || def->kind > OpKind::kReduceMax) {
      kiln_only.push_back(n->Label());
      continue;
    }
    onnx::NodeProto* node = g->add_node();
    node->set_name(n->name());
    node->set_op_type(n->op_type());
    for (const Value* in : n->inputs()) node->add_input(in ? in->name() : "");
    for (const Value* out : n->outputs()) node->add_output(out->name());
    for (const auto& [name, attr] : n->attrs().all()) ConvertAttribute(attr, node->add_attribute());
  }
  if (!kiln_only.empty()) {
    std::string msg = path + ": cannot export Kiln-only ops to ONNX:";
    for (const std::string& k : kiln_only) msg += " " + k;
    return Unimplemented(msg);
  }
  for (const Value* out : graph.outputs()) SetValueInfo(*out, g->add_output());
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return Internal(path, ": the exported model fails ONNX's checker: ", e.what());
  }
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return Internal(path, ": cannot serialize the ONNX model");
  return bytes;
}

Status ExportOnnx(const Graph& graph, const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeOnnx(graph, path));
  return WriteFileAtomically(path, bytes);
}

}  // namespace kiln
