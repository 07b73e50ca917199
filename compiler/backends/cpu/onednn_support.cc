#include "compiler/backends/cpu/cpu_backend.h"

namespace kiln {

std::string OneDnnUnsupportedReason(const Node& node) { return "no oneDNN lowering for " + node.op_type(); }

}  // namespace kiln
