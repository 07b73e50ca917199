// fuse-postops: oneDNN post-op fusion. A Conv, MatMul or Gemm followed by a
// chain of single-use consumers
//     [+ bias (per channel / per column constant)] [+ residual Z] [activation]
// (the activation may be x * Sigmoid(x), which becomes Swish, or GELU spelled out with Erf)
// in that order becomes one FusedConv / FusedMatMul (ir/core/fused_ops.h) that
// oneDNN runs as one primitive with bias, sum / binary_add and eltwise
// post-ops; the intermediate tensors are never written. The fused node takes
// the place of the chain's last node, where every operand (the residual
// included) is already computed. A chain is fused only when oneDNN can run the
// fused node (the target's answer, compiler/target.h), so fusion never trades a
// oneDNN kernel for a reference one. In training steps a BatchNormTraining also takes the
// Relu after it (FuseBatchNormRelu).
#include <cmath>
#include <limits>

#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"
#include "ir/core/fused_ops.h"

namespace kiln {
namespace {

struct Chain {
  std::vector<Node*> absorbed;  // consumers folded into the core, in order
  Value* bias = nullptr;
  Value* residual = nullptr;
  Attrs activation;  // activation / activation_alpha / activation_beta
};

bool IsFloat(const Value* v) { return v && v->dtype() == proto::DT_FLOAT; }

// A constant that adds one value per channel `axis` of `out` (every other dim 1), as a
// [channels] tensor when `flatten`, else as is; null when `v` is no such constant.
Value* ChannelBias(Graph& graph, Value* v, const Dims& out, size_t axis, bool flatten) {
  if (!IsFloat(v) || !v->is_constant() || v->dims().size() > out.size()) return nullptr;
  const Dims d = [&] {
    Dims padded(out.size() - v->dims().size(), 1);
    padded.insert(padded.end(), v->dims().begin(), v->dims().end());
    return padded;
  }();
  for (size_t i = 0; i < d.size(); ++i) {
    if (d[i] != 1 && !(i == axis && d[i] == out[axis])) return nullptr;
  }
  if (!flatten || v->dims() == Dims{out[axis]}) return v;
  std::vector<float> b(out[axis]);
  for (int64_t c = 0; c < out[axis]; ++c) b[c] = v->constant().data_as<float>()[d[axis] == 1 ? 0 : c];
  return AddDerivedConstant(graph, v, v->name() + "_bias", Tensor::FromVector(proto::DT_FLOAT, {out[axis]}, b));
}

// `a + b` for two constant biases of the same shape.
Value* AddBiases(Graph& graph, const Value* a, const Value* b) {
  Tensor sum(proto::DT_FLOAT, a->dims());
  for (int64_t i = 0; i < sum.num_elements(); ++i) {
    sum.mutable_data_as<float>()[i] = a->constant().data_as<float>()[i] + b->constant().data_as<float>()[i];
  }
  return AddDerivedConstant(graph, a->is_parameter() ? a : b, a->name() + "_sum", std::move(sum));
}

// The fused form of an activation node, or false when it has none (Clip needs constant bounds).
bool FusedActivation(const Node& node, Attrs* result) {
  const std::string& op = node.op_type();
  if (!IsFusableActivation(op)) return false;
  Attrs attrs;
  attrs.SetString("activation", op);
  if (op == "LeakyRelu") attrs.SetFloat("activation_alpha", node.attrs().GetFloat("alpha", 0.01f));
  if (op == "Elu" || op == "Swish") attrs.SetFloat("activation_alpha", node.attrs().GetFloat("alpha", 1.0f));
  if (op == "Clip") {
    float bounds[2] = {std::numeric_limits<float>::lowest(), std::numeric_limits<float>::max()};
    for (int i = 1; i <= 2; ++i) {
      const Value* v = node.input(i);
      if (!v) continue;
      if (!IsFloat(v) || !v->is_constant() || v->constant().num_elements() != 1) return false;
      bounds[i - 1] = v->constant().data_as<float>()[0];
    }
    attrs.SetFloat("activation_alpha", bounds[0]);
    attrs.SetFloat("activation_beta", bounds[1]);
  }
  *result = std::move(attrs);
  return true;
}

// The Mul of x * Sigmoid(x) (Swish, SiLU: how exporters before opset 24 write it) when those
// two nodes are x's only users and the Sigmoid's output is read by the Mul alone; its Sigmoid
// in `sigmoid`.
Node* SwishOf(Graph& graph, Value* x, Node** sigmoid) {
  if (graph.NumUses(x) != 2) return nullptr;
  Node* s = nullptr;
  Node* mul = nullptr;
  for (Node* user : graph.Users(x)) {
    if (user->op_type() == "Sigmoid") s = user;
    if (user->op_type() == "Mul") mul = user;
  }
  if (!s || !mul || SoleUser(graph, s->output(0)) != mul || s->output(0)->type() != x->type() ||
      mul->output(0)->type() != x->type()) {
    return nullptr;
  }
  *sigmoid = s;
  return OtherOperand(mul, "Mul", x) == s->output(0) ? mul : nullptr;
}

// The nodes of GELU spelled out as exporters before opset 20 write it (the constants as float32),
//   x * (1 + Erf(x / sqrt 2)) * 0.5   (the division may be a Mul by 1 / sqrt 2),
// in order, when they are x's only readers and each intermediate is read by the next alone;
// empty otherwise.
std::vector<Node*> GeluOf(Graph& graph, Value* x) {
  if (graph.NumUses(x) != 2) return {};
  Node* scale = nullptr;
  Node* times_x = nullptr;
  for (Node* user : graph.Users(x)) {
    if (user->op_type() == "Div" && user->input(0) == x &&
        IsConstantFilledWith(user->input(1), static_cast<float>(std::sqrt(2.0)))) {
      scale = user;
    } else if (Value* c = OtherOperand(user, "Mul", x);
               c && IsConstantFilledWith(c, static_cast<float>(std::sqrt(0.5)))) {
      scale = user;
    } else if (user->op_type() == "Mul") {
      times_x = user;
    }
  }
  if (!scale || !times_x) return {};
  Node* erf = SoleUser(graph, scale->output(0));
  if (!erf || erf->op_type() != "Erf") return {};
  Node* plus_one = SoleUser(graph, erf->output(0));
  Value* one = OtherOperand(plus_one, "Add", erf->output(0));
  if (!one || !IsConstantFilledWith(one, 1.0) || OtherOperand(times_x, "Mul", x) != plus_one->output(0)) return {};
  Node* half = SoleUser(graph, times_x->output(0));
  Value* h = OtherOperand(half, "Mul", times_x->output(0));
  if (!h || !IsConstantFilledWith(h, 0.5) || half->output(0)->type() != x->type()) return {};
  for (Node* n : {scale, erf, plus_one}) {
    if (n->output(0)->type() != x->type()) return {};
  }
  return {scale, erf, plus_one, times_x, half};
}

// Follows `core`'s output through bias, residual and activation consumers.
Chain FollowChain(Graph& graph, Node* core, Value* bias) {
  Chain chain;
  chain.bias = bias;
  const bool is_conv = core->op_type() == "Conv";
  Value* cur = core->output(0);
  while (!graph.IsGraphOutput(cur) && !chain.activation.Has("activation")) {
    Node* sigmoid = nullptr;
    if (Node* mul = SwishOf(graph, cur, &sigmoid)) {
      chain.activation.SetString("activation", "Swish");
      chain.activation.SetFloat("activation_alpha", 1.0f);
      chain.absorbed.push_back(sigmoid);
      chain.absorbed.push_back(mul);
      cur = mul->output(0);
      continue;
    }
    if (std::vector<Node*> gelu = GeluOf(graph, cur); !gelu.empty()) {
      chain.activation.SetString("activation", "Gelu");
      chain.absorbed.insert(chain.absorbed.end(), gelu.begin(), gelu.end());
      cur = gelu.back()->output(0);
      continue;
    }
    if (graph.NumUses(cur) != 1) break;
    Node* user = graph.Users(cur)[0];
    if (user->op_type() == "Add" && chain.activation.all().empty()) {
      Value* other = user->input(user->input(0) == cur ? 1 : 0);
      const Dims& out = cur->dims();
      Value* as_bias = chain.residual ? nullptr : ChannelBias(graph, other, out, is_conv ? 1 : out.size() - 1, is_conv);
      if (as_bias && !chain.bias) {
        chain.bias = as_bias;
      } else if (as_bias && is_conv && chain.bias->is_constant()) {
        chain.bias = AddBiases(graph, chain.bias, as_bias);
      } else if (!chain.residual && other != cur && other->type() == cur->type() &&
                 user->output(0)->type() == cur->type()) {
        chain.residual = other;
      } else {
        break;
      }
    } else if (!FusedActivation(*user, &chain.activation)) {
      break;
    }
    chain.absorbed.push_back(user);
    cur = user->output(0);
  }
  return chain;
}

// Gemm(A, B, C) as MatMul operands: A, B (transposed at compile time when transB), C as
// the bias; false unless Gemm is a plain A B + C with a constant B and a per-column C.
bool GemmAsMatMul(Graph& graph, const Node& gemm, Value** b, Value** bias) {
  if (gemm.attrs().GetInt("transA", 0) != 0 || gemm.attrs().GetFloat("alpha", 1.0f) != 1.0f) return false;
  Value* w = gemm.input(1);
  Value* c = gemm.input(2);
  if (!IsFloat(w) || !w->is_constant()) return false;
  *bias = nullptr;
  if (c) {
    if (gemm.attrs().GetFloat("beta", 1.0f) != 1.0f) return false;
    *bias = ChannelBias(graph, c, gemm.output(0)->dims(), 1, false);
    if (!*bias) return false;
  }
  *b = w;
  if (gemm.attrs().GetInt("transB", 0) != 0) {
    const int64_t n = w->dims()[0], k = w->dims()[1];
    Tensor t(proto::DT_FLOAT, {k, n});
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t j = 0; j < k; ++j) t.mutable_data_as<float>()[j * n + i] = w->constant().data_as<float>()[i * k + j];
    }
    *b = AddDerivedConstant(graph, w, w->name() + "_t", std::move(t));
  }
  return true;
}

