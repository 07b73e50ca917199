// Reference kernels of RNN, GRU and LSTM: one-unit cases computed by hand from
// the ONNX equations, and the layout / direction / sequence_lens variants checked
// against the plain forward run they must equal.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using namespace reftest;  // NOLINT: test helpers

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

Attrs Dir(const std::string& direction, Attrs a = {}) {
  a.SetString("direction", direction);
  return a;
}

std::vector<float> Floats(const Tensor& t) { return Values<float>(t); }

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double tol = 1e-5) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "element " << i;
}

// Deterministic, varied values in [-1, 1).
Tensor Wave(const Dims& dims, float phase) {
  std::vector<float> v(ElementCount(dims));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(1.7f * static_cast<float>(i) + phase);
  return F(dims, v);
}

TEST(ReferenceRecurrent, RnnOneUnitWithBiasAndInitialState) {
  // X = [1, -2] over T=2, N=1, I=1; W=0.5, R=2, Wb=0.1, Rb=0.2, h0=0.3.
  auto r = RunRef("RNN", {},
                  {F({2, 1, 1}, {1, -2}), F({1, 1, 1}, {0.5f}), F({1, 1, 1}, {2}), F({1, 2}, {0.1f, 0.2f}), Tensor(),
                   F({1, 1, 1}, {0.3f})},
                  {{proto::DT_FLOAT, {2, 1, 1, 1}}, {proto::DT_FLOAT, {1, 1, 1}}});
  ASSERT_OK(r.status());
  const double h1 = std::tanh(0.5 * 1 + 2 * 0.3 + 0.3);
  const double h2 = std::tanh(0.5 * -2 + 2 * h1 + 0.3);
  ExpectNear(Floats((*r)[0]), {h1, h2});
  ExpectNear(Floats((*r)[1]), {h2});
}

TEST(ReferenceRecurrent, RnnActivationAlphaBetaAndClip) {
  // Affine(alpha=2, beta=1) of the pre-activation clipped to [-0.5, 0.5].
  Attrs a;
  a.SetStrings("activations", {"Affine"});
  a.SetFloats("activation_alpha", {2});
  a.SetFloats("activation_beta", {1});
  a.SetFloat("clip", 0.5f);
  auto r = RunRef("RNN", a, {F({2, 1, 1}, {0.2f, 3}), F({1, 1, 1}, {1}), F({1, 1, 1}, {0.1f})},
                  {{proto::DT_FLOAT, {2, 1, 1, 1}}});
  ASSERT_OK(r.status());
  const double h1 = 2 * 0.2 + 1;                          // 0.2 is inside the clip range
  const double h2 = 2 * std::min(0.5, 3 + 0.1 * h1) + 1;  // clipped
  ExpectNear(Floats((*r)[0]), {h1, h2});
}

// GRU, one unit: W = [Wz, Wr, Wh], R = [Rz, Rr, Rh], B = [Wb(z r h), Rb(z r h)].
void CheckGru(bool linear_before_reset) {
  const double x = 0.7, h0 = -0.4;
  const double wz = 0.3, wr = -0.6, wh = 0.9, rz = 0.5, rr = 0.2, rh = -1.1;
  const double bwz = 0.1, bwr = 0.2, bwh = -0.3, brz = 0.05, brr = -0.1, brh = 0.4;
  Attrs a;
  a.SetInt("linear_before_reset", linear_before_reset ? 1 : 0);
  auto r = RunRef("GRU", a,
                  {F({1, 1, 1}, {0.7f}), F({1, 3, 1}, {0.3f, -0.6f, 0.9f}), F({1, 3, 1}, {0.5f, 0.2f, -1.1f}),
                   F({1, 6}, {0.1f, 0.2f, -0.3f, 0.05f, -0.1f, 0.4f}), Tensor(), F({1, 1, 1}, {-0.4f})},
                  {{proto::DT_FLOAT, {1, 1, 1, 1}}, {proto::DT_FLOAT, {1, 1, 1}}});
  ASSERT_OK(r.status());
  const double z = Sigmoid(x * wz + h0 * rz + bwz + brz);
  const double reset = Sigmoid(x * wr + h0 * rr + bwr + brr);
  const double candidate = linear_before_reset ? std::tanh(x * wh + bwh + reset * (h0 * rh + brh))
                                               : std::tanh(x * wh + (reset * h0) * rh + brh + bwh);
  const double h = (1 - z) * candidate + z * h0;
  ExpectNear(Floats((*r)[0]), {h});
  ExpectNear(Floats((*r)[1]), {h});
}

