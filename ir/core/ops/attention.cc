// Attention with ONNX Attention 24's semantics (23 is the same without
// nonpad_kv_seqlen): scaled dot-product attention over Q, K, V of rank 4
// [B, heads, S, head_size] or rank 3 [B, S, heads * head_size] (q_num_heads,
// kv_num_heads), grouped-query attention (each KV head serves q_heads / kv_heads
// consecutive query heads), a bool or additive attn_mask (its last dim may be
// shorter than the keys: the rest is masked), is_causal (aligned to the end of the
// past keys, or per batch to nonpad_kv_seqlen), softcap, a KV cache (past_key /
// past_value in, present_key / present_value out) and the optional QK output.
#include "ir/core/ops/attention.h"

#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace attention {

StatusOr<Geometry> ResolveGeometry(const Dims& q, const Dims& k, const Dims& v, const Dims* past_key,
                                   const Dims* past_value, const Attrs& attrs) {
  Geometry g;
  if (q.size() != k.size() || q.size() != v.size() || (q.size() != 3 && q.size() != 4)) {
    return InvalidArgument("Q, K and V must all have rank 3 or all rank 4, got ", DimsToString(q), ", ",
                           DimsToString(k), ", ", DimsToString(v));
  }
  g.rank3 = q.size() == 3;
  g.batch = q[0];
  if (k[0] != g.batch || v[0] != g.batch) return InvalidArgument("Q, K and V differ in batch size");
  if (g.rank3) {
    g.q_heads = attrs.GetInt("q_num_heads", 0);
    g.kv_heads = attrs.GetInt("kv_num_heads", 0);
    if (g.q_heads < 1 || g.kv_heads < 1) return InvalidArgument("rank-3 inputs need q_num_heads and kv_num_heads >= 1");
    if (q[2] % g.q_heads != 0 || k[2] % g.kv_heads != 0 || v[2] % g.kv_heads != 0) {
      return InvalidArgument("hidden sizes ", q[2], ", ", k[2], ", ", v[2], " are not divisible by the head counts ",
                             g.q_heads, ", ", g.kv_heads);
    }
    g.q_len = q[1];
    g.kv_len = k[1];
    g.head_size = q[2] / g.q_heads;
    if (k[2] / g.kv_heads != g.head_size) return InvalidArgument("Q and K head sizes differ");
    if (v[1] != g.kv_len) return InvalidArgument("K and V sequence lengths differ");
    g.v_head_size = v[2] / g.kv_heads;
  } else {
    g.q_heads = q[1];
    g.kv_heads = k[1];
    g.q_len = q[2];
    g.kv_len = k[2];
    g.head_size = q[3];
    if (k[3] != g.head_size) return InvalidArgument("Q and K head sizes differ: ", q[3], " vs ", k[3]);
    if (v[1] != g.kv_heads || v[2] != g.kv_len)
      return InvalidArgument("V ", DimsToString(v), " does not match K ", DimsToString(k));
    g.v_head_size = v[3];
  }
  if (g.kv_heads < 1 || g.q_heads % g.kv_heads != 0) {
    return InvalidArgument("q heads (", g.q_heads, ") must be a multiple of kv heads (", g.kv_heads, ")");
  }
  if ((past_key == nullptr) != (past_value == nullptr)) return InvalidArgument("past_key and past_value go together");
  if (past_key) {
    g.past_len = past_key->size() == 4 ? (*past_key)[2] : -1;
    if (*past_key != Dims{g.batch, g.kv_heads, g.past_len, g.head_size} ||
        *past_value != Dims{g.batch, g.kv_heads, g.past_len, g.v_head_size}) {
      return InvalidArgument("past_key ", DimsToString(*past_key), " / past_value ", DimsToString(*past_value),
                             " must be [B, kv_heads, P, head_size]");
    }
  }
  const int64_t mode = attrs.GetInt("qk_matmul_output_mode", 0);
  if (mode < 0 || mode > 3) return InvalidArgument("qk_matmul_output_mode must be 0 to 3, got ", mode);
  const int64_t causal = attrs.GetInt("is_causal", 0);
  if (causal != 0 && causal != 1) return InvalidArgument("is_causal must be 0 or 1, got ", causal);
  return g;
}

}  // namespace attention

