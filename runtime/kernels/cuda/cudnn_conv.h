// cuDNN's convolutions, opened with dlopen on first use (libcudnn.so.9, found as NVRTC and
// cuBLASLt are: $KILN_CUDNN_LIBRARY, the loader's path, /usr/local/cuda/lib, the pip wheels);
// the entry points and enum values are declared in cudnn_conv.cc, so nothing links it and no
// cuDNN header is needed. It is the runtime alternative to the generated implicit-GEMM
// convolution kinds for the Conv and FusedConv steps it computes exactly; which one runs a
// step is chosen by measurement on the device (cuda_kernels.cc, docs/cuda.md "cuDNN").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/dtype.h"
#include "runtime/kernels/cuda/cuda_driver.h"

namespace kiln::cuda {

/// A 2-D NCHW convolution: y = act(conv(x, w) + bias + residual), FP32 in, out and compute
/// (CUDNN_FMA_MATH: no TF32). Pads are symmetric (cuDNN's 2-D descriptor has one per axis).
struct DnnConv {
  int64_t n = 0, c = 0, h = 0, w = 0;  // x
  int64_t oc = 0, kh = 0, kw = 0;      // w [oc, c / group, kh, kw]
  int64_t oh = 0, ow = 0;              // y [n, oc, oh, ow]
  int64_t pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  int64_t group = 1;
  bool bias = false, residual = false, relu = false;
};

/// The convolution a Conv / FusedConv step computes, as cuDNN can compute it, and which of the
/// step's inputs are x, w, the bias and the residual (-1: none).
struct DnnConvStep {
  DnnConv conv;
  int x = 0, w = 1, bias = -1, residual = -1;
};
/// `inputs`: the dims of the step's inputs, every one present (an omitted one ends the list).
/// kUnimplemented with the reason when cuDNN cannot compute the step as the reference does
/// (not 2-D, asymmetric pads, an activation other than Relu, a bias not one per channel, ...).
StatusOr<DnnConvStep> CudnnConvStepFor(const std::string& op_type, const Attrs& attrs, const std::vector<Dims>& inputs,
                                       const Dims& output);

/// Whether the library loads ("cuda: no cuDNN library found (...)" when not) and its
/// description: "<path> (cuDNN <version>)". Needs no GPU.
StatusOr<std::string> CudnnDescription();

/// One convolution on one device: the handle, the descriptors, the algorithm cuDNN measured
/// fastest for it (cudnnFindConvolutionForwardAlgorithm, FMA math) and its workspace, made once;
/// Run enqueues it on a stream.
class CudnnConv {
 public:
  static StatusOr<std::unique_ptr<CudnnConv>> Create(const DnnConv& conv, CudaDevice& device);
  ~CudnnConv();
  CudnnConv(const CudnnConv&) = delete;
  CudnnConv& operator=(const CudnnConv&) = delete;
  /// `bias` and `residual` 0 when the convolution has none.
  Status Run(DevicePtr x, DevicePtr w, DevicePtr bias, DevicePtr residual, DevicePtr y, void* stream);
  /// The algorithm's number (cudnnConvolutionFwdAlgo_t), for the choice's log.
  int algorithm() const { return algo_; }

 private:
  CudnnConv(const DnnConv& conv, CudaDevice& device) : conv_(conv), device_(device) {}
  DnnConv conv_;
  CudaDevice& device_;
  void* handle_ = nullptr;
  void* x_desc_ = nullptr;
  void* y_desc_ = nullptr;
  void* bias_desc_ = nullptr;
  void* w_desc_ = nullptr;
  void* conv_desc_ = nullptr;
  void* act_desc_ = nullptr;
  int algo_ = 0;
  DevicePtr workspace_ = 0;
  size_t workspace_size_ = 0;
  DevicePtr zero_bias_ = 0;  // the fused call's bias when the step has none
};

}  // namespace kiln::cuda
