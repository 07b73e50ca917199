// Shape inference of every registered op: one table of cases (inputs, attrs,
// expected output types or an expected error fragment), run through a real
// Graph and InferNodeTypes.
#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <set>

#include "ir/core/op_registry.h"
#include "ir/graph.h"
#include "tests/ir/shape_cases.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using namespace shape_cases;  // NOLINT: the table's vocabulary

constexpr int64_t kMin64 = std::numeric_limits<int64_t>::min();
constexpr int64_t kMax64 = std::numeric_limits<int64_t>::max();

// clang-format off
// ---- Broadcasting arithmetic
void AddCases0(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"Add", {X(F32({2, 3})), X(F32({3}))}, {}, {F32({2, 3})}},
    {"Sub", {X(F32({4, 1, 5})), X(F32({3, 1}))}, {}, {F32({4, 3, 5})}},
    {"Mul", {X(I64({2})), X(I64({}))}, {}, {I64({2})}},
    {"Div", {X(F32({1})), X(F32({2, 2}))}, {}, {F32({2, 2})}},
    {"Add", {X(F32({2, 3})), X(F32({4}))}, {}, {}, "shapes [2, 3] and [4] cannot be broadcast"},
    {"Mul", {X(F32({2})), X(I64({2}))}, {}, {}, "input 1 has type int64 but input 0 has float32"},
    {"Add", {X(Bool({2})), X(Bool({2}))}, {}, {}, "input 0 has type bool but needs a numeric type"},
    {"Pow", {X(F32({2, 3})), X(I64({3}))}, {}, {F32({2, 3})}},
    {"Pow", {X(Bool({2})), X(F32({2}))}, {}, {}, "input 0 has type bool but needs a numeric type"},
    {"Sum", {X(F32({3})), X(F32({2, 3})), X(F32({1, 1}))}, {}, {F32({2, 3})}},
    {"Sum", {X(I32({3}))}, {}, {}, "input 0 has type int32 but needs a floating-point type"},
    {"Max", {X(I32({2, 1})), X(I32({1, 4})), X(I32({1}))}, {}, {I32({2, 4})}},
    {"Min", {X(F32({5}))}, {}, {F32({5})}},
    {"Mean", {X(F32({3})), X(F32({2, 3})), X(F32({1, 1}))}, {}, {F32({2, 3})}},
    {"EyeLike", {X(I32({3, 4}))}, A().i("k", 1), {I32({3, 4})}},
    {"EyeLike", {X(F32({3, 4}))}, A().i("dtype", 7), {I64({3, 4})}},
    {"EyeLike", {X(F32({3, 4, 5}))}, {}, {}, "input must have rank 2, got shape [3, 4, 5]"},
    {"GlobalMaxPool", {X(F32({2, 3, 4, 5}))}, {}, {F32({2, 3, 1, 1})}},
    {"Einsum", {X(F32({2, 3, 4})), X(F32({2, 4, 5}))}, A().s("equation", "bij, bjk -> bik"), {F32({2, 3, 5})}},
    {"Einsum", {X(F32({3, 2, 4, 4}))}, A().s("equation", "...ii->...i"), {F32({3, 2, 4})}},
    {"Einsum", {X(F32({3, 4})), X(F32({4, 5}))}, A().s("equation", "ij,jk"), {F32({3, 5})}},
    {"Einsum", {X(F32({3, 4}))}, A().s("equation", "ij->"), {F32({})}},
    {"Einsum", {X(F32({3, 4})), X(F32({5, 6}))}, A().s("equation", "ij,jk->ik"), {}, "index 'j' has sizes 4 and 5"},
    {"Einsum", {X(F32({3, 4}))}, A().s("equation", "ij,jk->ik"), {}, "has 2 operands but the node has 1 inputs"},
    {"Einsum", {X(F32({3, 4}))}, A().s("equation", "ij->iz"), {}, "output index 'z' is not in any operand"},
    {"LpNormalization", {X(F32({2, 3}))}, A().i("p", 1).i("axis", 0), {F32({2, 3})}},
    {"LpNormalization", {X(F32({2, 3}))}, A().i("p", 3), {}, "p must be 1 or 2, got 3"},
    {"MeanVarianceNormalization", {X(F32({2, 3, 4, 5}))}, {}, {F32({2, 3, 4, 5})}},
    {"MeanVarianceNormalization", {X(F32({2, 3}))}, A().ints("axes", {2}), {}, "axis 2"},
    {"ReverseSequence", {X(F32({4, 2, 3})), Ints({4, 1})}, {}, {F32({4, 2, 3})}},
    {"ReverseSequence", {X(F32({4, 2, 3})), Ints({5, 1})}, {}, {}, "sequence_lens[0] = 5 is outside [0, 4]"},
    {"ReverseSequence", {X(F32({4, 2, 3})), Ints({1, 1})}, A().i("batch_axis", 2), {}, "batch_axis and time_axis must be 0 and 1"},
    {"Det", {X(F64({2, 3, 3}))}, {}, {F64({2})}},
    {"CenterCropPad", {X(F32({4, 5, 3})), Ints({2, 7})}, A().ints("axes", {0, -2}), {F32({2, 7, 3})}},
    {"CenterCropPad", {X(F32({4, 5})), X(I64({2}))}, {}, {}, "needs a constant 'shape' input"},
    {"CenterCropPad", {X(F32({4, 5})), Ints({2})}, {}, {}, "shape has 1 values but there are 2 axes"},
    {"Compress", {X(F32({3, 2})), In{Bool({3}), Tensor::FromVector<uint8_t>(proto::DT_BOOL, {3}, {1, 0, 1})}}, A().i("axis", 0), {F32({2, 2})}},
    {"Compress", {X(F32({3, 2})), In{Bool({2}), Tensor::FromVector<uint8_t>(proto::DT_BOOL, {2}, {0, 1})}}, {}, {F32({1})}},
    {"Compress", {X(F32({3, 2})), X(Bool({2}))}, {}, {}, "needs a constant 'condition' input"},
    {"Compress", {X(F32({3, 2})), X(Bool({4}))}, A().i("axis", 0), {}, "condition has 4 values but the axis has 3"},
    {"Unique", {In{F32({5}), Tensor::FromVector<float>(proto::DT_FLOAT, {5}, {2, 1, 2, 3, 1})}}, {}, {F32({3}), I64({3}), I64({5}), I64({3})}},
    {"Unique", {In{I64({2, 3}), Tensor::FromVector<int64_t>(proto::DT_INT64, {2, 3}, {1, 0, 1, 1, 0, 1})}}, A().i("axis", 1), {I64({2, 2})}},
    {"Unique", {X(F32({5}))}, {}, {}, "needs a constant input X"},
    {"GroupNormalization", {X(F32({2, 4, 3})), X(F32({4})), X(F32({4}))}, A().i("num_groups", 2), {F32({2, 4, 3})}},
    {"GroupNormalization", {X(F32({2, 4, 3})), X(F32({2})), X(F32({2}))}, A().i("num_groups", 2).i("scale_per_group", 1), {F32({2, 4, 3})}},
    {"GroupNormalization", {X(F32({2, 4, 3})), X(F32({4})), X(F32({4}))}, A().i("num_groups", 3), {}, "num_groups = 3 must be positive and divide the 4 channels"},
    {"GroupNormalization", {X(F32({2, 4, 3})), X(F32({3})), X(F32({4}))}, A().i("num_groups", 2), {}, "scale has shape [3] but must be [C] = [4]"},
    {"Det", {X(F32({2, 3, 4}))}, {}, {}, "input [2, 3, 4] is not a batch of square matrices"},
    {"LpPool", {X(F32({1, 2, 5, 5}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}).i("p", 3), {F32({1, 2, 2, 2})}},
    {"LpPool", {X(F32({1, 2, 5, 5}))}, A().ints("kernel_shape", {2, 2}).i("p", 0), {}, "p must be >= 1, got 0"},
    {"GlobalMaxPool", {X(F32({2, 3}))}, {}, {}, "input must have rank >= 3, got shape [2, 3]"},
    {"Mean", {X(I32({3})), X(I32({3}))}, {}, {}, "input 0 has type int32 but needs a floating-point type"},
    {"ReduceMax", {X(Bool({2, 3}))}, A().ints("axes", {1}), {Bool({2, 1})}},
    {"ReduceMin", {X(Bool({2, 3}))}, A().i("keepdims", 0), {Bool({})}},
    {"ReduceSum", {X(Bool({2, 3}))}, {}, {}, "input 0 has type bool but needs a numeric type"},
    {"Min", {X(F32({5})), X(F32({4}))}, {}, {}, "shapes [5] and [4] cannot be broadcast"},
  });
}

