// CUDA C for a FusedElementwise program (ir/core/fused_program.h): one
// `extern "C" __global__` kernel per program, a grid-stride loop over the
// elements of the iteration shape with the broadcasting of FusedGeometry.
// Each instruction is computed in `Math` precision from float32 arguments and
// rounded to float32, as the reference interpreter does (kDouble matches it
// bit for bit up to the device's libm; kFloat is the fast variant).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/fused_program.h"
#include "ir/core/status.h"

namespace kiln::cuda {

/// Outer dims of the collapsed iteration shape the kernels accept.
constexpr int kMaxFusedRank = 6;

enum class CudaMath { kDouble, kFloat };

struct CudaKernel {
  std::string name;    // e.g. kiln_fused_add_relu_mul_3f2a91c0: the ops, then a hash of the program
  std::string source;  // self-contained CUDA C (no #include)
  int num_inputs = 0;
  int num_outputs = 0;
};

/// A readable, stable name: the (first few) op names and a hash of the program text.
std::string CudaKernelName(const FusedProgram& program, CudaMath math);
StatusOr<CudaKernel> RenderCudaKernel(const FusedProgram& program, CudaMath math = CudaMath::kDouble);

/// The arithmetic's prelude: `kiln_acc` (double or float), the KILN_* math functions and
/// kiln_sigmoid. Idempotent for one `math` (a source may hold several kernels of it).
std::string CudaMathPrelude(CudaMath math);
/// The instructions of `program` as statements: float inputs `i0`, `i1`, ... must be in
/// scope; instruction k defines float `tk`, computed in kiln_acc and rounded to float32.
/// Shared by the elementwise kernels and the GEMM kinds' epilogues (cuda_gemm_kinds.cc).
StatusOr<std::string> RenderFusedInstructions(const FusedProgram& program, const std::string& indent);

/// The kernel's single by-value argument, packed as 8-byte words: the output
/// pointers, the input pointers, then total, inner, rank, outer[kMaxFusedRank],
/// outer_stride[input][kMaxFusedRank], inner_stride[input]. Shared by the
/// launcher (device pointers) and the emulation harness (host pointers).
StatusOr<std::vector<uint64_t>> PackCudaKernelArgs(const FusedProgram& program, const std::vector<Dims>& input_dims,
                                                   const Dims& output_dims, const std::vector<uint64_t>& inputs,
                                                   const std::vector<uint64_t>& outputs, int64_t* total);

}  // namespace kiln::cuda
