#include "ir/op_registry.h"
#include "ir/shape_util.h"

namespace kiln {

void RegisterNnOps(OpRegistry& r) {}

}  // namespace kiln
