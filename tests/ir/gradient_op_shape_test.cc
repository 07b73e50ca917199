// Shape inference of the backward ops (docs/training_ops.md): one table of
// cases run through a real Graph and InferNodeTypes, as op_shape_test.cc.
#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <set>

#include "ir/core/op_registry.h"
#include "ir/graph.h"
#include "tests/ir/shape_cases.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using namespace shape_cases;  // NOLINT: the table's vocabulary

// clang-format off
const std::vector<Case>& Cases() {
  static const auto* cases = new std::vector<Case>{
    // ---- EltwiseGrad
    {"EltwiseGrad", {X(F32({2, 3})), X(F32({2, 3}))}, A().s("function", "relu"), {F32({2, 3})}},
    {"EltwiseGrad", {X(F64({4})), X(F64({4}))}, A().s("function", "leaky_relu").f("alpha", 0.2f), {F64({4})}},
    {"EltwiseGrad", {X(F32({2, 3})), X(F32({3, 2}))}, A().s("function", "tanh"), {}, "T shape [3, 2] does not match dY [2, 3]"},
    {"EltwiseGrad", {X(F32({2})), X(F64({2}))}, A().s("function", "exp"), {}, "input 1 has type float64 but input 0 has float32"},
    {"EltwiseGrad", {X(F32({2})), X(F32({2}))}, A().s("function", "no_such_function"), {}, "function 'no_such_function' is not one of"},
    {"EltwiseGrad", {X(F32({2})), X(F32({2}))}, {}, {}, "function"},
    {"EltwiseGrad", {X(I64({2})), X(I64({2}))}, A().s("function", "abs"), {}, "needs a floating-point type"},
    // ---- SoftmaxGrad
    {"SoftmaxGrad", {X(F32({2, 5})), X(F32({2, 5}))}, {}, {F32({2, 5})}},
    {"SoftmaxGrad", {X(F32({2, 3, 4})), X(F32({2, 3, 4}))}, A().i("axis", 1).i("log", 1), {F32({2, 3, 4})}},
    {"SoftmaxGrad", {X(F32({2, 3})), X(F32({2, 3}))}, A().i("axis", 2), {}, "axis 2 is out of range for rank 2"},
    {"SoftmaxGrad", {X(F32({2, 3})), X(F32({2, 3}))}, A().i("log", 2), {}, "log must be 0 or 1"},
    {"SoftmaxGrad", {X(F32({2, 3})), X(F32({2, 4}))}, {}, {}, "Y shape [2, 4] does not match dY [2, 3]"},
    {"SoftmaxGrad", {X(F32({})), X(F32({}))}, {}, {}, "dY must have rank >= 1"},
    // ---- ConvGradInput
    {"ConvGradInput", {X(F32({1, 4, 3, 3})), X(F32({4, 2, 3, 3}))}, A().ints("input_shape", {1, 2, 5, 5}),
     {F32({1, 2, 5, 5})}},
    {"ConvGradInput", {X(F32({2, 6, 4, 2})), X(F32({6, 2, 3, 3}))},
     A().ints("input_shape", {2, 4, 7, 6}).i("group", 2).ints("strides", {2, 2}).ints("pads", {1, 0, 1, 0}),
     {F32({2, 4, 7, 6})}},
    {"ConvGradInput", {X(F32({1, 4, 4})), X(F32({4, 2, 3}))}, A().ints("input_shape", {1, 2, 8}).ints("dilations", {2}),
     {F32({1, 2, 8})}},
    {"ConvGradInput", {X(F32({1, 4, 3, 4})), X(F32({4, 2, 3, 3}))}, A().ints("input_shape", {1, 2, 5, 5}), {},
     "dY shape [1, 4, 3, 4] does not match the Conv output [1, 4, 3, 3]"},
    {"ConvGradInput", {X(F32({1, 4, 3, 3})), X(F32({4, 2, 3, 3}))}, A().ints("input_shape", {1, 3, 5, 5}), {},
     "input channels 3 do not match weight channels 2 x group 1"},
    {"ConvGradInput", {X(F32({1, 4, 3, 3})), X(F32({4, 2, 3, 3}))}, {}, {}, "input_shape"},
    {"ConvGradInput", {X(F32({1, 4, 3, 3})), X(F32({4, 2, 3, 3}))}, A().ints("input_shape", {1, 2, 5, 5}).s("auto_pad", "VALID"), {},
     "auto_pad"},
    {"ConvGradInput", {X(F32({1, 4, 3, 3})), X(F32({4, 2, 3, 3}))}, A().ints("input_shape", {1, 2, 5, 5}).ints("kernel_shape", {2, 2}), {},
     "kernel_shape [2, 2] does not match"},
    {"ConvGradInput", {X(F32({1, 4, 3, 3})), X(F32({4, 2, 3, 3}))}, A().ints("input_shape", {1, 2, 5, -5}), {},
     "has a negative dim"},
    // ---- ConvGradWeight
    {"ConvGradWeight", {X(F32({1, 4, 3, 3})), X(F32({1, 2, 5, 5}))}, A().ints("weight_shape", {4, 2, 3, 3}),
     {F32({4, 2, 3, 3})}},
    {"ConvGradWeight", {X(F32({1, 4, 3, 3})), X(F32({1, 2, 5, 5}))}, A().ints("weight_shape", {4, 2, 3, 3}),
     {F32({4, 2, 3, 3}), F32({4})}},
    {"ConvGradWeight", {X(F64({2, 6, 2, 2, 2})), X(F64({2, 3, 4, 4, 4}))},
     A().ints("weight_shape", {6, 1, 3, 3, 3}).i("group", 3), {F64({6, 1, 3, 3, 3}), F64({6})}},
    {"ConvGradWeight", {X(F32({1, 4, 3, 3})), X(F32({1, 2, 5, 5}))}, A().ints("weight_shape", {4, 2, 3}), {},
     "weight [4, 2, 3] must have the input's rank 4"},
    {"ConvGradWeight", {X(F32({1, 5, 3, 3})), X(F32({1, 2, 5, 5}))}, A().ints("weight_shape", {5, 1, 3, 3}).i("group", 2), {},
     "output channels 5 are not divisible by group 2"},
    {"ConvGradWeight", {X(F32({1, 4, 3, 3})), X(F32({1, 2, 6, 5}))}, A().ints("weight_shape", {4, 2, 3, 3}), {},
     "does not match the Conv output [1, 4, 4, 3]"},
    {"ConvGradWeight", {X(F32({1, 4, 3, 3})), X(F32({1, 2, 5, 5, 1, 1}))}, A().ints("weight_shape", {4, 2, 3, 3, 1, 1}), {},
     "must have rank 3 to 5"},
    // ---- MaxPoolGrad
    {"MaxPoolGrad", {X(F32({1, 2, 2, 2})), X(F32({1, 2, 5, 5}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}),
     {F32({1, 2, 5, 5})}},
    {"MaxPoolGrad", {X(F32({1, 2, 3, 3})), X(F32({1, 2, 5, 5}))},
     A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}).i("ceil_mode", 1), {F32({1, 2, 5, 5})}},
    {"MaxPoolGrad", {X(F64({1, 1, 4})), X(F64({1, 1, 8}))},
     A().ints("kernel_shape", {2}).ints("dilations", {2}).ints("pads", {1, 1}).ints("strides", {2}), {F64({1, 1, 8})}},
    {"MaxPoolGrad", {X(F32({1, 2, 3, 3})), X(F32({1, 2, 5, 5}))}, A().ints("kernel_shape", {2, 2}).ints("strides", {2, 2}), {},
     "dY shape [1, 2, 3, 3] does not match the MaxPool output [1, 2, 2, 2]"},
    {"MaxPoolGrad", {X(F32({1, 2, 2, 2})), X(F32({1, 2, 5, 5}))}, A().ints("strides", {2, 2}), {}, "kernel_shape"},
    {"MaxPoolGrad", {X(F32({1, 2})), X(F32({1, 2}))}, A().ints("kernel_shape", {2}), {}, "must have rank >= 3"},
    {"MaxPoolGrad", {X(F32({1, 2, 2, 2})), X(F32({1, 2, 5, 5}))}, A().ints("kernel_shape", {2, 2}).i("ceil_mode", 3), {},
     "ceil_mode must be 0 or 1"},
    {"MaxPoolGrad", {X(F32({1, 2, 3, 3})), X(F32({1, 2, 4, 4}))}, A().ints("kernel_shape", {2, 2}).ints("pads", {2, 0, 0, 0}),
     {}, "pads [2, 0, 0, 0] must be smaller than kernel_shape [2, 2]"},
    // ---- AveragePoolGrad
    {"AveragePoolGrad", {X(F32({1, 2, 2, 2}))}, A().ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("input_shape", {1, 2, 5, 5}),
     {F32({1, 2, 5, 5})}},
    {"AveragePoolGrad", {X(F32({2, 3, 3}))},
     A().ints("kernel_shape", {2}).ints("pads", {1, 1}).ints("strides", {2}).i("count_include_pad", 1).ints("input_shape", {2, 3, 4}),
     {F32({2, 3, 4})}},
    {"AveragePoolGrad", {X(F32({1, 2, 2, 3}))}, A().ints("kernel_shape", {3, 3}).ints("strides", {2, 2}).ints("input_shape", {1, 2, 5, 5}), {},
     "dY shape [1, 2, 2, 3] does not match the AveragePool output [1, 2, 2, 2]"},
    {"AveragePoolGrad", {X(F32({1, 2, 2, 2}))}, A().ints("kernel_shape", {3, 3}).i("count_include_pad", 2).ints("input_shape", {1, 2, 4, 4}), {},
     "count_include_pad must be 0 or 1"},
    {"AveragePoolGrad", {X(F32({1, 2, 2, 2}))}, A().ints("kernel_shape", {3, 3}), {}, "input_shape"},
    {"AveragePoolGrad", {X(F32({1, 2, 4, 4}))}, A().ints("kernel_shape", {1, 1}).ints("pads", {1, 1, 1, 1}).ints("input_shape", {1, 2, 2, 2}),
     {}, "must be smaller than kernel_shape [1, 1]"},
    // ---- BatchNormTraining
    {"BatchNormTraining", {X(F32({4, 3, 2, 2})), X(F32({3})), X(F32({3})), X(F32({3})), X(F32({3}))}, {},
     {F32({4, 3, 2, 2}), F32({3}), F32({3}), F32({3}), F32({3})}},
    {"BatchNormTraining", {X(F64({4, 3})), X(F64({3})), X(F64({3})), X(F64({3})), X(F64({3}))}, A().f("momentum", 0.5f),
     {F64({4, 3})}},
    {"BatchNormTraining", {X(F32({4, 3})), X(F32({3})), X(F32({4})), X(F32({3})), X(F32({3}))}, {}, {},
     "B shape [4] does not match 3 channels of X [4, 3]"},
    {"BatchNormTraining", {X(F32({4, 3})), X(F32({3})), X(F32({3})), X(F64({3})), X(F32({3}))}, {}, {},
     "running_mean has type float64 but X has float32"},
    {"BatchNormTraining", {X(F32({4})), X(F32({4})), X(F32({4})), X(F32({4})), X(F32({4}))}, {}, {}, "X must have rank >= 2"},
    // ---- BatchNormGrad
    {"BatchNormGrad", {X(F32({4, 3, 2})), X(F32({4, 3, 2})), X(F32({3})), X(F32({3})), X(F32({3}))}, {},
     {F32({4, 3, 2}), F32({3}), F32({3})}},
    {"BatchNormGrad", {X(F32({4, 3, 2})), X(F32({4, 3, 2})), X(F32({3})), X(F32({3})), X(F32({3}))}, {}, {F32({4, 3, 2})}},
    {"BatchNormGrad", {X(F32({4, 3, 1})), X(F32({4, 3, 2})), X(F32({3})), X(F32({3})), X(F32({3}))}, {}, {},
     "dY shape [4, 3, 1] does not match X [4, 3, 2]"},
    {"BatchNormGrad", {X(F32({4, 3, 2})), X(F32({4, 3, 2})), X(F32({3})), X(F32({3})), X(F32({2}))}, {}, {},
     "saved_var shape [2] does not match 3 channels"},
    // ---- DropoutTraining
    {"DropoutTraining", {X(F32({3, 4})), X(I64({}))}, A().f("ratio", 0.2f).i("seed", 7), {F32({3, 4}), F32({3, 4})}},
    {"DropoutTraining", {X(F64({5})), X(I64({}))}, {}, {F64({5})}},
    {"DropoutTraining", {X(F32({5})), X(I32({}))}, {}, {}, "step must be an int64 scalar (shape []), got int32[]"},
    {"DropoutTraining", {X(F32({5})), X(I64({1}))}, {}, {}, "step must be an int64 scalar"},
    {"DropoutTraining", {X(F32({5})), X(I64({}))}, A().f("ratio", 1.0f), {}, "ratio must be in [0, 1), got 1"},
    {"DropoutTraining", {X(I64({5})), X(I64({}))}, {}, {}, "needs a floating-point type"},
    // ---- GatherGrad
    {"GatherGrad", {X(F32({2, 4, 3})), X(I64({2, 4}))}, A().ints("data_shape", {5, 3}), {F32({5, 3})}},
    {"GatherGrad", {X(F32({5, 2})), X(I32({2}))}, A().i("axis", -1).ints("data_shape", {5, 3}), {F32({5, 3})}},
    {"GatherGrad", {X(F32({5})), Ints({})}, A().ints("data_shape", {5}), {}, "dY shape [5] does not match the Gather output [0]"},
    {"GatherGrad", {X(F32({2, 3})), Ints({0, 5})}, A().ints("data_shape", {5, 3}), {}, "index 5 is out of range for axis 0 of size 5"},
    {"GatherGrad", {X(F32({2, 3})), X(F32({2}))}, A().ints("data_shape", {5, 3}), {}, "indices have type float32"},
    {"GatherGrad", {X(F32({2, 3})), X(I64({2}))}, A().i("axis", 2).ints("data_shape", {5, 3}), {}, "axis 2 is out of range"},
    {"GatherGrad", {X(F32({2})), X(I64({2}))}, A().ints("data_shape", {}), {}, "data_shape must have rank >= 1"},
    // ---- SliceGrad
    {"SliceGrad", {X(F32({2, 3})), Ints({1, 0}), Ints({3, 3})}, A().ints("input_shape", {4, 3}), {F32({4, 3})}},
    {"SliceGrad", {X(F32({4, 2})), Ints({-1}), Ints({-100}), Ints({1}), Ints({-2})}, A().ints("input_shape", {4, 4}),
     {F32({4, 4})}},
    {"SliceGrad", {X(F32({2, 2})), Ints({1, 0}), Ints({3, 3})}, A().ints("input_shape", {4, 3}), {},
     "dY shape [2, 2] does not match the Slice output [2, 3]"},
    {"SliceGrad", {X(F32({2, 3})), X(I64({2})), Ints({3, 3})}, A().ints("input_shape", {4, 3}), {}, "needs a constant 'starts' input"},
    {"SliceGrad", {X(F32({2, 3})), Ints({1, 0}), Ints({3, 3}), None(), Ints({0, 1})}, A().ints("input_shape", {4, 3}), {},
     "step"},
    // ---- ReduceMaxGrad
    {"ReduceMaxGrad", {X(F32({2, 1, 4})), X(F32({2, 3, 4}))}, A().ints("axes", {1}), {F32({2, 3, 4})}},
    {"ReduceMaxGrad", {X(F32({2})), X(F32({2, 3, 4}))}, A().ints("axes", {-1, 1}).i("keepdims", 0), {F32({2, 3, 4})}},
    {"ReduceMaxGrad", {X(F32({1, 1})), X(F32({2, 3}))}, {}, {F32({2, 3})}},
    {"ReduceMaxGrad", {X(F32({2, 4})), X(F32({2, 3, 4}))}, A().ints("axes", {1}), {},
     "dY shape [2, 4] does not match the ReduceMax output [2, 1, 4]"},
    {"ReduceMaxGrad", {X(F32({2, 3, 4})), X(F32({2, 3, 4}))}, A().ints("axes", {3}), {}, "axis 3 is out of range for rank 3"},
    {"ReduceMaxGrad", {X(F32({2, 3})), X(F32({2, 3}))}, A().ints("axes", {0}).i("keepdims", 2), {}, "keepdims must be 0 or 1"},
  };
  return *cases;
}
// clang-format on

TEST(GradientOpShapeTest, EveryCaseInfersTheExpectedTypes) {
  const auto& cases = Cases();
  for (size_t index = 0; index < cases.size(); ++index) {
    SCOPED_TRACE(CaseName(cases[index], index));
    CheckShapeCase(cases[index]);
  }
}

TEST(GradientOpShapeTest, EveryBackwardOpHasSuccessAndErrorCases) {
  std::set<std::string> success, failure;
  for (const Case& c : Cases()) (c.error.empty() ? success : failure).insert(c.op);
  for (const char* op :
       {"EltwiseGrad", "SoftmaxGrad", "ConvGradInput", "ConvGradWeight", "MaxPoolGrad", "AveragePoolGrad",
        "BatchNormTraining", "BatchNormGrad", "DropoutTraining", "GatherGrad", "SliceGrad", "ReduceMaxGrad"}) {
    EXPECT_TRUE(success.count(op)) << op;
    EXPECT_TRUE(failure.count(op)) << op;
    const OpDef* def = FindOpDef(op);
    ASSERT_NE(def, nullptr) << op;
    EXPECT_FALSE(def->doc.empty()) << op;
  }
}

}  // namespace
}  // namespace kiln
