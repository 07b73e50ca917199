// Bringing any ONNX opset (1..28) to the IR's opset-13 semantics: fix-ups the
// version converter gets wrong or refuses, the conversion itself (below 13), and
// the mapping of newer versions down to 13 (onnx_opsets.h).
#pragma once

#include <string>

#include "ir/core/status.h"
#include "onnx/onnx_pb.h"

namespace kiln::onnx_import {

/// The opset the IR speaks.
constexpr int64_t kIrOpset = 13;
/// The newest default-domain opset the linked libonnx (checker, converter) knows;
/// past it the importer checks what it reads itself.
constexpr int64_t kNewestLibonnxOpset = 17;

/// Rewrites `model` (default-domain opset `opset`) in place so that its nodes have
/// opset-13 semantics. `source` names the file in messages. Never throws.
Status LiftToIrOpset(onnx::ModelProto& model, int64_t opset, const std::string& source);

}  // namespace kiln::onnx_import