// ---- Activations and unary math
void AddCases1(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
    {"Reciprocal", {X(F64({2}))}, {}, {F64({2})}},
    {"Reciprocal", {X(I32({2}))}, {}, {}, "int32"},
    {"Equal", {X(Bool({2, 1})), X(Bool({3}))}, {}, {Bool({2, 3})}},
    {"Less", {X(I64({4})), X(I64({}))}, {}, {Bool({4})}},
    {"LessOrEqual", {X(F32({2})), X(F32({2}))}, {}, {Bool({2})}},
    {"Greater", {X(F32({2})), X(F32({2}))}, {}, {Bool({2})}},
    {"GreaterOrEqual", {X(F32({2})), X(F32({2}))}, {}, {Bool({2})}},
    {"Less", {X(Bool({2})), X(Bool({2}))}, {}, {}, "bool"},
    {"Greater", {X(F32({2})), X(I64({2}))}, {}, {}, "input 1 has type int64"},
    {"Equal", {X(F32({2})), X(F32({3}))}, {}, {}, "broadcast"},
    {"And", {X(Bool({2})), X(Bool({1}))}, {}, {Bool({2})}},
    {"Or", {X(Bool({2})), X(Bool({2}))}, {}, {Bool({2})}},
    {"Xor", {X(Bool({1, 2})), X(Bool({2}))}, {}, {Bool({1, 2})}},
    {"Xor", {X(Bool({2})), X(F32({2}))}, {}, {}, "input 1 has type float32 but needs bool"},
    {"BitwiseAnd", {X(I32({2, 3})), X(I32({3}))}, {}, {I32({2, 3})}},
    {"BitwiseOr", {X(I32({2, 3})), X(I32({1, 3}))}, {}, {I32({2, 3})}},
    {"BitwiseXor", {X(I32({3})), X(I32({2, 1}))}, {}, {I32({2, 3})}},
    {"BitwiseAnd", {X(F32({2})), X(F32({2}))}, {}, {}, "input 0 has type float32 but needs an integer type"},
    {"BitShift", {X(U8({2, 3})), X(U8({3}))}, A().s("direction", "LEFT"), {U8({2, 3})}},
    {"BitShift", {X(I32({2})), X(I32({2}))}, A().s("direction", "UP"), {}, "direction must be LEFT or RIGHT, got 'UP'"},
    {"BitShift", {X(F32({2})), X(F32({2}))}, A().s("direction", "LEFT"), {}, "input 0 has type float32 but needs an integer type"},
    {"BitwiseNot", {X(I16({2, 2}))}, {}, {I16({2, 2})}},
    {"BitwiseNot", {X(Bool({2}))}, {}, {}, "input 0 has type bool but needs an integer type"},
    {"Not", {X(Bool({2, 2}))}, {}, {Bool({2, 2})}},
    {"Not", {X(I32({2}))}, {}, {}, "X has type int32 but must be bool"},
    {"Where", {X(Bool({2, 1})), X(F32({3})), X(F32({}))}, {}, {F32({2, 3})}},
    {"Where", {X(F32({2})), X(F32({2})), X(F32({2}))}, {}, {}, "condition has type float32"},
    {"Where", {X(Bool({2})), X(F32({2})), X(I64({2}))}, {}, {}, "type int64"},
    {"Mod", {X(I64({2})), X(I64({2}))}, {}, {I64({2})}},
    {"Mod", {X(F32({2})), X(F32({2}))}, A().i("fmod", 1), {F32({2})}},
    {"Mod", {X(F32({2})), X(F32({2}))}, {}, {F32({2})}},
    {"Mod", {X(F32({2})), X(I64({2}))}, {}, {}, "input 1 has type int64"},
    {"Mod", {X(I32({2})), X(I32({2}))}, A().i("fmod", 2), {}, "fmod must be 0 or 1"},
    {"CastLike", {X(F32({2, 3})), X(I64({}))}, {}, {I64({2, 3})}},
    {"CastLike", {X(F32({2}))}, {}, {}, "takes 2 inputs, got 1"},
    {"Size", {X(F32({2, 3}))}, {}, {I64({})}},
    {"Size", {X(F32({2})), X(F32({2}))}, {}, {}, "takes 1 input"},
    {"Range", {Ints({}), Ints({}), Ints({})}, {}, {}, "must be a scalar"},
    {"Range", {FloatScalar(1), FloatScalar(2.2f), FloatScalar(0.5f)}, {}, {F32({3})}},
    {"Range", {FloatScalar(1), FloatScalar(2), FloatScalar(0)}, {}, {}, "delta is 0"},
    {"Range", {FloatScalar(5), FloatScalar(2), FloatScalar(1)}, {}, {F32({0})}},
    {"Range", {X(F32({})), FloatScalar(2), FloatScalar(1)}, {}, {}, "needs a constant input 0"},
    {"BitCast", {X(F32({2, 3}))}, A().i("to", 6), {I32({2, 3})}},
    {"BitCast", {X(Bool({4}))}, A().i("to", 2), {TensorType{proto::DT_UINT8, {4}}}},
    {"BitCast", {X(F32({2}))}, A().i("to", 7), {}, "cannot reinterpret float32 (32 bits) as int64 (64 bits)"},
    {"Unique", {In{TensorType{proto::DT_UINT16, {}}, Tensor(proto::DT_UINT16, {})}}, A().i("axis", 0), {}, "axis needs an input of rank >= 1, got a scalar"},
    {"Gradient", {X(F32({})), X(F32({2, 3}))}, A().strs("xs", {"a", "b"}).s("y", "loss"), {F32({}), F32({2, 3})}},
    {"Gradient", {X(F32({})), X(F32({}))}, A().strs("xs", {"a"}).s("y", "loss"), {}, "xs names 1 values but the node has 2 inputs"},
    {"Gradient", {X(I64({}))}, A().strs("xs", {"a"}).s("y", "loss"), {}, "x 0 has type int64 but needs a floating-point type"},
  });
}

