#include "ir/core/ops/unary_table.h"

namespace kiln {

const std::vector<UnaryOpRow>& UnaryOpTable() {
  static const std::vector<UnaryOpRow> rows = [] {
    std::vector<UnaryOpRow> out;
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, since, doc, ...) \
  out.push_back({OpKind::k##Name,                                                             \
                 #Name,                                                                       \
                 #fn_name,                                                                    \
                 from,                                                                        \
                 nattrs,                                                                      \
                 {attr0, attr1},                                                              \
                 {default0, default1},                                                        \
                 std::vector<int>{KILN_UNPAREN since},                                        \
                 doc});
#include "ir/core/ops/unary.def"
#undef UNARY
    for (UnaryOpRow& row : out) {
      if (row.onnx_since == std::vector<int>{0}) row.onnx_since.clear();
    }
    return out;
  }();
  return rows;
}

const UnaryOpRow* FindUnaryOp(const std::string& op) {
  for (const UnaryOpRow& row : UnaryOpTable()) {
    if (op == row.name) return &row;
  }
  return nullptr;
}

const UnaryOpRow* FindUnaryOpByFunction(const std::string& function) {
  for (const UnaryOpRow& row : UnaryOpTable()) {
    if (function == row.function) return &row;
  }
  return nullptr;
}

}  // namespace kiln
