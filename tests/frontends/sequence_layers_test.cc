// The sequence layers of the text shorthand: embedding, simple_rnn, lstm, gru,
// bidirectional, dense over [N, T, F]. Keras parameter counts, output shapes, and
// outputs checked against the Keras cell equations computed here in double.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "compiler/compile.h"
#include "compiler/gradcheck.h"
#include "frontends/load_model.h"
#include "google/protobuf/text_format.h"
#include "ir/verifier.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

StatusOr<Model> Import(const std::string& text) {
  proto::Model m;
  if (!google::protobuf::TextFormat::ParseFromString(text, &m)) return InvalidArgument("test model does not parse");
  return ImportKilnModel(m, "seq.kiln.txt");
}

// A [batch, T, F] float input followed by `layers`.
std::string Sequence(int64_t t, int64_t f, const std::string& layers) {
  return "graph { input { name: \"x\" dtype: DT_FLOAT dims { symbol: \"batch\" } dims { size: " + std::to_string(t) +
         " } dims { size: " + std::to_string(f) + " } } " + layers + " }";
}

int64_t TrainableParams(const Graph& g) {
  int64_t n = 0;
  for (const Value* v : g.values()) n += v->is_parameter() ? v->constant().num_elements() : 0;
  return n;
}

Dims OutputDims(Graph& g, int64_t batch) {
  PassOptions options;
  options.batch_size = batch;
  Status st = PrepareForInference(g, options);
  EXPECT_TRUE(st.ok()) << st.message();
  return g.outputs()[0]->dims();
}

std::vector<Tensor> RunModel(Graph& g, const std::vector<Tensor>& inputs, int64_t batch) {
  CompileOptions options;
  options.batch_size = batch;
  options.use_onednn = false;
  auto plan = CompileToPlan(g, options);
  EXPECT_OK(plan.status());
  if (!plan.ok()) return {};
  auto session = runtime::Session::Create(*plan);
  EXPECT_OK(session.status());
  if (!session.ok()) return {};
  auto out = testing::RunOnce(**session, inputs);
  EXPECT_OK(out.status());
  return out.ok() ? *out : std::vector<Tensor>{};
}

TEST(SequenceLayersTest, KerasParameterCountsAndShapes) {
  struct Case {
    std::string layers;
    int64_t t, f, params;
    Dims output;  // batch 5
  } cases[] = {
      // The seed's SimpleRNN(128) over 2 inputs.
      {"layer { simple_rnn { units: 128 } }", 8, 2, 16768, {5, 128}},
      {"layer { simple_rnn { units: 128 return_sequences: true } }", 8, 2, 16768, {5, 8, 128}},
      {"layer { lstm { units: 64 } }", 7, 10, 19200, {5, 64}},                    // 4 * (10*64 + 64*64 + 64)
      {"layer { gru { units: 64 } }", 7, 10, 14592, {5, 64}},                     // 3 * 64 * (10 + 64 + 2), reset_after
      {"layer { gru { units: 64 reset_after: false } }", 7, 10, 14400, {5, 64}},  // 3 * (10*64 + 64*64 + 64)
      {"layer { bidirectional { lstm { units: 64 } } }", 28, 28, 47616, {5, 128}},
      {"layer { bidirectional { merge_mode: \"sum\" gru { units: 16 return_sequences: true } } }",
       6,
       4,
       2 * 3 * 16 * 22,
       {5, 6, 16}},
      {"layer { bidirectional { merge_mode: \"ave\" simple_rnn { units: 3 } } }", 6, 4, 2 * (12 + 9 + 3), {5, 3}},
      // Dense over the last axis of [N, T, F] (Keras' Dense on a sequence).
      {"layer { lstm { units: 8 return_sequences: true } } layer { dense { units: 3 activation: \"softmax\" } }",
       5,
       2,
       4 * (16 + 64 + 8) + 8 * 3 + 3,
       {5, 5, 3}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.layers);
    auto m = Import(Sequence(c.t, c.f, c.layers));
    ASSERT_OK(m.status());
    ASSERT_OK(Verify(*m->graph));
    EXPECT_EQ(TrainableParams(*m->graph), c.params);
    EXPECT_EQ(OutputDims(*m->graph, 5), c.output);
  }
}

