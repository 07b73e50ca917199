// kiln_cuda_check's cases for the generated kernel kinds (compiler/backends/cuda/cuda_kinds.h):
// each a description, inputs (random, with NaN/Inf where meaningful) and the outputs of
// Kiln's reference kernels (runtime::RunReferenceOp). The GPU bundle's binary has no
// runtime library: it reads the same cases, outputs included, from a file that the
// CMake-built binary writes (--write-kinds).
#pragma once

#include <string>
#include <vector>

#include "compiler/backends/cuda/cuda_kinds.h"

namespace kiln::cuda {

class CudaDevice;

struct KindBuffer {
  Dims dims;
  bool int64 = false;  // gather indices, sparse labels
  std::vector<float> f;
  std::vector<int64_t> i;
  const void* data() const { return int64 ? static_cast<const void*>(i.data()) : f.data(); }
  size_t bytes() const { return int64 ? i.size() * 8 : f.size() * 4; }
};

struct KindCase {
  std::string name;
  CudaKernelDesc desc;
  std::vector<KindBuffer> inputs;
  std::vector<std::vector<float>> want;  // the reference kernels' outputs
};

/// Matrix products and convolutions (their cases take operands in [-1, 1]: float32 sums).
bool IsProductKind(CudaKind kind);

/// The built-in cases with the reference's outputs; an error in a build without the
/// reference kernels (KILN_CUDA_CHECK_NO_REFERENCE).
StatusOr<std::vector<KindCase>> BuiltinKindCases();
/// A case for `desc` with random inputs (indices and labels in range) and the
/// reference's outputs (an error without the reference kernels).
StatusOr<KindCase> MakeKindCase(const std::string& name, const CudaKernelDesc& desc, uint32_t seed);
Status WriteKindCases(const std::vector<KindCase>& cases, const std::string& path);
StatusOr<std::vector<KindCase>> ReadKindCases(const std::string& path);

/// Host compiler + fiber emulation of every case; with `coverage`, fails when a kind of
/// CudaKinds() has no passing case.
int RunKindsEmulation(const std::vector<KindCase>& cases, bool coverage = true);
/// Every case on device 0 (cubin or PTX as the fused kernels), compared with the reference.
int RunKindsGpu(CudaDevice& dev, const std::vector<KindCase>& cases);
/// Timings of the kinds at network sizes on device 0 ("BENCHKIND name ms GB/s" lines).
int RunKindsBench(CudaDevice& dev, int reps);

}  // namespace kiln::cuda