TEST(ReferenceRecurrent, GruOneUnitResetBeforeLinear) { CheckGru(false); }
TEST(ReferenceRecurrent, GruOneUnitLinearBeforeReset) { CheckGru(true); }

// LSTM, one unit, gates i, o, f, c; peepholes i, o, f.
void CheckLstm(bool input_forget) {
  const double x = 0.5, h0 = 0.2, c0 = -0.3;
  const double wi = 0.4, wo = -0.2, wf = 0.6, wc = 1.1, ri = 0.3, ro = 0.7, rf = -0.5, rc = 0.25;
  const double pi = 0.1, po = -0.2, pf = 0.3;
  Attrs a;
  a.SetInt("input_forget", input_forget ? 1 : 0);
  auto r =
      RunRef("LSTM", a,
             {F({1, 1, 1}, {0.5f}), F({1, 4, 1}, {0.4f, -0.2f, 0.6f, 1.1f}), F({1, 4, 1}, {0.3f, 0.7f, -0.5f, 0.25f}),
              Tensor(), Tensor(), F({1, 1, 1}, {0.2f}), F({1, 1, 1}, {-0.3f}), F({1, 3}, {0.1f, -0.2f, 0.3f})},
             {{proto::DT_FLOAT, {1, 1, 1, 1}}, {proto::DT_FLOAT, {1, 1, 1}}, {proto::DT_FLOAT, {1, 1, 1}}});
  ASSERT_OK(r.status());
  const double i = Sigmoid(x * wi + h0 * ri + pi * c0);
  const double f = input_forget ? 1 - i : Sigmoid(x * wf + h0 * rf + pf * c0);
  const double c = f * c0 + i * std::tanh(x * wc + h0 * rc);
  const double o = Sigmoid(x * wo + h0 * ro + po * c);
  const double h = o * std::tanh(c);
  ExpectNear(Floats((*r)[0]), {h});
  ExpectNear(Floats((*r)[1]), {h});
  ExpectNear(Floats((*r)[2]), {c});
}

TEST(ReferenceRecurrent, LstmOneUnitWithPeepholes) { CheckLstm(false); }
TEST(ReferenceRecurrent, LstmInputForgetCouplesTheGates) { CheckLstm(true); }

// [a, b, inner...] -> `to` with the first two dims swapped: X [T, N, I] <-> [N, T, I],
// Y [T, 1, N, H] -> [N, T, 1, H], states [1, N, H] -> [N, 1, H].
Tensor SwapOuter(const Tensor& t, int64_t a, int64_t b, const Dims& to) {
  const int64_t inner = t.num_elements() / (a * b);
  std::vector<float> in = Values<float>(t), out(in.size());
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      for (int64_t k = 0; k < inner; ++k) out[(j * a + i) * inner + k] = in[(i * b + j) * inner + k];
  return F(to, out);
}

struct Case {
  const char* op;
  int gates;
};
const Case kCases[] = {{"RNN", 1}, {"GRU", 3}, {"LSTM", 4}};
constexpr int64_t T = 4, N = 3, I = 2, H = 3;