namespace {

// Attention(Q, K, V, attn_mask?, past_key?, past_value?, nonpad_kv_seqlen?)
//   -> Y, present_key?, present_value?, qk_matmul_output?
Status InferAttention(InferContext& ctx) {
  RETURN_IF_ERROR(ops::CheckDType(ctx, 0, ops::TypeClass::kFloat, "Q"));
  for (int i : {1, 2, 4, 5}) {
    if (ctx.has_input(i)) RETURN_IF_ERROR(ops::CheckSameDType(ctx, i, 0));
  }
  const Dims* past_key = ctx.has_input(4) ? &ctx.input_dims(4) : nullptr;
  const Dims* past_value = ctx.has_input(5) ? &ctx.input_dims(5) : nullptr;
  auto g = attention::ResolveGeometry(ctx.input_dims(0), ctx.input_dims(1), ctx.input_dims(2), past_key, past_value,
                                      ctx.attrs());
  if (!g.ok()) return ctx.Error(g.status().message());
  const Dims scores = {g->batch, g->q_heads, g->q_len, g->total()};
  if (ctx.has_input(3)) {
    const DType m = ctx.input_dtype(3);
    if (m != proto::DT_BOOL && m != ctx.input_dtype(0)) {
      return ctx.Error("attn_mask has type ", DTypeName(m), " but must be bool or Q's type");
    }
    Dims mask = ctx.input_dims(3);
    if (mask.empty() || mask.size() > 4 || mask.back() > g->total()) {
      return ctx.Error("attn_mask ", DimsToString(mask), " does not broadcast to ", DimsToString(scores));
    }
    mask.back() = g->total();
    Status st = CheckBroadcastsTo(mask, scores);
    if (!st.ok()) return ctx.Error("attn_mask ", st.message());
  }
  if (ctx.has_input(6)) {
    if (ctx.input_dtype(6) != proto::DT_INT64 || ctx.input_dims(6) != Dims{g->batch}) {
      return ctx.Error("nonpad_kv_seqlen must be int64 [", g->batch, "]");
    }
  }
  const DType t = ctx.input_dtype(0);
  ctx.set_output(0, t,
                 g->rank3 ? Dims{g->batch, g->q_len, g->q_heads * g->v_head_size}
                          : Dims{g->batch, g->q_heads, g->q_len, g->v_head_size});
  if (ctx.num_outputs() > 1) ctx.set_output(1, t, {g->batch, g->kv_heads, g->total(), g->head_size});
  if (ctx.num_outputs() > 2) ctx.set_output(2, t, {g->batch, g->kv_heads, g->total(), g->v_head_size});
  if (ctx.num_outputs() > 3) ctx.set_output(3, t, scores);
  return Status::Ok();
}

}  // namespace

void RegisterAttentionOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kAttention,
         .min_inputs = 3,
         .max_inputs = 7,
         .max_outputs = 4,
         .attrs = {{"is_causal", AttrType::kInt},
                   {"kv_num_heads", AttrType::kInt},
                   {"q_num_heads", AttrType::kInt},
                   {"qk_matmul_output_mode", AttrType::kInt},
                   {"scale", AttrType::kFloat},
                   {"softcap", AttrType::kFloat},
                   {"softmax_precision", AttrType::kInt}},
         .infer_shape = InferAttention,
         .doc = "softmax(softcap(Q K^T scale) + mask) V over heads (GQA: kv heads shared by consecutive q heads); "
                "bool/additive attn_mask, is_causal, KV cache (past -> present), nonpad_kv_seqlen, QK output"});
}

}  // namespace kiln
