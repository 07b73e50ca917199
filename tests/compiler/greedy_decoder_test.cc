// The compiled greedy decoder (compiler/greedy_decoder.h) of a hand-made causal model
// whose choices are known: each copy must read the tokens the earlier copies chose,
// and the stop token must end a sequence.
#include "compiler/greedy_decoder.h"

#include <gtest/gtest.h>

#include "compiler/compile.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

constexpr int64_t kClasses = 6, kOffset = 2, kSteps = 4;

Value* Ints(Graph& g, const std::string& name, std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return g.AddConstant(name, Tensor::FromVector(proto::DT_INT64, {n}, std::move(v)));
}

// Input [batch, 6] = [e0, e1 | d0 d1 d2 d3]; output [batch, 4 * 6]: step t's one-hot of
// (d_t + e0 + 1) mod 6, so greedy decoding from start s chooses s + e0 + 1, then adds e0 + 1 again, ...
// With `weights`, a second output [batch, 4, 2] (steps x encoder positions, like attention
// weights): each step's probabilities of classes 0 and 1.
std::unique_ptr<Graph> CountingModel(bool with_weights = false) {
  auto g = std::make_unique<Graph>();
  Value* row = g->AddInput("tokens", TensorType{proto::DT_FLOAT, {-1, kOffset + kSteps}});
  row->symbolic_dims().push_back({0, "batch"});
  Value* dec = g->AddNode("Slice", "dec",
                          {row, Ints(*g, "s0", {kOffset}), Ints(*g, "e0", {kOffset + kSteps}), Ints(*g, "a0", {1})})
                   ->output(0);
  Value* e0 =
      g->AddNode("Slice", "e0", {row, Ints(*g, "s1", {0}), Ints(*g, "e1", {1}), Ints(*g, "a1", {1})})->output(0);
  Value* sum = g->AddNode("Add", "sum", {dec, e0})->output(0);
  Attrs to_int;
  to_int.SetInt("to", 7);
  Value* ids = g->AddNode("Cast", "ids", {sum}, 1, to_int)->output(0);
  std::vector<float> table(2 * kClasses * kClasses, 0.0f);  // row i: one-hot (i + 1) mod 6
  for (int64_t i = 0; i < 2 * kClasses; ++i) table[i * kClasses + (i + 1) % kClasses] = 1.0f;
  Value* weights = g->AddConstant("table", Tensor::FromVector(proto::DT_FLOAT, {2 * kClasses, kClasses}, table));
  weights->set_parameter(true);
  Value* probs = g->AddNode("Gather", "lookup", {weights, ids})->output(0);  // [batch, 4, 6]
  Attrs axis1;
  axis1.SetInt("axis", 1);
  g->AddOutput(g->AddNode("Flatten", "flat", {probs}, 1, axis1)->output(0));
  if (with_weights) {
    g->AddOutput(
        g->AddNode("Slice", "weights", {probs, Ints(*g, "s2", {0}), Ints(*g, "e2", {kOffset}), Ints(*g, "a2", {2})})
            ->output(0));
  }
  return g;
}

// A decoder of CountingModel (start 1, stop 4) run at batch 3 on encoder rows e0 = 0, 2, 1 (e1 = 9, unread).
StatusOr<std::vector<Tensor>> DecodeThreeRows(Graph& decoder) {
  CompileOptions options;
  options.batch_size = 3;
  options.use_onednn = false;
  ASSIGN_OR_RETURN(proto::Plan plan, CompileToPlan(decoder, options));
  ASSIGN_OR_RETURN(std::unique_ptr<runtime::Session> session, runtime::Session::Create(plan));
  return testing::RunOnce(*session,
                          {Tensor::FromVector(proto::DT_FLOAT, {3, 2}, std::vector<float>{0, 9, 2, 9, 1, 9})});
}

TEST(GreedyDecoderTest, EachStepReadsTheEarlierChoicesAndStopEnds) {
  auto model = CountingModel();
  proto::GreedyDecoding d;
  d.set_decoder_offset(kOffset);
  d.set_start_token(1);
  d.set_stop_token(4);
  d.set_pad_token(0);
  auto decoder = BuildGreedyDecoder(*model, d);
  ASSERT_OK(decoder.status());
  ASSERT_EQ((*decoder)->inputs().size(), 1u);
  EXPECT_EQ((*decoder)->inputs()[0]->name(), "encoder_ids");
  EXPECT_EQ((*decoder)->outputs()[0]->name(), "decoded");
  // The copies share the model's constants: one "table".
  int tables = 0;
  for (const Value* c : (*decoder)->constants()) tables += c->name().rfind("table", 0) == 0;
  EXPECT_EQ(tables, 1);

  // e0 = 0: 1 -> 2 -> 3 -> 4 (stop) -> pad. e0 = 2: 1 -> 4 (stop). e0 = 1: 1 -> 3 -> 5 -> 1 -> 3.
  auto out = DecodeThreeRows(**decoder);
  ASSERT_OK(out.status());
  ASSERT_EQ((*out)[0].dims(), (Dims{3, kSteps}));
  const float* v = (*out)[0].data_as<float>();
  EXPECT_EQ(std::vector<float>(v, v + 12), (std::vector<float>{2, 3, 4, 0, 4, 0, 0, 0, 3, 5, 1, 3}));
}

// A [batch, steps, offset] output becomes a decoder output holding copy t's step t.
TEST(GreedyDecoderTest, PerStepWeightsOfTheChosenTokens) {
  auto model = CountingModel(/*with_weights=*/true);
  proto::GreedyDecoding d;
  d.set_decoder_offset(kOffset);
  d.set_start_token(1);
  d.set_stop_token(4);
  auto decoder = BuildGreedyDecoder(*model, d);
  ASSERT_OK(decoder.status());
  ASSERT_EQ((*decoder)->outputs().size(), 2u);
  EXPECT_EQ((*decoder)->outputs()[1]->name(), "weights");
  auto out = DecodeThreeRows(**decoder);
  ASSERT_OK(out.status());
  ASSERT_EQ((*out)[1].dims(), (Dims{3, kSteps, kOffset}));
  // Copy t's step t chose: e0 = 0: 2 3 4 5; e0 = 2: 4, then (after the stop, fed pad) 1 3 3;
  // e0 = 1: 3 5 1 3. Class 1 is the only one of classes 0-1 ever chosen.
  const float* w = (*out)[1].data_as<float>();
  EXPECT_EQ(std::vector<float>(w, w + 24), (std::vector<float>{0, 0, 0, 0, 0, 0, 0, 0,  //
                                                               0, 0, 0, 1, 0, 0, 0, 0,  //
                                                               0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST(GreedyDecoderTest, Errors) {
  auto model = CountingModel();
  proto::GreedyDecoding d;
  d.set_decoder_offset(6);
  EXPECT_EQ(BuildGreedyDecoder(*model, d).status().message(),
            "greedy decoding: decoder_offset 6 must lie in [1, 5] (the input row has 6 ids)");
  Graph two;
  two.AddInput("a", TensorType{proto::DT_FLOAT, {1, 3}});
  two.AddOutput(two.AddInput("b", TensorType{proto::DT_FLOAT, {1, 3}}));
  d.set_decoder_offset(1);
  EXPECT_EQ(BuildGreedyDecoder(two, d).status().message(),
            "greedy decoding needs a model with one input ([encoder ids | decoder ids]) and an output, got 2 inputs");
}

}  // namespace
}  // namespace kiln