// A BatchNormTraining (training steps) whose Y only a Relu reads takes the Relu as its
// attribute `relu`: Y is written once, rectified, instead of written and read back (the Relu's
// gradient and the layers after it read the Relu's output, which Y then is). Only where the
// target runs that node as one kernel (the CPU's channel kernel, plain NCHW).
bool FuseBatchNormRelu(Graph& graph, Node* bn, const PassOptions& options) {
  Node* relu = SoleUser(graph, bn->output(0));
  if (!relu || relu->op_type() != "Relu" || bn->attrs().GetInt("relu", 0) != 0 || !IsFloat(bn->output(0))) {
    return false;
  }
  bn->attrs().SetInt("relu", 1);
  if (!options.target->PostOpFusionUnsupportedReason(*bn).empty() ||
      !ReplaceWithNewValue(graph, relu->output(0), bn->output(0))) {
    bn->attrs().Erase("relu");
    return false;
  }
  return true;
}

class FusePostOpsPass : public Pass {
 public:
  std::string name() const override { return "fuse-postops"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    bool changed = false;
    const size_t values_before = graph.values().size();
    for (Node* core : graph.NodeList()) {
      const std::string& op = core->op_type();
      if (op == "BatchNormTraining") {
        changed = FuseBatchNormRelu(graph, core, options) || changed;
        continue;
      }
      if ((op != "Conv" && op != "MatMul" && op != "Gemm") || !IsFloat(core->output(0))) continue;
      if (op == "MatMul" && (core->input(0)->dims().size() < 2 || core->input(1)->dims().size() < 2)) continue;
      std::vector<Value*> inputs = {core->input(0), core->input(1)};
      Value* bias = op == "Conv" ? core->input(2) : nullptr;
      if (op == "Gemm" && !GemmAsMatMul(graph, *core, &inputs[1], &bias)) continue;
      Chain chain = FollowChain(graph, core, bias);
      if (chain.absorbed.empty()) continue;
      inputs.push_back(chain.bias);
      inputs.push_back(chain.residual);
      while (!inputs.back()) inputs.pop_back();
      Attrs attrs = op == "Conv" ? core->attrs() : Attrs();
      for (const auto& [name, attr] : chain.activation.all()) attrs.Set(attr);
      Node* last = chain.absorbed.back();
      Node* fused =
          graph.InsertNodeBefore(last, op == "Conv" ? "FusedConv" : "FusedMatMul", core->name(), inputs, 1, attrs);
      fused->output(0)->set_type(last->output(0)->type());
      if (!options.target->PostOpFusionUnsupportedReason(*fused).empty() ||
          !ReplaceWithNewValue(graph, last->output(0), fused->output(0))) {
        graph.RemoveNode(fused);
        continue;
      }
      changed = true;
    }
    if (changed) RemoveUnusedNodes(graph);
    graph.RemoveDeadValues();  // biases and transposed weights made for chains left alone
    return changed || graph.values().size() != values_before;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateFusePostOpsPass() { return std::make_unique<FusePostOpsPass>(); }

}  // namespace kiln
