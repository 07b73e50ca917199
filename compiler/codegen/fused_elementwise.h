// LLVM IR for FusedElementwise steps: one function per step,
//   extern "C" void SYMBOL(void* const* buffers, int64_t begin, int64_t end)
// (buffers: the step's inputs then outputs) computing rows [begin, end) of the
// step's FusedGeometry. The inner run is a plain counted loop with unit or zero
// strides that LLVM's loop vectorizer turns into host vector code; exp, log and
// tanh are branch-free polynomials, so they vectorize too.
#pragma once

#include <string>

#include "ir/core/fused_program.h"
#include "ir/core/status.h"
#include "runtime/plan.pb.h"

namespace llvm {
class Module;
}  // namespace llvm

namespace kiln::codegen {

/// Adds the function `symbol` computing `program` over `geometry` to `module`
/// (`num_outputs` output buffers follow the program's inputs in `buffers`).
Status EmitFusedKernel(const FusedProgram& program, const FusedGeometry& geometry, const std::string& symbol,
                       llvm::Module& module);

/// The same for a FusedReduction: rows [begin, end) of `geometry`'s kernel rows (softmax
/// rows or summed entries); the reduction's output buffer follows the program's outputs.
Status EmitFusedReductionKernel(const FusedProgram& program, const FusedReductionGeometry& geometry,
                                const std::string& symbol, llvm::Module& module);

/// The same for a FusedSoftmaxCrossEntropy (ir/core/fused_program.h): one row, every sample.
Status EmitFusedLossKernel(const FusedLossGeometry& geometry, const std::string& symbol, llvm::Module& module);

/// The same for a plan's "jit" step (FusedElementwise or FusedReduction): its program, symbol and buffer shapes.
Status EmitFusedStep(const proto::Plan& plan, const proto::Step& step, llvm::Module& module);

}  // namespace kiln::codegen
