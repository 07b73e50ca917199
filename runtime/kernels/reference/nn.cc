#include "runtime/kernel.h"

namespace kiln::runtime {

void RegisterReferenceNnKernels(KernelRegistry& r) {}

}  // namespace kiln::runtime