// ---- Signal processing: windows, DFT, RotaryEmbedding
void AddCases2(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"HannWindow", {Ints({10})}, {}, {F32({10})}},
    {"HammingWindow", {Ints({8})}, A().i("output_datatype", 11).i("periodic", 0), {F64({8})}},
    {"BlackmanWindow", {Ints({5})}, A().i("output_datatype", 7), {I64({5})}},
    {"BlackmanWindow", {Ints({-1})}, {}, {}, "size -1 is out of range"},
    {"HannWindow", {X(I64({}))}, {}, {}, "needs a constant 'size' input"},
    {"HannWindow", {Ints({4})}, A().i("periodic", 2), {}, "periodic must be 0 or 1, got 2"},
    {"DFT", {X(F32({1, 10, 10, 1}))}, {}, {F32({1, 10, 10, 2})}},
    {"DFT", {X(F32({1, 10, 10, 1}))}, A().i("axis", 2).i("onesided", 1), {F32({1, 10, 6, 2})}},
    {"DFT", {X(F32({1, 6, 10, 2}))}, A().i("inverse", 1).i("onesided", 1), {F32({1, 10, 10, 1})}},
    {"DFT", {X(F32({1, 10, 10, 2})), Ints({16}), Ints({-2})}, A().i("inverse", 1), {F32({1, 10, 16, 2})}},
    {"DFT", {X(F32({1, 10, 10, 3}))}, {}, {}, "last dimension of input must be 1 (real) or 2 (complex)"},
    {"DFT", {X(F32({1, 10, 10, 2}))}, A().i("axis", 3), {}, "axis 3 is not a signal axis of [1, 10, 10, 2]"},
    {"DFT", {X(F32({1, 10, 10, 2})), Ints({0})}, {}, {}, "dft_length 0 must be positive"},
    {"DFT", {X(I64({1, 10, 2}))}, {}, {}, "input 0 has type int64"},
    {"RotaryEmbedding", {X(F32({2, 4, 3, 8})), X(F32({50, 4})), X(F32({50, 4})), X(I64({2, 3}))}, {}, {F32({2, 4, 3, 8})}},
    {"RotaryEmbedding", {X(F32({2, 3, 32})), X(F32({2, 3, 2})), X(F32({2, 3, 2}))}, A().i("num_heads", 4).i("rotary_embedding_dim", 4), {F32({2, 3, 32})}},
    {"RotaryEmbedding", {X(F32({2, 3, 32})), X(F32({50, 4})), X(F32({50, 4})), X(I64({2, 3}))}, {}, {}, "needs num_heads dividing hidden 32, got 0"},
    {"RotaryEmbedding", {X(F32({2, 4, 3, 8})), X(F32({50, 3})), X(F32({50, 4})), X(I64({2, 3}))}, {}, {}, "cos_cache [50, 3] must be [max_position, 4]"},
    {"RotaryEmbedding", {X(F32({2, 4, 3, 8})), X(F32({50, 2})), X(F32({50, 2})), X(I64({2, 3}))}, A().i("rotary_embedding_dim", 5), {}, "rotary_embedding_dim 5 must be even"},
    {"RotaryEmbedding", {X(F32({2, 4, 3, 8})), X(F32({50, 4})), X(F32({50, 4})), X(I64({3, 2}))}, {}, {}, "position_ids [3, 2] must be [2, 3]"},
    {"Mish", {X(I64({3}))}, {}, {}, "int64"},
    {"Erf", {X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"Erf", {X(I32({3}))}, {}, {}, "int32"},
    {"Sin", {X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"Gelu", {X(F32({3}))}, {}, {F32({3})}},
    {"IsInf", {X(F32({2, 3}))}, {}, {Bool({2, 3})}},
    {"IsInf", {X(I32({3}))}, {}, {}, "int32"},
    {"IsInf", {X(F32({3}))}, A().i("detect_positive", 2), {}, "detect_positive must be 0 or 1"},
    {"IsNaN", {X(TensorType{proto::DT_FLOAT16, {4}})}, {}, {Bool({4})}},
    {"GeluTanh", {X(F32({3}))}, {}, {F32({3})}},
    {"Swish", {X(F32({3}))}, {}, {F32({3})}},
    {"Swish", {X(I64({3}))}, {}, {}, "int64"},
    {"Cos", {X(F32({3}))}, {}, {F32({3})}},
    {"Tan", {X(F32({3}))}, {}, {F32({3})}},
    {"Asin", {X(F32({3}))}, {}, {F32({3})}},
    {"Acos", {X(F32({3}))}, {}, {F32({3})}},
    {"Atan", {X(F32({3}))}, {}, {F32({3})}},
    {"Sinh", {X(F32({3}))}, {}, {F32({3})}},
    {"Cosh", {X(F32({3}))}, {}, {F32({3})}},
    {"Asinh", {X(F32({3}))}, {}, {F32({3})}},
    {"Acosh", {X(F32({3}))}, {}, {F32({3})}},
    {"Atanh", {X(F32({3}))}, {}, {F32({3})}},
    {"Floor", {X(F32({3}))}, {}, {F32({3})}},
    {"Ceil", {X(F32({3}))}, {}, {F32({3})}},
    {"Acosh", {X(I64({3}))}, {}, {}, "int64"},
    {"Round", {X(F32({4}))}, {}, {F32({4})}},
    {"Floor", {X(I32({3}))}, {}, {}, "int32"},
    {"Sign", {X(I32({3}))}, {}, {I32({3})}},
    {"Sign", {X(F32({2}))}, {}, {F32({2})}},
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
  });
}

