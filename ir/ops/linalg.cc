#include "ir/op_registry.h"
#include "ir/shape_util.h"

namespace kiln {

void RegisterLinalgOps(OpRegistry& r) {}

}  // namespace kiln
