// Kiln model files: `.kiln` (binary protobuf) and `.kiln.txt` (protobuf text).
#pragma once

#include <memory>
#include <string>

#include "ir/core/file_io.h"
#include "ir/core/status.h"
#include "ir/graph.h"
#include "ir/kiln.pb.h"

namespace kiln {

/// A loaded model: the graph plus the training spec that came with it.
struct Model {
  std::unique_ptr<Graph> graph;
  proto::TrainingSpec training;
  std::string source;  // the file it came from, for messages
};

/// True when `path` names a text model (.kiln.txt, .txt, .pbtxt).
bool IsTextModelPath(const std::string& path);

/// The bytes of `model` in a Kiln format (`path` is for messages).
StatusOr<std::string> SerializeModelProto(const proto::Model& model, const std::string& path, ModelFormat format);

/// Reads a .kiln or .kiln.txt file into its proto (no layer expansion).
StatusOr<proto::Model> ReadModelProto(const std::string& path);
/// Serializes to `path` atomically in the Kiln format its extension names (.kiln, .kiln.txt).
Status WriteModelProto(const proto::Model& model, const std::string& path);

/// Reads a whole file; errors name the path.
StatusOr<std::string> ReadFile(const std::string& path);

/// Graph + training spec -> proto::Model.
proto::Model ModelToProto(const Graph& graph, const proto::TrainingSpec& training);

}  // namespace kiln
