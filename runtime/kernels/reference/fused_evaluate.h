// One FusedElementwise instruction as the reference computes it, on float32
// values widened to double: the semantics of the op's own reference kernel
// (elementwise.cc, gradient.cc). The reference interpreter and the CUDA check's
// oracle (tools/kiln_cuda_check) share it, so they cannot disagree.
#pragma once

#include <cmath>
#include <limits>

#include "ir/core/fused_program.h"

namespace kiln::runtime::ref {

inline double FusedSigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

/// The scalar math the rows of ir/core/ops/unary.def (and binary.def's fusing rows) are written in, over doubles:
/// the reference interpreter's, which the reference kernels reuse.
struct ScalarMath {
  static double C(double v) { return v; }
  static double Add(double a, double b) { return a + b; }
  static double Sub(double a, double b) { return a - b; }
  static double Mul(double a, double b) { return a * b; }
  static double Div(double a, double b) { return a / b; }
  static double Pow(double a, double b) { return std::pow(a, b); }
  static double Max(double a, double b) {  // NaN-propagating, the reference kernel's tie choice
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
    return a < b ? b : a;
  }
  static double Min(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
    return b < a ? b : a;
  }
  static double Neg(double a) { return -a; }
  static double Abs(double a) { return std::fabs(a); }
  static double Exp(double a) { return std::exp(a); }
  static double Expm1(double a) { return std::expm1(a); }
  static double Log(double a) { return std::log(a); }
  static double Log1p(double a) { return std::log1p(a); }
  static double Sqrt(double a) { return std::sqrt(a); }
  static double Tanh(double a) { return std::tanh(a); }
  static double Erf(double a) { return std::erf(a); }
  static double Sin(double a) { return std::sin(a); }
  static double Cos(double a) { return std::cos(a); }
  static double Tan(double a) { return std::tan(a); }
  static double Asin(double a) { return std::asin(a); }
  static double Acos(double a) { return std::acos(a); }
  static double Atan(double a) { return std::atan(a); }
  static double Sinh(double a) { return std::sinh(a); }
  static double Cosh(double a) { return std::cosh(a); }
  static double Asinh(double a) { return std::asinh(a); }
  static double Acosh(double a) { return std::acosh(a); }
  static double Atanh(double a) { return std::atanh(a); }
  static double Floor(double a) { return std::floor(a); }
  static double Ceil(double a) { return std::ceil(a); }
  static double Round(double a) { return std::nearbyint(a); }              // half to even (the default rounding mode)
  static double Sign(double a) { return a > 0 ? 1.0 : a < 0 ? -1.0 : a; }  // keeps 0, -0 and NaN
  static double Sigmoid(double a) { return FusedSigmoid(a); }
  static double Select(bool c, double a, double b) { return c ? a : b; }
  static bool Lt(double a, double b) { return a < b; }
  static bool Gt(double a, double b) { return a > b; }
  static bool Ge(double a, double b) { return a >= b; }
};

// unary.def's forward and derivative as functions of x (or t) and the attributes.
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, since, doc, forward, derivative, ...) \
  inline double Unary##Name(double x, double a0, double a1) {                                                      \
    [[maybe_unused]] ScalarMath m;                                                                                 \
    return forward;                                                                                                \
  }                                                                                                                \
  inline double Unary##Name##Derivative(double t, double a0, double a1) {                                          \
    [[maybe_unused]] ScalarMath m;                                                                                 \
    return derivative;                                                                                             \
  }
#include "ir/core/ops/unary.def"
#undef UNARY

// binary.def's fusing rows as functions of a and b.
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, doc, forward, ...) \
  KILN_IF_FUSES(fuse)                                                                          \
  (inline double Binary##Name(double a, double b) {                                            \
    [[maybe_unused]] ScalarMath m;                                                             \
    return forward;                                                                            \
  })
#include "ir/core/ops/binary.def"
#undef BINARY

// One instruction on (float32 values widened to) doubles; the semantics of the
// op's own reference kernel (elementwise.cc, gradient.cc). `a` holds the
// instruction's arguments (up to 4).
inline double EvaluateFusedOp(FusedOp op, const double* a) {
  switch (op) {
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, ...) \
  KILN_IF_FUSES(fuse)(case FusedOp::k##Name : return Binary##Name(a[0], a[1]);)
#include "ir/core/ops/binary.def"
#undef BINARY
    case FusedOp::kRelu: return a[0] < 0 ? 0.0 : a[0];
    case FusedOp::kNeg: return -a[0];
    case FusedOp::kAbs: return a[0] < 0 ? -a[0] : a[0];
    case FusedOp::kSign: return ScalarMath::Sign(a[0]);
    case FusedOp::kClip: {
      // min(max(x, lo), hi) as ONNX writes it: with lo > hi everything becomes hi; NaN passes through.
      const double raised = a[0] < a[1] ? a[1] : a[0];
      return a[2] < raised ? a[2] : raised;
    }
    case FusedOp::kReluGrad: return a[0] * (a[1] > 0 ? 1.0 : 0.0);
    case FusedOp::kAbsGrad: return a[0] * (a[1] > 0 ? 1.0 : a[1] < 0 ? -1.0 : 0.0);
#define UNARY(Name, fn_name, from, nattrs, ...)                                                  \
  case FusedOp::k##Name: return Unary##Name(a[0], nattrs > 0 ? a[1] : 0, nattrs > 1 ? a[2] : 0); \
  case FusedOp::k##Name##Grad:                                                                   \
    return a[0] * Unary##Name##Derivative(a[1], nattrs > 0 ? a[2] : 0, nattrs > 1 ? a[3] : 0);
#include "ir/core/ops/unary.def"
#undef UNARY
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace kiln::runtime::ref