TEST(SequenceLayersTest, EmbeddingGathersRowsOfItsTable) {
  auto m = Import(R"(graph {
    input { name: "ids" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } }
    layer { name: "emb" embedding { input_dim: 10 output_dim: 3 } }
  })");
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  EXPECT_EQ(TrainableParams(g), 30);
  const Tensor table = g.FindValue("emb/embeddings")->constant();
  for (int64_t i = 0; i < 30; ++i) {  // Keras' uniform(-0.05, 0.05)
    EXPECT_LE(std::abs(table.data_as<float>()[i]), 0.05f);
  }
  const std::vector<float> ids = {3, 0, 9, 3, 1, 2, 2, 8};
  auto out = RunModel(g, {Tensor::FromVector(proto::DT_FLOAT, {2, 4}, ids)}, 2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dims(), (Dims{2, 4, 3}));
  for (size_t k = 0; k < ids.size(); ++k) {
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(out[0].data_as<float>()[k * 3 + j], table.data_as<float>()[static_cast<int64_t>(ids[k]) * 3 + j]);
    }
  }
}

// The Keras cells in double, one direction over x [T, I] for batch 1, with the
// weights in the layer's (ONNX) layout: W [G*H, I], R [G*H, H], bias as stored.
enum class Cell { kRnn, kGru, kLstm };
std::vector<std::vector<double>> ReferenceCell(Cell cell, const std::vector<std::vector<double>>& x, const float* w,
                                               const float* r, const float* bias, int64_t H, bool two_biases) {
  const int64_t I = static_cast<int64_t>(x[0].size());
  const int G = cell == Cell::kRnn ? 1 : cell == Cell::kGru ? 3 : 4;
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  std::vector<double> h(H, 0.0), c(H, 0.0);
  std::vector<std::vector<double>> out;
  for (const auto& xt : x) {
    // wx[g*H + j] = W x + Wb; rh = R h + Rb.
    std::vector<double> wx(G * H), rh(G * H);
    for (int64_t k = 0; k < G * H; ++k) {
      double a = bias[k], b = two_biases ? bias[G * H + k] : 0.0;
      for (int64_t i = 0; i < I; ++i) a += w[k * I + i] * xt[i];
      for (int64_t j = 0; j < H; ++j) b += r[k * H + j] * h[j];
      wx[k] = a;
      rh[k] = b;
    }
    std::vector<double> next(H);
    for (int64_t j = 0; j < H; ++j) {
      if (cell == Cell::kRnn) {
        next[j] = std::tanh(wx[j] + rh[j]);
      } else if (cell == Cell::kGru) {  // z, r, h; reset applied after R h (reset_after)
        const double z = sigmoid(wx[j] + rh[j]), rr = sigmoid(wx[H + j] + rh[H + j]);
        const double n = std::tanh(wx[2 * H + j] + rr * rh[2 * H + j]);
        next[j] = (1 - z) * n + z * h[j];
      } else {  // i, o, f, c
        const double in = sigmoid(wx[j] + rh[j]), o = sigmoid(wx[H + j] + rh[H + j]);
        const double f = sigmoid(wx[2 * H + j] + rh[2 * H + j]), g = std::tanh(wx[3 * H + j] + rh[3 * H + j]);
        c[j] = f * c[j] + in * g;
        next[j] = o * std::tanh(c[j]);
      }
    }
    h = next;
    out.push_back(h);
  }
  return out;
}

struct CellCase {
  const char* kind;
  Cell cell;
  bool two_biases;
};

class SequenceCellTest : public ::testing::TestWithParam<CellCase> {};

