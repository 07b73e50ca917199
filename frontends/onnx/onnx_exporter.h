// Kiln graph -> ONNX: the IR's ops are ONNX's (opset 13 and the newer versions the
// importer takes unchanged), so export is a direct mapping at the lowest opset that
// keeps every node's meaning. Used by `kiln train --export-onnx` to take trained models to
// other runtimes.
#pragma once

#include <string>

#include "ir/core/status.h"
#include "ir/graph.h"

namespace kiln {

/// Writes `graph` as an ONNX model file (atomically), checked by ONNX's checker.
/// Kiln-only ops (training ops) are an error naming the nodes.
Status ExportOnnx(const Graph& graph, const std::string& path);
/// The bytes ExportOnnx writes (`path` is for messages), for callers that check
/// every output before writing any.
StatusOr<std::string> SerializeOnnx(const Graph& graph, const std::string& path);

}  // namespace kiln
