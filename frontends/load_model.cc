#include "frontends/load_model.h"

#include "frontends/onnx/onnx_exporter.h"

namespace kiln {

static bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

StatusOr<Model> LoadModel(const std::string& path) {
  StatusOr<Model> model = [&]() -> StatusOr<Model> {
    if (EndsWith(path, ".onnx")) return ImportOnnxFile(path);
    ASSIGN_OR_RETURN(proto::Model m, ReadModelProto(path));
    return ImportKilnModel(m, path);
  }();
  // A graph without outputs computes nothing: an empty or foreign file, never a model to compile.
  if (model.ok() && model->graph->outputs().empty()) return InvalidArgument(path, ": the model has no outputs");
  return model;
}

StatusOr<std::string> SerializeModel(const Graph& graph, const proto::TrainingSpec& training, const std::string& path) {
  ASSIGN_OR_RETURN(ModelFormat format, ModelFormatForOutput(path));
  if (format == ModelFormat::kOnnx) return SerializeOnnx(graph, path);
  return SerializeModelProto(ModelToProto(graph, training), path, format);
}

Status SaveModel(const Graph& graph, const proto::TrainingSpec& training, const std::string& path,
                 const WriteOptions& options) {
  ASSIGN_OR_RETURN(std::string bytes, SerializeModel(graph, training, path));
  return WriteFileAtomically(path, bytes, options);
}

}  // namespace kiln
