// Initializers: every kind's statistics, determinism, graph `parameter`s and
// the per-layer kernel/bias/gamma/beta initializers.
#include "frontends/text/initializers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "compiler/pass.h"
#include "frontends/load_model.h"
#include "google/protobuf/text_format.h"
#include "ir/verifier.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

StatusOr<Model> Import(const std::string& text) {
  proto::Model m;
  if (!google::protobuf::TextFormat::ParseFromString(text, &m)) return InvalidArgument("test model does not parse");
  return ImportKilnModel(m, "model.kiln.txt");
}

// The message of a failed import ("" when it succeeds, so EXPECT_EQ shows it).
std::string ImportError(const std::string& text) {
  auto m = Import(text);
  return m.ok() ? "" : m.status().message();
}

constexpr char kInput4[] = R"(input { name: "x" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } })";
constexpr char kImage[] = R"(
  input { name: "image" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 3 } dims { size: 8 } dims { size: 8 } })";

std::string GraphWith(const std::string& body) { return std::string("graph { ") + kInput4 + body + " }"; }

// A graph holding one parameter `p` declared by `decl` (its fields after the name).
std::string ParamGraph(const std::string& decl) { return "graph { parameter { name: \"p\" " + decl + " } }"; }

struct Stats {
  double mean = 0, stddev = 0, min = std::numeric_limits<double>::infinity(),
         max = -std::numeric_limits<double>::infinity();
  double beyond = 0;  // fraction of values more than 2 stddev from the mean
};
Stats StatsOf(const Tensor& t) {
  Stats s;
  const float* p = t.data_as<float>();
  const double n = static_cast<double>(t.num_elements());
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    sum += p[i];
    s.min = std::min<double>(s.min, p[i]);
    s.max = std::max<double>(s.max, p[i]);
  }
  s.mean = sum / n;
  for (int64_t i = 0; i < t.num_elements(); ++i) sum_sq += (p[i] - s.mean) * (p[i] - s.mean);
  s.stddev = std::sqrt(sum_sq / n);
  for (int64_t i = 0; i < t.num_elements(); ++i) s.beyond += std::fabs(p[i] - s.mean) > 2 * s.stddev;
  s.beyond /= n;
  return s;
}

bool SameBytes(const Tensor& a, const Tensor& b) {
  return a.dims() == b.dims() && std::memcmp(a.data(), b.data(), a.num_bytes()) == 0;
}

// The tensor of parameter `p` in a graph declared by ParamGraph(decl).
Tensor ParamTensor(const std::string& decl) {
  auto m = Import(ParamGraph(decl));
  EXPECT_TRUE(m.ok()) << m.status().message();
  if (!m.ok()) return Tensor();
  Value* v = m->graph->FindValue("p");
  EXPECT_TRUE(v && v->is_parameter());
  return v ? v->constant() : Tensor();
}

constexpr double kTruncatedStd = 0.87962566103423978;  // stddev of N(0, 1) truncated at +-2

