#include "frontends/onnx/onnx_legacy.h"

#include <algorithm>
#include <exception>
#include <map>
#include <set>

#include "frontends/onnx/onnx_opsets.h"
#include "ir/core/op_registry.h"
#include "onnx/shape_inference/implementation.h"
#include "onnx/version_converter/convert.h"

namespace kiln::onnx_import {
namespace {

// Ranks of the values ONNX shape inference can tell (-1 when unknown), used by
// the legacy fix-ups that need them. A failure of inference only leaves ranks unknown.
std::map<std::string, int> KnownRanks(const onnx::ModelProto& model) {
  onnx::ModelProto inferred = model;
  try {
    onnx::shape_inference::InferShapes(inferred);
  } catch (const std::exception&) {
  }
  std::map<std::string, int> ranks;
  auto note = [&](const onnx::ValueInfoProto& info) {
    if (info.type().has_tensor_type() && info.type().tensor_type().has_shape()) {
      ranks[info.name()] = info.type().tensor_type().shape().dim_size();
    }
  };
  const auto& g = inferred.graph();
  for (const auto& v : g.input()) note(v);
  for (const auto& v : g.value_info()) note(v);
  for (const auto& v : g.output()) note(v);
  for (const auto& t : g.initializer()) ranks[t.name()] = t.dims_size();
  return ranks;
}

int RankOf(const std::map<std::string, int>& ranks, const std::string& name) {
  auto it = ranks.find(name);
  return it == ranks.end() ? -1 : it->second;
}

// Appends an opset-1 Unsqueeze of `input` (the converter lifts it) and returns its output.
std::string AddLegacyUnsqueeze(google::protobuf::RepeatedPtrField<onnx::NodeProto>& nodes, const std::string& input,
                               int64_t first_axis, int64_t count, const std::string& tag, int& fresh) {
  onnx::NodeProto* unsqueeze = nodes.Add();
  std::string out = input + tag + std::to_string(fresh++);
  unsqueeze->set_op_type("Unsqueeze");
  unsqueeze->set_name(out);
  unsqueeze->add_input(input);
  unsqueeze->add_output(out);
  onnx::AttributeProto* axes = unsqueeze->add_attribute();
  axes->set_name("axes");
  axes->set_type(onnx::AttributeProto::INTS);
  for (int64_t i = 0; i < count; ++i) axes->add_ints(first_axis + i);
  return out;
}

// Opset < 7 binary ops broadcast B against A starting at `axis`. The converter's
// adapter (ONNX 1.12) wires the Unsqueeze it inserts wrongly, so the axis is made
// numpy-style here: B gets trailing 1-dims. PRelu's per-channel slope likewise.
Status FixLegacyBroadcasting(onnx::ModelProto& model, const std::string& source) {
  static const std::set<std::string> kBinary = {"Add", "Sub", "Mul", "Div", "Pow"};
  onnx::GraphProto* g = model.mutable_graph();
  bool needs_ranks = false;
  for (const auto& node : g->node()) {
    needs_ranks |= kBinary.count(node.op_type()) && FindAttr(node, "axis") && FindAttr(node, "broadcast");
    needs_ranks |= node.op_type() == "PRelu";
  }
  if (!needs_ranks) return Status::Ok();
  std::map<std::string, int> ranks = KnownRanks(model);
  google::protobuf::RepeatedPtrField<onnx::NodeProto> rewritten;
  int fresh = 0;
  for (onnx::NodeProto& node : *g->mutable_node()) {
    const onnx::AttributeProto* axis_attr = FindAttr(node, "axis");
    const onnx::AttributeProto* bcast = FindAttr(node, "broadcast");
    // PRelu < 7 applies a [C] slope per channel (axis 1); from 7 on it broadcasts numpy-style.
    int prelu_trailing = node.op_type() == "PRelu" && node.input_size() == 2 && RankOf(ranks, node.input(1)) == 1
                             ? RankOf(ranks, node.input(0)) - 2
                             : 0;
    if (prelu_trailing > 0) {
      node.set_input(1, AddLegacyUnsqueeze(rewritten, node.input(1), 1, prelu_trailing, "_kiln_per_channel_", fresh));
    }
    if (kBinary.count(node.op_type()) && axis_attr && bcast && bcast->i() != 0 && node.input_size() == 2) {
      int rank_a = RankOf(ranks, node.input(0));
      int rank_b = RankOf(ranks, node.input(1));
      if (rank_a < 0 || rank_b < 0) {
        return Unimplemented(source, ": ", NodeLabel(node),
                             ": legacy broadcast with 'axis' needs the ranks of both inputs, which are unknown");
      }
      int64_t axis = axis_attr->i() < 0 ? axis_attr->i() + rank_a : axis_attr->i();
      int64_t trailing = rank_a - axis - rank_b;
      if (axis < 0 || trailing < 0) {
        return InvalidArgument(source, ": ", NodeLabel(node), ": broadcast axis ", axis_attr->i(),
                               " does not fit input ranks ", rank_a, " and ", rank_b);
      }
      if (trailing > 0) {
        node.set_input(1, AddLegacyUnsqueeze(rewritten, node.input(1), rank_b, trailing, "_kiln_bcast_", fresh));
      }
      RemoveAttr(node, "axis");
    }
    *rewritten.Add() = std::move(node);
  }
  g->mutable_node()->Swap(&rewritten);
  return Status::Ok();
}

// ONNX's own shape inference (run below for the legacy fix-ups and the version
// converter) divides by these attributes without checking them: a stride, dilation,
// kernel size, group or block size of 0 is a SIGFPE inside libonnx (found by
// fuzz_model_loaders). They are positive in every op that has them; nodes of
// subgraphs are checked too.
Status CheckDivisorAttributes(const onnx::GraphProto& graph, const std::string& source) {
  static const char* const kPositive[] = {"strides", "dilations", "kernel_shape", "group", "blocksize"};
  for (int index = 0; index < graph.node_size(); ++index) {
    const onnx::NodeProto& node = graph.node(index);
    for (const onnx::AttributeProto& attr : node.attribute()) {
      for (const char* name : kPositive) {
        if (attr.name() != name) continue;
        // An untyped attribute reads as its int too (libonnx does not check the type).
        const bool int_like =
            attr.type() == onnx::AttributeProto::INT || attr.type() == onnx::AttributeProto::UNDEFINED;
        bool positive = !int_like || attr.ints_size() > 0 || attr.i() > 0;
        for (int64_t v : attr.ints()) positive = positive && v > 0;
        if (!positive) {
          const std::string label = node.name().empty() ? "#" + std::to_string(index) : "'" + node.name() + "'";
          return InvalidArgument(source, ": node ", label, " (", node.op_type(), "): attribute '", name,
                                 "' must be positive");
        }
      }
      if (attr.has_g()) RETURN_IF_ERROR(CheckDivisorAttributes(attr.g(), source));
      for (const onnx::GraphProto& g : attr.graphs()) RETURN_IF_ERROR(CheckDivisorAttributes(g, source));
    }
  }
  return Status::Ok();
}

// Checks the legacy attributes whose semantics the IR has no form for, then drops
// the ones that only restate the IR's behaviour.
Status CheckLegacyAttributes(onnx::ModelProto& model, int64_t opset, const std::string& source,
                             const std::map<std::string, int>* ranks) {
  for (onnx::NodeProto& node : *model.mutable_graph()->mutable_node()) {
    const std::string& op = node.op_type();
    if (op == "BatchNormalization") {
      const onnx::AttributeProto* spatial = FindAttr(node, "spatial");
      if (spatial && spatial->i() == 0) {
        return Unimplemented(source, ": ", NodeLabel(node),
                             ": spatial=0 (per-activation statistics, opset < 9) is not supported");
      }
      const onnx::AttributeProto* is_test = FindAttr(node, "is_test");
      if (opset < 7 && is_test && is_test->i() == 0) {
        return Unimplemented(
            source, ": ", NodeLabel(node),
            ": is_test=0 computes batch statistics (training); only inference (is_test=1) is supported");
      }
      const onnx::AttributeProto* training = FindAttr(node, "training_mode");
      if (training && training->i() != 0) {
        return Unimplemented(source, ": ", NodeLabel(node),
                             ": training_mode=1 is not supported for inference (export the model in eval mode)");
      }
      RemoveAttr(node, "spatial");
      RemoveAttr(node, "is_test");
      RemoveAttr(node, "consumed_inputs");
    }
    if (op == "Gemm" && opset < 7 && ranks) {
      // The converter indexes the shapes of A and B without checking them.
      for (int i = 0; i < 2 && i < node.input_size(); ++i) {
        if (RankOf(*ranks, node.input(i)) != 2) {
          return InvalidArgument(source, ": ", NodeLabel(node), ": input ", i,
                                 " must have a known rank-2 shape to convert Gemm from opset ", opset);
        }
      }
    }
    // Attributes older opsets carried and later ones dropped; the IR has no use for them.
    const OpDef* def = FindOpDef(op);
    for (const char* legacy : {"consumed_inputs", "is_test", "spatial", "broadcast"}) {
      bool known = false;
      if (def) {
        for (const AttrSpec& spec : def->attrs) known |= spec.name == legacy;
      }
      if (!known && FindAttr(node, legacy)) RemoveAttr(node, legacy);
    }
  }
  return Status::Ok();
}

void SetDefaultOpset(onnx::ModelProto& model, int64_t version) {
  for (auto& op : *model.mutable_opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") op.set_version(version);
  }
}

}  // namespace

Status LiftToIrOpset(onnx::ModelProto& model, int64_t opset, const std::string& source) {
  if (opset > kNewestSupportedOpset) {
    return Unimplemented(source, ": ai.onnx opset ", opset, " is newer than the newest supported (",
                         kNewestSupportedOpset, ")");
  }
  if (opset < 1) return InvalidArgument(source, ": invalid ai.onnx opset version ", opset);
  if (opset < kIrOpset) {
    RETURN_IF_ERROR(CheckDivisorAttributes(model.graph(), source));
    std::map<std::string, int> ranks;
    if (opset < 7) {
      RETURN_IF_ERROR(FixLegacyBroadcasting(model, source));
      ranks = KnownRanks(model);
    }
    RETURN_IF_ERROR(CheckLegacyAttributes(model, opset, source, opset < 7 ? &ranks : nullptr));
    try {
      // Several adapters (Softmax 12->13, Gemm 6->7) need the shapes of intermediate values.
      try {
        onnx::shape_inference::InferShapes(model);
      } catch (const std::exception&) {
      }
      model = onnx::version_conversion::ConvertVersion(model, static_cast<int>(kIrOpset));
    } catch (const std::exception& e) {
      return Unimplemented(source, ": cannot convert from opset ", opset, " to ", kIrOpset, ": ", e.what());
    }
  }
  // Versions newer than 13 map onto the IR per (op, version); BatchNormalization's
  // `training_mode` (14) is checked with the legacy attributes.
  RETURN_IF_ERROR(LowerNewerVersions(model, std::max(opset, kIrOpset), source));
  RETURN_IF_ERROR(CheckLegacyAttributes(model, kIrOpset, source, nullptr));
  SetDefaultOpset(model, kIrOpset);
  return Status::Ok();
}

}  // namespace kiln::onnx_import
