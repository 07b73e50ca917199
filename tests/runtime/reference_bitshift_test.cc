// BitShift and BitwiseNot (ir/core/ops/bitwise.cc): every integer width, numpy broadcasting,
// the cases C++ leaves undefined (signed right shifts, negative and too-wide shift amounts).
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::RunRef;
using reftest::Values;

template <typename T>
std::vector<T> Shift(const char* direction, DType dtype, Dims xd, std::vector<T> x, Dims yd, std::vector<T> y,
                     Dims zd) {
  Attrs attrs;
  attrs.SetString("direction", direction);
  auto z = RunRef("BitShift", attrs,
                  {Tensor::FromVector<T>(dtype, std::move(xd), x), Tensor::FromVector<T>(dtype, std::move(yd), y)},
                  {{dtype, std::move(zd)}});
  EXPECT_TRUE(z.ok()) << z.status().message();
  return z.ok() ? Values<T>((*z)[0]) : std::vector<T>{};
}

TEST(ReferenceBitShift, UnsignedLeftAndRightWithBroadcasting) {
  EXPECT_EQ(Shift<uint8_t>("LEFT", proto::DT_UINT8, {2, 2}, {16, 4, 1, 255}, {2}, {1, 2}, {2, 2}),
            (std::vector<uint8_t>{32, 16, 2, 252}));
  EXPECT_EQ(Shift<uint64_t>("RIGHT", proto::DT_UINT64, {2}, {~uint64_t{0}, 8}, {}, {63}, {2}),
            (std::vector<uint64_t>{1, 0}));
  EXPECT_EQ(Shift<uint16_t>("LEFT", proto::DT_UINT16, {3}, {1, 1, 3}, {3}, {15, 16, 200}, {3}),
            (std::vector<uint16_t>{0x8000, 0, 0}));
}

TEST(ReferenceBitShift, SignedShiftsAreArithmeticAndOutOfRangeAmountsShiftEverythingOut) {
  EXPECT_EQ(Shift<int8_t>("RIGHT", proto::DT_INT8, {3}, {-8, -1, -128}, {}, {1}, {3}),
            (std::vector<int8_t>{-4, -1, -64}));
  EXPECT_EQ(Shift<int8_t>("LEFT", proto::DT_INT8, {3}, {64, 1, -64}, {3}, {1, 7, 1}, {3}),
            (std::vector<int8_t>{-128, -128, -128}));
  EXPECT_EQ(Shift<int32_t>("LEFT", proto::DT_INT32, {3}, {-8, 4, -1}, {3}, {-1, 32, 100}, {3}),
            (std::vector<int32_t>{0, 0, 0}));
  EXPECT_EQ(Shift<int64_t>("RIGHT", proto::DT_INT64, {3}, {-8, 4, -1}, {3}, {-1, 64, 100}, {3}),
            (std::vector<int64_t>{-1, 0, -1}));
}

TEST(ReferenceBitShift, NotFlipsEveryBit) {
  auto u16 = RunRef("BitwiseNot", {}, {Tensor::FromVector<uint16_t>(proto::DT_UINT16, {2}, {0, 0x00ff})},
                    {{proto::DT_UINT16, {2}}});
  ASSERT_OK(u16.status());
  EXPECT_EQ(Values<uint16_t>((*u16)[0]), (std::vector<uint16_t>{0xffff, 0xff00}));
  auto i32 = RunRef("BitwiseNot", {}, {Tensor::FromVector<int32_t>(proto::DT_INT32, {3}, {0, -1, 5})},
                    {{proto::DT_INT32, {3}}});
  ASSERT_OK(i32.status());
  EXPECT_EQ(Values<int32_t>((*i32)[0]), (std::vector<int32_t>{-1, 0, -6}));
  EXPECT_FALSE(RunRef("BitwiseNot", {}, {reftest::F({1}, {1})}, {{proto::DT_FLOAT, {1}}}).ok());
}

}  // namespace
}  // namespace kiln
