#include "runtime/kernels/onednn/onednn_common.h"

namespace kiln::runtime {

void RegisterOneDnnKernels(KernelRegistry& r) {
  onednn::RegisterEltwiseKernels(r);
  onednn::RegisterBinaryKernels(r);
  onednn::RegisterMatMulKernels(r);
  onednn::RegisterConvKernels(r);
  onednn::RegisterPoolKernels(r);
  onednn::RegisterNormKernels(r);
  onednn::RegisterBackwardKernels(r);
  onednn::RegisterRecurrentKernels(r);
}

}  // namespace kiln::runtime