// ---- MatMul / Gemm
void AddCases3(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
  });
}

// ---- Conv
void AddCases4(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
  });
}

// ---- Fused inference ops (ir/core/fused_ops.h): the core's inference plus the residual and activation
void AddCases5(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
  });
}

// ---- ConvTranspose
void AddCases6(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("strides", {2, 2}), {F32({1, 2, 11, 11})}},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3})), X(F32({2}))},
     A().ints("strides", {2, 2}).ints("pads", {1, 1, 1, 1}).ints("output_padding", {1, 1}), {F32({1, 2, 10, 10})}},
    {"ConvTranspose", {X(F32({1, 4, 5})), X(F32({4, 3, 3}))}, A().i("group", 2), {F32({1, 6, 7})}},
    {"ConvTranspose", {X(F32({1, 1, 3, 3})), X(F32({1, 2, 3, 3}))}, A().ints("strides", {3, 2}).ints("output_shape", {10, 8}), {F32({1, 2, 10, 8})}},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("strides", {2, 2}).ints("output_shape", {10, 10}),
     {F32({1, 2, 10, 10})}},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("strides", {2, 2}).s("auto_pad", "SAME_UPPER"),
     {F32({1, 2, 10, 10})}},
    {"ConvTranspose", {X(F32({1, 3, 5, 5})), X(F32({4, 2, 3, 3}))}, {}, {}, "input channels 3 do not match weight dim 0 (4)"},
    {"ConvTranspose", {X(F32({1, 4, 5, 5})), X(F32({4, 2, 3, 3}))}, A().ints("output_padding", {1, 1}), {},
     "output_padding [1, 1] must be smaller than the stride or the dilation"},
  });
}

// ---- Pooling
void AddCases7(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
  });
}

// ---- Normalization, Dropout
void AddCases8(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
  });
}

// ---- Shape ops
void AddCases9(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
    {"Cast", {X(F32({2, 3}))}, A().i("to", 8), {}, "unsupported dtype STRING (ONNX data type 8"},
  });
}

// ---- Losses and optimizer updates (one case each; the rest in training_op_shape_test.cc)
void AddCases10(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
  });
}

// ---- Fusion (compiler-internal)
void AddCases11(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"FusedElementwise", {X(F32({2, 1})), X(F32({3}))}, A().s("program", "t0=Add(i0,i1); t1=Relu(t0); o0=t0; o1=t1"),
     {F32({2, 3}), F32({2, 3})}},
    {"FusedElementwise", {X(F32({2}))}, A().s("program", "t0=Bogus(i0); o0=t0"), {}, "unknown instruction 'Bogus'"},
    {"FusedElementwise", {X(F32({2}))}, A().s("program", "t0=Relu(i1); o0=t0"), {}, "reads i1 but the node has 1"},
    {"FusedElementwise", {X(I64({2}))}, A().s("program", "t0=Relu(i0); o0=t0"), {}, "fused kernels are float32"},
    {"FusedSoftmaxCrossEntropy", {X(F32({})), X(F32({4, 6})), X(I64({4}))}, A().i("sparse", 1),
     {F32({}), F32({4, 6})}},
    {"FusedReduction", {X(F32({4, 6})), X(F32({6}))},
     A().s("program", "t0=Add(i0,i1); o0=t0").s("reduce", "softmax").i("operand", 0), {F32({4, 6}), F32({4, 6})}},
    {"FusedReduction", {X(F32({4, 6, 5}))}, A().s("program", "t0=Relu(i0)").s("reduce", "sum").i("operand", 0).i("axis", 1),
     {F32({6})}},
    {"FusedReduction", {X(F32({4, 6, 5}))},
     A().s("program", "t0=Relu(i0)").s("reduce", "sum").i("operand", 0).i("axis", 1).i("keepdims", 1), {F32({1, 6, 1})}},
    {"FusedReduction", {X(F32({4, 6}))}, A().s("program", "t0=Relu(i0)").s("reduce", "max").i("operand", 0),
     {F32({})}, "unknown reduction 'max'"},
    {"FusedReduction", {X(F32({4, 6}))}, A().s("program", "t0=Relu(i0)").s("reduce", "softmax").i("operand", 3),
     {F32({})}, "operand t3 is not a temporary"},
    {"FusedReduction", {X(F32({2, 4, 6})), X(F32({4, 6}))},
     A().s("program", "t0=Add(i0,i1)").s("reduce", "log_softmax").i("operand", 0), {F32({2, 4, 6})}},
    {"FusedReduction", {X(F32({2, 4, 6})), X(F32({1, 4, 6}))},
     A().s("program", "t0=Add(i0,i1)").s("reduce", "sum").i("operand", 0).i("axis", 0), {F32({2})}},
    {"FusedReduction", {X(F32({2, 4, 6})), X(F32({1, 4, 1}))},
     A().s("program", "t0=Add(i0,i1)").s("reduce", "sum").i("operand", 0).i("axis", 0), {F32({})},
     "neither spans nor broadcasts over axes [1, 3)"},
    {"FusedReduction", {X(F32({4, 6}))}, A().s("program", "t0=Relu(i0); o0=t0").s("reduce", "softmax").i("operand", 0),
     {F32({})}, "the program has 1 outputs (and the reduction 1) but the node has 1"},
  });
}

