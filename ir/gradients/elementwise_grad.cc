// Gradient rules of the elementwise ops, the linear algebra ops and the losses.
// Broadcast operands get their gradient summed back to their own shape.
#include <type_traits>
#include <utility>

#include "ir/core/ops/binary_table.h"
#include "ir/core/ops/unary_table.h"
#include "ir/gradient.h"

namespace kiln {
namespace {

using Ctx = GradientContext;

// binary.def's derivatives over IR nodes: each method appends one node. The first failure
// sticks (later calls return null) and is reported once.
class GradMath {
 public:
  explicit GradMath(Ctx& c) : c_(c) {}
  Value* C(double v) { return c_.Scalar(v, c_.dY()->dtype()); }
  Value* Add(Value* a, Value* b) { return Emit("Add", {a, b}); }
  Value* Sub(Value* a, Value* b) { return Emit("Sub", {a, b}); }
  Value* Mul(Value* a, Value* b) { return Emit("Mul", {a, b}); }
  Value* Div(Value* a, Value* b) { return Emit("Div", {a, b}); }
  Value* Pow(Value* a, Value* b) { return Emit("Pow", {a, b}); }
  Value* Neg(Value* a) { return Emit("Neg", {a}); }
  Value* Log(Value* a) { return Emit("Log", {a}); }
  const Status& status() const { return status_; }

