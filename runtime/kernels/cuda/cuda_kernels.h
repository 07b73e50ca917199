// The "cuda" step kernels (cuda_kernels.cc): what they check of a plan before launching.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/kernel.h"

namespace kiln::runtime {

/// Whether a FusedElementwise launch's attributes `args` (the argument words,
/// PackCudaKernelArgs's layout) and `elements` keep every read inside the step's inputs
/// and every write inside its outputs (float32 all); a bad plan is an error, never a
/// launch that reads or writes out of bounds.
Status CheckCudaLaunch(const KernelSpec& spec, const std::vector<int64_t>& args, int64_t elements);

/// Whether sessions replay their device segments as CUDA graphs, given KILN_CUDA_GRAPH's value
/// (unset: yes; "0": no, every launch is enqueued by its step on every run).
bool CudaGraphsEnabled(const char* env);

}  // namespace kiln::runtime
