// One FusedElementwise instruction as the reference computes it, on float32
// values widened to double: the semantics of the op's own reference kernel
// (elementwise.cc, gradient.cc). The reference interpreter and the CUDA check's
// oracle (tools/kiln_cuda_check) share it, so they cannot disagree.
#pragma once

#include <cmath>
#include <limits>

#include "ir/fused_program.h"

namespace kiln::runtime::ref {

inline double FusedSigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

inline double FusedMaxOf(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return a < b ? b : a;
}

inline double FusedMinOf(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return b < a ? b : a;
}

// One instruction on (float32 values widened to) doubles; the semantics of the
// op's own reference kernel (elementwise.cc, gradient.cc).
inline double EvaluateFusedOp(FusedOp op, const double* a) {
  switch (op) {
    case FusedOp::kAdd: return a[0] + a[1];
    case FusedOp::kSub: return a[0] - a[1];
    case FusedOp::kMul: return a[0] * a[1];
    case FusedOp::kDiv: return a[0] / a[1];
    case FusedOp::kMax: return FusedMaxOf(a[0], a[1]);
    case FusedOp::kMin: return FusedMinOf(a[0], a[1]);
    case FusedOp::kPow: return std::pow(a[0], a[1]);
    case FusedOp::kRelu: return a[0] < 0 ? 0.0 : a[0];
    case FusedOp::kLeakyRelu: return a[0] >= 0 ? a[0] : a[1] * a[0];
    case FusedOp::kElu: return a[0] >= 0 ? a[0] : a[1] * std::expm1(a[0]);
    case FusedOp::kSelu: return a[0] > 0 ? a[2] * a[0] : a[2] * a[1] * std::expm1(a[0]);
    case FusedOp::kSigmoid: return FusedSigmoid(a[0]);
    case FusedOp::kTanh: return std::tanh(a[0]);
    case FusedOp::kSoftplus: return a[0] > 0 ? a[0] + std::log1p(std::exp(-a[0])) : std::log1p(std::exp(a[0]));
    case FusedOp::kSoftsign: return a[0] / (1.0 + std::fabs(a[0]));
    case FusedOp::kExp: return std::exp(a[0]);
    case FusedOp::kLog: return std::log(a[0]);
    case FusedOp::kSqrt: return std::sqrt(a[0]);
    case FusedOp::kNeg: return -a[0];
    case FusedOp::kAbs: return a[0] < 0 ? -a[0] : a[0];
    case FusedOp::kClip: {
      // min(max(x, lo), hi) as ONNX writes it: with lo > hi everything becomes hi; NaN passes through.
      const double raised = a[0] < a[1] ? a[1] : a[0];
      return a[2] < raised ? a[2] : raised;
    }
    case FusedOp::kReluGrad: return a[0] * (a[1] > 0 ? 1.0 : 0.0);
    case FusedOp::kLeakyReluGrad: return a[0] * (a[1] > 0 ? 1.0 : a[2]);
    case FusedOp::kEluGrad: return a[0] * (a[1] > 0 ? 1.0 : a[2] * std::exp(a[1]));
    case FusedOp::kSigmoidGrad: return a[0] * (a[1] * (1.0 - a[1]));
    case FusedOp::kTanhGrad: return a[0] * (1.0 - a[1] * a[1]);
    case FusedOp::kExpGrad: return a[0] * a[1];
    case FusedOp::kLogGrad: return a[0] * (1.0 / a[1]);
    case FusedOp::kSqrtGrad: return a[0] * (0.5 / a[1]);
    case FusedOp::kAbsGrad: return a[0] * (a[1] > 0 ? 1.0 : a[1] < 0 ? -1.0 : 0.0);
    case FusedOp::kSoftplusGrad: return a[0] * FusedSigmoid(a[1]);
    case FusedOp::kSoftsignGrad: {
      const double d = 1.0 + std::fabs(a[1]);
      return a[0] * (1.0 / (d * d));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

}  // namespace kiln::runtime::ref
