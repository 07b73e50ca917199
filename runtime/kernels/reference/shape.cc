#include "runtime/kernel.h"

namespace kiln::runtime {

void RegisterReferenceShapeKernels(KernelRegistry& r) {}

}  // namespace kiln::runtime
