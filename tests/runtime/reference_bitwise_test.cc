// BitwiseAnd, BitwiseOr, BitwiseXor (ir/core/ops/binary.def): integer types of every width, numpy broadcasting,
// floats refused by shape inference.
#include "ir/core/op_registry.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::RunRef;
using reftest::Values;

TEST(ReferenceBitwise, AndOnEveryIntegerWidth) {
  auto i16 = RunRef("BitwiseAnd", {},
                    {Tensor::FromVector<int16_t>(proto::DT_INT16, {2, 2}, {-1, 6, 0x7f0f, -32768}),
                     Tensor::FromVector<int16_t>(proto::DT_INT16, {2}, {0x00ff, 3})},
                    {{proto::DT_INT16, {2, 2}}});
  ASSERT_OK(i16.status());
  EXPECT_EQ(Values<int16_t>((*i16)[0]), (std::vector<int16_t>{0x00ff, 2, 0x000f, 0}));
  const uint64_t high = (uint64_t{1} << 63) | 5;
  auto u64 = RunRef("BitwiseAnd", {},
                    {Tensor::FromVector<uint64_t>(proto::DT_UINT64, {2}, {high, 12}),
                     Tensor::FromVector<uint64_t>(proto::DT_UINT64, {}, {~uint64_t{0} - 1})},
                    {{proto::DT_UINT64, {2}}});
  ASSERT_OK(u64.status());
  EXPECT_EQ(Values<uint64_t>((*u64)[0]), (std::vector<uint64_t>{high - 1, 12}));
}

TEST(ReferenceBitwise, OrAndXor) {
  const Tensor a = Tensor::FromVector<uint8_t>(proto::DT_UINT8, {3}, {0xf0, 0x0f, 0xff});
  const Tensor b = Tensor::FromVector<uint8_t>(proto::DT_UINT8, {3}, {0x0f, 0x0f, 0x01});
  auto bor = RunRef("BitwiseOr", {}, {a, b}, {{proto::DT_UINT8, {3}}});
  ASSERT_OK(bor.status());
  EXPECT_EQ(Values<uint8_t>((*bor)[0]), (std::vector<uint8_t>{0xff, 0x0f, 0xff}));
  auto bxor = RunRef("BitwiseXor", {}, {a, b}, {{proto::DT_UINT8, {3}}});
  ASSERT_OK(bxor.status());
  EXPECT_EQ(Values<uint8_t>((*bxor)[0]), (std::vector<uint8_t>{0xff, 0x00, 0xfe}));
}

TEST(ReferenceBitwise, FloatsAreRefused) {
  std::vector<ShapeInput> in(2);
  in[0] = {true, TensorType{proto::DT_FLOAT, {2}}, nullptr};
  in[1] = {true, TensorType{proto::DT_FLOAT, {2}}, nullptr};
  Attrs attrs;
  InferContext ctx("n (BitwiseAnd)", attrs, std::move(in), 1);
  Status st = FindOpDef("BitwiseAnd")->infer_shape(ctx);
  EXPECT_NE(st.message().find("input 0 has type float32 but needs an integer type"), std::string::npos) << st.message();
  auto run = RunRef("BitwiseAnd", {}, {reftest::F({1}, {1}), reftest::F({1}, {1})}, {{proto::DT_FLOAT, {1}}});
  EXPECT_FALSE(run.ok());
}

}  // namespace
}  // namespace kiln
