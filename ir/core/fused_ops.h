// Conventions shared by the fused inference ops (FusedConv, FusedMatMul), the
// fuse-postops pass that makes them, and their kernels.
//
// Both compute  Y = activation(core(X, W) + bias + Z)  where core is Conv or
// MatMul, bias (input 2) and the residual Z (input 3) are optional, and the
// activation is an ONNX unary op named by the "activation" attribute with its
// parameters in "activation_alpha" / "activation_beta".
#pragma once

#include <string>

namespace kiln {

/// Inputs of FusedConv / FusedMatMul.
constexpr int kFusedBiasInput = 2;
constexpr int kFusedResidualInput = 3;

/// Whether `op` may be a fused op's activation (each maps to one oneDNN eltwise
/// post-op): Relu, LeakyRelu (alpha), Elu (alpha), Sigmoid, Tanh, Softplus, Swish (alpha),
/// Gelu (erf), and Clip (alpha = min, beta = max). Header-only: the runtime does not link the IR.
inline bool IsFusableActivation(const std::string& op) {
  for (const char* a : {"Relu", "LeakyRelu", "Elu", "Sigmoid", "Tanh", "Softplus", "Swish", "Gelu", "Clip"}) {
    if (op == a) return true;
  }
  return false;
}

}  // namespace kiln
