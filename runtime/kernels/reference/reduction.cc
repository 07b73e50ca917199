#include "runtime/kernel.h"

namespace kiln::runtime {

void RegisterReferenceReductionKernels(KernelRegistry& r) {}

}  // namespace kiln::runtime
