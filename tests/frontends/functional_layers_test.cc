// Functional layer graphs in the text shorthand (layers naming their inputs, several
// graph inputs, encoder states as a decoder's initial state) and the attention layer:
// wiring, Keras parameter counts, outputs against a direct computation, gradients,
// and one-line errors naming the layer.
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/compile.h"
#include "compiler/gradcheck.h"
#include "frontends/load_model.h"
#include "google/protobuf/text_format.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

StatusOr<Model> Import(const std::string& text) {
  proto::Model m;
  if (!google::protobuf::TextFormat::ParseFromString(text, &m)) return InvalidArgument("test model does not parse");
  return ImportKilnModel(m, "f.kiln.txt");
}

// Inputs "a" [batch, 4, 3] and "b" [batch, 5, 3], then `body`.
std::string TwoSequences(const std::string& body) {
  return "graph { input { name: \"a\" dtype: DT_FLOAT dims { symbol: \"batch\" } dims { size: 4 } dims { size: 3 } } "
         "input { name: \"b\" dtype: DT_FLOAT dims { symbol: \"batch\" } dims { size: 5 } dims { size: 3 } } " +
         body + " }";
}

int64_t TrainableParams(const Graph& g) {
  int64_t n = 0;
  for (const Value* v : g.values()) n += v->is_parameter() ? v->constant().num_elements() : 0;
  return n;
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

Tensor Ramp(const Dims& dims, float scale, float offset) {
  std::vector<float> v(static_cast<size_t>(ElementCount(dims)));
  for (size_t i = 0; i < v.size(); ++i) v[i] = std::sin(scale * static_cast<float>(i) + offset);
  return Tensor::FromVector(proto::DT_FLOAT, dims, v);
}

const char* kEncoderDecoder = R"(
  layer { name: "enc" lstm { units: 4 return_sequences: true return_state: true } inputs: "b" }
  layer { name: "dec" lstm { units: 4 return_sequences: true } inputs: "a"
          initial_state: "enc/state_h" initial_state: "enc/state_c" }
  layer { name: "att" attention { return_attention_scores: true } inputs: "dec" inputs: "enc" }
  layer { name: "both" concatenate {} inputs: "dec" inputs: "att" }
  layer { name: "out" dense { units: 2 } }
)";

TEST(FunctionalLayersTest, EncoderDecoderWiring) {
  auto m = Import(TwoSequences(kEncoderDecoder));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  ASSERT_EQ(g.inputs().size(), 2u);
  // The decoder's LSTM takes the encoder's final states (reshaped) as initial_h and initial_c.
  const Node* dec = g.FindNode("dec/LSTM");
  ASSERT_NE(dec, nullptr);
  ASSERT_EQ(dec->num_inputs(), 7);
  EXPECT_EQ(dec->input(0)->name(), "a");
  EXPECT_EQ(dec->input(5)->producer()->input(0)->name(), "enc/state_h");
  EXPECT_EQ(dec->input(6)->producer()->input(0)->name(), "enc/state_c");
  // 2 LSTMs of 4 * (3*4 + 4*4 + 4) = 128, no attention weights (dot, no scale), dense 8*2+2.
  EXPECT_EQ(TrainableParams(g), 2 * 128 + 18);
  ASSERT_NE(g.FindValue("att/weights"), nullptr);
  EXPECT_EQ(g.outputs()[0]->name(), "out");

  // Outputs for batch 2: the decoder started from the encoder's state differs from one
  // started from zeros, so the wiring is live.
  std::vector<Tensor> in = {Ramp({2, 4, 3}, 0.7f, 0.1f), Ramp({2, 5, 3}, 0.3f, 0.5f)};
  auto out = RunModel(g, in, 2);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].dims(), (Dims{2, 4, 2}));
  auto zero_state = Import(TwoSequences(R"(
    layer { name: "enc" lstm { units: 4 return_sequences: true return_state: true } inputs: "b" }
    layer { name: "dec" lstm { units: 4 return_sequences: true } inputs: "a" }
    layer { name: "att" attention { } inputs: "dec" inputs: "enc" }
    layer { name: "both" concatenate {} inputs: "dec" inputs: "att" }
    layer { name: "out" dense { units: 2 } })"));
  ASSERT_OK(zero_state.status());
  auto out0 = RunModel(*zero_state->graph, in, 2);
  ASSERT_EQ(out0.size(), 1u);
  double diff = 0;
  for (int64_t i = 0; i < out[0].num_elements(); ++i) {
    diff += std::fabs(out[0].data_as<float>()[i] - out0[0].data_as<float>()[i]);
  }
  EXPECT_GT(diff, 1e-3);
}

