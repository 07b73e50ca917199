#include "runtime/kernel.h"

namespace kiln::runtime {

void RegisterReferenceLinalgKernels(KernelRegistry& r) {}

}  // namespace kiln::runtime