// ---- Reductions
void AddCases12(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"ReduceMean", {X(F32({2, 3, 4}))}, A().ints("axes", {1}), {F32({2, 1, 4})}},
    {"ReduceMean", {X(F32({2, 3, 4}))}, A().ints("axes", {1}).i("keepdims", 0), {F32({2, 4})}},
    {"ReduceMean", {X(F32({2, 3, 4}))}, {}, {F32({1, 1, 1})}},
    {"ReduceMax", {X(I32({2, 3, 4}))}, A().ints("axes", {-1}).i("keepdims", 0), {I32({2, 3})}},
    {"ReduceMax", {X(F32({2, 3, 4}))}, A().ints("axes", {3}), {}, "axis 3 is out of range for rank 3"},
    {"ReduceMin", {X(I64({2, 3}))}, A().ints("axes", {0}), {I64({1, 3})}},
    {"ReduceProd", {X(Bool({2, 3}))}, {}, {}, "bool"},
    {"ReduceProd", {X(F32({2, 3}))}, A().i("keepdims", 0), {F32({})}},
    {"ReduceProd", {X(F32({2, 3}))}, A().i("keepdims", 2), {}, "keepdims must be 0 or 1"},
    {"ReduceSumSquare", {X(F64({2, 3}))}, A().ints("axes", {-1}), {F64({2, 1})}},
    {"ReduceSumSquare", {X(F32({2}))}, A().ints("axes", {0, 0}), {}, "axis 0 is repeated"},
    {"ReduceL1", {X(F32({2, 3}))}, A().ints("axes", {1}).i("keepdims", 0), {F32({2})}},
    {"ReduceL1", {X(F32({2, 3}))}, A().ints("axes", {2}), {}, "out of range"},
    {"ReduceL2", {X(F32({2, 3}))}, {}, {F32({1, 1})}},
    {"ReduceL2", {X(Bool({2}))}, {}, {}, "bool"},
    {"ReduceLogSum", {X(F32({2, 3}))}, A().ints("axes", {0, 1}), {F32({1, 1})}},
    {"ReduceLogSum", {X(F32({2, 3}))}, A().ints("axes", {-3}), {}, "out of range"},
    {"ReduceLogSumExp", {X(F32({0, 3}))}, A().ints("axes", {0}), {F32({1, 3})}},
    {"ReduceLogSumExp", {X(F32({2}))}, A().i("keepdims", -1), {}, "keepdims must be 0 or 1"},
    {"ArgMax", {X(F32({2, 3, 4}))}, A().i("axis", 1), {I64({2, 1, 4})}},
    {"ArgMax", {X(I32({2, 3}))}, A().i("axis", -1).i("keepdims", 0), {I64({2})}},
    {"ArgMax", {X(F32({2, 0}))}, A().i("axis", 1), {}, "axis 1 is empty"},
    {"ArgMax", {X(F32({}))}, {}, {}, "input must have rank >= 1"},
    {"GatherElements", {X(F32({3, 4})), X(I64({2, 4}))}, {}, {F32({2, 4})}},
    {"GatherElements", {X(F32({3, 4})), X(I64({5, 2}))}, A().i("axis", 0), {F32({5, 2})}},
    {"GatherElements", {X(F32({3, 4})), X(I64({2, 5}))}, {}, {}, "exceed data [3, 4] in dim 1"},
    {"GatherElements", {X(F32({3, 4})), X(I64({2}))}, {}, {}, "must have data's rank 2"},
    {"GatherElements", {X(F32({3})), Ints({3})}, {}, {}, "index 3 is out of range for axis 0 of size 3"},
    {"GatherElements", {X(F32({3, 4})), X(F32({2, 4}))}, {}, {}, "must be int32 or int64"},
    {"Trilu", {X(F32({2, 3, 4}))}, {}, {F32({2, 3, 4})}},
    {"Trilu", {X(I64({3, 3})), Ints({-1})}, A().i("upper", 0), {I64({3, 3})}},
    {"Trilu", {X(F32({3}))}, {}, {}, "rank >= 2"},
    {"Trilu", {X(F32({3, 3})), Ints({1, 2})}, {}, {}, "k must be a scalar"},
    {"LayerNormalization", {X(F32({2, 3, 4})), X(F32({4})), X(F32({4}))}, {}, {F32({2, 3, 4})}},
    {"LayerNormalization", {X(F32({2, 3, 4})), X(F32({3, 4}))}, A().i("axis", 1), {F32({2, 3, 4})}},
    {"LayerNormalization", {X(F32({2, 3, 4})), X(F32({5}))}, {}, {}, "Scale"},
    {"LayerNormalization", {X(I32({2, 3})), X(I32({3}))}, {}, {}, "int32"},
  });
}

// ---- ONNX class losses (ir/core/ops/loss.cc)
void AddCases13(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"NegativeLogLikelihoodLoss", {X(F32({3, 5})), X(I64({3}))}, {}, {F32({})}},
    {"NegativeLogLikelihoodLoss", {X(F32({3, 5, 2, 4})), X(I32({3, 2, 4})), X(F32({5}))}, A().s("reduction", "none"), {F32({3, 2, 4})}},
    {"NegativeLogLikelihoodLoss", {X(F32({3, 5, 2})), X(I64({3}))}, {}, {}, "target shape [3] must be [3, 2]"},
    {"NegativeLogLikelihoodLoss", {X(F32({3, 5})), X(I64({3})), X(F32({4}))}, {}, {}, "weight shape [4] must be [C] = [5]"},
    {"NegativeLogLikelihoodLoss", {X(F32({3, 5})), X(F32({3}))}, {}, {}, "target has type float32"},
    {"NegativeLogLikelihoodLoss", {X(F32({3, 5})), X(I64({3}))}, A().s("reduction", "max"), {}, "reduction must be"},
    {"NegativeLogLikelihoodLoss", {X(F32({3})), X(I64({3}))}, {}, {}, "input must have shape [N, C, d1..dk]"},
    {"SoftmaxCrossEntropyLoss", {X(F64({3, 5, 2})), X(I64({3, 2}))}, A().s("reduction", "sum"), {F64({}), F64({3, 5, 2})}},
    {"SoftmaxCrossEntropyLoss", {X(F32({3, 5})), X(I64({3}))}, {}, {F32({})}},
    {"SoftmaxCrossEntropyLoss", {X(I32({3, 5})), X(I64({3}))}, {}, {}, "needs a floating-point type"},
    {"NegativeLogLikelihoodLossGrad", {X(F32({})), X(F32({3, 5})), X(I64({3}))}, {}, {F32({3, 5})}},
    {"NegativeLogLikelihoodLossGrad", {X(F32({})), X(F32({3, 5})), X(I64({3}))}, A().s("reduction", "none"), {}, "dLoss shape [] must be the loss shape [3]"},
    {"RMSNormalization", {X(F32({2, 3, 4})), X(F32({4}))}, {}, {F32({2, 3, 4})}},
    {"RMSNormalization", {X(F32({2, 3, 4})), X(F32({5}))}, A().i("axis", 1), {}, "scale"},
  });
}

