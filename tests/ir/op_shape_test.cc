// Shape inference of every registered op: one table of cases (inputs, attrs,
// expected output types or an expected error fragment), run through a real
// Graph and InferNodeTypes.
#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <set>

#include "ir/graph.h"
#include "ir/op_registry.h"
#include "tests/ir/shape_cases.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using namespace shape_cases;  // NOLINT: the table's vocabulary

constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();

// clang-format off
const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
    // ---- Broadcasting arithmetic
    {"Add", {X(F32({2, 3})), X(F32({3}))}, {}, {F32({2, 3})}},
    {"Sub", {X(F32({4, 1, 5})), X(F32({3, 1}))}, {}, {F32({4, 3, 5})}},
    {"Mul", {X(I64({2})), X(I64({}))}, {}, {I64({2})}},
    {"Div", {X(F32({1})), X(F32({2, 2}))}, {}, {F32({2, 2})}},
    {"Add", {X(F32({2, 3})), X(F32({4}))}, {}, {}, "shapes [2, 3] and [4] cannot be broadcast"},
    {"Mul", {X(F32({2})), X(I64({2}))}, {}, {}, "input 1 has type int64 but input 0 has float32"},
    {"Add", {X(Bool({2})), X(Bool({2}))}, {}, {}, "input 0 has type bool but needs a numeric type"},
    {"Pow", {X(F32({2, 3})), X(I64({3}))}, {}, {F32({2, 3})}},
    {"Pow", {X(Bool({2})), X(F32({2}))}, {}, {}, "base has type bool"},
    {"Sum", {X(F32({3})), X(F32({2, 3})), X(F32({1, 1}))}, {}, {F32({2, 3})}},
    {"Sum", {X(I32({3}))}, {}, {}, "input 0 has type int32 but needs a floating-point type"},
    {"Max", {X(I32({2, 1})), X(I32({1, 4})), X(I32({1}))}, {}, {I32({2, 4})}},
    {"Min", {X(F32({5}))}, {}, {F32({5})}},
    {"Min", {X(F32({5})), X(F32({4}))}, {}, {}, "shapes [5] and [4] cannot be broadcast"},
    // ---- Activations and unary math
    {"Relu", {X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"LeakyRelu", {X(F32({4}))}, A().f("alpha", 0.2f), {F32({4})}},
    {"PRelu", {X(F32({1, 3, 4, 4})), X(F32({3, 1, 1}))}, {}, {F32({1, 3, 4, 4})}},
    {"PRelu", {X(F32({1, 3, 4, 4})), X(F32({4, 1, 1}))}, {}, {},
     "slope shape [4, 1, 1] cannot be broadcast to [1, 3, 4, 4]"},
    {"Elu", {X(F32({2}))}, A().f("alpha", 0.5f), {F32({2})}},
    {"Selu", {X(F32({2}))}, A().f("alpha", 1.5f).f("gamma", 1.1f), {F32({2})}},
    {"Sigmoid", {X(F32({2, 2}))}, {}, {F32({2, 2})}},
    {"Sigmoid", {X(I64({2}))}, {}, {}, "input 0 has type int64 but needs a floating-point type"},
    {"Tanh", {X(F32({3}))}, {}, {F32({3})}},
    {"Softplus", {X(F32({3}))}, {}, {F32({3})}},
    {"Softsign", {X(F32({3}))}, {}, {F32({3})}},
    {"Mish", {X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"Mish", {X(I64({3}))}, {}, {}, "int64"},
    {"Exp", {X(F32({3}))}, {}, {F32({3})}},
    {"Log", {X(F32({3}))}, {}, {F32({3})}},
    {"Sqrt", {X(F32({3}))}, {}, {F32({3})}},
    {"Neg", {X(I32({3}))}, {}, {I32({3})}},
    {"Abs", {X(I64({3}))}, {}, {I64({3})}},
    {"Elu", {X(F32({2}))}, A().s("alpha", "big"), {}, "attribute 'alpha' must be of type float"},
    {"Relu", {X(F32({2}))}, A().i("alpha", 1), {}, "unknown attribute 'alpha'"},
    {"Clip", {X(F32({2, 3})), FloatScalar(0), FloatScalar(6)}, {}, {F32({2, 3})}},
    {"Clip", {X(F32({2, 3})), None(), FloatScalar(6)}, {}, {F32({2, 3})}},
    {"Clip", {X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"Clip", {X(F32({2, 3})), X(F32({2}))}, {}, {}, "min must be a scalar, got shape [2]"},
    {"Softmax", {X(F32({2, 5}))}, {}, {F32({2, 5})}},
    {"LogSoftmax", {X(F32({2, 5}))}, A().i("axis", 0), {F32({2, 5})}},
    {"Softmax", {X(F32({2, 5}))}, A().i("axis", 2), {}, "axis 2 is out of range for rank 2"},
    // ---- MatMul / Gemm
    {"MatMul", {X(F32({2, 3})), X(F32({3, 4}))}, {}, {F32({2, 4})}},
    {"MatMul", {X(F32({3})), X(F32({3, 4}))}, {}, {F32({4})}},
    {"MatMul", {X(F32({2, 3})), X(F32({3}))}, {}, {F32({2})}},
    {"MatMul", {X(F32({3})), X(F32({3}))}, {}, {F32({})}},
    {"MatMul", {X(F32({5, 1, 2, 3})), X(F32({4, 3, 6}))}, {}, {F32({5, 4, 2, 6})}},
    {"MatMul", {X(F32({2, 3})), X(F32({4, 5}))}, {}, {}, "inner dimensions do not match: [2, 3] x [4, 5] (3 vs 4)"},
    {"MatMul", {X(F32({2, 2, 3})), X(F32({3, 3, 4}))}, {}, {}, "shapes [2] and [3] cannot be broadcast"},
    {"Gemm", {X(F32({4, 3})), X(F32({5, 3})), X(F32({5}))}, A().i("transB", 1), {F32({4, 5})}},
    {"Gemm", {X(F32({3, 4})), X(F32({3, 5}))}, A().i("transA", 1).f("alpha", 2), {F32({4, 5})}},
    {"Gemm", {X(F32({4, 3})), X(F32({4, 5}))}, {}, {}, "inner dimensions do not match: A [4, 3] x B [4, 5] (3 vs 4)"},
    {"Gemm", {X(F32({4, 3})), X(F32({3, 5})), X(F32({4}))}, {}, {}, "C shape [4] cannot be broadcast to [4, 5]"},
    {"Gemm", {X(F32({2, 4, 3})), X(F32({3, 5}))}, {}, {}, "A must have rank 2, got shape [2, 4, 3]"},
    // ---- Conv
    {"Conv", {X(F32({1, 3, 32, 32})), X(F32({8, 3, 3, 3})), X(F32({8}))}, A().ints("pads", {1, 1, 1, 1}),
     {F32({1, 8, 32, 32})}},
    {"Conv", {X(F32({1, 3, 32, 32})), X(F32({8, 3, 3, 3}))}, A().ints("strides", {2, 2}).ints("kernel_shape", {3, 3}),
     {F32({1, 8, 15, 15})}},
    {"Conv", {X(F32({2, 4, 10})), X(F32({6, 2, 3}))}, A().i("group", 2).ints("dilations", {2}), {F32({2, 6, 6})}},
    {"Conv", {X(F32({1, 2, 5, 6, 7})), X(F32({4, 2, 3, 3, 3}))}, A().s("auto_pad", "SAME_UPPER").ints("strides", {2, 2, 2}),
     {F32({1, 4, 3, 3, 4})}},
    {"Conv", {X(F32({1, 1, 7, 7})), X(F32({1, 1, 3, 3}))}, A().s("auto_pad", "VALID"), {F32({1, 1, 5, 5})}},
    {"Conv", {X(F32({1, 3, 8, 8})), X(F32({4, 1, 3, 3}))}, {}, {},
     "n (Conv): input channels 3 do not match weight channels 1 x group 1"},
    {"Conv", {X(F32({1, 4, 8, 8})), X(F32({6, 1, 3, 3}))}, A().i("group", 4), {}, "output channels 6 are not divisible by group 4"},
    {"Conv", {X(F32({1, 3, 8, 8})), X(F32({4, 3, 3}))}, {}, {}, "weight [4, 3, 3] must have the input's rank 4"},
    {"Conv", {X(F32({3, 8})), X(F32({4, 3}))}, {}, {}, "input must have rank 3 to 5, got shape [3, 8]"},
    {"Conv", {X(F32({1, 1, 2, 2})), X(F32({1, 1, 3, 3}))}, {}, {}, "the kernel (3, dilated to 3) is larger than the padded input"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({1, 1, 3, 3}))}, A().ints("kernel_shape", {5, 5}), {},
     "kernel_shape [5, 5] does not match the weight's spatial dims [3, 3]"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({1, 1, 3, 3}))}, A().ints("pads", {1, 1}), {}, "pads has 2 values, expected 4"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({1, 1, 3, 3}))}, A().ints("strides", {0, 1}), {}, "strides [0, 1] must be >= 1"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({1, 1, 3, 3}))}, A().ints("pads", {0, 0, kMax64, 0}), {}, "must be <= 16777216"},
    {"ConvTranspose", {X(F32({1, 1, 8})), X(F32({1, 1, 3}))}, A().ints("strides", {kMax64}), {}, "must be <= 16777216"},
    {"Pad", {X(F32({2, 3})), Ints({kMax64, 0, kMax64, 0})}, {}, {}, "are out of range"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({2, 1, 3, 3})), X(F32({3}))}, {}, {}, "bias shape [3] does not match 2 output channels"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({2, 1, 3, 3}))}, A().s("auto_pad", "SAME"), {}, "auto_pad 'SAME' is not one of"},
    // ---- Fused inference ops (ir/fused_ops.h): the core's inference plus the residual and activation
    {"FusedConv", {X(F32({1, 3, 8, 8})), X(F32({4, 3, 3, 3})), X(F32({4})), X(F32({1, 4, 8, 8}))},
     A().ints("pads", {1, 1, 1, 1}).s("activation", "Relu"), {F32({1, 4, 8, 8})}},
    {"FusedConv", {X(F32({1, 3, 8, 8})), X(F32({4, 3, 3, 3})), None(), X(F32({1, 4, 6, 6}))},
     A().s("activation", "Clip").f("activation_alpha", 0).f("activation_beta", 6), {F32({1, 4, 6, 6})}},
    {"FusedConv", {X(F32({1, 3, 8, 8})), X(F32({4, 3, 3, 3})), None(), X(F32({1, 4, 8, 8}))}, {}, {},
     "residual [1, 4, 8, 8] must have the output's shape [1, 4, 6, 6]"},
    {"FusedConv", {X(F32({1, 3, 8, 8})), X(F32({4, 3, 3, 3}))}, A().s("activation", "Softmax"), {},
     "activation 'Softmax' cannot be fused"},
    {"FusedMatMul", {X(F32({2, 3})), X(F32({3, 4})), X(F32({4})), X(F32({2, 4}))}, A().s("activation", "Tanh"),
     {F32({2, 4})}},
    {"FusedMatMul", {X(F32({2, 3})), X(F32({3, 4})), X(F32({3}))}, {}, {}, "bias"},
    {"FusedMatMul", {X(I64({2, 3})), X(I64({3, 4}))}, {}, {}, "needs a floating-point type"},
    // ---- ConvTranspose
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("strides", {2, 2}), {F32({1, 2, 11, 11})}},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3})), X(F32({2}))},
     A().ints("strides", {2, 2}).ints("pads", {1, 1, 1, 1}).ints("output_padding", {1, 1}), {F32({1, 2, 10, 10})}},
    {"ConvTranspose", {X(F32({1, 4, 5})), X(F32({4, 3, 3}))}, A().i("group", 2), {F32({1, 6, 7})}},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("strides", {2, 2}).ints("output_shape", {10, 10}),
     {F32({1, 2, 10, 10})}},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("strides", {2, 2}).s("auto_pad", "SAME_UPPER"),
     {F32({1, 2, 10, 10})}},
    {"ConvTranspose", {X(F32({1, 3, 5, 5})), X(F32({4, 2, 3, 3}))}, {}, {}, "input channels 3 do not match weight dim 0 (4)"},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("output_padding", {1, 1}), {},
     "output_padding [1, 1] must be smaller than the stride or the dilation"},
    // ---- Pooling
    {"MaxPool", {X(F32({1, 3, 32, 32}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}), {F32({1, 3, 16, 16})}},
    {"MaxPool", {X(F32({1, 3, 32, 32}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}),
     {F32({1, 3, 16, 16}), I64({1, 3, 16, 16})}},
    {"MaxPool", {X(F32({1, 1, 5, 5}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}), {F32({1, 1, 2, 2})}},
    {"MaxPool", {X(F32({1, 1, 5, 5}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}).i("ceil_mode", 1),
     {F32({1, 1, 3, 3})}},
    {"MaxPool", {X(F32({1, 1, 7}))}, A().ints("kernel_shape", {3}).ints("dilations", {2}), {F32({1, 1, 3})}},
    {"MaxPool", {X(F32({1, 1, 5, 5}))}, A().ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).s("auto_pad", "SAME_LOWER"),
     {F32({1, 1, 3, 3})}},
    {"MaxPool", {X(F32({1, 1, 5, 5}))}, {}, {}, "missing required attribute 'kernel_shape'"},
    {"MaxPool", {X(F32({1, 1, 5, 5}))}, A().ints("kernel_shape", {2}), {}, "kernel_shape [2] has 1 dims but the input has 2 spatial dims"},
    {"MaxPool", {X(F32({1, 1, 5, 5}))}, A().ints("kernel_shape", {2, 2}).i("storage_order", 2), {}, "storage_order must be 0 or 1"},
    {"AveragePool", {X(F32({1, 2, 6, 6}))},
     A().ints("kernel_shape", {3, 3}).ints("pads", {1, 1, 1, 1}).ints("strides", {2, 2}).i("count_include_pad", 1),
     {F32({1, 2, 3, 3})}},
    {"AveragePool", {X(I32({1, 2, 6, 6}))}, A().ints("kernel_shape", {3, 3}), {}, "input has type int32 but needs a floating-point type"},
    // Issue 10 (9a): ONNX's attribute rules for pooling; pads >= kernel gave -3.4e38 (max) or NaN (average).
    {"MaxPool", {X(F32({1, 1, 4, 4}))}, A().ints("kernel_shape", {2, 2}).ints("pads", {2, 2, 2, 2}), {},
     "pads [2, 2, 2, 2] must be smaller than kernel_shape [2, 2] (spatial dim 0)"},
    {"AveragePool", {X(F32({1, 1, 4, 4}))}, A().ints("kernel_shape", {2, 2}).ints("pads", {0, 0, 0, 3}), {},
     "must be smaller than kernel_shape [2, 2] (spatial dim 1)"},
    {"AveragePool", {X(F32({1, 1, 4}))}, A().ints("kernel_shape", {1}).ints("pads", {1, 0}).i("count_include_pad", 1), {},
     "must be smaller than kernel_shape [1]"},
    {"MaxPool", {X(F32({1, 1, 4, 4, 4}))}, A().ints("kernel_shape", {3, 3, 3}).ints("pads", {0, 0, 3, 0, 0, 0}), {},
     "(spatial dim 2)"},
    {"MaxPool", {X(F32({1, 1, 4, 4}))}, A().ints("kernel_shape", {3, 3}).ints("pads", {2, 2, 2, 2}),
     {F32({1, 1, 6, 6})}},  // pads = kernel - 1: every window still covers the input
    {"MaxPool", {X(F32({1, 1, 4, 4}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {0, 1}), {}, "strides [0, 1] must be >= 1"},
    {"MaxPool", {X(F32({1, 1, 4, 4}))}, A().ints("kernel_shape", {2, 2}).ints("dilations", {1, 0}), {},
     "dilations [1, 0] must be >= 1"},
    {"AveragePool", {X(F32({1, 1, 4, 4}))}, A().ints("kernel_shape", {2, 0}), {}, "kernel_shape [2, 0] must be positive"},
    {"AveragePool", {X(F32({1, 1, 4, 4}))}, A().ints("kernel_shape", {2, 2}).ints("pads", {-1, 0, 0, 0}), {},
     "pads [-1, 0, 0, 0] must be >= 0"},
    {"MaxPool", {X(F32({1, 1, 2, 2}))}, A().ints("kernel_shape", {3, 3}), {}, "is larger than the padded input"},
    // ceil_mode: a last window that would start in the end padding is dropped (in 4, k 2, s 2, end pad 1: 2 windows, not 3).
    {"MaxPool", {X(F32({1, 1, 4}))}, A().ints("kernel_shape", {2}).ints("strides", {2}).ints("pads", {0, 1}).i("ceil_mode", 1),
     {F32({1, 1, 2})}},
    {"AveragePool", {X(F32({1, 1, 5}))}, A().ints("kernel_shape", {2}).ints("strides", {2}).ints("pads", {0, 1}).i("ceil_mode", 1),
     {F32({1, 1, 3})}},  // the third window starts at 4, inside the input
    {"MaxPool", {X(F32({1, 1, 4}))}, A().ints("kernel_shape", {2}).ints("strides", {2}).ints("pads", {1, 1}).i("ceil_mode", 1),
     {F32({1, 1, 3})}},  // windows start at -1, 1, 3
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({1, 1, 3, 3}))}, A().ints("strides", {1, 0}), {}, "strides [1, 0] must be >= 1"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({1, 1, 3, 3}))}, A().ints("dilations", {0, 1}), {}, "dilations [0, 1] must be >= 1"},
    {"Conv", {X(F32({1, 1, 8, 8})), X(F32({1, 1, 3, 3}))}, A().ints("kernel_shape", {3, 2}), {}, "kernel_shape [3, 2] does not match"},
    {"GlobalAveragePool", {X(F32({2, 8, 7, 7}))}, {}, {F32({2, 8, 1, 1})}},
    {"GlobalAveragePool", {X(F32({2, 8, 7}))}, {}, {F32({2, 8, 1})}},
    {"GlobalAveragePool", {X(F32({2, 8}))}, {}, {}, "input must have rank >= 3, got shape [2, 8]"},
    // ---- Normalization, Dropout
    {"BatchNormalization", {X(F32({2, 3, 4, 4})), X(F32({3})), X(F32({3})), X(F32({3})), X(F32({3}))}, A().f("epsilon", 1e-3f),
     {F32({2, 3, 4, 4})}},
    {"BatchNormalization", {X(F32({2, 3, 4, 4})), X(F32({3})), X(F32({3})), X(F32({3})), X(F32({3}))}, {},
     {F32({2, 3, 4, 4}), F32({3}), F32({3})}},
    {"BatchNormalization", {X(F32({2, 3, 4, 4})), X(F32({4})), X(F32({3})), X(F32({3})), X(F32({3}))}, {}, {},
     "scale shape [4] does not match 3 channels of X [2, 3, 4, 4]"},
    {"BatchNormalization", {X(F32({2, 3})), X(F32({3})), X(F32({3})), X(F32({3})), X(F32({3}))}, A().i("training_mode", 1), {},
     "training_mode must be 0 (inference), got 1"},
    {"LRN", {X(F32({1, 8, 4, 4}))}, A().i("size", 5).f("alpha", 1e-4f).f("beta", 0.75f).f("bias", 1), {F32({1, 8, 4, 4})}},
    {"LRN", {X(F32({1, 8, 4, 4}))}, A().i("size", 0), {}, "size must be positive, got 0"},
    {"Dropout", {X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"Dropout", {X(F32({2, 3})), FloatScalar(0.5f), BoolScalar(false)}, A().i("seed", 7), {F32({2, 3}), Bool({2, 3})}},
    {"Dropout", {X(F32({2, 3})), FloatScalar(1.5f)}, {}, {}, "ratio must be in [0, 1), got 1.5"},
    {"Dropout", {X(F32({2, 3})), None(), X(F32({}))}, {}, {}, "training_mode must be a bool scalar, got float32[]"},
    // ---- Shape ops
    {"Flatten", {X(F32({2, 3, 4, 5}))}, {}, {F32({2, 60})}},
    {"Flatten", {X(F32({2, 3, 4, 5}))}, A().i("axis", 0), {F32({1, 120})}},
    {"Flatten", {X(F32({2, 3, 4, 5}))}, A().i("axis", -1), {F32({24, 5})}},
    {"Flatten", {X(F32({2, 3, 4, 5}))}, A().i("axis", 4), {F32({120, 1})}},
    {"Flatten", {X(F32({2, 3, 4, 5}))}, A().i("axis", 5), {}, "axis 5 is out of range [-4, 4]"},
    {"Reshape", {X(F32({2, 3, 4})), Ints({0, -1})}, {}, {F32({2, 12})}},
    {"Reshape", {X(F32({2, 3, 4})), Ints({4, -1, 2})}, {}, {F32({4, 3, 2})}},
    {"Reshape", {X(F32({0, 3})), Ints({3, 0})}, A().i("allowzero", 1), {F32({3, 0})}},
    {"Reshape", {X(F32({2, 3, 4})), Ints32({24})}, {}, {F32({24})}},
    {"Reshape", {X(F32({2, 3, 4})), Ints({5, 5})}, {}, {}, "cannot reshape [2, 3, 4] (24 elements) to [5, 5] (25 elements)"},
    {"Reshape", {X(F32({2, 3, 4})), Ints({-1, -1})}, {}, {}, "has more than one -1"},
    {"Reshape", {X(F32({2, 3, 4})), X(I64({2}))}, {}, {}, "needs a constant 'shape' input"},
    {"Transpose", {X(F32({2, 3, 4}))}, {}, {F32({4, 3, 2})}},
    {"Transpose", {X(F32({2, 3, 4}))}, A().ints("perm", {0, 2, 1}), {F32({2, 4, 3})}},
    {"Transpose", {X(F32({2, 3, 4}))}, A().ints("perm", {0, 0, 1}), {}, "perm [0, 0, 1] is not a permutation of 0..2"},
    {"Concat", {X(F32({2, 3})), X(F32({2, 5}))}, A().i("axis", 1), {F32({2, 8})}},
    {"Concat", {X(I64({2, 3})), X(I64({2, 5})), X(I64({2, 1}))}, A().i("axis", -1), {I64({2, 9})}},
    {"Concat", {X(F32({2, 3})), X(F32({3, 3}))}, A().i("axis", 1), {},
     "input 1 shape [3, 3] does not match input 0 shape [2, 3] outside axis 1"},
    {"Concat", {X(F32({2, 3}))}, {}, {}, "missing required attribute 'axis'"},
    {"Split", {X(F32({6, 4}))}, {}, {F32({2, 4}), F32({2, 4}), F32({2, 4})}},
    {"Split", {X(F32({6, 4})), Ints({1, 5})}, {}, {F32({1, 4}), F32({5, 4})}},
    {"Split", {X(F32({4, 6}))}, A().i("axis", -1), {F32({4, 3}), F32({4, 3})}},
    {"Split", {X(F32({6, 4})), Ints({2, 2})}, {}, {F32({}), F32({})}, "split [2, 2] sums to 4 but the axis has size 6"},
    {"Split", {X(F32({6, 4}))}, {}, {F32({}), F32({}), F32({}), F32({})}, "axis of size 6 cannot be split evenly into 4 outputs"},
    {"Split", {X(F32({6, 4}))}, A().i("num_outputs", 4), {F32({2, 4}), F32({2, 4}), F32({2, 4}), F32({0, 4})}},
    {"Split", {X(F32({7}))}, A().i("num_outputs", 3), {F32({3}), F32({3}), F32({1})}},
    {"Split", {X(F32({6})), Ints({3, 3})}, A().i("num_outputs", 2), {F32({}), F32({})}, "the 'split' input or the num_outputs attribute, not both"},
    {"Split", {X(F32({6}))}, A().i("num_outputs", 2), {F32({}), F32({}), F32({})}, "num_outputs is 2 but the node has 3 outputs"},
    {"Slice", {X(F32({10, 20})), Ints({1, 0}), Ints({9, -1})}, {}, {F32({8, 19})}},
    {"Slice", {X(F32({10, 20})), Ints({-1}), Ints({kMin64}), Ints({1}), Ints({-1})}, {}, {F32({10, 20})}},
    {"Slice", {X(F32({10, 20})), Ints({0}), Ints({10}), Ints({0}), Ints({3})}, {}, {F32({4, 20})}},
    {"Slice", {X(F32({10, 20})), Ints({5}), Ints({100}), Ints({-2})}, {}, {F32({5, 20})}},
    {"Slice", {X(F32({10, 20})), Ints({8}), Ints({2}), Ints({0}), Ints({-2})}, {}, {F32({3, 20})}},
    {"Slice", {X(F32({10, 20})), Ints({5}), Ints({2})}, {}, {F32({0, 20})}},
    {"Slice", {X(F32({10, 20})), Ints({0}), Ints({5}), Ints({0}), Ints({0})}, {}, {}, "step of axis 0 is 0"},
    {"Slice", {X(F32({10, 20})), Ints({1, -1}), Ints({kMax64, kMin64}), Ints({0, 1}), Ints({kMax64, kMin64})}, {},
     {F32({1, 1})}},
    {"Slice", {X(F32({10, 20})), Ints({0}), Ints({5}), Ints({2})}, {}, {}, "axis 2 is out of range for rank 2"},
    {"Gather", {X(F32({5, 4, 3})), X(I64({2, 6}))}, A().i("axis", 1), {F32({5, 2, 6, 3})}},
    {"Gather", {X(F32({5, 4, 3})), X(I32({}))}, {}, {F32({4, 3})}},
    {"Gather", {X(F32({5, 4})), X(F32({2}))}, {}, {}, "indices have type float32 but must be int32 or int64"},
    {"Gather", {X(F32({5, 4})), Ints({1, 7})}, {}, {}, "index 7 is out of range for axis 0 of size 5"},
    {"Pad", {X(F32({2, 3})), Ints({1, 0, 1, 2})}, {}, {F32({4, 5})}},
    {"Pad", {X(F32({2, 3})), Ints({0, -1, 0, 0}), FloatScalar(1)}, {}, {F32({2, 2})}},
    {"Pad", {X(F32({2, 3})), Ints({1, 2, 1, 2})}, A().s("mode", "reflect"), {F32({4, 7})}},
    {"Pad", {X(F32({2, 3})), Ints({2, 0, 0, 0})}, A().s("mode", "reflect"), {},
     "reflect pads 2, 0 on axis 0 must be smaller than its size 2"},
    {"Pad", {X(F32({2, 3})), Ints({1, 1})}, {}, {}, "pads [1, 1] has 2 values, expected 2 x rank = 4"},
    {"Pad", {X(F32({2, 3})), Ints({0, 0, 0, 0})}, A().s("mode", "circular"), {}, "mode 'circular' is not one of"},
    {"Pad", {X(F32({2, 3})), Ints({4, 5})}, A().s("mode", "wrap"), {}, "pads [4, 5] has 2 values"},
    {"Pad", {X(F32({2, 3})), Ints({4, 5}), None(), Ints({-1})}, A().s("mode", "wrap"), {F32({2, 12})}},
    {"Pad", {X(F32({2, 3})), Ints({1, 1}), None(), Ints({2})}, {}, {}, "axis 2 is out of range for rank 2"},
    {"Pad", {X(F32({2, 3})), Ints({1, 1, 1, 1}), None(), Ints({0, -2})}, {}, {}, "axis 0 is repeated"},
    {"Pad", {X(F32({2, 3})), Ints({1, 1, 1}), None(), Ints({0})}, {}, {}, "pads [1, 1, 1] has 3 values, expected 2 x 1 axes"},
    {"Squeeze", {X(F32({1, 3, 1, 2}))}, {}, {F32({3, 2})}},
    {"Squeeze", {X(F32({1, 3, 1, 2})), Ints({0})}, {}, {F32({3, 1, 2})}},
    {"Squeeze", {X(F32({1, 3, 1, 2})), Ints({-2})}, {}, {F32({1, 3, 2})}},
    {"Squeeze", {X(F32({1, 3, 1, 2})), Ints({1})}, {}, {}, "cannot squeeze axis 1 of size 3"},
    {"Unsqueeze", {X(F32({3, 4})), Ints({0, 3})}, {}, {F32({1, 3, 4, 1})}},
    {"Unsqueeze", {X(F32({3, 4})), Ints({-1})}, {}, {F32({3, 4, 1})}},
    {"Unsqueeze", {X(F32({})), Ints({0})}, {}, {F32({1})}},
    {"Unsqueeze", {X(F32({3, 4})), Ints({1, 1})}, {}, {}, "axis 1 is repeated"},
    {"Unsqueeze", {X(F32({3, 4})), Ints({3})}, {}, {}, "axis 3 is out of range for rank 3"},
    {"Expand", {X(F32({3, 1})), Ints({2, 1, 4})}, {}, {F32({2, 3, 4})}},
    {"Expand", {X(F32({3, 1})), Ints({1})}, {}, {F32({3, 1})}},
    {"Expand", {X(F32({3, 2})), Ints({4})}, {}, {}, "shapes [3, 2] and [4] cannot be broadcast"},
    {"Identity", {X(I64({3}))}, {}, {I64({3})}},
    {"Identity", {X(Bool({}))}, {}, {Bool({})}},
    {"Constant", {}, A().floats("value_floats", {1, 2, 3}), {F32({3})}},
    {"Constant", {}, A().f("value_float", 1), {F32({})}},
    {"Constant", {}, A().i("value_int", 4), {I64({})}},
    {"Constant", {}, A().ints("value_ints", {4, 5}), {I64({2})}},
    {"Constant", {}, A().tensor("value", Tensor::FromVector(proto::DT_INT32, {2, 2}, std::vector<int32_t>{1, 2, 3, 4})),
     {I32({2, 2})}},
    {"Constant", {}, {}, {}, "needs exactly one value attribute, got 0"},
    {"Constant", {}, A().i("value_int", 4).f("value_float", 1), {}, "needs exactly one value attribute, got 2"},
    {"Constant", {}, A().s("value_string", "hi"), {}, "value_string is not supported"},
    {"ConstantOfShape", {Ints({2, 3})}, {}, {F32({2, 3})}},
    {"ConstantOfShape", {Ints({2, 3})}, A().tensor("value", Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{7})),
     {I64({2, 3})}},
    {"ConstantOfShape", {Ints({})}, {}, {F32({})}},
    {"ConstantOfShape", {X(I64({2}))}, {}, {}, "needs a constant 'input' input"},
    {"ConstantOfShape", {Ints({2, -3})}, {}, {}, "shape [2, -3] has a negative dim"},
    {"Shape", {X(F32({2, 3, 4}))}, {}, {I64({3})}},
    {"Shape", {X(F32({2, 3, 4}))}, A().i("start", 1), {I64({2})}},
    {"Shape", {X(F32({2, 3, 4}))}, A().i("end", -1), {I64({2})}},
    {"Shape", {X(F32({}))}, {}, {I64({0})}},
    {"Cast", {X(F32({2, 3}))}, A().i("to", 7), {I64({2, 3})}},
    {"Cast", {X(I64({2}))}, A().i("to", 9), {Bool({2})}},
    {"Cast", {X(F32({2, 3}))}, A().i("to", 8), {}, "ONNX data type 8 is not supported"},
    // ---- Losses and optimizer updates (one case each; the rest in training_op_shape_test.cc)
    {"SoftmaxCrossEntropy", {X(F32({4, 10})), X(I64({4}))}, A().i("sparse", 1), {F32({})}},
    {"SoftmaxCrossEntropyGrad", {X(F32({})), X(F32({4, 10})), X(F32({4, 10}))}, {}, {F32({4, 10})}},
    {"CrossEntropy", {X(F32({4, 10})), X(F32({4, 10}))}, {}, {F32({})}},
    {"CrossEntropyGrad", {X(F32({})), X(F32({4, 10})), X(I64({4}))}, A().i("sparse", 1), {F32({4, 10})}},
    {"SigmoidCrossEntropy", {X(F32({2, 3})), X(F32({2, 3}))}, {}, {F32({})}},
    {"SigmoidCrossEntropyGrad", {X(F32({})), X(F32({2, 3})), X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"BinaryCrossEntropy", {X(F32({5})), X(F32({5}))}, {}, {F32({})}},
    {"BinaryCrossEntropyGrad", {X(F32({})), X(F32({5})), X(F32({5}))}, {}, {F32({5})}},
    {"MeanSquaredError", {X(F32({3, 2})), X(F32({3, 2}))}, A().s("reduction", "half_sum"), {F32({})}},
    {"MeanSquaredErrorGrad", {X(F32({})), X(F32({3, 2})), X(F32({3, 2}))}, {}, {F32({3, 2})}},
    {"SGDUpdate", {X(F32({3})), X(F32({3}))}, A().f("lr", 0.1f), {F32({3})}},
    {"MomentumUpdate", {X(F32({3})), X(F32({3})), X(F32({3}))}, A().f("lr", 0.1f), {F32({3}), F32({3})}},
    {"AdagradUpdate", {X(F32({3})), X(F32({3})), X(F32({3}))}, A().f("lr", 0.1f), {F32({3}), F32({3})}},
    {"AdadeltaUpdate", {X(F32({3})), X(F32({3})), X(F32({3})), X(F32({3}))}, {}, {F32({3}), F32({3}), F32({3})}},
    {"RMSpropUpdate", {X(F32({3})), X(F32({3})), X(F32({3}))}, A().f("lr", 0.1f), {F32({3}), F32({3})}},
    {"AdamUpdate", {X(F32({3})), X(F32({3})), X(F32({3})), X(F32({3})), X(I64({}))}, {}, {F32({3}), F32({3}), F32({3})}},
    {"ClipByGlobalNorm", {X(F32({3})), X(F32({2, 2}))}, A().f("max_norm", 1), {F32({3}), F32({2, 2})}},
    // ---- Fusion (compiler-internal)
    {"FusedElementwise", {X(F32({2, 1})), X(F32({3}))}, A().s("program", "t0=Add(i0,i1); t1=Relu(t0); o0=t0; o1=t1"),
     {F32({2, 3}), F32({2, 3})}},
    {"FusedElementwise", {X(F32({2}))}, A().s("program", "t0=Bogus(i0); o0=t0"), {}, "unknown instruction 'Bogus'"},
    {"FusedElementwise", {X(F32({2}))}, A().s("program", "t0=Relu(i1); o0=t0"), {}, "reads i1 but the node has 1"},
    {"FusedElementwise", {X(I64({2}))}, A().s("program", "t0=Relu(i0); o0=t0"), {}, "fused kernels are float32"},
    // ---- Reductions
    {"ReduceMean", {X(F32({2, 3, 4}))}, A().ints("axes", {1}), {F32({2, 1, 4})}},
    {"ReduceMean", {X(F32({2, 3, 4}))}, A().ints("axes", {1}).i("keepdims", 0), {F32({2, 4})}},
    {"ReduceMean", {X(F32({2, 3, 4}))}, {}, {F32({1, 1, 1})}},
    {"ReduceMax", {X(I32({2, 3, 4}))}, A().ints("axes", {-1}).i("keepdims", 0), {I32({2, 3})}},
    {"ReduceMax", {X(F32({2, 3, 4}))}, A().ints("axes", {3}), {}, "axis 3 is out of range for rank 3"},
    {"ReduceSum", {X(F32({2, 3, 4})), Ints({0, 2})}, A().i("keepdims", 0), {F32({3})}},
    {"ReduceSum", {X(F32({2, 3, 4}))}, {}, {F32({1, 1, 1})}},
    {"ReduceSum", {X(F32({2, 3, 4})), Ints({})}, A().i("noop_with_empty_axes", 1), {F32({2, 3, 4})}},
    {"ReduceSum", {X(F32({2, 3, 4})), X(I64({1}))}, {}, {}, "needs a constant 'axes' input"},
    {"ReduceSum", {X(F32({2, 3, 4})), Ints({0, -3})}, {}, {}, "axis 0 is repeated"},
    // ---- Backward ops (one case each; the rest in gradient_op_shape_test.cc)
    {"EltwiseGrad", {X(F32({2, 3})), X(F32({2, 3}))}, A().s("function", "relu"), {F32({2, 3})}},
    {"SoftmaxGrad", {X(F32({2, 5})), X(F32({2, 5}))}, {}, {F32({2, 5})}},
    {"ConvGradInput", {X(F32({1, 4, 3, 3})), X(F32({4, 2, 3, 3}))}, A().ints("input_shape", {1, 2, 5, 5}), {F32({1, 2, 5, 5})}},
    {"ConvGradWeight", {X(F32({1, 4, 3, 3})), X(F32({1, 2, 5, 5}))}, A().ints("weight_shape", {4, 2, 3, 3}), {F32({4, 2, 3, 3}), F32({4})}},
    {"MaxPoolGrad", {X(F32({1, 2, 2, 2})), X(F32({1, 2, 5, 5}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}), {F32({1, 2, 5, 5})}},
    {"AveragePoolGrad", {X(F32({1, 2, 2, 2}))}, A().ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("input_shape", {1, 2, 5, 5}), {F32({1, 2, 5, 5})}},
    {"BatchNormTraining", {X(F32({4, 3})), X(F32({3})), X(F32({3})), X(F32({3})), X(F32({3}))}, {}, {F32({4, 3}), F32({3}), F32({3}), F32({3}), F32({3})}},
    {"BatchNormGrad", {X(F32({4, 3})), X(F32({4, 3})), X(F32({3})), X(F32({3})), X(F32({3}))}, {}, {F32({4, 3}), F32({3}), F32({3})}},
    {"DropoutTraining", {X(F32({3, 4})), X(I64({}))}, A().f("ratio", 0.2f), {F32({3, 4}), F32({3, 4})}},
    {"GatherGrad", {X(F32({2, 4, 3})), X(I64({2, 4}))}, A().ints("data_shape", {5, 3}), {F32({5, 3})}},
    {"SliceGrad", {X(F32({2, 3})), Ints({1, 0}), Ints({3, 3})}, A().ints("input_shape", {4, 3}), {F32({4, 3})}},
    {"ReduceMaxGrad", {X(F32({2, 1, 4})), X(F32({2, 3, 4}))}, A().ints("axes", {1}), {F32({2, 3, 4})}},
    // ---- Arity (checked for every op by ValidateNode)
    {"Add", {X(F32({2}))}, {}, {}, "takes 2 inputs, got 1"},
    {"Conv", {X(F32({1, 1, 4, 4})), None()}, {}, {}, "required input 1 is missing"},
  };
  return *cases;
}
// clang-format on

