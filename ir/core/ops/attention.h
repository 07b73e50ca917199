// Attention's geometry (ONNX Attention 23/24), shared by shape inference
// (ir/core/ops/attention.cc) and the reference kernel (runtime/kernels/reference/attention.cc).
#pragma once

#include "ir/core/attrs.h"
#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln::attention {

struct Geometry {
  bool rank3 = false;  // Q, K, V as [B, S, heads * head_size]
  int64_t batch = 0, q_heads = 0, kv_heads = 0;
  int64_t q_len = 0, kv_len = 0, past_len = 0;  // total keys = past_len + kv_len
  int64_t head_size = 0, v_head_size = 0;
  int64_t total() const { return past_len + kv_len; }
};

/// Checks the shapes of Q, K, V and the optional past_key / past_value (empty dims when
/// absent) against the attributes; errors carry no node label.
StatusOr<Geometry> ResolveGeometry(const Dims& q, const Dims& k, const Dims& v, const Dims* past_key,
                                   const Dims* past_value, const Attrs& attrs);

}  // namespace kiln::attention
