// ir/core/ops/binary.def reaches every consumer: each row is a registered op with a reference
// kernel, its ONNX versions import, fusing rows are fused-program instructions that the
// interpreter computes like the reference kernel, differentiable rows have gradient rules,
// and the table's type classes are enforced by shape inference.
#include "ir/core/ops/binary_table.h"

#include <gtest/gtest.h>

#include <cmath>

#include "frontends/onnx/onnx_opsets.h"
#include "ir/core/fused_program.h"
#include "ir/gradient.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/fused_evaluate.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

TEST(BinaryTable, EveryRowReachesTheRegistryKernelsAndImporter) {
  ASSERT_GE(BinaryOpTable().size(), 19u);
  for (const BinaryOpRow& row : BinaryOpTable()) {
    const OpDef* def = FindOpDef(row.name);
    ASSERT_NE(def, nullptr) << row.name;
    EXPECT_EQ(def->max_inputs == 2, row.arity == BinaryArity::kTwo) << row.name;
    EXPECT_TRUE(runtime::KernelRegistry::Global().Has("ref", row.name)) << row.name;
    const std::vector<int> versions = onnx_import::AcceptedOnnxVersions(row.name);
    for (int v : row.onnx_since) EXPECT_NE(std::find(versions.begin(), versions.end(), v), versions.end()) << row.name;
  }
}

TEST(BinaryTable, GradientRulesExactlyForDifferentiableRows) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow"}) EXPECT_NE(FindGradient(FindBinaryOp(op)->kind), nullptr);
  for (const char* op : {"Max", "Mod", "Equal", "Less", "And"})
    EXPECT_EQ(FindGradient(FindBinaryOp(op)->kind), nullptr);
}

// The fused interpreter (over doubles) and the reference kernel (over float32) compute the
// same row math.
TEST(BinaryTable, FusedInstructionsAgreeWithTheReferenceKernels) {
  const std::vector<float> a = {1.5f, -2.0f, 0.0f, 3.0f, NAN}, b = {0.5f, 4.0f, -1.0f, 2.0f, 1.0f};
  int fused = 0;
  for (const FusedOpInfo& info : FusedOps()) {
    const BinaryOpRow* row = FindBinaryOp(info.name);
    if (!row) continue;
    ++fused;
    EXPECT_NE(row->fuse, BinaryFuse::kNoFuse) << info.name;
    auto ref = reftest::RunRef(info.name, {}, {reftest::F({5}, a), reftest::F({5}, b)}, {{proto::DT_FLOAT, {5}}});
    ASSERT_OK(ref.status());
    for (int i = 0; i < 5; ++i) {
      const double args[4] = {a[i], b[i], 0, 0};
      const float interpreted = static_cast<float>(runtime::ref::EvaluateFusedOp(info.op, args));
      const float expected = (*ref)[0].data_as<float>()[i];
      if (std::isnan(expected)) {
        EXPECT_TRUE(std::isnan(interpreted)) << info.name << " " << i;
      } else {
        EXPECT_FLOAT_EQ(interpreted, expected) << info.name << " " << i;
      }
    }
  }
  EXPECT_EQ(fused, 7);  // Add, Sub, Mul, Div, Pow, Max, Min
}

TEST(BinaryTable, ShapeInferenceEnforcesTheTypeClass) {
  auto infer = [](const char* op, DType a, DType b) {
    std::vector<ShapeInput> in(2);
    in[0] = {true, TensorType{a, {2, 3}}, nullptr};
    in[1] = {true, TensorType{b, {3}}, nullptr};
    Attrs attrs;
    InferContext ctx("n (op)", attrs, std::move(in), 1);
    Status st = FindOpDef(op)->infer_shape(ctx);
    return std::make_pair(st, ctx.outputs()[0]);
  };
  auto [ok, type] = infer("Less", proto::DT_UINT16, proto::DT_UINT16);
  ASSERT_OK(ok);
  EXPECT_EQ(type, (TensorType{proto::DT_BOOL, {2, 3}}));
  EXPECT_NE(infer("And", proto::DT_FLOAT, proto::DT_FLOAT).first.message().find("needs bool"), std::string::npos);
  EXPECT_NE(infer("Add", proto::DT_INT16, proto::DT_INT32).first.message().find("input 1 has type int32"),
            std::string::npos);
  EXPECT_TRUE(infer("Pow", proto::DT_FLOAT, proto::DT_UINT32).first.ok());  // the exponent may differ
  EXPECT_FALSE(infer("Less", proto::DT_BOOL, proto::DT_BOOL).first.ok());
  EXPECT_TRUE(infer("Equal", proto::DT_BOOL, proto::DT_BOOL).first.ok());
}

TEST(BinaryTable, IntegerDivisionByZeroIsAnError) {
  auto out =
      reftest::RunRef("Div", {}, {reftest::I32({2}, {4, 5}), reftest::I32({2}, {2, 0})}, {{proto::DT_INT32, {2}}});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("integer division by zero"), std::string::npos);
}

}  // namespace
}  // namespace kiln
