#include "ir/printer.h"

#include <gtest/gtest.h>

#include <fstream>

#include "compiler/pass.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

// x[batch, 3] + b -> Relu, with one 3-element parameter.
std::unique_ptr<Graph> AddReluGraph(const std::string& name = "add_relu") {
  auto g = std::make_unique<Graph>();
  g->set_name(name);
  Value* x = g->AddInput("x", {proto::DT_FLOAT, {-1, 3}});
  x->symbolic_dims().push_back({0, "batch"});
  Value* b = g->AddConstant("b", Tensor::FromVector(proto::DT_FLOAT, {3}, std::vector<float>{1, 2, 3}));
  b->set_parameter(true);
  Node* add = g->AddNode("Add", "add", {x, b}, 1, {}, {"sum"});
  Node* relu = g->AddNode("Relu", "relu", {add->output(0)});
  g->AddOutput(relu->output(0));
  return g;
}

TEST(PrinterTest, FormatsCountsAndBytes) {
  EXPECT_EQ(FormatCount(0), "0");
  EXPECT_EQ(FormatCount(999), "999");
  EXPECT_EQ(FormatCount(1234), "1,234");
  EXPECT_EQ(FormatCount(1234567), "1,234,567");
  EXPECT_EQ(FormatBytes(12), "12 B");
  EXPECT_EQ(FormatBytes(4915), "4.8 KiB");
  EXPECT_EQ(FormatBytes(3 * 1024 * 1024 / 2), "1.5 MiB");
}

TEST(PrinterTest, ListsInputsNodesOutputsAndParams) {
  auto g = AddReluGraph();
  std::string text = PrintGraph(*g);
  EXPECT_NE(text.find("graph add_relu\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  %x: float32[batch, 3]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("parameters:\n  %b: float32[3]\n"), std::string::npos) << text;
  // Untyped before shape inference; the node name differs from its output, so it is shown.
  EXPECT_NE(text.find("  %sum = Add(%x, %b) : ?  # add\n"), std::string::npos) << text;
  EXPECT_NE(text.find("  %relu = Relu(%sum) : ?\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Total params: 3 (12 B)\n"), std::string::npos) << text;

  PassOptions options;
  options.batch_size = 2;
  // Typed, unfused (the full pipeline would fuse Add + Relu into one node).
  ASSERT_OK(RunPipeline(*g, {{"resolve-symbolic-dims"}, {"infer-shapes"}}, options));
  text = PrintGraph(*g);
  EXPECT_NE(text.find("  %sum = Add(%x, %b) : float32[2, 3]  # add\n"), std::string::npos) << text;
  EXPECT_NE(text.find("outputs:\n  %relu: float32[2, 3]\n"), std::string::npos) << text;
  // The table: one row per node with its parameter count.
  EXPECT_NE(text.find("add (Add)"), std::string::npos) << text;
  EXPECT_NE(text.find("[2, 3]"), std::string::npos) << text;
}

TEST(PrinterTest, PrintsAttributesAndSeparatesNonTrainableParams) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3}});
  Value* frozen = g.AddConstant("frozen", Tensor::FromVector(proto::DT_FLOAT, {2, 3}, std::vector<float>(6, 1.0f)));
  Attrs attrs;
  attrs.SetInt("axis", -1);
  Node* add = g.AddNode("Add", "add", {x, frozen});
  Node* relu = g.AddNode("Relu", "act", {add->output(0)}, 1, attrs);
  g.AddOutput(relu->output(0));
  std::string text = PrintGraph(g);
  EXPECT_NE(text.find("= Relu(%add) {axis=-1} :"), std::string::npos) << text;
  EXPECT_NE(text.find("constants:\n  %frozen: float32[2, 3] = [1, 1, 1, 1, 1, 1]\n"), std::string::npos) << text;
  EXPECT_NE(text.find("Total params: 6 (24 B)\nTrainable params: 0 (0 B)\nNon-trainable params: 6 (24 B)\n"),
            std::string::npos)
      << text;
}

TEST(PrinterTest, DotEscapesNamesAndRendersWithGraphviz) {
  auto g = AddReluGraph("quote\"and\\backslash");
  std::string dot = PrintDot(*g);
  EXPECT_NE(dot.find("digraph \"quote\\\"and\\\\backslash\" {"), std::string::npos) << dot;
  EXPECT_NE(dot.find("shape=box"), std::string::npos);
  EXPECT_NE(dot.find("label=\"Add\\nadd\\n?\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("label=\"param\\nb\\nfloat32[3]\""), std::string::npos) << dot;
  EXPECT_NE(dot.find("input0 -> node0"), std::string::npos) << dot;
  EXPECT_NE(dot.find("node1 -> output0"), std::string::npos) << dot;

  std::string out;
  if (testing::RunCommand("command -v dot", &out) != 0) GTEST_SKIP() << "graphviz 'dot' is not installed";
  std::string dir = testing::MakeTempDir();
  std::ofstream(dir + "/g.dot") << dot;
  EXPECT_EQ(testing::RunCommand("dot -Tsvg " + dir + "/g.dot -o " + dir + "/g.svg", &out), 0) << out << dot;
}

}  // namespace
}  // namespace kiln
