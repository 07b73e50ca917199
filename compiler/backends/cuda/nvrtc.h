// NVRTC, opened with dlopen on first use so that nothing links CUDA at build
// time. Looked for in $KILN_NVRTC_LIBRARY, the loader's path, /usr/local/cuda/lib64
// and the pip wheels' folders (site-packages/nvidia/cu13/lib, nvidia/cuda_nvrtc/lib).
// Compiled kernels are cached on disk (see docs/cuda.md).
#pragma once

#include <string>

#include "ir/core/status.h"

namespace kiln::cuda {

struct NvrtcTarget {
  int major = 9, minor = 0;  // compute capability
  bool cubin = false;        // sm_XY cubin; else compute_XY PTX
};

struct NvrtcResult {
  std::string image;  // PTX text or cubin bytes
  bool cubin = false;
  bool from_cache = false;
  std::string log;
};

/// The NVRTC library that will be used (path) and its version, or why none can be.
StatusOr<std::string> NvrtcDescription();
/// Whether NVRTC can emit a cubin for sm_<major><minor> (nvrtcGetSupportedArchs).
bool NvrtcSupportsArch(int major, int minor);
/// Compiles `source` with --std=c++17 -default-device and --gpu-architecture
/// compute_XY (PTX) or sm_XY (cubin). A failure names the kernel and carries NVRTC's log.
StatusOr<NvrtcResult> NvrtcCompile(const std::string& source, const std::string& kernel_name,
                                   const NvrtcTarget& target);

}  // namespace kiln::cuda