// ---- Array ops (ir/core/ops/array.cc)
void AddCases14(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"CumSum", {X(I32({2, 3})), Ints({-1})}, A().i("exclusive", 1), {I32({2, 3})}},
    {"CumSum", {X(F32({2, 3})), Ints({2})}, {}, {}, "out of range"},
    {"CumProd", {X(F64({4})), X(I64({}))}, A().i("reverse", 1), {F64({4})}},
    {"CumProd", {X(F64({4})), X(F32({}))}, {}, {}, "axis has type float32"},
    {"Hardmax", {X(F32({2, 3}))}, A().i("axis", 0), {F32({2, 3})}},
    {"Hardmax", {X(I64({2, 3}))}, {}, {}, "needs a floating-point type"},
    {"TopK", {X(F32({3, 5})), Ints({2})}, {}, {F32({3, 2}), I64({3, 2})}},
    {"TopK", {X(F32({3, 5})), Ints({4})}, A().i("axis", 0), {}, "K = 4 is out of range [0, 3]"},
    {"TopK", {X(F32({3, 5})), X(I64({1}))}, {}, {}, "needs a constant 'K' input"},
    {"OneHot", {X(I64({2, 3})), Ints({4}), X(F32({2}))}, A().i("axis", 1), {F32({2, 4, 3})}},
    {"OneHot", {X(I64({2})), Ints({0}), X(F32({2}))}, {}, {}, "depth must be >= 1"},
    {"OneHot", {X(I64({2})), Ints({3}), X(F32({3}))}, {}, {}, "values must have shape [2]"},
    {"DepthToSpace", {X(F32({1, 8, 2, 3}))}, A().i("blocksize", 2), {F32({1, 2, 4, 6})}},
    {"DepthToSpace", {X(F32({1, 6, 2, 3}))}, A().i("blocksize", 2).s("mode", "CRD"), {}, "not divisible by blocksize^2"},
    {"SpaceToDepth", {X(F32({1, 2, 4, 6}))}, A().i("blocksize", 2), {F32({1, 8, 2, 3})}},
    {"SpaceToDepth", {X(F32({1, 2, 4, 5}))}, A().i("blocksize", 2), {}, "not divisible by blocksize 2"},
    {"ScatterElements", {X(F32({3, 3})), X(I64({2, 3})), X(F32({2, 3}))}, A().s("reduction", "add"), {F32({3, 3})}},
    {"ScatterElements", {X(F32({3, 3})), X(I64({2, 4})), X(F32({2, 4}))}, {}, {}, "exceed data [3, 3] in dim 1"},
    {"ScatterElements", {X(Bool({3})), X(I64({2})), X(Bool({2}))}, A().s("reduction", "max"), {}, "reduction max on bool data"},
    {"ScatterND", {X(F32({4, 4, 4})), X(I64({2, 1})), X(F32({2, 4, 4}))}, A().s("reduction", "mul"), {F32({4, 4, 4})}},
    {"ScatterND", {X(F32({4, 4, 4})), X(I64({2, 2})), X(F32({2, 4, 4}))}, {}, {}, "updates shape [2, 4, 4] must be [2, 4]"},
    {"GatherND", {X(F32({2, 3, 4})), X(I64({2, 1, 2}))}, A().i("batch_dims", 1), {F32({2, 1})}},
    {"GatherND", {X(F32({2, 3})), X(I64({4, 3}))}, {}, {}, "the last dim of indices (3) must be in [1, 2]"},
    {"GatherND", {X(F32({2, 3})), Ints({1, 3})}, {}, {}, "index 3 is out of range for a dim of size 3"},
  });
}

// ---- Linear quantization (ir/core/ops/quantize.cc)
void AddCases15(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"QuantizeLinear", {X(F32({2, 3})), X(F32({})), X(TensorType{proto::DT_INT8, {}})}, {}, {TensorType{proto::DT_INT8, {2, 3}}}},
    {"QuantizeLinear", {X(F32({2, 3})), X(F32({3}))}, {}, {TensorType{proto::DT_UINT8, {2, 3}}}},
    {"QuantizeLinear", {X(F32({2, 3})), X(F32({})), X(I16({}))}, {}, {I16({2, 3})}},
    {"DequantizeLinear", {X(TensorType{proto::DT_UINT16, {2}}), X(F32({})), X(TensorType{proto::DT_UINT16, {}})}, {}, {F32({2})}},
    {"QuantizeLinear", {X(F32({2, 4})), X(F32({2, 2}))}, A().i("block_size", 2), {TensorType{proto::DT_UINT8, {2, 4}}}},
    {"QuantizeLinear", {X(F32({2, 3})), X(F32({2}))}, {}, {}, "scale shape [2] must be [] or [3]"},
    {"DequantizeLinear", {X(TensorType{proto::DT_UINT8, {2, 3}}), X(F32({2})), X(TensorType{proto::DT_UINT8, {2}})}, A().i("axis", 0), {F32({2, 3})}},
    {"DequantizeLinear", {X(F32({2, 3})), X(F32({}))}, {}, {}, "dequantizing float32"},
  });
}

