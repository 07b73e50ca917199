// recurrent-batch-first: a batch-first export's Transpose -> LSTM/GRU/RNN -> Squeeze ->
// Transpose becomes the op with layout=1 and a Squeeze, with the same results (initial states
// included); graphs it must leave alone: Y_h used, another output permutation, the transposed
// input read elsewhere.
#include <gtest/gtest.h>

#include "tests/compiler/pass_test_helpers.h"

namespace kiln {
namespace {

using namespace testing;  // NOLINT: pass test helpers

constexpr int64_t kN = 3, kT = 5, kC = 4, kH = 6;

struct Options {
  std::string op = "LSTM";
  bool initial_state = false;
  bool use_yh = false;
  std::vector<int64_t> out_perm = {1, 0, 2};
  bool transposed_input_elsewhere = false;
};

// x [N, T, C] -> Transpose -> op -> Y [T, 1, N, H] -> Squeeze -> Transpose -> [N, T, H].
void Build(Graph& g, const Options& o) {
  const int64_t gates = o.op == "LSTM" ? 4 : o.op == "GRU" ? 3 : 1, d = 1;
  Attrs swap;
  swap.SetInts("perm", {1, 0, 2});
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {kN, kT, kC}});
  Value* xt = g.AddNode("Transpose", "in_swap", {x}, 1, swap)->output(0);
  std::vector<Value*> in = {xt, g.AddConstant("w", RandomTensor({d, gates * kH, kC}, 1, -0.5f, 0.5f)),
                            g.AddConstant("r", RandomTensor({d, gates * kH, kH}, 2, -0.5f, 0.5f)),
                            g.AddConstant("b", RandomTensor({d, 2 * gates * kH}, 3, -0.5f, 0.5f))};
  if (o.initial_state) {
    in.push_back(nullptr);  // sequence_lens
    in.push_back(g.AddInput("h0", {proto::DT_FLOAT, {d, kN, kH}}));
    if (o.op == "LSTM") in.push_back(g.AddInput("c0", {proto::DT_FLOAT, {d, kN, kH}}));
  }
  Attrs attrs;
  attrs.SetInt("hidden_size", kH);
  Node* rnn = g.AddNode(o.op, "rnn", in, o.op == "LSTM" ? 3 : 2, attrs);
  Value* axes = g.AddConstant("axes", Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{1}));
  Value* squeezed = g.AddNode("Squeeze", "squeeze", {rnn->output(0), axes})->output(0);
  Attrs out_perm;
  out_perm.SetInts("perm", o.out_perm);
  g.AddOutput(g.AddNode("Transpose", "out_swap", {squeezed}, 1, out_perm)->output(0));
  if (o.use_yh) g.AddOutput(rnn->output(1));
  if (o.transposed_input_elsewhere) g.AddOutput(g.AddNode("Relu", "other", {xt})->output(0));
}

TEST(RecurrentBatchFirstTest, RunsTheOpBatchFirstWithTheSameResults) {
  for (const std::string op : {"LSTM", "GRU", "RNN"}) {
    for (bool initial_state : {false, true}) {
      SCOPED_TRACE(op + (initial_state ? " with initial states" : ""));
      Graph g;
      Options o;
      o.op = op;
      o.initial_state = initial_state;
      Build(g, o);
      auto original = InferAndClone(g);
      ExpectPassChanges(g, "recurrent-batch-first", true);
      ASSERT_OK(Verify(g));
      EXPECT_EQ(CountOps(g, "Transpose"), 0);
      for (const auto& n : g.nodes()) {
        if (n->op_type() == op) {
          EXPECT_EQ(n->attrs().GetInt("layout", 0), 1);
          EXPECT_EQ(n->input(0), g.inputs()[0]) << "reads x itself";
        }
      }
      ExpectSameResults(*original, g);
    }
  }
}

TEST(RecurrentBatchFirstTest, LeavesOtherGraphsAlone) {
  Options yh, perm, elsewhere;
  yh.use_yh = true;
  perm.out_perm = {2, 1, 0};
  elsewhere.transposed_input_elsewhere = true;
  for (const Options& o : {yh, perm, elsewhere}) {
    Graph g;
    Build(g, o);
    ASSERT_OK(RunOnePass(g, "infer-shapes").status());
    ExpectPassLeavesAlone(g, "recurrent-batch-first");
  }
}

}  // namespace
}  // namespace kiln