TEST(InitializersTest, EveryKindHasItsStatistics) {
  struct Case {
    std::string decl;
    double mean, stddev;  // expected
    double lo, hi;        // every value in [lo, hi]
  };
  const double he_std = std::sqrt(2.0 / 400), glorot_std = std::sqrt(2.0 / 650);
  const double he_limit = std::sqrt(6.0 / 400), glorot_limit = std::sqrt(6.0 / 650);
  // Conv weight [M=64, C=32, 5, 5]: fan_in 32*25, fan_out 64*25.
  const double conv_limit = std::sqrt(6.0 / (800 + 1600));
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<Case> cases = {
      {R"(dims: [400, 250] init { kind: "he_normal" })", 0, he_std, -2 * he_std / kTruncatedStd,
       2 * he_std / kTruncatedStd},
      {R"(dims: [400, 250] init { kind: "he_uniform" })", 0, he_limit / std::sqrt(3.0), -he_limit, he_limit},
      {R"(dims: [400, 250] init { kind: "glorot_normal" })", 0, glorot_std, -2 * glorot_std / kTruncatedStd,
       2 * glorot_std / kTruncatedStd},
      {R"(dims: [400, 250] init { kind: "xavier_normal" })", 0, glorot_std, -2 * glorot_std / kTruncatedStd,
       2 * glorot_std / kTruncatedStd},
      {R"(dims: [400, 250] init { kind: "glorot_uniform" })", 0, glorot_limit / std::sqrt(3.0), -glorot_limit,
       glorot_limit},
      {R"(dims: [400, 250] init { kind: "xavier_uniform" })", 0, glorot_limit / std::sqrt(3.0), -glorot_limit,
       glorot_limit},
      {R"(dims: [400, 250])", 0, glorot_limit / std::sqrt(3.0), -glorot_limit, glorot_limit},  // the default
      {R"(dims: [64, 32, 5, 5] init { kind: "glorot_uniform" })", 0, conv_limit / std::sqrt(3.0), -conv_limit,
       conv_limit},
      {R"(dims: [64, 32, 5, 5] init { kind: "he_normal" })", 0, std::sqrt(2.0 / 800), -inf, inf},
      {R"(dims: [100000] init { kind: "he_uniform" })", 0, std::sqrt(6.0 / 100000) / std::sqrt(3.0),
       -std::sqrt(6.0 / 100000), std::sqrt(6.0 / 100000)},
      {R"(dims: [400, 250] fan_in: 6 init { kind: "he_uniform" })", 0, 1 / std::sqrt(3.0), -1, 1},
      {R"(dims: [400, 250] fan_in: 100 fan_out: 200 init { kind: "glorot_normal" })", 0, std::sqrt(2.0 / 300), -inf,
       inf},
      {R"(dims: [400, 250] init { kind: "truncated_normal" })", 0, 0.05 * kTruncatedStd, -0.1, 0.1},
      {R"(dims: [400, 250] init { kind: "truncated_normal" mean: 1 stddev: 0.5 })", 1, 0.5 * kTruncatedStd, 0, 2},
      {R"(dims: [400, 250] init { kind: "normal" })", 0, 0.05, -inf, inf},
      {R"(dims: [400, 250] init { kind: "normal" mean: -2 stddev: 3 })", -2, 3, -inf, inf},
      {R"(dims: [400, 250] init { kind: "uniform" })", 0, 0.1 / std::sqrt(12.0), -0.05, 0.05},
      {R"(dims: [400, 250] init { kind: "uniform" minval: -1 maxval: 3 })", 1, 4 / std::sqrt(12.0), -1, 3},
      {R"(dims: [400, 250] init { kind: "uniform" minval: 2 maxval: 2 })", 2, 0, 2, 2},
      {R"(dims: [400, 250] init { kind: "zeros" })", 0, 0, 0, 0},
      {R"(dims: [400, 250] init { kind: "ones" })", 1, 0, 1, 1},
      {R"(dims: [400, 250] init { kind: "constant" })", 0, 0, 0, 0},
      {R"(dims: [400, 250] init { kind: "constant" value: -0.25 })", -0.25, 0, -0.25, -0.25},
      {R"(dims: [400, 250] init { kind: "HeNormal" })", 0, he_std, -inf, inf},  // Keras class names work too
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.decl);
    Tensor t = ParamTensor(c.decl);
    ASSERT_FALSE(t.empty());
    ASSERT_EQ(t.dtype(), proto::DT_FLOAT);
    const Stats s = StatsOf(t);
    const double n = static_cast<double>(t.num_elements());
    EXPECT_NEAR(s.mean, c.mean, 6 * c.stddev / std::sqrt(n) + 1e-7);
    EXPECT_NEAR(s.stddev, c.stddev, 0.02 * c.stddev + 1e-7);
    EXPECT_GE(s.min, c.lo - 1e-6);
    EXPECT_LE(s.max, c.hi + 1e-6);
    // Spread over the whole range, not squeezed into part of it.
    if (std::isfinite(c.lo) && c.hi > c.lo) {
      EXPECT_LT(s.min, c.lo + 0.01 * (c.hi - c.lo));
      EXPECT_GT(s.max, c.hi - 0.01 * (c.hi - c.lo));
    }
  }
  // Plain normals are not truncated: about 4.55% of values lie beyond 2 stddev.
  Stats normal = StatsOf(ParamTensor(R"(dims: [400, 250] init { kind: "normal" stddev: 1 })"));
  EXPECT_NEAR(normal.beyond, 0.0455, 0.004);
  EXPECT_LT(normal.min, -3.5);
  EXPECT_GT(normal.max, 3.5);
}

