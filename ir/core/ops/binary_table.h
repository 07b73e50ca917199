// The rows of ir/core/ops/binary.def as data, for the consumers that need the table
// rather than its math (registry, gradient rules, fusion, importer, docs). The math is
// instantiated where it runs: per dtype (reference kernels), over doubles (fused
// interpreter), LLVM values, CUDA source, IR nodes (gradients).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/op_registry.h"

namespace kiln {

/// binary.def's `types`: the dtypes both inputs take.
enum class BinaryTypes {
  kNumeric,             // every numeric type (bool excluded)
  kNumericAnyExponent,  // A numeric, B any numeric type (Pow)
  kAny,                 // numeric and bool
  kBool,                // bool only
  kInteger,             // signed and unsigned integers
};
enum class BinaryResult { kSameType, kBoolResult };
enum class BinaryArity { kTwo, kVariadic };
/// How the op enters a float32 fused program (ir/core/fused_program.h).
enum class BinaryFuse { kNoFuse, kFuse, kFuseConstantB };

struct BinaryOpRow {
  OpKind kind;
  const char* name;
  std::vector<int> onnx_since;  // ONNX versions newer than 13 with the row's semantics
  BinaryTypes types;
  BinaryResult result;
  BinaryArity arity;
  const char* attr;  // one int attribute ("" for none)
  int64_t attr_default;
  BinaryFuse fuse;
  const char* doc;
  bool commutative;
};

/// Every row of binary.def, in order.
const std::vector<BinaryOpRow>& BinaryOpTable();
/// The row of op type `op`, or nullptr.
const BinaryOpRow* FindBinaryOp(const std::string& op);
/// "numeric", "bool", ... for messages and docs.
const char* BinaryTypesName(BinaryTypes types);

}  // namespace kiln

// For binary.def consumers: KILN_IF_FUSES(fuse)(tokens) keeps `tokens` only for rows that fuse.
#define KILN_IF_FUSES(fuse) KILN_IF_FUSES_##fuse
#define KILN_IF_FUSES_kFuse(...) __VA_ARGS__
#define KILN_IF_FUSES_kFuseConstantB(...) __VA_ARGS__
#define KILN_IF_FUSES_kNoFuse(...)
#ifndef KILN_UNPAREN
#define KILN_UNPAREN(...) __VA_ARGS__
#endif