// ---- Attention (ir/core/ops/attention.cc)
void AddCases16(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"Attention", {X(F32({2, 6, 4, 8})), X(F32({2, 3, 5, 8})), X(F32({2, 3, 5, 10})), X(Bool({4, 7})), X(F32({2, 3, 2, 8})), X(F32({2, 3, 2, 10}))}, {}, {F32({2, 6, 4, 10}), F32({2, 3, 7, 8}), F32({2, 3, 7, 10}), F32({2, 6, 4, 7})}},
    {"Attention", {X(F32({2, 4, 24})), X(F32({2, 5, 12})), X(F32({2, 5, 12}))}, A().i("q_num_heads", 4).i("kv_num_heads", 2), {F32({2, 4, 24})}},
    {"Attention", {X(F32({2, 4, 24})), X(F32({2, 5, 12})), X(F32({2, 5, 12}))}, {}, {}, "need q_num_heads and kv_num_heads"},
    {"Attention", {X(F32({2, 4, 4, 8})), X(F32({2, 3, 5, 8})), X(F32({2, 3, 5, 8}))}, {}, {}, "must be a multiple of kv heads"},
    {"Attention", {X(F32({1, 1, 4, 8})), X(F32({1, 1, 5, 8})), X(F32({1, 1, 5, 8})), X(F32({4, 6}))}, {}, {}, "does not broadcast"},
    {"Tile", {X(F32({2, 3})), Ints({2, 1})}, {}, {F32({4, 3})}},
    {"Tile", {X(F32({2, 3})), Ints({2})}, {}, {}, "repeats has 1 values but the input has rank 2"},
    {"InstanceNormalization", {X(F32({2, 3, 4})), X(F32({3})), X(F32({3}))}, {}, {F32({2, 3, 4})}},
    {"InstanceNormalization", {X(F32({2, 3, 4})), X(F32({3})), X(F32({4}))}, {}, {}, "B shape [4] must be [C] = [3]"},
    {"HardSigmoid", {X(F32({2, 3}))}, A().f("alpha", 0.1f), {F32({2, 3})}},
    {"HardSwish", {X(F32({2}))}, {}, {F32({2})}},
    {"ThresholdedRelu", {X(F32({2}))}, {}, {F32({2})}},
    {"Shrink", {X(F64({2}))}, A().f("lambd", 1.0f), {F64({2})}},
    {"Celu", {X(F32({2}))}, {}, {F32({2})}},
  });
}

// ---- Resize (ir/core/ops/resize.cc)
void AddCases17(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"Resize", {X(F32({1, 1, 2, 4})), None(), In{F32({4}), Tensor::FromVector(proto::DT_FLOAT, {4}, std::vector<float>{1, 1, 2, 0.6f})}}, A().s("mode", "cubic"), {F32({1, 1, 4, 2})}},
    {"Resize", {X(F32({1, 1, 2, 4})), None(), X(F32({4}))}, {}, {}, "needs a constant 'scales' input"},
    {"Resize", {X(F32({1, 1, 2, 4})), None(), None(), Ints({1, 1, 3, 9})}, A().s("mode", "linear"), {F32({1, 1, 3, 9})}},
    {"Resize", {X(F32({1, 1, 2, 4})), None(), None(), Ints({3, 9})}, A().ints("axes", {2, 3}).s("keep_aspect_ratio_policy", "not_larger"), {F32({1, 1, 3, 6})}},
    {"Resize", {X(F32({1, 1, 2, 4})), None(), None(), Ints({3, 9})}, {}, {}, "sizes has 2 values but needs 4"},
    {"Resize", {X(F32({1, 1, 2, 4})), None(), None(), Ints({1, 1, 3, 9})}, A().s("mode", "bilinear"), {}, "mode must be one of nearest, linear, cubic"},
    {"ArgMin", {X(F32({2, 3}))}, A().i("select_last_index", 1), {I64({1, 3})}},
    {"ArgMin", {X(F32({2, 3}))}, A().i("axis", 2), {}, "out of range"},
    {"ReduceSum", {X(F32({2, 3, 4})), Ints({0, 2})}, A().i("keepdims", 0), {F32({3})}},
    {"ReduceSum", {X(F32({2, 3, 4}))}, {}, {F32({1, 1, 1})}},
    {"ReduceSum", {X(F32({2, 3, 4})), Ints({})}, A().i("noop_with_empty_axes", 1), {F32({2, 3, 4})}},
    {"ReduceSum", {X(F32({2, 3, 4})), X(I64({1}))}, {}, {}, "needs a constant 'axes' input"},
    {"ReduceSum", {X(F32({2, 3, 4})), Ints({0, -3})}, {}, {}, "axis 0 is repeated"},
    {"ReduceMean", {X(F32({2, 3, 4})), Ints({1})}, A().i("keepdims", 0), {F32({2, 4})}},
    {"ReduceMax", {X(F32({2, 3})), Ints({})}, A().i("noop_with_empty_axes", 1), {F32({2, 3})}},
    {"ReduceL2", {X(F32({2, 3})), Ints({1})}, A().ints("axes", {0}), {}, "has both an 'axes' attribute and an 'axes' input"},
    {"ReduceMin", {X(F32({2, 3})), X(I64({1}))}, {}, {}, "needs a constant 'axes' input"},
  });
}

// ---- Backward ops (one case each; the rest in gradient_op_shape_test.cc)
void AddCases18(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
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
  });
}