TEST(InitializersTest, SameFileSameBytesAndSeedsChangeThem) {
  const std::string decl = R"(dims: [64, 32] init { kind: "he_normal" })";
  Tensor a = ParamTensor(decl), b = ParamTensor(decl);
  EXPECT_TRUE(SameBytes(a, b));
  // An explicit seed draws different values; the same seed draws the same ones again.
  Tensor s1 = ParamTensor(R"(dims: [64, 32] init { kind: "he_normal" seed: 1 })");
  Tensor s2 = ParamTensor(R"(dims: [64, 32] init { kind: "he_normal" seed: 2 })");
  Tensor s1_again = ParamTensor(R"(dims: [64, 32] init { kind: "he_normal" seed: 1 })");
  Tensor high = ParamTensor(R"(dims: [64, 32] init { kind: "he_normal" seed: 4294967297 })");  // 2^32 + 1
  EXPECT_FALSE(SameBytes(a, s1));
  EXPECT_FALSE(SameBytes(s1, s2));
  EXPECT_FALSE(SameBytes(s1, high));  // all 64 bits of the seed count
  EXPECT_TRUE(SameBytes(s1, s1_again));

  // Without a seed, the name seeds the generator: another name, other values; a
  // seed is used as is, so two parameters with the same seed and shape match (as in Keras).
  auto m = Import(R"(graph {
    parameter { name: "u" dims: [8, 8] init { kind: "uniform" } }
    parameter { name: "v" dims: [8, 8] init { kind: "uniform" } }
    parameter { name: "s" dims: [8, 8] init { kind: "uniform" seed: 5 } }
    parameter { name: "t" dims: [8, 8] init { kind: "uniform" seed: 5 } } })");
  ASSERT_OK(m.status());
  const Graph& g = *m->graph;
  EXPECT_FALSE(SameBytes(g.FindValue("u")->constant(), g.FindValue("v")->constant()));
  EXPECT_TRUE(SameBytes(g.FindValue("s")->constant(), g.FindValue("t")->constant()));
}

// Pins values so that a change to the generators (which would silently change
// every model trained from scratch) shows up. Uniform kinds use only integer
// arithmetic and exactly rounded IEEE operations, so they are exact everywhere.
TEST(InitializersTest, ValuesArePinned) {
  Tensor glorot = ParamTensor(R"(dims: [2, 2])");
  Tensor seeded = ParamTensor(R"(dims: [2, 2] init { kind: "uniform" minval: -1 maxval: 1 seed: 42 })");
  Tensor normal = ParamTensor(R"(dims: [2, 2] init { kind: "normal" stddev: 1 seed: 42 })");
  auto expect = [](const Tensor& t, std::vector<float> values, float tolerance) {
    ASSERT_EQ(t.num_elements(), 4);
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(t.data_as<float>()[i], values[i], tolerance) << "element " << i;
  };
  expect(glorot, {-0.487297654f, -0.859740257f, -1.17096949f, -0.807248414f}, 0);
  expect(seeded, {0.652471423f, -0.0670663118f, -0.276698828f, 0.510003567f}, 0);
  // Normals go through std::log and std::cos, which IEEE does not require to be
  // correctly rounded; a libm could differ in the last bit of a double.
  expect(normal, {-1.82948589f, 0.029772019f, -0.291825026f, 1.2191546f}, 1e-6f);
}

TEST(InitializersTest, ParametersFeedHandWrittenNodes) {
  auto m = Import(GraphWith(R"(
    parameter { name: "w1" dims: [4, 8] init { kind: "he_normal" } }
    parameter { name: "b1" dims: [8] init { kind: "constant" value: 0.1 } }
    parameter { name: "w2" dtype: DT_FLOAT dims: [8, 3] }
    node { name: "fc1" op_type: "MatMul" input: "x" input: "w1" output: "h" }
    node { name: "bias1" op_type: "Add" input: "h" input: "b1" output: "hb" }
    node { name: "act1" op_type: "Relu" input: "hb" output: "a" }
    node { name: "fc2" op_type: "MatMul" input: "a" input: "w2" output: "y" }
    output { name: "y" })"));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  for (const char* name : {"w1", "b1", "w2"}) {
    const Value* v = g.FindValue(name);
    ASSERT_NE(v, nullptr) << name;
    EXPECT_TRUE(v->is_constant() && v->is_parameter()) << name;
  }
  EXPECT_EQ(g.FindValue("w1")->dims(), (Dims{4, 8}));
  EXPECT_EQ(g.FindNode("fc1")->input(1), g.FindValue("w1"));
  EXPECT_FLOAT_EQ(g.FindValue("b1")->constant().data_as<float>()[7], 0.1f);
  ASSERT_OK(Verify(g));
  PassOptions options;
  options.batch_size = 5;
  ASSERT_OK(PrepareForInference(g, options));
  EXPECT_EQ(g.outputs()[0]->type(), (TensorType{proto::DT_FLOAT, {5, 3}}));

  // Saving writes the drawn values as initializers, which load back unchanged.
  proto::Model saved;
  m->graph->ToProto(saved.mutable_graph());
  auto reloaded = ImportKilnModel(saved, "saved.kiln");
  ASSERT_OK(reloaded.status());
  EXPECT_TRUE(SameBytes(reloaded->graph->FindValue("w1")->constant(), g.FindValue("w1")->constant()));
}