TEST(ReferenceRecurrent, BatchFirstLayoutMatchesSequenceFirst) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.op);
    const Tensor x = Wave({T, N, I}, 0.1f), w = Wave({1, c.gates * H, I}, 0.2f), r = Wave({1, c.gates * H, H}, 0.3f);
    auto seq_first = RunRef(c.op, {}, {x, w, r}, {{proto::DT_FLOAT, {T, 1, N, H}}, {proto::DT_FLOAT, {1, N, H}}});
    auto batch_first = RunRef(c.op, IntAttr("layout", 1), {SwapOuter(x, T, N, {N, T, I}), w, r},
                              {{proto::DT_FLOAT, {N, T, 1, H}}, {proto::DT_FLOAT, {N, 1, H}}});
    ASSERT_OK(seq_first.status());
    ASSERT_OK(batch_first.status());
    EXPECT_EQ(testing::CompareTensors((*batch_first)[0], SwapOuter((*seq_first)[0], T, N, {N, T, 1, H}), 1e-6, 1e-6),
              "");
    EXPECT_EQ(testing::CompareTensors((*batch_first)[1], SwapOuter((*seq_first)[1], 1, N, {N, 1, H}), 1e-6, 1e-6), "");
  }
}

// Reverses the time axis (dim 0) of [T, ...].
Tensor ReverseTime(const Tensor& t) {
  const int64_t steps = t.dims()[0], inner = t.num_elements() / steps;
  std::vector<float> in = Values<float>(t), out(in.size());
  for (int64_t s = 0; s < steps; ++s)
    for (int64_t k = 0; k < inner; ++k) out[(steps - 1 - s) * inner + k] = in[s * inner + k];
  return F(t.dims(), out);
}

TEST(ReferenceRecurrent, ReverseIsForwardOverReversedTimeAndBidirectionalStacksBoth) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.op);
    const Tensor x = Wave({T, N, I}, 0.4f);
    const Tensor w2 = Wave({2, c.gates * H, I}, 0.5f), r2 = Wave({2, c.gates * H, H}, 0.6f);
    const int64_t per_dir_w = c.gates * H * I, per_dir_r = c.gates * H * H;
    auto half = [](const Tensor& t, int64_t per, int d) {
      std::vector<float> v = Values<float>(t);
      Dims dims = t.dims();
      dims[0] = 1;
      return F(dims, std::vector<float>(v.begin() + d * per, v.begin() + (d + 1) * per));
    };
    const std::vector<OutSpec> one = {{proto::DT_FLOAT, {T, 1, N, H}}, {proto::DT_FLOAT, {1, N, H}}};
    auto fwd = RunRef(c.op, {}, {x, half(w2, per_dir_w, 0), half(r2, per_dir_r, 0)}, one);
    auto rev = RunRef(c.op, Dir("reverse"), {x, half(w2, per_dir_w, 1), half(r2, per_dir_r, 1)}, one);
    auto fwd_of_reversed = RunRef(c.op, {}, {ReverseTime(x), half(w2, per_dir_w, 1), half(r2, per_dir_r, 1)}, one);
    auto both = RunRef(c.op, Dir("bidirectional"), {x, w2, r2},
                       {{proto::DT_FLOAT, {T, 2, N, H}}, {proto::DT_FLOAT, {2, N, H}}});
    ASSERT_OK(fwd.status());
    ASSERT_OK(rev.status());
    ASSERT_OK(fwd_of_reversed.status());
    ASSERT_OK(both.status());
    EXPECT_EQ(testing::CompareTensors((*rev)[0], ReverseTime((*fwd_of_reversed)[0]), 1e-6, 1e-6), "");
    EXPECT_EQ(testing::CompareTensors((*rev)[1], (*fwd_of_reversed)[1], 1e-6, 1e-6), "");
    // Y [T, 2, N, H]: direction 0 is the forward run, direction 1 the reverse one.
    const std::vector<float> y = Values<float>((*both)[0]), f = Values<float>((*fwd)[0]), b = Values<float>((*rev)[0]);
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t k = 0; k < N * H; ++k) {
        EXPECT_EQ(y[(t * 2 + 0) * N * H + k], f[t * N * H + k]);
        EXPECT_EQ(y[(t * 2 + 1) * N * H + k], b[t * N * H + k]);
      }
    }
    std::vector<float> states = Values<float>((*fwd)[1]);
    const std::vector<float> rev_state = Values<float>((*rev)[1]);
    states.insert(states.end(), rev_state.begin(), rev_state.end());
    EXPECT_EQ(Values<float>((*both)[1]), states);
  }
}

