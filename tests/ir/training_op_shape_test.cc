// Shape inference of the losses and optimizer updates (docs/training_ops.md):
// one table of cases run through a real Graph and InferNodeTypes, like
// op_shape_test.cc (which holds one success case per op for its coverage check).
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "ir/core/op_registry.h"
#include "ir/graph.h"
#include "tests/ir/shape_cases.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

TensorType F32(Dims d) { return {proto::DT_FLOAT, std::move(d)}; }
TensorType F64(Dims d) { return {proto::DT_DOUBLE, std::move(d)}; }
TensorType F16(Dims d) { return {proto::DT_FLOAT16, std::move(d)}; }
TensorType I64(Dims d) { return {proto::DT_INT64, std::move(d)}; }
TensorType I32(Dims d) { return {proto::DT_INT32, std::move(d)}; }

struct A {
  Attrs attrs;
  A& i(const std::string& n, int64_t v) { return attrs.SetInt(n, v), *this; }
  A& f(const std::string& n, float v) { return attrs.SetFloat(n, v), *this; }
  A& s(const std::string& n, const std::string& v) { return attrs.SetString(n, v), *this; }
};

struct Case {
  std::string op;
  std::vector<TensorType> inputs;
  A attrs;
  std::vector<TensorType> expected;  // one per output; empty when `error` is expected
  std::string error = "";            // fragment of the expected message
  int num_outputs = 0;               // for error cases (default: the op's min_outputs)
};

A Lr(float lr) { return A().f("lr", lr); }

