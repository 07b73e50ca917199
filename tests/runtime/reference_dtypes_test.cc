// The dtypes of ir/core/dtypes.def through the reference kernels: Cast between every pair,
// arithmetic and comparisons on the 16-bit integers and the unsigned ones, bfloat16 widened to
// float32, and the clear error for the ONNX types Kiln does not compute with.
#include <cmath>
#include <limits>

#include "ir/core/dtype.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::RunRef;
using reftest::Values;

template <typename T>
Tensor Of(DType dtype, const std::vector<T>& v) {
  return Tensor::FromVector(dtype, {static_cast<int64_t>(v.size())}, v);
}

TEST(DTypeTable, RowsAreConsistent) {
  for (const DTypeInfo& row : DTypeTable()) {
    EXPECT_EQ(DTypeName(row.dtype), row.name);
    EXPECT_EQ(*ParseDType(row.name), row.dtype);
    EXPECT_EQ(*DTypeFromOnnx(row.onnx), row.dtype) << row.name;
    EXPECT_EQ(DTypeToOnnx(row.dtype), row.onnx);
    EXPECT_GT(row.size, 0);
  }
  // Every enum value of ir/kiln.proto but DT_UNDEFINED has its row.
  for (int d = proto::DataType_MIN; d <= proto::DataType_MAX; ++d) {
    if (d != proto::DT_UNDEFINED) {
      EXPECT_NE(FindDType(static_cast<DType>(d)), nullptr) << d;
    }
  }
  EXPECT_EQ(DTypeSize(proto::DT_BFLOAT16), 2);
  EXPECT_EQ(DTypeSize(proto::DT_UINT64), 8);
  EXPECT_TRUE(IsFloatingType(proto::DT_BFLOAT16));
  EXPECT_TRUE(IsIntegerType(proto::DT_UINT32));
  EXPECT_FALSE(IsSignedIntegerType(proto::DT_UINT16));
}

TEST(DTypeTable, OutOfScopeOnnxTypesNameThemselves) {
  for (int onnx : {8, 14, 17, 21, 22, 23, 26}) {
    auto d = DTypeFromOnnx(onnx);
    ASSERT_FALSE(d.ok());
    EXPECT_NE(d.status().message().find("unsupported dtype " + OnnxDTypeName(onnx)), std::string::npos)
        << d.status().message();
  }
  EXPECT_EQ(OnnxDTypeName(17), "FLOAT8E4M3FN");
  EXPECT_EQ(OnnxDTypeName(99), "type 99");
}

