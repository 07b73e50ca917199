#include "frontends/load_model.h"

namespace kiln {

static bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

StatusOr<Model> LoadModel(const std::string& path) {
  if (EndsWith(path, ".onnx")) return ImportOnnxFile(path);
  ASSIGN_OR_RETURN(proto::Model model, ReadModelProto(path));
  return ImportKilnModel(model, path);
}

}  // namespace kiln
