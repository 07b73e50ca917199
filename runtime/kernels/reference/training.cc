// Reference kernels of the losses and optimizer updates (docs/training_ops.md).
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {

void RegisterReferenceTrainingKernels(KernelRegistry& r) {}

}  // namespace kiln::runtime
