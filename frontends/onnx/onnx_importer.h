// ONNX ModelProto -> Kiln graph (entry point ImportOnnxFile in frontends/load_model.h).
#pragma once

#include <string>

#include "ir/model_io.h"

namespace kiln {

/// Imports a serialized ONNX model held in memory (the file entry point and the
/// fuzzer share it). `source` names the model in messages. Never throws.
StatusOr<Model> ImportOnnxBytes(const std::string& bytes, const std::string& source);

}  // namespace kiln
