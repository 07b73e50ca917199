// Tests of the core passes: each checks the changed flag, the new structure,
// numeric equivalence with the unoptimized graph, and a case left alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "compiler/compile.h"
#include "compiler/memory_planner.h"
#include "compiler/pass.h"
#include "ir/verifier.h"
#include "runtime/session.h"
#include "tests/compiler/pass_test_helpers.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using testing::Execute;
using testing::RunOnePass;

TEST(ResolveSymbolicDimsTest, FixesBatchAndLeavesStaticInputsAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {-1, 4}});
  x->symbolic_dims().push_back({0, "batch"});
  Value* y = g.AddInput("y", {proto::DT_FLOAT, {2, 4}});
  g.AddOutput(g.AddNode("Relu", "r", {x})->output(0));
  g.AddOutput(g.AddNode("Relu", "r2", {y})->output(0));
  auto changed = RunOnePass(g, "resolve-symbolic-dims", {.batch_size = 8});
  ASSERT_OK(changed.status());
  EXPECT_TRUE(*changed);
  EXPECT_EQ(x->dims(), (Dims{8, 4}));
  EXPECT_EQ(y->dims(), (Dims{2, 4}));
  changed = RunOnePass(g, "resolve-symbolic-dims", {.batch_size = 8});
  ASSERT_OK(changed.status());
  EXPECT_FALSE(*changed) << "a second run has nothing to do";
}

TEST(ResolveSymbolicDimsTest, RejectsSymbolicNonBatchDimension) {
  // Two symbols: dim 0 is the batch, 'seq' cannot be compiled.
  Graph g;
  Value* x = g.AddInput("tokens", {proto::DT_FLOAT, {-1, -1}});
  x->symbolic_dims().push_back({0, "batch"});
  x->symbolic_dims().push_back({1, "seq"});
  g.AddOutput(g.AddNode("Relu", "r", {x})->output(0));
  auto changed = RunOnePass(g, "resolve-symbolic-dims");
  ASSERT_FALSE(changed.ok());
  EXPECT_NE(changed.status().message().find("'tokens': dimension 1 is symbolic ('seq')"), std::string::npos)
      << changed.status().message();
}

TEST(ResolveSymbolicDimsTest, OneSymbolAnywhereIsTheBatch) {
  // PyTorch's sequence-first recurrent models: [T, batch, F], and an output-side input with
  // the same symbol at dim 0.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {12, -1, 16}});
  x->symbolic_dims().push_back({1, "batch"});
  Value* h = g.AddInput("h", {proto::DT_FLOAT, {-1, 4}});
  h->symbolic_dims().push_back({0, "batch"});
  g.AddOutput(g.AddNode("Relu", "r", {x})->output(0));
  g.AddOutput(g.AddNode("Relu", "r2", {h})->output(0));
  EXPECT_TRUE(IsBatchDim(g, *x, 1));
  EXPECT_FALSE(IsBatchDim(g, *x, 0));
  auto changed = RunOnePass(g, "resolve-symbolic-dims", {.batch_size = 3});
  ASSERT_OK(changed.status());
  EXPECT_EQ(x->dims(), (Dims{12, 3, 16}));
  EXPECT_EQ(h->dims(), (Dims{3, 4}));
}

TEST(InferShapesTest, FoldsAllConstantSubgraphsAndMatchesUnfolded) {
  // relu(c1 + c2) + x: the constant part folds to one constant, x stays.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3}});
  Value* c1 = g.AddConstant("c1", testing::RandomTensor({2, 3}, 1));
  Value* c2 = g.AddConstant("c2", testing::RandomTensor({3}, 2));
  Node* sum = g.AddNode("Add", "csum", {c1, c2});
  Node* relu = g.AddNode("Relu", "crelu", {sum->output(0)});
  Node* out = g.AddNode("Add", "out", {relu->output(0), x});
  g.AddOutput(out->output(0));

  // The unfolded reference: run the same graph with folding disabled.
  auto unfolded = g.Clone();
  ASSERT_OK(RunOnePass(*unfolded, "infer-shapes", {.max_fold_elements = 0}).status());
  EXPECT_EQ(unfolded->num_nodes(), 3);

  auto changed = RunOnePass(g, "infer-shapes");
  ASSERT_OK(changed.status());
  EXPECT_TRUE(*changed);
  ASSERT_OK(Verify(g));
  EXPECT_EQ(g.num_nodes(), 1) << "only the node that reads the input remains";
  EXPECT_TRUE(g.nodes().front()->input(0)->is_constant());

  Tensor input = testing::RandomTensor({2, 3}, 3);
  auto folded_out = Execute(g, {input});
  auto unfolded_out = Execute(*unfolded, {input});
  ASSERT_EQ(folded_out.size(), 1u);
  ASSERT_EQ(unfolded_out.size(), 1u);
  EXPECT_EQ(testing::CompareTensors(folded_out[0], unfolded_out[0], 0, 0), "");
}