TEST(FunctionalLayersTest, SliceSplitsAPackedInput) {
  auto m = Import(R"(graph { input { name: "x" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 7 } }
    layer { name: "head" slice { axis: 1 begin: 0 end: 3 } }
    layer { name: "tail" slice { axis: 1 begin: 3 } inputs: "x" }
    layer { name: "again" concatenate { axis: 1 } inputs: "tail" inputs: "head" } })");
  ASSERT_OK(m.status());
  auto out =
      RunModel(*m->graph, {Tensor::FromVector(proto::DT_FLOAT, {1, 7}, std::vector<float>{0, 1, 2, 3, 4, 5, 6})}, 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(std::vector<float>(out[0].data_as<float>(), out[0].data_as<float>() + 7),
            (std::vector<float>{3, 4, 5, 6, 0, 1, 2}));
}

// Keras Attention / AdditiveAttention computed here in double: query [Tq, D], value [Tv, D].
std::vector<double> ReferenceAttention(const float* q, const float* v, int64_t tq, int64_t tv, int64_t d, bool additive,
                                       const float* scale, bool causal, const float* mask) {
  std::vector<double> out(static_cast<size_t>(tq * d), 0.0);
  for (int64_t i = 0; i < tq; ++i) {
    std::vector<double> s(static_cast<size_t>(tv));
    for (int64_t j = 0; j < tv; ++j) {
      double score = 0;
      for (int64_t k = 0; k < d; ++k) {
        score += additive ? (scale ? scale[k] : 1.0) * std::tanh(double(q[i * d + k]) + v[j * d + k])
                          : double(q[i * d + k]) * v[j * d + k];
      }
      if (!additive && scale) score *= scale[0];
      if (causal && j > i) score += -1e9;
      if (mask && mask[j] == 0.0f) score += -1e9;
      s[j] = score;
    }
    double max = s[0], sum = 0;
    for (double x : s) max = std::max(max, x);
    for (double& x : s) sum += (x = std::exp(x - max));
    for (int64_t j = 0; j < tv; ++j) {
      for (int64_t k = 0; k < d; ++k) out[i * d + k] += s[j] / sum * v[j * d + k];
    }
  }
  return out;
}

TEST(FunctionalLayersTest, AttentionMatchesKerasEquations) {
  struct Case {
    std::string attention;
    bool additive, causal, masked;
    int64_t params;
  } cases[] = {
      {"attention { }", false, false, false, 0},
      {"attention { use_scale: true }", false, false, false, 1},
      {"attention { score: \"additive\" }", true, false, false, 3},
      {"attention { score: \"additive\" use_scale: false causal: true }", true, true, false, 0},
      {"attention { causal: true value_mask: \"m\" }", false, true, true, 0},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.attention);
    // Query "a" [batch, 4, 3] over value "q" [batch, 4, 3] (causal needs Tq == Tv to mean much).
    auto m = Import(R"(graph {
      input { name: "a" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } dims { size: 3 } }
      input { name: "v" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } dims { size: 3 } }
      input { name: "m" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } }
      layer { name: "att" )" +
                    c.attention + R"( inputs: "a" inputs: "v" } })");
    ASSERT_OK(m.status());
    Graph& g = *m->graph;
    EXPECT_EQ(TrainableParams(g), c.params);
    const Value* scale_value = g.FindValue("att/scale");
    std::vector<float> scale;
    if (scale_value) {
      scale.assign(scale_value->constant().data_as<float>(),
                   scale_value->constant().data_as<float>() + scale_value->constant().num_elements());
      scale[0] *= 1.5f;  // not the identity, so a dropped scale shows
      const_cast<Value*>(scale_value)->set_constant(Tensor::FromVector(proto::DT_FLOAT, scale_value->dims(), scale));
    }
    Tensor q = Ramp({2, 4, 3}, 0.9f, 0.2f), v = Ramp({2, 4, 3}, 0.4f, 1.0f);
    Tensor mask = Tensor::FromVector(proto::DT_FLOAT, {2, 4}, std::vector<float>{1, 1, 0, 1, 3, 0, 7, 7});
    auto out = RunModel(g, {q, v, mask}, 2);
    ASSERT_EQ(out.size(), 1u);
    ASSERT_EQ(out[0].dims(), (Dims{2, 4, 3}));
    for (int64_t n = 0; n < 2; ++n) {
      auto want = ReferenceAttention(q.data_as<float>() + n * 12, v.data_as<float>() + n * 12, 4, 4, 3, c.additive,
                                     scale.empty() ? nullptr : scale.data(), c.causal,
                                     c.masked ? mask.data_as<float>() + n * 4 : nullptr);
      for (int64_t i = 0; i < 12; ++i) EXPECT_NEAR(out[0].data_as<float>()[n * 12 + i], want[i], 1e-5) << n << " " << i;
    }
  }
}

