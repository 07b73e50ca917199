#include "ir/graph.h"

#include <gtest/gtest.h>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/pass.h"
#include "ir/verifier.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

TEST(GraphTest, BuildInferLowerAndRunReluOfSum) {
  Graph g;
  Value* a = g.AddInput("a", {proto::DT_FLOAT, {2, 3}});
  Value* b = g.AddInput("b", {proto::DT_FLOAT, {3}});
  Node* add = g.AddNode("Add", "add", {a, b});
  Node* relu = g.AddNode("Relu", "relu", {add->output(0)});
  g.AddOutput(relu->output(0));
  ASSERT_OK(Verify(g));
  ASSERT_OK(PrepareForInference(g, {}));
  // The pipeline may replace nodes (Add + Relu fuse): read the result through the graph.
  EXPECT_EQ(g.outputs()[0]->type(), (TensorType{proto::DT_FLOAT, {2, 3}}));
  EXPECT_EQ(g.outputs()[0]->name(), "relu");

  auto plan = CompileForCpu(g);
  ASSERT_OK(plan.status());
  auto session = runtime::Session::Create(*plan);
  ASSERT_OK(session.status());
  std::vector<float> av = {1, -2, 3, -4, 5, -6}, bv = {0.5f, 0.5f, 0.5f};
  ASSERT_OK((*session)->SetInput(0, av.data(), av.size() * 4));
  ASSERT_OK((*session)->SetInput(1, bv.data(), bv.size() * 4));
  ASSERT_OK((*session)->Run());
  const float* y = (*session)->output(0).as<float>();
  std::vector<float> expected = {1.5f, 0, 3.5f, 0, 5.5f, 0};
  for (int i = 0; i < 6; ++i) EXPECT_FLOAT_EQ(y[i], expected[i]);
}

TEST(GraphTest, VerifierReportsEveryUnknownOp) {
  Graph g;
  Value* a = g.AddInput("a", {proto::DT_FLOAT, {2}});
  Node* n1 = g.AddNode("Frobnicate", "f1", {a});
  Node* n2 = g.AddNode("Wobble", "w1", {n1->output(0)});
  g.AddOutput(n2->output(0));
  Status st = Verify(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("f1 (Frobnicate): unknown op"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("w1 (Wobble): unknown op"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace kiln
