#include "ir/core/ops/binary_table.h"

namespace kiln {

const std::vector<BinaryOpRow>& BinaryOpTable() {
  static const std::vector<BinaryOpRow> rows = [] {
    std::vector<BinaryOpRow> out;
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, doc, forward, grad_a, grad_b, dnnl, \
               commutative)                                                                                     \
  out.push_back({OpKind::k##Name, #Name, std::vector<int>{KILN_UNPAREN since}, BinaryTypes::types,              \
                 BinaryResult::result, BinaryArity::arity, attr, attr_default, BinaryFuse::fuse, doc, commutative});
#include "ir/core/ops/binary.def"
#undef BINARY
    for (BinaryOpRow& row : out) {
      if (row.onnx_since == std::vector<int>{0}) row.onnx_since.clear();
    }
    return out;
  }();
  return rows;
}

const BinaryOpRow* FindBinaryOp(const std::string& op) {
  for (const BinaryOpRow& row : BinaryOpTable()) {
    if (op == row.name) return &row;
  }
  return nullptr;
}

const char* BinaryTypesName(BinaryTypes types) {
  switch (types) {
    case BinaryTypes::kNumeric: return "numeric";
    case BinaryTypes::kNumericAnyExponent: return "numeric (exponent: any numeric type)";
    case BinaryTypes::kAny: return "numeric or bool";
    case BinaryTypes::kBool: return "bool";
    case BinaryTypes::kInteger: return "integer";
  }
  return "";
}

}  // namespace kiln