// ---- Recurrent: X [T=5, N=2, I=3], hidden 4
void AddCases19(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, {}, {F32({5, 1, 2, 4}), F32({1, 2, 4})}},
    {"RNN", {X(F32({2, 5, 3})), X(F32({2, 4, 3})), X(F32({2, 4, 4})), X(F32({2, 8})), Ints32({5, 3}), X(F32({2, 2, 4}))},
     A().s("direction", "bidirectional").i("layout", 1).i("hidden_size", 4), {F32({2, 5, 2, 4}), F32({2, 2, 4})}},
    {"GRU", {X(F32({5, 2, 3})), X(F32({1, 12, 3})), X(F32({1, 12, 4})), X(F32({1, 24}))}, A().i("linear_before_reset", 1),
     {F32({5, 1, 2, 4}), F32({1, 2, 4})}},
    {"LSTM", {X(F32({5, 2, 3})), X(F32({2, 16, 3})), X(F32({2, 16, 4})), X(F32({2, 32})), None(), X(F32({2, 2, 4})),
              X(F32({2, 2, 4})), X(F32({2, 12}))},
     A().s("direction", "bidirectional"), {F32({5, 2, 2, 4}), F32({2, 2, 4}), F32({2, 2, 4})}},
    // The training-only workspace: 6 blocks of H per direction and row of X (X's order: layout 1 [N, T]).
    {"LSTM", {X(F32({2, 5, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4}))}, A().i("layout", 1),
     {F32({2, 5, 1, 4}), F32({2, 1, 4}), F32({2, 1, 4}), F32({1, 2, 5, 24})}},
    {"LSTM", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4}))}, A().strs("activations", {"HardSigmoid", "Affine", "LeakyRelu"}).floats("activation_alpha", {0.3f, 2.0f, 0.1f}).floats("activation_beta", {0.4f, 1.0f}),
     {F32({5, 1, 2, 4})}},
    {"LSTM", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 12, 4}))}, {}, {}, "R has shape [1, 12, 4] but must be [num_directions, 4*hidden_size, hidden_size] = [1, 16, 4]"},
    {"LSTM", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4}))}, A().i("hidden_size", 5), {}, "hidden_size 5 does not match R [1, 16, 4] (hidden size 4)"},
    {"GRU", {X(F32({5, 2, 3})), X(F32({1, 12, 2})), X(F32({1, 12, 4}))}, {}, {}, "W has shape [1, 12, 2] but must be [num_directions, 3*hidden_size, input_size] = [1, 12, 3]"},
    {"GRU", {X(F32({5, 2, 3})), X(F32({1, 12, 3})), X(F32({1, 12, 4})), X(F32({1, 12}))}, {}, {}, "B has shape [1, 12] but must be [num_directions, 2*3*hidden_size] = [1, 24]"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, A().s("direction", "sideways"), {}, "direction must be forward, reverse or bidirectional, got 'sideways'"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, A().s("direction", "bidirectional"), {}, "must have 2 direction(s) in dim 0 for direction=bidirectional"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, A().i("layout", 2), {}, "layout must be 0 or 1, got 2"},
    {"RNN", {X(F32({0, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, {}, {}, "holds empty sequences"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4})), None(), Ints32({5, 6})}, {}, {}, "sequence_lens[1] = 6 is outside [1, 5]"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4})), None(), X(F32({2}))}, {}, {}, "sequence_lens has type float32 but must be int32"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4})), None(), None(), X(F32({1, 3, 4}))}, {}, {}, "initial_h has shape [1, 3, 4] but must be [num_directions, batch_size, hidden_size] = [1, 2, 4]"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F64({1, 4, 4}))}, {}, {}, "input 2 has type float64 but input 0 has float32"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, A().strs("activations", {"Swish"}), {}, "unknown activation 'Swish'"},
    {"GRU", {X(F32({5, 2, 3})), X(F32({1, 12, 3})), X(F32({1, 12, 4}))}, A().strs("activations", {"Sigmoid"}), {}, "activations has 1 functions but direction=forward needs 2"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, A().floats("activation_alpha", {0.5f}), {}, "activation_alpha/activation_beta have 1/0 values but the activations take 0/0"},
    {"RNN", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4}))}, A().f("clip", -1), {}, "clip must be positive"},
    {"LSTM", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4})), None(), None(), None(), None(), X(F32({1, 16}))}, {}, {}, "P has shape [1, 16] but must be [num_directions, 3*hidden_size] = [1, 12]"},
    {"LSTM", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4}))}, A().i("input_forget", 3), {}, "input_forget must be 0 or 1"},
    {"RNNGrad", {X(F32({5, 2, 3})), X(F32({1, 4, 3})), X(F32({1, 4, 4})), None(), None(), None(), X(F32({5, 1, 2, 4}))}, {},
     {F32({5, 2, 3}), F32({1, 4, 3}), F32({1, 4, 4}), F32({1, 8}), F32({1, 2, 4})}},
    {"GRUGrad", {X(F32({2, 5, 3})), X(F32({1, 12, 3})), X(F32({1, 12, 4})), None(), None(), None(), None(), X(F32({2, 1, 4}))},
     A().i("layout", 1), {F32({2, 5, 3}), F32({1, 12, 3})}},
    {"LSTMGrad", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4})), None(), None(), None(), None(), None(),
                  X(F32({5, 1, 2, 4})), None(), X(F32({1, 2, 4}))}, {},
     {F32({5, 2, 3}), F32({1, 16, 3}), F32({1, 16, 4}), F32({1, 32}), F32({1, 2, 4}), F32({1, 2, 4}), F32({1, 12})}},
    {"LSTMGrad", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4})), None(), None(), None(), None(), None(),
                  X(F32({5, 1, 2, 3}))}, {}, {}, "output gradient 0 has shape [5, 1, 2, 3] but the output Y is [5, 1, 2, 4]"},
    {"LSTMGrad", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4})), None(), None(), None(), None(), None(),
                  X(F32({5, 1, 2, 4})), None(), None(), X(F32({1, 5, 2, 24}))}, {},
     {F32({5, 2, 3}), F32({1, 16, 3})}},
    {"LSTMGrad", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4})), None(), None(), None(), None(), None(),
                  X(F32({5, 1, 2, 4})), None(), None(), X(F32({1, 5, 2, 20}))}, {}, {},
     "the workspace has shape [1, 5, 2, 20] but the forward's is [1, 5, 2, 24]"},
    // x_gradient=0 (X is data): dX is left out, an empty output 0.
    {"LSTMGrad", {X(F32({5, 2, 3})), X(F32({1, 16, 3})), X(F32({1, 16, 4})), None(), None(), None(), None(), None(),
                  X(F32({5, 1, 2, 4}))}, A().i("x_gradient", 0), {F32({0}), F32({1, 16, 3})}},
    {"GRUGrad", {X(F32({5, 2, 3})), X(F32({1, 12, 3})), X(F32({1, 12, 4}))}, A().i("x_gradient", 2), {},
     "x_gradient must be 0 or 1, got 2"},
    {"GRUGrad", {X(F32({5, 2, 3})), X(F32({1, 12, 3})), X(F32({1, 16, 4}))}, {}, {}, "R has shape [1, 16, 4]"},
  });
}

// ---- Arity (checked for every op by ValidateNode)
void AddCases20(std::vector<Case>& cases) {
  cases.insert(cases.end(), {
    {"Add", {X(F32({2}))}, {}, {}, "takes 2 inputs, got 1"},
    {"Conv", {X(F32({1, 1, 4, 4})), None()}, {}, {}, "required input 1 is missing"},
  });
}

// The table in sections, one function each: a single initializer of every case made
// one enormous function that the sanitizer build took tens of minutes to compile.
const std::vector<Case>& Cases() {
  static const auto* cases = [] {
    auto* all = new std::vector<Case>();
    AddCases0(*all);
    AddCases1(*all);
    AddCases2(*all);
    AddCases3(*all);
    AddCases4(*all);
    AddCases5(*all);
    AddCases6(*all);
    AddCases7(*all);
    AddCases8(*all);
    AddCases9(*all);
    AddCases10(*all);
    AddCases11(*all);
    AddCases12(*all);
    AddCases13(*all);
    AddCases14(*all);
    AddCases15(*all);
    AddCases16(*all);
    AddCases17(*all);
    AddCases18(*all);
    AddCases19(*all);
    AddCases20(*all);
    return all;
  }();
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
