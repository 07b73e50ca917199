// The text form of a graph (used by `kiln dump` and by tests) and its Graphviz
// DOT rendering. One printer for both, so what tests assert is what users see.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ir/graph.h"

namespace kiln {

/// A readable listing in the spirit of Keras' model.summary():
///
///   graph iris_mlp
///   inputs:
///     %features: float32[batch, 4]
///   parameters:
///     %dense1/kernel: float32[4, 64]
///   nodes:
///     %dense1/MatMul = MatMul(%features, %dense1/kernel) : float32[1, 64]
///     %dense1 = Relu(%dense1/BiasAdd) : float32[1, 64]  # dense1/Relu
///   outputs:
///     %dense2: float32[1, 3]
///
/// followed by a per-node parameter table and "Total params: 451 (1.8 KiB)".
/// Untyped values print as "?", symbolic dims by their symbol.
std::string PrintGraph(const Graph& graph);

/// Graphviz DOT: ops are boxes (op, node name, output shape), graph inputs and
/// outputs are ellipses, parameters and other constants are notes; edges carry
/// the shape of the value they move. Every label is escaped, so `dot -Tsvg`
/// accepts any names.
/// `visit`, when set, is called for every DOT node with its id (also its SVG element id
/// after `dot -Tsvg`) and what it stands for: an op (`node`), or a graph input, constant
/// or graph output (`value`, with `kind` "input", "param", "const" or "output").
struct DotNodeVisitor {
  std::function<void(const std::string& id, const Node& node)> op;
  std::function<void(const std::string& id, const char* kind, const Value& value)> value;
};
std::string PrintDot(const Graph& graph, const DotNodeVisitor& visit = {});

/// The weights a graph's nodes and outputs read, each constant once, as Keras counts
/// them: float constants (integer constants are shapes, axes and indices, not weights);
/// trainable ones are the parameters.
struct ParamCounts {
  int64_t total = 0, total_bytes = 0, trainable = 0, trainable_bytes = 0;
};
ParamCounts CountParams(const Graph& graph);

/// "1,234,567".
std::string FormatCount(int64_t count);
/// "12 B", "4.8 KiB", "1.3 MiB", "2.0 GiB".
std::string FormatBytes(int64_t bytes);
/// "float32[batch, 4]" (symbolic dims by name, "?" when untyped).
std::string ValueTypeString(const Value& value);

}  // namespace kiln