TEST(ReferenceRecurrent, SequenceLensStopEachRowAndZeroTheRest) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.op);
    for (const char* direction : {"forward", "reverse"}) {
      SCOPED_TRACE(direction);
      // Row 1 of X [T, 2, I] is 2 steps long; run alone, it must give the same states.
      const Tensor x = Wave({T, 2, I}, 0.7f), w = Wave({1, c.gates * H, I}, 0.8f), r = Wave({1, c.gates * H, H}, 0.9f);
      auto padded = RunRef(c.op, Dir(direction), {x, w, r, Tensor(), I32({2}, {T, 2})},
                           {{proto::DT_FLOAT, {T, 1, 2, H}}, {proto::DT_FLOAT, {1, 2, H}}});
      std::vector<float> xv = Values<float>(x), row;
      for (int64_t t = 0; t < 2; ++t) row.insert(row.end(), xv.begin() + (t * 2 + 1) * I, xv.begin() + (t * 2 + 2) * I);
      auto alone = RunRef(c.op, Dir(direction), {F({2, 1, I}, row), w, r},
                          {{proto::DT_FLOAT, {2, 1, 1, H}}, {proto::DT_FLOAT, {1, 1, H}}});
      ASSERT_OK(padded.status());
      ASSERT_OK(alone.status());
      const std::vector<float> y = Values<float>((*padded)[0]), y_alone = Values<float>((*alone)[0]);
      for (int64_t t = 0; t < T; ++t) {
        for (int64_t j = 0; j < H; ++j) {
          const float got = y[(t * 2 + 1) * H + j];
          if (t < 2) {
            EXPECT_NEAR(got, y_alone[t * H + j], 1e-6);
          } else {
            EXPECT_EQ(got, 0.0f) << "t=" << t;
          }
        }
      }
      const std::vector<float> state = Values<float>((*padded)[1]), state_alone = Values<float>((*alone)[1]);
      for (int64_t j = 0; j < H; ++j) EXPECT_NEAR(state[H + j], state_alone[j], 1e-6);
    }
  }
}

TEST(ReferenceRecurrent, RejectsSequenceLensOutsideTheSequence) {
  const Tensor x = Wave({T, 2, I}, 0.1f), w = Wave({1, H, I}, 0.2f), r = Wave({1, H, H}, 0.3f);
  for (int32_t bad : {0, static_cast<int32_t>(T + 1)}) {
    auto result = RunRef("RNN", {}, {x, w, r, Tensor(), I32({2}, {1, bad})}, {{proto::DT_FLOAT, {T, 1, 2, H}}});
    ASSERT_FALSE(result.ok());
    EXPECT_NE(result.status().message().find("sequence_lens[1] = " + std::to_string(bad) + " is outside [1, 4]"),
              std::string::npos)
        << result.status().message();
  }
}

TEST(ReferenceRecurrent, Float64MatchesFloat32) {
  const Tensor x = Wave({T, N, I}, 0.1f), w = Wave({1, 4 * H, I}, 0.2f), r = Wave({1, 4 * H, H}, 0.3f);
  auto to_double = [](const Tensor& t) {
    std::vector<float> v = Values<float>(t);
    return D(t.dims(), std::vector<double>(v.begin(), v.end()));
  };
  auto single = RunRef("LSTM", {}, {x, w, r}, {{proto::DT_FLOAT, {T, 1, N, H}}});
  auto dbl = RunRef("LSTM", {}, {to_double(x), to_double(w), to_double(r)}, {{proto::DT_DOUBLE, {T, 1, N, H}}});
  ASSERT_OK(single.status());
  ASSERT_OK(dbl.status());
  const std::vector<float> s = Values<float>((*single)[0]);
  const std::vector<double> d = Values<double>((*dbl)[0]);
  for (size_t i = 0; i < s.size(); ++i) EXPECT_NEAR(s[i], d[i], 1e-6);
}

}  // namespace
}  // namespace kiln