// Forward, go_backwards (return_sequences in processing order) and bidirectional
// concat against the equations, with random weights including the biases.
TEST_P(SequenceCellTest, MatchesTheKerasEquations) {
  const CellCase& cc = GetParam();
  const int64_t T = 4, I = 3, H = 2;
  for (const std::string variant : {"forward", "backward", "bidirectional"}) {
    SCOPED_TRACE(std::string(cc.kind) + " " + variant);
    std::string layer = std::string(cc.kind) + " { units: 2 return_sequences: true" +
                        (variant == "backward" ? " go_backwards: true" : "") + " }";
    if (variant == "bidirectional") layer = "bidirectional { " + layer + " }";
    auto m = Import(Sequence(T, I, "layer { name: \"rnn\" " + layer + " }"));
    ASSERT_OK(m.status());
    Graph& g = *m->graph;
    // Random biases too (they start at 0 or 1), so that each one's place is checked.
    int seed = 1;
    for (const char* name : {"rnn/kernel", "rnn/recurrent_kernel", "rnn/bias"}) {
      Value* v = g.FindValue(name);
      ASSERT_NE(v, nullptr) << name;
      v->set_constant(testing::RandomTensor(v->dims(), seed++, -0.8f, 0.8f));
    }
    const Tensor x = testing::RandomTensor({1, T, I}, 11);
    const Tensor w = g.FindValue("rnn/kernel")->constant();  // copies: compiling rewrites the graph
    const Tensor r = g.FindValue("rnn/recurrent_kernel")->constant();
    const Tensor b = g.FindValue("rnn/bias")->constant();
    const int G = cc.cell == Cell::kRnn ? 1 : cc.cell == Cell::kGru ? 3 : 4;
    const int64_t bias_width = b.dims()[1];
    auto out = RunModel(g, {x}, 1);
    ASSERT_EQ(out.size(), 1u);

    std::vector<std::vector<double>> xs(T, std::vector<double>(I));
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t i = 0; i < I; ++i) xs[t][i] = x.data_as<float>()[t * I + i];
    }
    std::vector<std::vector<double>> reversed(xs.rbegin(), xs.rend());
    auto direction = [&](int64_t d, const std::vector<std::vector<double>>& in) {
      return ReferenceCell(cc.cell, in, w.data_as<float>() + d * G * H * I, r.data_as<float>() + d * G * H * H,
                           b.data_as<float>() + d * bias_width, H, cc.two_biases);
    };
    // expected[t] is the layer's output at step t.
    std::vector<std::vector<double>> expected;
    if (variant == "forward") expected = direction(0, xs);
    if (variant == "backward") expected = direction(0, reversed);  // in processing order
    if (variant == "bidirectional") {
      auto fwd = direction(0, xs), bwd = direction(1, reversed);
      for (int64_t t = 0; t < T; ++t) {
        std::vector<double> both = fwd[t];
        both.insert(both.end(), bwd[T - 1 - t].begin(), bwd[T - 1 - t].end());  // aligned with the input's step
        expected.push_back(both);
      }
    }
    const int64_t width = static_cast<int64_t>(expected[0].size());
    ASSERT_EQ(out[0].dims(), (Dims{1, T, width}));
    for (int64_t t = 0; t < T; ++t) {
      for (int64_t j = 0; j < width; ++j) {
        EXPECT_NEAR(out[0].data_as<float>()[t * width + j], expected[t][j], 1e-5) << "step " << t << " unit " << j;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Cells, SequenceCellTest,
                         ::testing::Values(CellCase{"simple_rnn", Cell::kRnn, false}, CellCase{"gru", Cell::kGru, true},
                                           CellCase{"lstm", Cell::kLstm, false}),
                         [](const auto& info) { return std::string(info.param.kind); });

TEST(SequenceLayersTest, LstmForgetBiasStartsAtOneAndStatesAreNamed) {
  auto m = Import(Sequence(3, 2, R"(layer { name: "l" lstm { units: 2 return_state: true } })"));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  const Tensor& b = g.FindValue("l/bias")->constant();
  EXPECT_EQ(std::vector<float>(b.data_as<float>(), b.data_as<float>() + 8),
            (std::vector<float>{0, 0, 0, 0, 1, 1, 0, 0}));  // gates i, o, f, c
  ASSERT_NE(g.FindValue("l/state_h"), nullptr);
  ASSERT_NE(g.FindValue("l/state_c"), nullptr);
  EXPECT_EQ(g.outputs()[0]->name(), "l");
  // A graph output may name a state.
  auto with_state = Import(Sequence(3, 2, R"(layer { name: "l" lstm { units: 2 return_state: true } }
                                              output { name: "l" } output { name: "l/state_c" })"));
  ASSERT_OK(with_state.status());
  EXPECT_EQ(with_state->graph->outputs()[1]->name(), "l/state_c");
}

TEST(SequenceLayersTest, ErrorsNameTheLayer) {
  struct Case {
    std::string model, message;
  } cases[] = {
      {"graph { input { name: \"x\" dtype: DT_FLOAT dims { size: 2 } dims { size: 3 } } layer { name: \"r\" lstm { "
       "units: 4 } } }",
       "seq.kiln.txt: layer 'r' (LSTM): needs a float32 [batch, time, features] input, got float32[2, 3]"},
      {Sequence(3, 2, "layer { name: \"r\" gru { units: 0 } }"),
       "seq.kiln.txt: layer 'r' (GRU): units must be positive, got 0"},
      {Sequence(3, 2, "layer { name: \"r\" simple_rnn { units: 2 activation: \"swish\" } }"),
       "seq.kiln.txt: layer 'r' (SimpleRNN): unknown activation 'swish' (expected tanh, sigmoid, relu, hard_sigmoid, "
       "softsign, softplus, elu or linear)"},
      {Sequence(3, 2, "layer { name: \"r\" simple_rnn { units: 2 recurrent_dropout: 0.1 } }"),
       "seq.kiln.txt: layer 'r' (SimpleRNN): recurrent_dropout is not supported (only 0)"},
      {Sequence(3, 2, "layer { name: \"r\" lstm { units: 2 reset_after: true } }"),
       "seq.kiln.txt: layer 'r' (LSTM): reset_after applies to gru only"},
      {Sequence(3, 2, "layer { name: \"b\" bidirectional { merge_mode: \"mul\" lstm { units: 2 } } }"),
       "seq.kiln.txt: layer 'b' (Bidirectional): merge_mode must be concat, sum or ave, got 'mul'"},
      {Sequence(3, 2, "layer { name: \"b\" bidirectional { } }"),
       "seq.kiln.txt: layer 'b' (Bidirectional): needs the layer to wrap: simple_rnn, lstm or gru"},
      {Sequence(3, 2, "layer { name: \"b\" bidirectional { gru { units: 2 go_backwards: true } } }"),
       "seq.kiln.txt: layer 'b' (Bidirectional): go_backwards cannot be set inside bidirectional"},
      {Sequence(3, 2, "layer { name: \"e\" embedding { input_dim: 0 output_dim: 2 } }"),
       "seq.kiln.txt: layer 'e' (Embedding): input_dim (the vocabulary size) must be positive, got 0"},
  };
  for (const Case& c : cases) {
    auto m = Import(c.model);
    ASSERT_FALSE(m.ok()) << c.model;
    EXPECT_EQ(m.status().message(), c.message);
  }
}

// The layers' graphs differentiate correctly end to end (each op's rule is in the
// gradient rules test; this checks how the layers wire them: bias concat, merges, reversal).
TEST(SequenceLayersTest, GradcheckOfStackedLayers) {
  for (const std::string layers :
       {"layer { bidirectional { merge_mode: \"sum\" lstm { units: 3 return_sequences: true } } } "
        "layer { gru { units: 2 go_backwards: true return_sequences: true reset_after: false } } "
        "layer { dense { units: 2 } }",
        "layer { bidirectional { gru { units: 2 } } } layer { dense { units: 1 } }",
        "layer { simple_rnn { units: 3 go_backwards: true } } layer { dense { units: 2 } }"}) {
    SCOPED_TRACE(layers);
    auto m = Import(Sequence(3, 2, layers));
    ASSERT_OK(m.status());
    GradcheckOptions options;
    options.loss = "mse";
    auto report = RunGradcheck(*m->graph, options);
    ASSERT_OK(report.status());
    for (const TensorGradcheck& r : *report) {
      EXPECT_GT(r.checked, 0) << r.parameter;
      EXPECT_LT(r.max_rel_error, 1e-5) << r.parameter;
    }
  }
}

}  // namespace
}  // namespace kiln