TEST(InferShapesTest, ReportsEveryShapeConflictInOneError) {
  Graph g;
  Value* a = g.AddInput("a", {proto::DT_FLOAT, {2, 3}});
  Value* b = g.AddInput("b", {proto::DT_FLOAT, {4}});
  Value* c = g.AddInput("c", {proto::DT_FLOAT, {5}});
  Node* bad1 = g.AddNode("Add", "bad1", {a, b});
  Node* bad2 = g.AddNode("Add", "bad2", {a, c});
  Node* after = g.AddNode("Relu", "after_bad1", {bad1->output(0)});
  g.AddOutput(after->output(0));
  g.AddOutput(bad2->output(0));
  auto changed = RunOnePass(g, "infer-shapes");
  ASSERT_FALSE(changed.ok());
  const std::string& msg = changed.status().message();
  EXPECT_NE(msg.find("bad1 (Add)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad2 (Add)"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("after_bad1"), std::string::npos) << "a node downstream of an error is not reported again";
}

TEST(DeadCodeEliminationTest, RemovesUnusedNodesAndConstantsOnly) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {4}});
  Value* unused_weight = g.AddConstant("unused_w", testing::RandomTensor({4}, 1));
  Node* dead = g.AddNode("Add", "dead", {x, unused_weight});
  Node* live = g.AddNode("Relu", "live", {x});
  g.AddOutput(live->output(0));
  (void)dead;
  auto changed = RunOnePass(g, "dce");
  ASSERT_OK(changed.status());
  EXPECT_TRUE(*changed);
  EXPECT_EQ(g.num_nodes(), 1);
  EXPECT_EQ(g.FindValue("unused_w"), nullptr);
  EXPECT_NE(g.FindValue("x"), nullptr) << "graph inputs stay even when unused elsewhere";
  changed = RunOnePass(g, "dce");
  ASSERT_OK(changed.status());
  EXPECT_FALSE(*changed) << "nothing left to remove";
}

TEST(MemoryPlannerTest, ReusesBuffersOfDeadValuesAndNeverOverlapsLiveOnes) {
  // A chain x -> r0 -> r1 -> r2 -> r3: the input stays intact for the whole run;
  // of the rest only a value and its consumer's output are live at once, so two
  // more 1 KiB buffers serve the four intermediate values.
  Graph g;
  Value* v = g.AddInput("x", {proto::DT_FLOAT, {256}});
  std::vector<Node*> chain;
  for (int i = 0; i < 4; ++i) {
    chain.push_back(g.AddNode("Relu", "r" + std::to_string(i), {v}));
    v = chain.back()->output(0);
  }
  g.AddOutput(v);
  ASSERT_OK(RunOnePass(g, "infer-shapes").status());
  MemoryPlan plan = PlanMemory(g);
  EXPECT_EQ(plan.arena_size, 3 * 1024);
  // Adjacent values (one reads the other) must not share memory.
  Value* prev = g.inputs()[0];
  for (Node* n : chain) {
    EXPECT_NE(plan.offsets[prev], plan.offsets[n->output(0)]) << n->name();
    prev = n->output(0);
  }
}