TEST(InitializersTest, StoredInitializerWinsOverTheDeclaration) {
  auto m = Import(R"(graph {
    parameter { name: "w" dims: [2, 2] init { kind: "he_normal" } }
    initializer { name: "w" dtype: DT_FLOAT dims: [2, 2] float_data: [1, 2, 3, 4] } })");
  ASSERT_OK(m.status());
  const Value* w = m->graph->FindValue("w");
  EXPECT_TRUE(w->is_parameter());
  EXPECT_EQ(w->constant().data_as<float>()[3], 4.0f);

  EXPECT_EQ(ImportError(R"(graph {
    parameter { name: "w" dims: [3, 2] }
    initializer { name: "w" dtype: DT_FLOAT dims: [2, 2] float_data: [1, 2, 3, 4] } })"),
            "model.kiln.txt: parameter 'w': the stored initializer has type float32[2, 2], expected float32[3, 2]");
}

TEST(InitializersTest, ParameterErrorsNameTheParameterAndFile) {
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [2] init { kind: "lecun_magic" })")),
            "model.kiln.txt: parameter 'p': unknown init kind 'lecun_magic' (expected he_normal, he_uniform, "
            "glorot_normal, glorot_uniform, xavier_normal, xavier_uniform, truncated_normal, normal, uniform, zeros, "
            "ones or constant)");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [2] init { kind: "normal" stddev: -0.5 })")),
            "model.kiln.txt: parameter 'p': init: stddev must be non-negative, got -0.5");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [2] init { kind: "truncated_normal" stddev: -1 })")),
            "model.kiln.txt: parameter 'p': init: stddev must be non-negative, got -1");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [2] init { kind: "uniform" minval: 1 maxval: 0.5 })")),
            "model.kiln.txt: parameter 'p': init: minval 1 is greater than maxval 0.5");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [2] init { kind: "uniform" minval: 0.1 })")),  // above maxval's default
            "model.kiln.txt: parameter 'p': init: minval 0.1 is greater than maxval 0.05");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [2] init { kind: "he_normal" stddev: 0.1 })")),
            "model.kiln.txt: parameter 'p': init: stddev does not apply to he_normal");
  EXPECT_EQ(ImportError(ParamGraph(R"(init { kind: "zeros" })")),
            "model.kiln.txt: parameter 'p': dims is required (e.g. dims: [784, 128])");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [3, 0])")),
            "model.kiln.txt: parameter 'p': dims must be positive, got [3, 0]");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [3] dtype: DT_INT64)")),
            "model.kiln.txt: parameter 'p': dtype must be DT_FLOAT, got int64");
  EXPECT_EQ(ImportError(ParamGraph(R"(dims: [3] fan_in: 0)")),
            "model.kiln.txt: parameter 'p': fan_in must be positive, got 0");
  EXPECT_EQ(ImportError(R"(graph { parameter { name: "w" dims: [2] } parameter { name: "w" dims: [3] } })"),
            "model.kiln.txt: parameter 'w': declared twice");
  EXPECT_EQ(ImportError(GraphWith(R"(parameter { name: "x" dims: [2] })")),
            "model.kiln.txt: parameter 'x': has the name of a graph input");
  EXPECT_EQ(ImportError(R"(graph { parameter { dims: [2] } })"), "model.kiln.txt: parameter #1: name is required");
}

