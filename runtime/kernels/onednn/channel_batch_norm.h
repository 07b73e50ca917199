// BatchNormTraining and BatchNormGrad without oneDNN on plain (NCHW) tensors, channel by
// channel (channel_batch_norm.cc). oneDNN 2.6 runs plain layouts with its generic C++ code
// ("ncsp_bnorm:any"), which walks the whole tensor once per statistic: 8-13 GB/s on the
// Fashion-MNIST CNN's [64, 32, 28, 28], where its backward took longer than the
// convolution before it. Here each thread takes whole channels, and a channel's values
// (N runs of H*W floats) stay in that core's L2 between the passes over them, so X and dY
// come from memory once. The training graphs keep plain layouts (assign-layouts runs in
// inference pipelines only), so these kernels run every CNN's batch norm in training.
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"
#include "runtime/kernels/onednn/simd_level.h"  // SimdLevel

namespace kiln::runtime::onednn {

/// Why the channel kernels cannot compute `spec` ("" when they can): BatchNormTraining or
/// BatchNormGrad, float32, plain layouts, rank 3 to 5 with at least kMinRun elements per
/// channel and sample (rank 2 is [N, C]: a channel's values are strided, oneDNN's case).
std::string ChannelBatchNormUnsupportedReason(const KernelSpec& spec);
/// The kernel, its loops compiled for `level` (which this CPU must have).
StatusOr<std::unique_ptr<Kernel>> BuildChannelBatchNorm(const KernelSpec& spec, SimdLevel level);

}  // namespace kiln::runtime::onednn
