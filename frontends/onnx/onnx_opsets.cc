#include "frontends/onnx/onnx_opsets.h"

#include <algorithm>
#include <map>

#include "frontends/onnx/onnx_tensor.h"
#include "ir/core/ops/binary_table.h"
#include "ir/core/ops/unary_table.h"
#include "ir/core/tensor.h"

namespace kiln::onnx_import {
namespace {

struct OpHistory {
  const char* op;
  std::vector<int> since;  // ascending
};

const std::vector<OpHistory>& History() {
  static const std::vector<OpHistory> history = {
#define ONNX_OP(name, ...) {#name, {__VA_ARGS__}},
#include "frontends/onnx/onnx_op_history.def"
#undef ONNX_OP
  };
  return history;
}

// Values the lowerings may read at import time: initializers and Constant nodes.
using Constants = std::map<std::string, const onnx::TensorProto*>;

Constants ConstantsOf(const onnx::GraphProto& graph) {
  Constants out;
  for (const auto& init : graph.initializer()) out[init.name()] = &init;
  for (const auto& node : graph.node()) {
    if (node.op_type() != "Constant" || node.output_size() != 1) continue;
    for (const auto& a : node.attribute()) {
      if (a.name() == "value" && a.has_t()) out[node.output(0)] = &a.t();
    }
  }
  return out;
}

StatusOr<std::vector<int64_t>> ConstantInts(const Constants& constants, const std::string& name,
                                            const std::string& where) {
  auto it = constants.find(name);
  if (it == constants.end()) {
    return Unimplemented(where, ": '", name, "' must be a constant (an initializer or a Constant node)");
  }
  ASSIGN_OR_RETURN(Tensor t, TensorFromOnnx(*it->second, where + ": '" + name + "'"));
  if (t.dtype() != proto::DT_INT64 && t.dtype() != proto::DT_INT32) {
    return InvalidArgument(where, ": '", name, "' must be int64, got ", DTypeName(t.dtype()));
  }
  std::vector<int64_t> out;
  for (int64_t i = 0; i < t.num_elements(); ++i) out.push_back(static_cast<int64_t>(t.GetAsDouble(i)));
  return out;
}

using LowerFn = Status (*)(onnx::NodeProto& node, const Constants& constants, const std::string& where);

// Gelu 20: approximate="none" is the IR's Gelu, "tanh" its GeluTanh (ir/core/ops/unary.def).
Status LowerGelu(onnx::NodeProto& node, const Constants&, const std::string& where) {
  const onnx::AttributeProto* attr = FindAttr(node, "approximate");
  const std::string approximate = attr ? attr->s() : "none";
  if (approximate == "tanh") {
    node.set_op_type("GeluTanh");
  } else if (approximate != "none") {
    return InvalidArgument(where, ": approximate must be \"none\" or \"tanh\", got \"", approximate, "\"");
  }
  RemoveAttr(node, "approximate");
  return Status::Ok();
}

// Reduce* 18 (ReduceMax 20 adds bool): constant axes moved from the input to the IR's
// attribute; empty axes with noop_with_empty_axes=1 are the identity. Axes computed in
// the graph stay an input, which the IR takes too (constant once folded, or an error then).
Status LowerReduceAxesInput(onnx::NodeProto& node, const Constants& constants, const std::string& where) {
  std::vector<int64_t> axes;
  if (node.input_size() > 1 && !node.input(1).empty()) {
    if (!constants.count(node.input(1))) return Status::Ok();
    ASSIGN_OR_RETURN(axes, ConstantInts(constants, node.input(1), where));
  }
  const onnx::AttributeProto* noop = FindAttr(node, "noop_with_empty_axes");
  const bool identity = axes.empty() && noop && noop->i() != 0;
  RemoveAttr(node, "noop_with_empty_axes");
  while (node.input_size() > 1) node.mutable_input()->RemoveLast();
  if (identity) {
    node.set_op_type("Identity");
    node.clear_attribute();
    return Status::Ok();
  }
  if (!axes.empty()) {
    onnx::AttributeProto* a = node.add_attribute();
    a->set_name("axes");
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t axis : axes) a->add_ints(axis);
  }
  return Status::Ok();
}

// Cast 19 adds 'saturate' and 25 'round_mode', which only affect float8 targets
// (not IR types, which the IR's Cast then reports).
Status LowerCastSaturate(onnx::NodeProto& node, const Constants&, const std::string&) {
  RemoveAttr(node, "saturate");
  RemoveAttr(node, "round_mode");
  return Status::Ok();
}

// GroupNormalization 18 scales per group ([num_groups]), 21 per channel ([C]): the IR's
// scale_per_group attribute tells them apart.
Status LowerGroupNormPerGroupScale(onnx::NodeProto& node, const Constants&, const std::string&) {
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name("scale_per_group");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(1);
  return Status::Ok();
}

// DFT 20: the axis moved from an attribute (default 1) to an input (default -2, the last
// signal axis); a constant one becomes the IR's attribute, another stays the IR's third
// input (which shape inference then needs constant).
Status LowerDftAxisInput(onnx::NodeProto& node, const Constants& constants, const std::string& where) {
  int64_t axis = -2;
  if (node.input_size() > 2 && !node.input(2).empty()) {
    if (!constants.count(node.input(2))) return Status::Ok();
    ASSIGN_OR_RETURN(std::vector<int64_t> v, ConstantInts(constants, node.input(2), where));
    if (v.size() != 1) return InvalidArgument(where, ": the axis input must be a scalar");
    axis = v[0];
  }
  while (node.input_size() > 2) node.mutable_input()->RemoveLast();
  while (node.input_size() > 1 && node.input(node.input_size() - 1).empty()) node.mutable_input()->RemoveLast();
  onnx::AttributeProto* a = node.add_attribute();
  a->set_name("axis");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(axis);
  return Status::Ok();
}

// Versions newer than 13 of the ops the IR has, and how each maps onto the IR
// (the unary activations and binary ops list theirs in ir/core/ops/unary.def, binary.def).
// nullptr: the IR already has that version's semantics (most added only types:
// bfloat16, int4/float8, which the dtype checks then accept or refuse; Reshape 14's
// allowzero, Shape 15's start/end, Split 18's num_outputs, Pad 18's axes input are
// IR attributes and inputs).
struct NewerVersion {
  const char* op;
  int since;
  LowerFn lower;
};
const NewerVersion kNewerVersions[] = {
    {"Relu", 14, nullptr},
    {"PRelu", 16, nullptr},
    {"Conv", 22, nullptr},
    {"ConvTranspose", 22, nullptr},
    {"MaxPool", 22, nullptr},
    {"AveragePool", 19, nullptr},  // dilations (an IR attribute)
    {"AveragePool", 22, nullptr},
    {"GlobalAveragePool", 22, nullptr},
    {"BatchNormalization", 14, nullptr},  // training_mode: checked by CheckLegacyAttributes
    {"BatchNormalization", 15, nullptr},
    {"Dropout", 22, nullptr},
    {"Flatten", 21, nullptr},
    {"Flatten", 23, nullptr},
    {"Flatten", 24, nullptr},
    {"Flatten", 25, nullptr},
    {"Reshape", 14, nullptr},
    {"Reshape", 19, nullptr},
    {"Reshape", 21, nullptr},
    {"Reshape", 23, nullptr},
    {"Reshape", 24, nullptr},
    {"Reshape", 25, nullptr},
    {"Transpose", 21, nullptr},
    {"Transpose", 23, nullptr},
    {"Transpose", 24, nullptr},
    {"Transpose", 25, nullptr},
    {"Split", 18, nullptr},
    {"Pad", 18, nullptr},
    {"Pad", 19, nullptr},
    {"Pad", 21, nullptr},
    {"Pad", 23, nullptr},
    {"Pad", 24, nullptr},
    {"Pad", 25, nullptr},
    {"Squeeze", 21, nullptr},
    {"Squeeze", 23, nullptr},
    {"Squeeze", 24, nullptr},
    {"Squeeze", 25, nullptr},
    {"Unsqueeze", 21, nullptr},
    {"Unsqueeze", 23, nullptr},
    {"Unsqueeze", 24, nullptr},
    {"Unsqueeze", 25, nullptr},
    {"Identity", 14, nullptr},
    {"Identity", 16, nullptr},
    {"Identity", 19, nullptr},
    {"Identity", 21, nullptr},
    {"Identity", 23, nullptr},
    {"Identity", 24, nullptr},
    {"Identity", 25, nullptr},
    {"Constant", 19, nullptr},
    {"Constant", 21, nullptr},
    {"Constant", 23, nullptr},
    {"Constant", 24, nullptr},
    {"Constant", 25, nullptr},
    {"ConstantOfShape", 20, nullptr},
    {"ConstantOfShape", 21, nullptr},
    {"ConstantOfShape", 23, nullptr},
    {"ConstantOfShape", 24, nullptr},
    {"ConstantOfShape", 25, nullptr},
    {"Shape", 15, nullptr},
    {"Shape", 19, nullptr},
    {"Shape", 21, nullptr},
    {"Shape", 23, nullptr},
    {"Shape", 24, nullptr},
    {"Shape", 25, nullptr},
    {"Cast", 19, LowerCastSaturate},
    {"Cast", 21, LowerCastSaturate},
    {"Cast", 23, LowerCastSaturate},
    {"Cast", 24, LowerCastSaturate},
    {"Cast", 25, LowerCastSaturate},
    {"Trilu", 14, nullptr},
    {"Gelu", 20, LowerGelu},
    {"IsInf", 20, nullptr},  // float8 types (refused by the dtype checks)
    {"IsNaN", 20, nullptr},
    {"LayerNormalization", 17, nullptr},
    {"RMSNormalization", 23, nullptr},
    {"InstanceNormalization", 22, nullptr},      // bfloat16
    {"NegativeLogLikelihoodLoss", 22, nullptr},  // bfloat16
    {"CumSum", 14, nullptr},                     // bfloat16, float16
    {"CumProd", 26, nullptr},
    {"TopK", 24, nullptr},
    {"Attention", 23, nullptr},
    {"Attention", 24, nullptr},  // nonpad_kv_seqlen (an IR input)
    {"Resize", 18, nullptr},     // antialias, axes, keep_aspect_ratio_policy: IR attributes
    {"Resize", 19, nullptr},     // half_pixel_symmetric
    // 19-25 add float8/int4/int16 types (refused by the dtype checks), block_size, output_dtype
    // and precision (IR attributes); 16 and 18 add the scatter reductions (IR attributes).
    {"QuantizeLinear", 19, nullptr},
    {"QuantizeLinear", 21, nullptr},
    {"QuantizeLinear", 23, nullptr},
    {"QuantizeLinear", 24, nullptr},
    {"QuantizeLinear", 25, nullptr},
    {"DequantizeLinear", 19, nullptr},
    {"DequantizeLinear", 21, nullptr},
    {"DequantizeLinear", 23, nullptr},
    {"DequantizeLinear", 24, nullptr},
    {"DequantizeLinear", 25, nullptr},
    {"ScatterElements", 16, nullptr},
    {"ScatterElements", 18, nullptr},
    {"ScatterND", 16, nullptr},
    {"ScatterND", 18, nullptr},
    {"CastLike", 15, nullptr},  // string inputs (refused by the dtype checks)
    {"Where", 16, nullptr},
    {"CastLike", 19, LowerCastSaturate},
    {"CastLike", 21, LowerCastSaturate},
    {"CastLike", 23, LowerCastSaturate},
    {"CastLike", 24, LowerCastSaturate},
    {"CastLike", 25, LowerCastSaturate},
    {"Size", 19, nullptr},
    {"Size", 21, nullptr},
    {"Size", 23, nullptr},
    {"Size", 24, nullptr},
    {"Size", 25, nullptr},
    {"Range", 27, nullptr},  // float16 computed in float32 (stash_type's default)
    {"RNN", 14, nullptr},    // 14: layout (an IR attribute); 22: bfloat16
    {"RNN", 22, nullptr},
    {"GRU", 14, nullptr},
    {"GRU", 22, nullptr},
    {"LSTM", 14, nullptr},
    {"LSTM", 22, nullptr},
    {"HannWindow", 17, nullptr},
    {"HammingWindow", 17, nullptr},
    {"BlackmanWindow", 17, nullptr},
    {"DFT", 17, nullptr},
    {"DFT", 20, LowerDftAxisInput},
    {"BitCast", 26, nullptr},
    {"RotaryEmbedding", 23, nullptr},
    {"ReduceMean", 18, LowerReduceAxesInput},
    {"ReduceMax", 18, LowerReduceAxesInput},
    {"ReduceMax", 20, LowerReduceAxesInput},
    {"ReduceMin", 18, LowerReduceAxesInput},
    {"ReduceMin", 20, LowerReduceAxesInput},
    {"ReduceProd", 18, LowerReduceAxesInput},
    {"ReduceSumSquare", 18, LowerReduceAxesInput},
    {"ReduceL1", 18, LowerReduceAxesInput},
    {"ReduceL2", 18, LowerReduceAxesInput},
    {"ReduceLogSum", 18, LowerReduceAxesInput},
    {"ReduceLogSumExp", 18, LowerReduceAxesInput},
    {"BitwiseNot", 18, nullptr},
    {"EyeLike", 22, nullptr},        // bfloat16
    {"GlobalMaxPool", 22, nullptr},  // bfloat16
    {"LpPool", 18, nullptr},         // ceil_mode, dilations (IR attributes)
    {"LpPool", 22, nullptr},
    {"LpNormalization", 22, nullptr},  // bfloat16
    {"Det", 22, nullptr},
    {"GroupNormalization", 18, LowerGroupNormPerGroupScale},
    {"GroupNormalization", 21, nullptr},
    {"CenterCropPad", 18, nullptr},  // scale, bias [C]; stash_type (an IR attribute)
};

const NewerVersion* FindNewerVersion(const std::string& op, int since) {
  for (const NewerVersion& v : kNewerVersions) {
    if (op == v.op && since == v.since) return &v;
  }
  return nullptr;
}

// The table above, and the versions the rows of ir/core/ops/unary.def and binary.def list.
bool AcceptsNewerVersion(const std::string& op, int since) {
  if (FindNewerVersion(op, since)) return true;
  auto lists = [since](const std::vector<int>& versions) {
    return std::find(versions.begin(), versions.end(), since) != versions.end();
  };
  const UnaryOpRow* unary = FindUnaryOp(op);
  const BinaryOpRow* binary = FindBinaryOp(op);
  return (unary && lists(unary->onnx_since)) || (binary && lists(binary->onnx_since));
}

}  // namespace