// Reshape-like ops over intermediate values share their buffers (host plans): the view's
// uses keep the bytes taken; a graph input keeps its own buffer, a graph output may be a view.
TEST(MemoryPlannerTest, ViewsShareTheBufferOfTheValueTheyReshape) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 1, 64}});
  Value* a = g.AddNode("Relu", "a", {x})->output(0);
  Value* squeezed =
      g.AddNode("Squeeze", "squeeze",
                {a, g.AddConstant("axes", Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{1}))})
          ->output(0);
  Value* flat = g.AddNode("Flatten", "flatten", {squeezed})->output(0);  // a view of a view
  Value* b = g.AddNode("Relu", "b", {a})->output(0);                     // a is dead after this...
  Value* c = g.AddNode("Relu", "c", {b})->output(0);                     // ...but its view is not
  Value* sum = g.AddNode("Add", "sum", {c, flat})->output(0);
  Value* in_view = g.AddNode("Identity", "input_view", {x})->output(0);  // a view of a graph input
  Value* out_view = g.AddNode("Identity", "output_view", {sum})->output(0);
  g.AddOutput(g.AddNode("Add", "both", {in_view, out_view})->output(0));
  g.AddOutput(out_view);  // a graph output: its own buffer
  ASSERT_OK(RunOnePass(g, "infer-shapes").status());

  const MemoryPlan plan = PlanMemory(g, /*views=*/true);
  EXPECT_EQ(plan.offsets.at(squeezed), plan.offsets.at(a));
  EXPECT_EQ(plan.offsets.at(flat), plan.offsets.at(a));
  // a's bytes stay taken while its views are live (until "sum").
  for (const Value* v : {b, c}) EXPECT_NE(plan.offsets.at(v), plan.offsets.at(a)) << v->name();
  EXPECT_NE(plan.offsets.at(in_view), plan.offsets.at(x)) << "graph inputs are not viewed";
  EXPECT_EQ(plan.offsets.at(out_view), plan.offsets.at(sum)) << "a graph output may be a view";

  // Without views (device plans) every value has its own buffer while live.
  const MemoryPlan plain = PlanMemory(g);
  EXPECT_NE(plain.offsets.at(squeezed), plain.offsets.at(a));
  EXPECT_LE(plan.arena_size, plain.arena_size);
}

// The same graph compiled and run: the views' kernels copy nothing and the results are those
// of the plan without views (the reference kernels, every value its own buffer).
TEST(MemoryPlannerTest, PlansWithViewsComputeTheSameValues) {
  auto build = [] {
    auto g = std::make_unique<Graph>();
    Value* x = g->AddInput("x", {proto::DT_FLOAT, {3, 1, 8}});
    Value* a = g->AddNode("Relu", "a", {x})->output(0);
    Value* flat = g->AddNode("Flatten", "flatten", {a})->output(0);
    Value* b = g->AddNode("Sigmoid", "b", {a})->output(0);
    Value* flat_b = g->AddNode("Flatten", "flatten_b", {b})->output(0);
    g->AddOutput(g->AddNode("Add", "sum", {flat, flat_b})->output(0));
    return g;
  };
  auto with_views = CompileToPlan(*build());
  ASSERT_OK(with_views.status());
  int shared = 0;
  for (const proto::Step& s : with_views->step()) {
    if (s.op_type() == "Flatten")
      shared += with_views->buffer(s.input(0)).offset() == with_views->buffer(s.output(0)).offset();
  }
  EXPECT_EQ(shared, 2);
  auto session = runtime::Session::Create(*with_views);
  ASSERT_OK(session.status());
  const Tensor x = testing::RandomTensor({3, 1, 8}, 5, -1, 1);
  ASSERT_OK((*session)->SetInput(0, x.data(), x.num_bytes()));
  ASSERT_OK((*session)->Run());
  const float* y = static_cast<const float*>((*session)->output(0).data);
  for (int i = 0; i < 24; ++i) {
    const float v = x.data_as<float>()[i];
    EXPECT_FLOAT_EQ(y[i], std::max(v, 0.0f) + 1.0f / (1.0f + std::exp(-std::max(v, 0.0f)))) << i;
  }
}

TEST(PipelineTest, VerifierNamesThePassThatBrokeTheGraph) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {4}});
  g.AddOutput(g.AddNode("Relu", "r", {x})->output(0));
  Status st = RunPipeline(g, {{"infer-shapes"}, {"no-such-pass"}}, {});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("unknown pass 'no-such-pass'"), std::string::npos);
}

}  // namespace
}  // namespace kiln
