// MaxPoolGrad without oneDNN for non-overlapping windows (max_pool_grad.cc): one pass over
// each plane instead of oneDNN's forward re-run and layout round trips.
#pragma once

#include <memory>
#include <string>

#include "runtime/kernel.h"

namespace kiln::runtime::onednn {

/// Why the direct kernel cannot compute `spec` ("" when it can): float32, plain NCHW 2-D
/// pooling, no dilation, stride >= kernel on both axes (each x in at most one window).
std::string DirectMaxPoolGradUnsupportedReason(const KernelSpec& spec);
StatusOr<std::unique_ptr<Kernel>> BuildDirectMaxPoolGrad(const KernelSpec& spec);

}  // namespace kiln::runtime::onednn
