// MaxPool and MaxPoolGrad without oneDNN where a direct loop is one pass over the data
// (max_pool_direct.cc): the gradient for non-overlapping windows in plain NCHW, the forward
// for 2x2 windows with stride 2 (every CNN's pooling) in plain NCHW or channels-last. oneDNN's
// pooling reorders plain NCHW to a blocked layout and back, pools channels-last slowly (where a
// pixel has few channels, and ResNet-50's 3x3/2 at 5 GB/s), and its backward re-runs the forward for the workspace Kiln
// does not keep.
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"

namespace kiln::runtime::onednn {

/// Why the direct kernel cannot compute `spec` ("" when it can): float32, plain NCHW 2-D
/// pooling, no dilation, stride >= kernel on both axes (each x in at most one window).
std::string DirectMaxPoolGradUnsupportedReason(const KernelSpec& spec);
StatusOr<std::unique_ptr<Kernel>> BuildDirectMaxPoolGrad(const KernelSpec& spec);

/// Why the direct forward cannot compute `spec` ("" when it can): float32 4-D, no dilation, no
/// Indices output, and either X and Y both channels-last (any window, padding smaller than
/// the window) or 2x2 windows, stride 2, no padding, floor windows, X and Y each plain NCHW
/// or channels-last.
std::string DirectMaxPoolUnsupportedReason(const KernelSpec& spec);
StatusOr<std::unique_ptr<Kernel>> BuildDirectMaxPool(const KernelSpec& spec);

}  // namespace kiln::runtime::onednn
