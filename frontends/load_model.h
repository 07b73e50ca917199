// One entry point for every model format: ONNX (.onnx), Kiln binary (.kiln)
// and Kiln text (.kiln.txt, with the Keras-like layer shorthand).
#pragma once

#include <string>

#include "ir/model_io.h"

namespace kiln {

/// Loads any supported model file; the format is chosen by extension (and, for
/// files without one, by content). Errors name the file and the nodes involved.
StatusOr<Model> LoadModel(const std::string& path);

/// The bytes SaveModel writes.
StatusOr<std::string> SerializeModel(const Graph& graph, const proto::TrainingSpec& training, const std::string& path);
/// Writes `graph` (with `training` for Kiln formats) in the format ModelFormatForOutput
/// picks from the extension of `path`, atomically.
Status SaveModel(const Graph& graph, const proto::TrainingSpec& training, const std::string& path,
                 const WriteOptions& options = {});

/// Builds a graph from a Kiln model proto, expanding the layer shorthand
/// (frontends/text/layers.cc). `source` names the file for messages.
StatusOr<Model> ImportKilnModel(const proto::Model& model, const std::string& source);

/// Imports an ONNX file (frontends/onnx/onnx_importer.cc).
StatusOr<Model> ImportOnnxFile(const std::string& path);

}  // namespace kiln