// clang-format off
const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
    // ---- Losses
    {"SoftmaxCrossEntropy", {F32({4, 10}), F32({4, 10})}, {}, {F32({})}},
    {"SoftmaxCrossEntropy", {F64({4, 10}), I64({4})}, A().i("sparse", 1), {F64({})}},
    {"SoftmaxCrossEntropy", {F32({4, 10}), I64({5})}, A().i("sparse", 1), {},
     "sparse target shape [5] does not match [N] = [4] of logits [4, 10]"},
    {"SoftmaxCrossEntropy", {F32({4, 10}), I32({4})}, A().i("sparse", 1), {}, "sparse target has type int32 but needs int64"},
    {"SoftmaxCrossEntropy", {F32({4, 10}), I64({4})}, {}, {}, "target has type int64 but logits has float32"},
    {"SoftmaxCrossEntropy", {F32({4, 10}), F32({4, 9})}, {}, {}, "target shape [4, 9] differs from logits shape [4, 10]"},
    {"SoftmaxCrossEntropy", {F32({4, 10, 2}), F32({4, 10, 2})}, {}, {}, "logits must have rank 2, got shape [4, 10, 2]"},
    {"SoftmaxCrossEntropy", {F32({4, 10}), I64({4})}, A().i("sparse", 2), {}, "sparse must be 0 or 1, got 2"},
    {"SoftmaxCrossEntropy", {F16({4, 10}), F16({4, 10})}, {}, {}, "logits has type float16 but needs float32 or float64"},
    {"SoftmaxCrossEntropyGrad", {F32({}), F32({4, 10}), I64({4})}, A().i("sparse", 1), {F32({4, 10})}},
    {"SoftmaxCrossEntropyGrad", {F32({1}), F32({4, 10}), F32({4, 10})}, {}, {F32({4, 10})}},
    {"SoftmaxCrossEntropyGrad", {F32({2}), F32({4, 10}), F32({4, 10})}, {}, {}, "dLoss must be a scalar, got shape [2]"},
    {"SoftmaxCrossEntropyGrad", {F64({}), F32({4, 10}), F32({4, 10})}, {}, {}, "dLoss has type float64 but logits has float32"},
    {"FusedSoftmaxCrossEntropy", {F32({}), F32({4, 10}), I64({4})}, A().i("sparse", 1), {F32({}), F32({4, 10})}},
    {"FusedSoftmaxCrossEntropy", {F32({}), F32({4, 10}), F32({4, 10})}, A().i("keepdims", 1),
     {F32({}), F32({4, 10}), F32({1, 10})}},
    {"FusedSoftmaxCrossEntropy", {F32({}), F32({4, 10}), I64({4})}, A().i("sparse", 1),
     {F32({}), F32({4, 10}), F32({10})}},
    {"FusedSoftmaxCrossEntropy", {F32({}), F32({4, 10}), F32({4, 10})}, A().i("keepdims", 3), {},
     "keepdims must be 0 or 1, got 3", 3},
    {"FusedSoftmaxCrossEntropy", {F32({3}), F32({4, 10}), F32({4, 10})}, {}, {}, "dLoss must be a scalar, got shape [3]"},
    {"CrossEntropy", {F32({2, 3}), I64({2})}, A().i("sparse", 1), {F32({})}},
    {"CrossEntropy", {F32({2, 3}), F64({2, 3})}, {}, {}, "target has type float64 but probs has float32"},
    {"CrossEntropyGrad", {F32({}), F32({2, 3}), F32({2, 3})}, {}, {F32({2, 3})}},
    {"CrossEntropyGrad", {F32({}), F32({2, 3}), I64({3})}, A().i("sparse", 1), {}, "sparse target shape [3] does not match [N] = [2]"},
    {"SigmoidCrossEntropy", {F32({2, 3, 4}), F32({2, 3, 4})}, {}, {F32({})}},
    {"SigmoidCrossEntropy", {F32({2, 3}), F32({3})}, {}, {}, "target shape [3] differs from logits shape [2, 3]"},
    {"SigmoidCrossEntropyGrad", {F64({}), F64({5}), F64({5})}, {}, {F64({5})}},
    {"BinaryCrossEntropy", {F64({7}), F64({7})}, {}, {F64({})}},
    {"BinaryCrossEntropy", {I64({7}), I64({7})}, {}, {}, "probs has type int64 but needs float32 or float64"},
    {"BinaryCrossEntropyGrad", {F32({}), F32({2, 2}), F32({2, 2})}, {}, {F32({2, 2})}},
    {"MeanSquaredError", {F32({3, 2}), F32({3, 2})}, {}, {F32({})}},
    {"MeanSquaredError", {F32({3, 2}), F32({3, 2})}, A().s("reduction", "half_sum"), {F32({})}},
    {"MeanSquaredError", {F32({3, 2}), F32({3, 2})}, A().s("reduction", "sum"), {},
     "reduction must be \"mean\" or \"half_sum\", got \"sum\""},
    {"MeanSquaredErrorGrad", {F32({}), F32({3, 2}), F32({3, 2})}, A().s("reduction", "half_sum"), {F32({3, 2})}},
    {"MeanSquaredErrorGrad", {F32({}), F32({3, 2}), F32({2, 3})}, {}, {}, "target shape [2, 3] differs from pred shape [3, 2]"},
    // ---- Optimizer updates
    {"SGDUpdate", {F32({3, 4}), F32({3, 4})}, Lr(0.1f), {F32({3, 4})}},
    {"SGDUpdate", {F64({}), F64({})}, Lr(0.1f).f("weight_decay", 1e-4f), {F64({})}},
    {"SGDUpdate", {F32({3, 4}), F32({3, 4})}, {}, {}, "missing required attribute 'lr'"},
    {"SGDUpdate", {F32({3, 4}), F32({4, 3})}, Lr(0.1f), {}, "grad shape [4, 3] differs from param shape [3, 4]"},
    {"SGDUpdate", {F32({3}), F64({3})}, Lr(0.1f), {}, "grad has type float64 but param has float32"},
    {"SGDUpdate", {F32({3}), F32({3})}, Lr(-1), {}, "lr must be >= 0, got -1"},
    {"SGDUpdate", {F32({3}), F32({3})}, Lr(0.1f).f("weight_decay", -0.5f), {}, "weight_decay must be >= 0, got -0.5"},
    {"SGDUpdate", {F16({3}), F16({3})}, Lr(0.1f), {}, "param has type float16 but needs float32 or float64"},
    {"MomentumUpdate", {F32({5}), F32({5}), F32({5})}, Lr(0.1f).f("momentum", 0.9f).i("nesterov", 1), {F32({5}), F32({5})}},
    {"MomentumUpdate", {F32({5}), F32({5}), F32({4})}, Lr(0.1f), {}, "velocity shape [4] differs from param shape [5]"},
    {"MomentumUpdate", {F32({5}), F32({5}), F32({5})}, Lr(0.1f).f("momentum", 0).i("nesterov", 1), {}, "nesterov needs momentum > 0"},
    {"MomentumUpdate", {F32({5}), F32({5}), F32({5})}, Lr(0.1f).i("nesterov", 3), {}, "nesterov must be 0 or 1, got 3"},
    {"MomentumUpdate", {F32({5}), F32({5}), F32({5})}, Lr(0.1f), {}, "produces 2 outputs, got 1", 1},
    {"AdagradUpdate", {F64({2, 2}), F64({2, 2}), F64({2, 2})}, Lr(0.01f), {F64({2, 2}), F64({2, 2})}},
    {"AdagradUpdate", {F64({2, 2}), F64({2, 2}), F32({2, 2})}, Lr(0.01f), {}, "sum has type float32 but param has float64"},
    {"AdadeltaUpdate", {F32({3}), F32({3}), F32({3}), F32({3})}, {}, {F32({3}), F32({3}), F32({3})}},
    {"AdadeltaUpdate", {F32({3}), F32({3}), F32({3}), F32({2})}, {}, {}, "acc_delta shape [2] differs from param shape [3]"},
    {"AdadeltaUpdate", {F32({3}), F32({3}), F32({3}), F32({3})}, A().f("rho", 1.5f), {}, "rho must be in [0, 1], got 1.5"},
    {"RMSpropUpdate", {F32({3}), F32({3}), F32({3})}, Lr(0.01f).f("rho", 0.9f), {F32({3}), F32({3})}},
    {"RMSpropUpdate", {F32({3}), F32({3}), F32({3})}, Lr(0.01f).f("epsilon", -1), {}, "epsilon must be >= 0, got -1"},
    {"AdamUpdate", {F32({2, 3}), F32({2, 3}), F32({2, 3}), F32({2, 3}), I64({})}, {}, {F32({2, 3}), F32({2, 3}), F32({2, 3})}},
    {"AdamUpdate", {F64({7}), F64({7}), F64({7}), F64({7}), I64({1})}, A().f("lr", 0.01f).f("weight_decay", 0.1f),
     {F64({7}), F64({7}), F64({7})}},
    {"AdamUpdate", {F32({2}), F32({2}), F32({2}), F32({2}), I32({})}, {}, {}, "step must be an int64 scalar of shape [] or [1], got int32 []"},
    {"AdamUpdate", {F32({2}), F32({2}), F32({2}), F32({2}), I64({2})}, {}, {}, "step must be an int64 scalar of shape [] or [1], got int64 [2]"},
    {"AdamUpdate", {F32({2}), F32({2}), F32({3}), F32({2}), I64({})}, {}, {}, "m shape [3] differs from param shape [2]"},
    {"AdamUpdate", {F32({2}), F32({2}), F32({2}), F32({2}), I64({})}, A().f("beta2", 1), {}, "beta2 must be in [0, 1), got 1"},
    {"ClipByGlobalNorm", {F32({3}), F32({2, 2})}, A().f("max_norm", 1), {F32({3}), F32({2, 2})}},
    {"ClipByGlobalNorm", {F64({})}, A().f("max_norm", 5), {F64({})}},
    {"ClipByGlobalNorm", {F32({3}), F64({2})}, A().f("max_norm", 1), {}, "input 1 has type float64 but input 0 has float32", 2},
    {"ClipByGlobalNorm", {F32({3}), F32({2})}, A().f("max_norm", 1), {}, "has 2 inputs but 1 outputs"},
    {"ClipByGlobalNorm", {F32({3})}, A().f("max_norm", -1), {}, "max_norm must be >= 0, got -1"},
    {"ClipByGlobalNorm", {F32({3})}, {}, {}, "missing required attribute 'max_norm'"},
  };
  return *cases;
}
// clang-format on