 private:
  Value* Emit(const char* op, const std::vector<Value*>& inputs) {
    for (Value* v : inputs) {
      if (!v) return nullptr;
    }
    auto out = c_.Emit1(op, inputs);
    if (!out.ok()) {
      if (status_.ok()) status_ = out.status();
      return nullptr;
    }
    return *out;
  }
  Ctx& c_;
  Status status_;
};

// binary.def's "none": the row is not differentiable (no rule is registered).
struct NoGradient {};
constexpr NoGradient none;

// A differentiable row's dL/dA and dL/dB over dY, A, B, Y (rules are plain function pointers).
using BinaryGradFn = Value* (*)(GradMath& m, Value* dy, Value* a, Value* b, Value* y);
template <OpKind kKind>
struct BinaryGrads {
  static inline BinaryGradFn a = nullptr;
  static inline BinaryGradFn b = nullptr;
};

// dL/dA and dL/dB of a binary.def row, summed back to each input's shape.
Status BinaryRule(Ctx& c, BinaryGradFn grad_a, BinaryGradFn grad_b);

// Registers the rule of a row whose derivatives are not "none".
template <OpKind kKind, typename GradA, typename GradB>
void SetBinaryGradient(GradientRules& r, GradA grad_a, GradB grad_b) {
  using Result = std::invoke_result_t<GradA, GradMath&, Value*, Value*, Value*, Value*>;
  if constexpr (!std::is_same_v<Result, NoGradient>) {
    BinaryGrads<kKind>::a = grad_a;
    BinaryGrads<kKind>::b = grad_b;
    r.SetGradient(kKind, [](Ctx& c) { return BinaryRule(c, BinaryGrads<kKind>::a, BinaryGrads<kKind>::b); });
  }
}

Status BinaryRule(Ctx& c, BinaryGradFn grad_a, BinaryGradFn grad_b) {
  if (c.X(1)->dtype() != c.X(0)->dtype()) return c.Unsupported("inputs of different types");
  for (int i = 0; i < 2; ++i) {
    if (!c.wants(i)) continue;
    GradMath m(c);
    Value* g = i == 0 ? grad_a(m, c.dY(), c.X(0), c.X(1), c.Y()) : grad_b(m, c.dY(), c.X(0), c.X(1), c.Y());
    RETURN_IF_ERROR(m.status());
    ASSIGN_OR_RETURN(g, c.ReduceTo(g, c.X(i)->dims()));
    c.set_grad(i, g);
  }
  return Status::Ok();
}

Status SumGrad(Ctx& c) {
  for (int i = 0; i < c.node.num_inputs(); ++i) {
    if (!c.wants(i)) continue;
    ASSIGN_OR_RETURN(Value * g, c.ReduceTo(c.dY(), c.X(i)->dims()));
    c.set_grad(i, g);
  }
  return Status::Ok();
}

// Mean: every input gets dY / (number of inputs), summed back to its shape.
Status MeanGrad(Ctx& c) {
  ASSIGN_OR_RETURN(Value * scaled, c.Emit1("Mul", {c.dY(), c.Scalar(1.0 / c.node.num_inputs(), c.dY()->dtype())}));
  for (int i = 0; i < c.node.num_inputs(); ++i) {
    if (!c.wants(i)) continue;
    ASSIGN_OR_RETURN(Value * g, c.ReduceTo(scaled, c.X(i)->dims()));
    c.set_grad(i, g);
  }
  return Status::Ok();
}

Status NegGrad(Ctx& c) {
  ASSIGN_OR_RETURN(Value * g, c.Emit1("Neg", {c.dY()}));
  c.set_grad(0, g);
  return Status::Ok();
}

Status IdentityGrad(Ctx& c) {
  c.set_grad(0, c.dY());
  return Status::Ok();
}

// dX = EltwiseGrad(dY, T) with the function's name and the op's float attributes;
// T is Y when the derivative is written in Y (cheaper, and what oneDNN's
// *_use_dst_for_bwd algorithms take), else X.
Status EmitEltwiseGrad(Ctx& c, const std::string& function, UnaryDerivativeFrom from) {
  Attrs a;
  a.SetString("function", function);
  if (const UnaryOpRow* row = FindUnaryOpByFunction(function)) {
    for (int i = 0; i < row->num_attrs; ++i) {
      a.SetFloat(row->attr_names[i], c.node.attrs().GetFloat(row->attr_names[i], row->attr_defaults[i]));
    }
  }
  ASSIGN_OR_RETURN(Value * g, c.Emit1("EltwiseGrad", {c.dY(), from == kFromY ? c.Y() : c.X(0)}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

// Where(c, X, Y): dX = Where(c, dY, 0), dY = Where(c, 0, dY), each summed back
// to its operand's shape. The condition is bool: no gradient.
Status WhereGrad(Ctx& c) {
  Value* zero = c.Scalar(0.0f, c.dY()->dtype());
  for (int i = 1; i <= 2; ++i) {
    if (!c.wants(i)) continue;
    ASSIGN_OR_RETURN(Value * g, c.Emit1("Where", {c.X(0), i == 1 ? c.dY() : zero, i == 1 ? zero : c.dY()}));
    ASSIGN_OR_RETURN(g, c.ReduceTo(g, c.X(i)->dims()));
    c.set_grad(i, g);
  }
  return Status::Ok();
}

// The ops of ir/core/ops/unary.def.
Status UnaryTableRule(Ctx& c) {
  const UnaryOpRow* row = FindUnaryOp(c.node.op_type());
  if (!row) return c.Unsupported("not an op of unary.def");
  return EmitEltwiseGrad(c, row->function, row->from);
}

template <int kLog>
Status SoftmaxRule(Ctx& c) {
  Attrs a;
  a.SetInt("axis", c.node.attrs().GetInt("axis", -1));
  a.SetInt("log", kLog);
  ASSIGN_OR_RETURN(Value * g, c.Emit1("SoftmaxGrad", {c.dY(), c.Y()}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

Attrs GemmAttrs(float alpha, bool trans_a, bool trans_b) {
  Attrs a;
  a.SetFloat("alpha", alpha);
  a.SetInt("transA", trans_a ? 1 : 0);
  a.SetInt("transB", trans_b ? 1 : 0);
  return a;
}

// Y = alpha * op(A) op(B) + beta * C with op = optional transpose.
Status GemmGrad(Ctx& c) {
  const float alpha = c.node.attrs().GetFloat("alpha", 1.0f);
  const float beta = c.node.attrs().GetFloat("beta", 1.0f);
  const bool ta = c.node.attrs().GetInt("transA", 0) != 0;
  const bool tb = c.node.attrs().GetInt("transB", 0) != 0;
  Value *a = c.X(0), *b = c.X(1), *dy = c.dY();
  if (c.wants(0)) {
    // d op(A) = alpha dY op(B)^T; dA is that or its transpose.
    ASSIGN_OR_RETURN(Value * g, ta ? c.Emit1("Gemm", {b, dy}, GemmAttrs(alpha, tb, true))
                                   : c.Emit1("Gemm", {dy, b}, GemmAttrs(alpha, false, !tb)));
    c.set_grad(0, g);
  }
  if (c.wants(1)) {
    // d op(B) = alpha op(A)^T dY.
    ASSIGN_OR_RETURN(Value * g, tb ? c.Emit1("Gemm", {dy, a}, GemmAttrs(alpha, true, ta))
                                   : c.Emit1("Gemm", {a, dy}, GemmAttrs(alpha, !ta, false)));
    c.set_grad(1, g);
  }
  if (c.node.num_inputs() > 2 && c.X(2) && c.wants(2)) {
    Value* g = dy;
    if (beta != 1.0f) {
      ASSIGN_OR_RETURN(g, c.Emit1("Mul", {dy, c.Scalar(beta, dy->dtype())}));
    }
    ASSIGN_OR_RETURN(g, c.ReduceTo(g, c.X(2)->dims()));
    c.set_grad(2, g);
  }
  return Status::Ok();
}

// Swaps the last two axes of a rank >= 2 value.
StatusOr<Value*> TransposeLast2(Ctx& c, Value* v) {
  const int rank = static_cast<int>(v->dims().size());
  std::vector<int64_t> perm(rank);
  for (int i = 0; i < rank; ++i) perm[i] = i;
  std::swap(perm[rank - 1], perm[rank - 2]);
  Attrs a;
  a.SetInts("perm", perm);
  return c.Emit1("Transpose", {v}, a);
}

// MatMul with numpy semantics. Rank-2 operands use Gemm directly; a rank-2 B
// with a batched A folds the batch into rows; 1-D operands are lifted to 2-D.
Status MatMulGrad(Ctx& c) {
  Value *a = c.X(0), *b = c.X(1), *dy = c.dY();
  const Dims a_dims = a->dims(), b_dims = b->dims();
  if (a_dims.size() == 1) {
    ASSIGN_OR_RETURN(a, c.ReshapeTo(a, {1, a_dims[0]}));
  }
  if (b_dims.size() == 1) {
    ASSIGN_OR_RETURN(b, c.ReshapeTo(b, {b_dims[0], 1}));
  }
  if (b->dims().size() == 2) {
    const int64_t k = a->dims().back(), n = b->dims()[1];
    ASSIGN_OR_RETURN(Value * a2, c.ReshapeTo(a, {ElementCount(a->dims()) / k, k}));
    ASSIGN_OR_RETURN(Value * dy2, c.ReshapeTo(dy, {ElementCount(a->dims()) / k, n}));
    if (c.wants(0)) {
      ASSIGN_OR_RETURN(Value * g, c.Emit1("Gemm", {dy2, b}, GemmAttrs(1.0f, false, true)));
      ASSIGN_OR_RETURN(g, c.ReshapeTo(g, a_dims));
      c.set_grad(0, g);
    }
    if (c.wants(1)) {
      ASSIGN_OR_RETURN(Value * g, c.Emit1("Gemm", {a2, dy2}, GemmAttrs(1.0f, true, false)));
      ASSIGN_OR_RETURN(g, c.ReshapeTo(g, b_dims));
      c.set_grad(1, g);
    }
    return Status::Ok();
  }
  if (a_dims.size() == 1) return c.Unsupported("a 1-D first operand with a batched second operand");
  Dims y_dims = a->dims();
  y_dims.back() = b->dims().back();
  ASSIGN_OR_RETURN(Value * dy_full, c.ReshapeTo(dy, c.dY()->dims()));
  if (c.wants(0)) {
    ASSIGN_OR_RETURN(Value * bt, TransposeLast2(c, b));
    ASSIGN_OR_RETURN(Value * g, c.Emit1("MatMul", {dy_full, bt}));
    ASSIGN_OR_RETURN(g, c.ReduceTo(g, a->dims()));
    ASSIGN_OR_RETURN(g, c.ReshapeTo(g, a_dims));
    c.set_grad(0, g);
  }
  if (c.wants(1)) {
    ASSIGN_OR_RETURN(Value * at, TransposeLast2(c, a));
    ASSIGN_OR_RETURN(Value * g, c.Emit1("MatMul", {at, dy_full}));
    ASSIGN_OR_RETURN(g, c.ReduceTo(g, b->dims()));
    c.set_grad(1, g);
  }
  return Status::Ok();
}

// Losses: (pred, target) -> scalar; the gradient op takes (dLoss, pred, target).
template <const char* kGradOp>
Status LossRule(Ctx& c) {
  if (c.wants(1)) return c.Unsupported("the target input (targets are data, not parameters)");
  if (!c.wants(0)) return Status::Ok();
  ASSIGN_OR_RETURN(Value * g, c.Emit1(kGradOp, {c.dY(), c.X(0), c.X(1)}, c.node.attrs()));
  c.set_grad(0, g);
  return Status::Ok();
}

constexpr char kSoftmaxCeGrad[] = "SoftmaxCrossEntropyGrad", kCeGrad[] = "CrossEntropyGrad",
               kSigmoidCeGrad[] = "SigmoidCrossEntropyGrad", kBceGrad[] = "BinaryCrossEntropyGrad",
               kMseGrad[] = "MeanSquaredErrorGrad";

}  // namespace

void RegisterElementwiseGradients(GradientRules& r) {
  // ir/core/ops/binary.def's differentiable rows.
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, doc, forward, grad_a, grad_b, ...) \
  SetBinaryGradient<OpKind::k##Name>(                                                                          \
      r,                                                                                                       \
      []([[maybe_unused]] GradMath& m, [[maybe_unused]] Value* dy, [[maybe_unused]] Value* a,                  \
         [[maybe_unused]] Value* b, [[maybe_unused]] Value* y) { return grad_a; },                             \
      []([[maybe_unused]] GradMath& m, [[maybe_unused]] Value* dy, [[maybe_unused]] Value* a,                  \
         [[maybe_unused]] Value* b, [[maybe_unused]] Value* y) { return grad_b; });
#include "ir/core/ops/binary.def"
#undef BINARY
  r.SetGradient(OpKind::kSum, SumGrad);
  r.SetGradient(OpKind::kMean, MeanGrad);
  r.SetGradient(OpKind::kNeg, NegGrad);
  r.SetGradient(OpKind::kIdentity, IdentityGrad);
  // From Y: y > 0 exactly where x > 0 (NaN in both: 0), and reading the output leaves the
  // pre-activation unused by the backward pass, so a Conv/MatMul + Relu fuses in training too.
  r.SetGradient(OpKind::kRelu, [](Ctx& c) { return EmitEltwiseGrad(c, "relu", kFromY); });
  r.SetGradient(OpKind::kWhere, WhereGrad);
  r.SetGradient(OpKind::kAbs, [](Ctx& c) { return EmitEltwiseGrad(c, "abs", kFromX); });
  for (const UnaryOpRow& row : UnaryOpTable()) r.SetGradient(row.kind, UnaryTableRule);
  r.SetGradient(OpKind::kSoftmax, SoftmaxRule<0>);
  r.SetGradient(OpKind::kLogSoftmax, SoftmaxRule<1>);
  r.SetGradient(OpKind::kGemm, GemmGrad);
  r.SetGradient(OpKind::kMatMul, MatMulGrad);
  r.SetGradient(OpKind::kSoftmaxCrossEntropy, LossRule<kSoftmaxCeGrad>);
  r.SetGradient(OpKind::kCrossEntropy, LossRule<kCeGrad>);
  r.SetGradient(OpKind::kSigmoidCrossEntropy, LossRule<kSigmoidCeGrad>);
  r.SetGradient(OpKind::kBinaryCrossEntropy, LossRule<kBceGrad>);
  r.SetGradient(OpKind::kMeanSquaredError, LossRule<kMseGrad>);
}

}  // namespace kiln
