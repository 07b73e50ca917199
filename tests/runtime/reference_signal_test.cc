// Reference kernels of the signal ops (windows, DFT, RotaryEmbedding) and BitCast,
// against hand-computed values.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using reftest::ExpectRef;
using reftest::F;
using reftest::I64;
using reftest::IntAttr;
using reftest::RunRef;
using reftest::Values;

constexpr double kPi = 3.14159265358979323846;

TEST(ReferenceSignal, WindowsFollowTheirCosineSums) {
  // Periodic Hann of 4: 0.5 - 0.5 cos(pi n / 2) = 0, 0.5, 1, 0.5.
  ExpectRef("HannWindow", {}, {I64({}, {4})}, {4}, {0, 0.5f, 1, 0.5f});
  // Symmetric Hamming of 3: N = 2, 25/46 - 21/46 cos(pi n).
  ExpectRef("HammingWindow", IntAttr("periodic", 0), {I64({}, {3})}, {3}, {4 / 46.0f, 1, 4 / 46.0f});
  std::vector<float> blackman(5);
  for (int n = 0; n < 5; ++n) {
    blackman[n] = static_cast<float>(0.42 - 0.5 * std::cos(2 * kPi * n / 5) + 0.08 * std::cos(4 * kPi * n / 5));
  }
  ExpectRef("BlackmanWindow", {}, {I64({}, {5})}, {5}, blackman);
  auto as_double = RunRef("HannWindow", IntAttr("output_datatype", 11), {I64({}, {2})}, {{proto::DT_DOUBLE, {2}}});
  ASSERT_OK(as_double.status());
  EXPECT_EQ(Values<double>((*as_double)[0]), (std::vector<double>{0, 1}));
}

TEST(ReferenceSignal, DftForwardInverseOnesidedAndLength) {
  // [1, 2, 3, 4] along axis 1 of [1, 4, 1]: 10, -2 + 2i, -2, -2 - 2i.
  const Tensor x = F({1, 4, 1}, {1, 2, 3, 4});
  ExpectRef("DFT", {}, {x}, {1, 4, 2}, {10, 0, -2, 2, -2, 0, -2, -2});
  ExpectRef("DFT", IntAttr("onesided", 1), {x}, {1, 3, 2}, {10, 0, -2, 2, -2, 0});
  // Inverse of the full spectrum gives the signal back (imaginary parts 0).
  ExpectRef("DFT", IntAttr("inverse", 1), {F({1, 4, 2}, {10, 0, -2, 2, -2, 0, -2, -2})}, {1, 4, 2},
            {1, 0, 2, 0, 3, 0, 4, 0});
  // irfft: the one-sided spectrum back to the 4 real values; odd length 5 too.
  Attrs irfft = IntAttr("onesided", 1, IntAttr("inverse", 1));
  ExpectRef("DFT", irfft, {F({1, 3, 2}, {10, 0, -2, 2, -2, 0})}, {1, 4, 1}, {1, 2, 3, 4});
  const Tensor odd = F({1, 5, 1}, {1, -2, 0.5f, 3, 1});
  auto spectrum = RunRef("DFT", IntAttr("onesided", 1), {odd}, {{proto::DT_FLOAT, {1, 3, 2}}});
  ASSERT_OK(spectrum.status());
  ExpectRef("DFT", irfft, {(*spectrum)[0], I64({}, {5})}, {1, 5, 1}, {1, -2, 0.5f, 3, 1});
  // dft_length 2 truncates: [1, 2] -> 3, -1; along axis 2 of a [1, 1, 4, 1] signal.
  ExpectRef("DFT", IntAttr("axis", 2), {F({1, 1, 4, 1}, {1, 2, 3, 4}), I64({}, {2})}, {1, 1, 2, 2}, {3, 0, -1, 0});
  // The axis as an input (DFT 20) wins over the attribute.
  ExpectRef("DFT", {}, {F({1, 1, 4, 1}, {1, 2, 3, 4}), Tensor(), I64({}, {-2})}, {1, 1, 4, 2},
            {10, 0, -2, 2, -2, 0, -2, -2});
}

TEST(ReferenceSignal, RotaryEmbeddingRotatesHalvesOrPairsByPosition) {
  // One head of 4, two positions; position 1's angle is 90 degrees (cos 0, sin 1).
  const Tensor x = F({1, 1, 2, 4}, {1, 2, 3, 4, 1, 2, 3, 4});
  const Tensor cos = F({2, 2}, {1, 1, 0, 0}), sin = F({2, 2}, {0, 0, 1, 1});
  const Tensor positions = I64({1, 2}, {0, 1});
  // Halves (x1 = [1, 2], x2 = [3, 4]): position 0 unchanged; position 1: (-x2, x1).
  ExpectRef("RotaryEmbedding", {}, {x, cos, sin, positions}, {1, 1, 2, 4}, {1, 2, 3, 4, -3, -4, 1, 2});
  // Interleaved pairs (1, 2), (3, 4): position 1 gives (-2, 1), (-4, 3).
  ExpectRef("RotaryEmbedding", IntAttr("interleaved", 1), {x, cos, sin, positions}, {1, 1, 2, 4},
            {1, 2, 3, 4, -2, 1, -4, 3});
  // Only the first 2 elements rotate: caches of 1 angle.
  ExpectRef("RotaryEmbedding", IntAttr("rotary_embedding_dim", 2), {x, F({2, 1}, {1, 0}), F({2, 1}, {0, 1}), positions},
            {1, 1, 2, 4}, {1, 2, 3, 4, -2, 1, 3, 4});
  auto bad = RunRef("RotaryEmbedding", {}, {x, cos, sin, I64({1, 2}, {0, 2})}, {{proto::DT_FLOAT, {1, 1, 2, 4}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("position_ids[0, 1] = 2 is outside the caches' [0, 2)"), std::string::npos)
      << bad.status().message();
}

TEST(ReferenceSignal, BitCastKeepsTheBytes) {
  auto r = RunRef("BitCast", IntAttr("to", 6), {F({2}, {1.0f, -2.0f})}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{0x3f800000, static_cast<int32_t>(0xc0000000)}));
}

}  // namespace
}  // namespace kiln
