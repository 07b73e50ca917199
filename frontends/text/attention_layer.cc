// The attention layer of the shorthand (Keras Attention / AdditiveAttention),
// expanded onto plain IR ops so that autodiff differentiates it with the rules
// those ops already have:
//   dot (Luong):        scores = query @ key^T            [* scale, a trainable scalar]
//   additive (Bahdanau): scores = sum_d scale_d * tanh(query_i + key_j)   (scale [dim])
//   weights = softmax(scores + mask) over the value steps, output = weights @ value.
// The masks add -1e9 (Keras' value) to the scores they hide.
#include <vector>

#include "frontends/text/layer_builder.h"

namespace kiln::text {
namespace {

constexpr float kHidden = -1e9f;

Tensor Int64s(const Dims& dims, std::vector<int64_t> values) {
  return Tensor::FromVector(proto::DT_INT64, dims, std::move(values));
}
Tensor Float(float v) { return Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v}); }

InitSpec Kind(InitKind kind) {
  InitSpec spec;
  spec.kind = kind;
  return spec;
}

// [B, Tq, Tv] scores of query [B, Tq, D] against key [B, Tv, D].
StatusOr<Value*> DotScores(Builder& b, Value* query, Value* key, bool use_scale) {
  Attrs perm;
  perm.SetInts("perm", {0, 2, 1});
  ASSIGN_OR_RETURN(Value * key_t, b.Emit("Transpose", "KeyT", {key}, perm, false));
  ASSIGN_OR_RETURN(Value * scores, b.Emit("MatMul", "Scores", {query, key_t}, {}, false));
  if (!use_scale) return scores;
  ASSIGN_OR_RETURN(Value * scale, b.Weight("scale", {}, Kind(InitKind::kOnes), 1, 1));
  return b.Emit("Mul", "Scale", {scores, scale}, {}, false);
}

StatusOr<Value*> AdditiveScores(Builder& b, Value* query, Value* key, bool use_scale) {
  const int64_t dim = query->dims()[2];
  ASSIGN_OR_RETURN(Value * q, b.Emit("Unsqueeze", "Query4", {query, b.Constant("query_axes", Int64s({1}, {2}))}, {},
                                     false));  // [B, Tq, 1, D]
  ASSIGN_OR_RETURN(Value * k, b.Emit("Unsqueeze", "Key4", {key, b.Constant("key_axes", Int64s({1}, {1}))}, {},
                                     false));  // [B, 1, Tv, D]
  ASSIGN_OR_RETURN(Value * sum, b.Emit("Add", "QueryPlusKey", {q, k}, {}, false));
  ASSIGN_OR_RETURN(Value * t, b.Emit("Tanh", "Tanh", {sum}, {}, false));
  if (use_scale) {
    ASSIGN_OR_RETURN(Value * scale, b.Weight("scale", {dim}, Kind(InitKind::kGlorotUniform), dim, dim));
    ASSIGN_OR_RETURN(t, b.Emit("Mul", "Scale", {t, scale}, {}, false));
  }
  Attrs keep;
  keep.SetInt("keepdims", 0);
  return b.Emit("ReduceSum", "Scores", {t, b.Constant("score_axes", Int64s({1}, {-1}))}, keep, false);
}

}  // namespace

StatusOr<Value*> ExpandAttention(Builder& b, Graph& graph, const proto::Attention& a,
                                 const std::vector<Value*>& inputs) {
  Value* query = inputs[0];
  Value* value = inputs[1];
  Value* key = inputs.size() > 2 ? inputs[2] : value;
  for (const Value* v : inputs) {
    if (v->dims().size() != 3 || v->dtype() != proto::DT_FLOAT) {
      return b.Error("input '", v->name(), "' must be a float32 [batch, time, dim] sequence, got ",
                     v->type().ToString());
    }
  }
  const Dims &q = query->dims(), &k = key->dims(), &v = value->dims();
  if (q[0] != k[0] || q[0] != v[0]) return b.Error("query, value and key must have the same batch size");
  if (q[2] != k[2]) {
    return b.Error("query '", query->name(), "' ", query->type().ToString(), " and key '", key->name(), "' ",
                   key->type().ToString(), " must have the same last dimension");
  }
  if (k[1] != v[1]) return b.Error("key and value must have the same number of steps, got ", k[1], " and ", v[1]);
  const std::string score = Lower(a.score());
  const bool additive = score == "additive" || score == "bahdanau";
  if (!additive && !score.empty() && score != "dot" && score != "luong") {
    return b.Error("score must be dot (Luong) or additive (Bahdanau), got '", a.score(), "'");
  }
  const bool use_scale = a.has_use_scale() ? a.use_scale() : additive;
  ASSIGN_OR_RETURN(Value * scores,
                   additive ? AdditiveScores(b, query, key, use_scale) : DotScores(b, query, key, use_scale));

  if (a.causal()) {
    // Query step i sees value steps j <= i (Keras' causal mask: a lower-triangular band).
    std::vector<float> band(static_cast<size_t>(q[1] * v[1]), 0.0f);
    for (int64_t i = 0; i < q[1]; ++i) {
      for (int64_t j = i + 1; j < v[1]; ++j) band[i * v[1] + j] = kHidden;
    }
    Value* mask = b.Constant("causal_mask", Tensor::FromVector(proto::DT_FLOAT, {q[1], v[1]}, band));
    ASSIGN_OR_RETURN(scores, b.Emit("Add", "CausalMask", {scores, mask}, {}, false));
  }
  if (!a.value_mask().empty()) {
    Value* mask = graph.FindValue(a.value_mask());
    if (!mask || !mask->has_type()) return b.Error("unknown value_mask '", a.value_mask(), "'");
    if (mask->dims() != Dims{v[0], v[1]}) {
      return b.Error("value_mask '", mask->name(), "' must be [batch, ", v[1], "] (one entry per value step), got ",
                     mask->type().ToString());
    }
    Value* zero = b.Constant("mask_zero", Tensor(mask->dtype(), {}));
    ASSIGN_OR_RETURN(Value * padding, b.Emit("Equal", "Padding", {mask, zero}, {}, false));
    Attrs to_float;
    to_float.SetInt("to", 1);  // TensorProto.FLOAT
    ASSIGN_OR_RETURN(padding, b.Emit("Cast", "PaddingFloat", {padding}, to_float, false));
    ASSIGN_OR_RETURN(padding,
                     b.Emit("Mul", "PaddingScores", {padding, b.Constant("hidden", Float(kHidden))}, {}, false));
    ASSIGN_OR_RETURN(padding, b.Emit("Unsqueeze", "PaddingMask",
                                     {padding, b.Constant("padding_axes", Int64s({1}, {1}))}, {}, false));
    ASSIGN_OR_RETURN(scores, b.Emit("Add", "ValueMask", {scores, padding}, {}, false));
  }
  Attrs softmax;
  softmax.SetInt("axis", -1);
  const std::string weights_name = a.return_attention_scores() ? b.name() + "/weights" : "";
  ASSIGN_OR_RETURN(std::vector<Value*> weights, b.EmitNamed("Softmax", "Weights", {scores}, softmax, {weights_name}));
  return b.Emit("MatMul", "Context", {weights[0], value}, {}, true);
}

}  // namespace kiln::text
