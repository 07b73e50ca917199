// ONNX opsets 14-28 onto the IR: each node's ONNX version (the newest
// since-version of its op at the model's opset, from onnx_op_history.def) is
// looked up in a per-(op, version) table that says how that version maps onto the
// IR's semantics, the way ONNX Runtime registers kernels per version range.
// (Opsets below 13 are first lifted to 13 by libonnx's version converter.)
#pragma once

#include <string>
#include <vector>

#include "ir/core/status.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_import {

/// Node helpers shared by the importer's rewrites.
const onnx::AttributeProto* FindAttr(const onnx::NodeProto& node, const std::string& name);
void RemoveAttr(onnx::NodeProto& node, const std::string& name);
/// A node's name; one without a name is known by its first output.
std::string NodeName(const onnx::NodeProto& node);
/// "name (OpType)".
std::string NodeLabel(const onnx::NodeProto& node);
bool IsDefaultDomain(const std::string& domain);
/// ai.onnx.preview.training's Gradient, the one op outside ai.onnx the importer takes
/// (as the IR's Gradient, which autodiff expands at compile time).
bool IsPreviewGradient(const onnx::NodeProto& node);

/// Nodes grouped by a key (an op type, "Op-version"), keys in order of first use,
/// for messages that list every offending node at once.
using NodeGroups = std::vector<std::pair<std::string, std::vector<std::string>>>;
void AddToGroup(NodeGroups& groups, const std::string& key, const std::string& node);
/// "Foo (nodes n1, n3), Bar (node n7)".
std::string ListByOp(const NodeGroups& groups);

/// The newest default-domain opset the importer accepts.
constexpr int64_t kNewestSupportedOpset = 28;

/// The since-version of `op` a model at `opset` means; 0 when ONNX has no such
/// op (or none that old).
int OnnxSinceVersion(const std::string& op, int64_t opset);

/// The ONNX versions of `op` the importer accepts: those up to 13 (the IR's own),
/// and the newer ones with an entry in the version table.
std::vector<int> AcceptedOnnxVersions(const std::string& op);

/// Whether the IR takes version `since` of `op` as it is, with no rewrite: every
/// version up to 13 (the IR's own, after the version converter) and the newer ones
/// the version table maps with no lowering. What the ONNX exporter may write.
bool ImportsUnchanged(const std::string& op, int since);

/// Rewrites the default-domain nodes of a model at `opset` (>= 13) whose version
/// is newer than 13 into their IR form, in place. Reports every node whose
/// version the IR cannot express, all at once. Never throws.
Status LowerNewerVersions(onnx::ModelProto& model, int64_t opset, const std::string& source);

}  // namespace kiln::onnx_import
