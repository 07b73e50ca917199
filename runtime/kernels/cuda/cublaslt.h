// cuBLASLt, opened with dlopen on first use (libcublasLt.so.13, found as NVRTC is:
// $KILN_CUBLASLT_LIBRARY, the loader's path, /usr/local/cuda/lib64, the pip wheels); the
// entry points are declared in cublaslt.cc, so nothing links it and no CUDA header is
// needed. It is the runtime alternative to the generated GEMM kinds for MatMul, Gemm and
// FusedMatMul steps that it can compute; which one runs a step is chosen by measurement
// on the device (cuda_kernels.cc, docs/cuda.md "cuBLASLt").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/dtype.h"
#include "runtime/kernels/cuda/cuda_driver.h"

namespace kiln::cuda {

/// A row-major product: for b < batch, D[b] = act(alpha * op(A[b]) op(B[b]) + beta * C[b] + bias),
/// op(A) [m, k], op(B) [k, n], C and D [m, n] (C a buffer of D's layout), bias [n] added to every row.
/// FP32 in and out, FP32 compute (CUBLAS_COMPUTE_32F: no TF32).
struct LtGemm {
  int64_t m = 0, n = 0, k = 0, batch = 1;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 0.f;
  bool bias = false, relu = false;
};

/// The product a MatMul / Gemm / FusedMatMul step computes, as cuBLASLt can compute it, and
/// which of the step's inputs are A, B, C and the bias (-1: none).
struct LtStep {
  LtGemm gemm;
  int a = 0, b = 1, c = -1, bias = -1;
};
/// `inputs`: the dims of the step's inputs, every one present (an omitted one ends the list).
/// kUnimplemented with the reason when cuBLASLt cannot compute the step as the reference does
/// (a batched B under a 2-D A, a C or bias that broadcasts otherwise, an activation other
/// than Relu, ...).
StatusOr<LtStep> CublasLtStepFor(const std::string& op_type, const Attrs& attrs, const std::vector<Dims>& inputs,
                                 const Dims& output);

/// Whether the library loads ("cuda: no cuBLASLt library found (...)" when not) and its
/// description: "<path> (cuBLASLt <version>)". Needs no GPU.
StatusOr<std::string> CublasLtDescription();

/// One product on one device: the handle, the descriptors, the heuristic's algorithm and its
/// workspace, made once; Run enqueues it on a stream.
class CublasLtMatmul {
 public:
  static StatusOr<std::unique_ptr<CublasLtMatmul>> Create(const LtGemm& gemm, CudaDevice& device);
  ~CublasLtMatmul();
  CublasLtMatmul(const CublasLtMatmul&) = delete;
  CublasLtMatmul& operator=(const CublasLtMatmul&) = delete;
  /// `c` and `bias` 0 when the product has none.
  Status Run(DevicePtr a, DevicePtr b, DevicePtr c, DevicePtr d, DevicePtr bias, void* stream);

 private:
  CublasLtMatmul(const LtGemm& gemm, CudaDevice& device) : gemm_(gemm), device_(device) {}
  LtGemm gemm_;
  CudaDevice& device_;
  void* handle_ = nullptr;
  void* desc_ = nullptr;
  void* layouts_[4] = {nullptr, nullptr, nullptr, nullptr};  // A', B', C', D' (column-major)
  uint64_t algo_[8] = {};
  DevicePtr workspace_ = 0;
  size_t workspace_size_ = 0;
};

}  // namespace kiln::cuda
