// fold-batchnorm (inference only): BatchNormalization with constant statistics
// is the per-channel affine map y = s * x + t, s = scale / sqrt(var + eps),
// t = B - s * mean. After a Conv (constant weights, output read only by the
// BN) it folds into the Conv: W'[m] = s[m] W[m], b' = s (b - mean) + B. After
// a 2-D MatMul or Gemm (channels = columns) it scales the weight columns and
// becomes (part of) the bias. Training keeps BN: its statistics change.
#include <cmath>
#include <optional>

#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

struct Affine {
  std::vector<double> scale, shift;  // per channel
};

bool IsFloatConstant(const Value* v) { return v && v->is_constant() && v->dtype() == proto::DT_FLOAT; }

// The BN's per-channel affine map, when BN is an inference BN over constant float32 parameters.
std::optional<Affine> InferenceAffine(const Graph& graph, const Node& bn) {
  if (bn.attrs().GetInt("training_mode", 0) != 0 || bn.num_inputs() != 5) return std::nullopt;
  for (int i = 1; i < bn.num_outputs(); ++i) {
    if (graph.NumUses(bn.output(i)) > 0) return std::nullopt;
  }
  for (int i = 1; i < 5; ++i) {
    if (!IsFloatConstant(bn.input(i))) return std::nullopt;
  }
  const int64_t channels = bn.input(1)->constant().num_elements();
  const double eps = bn.attrs().GetFloat("epsilon", 1e-5f);
  Affine a;
  for (int64_t c = 0; c < channels; ++c) {
    const double s = bn.input(1)->constant().GetAsDouble(c) / std::sqrt(bn.input(4)->constant().GetAsDouble(c) + eps);
    a.scale.push_back(s);
    a.shift.push_back(bn.input(2)->constant().GetAsDouble(c) - s * bn.input(3)->constant().GetAsDouble(c));
  }
  return a;
}

// `w` with every element multiplied by the scale of its channel, where the
// channel of flat index i is (i / inner) % channels.
Tensor ScaleChannels(const Tensor& w, const std::vector<double>& scale, int64_t inner) {
  Tensor out(w.dtype(), w.dims());
  const float* src = w.data_as<float>();
  float* dst = out.mutable_data_as<float>();
  const int64_t channels = static_cast<int64_t>(scale.size());
  for (int64_t i = 0; i < w.num_elements(); ++i) dst[i] = static_cast<float>(src[i] * scale[(i / inner) % channels]);
  return out;
}

// s * (bias - mean) + B as a [channels] tensor: shift + s * bias (bias may be absent or broadcast).
Tensor FoldedBias(const Affine& a, const Value* bias) {
  const int64_t channels = static_cast<int64_t>(a.scale.size());
  std::vector<float> b(channels);
  for (int64_t c = 0; c < channels; ++c) {
    const double old = bias ? bias->constant().GetAsDouble(bias->constant().num_elements() == 1 ? 0 : c) : 0.0;
    b[c] = static_cast<float>(a.shift[c] + a.scale[c] * old);
  }
  return Tensor::FromVector(proto::DT_FLOAT, {channels}, b);
}

// A bias that is one value per column of an [M, N] result: [N], [1, N] or a scalar.
bool IsColumnBias(const Value* v, int64_t n) {
  if (!IsFloatConstant(v)) return false;
  const Dims& d = v->dims();
  return ElementCount(d) == 1 || d == Dims{n} || d == Dims{1, n};
}

class FoldBatchNormPass : public Pass {
 public:
  std::string name() const override { return "fold-batchnorm"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions&) override {
    bool changed = false;
    for (Node* bn : graph.NodeList()) {
      if (bn->op_type() != "BatchNormalization") continue;
      Value* x = bn->input(0);
      Node* producer = x->producer();
      if (!producer || graph.NumUses(x) != 1 || graph.IsGraphOutput(x)) continue;
      std::optional<Affine> affine = InferenceAffine(graph, *bn);
      if (!affine) continue;
      Value* folded = nullptr;
      if (producer->op_type() == "Conv") {
        folded = FoldIntoConv(graph, *producer, *affine);
      } else if (producer->op_type() == "Gemm") {
        folded = FoldIntoGemm(graph, *producer, *affine);
      } else if (producer->op_type() == "MatMul" || producer->op_type() == "Add") {
        folded = FoldIntoMatMul(graph, *producer, *affine);
      }
      if (!folded) continue;
      folded->set_type(bn->output(0)->type());
      if (ReplaceWithNewValue(graph, bn->output(0), folded)) {
        changed = true;
      } else {
        graph.RemoveNode(folded->producer());
      }
    }
    if (changed) RemoveUnusedNodes(graph);
    return changed;
  }

