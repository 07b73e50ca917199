// Reference kernels of the backward ops (docs/training_ops.md).
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {

void RegisterReferenceGradientKernels(KernelRegistry& r) {}

}  // namespace kiln::runtime
