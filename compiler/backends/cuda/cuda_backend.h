// The CUDA backend (CudaBackend() in compiler/backend.h): lowers an optimized graph to a
// Plan for device "cuda" -- inputs copied to the device, FusedElementwise steps as CUDA C
// (cuda_codegen.h) compiled by NVRTC to PTX embedded in the plan, outputs copied back --
// and names every node it cannot lower yet with the reason.
#pragma once

#include <string>

#include "compiler/backends/cuda/nvrtc.h"

namespace kiln::cuda {

/// What plans embed: compute_80 PTX, which the driver JIT-compiles for any GPU from
/// Ampere on (sm_80, sm_86, sm_89, sm_90, ...) and NVRTC of CUDA 12 and 13 both emit.
constexpr NvrtcTarget kPlanTarget{8, 0, false};

}  // namespace kiln::cuda
