#include "runtime/kernels/onednn/conv_grad_weight_product.h"
#include "runtime/kernels/onednn/im2col_conv.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/small_conv.h"
#include "runtime/kernels/onednn/small_matmul.h"
#include "runtime/kernels/onednn/winograd_f23.h"

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
  onednn::RegisterSmallMatMulKernels(r);            // family "gemv"
  onednn::RegisterSmallConvKernels(r);              // family "dconv"
  onednn::RegisterWinogradF23Kernels(r);            // family "wino23"
  onednn::RegisterIm2colConvKernels(r);             // family "im2col"
  onednn::RegisterConvGradWeightProductKernels(r);  // family "wgrad"
}

}  // namespace kiln::runtime