// The functional graph and both attention scores differentiate correctly end to end.
TEST(FunctionalLayersTest, GradcheckOfEncoderDecoderWithAttention) {
  for (const std::string score : {"dot", "additive"}) {
    SCOPED_TRACE(score);
    auto m = Import(TwoSequences(R"(
      layer { name: "enc" gru { units: 3 return_sequences: true return_state: true } inputs: "b" }
      layer { name: "dec" gru { units: 3 return_sequences: true } inputs: "a" initial_state: "enc/state_h" }
      layer { name: "att" attention { use_scale: true score: ")" +
                                 score + R"(" } inputs: "dec" inputs: "enc" }
      layer { name: "both" concatenate {} inputs: "dec" inputs: "att" }
      layer { name: "out" dense { units: 2 } })"));
    ASSERT_OK(m.status());
    GradcheckOptions options;
    options.loss = "mse";
    auto report = RunGradcheck(*m->graph, options);
    ASSERT_OK(report.status());
    bool saw_scale = false;
    for (const TensorGradcheck& r : *report) {
      EXPECT_GT(r.checked, 0) << r.parameter;
      EXPECT_LT(r.max_rel_error, 1e-4) << r.parameter;
      saw_scale |= r.parameter == "att/scale";
    }
    EXPECT_TRUE(saw_scale);
  }
}

TEST(FunctionalLayersTest, ErrorsNameTheLayer) {
  struct Case {
    std::string body, message;
  } cases[] = {
      {R"(layer { name: "d" dense { units: 2 } inputs: "nope" })",
       "layer 'd' (Dense): unknown input 'nope' (not a graph input, nor an earlier layer or one of its values)"},
      {R"(layer { name: "d" dense { units: 2 } inputs: "e" } layer { name: "e" dense { units: 2 } inputs: "d" })",
       "layer 'd' (Dense): input 'e' comes from layer 'e', which is defined later (layers may only consume earlier "
       "ones: a cycle or a misordering)"},
      {R"(layer { name: "d" dense { units: 2 } inputs: "d" })",
       "layer 'd' (Dense): input 'd' is the layer itself (a cycle)"},
      {R"(layer { name: "r" lstm { units: 2 } inputs: "a" initial_state: "later/state_h" initial_state: "x" }
          layer { name: "later" lstm { units: 2 return_state: true } inputs: "b" })",
       "layer 'r' (LSTM): input 'later/state_h' comes from layer 'later', which is defined later (layers may only "
       "consume earlier ones: a cycle or a misordering)"},
      {R"(layer { name: "e" lstm { units: 3 return_state: true } inputs: "b" }
          layer { name: "r" lstm { units: 2 } inputs: "a" initial_state: "e/state_h" initial_state: "e/state_c" })",
       "layer 'r' (LSTM): initial state h 'e/state_h' must be float32[1, 2], got float32[1, 3]"},
      {R"(layer { name: "e" gru { units: 2 return_state: true } inputs: "b" }
          layer { name: "r" lstm { units: 2 } inputs: "a" initial_state: "e/state_h" })",
       "layer 'r' (LSTM): initial_state takes [h, c], got 1 value"},
      {R"(layer { name: "d" dense { units: 2 } inputs: "a" initial_state: "b" })",
       "layer 'd' (Dense): initial_state applies to simple_rnn, lstm and gru only"},
      {R"(layer { name: "d" dense { units: 2 } inputs: "a" inputs: "b" })", "layer 'd' (Dense): takes 1 input, got 2"},
      {R"(layer { name: "c" concatenate { } inputs: "a" inputs: "b" })",
       "layer 'c' (Concatenate): input 'b' float32[1, 5, 3] does not match 'a' float32[1, 4, 3] outside axis -1"},
      {R"(layer { name: "c" concatenate { } inputs: "a" })",
       "layer 'c' (Concatenate): takes from 2 to 64 inputs, got 1"},
      {R"(layer { name: "s" slice { axis: 1 begin: 2 end: 9 } inputs: "a" })",
       "layer 's' (Slice): begin 2 and end 9 must satisfy 0 <= begin < end <= 4 (axis 1 of float32[1, 4, 3])"},
      {R"(layer { name: "s" slice { axis: 0 begin: 0 end: 1 } inputs: "a" })",
       "layer 's' (Slice): axis 0 is not an axis after the batch axis of float32[1, 4, 3]"},
      {R"(layer { name: "t" attention { score: "cosine" } inputs: "a" inputs: "b" })",
       "layer 't' (Attention): score must be dot (Luong) or additive (Bahdanau), got 'cosine'"},
      {R"(layer { name: "p" dense { units: 2 } inputs: "b" } layer { name: "t" attention { } inputs: "a" inputs: "p" })",
       "layer 't' (Attention): query 'a' float32[1, 4, 3] and key 'p' float32[1, 5, 2] must have the same last "
       "dimension"},
      {R"(layer { name: "t" attention { value_mask: "a" } inputs: "a" inputs: "b" })",
       "layer 't' (Attention): value_mask 'a' must be [batch, 5] (one entry per value step), got float32[1, 4, 3]"},
  };
  for (const Case& c : cases) {
    auto m = Import(TwoSequences(c.body));
    ASSERT_FALSE(m.ok()) << c.body;
    EXPECT_EQ(m.status().message(), "f.kiln.txt: " + c.message);
  }
}

}  // namespace
}  // namespace kiln