TEST(OpShapeTest, EveryCaseInfersTheExpectedTypes) {
  const auto& cases = Cases();
  for (size_t index = 0; index < cases.size(); ++index) {
    SCOPED_TRACE(CaseName(cases[index], index));
    CheckShapeCase(cases[index]);
  }
}

TEST(OpShapeTest, EveryOpIsDefinedAndCovered) {
  std::set<std::string> success, failure;
  for (const Case& c : Cases()) (c.error.empty() ? success : failure).insert(c.op);
  for (int k = 0; k < static_cast<int>(OpKind::kNumOps); ++k) {
    const std::string name = OpKindName(static_cast<OpKind>(k));
    SCOPED_TRACE(name);
    const OpDef* def = FindOpDef(name);
    ASSERT_NE(def, nullptr);
    EXPECT_EQ(def->kind, static_cast<OpKind>(k));
    EXPECT_NE(def->infer_shape, nullptr);
    EXPECT_FALSE(def->doc.empty());
    EXPECT_LE(def->min_inputs, def->max_inputs);
    EXPECT_LE(def->min_outputs, def->max_outputs);
    EXPECT_GE(def->min_outputs, 1);
    EXPECT_TRUE(success.count(name)) << "no shape-inference case for " << name;
  }
  EXPECT_EQ(AllOpDefs().size(), static_cast<size_t>(OpKind::kNumOps)) << "an op is registered twice";
}

}  // namespace
}  // namespace kiln