bool IsDefaultDomain(const std::string& domain) { return domain.empty() || domain == "ai.onnx"; }

bool IsPreviewGradient(const onnx::NodeProto& node) {
  return node.domain() == "ai.onnx.preview.training" && node.op_type() == "Gradient";
}

std::string NodeName(const onnx::NodeProto& node) {
  if (!node.name().empty()) return node.name();
  if (node.output_size() > 0 && !node.output(0).empty()) return node.output(0);
  return node.op_type();
}

void AddToGroup(NodeGroups& groups, const std::string& key, const std::string& node) {
  for (auto& g : groups) {
    if (g.first == key) {
      g.second.push_back(node);
      return;
    }
  }
  groups.push_back({key, {node}});
}

std::string ListByOp(const NodeGroups& groups) {
  std::string out;
  for (const auto& [op, nodes] : groups) {
    if (!out.empty()) out += ", ";
    out += op + (nodes.size() == 1 ? " (node " : " (nodes ");
    for (size_t i = 0; i < nodes.size(); ++i) out += (i ? ", " : "") + nodes[i];
    out += ")";
  }
  return out;
}

const onnx::AttributeProto* FindAttr(const onnx::NodeProto& node, const std::string& name) {
  for (const auto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

void RemoveAttr(onnx::NodeProto& node, const std::string& name) {
  auto* attrs = node.mutable_attribute();
  for (int i = 0; i < attrs->size(); ++i) {
    if (attrs->Get(i).name() == name) {
      attrs->DeleteSubrange(i, 1);
      return;
    }
  }
}

std::string NodeLabel(const onnx::NodeProto& node) { return NodeName(node) + " (" + node.op_type() + ")"; }

int OnnxSinceVersion(const std::string& op, int64_t opset) {
  for (const OpHistory& h : History()) {
    if (op != h.op) continue;
    int since = 0;
    for (int v : h.since) {
      if (v <= opset) since = v;
    }
    return since;
  }
  return 0;
}

std::vector<int> AcceptedOnnxVersions(const std::string& op) {
  std::vector<int> out;
  for (const OpHistory& h : History()) {
    if (op != h.op) continue;
    for (int v : h.since) {
      if (v <= 13 || AcceptsNewerVersion(op, v)) out.push_back(v);
    }
  }
  return out;
}

bool ImportsUnchanged(const std::string& op, int since) {
  if (since <= 0) return false;
  if (since <= 13) return true;
  const NewerVersion* newer = FindNewerVersion(op, since);
  if (newer) return newer->lower == nullptr;
  return AcceptsNewerVersion(op, since);  // a unary.def / binary.def row: same semantics
}

Status LowerNewerVersions(onnx::ModelProto& model, int64_t opset, const std::string& source) {
  if (opset > kNewestSupportedOpset) {
    return Unimplemented(source, ": ai.onnx opset ", opset, " is newer than the newest supported (",
                         kNewestSupportedOpset, ")");
  }
  onnx::GraphProto* graph = model.mutable_graph();
  // Every version the IR cannot express, reported at once: "Foo-19 (nodes a, b)".
  NodeGroups unknown;
  for (const auto& node : graph->node()) {
    if (!IsDefaultDomain(node.domain())) continue;
    const int since = OnnxSinceVersion(node.op_type(), opset);
    if (since <= 13 || AcceptsNewerVersion(node.op_type(), since)) continue;
    AddToGroup(unknown, node.op_type() + "-" + std::to_string(since), NodeName(node));
  }
  if (!unknown.empty()) {
    return Unimplemented(source, ": op versions newer than the IR's are not supported at opset ", opset, ": ",
                         ListByOp(unknown));
  }
  const Constants constants = ConstantsOf(*graph);
  for (onnx::NodeProto& node : *graph->mutable_node()) {
    if (!IsDefaultDomain(node.domain())) continue;
    const NewerVersion* v = FindNewerVersion(node.op_type(), OnnxSinceVersion(node.op_type(), opset));
    if (v && v->lower) RETURN_IF_ERROR(v->lower(node, constants, source + ": " + NodeLabel(node)));
  }
  return Status::Ok();
}

}  // namespace kiln::onnx_import
