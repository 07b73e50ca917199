#include "ir/op_registry.h"
#include "ir/shape_util.h"

namespace kiln {

void RegisterReductionOps(OpRegistry& r) {}

}  // namespace kiln
