// The rows of ir/core/ops/unary.def as data, for the consumers that need the table
// rather than its math (registry, gradient rules, fusion, importer). The math is
// instantiated where it runs: over doubles (reference), LLVM values, CUDA source.
#pragma once

#include <string>
#include <vector>

#include "ir/core/op_registry.h"

namespace kiln {

/// Whether a unary op's derivative is written in its input X or its output Y.
enum UnaryDerivativeFrom { kFromX, kFromY };

struct UnaryOpRow {
  OpKind kind;
  const char* name;      // op type
  const char* function;  // EltwiseGrad's `function`
  UnaryDerivativeFrom from;
  int num_attrs;                // float attributes, 0-2
  const char* attr_names[2];    // "" past num_attrs
  float attr_defaults[2];       // their ONNX defaults
  std::vector<int> onnx_since;  // ONNX versions newer than 13 with the row's semantics
  const char* doc;
};

/// Every row of unary.def, in order.
const std::vector<UnaryOpRow>& UnaryOpTable();
/// The row of op type `op` / EltwiseGrad function `function`, or nullptr.
const UnaryOpRow* FindUnaryOp(const std::string& op);
const UnaryOpRow* FindUnaryOpByFunction(const std::string& function);

}  // namespace kiln

// Expands a unary.def parenthesised list: KILN_UNPAREN (16, 22) -> 16, 22.
#define KILN_UNPAREN(...) __VA_ARGS__
