// Use lists kept by the graph (what makes use queries and rewiring O(uses)):
// every mutation path keeps NumUses/Users/IsGraphOutput/FindNode exact.
#include <gtest/gtest.h>

#include <algorithm>

#include "ir/graph.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

const TensorType kF{proto::DT_FLOAT, {2}};

TEST(GraphUses, AddNodeCountsEveryUseIncludingRepeats) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  Node* add = g.AddNode("Add", "add", {x, x});
  Node* relu = g.AddNode("Relu", "relu", {x});
  EXPECT_EQ(g.NumUses(x), 3);
  std::vector<Node*> users = g.Users(x);
  std::sort(users.begin(), users.end());
  std::vector<Node*> expected = {add, add, relu};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(users, expected);
  EXPECT_EQ(g.NumUses(relu->output(0)), 0);
}

TEST(GraphUses, SetInputMovesTheUse) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  Value* y = g.AddInput("y", kF);
  Node* a = g.AddNode("Relu", "a", {x});
  Node* b = g.AddNode("Add", "b", {x, a->output(0)});
  b->set_input(0, y);
  EXPECT_EQ(g.NumUses(x), 1);
  EXPECT_EQ(g.NumUses(y), 1);
  EXPECT_EQ(g.Users(y), std::vector<Node*>{b});
  b->set_input(1, nullptr);  // an omitted optional input is no use
  EXPECT_EQ(g.NumUses(a->output(0)), 0);
  b->set_input(1, x);
  EXPECT_EQ(g.NumUses(x), 2);
}

TEST(GraphUses, ReplaceAllUsesWithMovesNodeOutputAndStateUses) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  Value* s = g.AddState("s", Tensor::FromVector(proto::DT_FLOAT, {2}, std::vector<float>{0, 0}));
  Node* a = g.AddNode("Relu", "a", {x});
  Node* b = g.AddNode("Neg", "b", {a->output(0)});
  Node* c = g.AddNode("Abs", "c", {a->output(0)});
  g.AddOutput(a->output(0));
  g.SetStateUpdate(s, a->output(0));
  EXPECT_EQ(g.NumUses(a->output(0)), 4);
  g.ReplaceAllUsesWith(a->output(0), x);
  EXPECT_EQ(g.NumUses(a->output(0)), 0);
  EXPECT_FALSE(g.IsGraphOutput(a->output(0)));
  EXPECT_EQ(g.NumUses(x), 5);  // a, b, c, the graph output, the state update
  EXPECT_TRUE(g.IsGraphOutput(x));
  EXPECT_EQ(g.outputs()[0], x);
  EXPECT_EQ(g.FindState(s)->update, x);
  EXPECT_EQ(b->input(0), x);
  EXPECT_EQ(c->input(0), x);
  g.SetStateUpdate(s, nullptr);
  EXPECT_EQ(g.NumUses(x), 4);
}

TEST(GraphUses, RemoveNodeDropsItsUsesAndName) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  Node* a = g.AddNode("Relu", "a", {x});
  Node* b = g.AddNode("Neg", "b", {x});
  Node* c = g.AddNode("Abs", "c", {x});
  g.RemoveNode(b);
  EXPECT_EQ(g.NumUses(x), 2);
  EXPECT_EQ(g.FindNode("b"), nullptr);
  EXPECT_EQ(g.FindNode("a"), a);
  g.RemoveNode(a);
  g.RemoveNode(c);
  EXPECT_EQ(g.NumUses(x), 0);
  EXPECT_EQ(g.num_nodes(), 0);
}

TEST(GraphUses, InsertNodeBeforeKeepsOrderAndCountsUses) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  Node* a = g.AddNode("Relu", "a", {x});
  Node* c = g.AddNode("Abs", "c", {a->output(0)});
  Node* b = g.InsertNodeBefore(c, "Neg", "b", {a->output(0)});
  EXPECT_EQ(g.NodeList(), (std::vector<Node*>{a, b, c}));
  EXPECT_EQ(g.NumUses(a->output(0)), 2);
  EXPECT_EQ(g.FindNode("b"), b);
}

TEST(GraphUses, OutputsSetInBulkOrByIndexAreCounted) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  Value* y = g.AddInput("y", kF);
  g.SetOutputs({x, x});
  EXPECT_EQ(g.NumUses(x), 2);
  g.SetOutput(1, y);
  EXPECT_EQ(g.NumUses(x), 1);
  EXPECT_TRUE(g.IsGraphOutput(y));
  g.SetOutputs({y});
  EXPECT_FALSE(g.IsGraphOutput(x));
  EXPECT_EQ(g.NumUses(x), 0);
}

TEST(GraphUses, CloneAndProtoRoundTripKeepUses) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  Value* s = g.AddState("s", Tensor::FromVector(proto::DT_FLOAT, {2}, std::vector<float>{0, 0}));
  Node* a = g.AddNode("Add", "a", {x, s});
  g.AddOutput(a->output(0));
  g.SetStateUpdate(s, a->output(0));
  auto c = g.Clone();
  EXPECT_EQ(c->NumUses(c->FindValue("a")), 2);
  EXPECT_EQ(c->NumUses(c->FindValue("x")), 1);
  EXPECT_TRUE(c->IsGraphOutput(c->FindValue("a")));
  // Proto form (states are not part of it): a graph output read by a node.
  Graph h;
  Node* ha = h.AddNode("Relu", "a", {h.AddInput("x", kF)});
  h.AddNode("Neg", "b", {ha->output(0)});
  h.AddOutput(ha->output(0));
  proto::Graph p;
  h.ToProto(&p);
  auto back = Graph::FromProto(p);
  ASSERT_OK(back.status());
  EXPECT_EQ((*back)->NumUses((*back)->FindValue("x")), 1);
  EXPECT_EQ((*back)->NumUses((*back)->FindValue("a")), 2);
  EXPECT_TRUE((*back)->IsGraphOutput((*back)->FindValue("a")));
  EXPECT_EQ((*back)->FindNode("a"), (*back)->NodeList()[0]);
}

// Removing every user of a value read by many nodes is linear, not quadratic.
TEST(GraphUses, WideFanOutRemovalIsFast) {
  Graph g;
  Value* x = g.AddInput("x", kF);
  std::vector<Node*> users;
  for (int i = 0; i < 100000; ++i) users.push_back(g.AddNode("Relu", "r", {x}));
  EXPECT_EQ(g.NumUses(x), 100000);
  for (Node* n : users) g.RemoveNode(n);
  EXPECT_EQ(g.NumUses(x), 0);
}

}  // namespace
}  // namespace kiln
