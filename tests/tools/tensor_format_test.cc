// `kiln run`'s tensor printing (tools/common/tensor_format.h): every DataType of the IR
// prints its values (numpy style), none as "?".
#include "tools/common/tensor_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "runtime/kernels/reference/ref_util.h"

namespace kiln {
namespace {

template <typename T>
std::string Format(DType dtype, const std::vector<T>& values) {
  return cli::FormatTensorValues(Tensor::FromVector(dtype, {static_cast<int64_t>(values.size())}, values).ref());
}

std::vector<uint16_t> Halves(const std::vector<float>& v) {
  std::vector<uint16_t> h;
  for (float x : v) h.push_back(runtime::ref::FloatToHalf(x));
  return h;
}

TEST(TensorFormatTest, EveryDTypePrintsItsValues) {
  EXPECT_EQ(Format<float>(proto::DT_FLOAT, {1.5f, -2.0f, 0.1f}), "[1.5, -2., 0.1]");
  EXPECT_EQ(Format<double>(proto::DT_DOUBLE, {1.5, -2.0, 1e-10}), "[1.5, -2., 1e-10]");
  EXPECT_EQ(Format<uint16_t>(proto::DT_FLOAT16, Halves({1.5f, -2.0f, 0.1f, 65504.0f, 0.0f})),
            "[1.5, -2., 0.1, 6.55e+04, 0.]");
  EXPECT_EQ(Format<int64_t>(proto::DT_INT64, {INT64_MIN, 0, INT64_MAX}),
            "[-9223372036854775808, 0, 9223372036854775807]");
  EXPECT_EQ(Format<int32_t>(proto::DT_INT32, {INT32_MIN, 7}), "[-2147483648, 7]");
  EXPECT_EQ(Format<int8_t>(proto::DT_INT8, {-128, 127}), "[-128, 127]");
  EXPECT_EQ(Format<uint8_t>(proto::DT_UINT8, {0, 255}), "[0, 255]");
  EXPECT_EQ(Format<uint8_t>(proto::DT_BOOL, {1, 0}), "[True, False]");
}

TEST(TensorFormatTest, Float16SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(Format<uint16_t>(proto::DT_FLOAT16, Halves({inf, -inf, std::nanf("")})), "[inf, -inf, nan]");
  // The smallest subnormal half (2^-24); the fewest digits that read back as the same half
  // (3.140625 is the half nearest 3.14; its neighbour 3.142578125 needs 4 digits), as numpy.
  EXPECT_EQ(Format<uint16_t>(proto::DT_FLOAT16, {uint16_t{1}}), "[6e-08]");
  EXPECT_EQ(Format<uint16_t>(proto::DT_FLOAT16, Halves({3.140625f, 3.142578125f})), "[3.14, 3.143]");
}

TEST(TensorFormatTest, EveryDTypeOfTheIrIsCovered) {
  // A new DataType must be printable: nothing but DT_UNDEFINED gives "?".
  for (int d = proto::DataType_MIN; d <= proto::DataType_MAX; ++d) {
    if (!proto::DataType_IsValid(d) || d == proto::DT_UNDEFINED) continue;
    const DType dtype = static_cast<DType>(d);
    Tensor t(dtype, {2});  // zeros
    const std::string s = cli::FormatTensorValues(t.ref());
    EXPECT_EQ(s.find('?'), std::string::npos) << DTypeName(dtype) << ": " << s;
  }
}

}  // namespace
}  // namespace kiln
