// MaxPool and MaxPoolGrad without oneDNN where a direct loop is one pass over the data
// (max_pool_direct.cc): the gradient for non-overlapping windows, the forward for 2x2
// windows with stride 2 (every CNN's pooling), both in plain NCHW. oneDNN's
// pooling reorders plain NCHW to a blocked layout and back, and its backward re-runs the
// forward for the workspace Kiln does not keep.
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"

namespace kiln::runtime::onednn {

/// Why the direct kernel cannot compute `spec` ("" when it can): float32, plain NCHW 2-D
/// pooling, no dilation, stride >= kernel on both axes (each x in at most one window).
std::string DirectMaxPoolGradUnsupportedReason(const KernelSpec& spec);
StatusOr<std::unique_ptr<Kernel>> BuildDirectMaxPoolGrad(const KernelSpec& spec);

/// Why the direct forward cannot compute `spec` ("" when it can): float32 4-D, 2x2 windows,
/// stride 2, no padding or dilation, floor windows, no Indices output, plain NCHW.
std::string DirectMaxPoolUnsupportedReason(const KernelSpec& spec);
StatusOr<std::unique_ptr<Kernel>> BuildDirectMaxPool(const KernelSpec& spec);

}  // namespace kiln::runtime::onednn