TEST(DTypeTable, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(FloatToBFloat16(1.0f), 0x3f80);
  EXPECT_EQ(BFloat16ToFloat(0x3f80), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even significand (1).
  EXPECT_EQ(FloatToBFloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(FloatToBFloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_TRUE(std::isinf(BFloat16ToFloat(FloatToBFloat16(3.4e38f))));  // rounds up past the largest bfloat16
}

TEST(DTypeTable, ElementAccessCoversEveryType) {
  const Tensor u64 = Of<uint64_t>(proto::DT_UINT64, {7, uint64_t{1} << 40});
  EXPECT_EQ(u64.GetAsInt64(1), int64_t{1} << 40);
  EXPECT_EQ(u64.GetAsDouble(0), 7.0);
  const Tensor bf = Of<uint16_t>(proto::DT_BFLOAT16, {FloatToBFloat16(-2.5f)});
  EXPECT_EQ(bf.GetAsDouble(0), -2.5);
  EXPECT_EQ(bf.GetAsInt64(0), -2);
  const Tensor i16 = Of<int16_t>(proto::DT_INT16, {-300});
  EXPECT_EQ(i16.GetAsInt64(0), -300);
}

TEST(ReferenceDTypes, CastBetweenEveryPair) {
  // 0, 1, 3 and 100 are exact in every type; casting there and back keeps them.
  const std::vector<double> values = {0, 1, 3, 100};
  for (const DTypeInfo& from : DTypeTable()) {
    for (const DTypeInfo& to : DTypeTable()) {
      if (from.kind == DTypeKind::kBool || to.kind == DTypeKind::kBool) continue;
      auto src = RunRef("Cast", reftest::IntAttr("to", from.onnx), {Of<double>(proto::DT_DOUBLE, values)},
                        {{from.dtype, {4}}});
      ASSERT_OK(src.status());
      auto dst = RunRef("Cast", reftest::IntAttr("to", to.onnx), {(*src)[0]}, {{to.dtype, {4}}});
      ASSERT_TRUE(dst.ok()) << from.name << " -> " << to.name << ": " << dst.status().message();
      for (int i = 0; i < 4; ++i) EXPECT_EQ((*dst)[0].GetAsDouble(i), values[i]) << from.name << " -> " << to.name;
    }
  }
}

TEST(ReferenceDTypes, CastKeepsLargeUnsignedAndWrapsIntegers) {
  const uint64_t big = (uint64_t{1} << 63) + 2048;  // above int64's range, exact in double
  auto f =
      RunRef("Cast", reftest::IntAttr("to", 11), {Of<uint64_t>(proto::DT_UINT64, {big})}, {{proto::DT_DOUBLE, {1}}});
  ASSERT_OK(f.status());
  EXPECT_EQ(Values<double>((*f)[0])[0], static_cast<double>(big));
  auto w =
      RunRef("Cast", reftest::IntAttr("to", 4), {Of<int32_t>(proto::DT_INT32, {-1, 65537})}, {{proto::DT_UINT16, {2}}});
  ASSERT_OK(w.status());
  EXPECT_EQ(Values<uint16_t>((*w)[0]), (std::vector<uint16_t>{65535, 1}));
}

TEST(ReferenceDTypes, ArithmeticOnSmallAndUnsignedIntegers) {
  auto add = RunRef("Add", {}, {Of<uint16_t>(proto::DT_UINT16, {65535, 2}), Of<uint16_t>(proto::DT_UINT16, {1, 3})},
                    {{proto::DT_UINT16, {2}}});
  ASSERT_OK(add.status());
  EXPECT_EQ(Values<uint16_t>((*add)[0]), (std::vector<uint16_t>{0, 5}));  // wraps
  auto sub = RunRef("Sub", {}, {Of<int16_t>(proto::DT_INT16, {-32768, 5}), Of<int16_t>(proto::DT_INT16, {1, 7})},
                    {{proto::DT_INT16, {2}}});
  ASSERT_OK(sub.status());
  EXPECT_EQ(Values<int16_t>((*sub)[0]), (std::vector<int16_t>{32767, -2}));
  auto div =
      RunRef("Div", {}, {Of<uint32_t>(proto::DT_UINT32, {4000000000u, 7}), Of<uint32_t>(proto::DT_UINT32, {3, 2})},
             {{proto::DT_UINT32, {2}}});
  ASSERT_OK(div.status());
  EXPECT_EQ(Values<uint32_t>((*div)[0]), (std::vector<uint32_t>{1333333333u, 3}));
  const uint64_t big = ~uint64_t{0};
  auto max = RunRef("Max", {}, {Of<uint64_t>(proto::DT_UINT64, {big, 1}), Of<uint64_t>(proto::DT_UINT64, {2, 3})},
                    {{proto::DT_UINT64, {2}}});
  ASSERT_OK(max.status());
  EXPECT_EQ(Values<uint64_t>((*max)[0]), (std::vector<uint64_t>{big, 3}));
  auto less = RunRef("Less", {}, {Of<uint64_t>(proto::DT_UINT64, {big, 1}), Of<uint64_t>(proto::DT_UINT64, {2, 3})},
                     {{proto::DT_BOOL, {2}}});
  ASSERT_OK(less.status());
  EXPECT_EQ(Values<uint8_t>((*less)[0]), (std::vector<uint8_t>{0, 1}));
}

TEST(ReferenceDTypes, BFloat16ComputesInFloat32) {
  const Tensor a = Of<uint16_t>(proto::DT_BFLOAT16, {FloatToBFloat16(1.5f), FloatToBFloat16(-2.0f)});
  const Tensor b = Of<uint16_t>(proto::DT_BFLOAT16, {FloatToBFloat16(0.25f), FloatToBFloat16(3.0f)});
  auto mul = RunRef("Mul", {}, {a, b}, {{proto::DT_BFLOAT16, {2}}});
  ASSERT_OK(mul.status());
  EXPECT_EQ(BFloat16ToFloat(Values<uint16_t>((*mul)[0])[0]), 0.375f);
  EXPECT_EQ(BFloat16ToFloat(Values<uint16_t>((*mul)[0])[1]), -6.0f);
  auto relu = RunRef("Relu", {}, {a}, {{proto::DT_BFLOAT16, {2}}});
  ASSERT_OK(relu.status());
  EXPECT_EQ(BFloat16ToFloat(Values<uint16_t>((*relu)[0])[1]), 0.0f);
}

TEST(ReferenceDTypes, UnsupportedTypeNamesItAndTheSupportedOnes) {
  // Neg is defined for signed types only: uint32 gets a message, not garbage.
  auto neg = RunRef("Neg", {}, {Of<uint32_t>(proto::DT_UINT32, {1})}, {{proto::DT_UINT32, {1}}});
  ASSERT_FALSE(neg.ok());
  EXPECT_NE(neg.status().message().find("input type uint32 is not supported (supported: float32, float64, int8, int16"),
            std::string::npos)
      << neg.status().message();
}

}  // namespace
}  // namespace kiln