TEST(TrainingOpShapeTest, EveryCaseInfersTheExpectedTypes) {
  const auto& cases = Cases();
  for (size_t index = 0; index < cases.size(); ++index) {
    const Case& c = cases[index];
    // Every input of these ops is a graph input of a type: the shared runner's table form.
    shape_cases::Case shared{c.op, {}, shape_cases::A{c.attrs.attrs}, c.expected, c.error, c.num_outputs};
    for (const TensorType& t : c.inputs) shared.inputs.push_back(shape_cases::X(t));
    SCOPED_TRACE(shape_cases::CaseName(shared, index));
    shape_cases::CheckShapeCase(shared);
  }
}

// op_shape_test.cc's coverage check stops at the first undefined op (the backward ops are
// defined elsewhere); this one covers the losses and updates on their own.
TEST(TrainingOpShapeTest, EveryLossAndUpdateIsDefinedAndCovered) {
  std::set<std::string> success;
  for (const Case& c : Cases()) {
    if (c.error.empty()) success.insert(c.op);
  }
  for (const char* name :
       {"SoftmaxCrossEntropy", "SoftmaxCrossEntropyGrad", "CrossEntropy", "CrossEntropyGrad", "SigmoidCrossEntropy",
        "SigmoidCrossEntropyGrad", "BinaryCrossEntropy", "BinaryCrossEntropyGrad", "MeanSquaredError",
        "MeanSquaredErrorGrad", "SGDUpdate", "MomentumUpdate", "AdagradUpdate", "AdadeltaUpdate", "RMSpropUpdate",
        "AdamUpdate", "ClipByGlobalNorm"}) {
    SCOPED_TRACE(name);
    const OpDef* def = FindOpDef(name);
    ASSERT_NE(def, nullptr);
    EXPECT_NE(def->infer_shape, nullptr);
    EXPECT_FALSE(def->doc.empty());
    EXPECT_TRUE(success.count(name)) << "no shape-inference case for " << name;
  }
}

}  // namespace
}  // namespace kiln
