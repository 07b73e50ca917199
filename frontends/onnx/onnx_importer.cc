// ONNX ModelProto -> Graph.
#include "frontends/load_model.h"

namespace kiln {

StatusOr<Model> ImportOnnxFile(const std::string& path) { return Unimplemented(path, ": ONNX import not implemented yet"); }

}  // namespace kiln
