// Small graph-rewriting helpers shared by the optimization passes.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "compiler/pass.h"
#include "ir/graph.h"

namespace kiln {

/// Replaces every use of `from` by `to` (which must have `from`'s type). Graph
/// outputs keep their names: when `from` is one, `to` is renamed after it. Returns
/// false, changing nothing, when `to` cannot take that name (a graph input, a
/// constant, state, or already a graph output).
bool ReplaceValue(Graph& graph, Value* from, Value* to);

/// ReplaceValue for a value a rewrite just created: it also takes `from`'s name
/// (listings keep the model's value names; `from` gets a fresh one).
bool ReplaceWithNewValue(Graph& graph, Value* from, Value* fresh);

/// A constant computed from `original` (a folded weight, a transposed or merged
/// bias): a parameter of the model when `original` was one, so `kiln dump`'s
/// parameter table still counts the model's weights.
Value* AddDerivedConstant(Graph& graph, const Value* original, const std::string& name, Tensor t);

/// Evaluates `node` with its reference kernel when every input is a constant
/// and its outputs hold at most options.max_fold_elements elements (Shape needs
/// only its input's type); the node is removed and its outputs become constants.
StatusOr<bool> FoldNode(Graph& graph, Node* node, const PassOptions& options);

/// Whether `v` is a constant whose every element equals `x`.
bool IsConstantFilledWith(const Value* v, double x);

/// Ops that only reinterpret their input's shape (same elements, same order).
bool IsReshapeLike(const Node& node);

/// For a Reshape-like node: replaces it with its earliest reshape-like ancestor's
/// input when the shapes agree (a no-op), or reshapes that input directly to the
/// node's output shape (a chain collapses into one Reshape). Returns whether it changed.
bool CollapseReshapeChain(Graph& graph, Node* node);

/// Replaces `node`'s one output by `src` (the same elements in the same order) when
/// their shapes agree, else by a new Reshape of `src`. Returns whether it changed.
bool ReplaceWithReshapeOf(Graph& graph, Node* node, Value* src);

/// The operand of binary `node` other than `v`, when `node` is an `op` that reads `v` once;
/// else null.
Value* OtherOperand(const Node* node, const char* op, const Value* v);

/// A reduction's axes as written (unnormalized): its constant second input (opset 13/18
/// style), else its "axes" attribute (empty when absent); nullopt when the input is not a
/// constant.
std::optional<std::vector<int64_t>> ReductionAxes(const Node& node);

/// The only user of `v` when it has exactly one and is no graph output, else null.
Node* SoleUser(Graph& graph, Value* v);

/// Removes nodes whose outputs are all unused (what the rewrites leave behind).
void RemoveUnusedNodes(Graph& graph);

}  // namespace kiln