TEST(InitializersTest, DenseAndConvTakeKernelAndBiasInitializers) {
  auto m = Import(R"(graph {
    input { name: "x" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 300 } }
    layer { name: "d" dense { units: 200 kernel_init { kind: "truncated_normal" stddev: 0.01 }
                              bias_init { kind: "constant" value: 0.5 } } }
    layer { name: "e" dense { units: 100 kernel_initializer: "zeros" kernel_init { kind: "ones" } } }
    layer { name: "f" dense { units: 100 kernel_initializer: "he_uniform" kernel_init { seed: 9 } } }
    layer { name: "g" dense { units: 100 kernel_initializer: "he_uniform" } } })");
  ASSERT_OK(m.status());
  const Graph& g = *m->graph;
  const Stats d = StatsOf(g.FindValue("d/kernel")->constant());
  EXPECT_NEAR(d.stddev, 0.01 * kTruncatedStd, 0.0005);
  EXPECT_LE(d.max, 0.02 + 1e-7);
  EXPECT_EQ(g.FindValue("d/bias")->constant().data_as<float>()[199], 0.5f);
  // The message wins over the string ...
  EXPECT_EQ(StatsOf(g.FindValue("e/kernel")->constant()).min, 1.0);
  // ... whose kind stays the default of a message that only sets a seed.
  const Tensor& f = g.FindValue("f/kernel")->constant();
  EXPECT_LE(StatsOf(f).max, std::sqrt(6.0 / 100));
  EXPECT_NEAR(StatsOf(f).stddev, std::sqrt(6.0 / 100) / std::sqrt(3.0), 0.02 * std::sqrt(2.0 / 100));
  EXPECT_FALSE(SameBytes(f, g.FindValue("g/kernel")->constant()));

  auto conv = Import(std::string("graph { ") + kImage + R"(
    layer { name: "c" conv2d { filters: 4 kernel_size: [3] kernel_init { kind: "uniform" minval: 1 maxval: 2 }
                               bias_init { kind: "ones" } } } })");
  ASSERT_OK(conv.status());
  const Stats c = StatsOf(conv->graph->FindValue("c/kernel")->constant());
  EXPECT_GE(c.min, 1.0);
  EXPECT_LT(c.max, 2.0);
  EXPECT_EQ(conv->graph->FindValue("c/bias")->constant().data_as<float>()[3], 1.0f);
}

TEST(InitializersTest, BatchNormTakesGammaAndBetaInitializers) {
  auto m = Import(std::string("graph { ") + kImage + R"(
    layer { name: "bn" batch_norm { gamma_init { kind: "constant" value: 0.5 } beta_init { kind: "uniform" } } } })");
  ASSERT_OK(m.status());
  const Graph& g = *m->graph;
  EXPECT_EQ(g.FindValue("bn/gamma")->constant().data_as<float>()[2], 0.5f);
  const Stats beta = StatsOf(g.FindValue("bn/beta")->constant());
  EXPECT_GE(beta.min, -0.05);
  EXPECT_LT(beta.max, 0.05);
  EXPECT_NE(beta.max, beta.min);
  EXPECT_EQ(g.FindValue("bn/moving_variance")->constant().data_as<float>()[0], 1.0f);
}

TEST(InitializersTest, LayerInitializerErrorsNameTheLayerAndFile) {
  EXPECT_EQ(ImportError(GraphWith(R"(layer { name: "d" dense { units: 2 kernel_init { kind: "magic" } } })")),
            "model.kiln.txt: layer 'd' (Dense): unknown kernel_init kind 'magic' (expected he_normal, he_uniform, "
            "glorot_normal, glorot_uniform, xavier_normal, xavier_uniform, truncated_normal, normal, uniform, zeros, "
            "ones or constant)");
  EXPECT_EQ(ImportError(GraphWith(R"(layer { name: "d" dense { units: 2 bias_init { kind: "normal" stddev: -2 } } })")),
            "model.kiln.txt: layer 'd' (Dense): bias_init: stddev must be non-negative, got -2");
  EXPECT_EQ(
      ImportError(GraphWith(R"(layer { name: "d" dense { units: 2 no_bias: true bias_init { kind: "ones" } } })")),
      "model.kiln.txt: layer 'd' (Dense): bias_init is set but no_bias is true");
  EXPECT_EQ(ImportError(std::string("graph { ") + kImage + R"(
    layer { name: "c" conv2d { filters: 2 kernel_size: 3 kernel_init { kind: "uniform" minval: 3 maxval: 1 } } } })"),
            "model.kiln.txt: layer 'c' (Conv2D): kernel_init: minval 3 is greater than maxval 1");
  EXPECT_EQ(ImportError(std::string("graph { ") + kImage + R"(
    layer { name: "bn" batch_norm { gamma_init { kind: "glorot" } } } })"),
            "model.kiln.txt: layer 'bn' (BatchNorm): unknown gamma_init kind 'glorot' (expected he_normal, he_uniform, "
            "glorot_normal, glorot_uniform, xavier_normal, xavier_uniform, truncated_normal, normal, uniform, zeros, "
            "ones or constant)");
}

TEST(InitializersTest, ParameterExampleLoads) {
  auto m = LoadModel(testing::SourcePath("examples/iris_params.kiln.txt"));
  ASSERT_OK(m.status());
  EXPECT_TRUE(m->graph->FindValue("w1")->is_parameter());
  PassOptions options;
  options.batch_size = 3;
  ASSERT_OK(PrepareForInference(*m->graph, options));
  EXPECT_EQ(m->graph->outputs()[0]->type(), (TensorType{proto::DT_FLOAT, {3, 3}}));
}

}  // namespace
}  // namespace kiln