 private:
  // Conv(x, W, b) -> Conv(x, W', b') inserted before the old Conv.
  static Value* FoldIntoConv(Graph& graph, Node& conv, const Affine& a) {
    Value* w = conv.input(1);
    Value* b = conv.input(2);
    if (!IsFloatConstant(w) || (b && !IsFloatConstant(b))) return nullptr;
    const int64_t channels = w->dims()[0];
    if (static_cast<int64_t>(a.scale.size()) != channels) return nullptr;
    Value* new_w = AddDerivedConstant(graph, w, w->name() + "_bn",
                                      ScaleChannels(w->constant(), a.scale, w->constant().num_elements() / channels));
    Value* new_b = AddDerivedConstant(graph, w, conv.name() + "_bn_bias", FoldedBias(a, b));
    Node* folded = graph.InsertNodeBefore(&conv, "Conv", conv.name(), {conv.input(0), new_w, new_b}, 1, conv.attrs());
    return folded->output(0);
  }

  // MatMul(x, W) [+ c] with W [K, N] constant -> MatMul(x, W') + b'.
  static Value* FoldIntoMatMul(Graph& graph, Node& last, const Affine& a) {
    Node* matmul = &last;
    Value* bias = nullptr;
    const int64_t n = static_cast<int64_t>(a.scale.size());
    if (last.op_type() == "Add") {
      for (int i = 0; i < 2; ++i) {
        Node* p = last.input(i)->producer();
        if (p && p->op_type() == "MatMul" && IsColumnBias(last.input(1 - i), n) && graph.NumUses(last.input(i)) == 1) {
          matmul = p;
          bias = last.input(1 - i);
        }
      }
      if (matmul == &last) return nullptr;
    }
    Value* w = matmul->input(1);
    if (!IsFloatConstant(w) || w->dims().size() != 2 || w->dims()[1] != n || last.output(0)->dims().size() != 2) {
      return nullptr;
    }
    Value* new_w = AddDerivedConstant(graph, w, w->name() + "_bn", ScaleChannels(w->constant(), a.scale, 1));
    Value* new_b = AddDerivedConstant(graph, w, matmul->name() + "_bn_bias", FoldedBias(a, bias));
    Node* mm = graph.InsertNodeBefore(&last, "MatMul", matmul->name(), {matmul->input(0), new_w});
    mm->output(0)->set_type(matmul->output(0)->type());
    return graph.InsertNodeBefore(&last, "Add", matmul->name() + "_bias", {mm->output(0), new_b})->output(0);
  }

  // Gemm(A, B, C) with constant B and C -> Gemm(A, B', C'): B's columns of op(B) scaled,
  // C' = s * C + t / beta (beta 1 when there was no C).
  static Value* FoldIntoGemm(Graph& graph, Node& gemm, const Affine& a) {
    const int64_t n = static_cast<int64_t>(a.scale.size());
    Value* b = gemm.input(1);
    Value* c = gemm.input(2);
    if (gemm.attrs().GetFloat("alpha", 1.0f) == 0.0f || !IsFloatConstant(b) || (c && !IsColumnBias(c, n)))
      return nullptr;
    if (gemm.output(0)->dims()[1] != n) return nullptr;
    const bool trans_b = gemm.attrs().GetInt("transB", 0) != 0;
    const float beta = c ? gemm.attrs().GetFloat("beta", 1.0f) : 1.0f;
    if (beta == 0.0f) return nullptr;
    Attrs attrs = gemm.attrs();
    attrs.SetFloat("beta", beta);
    // op(B) is [K, N]: B is [N, K] when transposed (channel = row), else [K, N] (channel = column).
    Value* new_b = AddDerivedConstant(graph, b, b->name() + "_bn",
                                      ScaleChannels(b->constant(), a.scale, trans_b ? b->dims()[1] : 1));
    Affine shifted = a;
    for (double& t : shifted.shift) t /= beta;
    Value* new_c = AddDerivedConstant(graph, b, gemm.name() + "_bn_bias", FoldedBias(shifted, c));
    return graph.InsertNodeBefore(&gemm, "Gemm", gemm.name(), {gemm.input(0), new_b, new_c}, 1, attrs)->output(0);
  }
};

}  // namespace

std::unique_ptr<Pass> CreateFoldBatchNormPass() { return std::make_unique<FoldBatchNormPass>(); }

}  // namespace kiln
