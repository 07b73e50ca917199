// The text frontend: ImportKilnModel and the Keras-like layer shorthand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>

#include "compiler/pass.h"
#include "frontends/load_model.h"
#include "frontends/text/initializers.h"
#include "google/protobuf/text_format.h"
#include "ir/verifier.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

StatusOr<Model> Import(const std::string& text, const std::string& source = "model.kiln.txt") {
  proto::Model m;
  if (!google::protobuf::TextFormat::ParseFromString(text, &m)) return InvalidArgument("test model does not parse");
  return ImportKilnModel(m, source);
}

constexpr char kInput4[] = R"(
  input { name: "x" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } }
)";
constexpr char kImage[] = R"(
  input { name: "image" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 3 } dims { size: 8 } dims { size: 8 } }
)";

std::string GraphWith(const std::string& input, const std::string& body) { return "graph { " + input + body + " }"; }

std::vector<std::string> OpTypes(const Graph& g) {
  std::vector<std::string> ops;
  for (const auto& n : g.nodes()) ops.push_back(n->op_type());
  return ops;
}

// Runs the inference passes with `batch` and returns the type of output 0.
TensorType InferredOutput(Graph& g, int64_t batch = 1) {
  PassOptions options;
  options.batch_size = batch;
  Status st = PrepareForInference(g, options);
  EXPECT_TRUE(st.ok()) << st.message();
  return g.outputs().empty() ? TensorType{} : g.outputs()[0]->type();
}

TEST(TextFrontendTest, DenseExpandsToMatMulAddActivation) {
  auto m = Import(GraphWith(kInput4, R"(
    layer { name: "dense1" dense { units: 16 activation: "relu" } }
    layer { name: "out" dense { units: 3 activation: "softmax" } })"));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"MatMul", "Add", "Relu", "MatMul", "Add", "Softmax"}));
  EXPECT_EQ(g.FindValue("dense1/kernel")->dims(), (Dims{4, 16}));
  EXPECT_EQ(g.FindValue("dense1/bias")->dims(), (Dims{16}));
  EXPECT_EQ(g.FindValue("out/kernel")->dims(), (Dims{16, 3}));
  EXPECT_TRUE(g.FindValue("dense1/kernel")->is_parameter());
  EXPECT_EQ(g.FindNode("out/Softmax")->attrs().GetInt("axis", 0), -1);
  // The last value of each layer is named after it; the last layer is the output.
  ASSERT_EQ(g.outputs().size(), 1u);
  EXPECT_EQ(g.outputs()[0]->name(), "out");
  EXPECT_EQ(g.FindNode("out/MatMul")->input(0)->name(), "dense1");
  // Symbolic batch survives import; the passes fix it.
  EXPECT_EQ(g.inputs()[0]->dims(), (Dims{-1, 4}));
  ASSERT_OK(Verify(g));
  EXPECT_EQ(InferredOutput(g, 5), (TensorType{proto::DT_FLOAT, {5, 3}}));
}

TEST(TextFrontendTest, DenseWeightsAreDeterministicGlorotUniform) {
  const std::string text = GraphWith(kInput4, R"(layer { name: "d" dense { units: 50 } })");
  auto a = Import(text), b = Import(text);
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  const Tensor& ka = a->graph->FindValue("d/kernel")->constant();
  const Tensor& kb = b->graph->FindValue("d/kernel")->constant();
  ASSERT_EQ(ka.num_bytes(), kb.num_bytes());
  EXPECT_EQ(std::memcmp(ka.data(), kb.data(), ka.num_bytes()), 0);
  const float limit = std::sqrt(6.0f / (4 + 50));
  float max_abs = 0;
  for (int64_t i = 0; i < ka.num_elements(); ++i) max_abs = std::max(max_abs, std::fabs(ka.data_as<float>()[i]));
  EXPECT_LE(max_abs, limit);
  EXPECT_GT(max_abs, 0.8f * limit);  // actually spread over the range, not all zeros
  const Tensor& bias = a->graph->FindValue("d/bias")->constant();
  for (int64_t i = 0; i < bias.num_elements(); ++i) EXPECT_EQ(bias.data_as<float>()[i], 0.0f);
  // A different layer name draws different values.
  auto c = Import(GraphWith(kInput4, R"(layer { name: "e" dense { units: 50 } })"));
  ASSERT_OK(c.status());
  EXPECT_NE(std::memcmp(ka.data(), c->graph->FindValue("e/kernel")->constant().data(), ka.num_bytes()), 0);
}

TEST(TextFrontendTest, InitializerStatistics) {
  using text::InitKind;
  Tensor he = text::MakeInitializedTensor(InitKind::kHeNormal, {200, 100}, 200, 100, "he");
  double sum = 0, sum_sq = 0;
  for (int64_t i = 0; i < he.num_elements(); ++i) {
    sum += he.data_as<float>()[i];
    sum_sq += he.data_as<float>()[i] * he.data_as<float>()[i];
  }
  const double n = he.num_elements(), stddev = std::sqrt(sum_sq / n - (sum / n) * (sum / n));
  EXPECT_NEAR(sum / n, 0.0, 0.01);
  EXPECT_NEAR(stddev, std::sqrt(2.0 / 200), 0.1 * std::sqrt(2.0 / 200));
  Tensor hu = text::MakeInitializedTensor(InitKind::kHeUniform, {1000}, 10, 1, "hu");
  for (int64_t i = 0; i < hu.num_elements(); ++i) EXPECT_LE(std::fabs(hu.data_as<float>()[i]), std::sqrt(0.6f));
  Tensor zeros = text::MakeInitializedTensor(InitKind::kZeros, {7}, 1, 1, "z");
  for (int64_t i = 0; i < 7; ++i) EXPECT_EQ(zeros.data_as<float>()[i], 0.0f);
  EXPECT_FALSE(text::ParseInitKind("lecun_magic").ok());
  EXPECT_TRUE(text::ParseInitKind("glorot_normal").ok());
}

TEST(TextFrontendTest, DenseUsesInitializersFromTheFile) {
  auto m = Import(GraphWith(kInput4, R"(
    initializer { name: "d/kernel" dtype: DT_FLOAT dims: [4, 2] float_data: [1, 2, 3, 4, 5, 6, 7, 8] }
    initializer { name: "d/bias" dtype: DT_FLOAT dims: [2] float_data: [0.5, -0.5] }
    layer { name: "d" dense { units: 2 } })"));
  ASSERT_OK(m.status());
  const Tensor& k = m->graph->FindValue("d/kernel")->constant();
  EXPECT_EQ(k.data_as<float>()[7], 8.0f);
  EXPECT_EQ(m->graph->FindValue("d/bias")->constant().data_as<float>()[1], -0.5f);
}

TEST(TextFrontendTest, InitializerOfTheWrongShapeNamesTheLayer) {
  auto m = Import(GraphWith(kInput4, R"(
    initializer { name: "d/kernel" dtype: DT_FLOAT dims: [3, 2] float_data: [1, 2, 3, 4, 5, 6] }
    layer { name: "d" dense { units: 2 } })"));
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().message(),
            "model.kiln.txt: layer 'd' (Dense): initializer 'd/kernel' has type float32[3, 2], expected float32[4, 2]");
}

TEST(TextFrontendTest, Conv2DSamePaddingAndGroups) {
  auto m = Import(GraphWith(kImage, R"(
    layer { name: "conv" conv2d { filters: 6 kernel_size: [3] padding: "same" strides: [2] activation: "relu"
                                  kernel_initializer: "he_normal" groups: 3 } })"));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"Conv", "Relu"}));
  EXPECT_EQ(g.FindValue("conv/kernel")->dims(), (Dims{6, 1, 3, 3}));
  EXPECT_EQ(g.FindValue("conv/bias")->dims(), (Dims{6}));
  const Node* conv = g.FindNode("conv/Conv");
  EXPECT_EQ(conv->attrs().GetInts("pads"), (std::vector<int64_t>{0, 0, 1, 1}));  // TF "same": extra at the end
  EXPECT_EQ(conv->attrs().GetInts("strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(conv->attrs().GetInt("group", 1), 3);
  EXPECT_EQ(InferredOutput(g, 2), (TensorType{proto::DT_FLOAT, {2, 6, 4, 4}}));
}

TEST(TextFrontendTest, Conv2DValidPaddingNoBiasAndErrors) {
  auto m = Import(GraphWith(kImage, R"(layer { name: "c" conv2d { filters: 4 kernel_size: [3, 5] no_bias: true } })"));
  ASSERT_OK(m.status());
  EXPECT_EQ(m->graph->FindNode("c/Conv")->num_inputs(), 2);
  EXPECT_EQ(InferredOutput(*m->graph), (TensorType{proto::DT_FLOAT, {1, 4, 6, 4}}));

  auto too_big = Import(GraphWith(kImage, R"(layer { name: "c" conv2d { filters: 4 kernel_size: [9] } })"));
  ASSERT_FALSE(too_big.ok());
  EXPECT_NE(too_big.status().message().find("model.kiln.txt: layer 'c' (Conv2D): window 9x9 does not fit"),
            std::string::npos)
      << too_big.status().message();
  auto rank2 = Import(GraphWith(kInput4, R"(layer { name: "c" conv2d { filters: 4 kernel_size: [3] } })"));
  ASSERT_FALSE(rank2.ok());
  EXPECT_NE(rank2.status().message().find("layer 'c' (Conv2D): needs an NCHW input of rank 4"), std::string::npos);
  auto no_kernel = Import(GraphWith(kImage, R"(layer { name: "c" conv2d { filters: 4 } })"));
  EXPECT_NE(no_kernel.status().message().find("kernel_size is required"), std::string::npos);
  auto bad_pad =
      Import(GraphWith(kImage, R"(layer { name: "c" conv2d { filters: 4 kernel_size: 3 padding: "full" } })"));
  EXPECT_NE(bad_pad.status().message().find("padding must be \"valid\" or \"same\""), std::string::npos);
}

TEST(TextFrontendTest, PoolingFlattenAndDenseChain) {
  auto m = Import(GraphWith(kImage, R"(
    layer { name: "pool" max_pool2d {} }
    layer { name: "avg" avg_pool2d { pool_size: [3] strides: [1] padding: "same" } }
    layer { name: "flat" flatten {} }
    layer { name: "fc" dense { units: 10 } })"));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"MaxPool", "AveragePool", "Flatten", "MatMul", "Add"}));
  EXPECT_EQ(g.FindNode("pool/MaxPool")->attrs().GetInts("kernel_shape"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(g.FindNode("pool/MaxPool")->attrs().GetInts("strides"), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(g.FindNode("avg/AveragePool")->attrs().GetInts("pads"), (std::vector<int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(g.FindNode("flat/Flatten")->attrs().GetInt("axis", 0), 1);
  // 3 channels x 4 x 4 after the 2x2 pool.
  EXPECT_EQ(g.FindValue("fc/kernel")->dims(), (Dims{48, 10}));
  EXPECT_EQ(InferredOutput(g, 3), (TensorType{proto::DT_FLOAT, {3, 10}}));
}

TEST(TextFrontendTest, DropoutAndBatchNorm) {
  auto m = Import(GraphWith(kImage, R"(
    layer { name: "bn" batch_norm { epsilon: 0.01 } }
    layer { name: "drop" dropout { rate: 0.25 } })"));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  EXPECT_EQ(OpTypes(g), (std::vector<std::string>{"BatchNormalization", "Dropout"}));
  const Node* bn = g.FindNode("bn/BatchNormalization");
  EXPECT_FLOAT_EQ(bn->attrs().GetFloat("epsilon", 0), 0.01f);
  EXPECT_FLOAT_EQ(bn->attrs().GetFloat("momentum", 0), 0.99f);
  EXPECT_EQ(g.FindValue("bn/gamma")->constant().data_as<float>()[2], 1.0f);
  EXPECT_EQ(g.FindValue("bn/moving_variance")->constant().data_as<float>()[0], 1.0f);
  EXPECT_TRUE(g.FindValue("bn/beta")->is_parameter());
  EXPECT_FALSE(g.FindValue("bn/moving_mean")->is_parameter());  // statistics, not trained by gradients
  const Node* drop = g.FindNode("drop/Dropout");
  ASSERT_EQ(drop->num_inputs(), 2);
  EXPECT_FLOAT_EQ(drop->input(1)->constant().data_as<float>()[0], 0.25f);
  EXPECT_EQ(InferredOutput(g), (TensorType{proto::DT_FLOAT, {1, 3, 8, 8}}));

  auto bad = Import(GraphWith(kImage, R"(layer { name: "drop" dropout { rate: 1.5 } })"));
  EXPECT_NE(bad.status().message().find("layer 'drop' (Dropout): rate must be in [0, 1)"), std::string::npos);
}

TEST(TextFrontendTest, ActivationLayerMapsEveryFunction) {
  const std::vector<std::pair<std::string, std::string>> cases = {{"relu", "Relu"},
                                                                  {"sigmoid", "Sigmoid"},
                                                                  {"tanh", "Tanh"},
                                                                  {"softmax", "Softmax"},
                                                                  {"log_softmax", "LogSoftmax"},
                                                                  {"elu", "Elu"},
                                                                  {"selu", "Selu"},
                                                                  {"softplus", "Softplus"},
                                                                  {"softsign", "Softsign"},
                                                                  {"leaky_relu", "LeakyRelu"},
                                                                  {"linear", "Identity"}};
  for (const auto& [function, op] : cases) {
    auto m = Import(GraphWith(kInput4, "layer { name: \"act\" activation { function: \"" + function + "\" } }"));
    ASSERT_OK(m.status());
    ASSERT_EQ(OpTypes(*m->graph), std::vector<std::string>{op}) << function;
    EXPECT_EQ(m->graph->outputs()[0]->name(), "act");
    if (op == "LeakyRelu") {
      EXPECT_FLOAT_EQ(m->graph->nodes().front()->attrs().GetFloat("alpha", 0), 0.2f);
    }
  }
  auto bad = Import(GraphWith(kInput4, R"(layer { name: "act" activation { function: "swishy" } })"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("model.kiln.txt: layer 'act' (Activation): unknown activation 'swishy'"),
            std::string::npos)
      << bad.status().message();
}

TEST(TextFrontendTest, LayersStartAfterDeclaredNodesAndOutputsResolveLate) {
  auto m = Import(GraphWith(kInput4, R"(
    node { name: "pre" op_type: "Relu" input: "x" output: "pre_out" }
    layer { name: "d1" dense { units: 5 } }
    layer { name: "d2" dense { units: 2 } }
    output { name: "d1" }
    output { name: "d2" })"));
  ASSERT_OK(m.status());
  Graph& g = *m->graph;
  EXPECT_EQ(g.FindNode("d1/MatMul")->input(0)->name(), "pre_out");
  ASSERT_EQ(g.outputs().size(), 2u);
  EXPECT_EQ(g.outputs()[0]->name(), "d1");
  EXPECT_EQ(g.outputs()[1]->name(), "d2");

  auto undefined = Import(GraphWith(kInput4, R"(layer { name: "d1" dense { units: 5 } } output { name: "nope" })"));
  ASSERT_FALSE(undefined.ok());
  EXPECT_EQ(undefined.status().message(), "model.kiln.txt: graph output 'nope' is not defined");
}

TEST(TextFrontendTest, DefaultNamesAndLayerErrors) {
  auto m = Import(GraphWith(kInput4, "layer { dense { units: 3 } } layer { dense { units: 2 } }"));
  ASSERT_OK(m.status());
  EXPECT_NE(m->graph->FindValue("dense_1/kernel"), nullptr);
  EXPECT_NE(m->graph->FindValue("dense_2/kernel"), nullptr);

  auto dup =
      Import(GraphWith(kInput4, R"(layer { name: "a" dense { units: 3 } } layer { name: "a" dense { units: 2 } })"));
  EXPECT_EQ(dup.status().message(), "model.kiln.txt: layer 'a' (Dense): the name is used by an earlier layer");
  auto no_kind = Import(GraphWith(kInput4, R"(layer { name: "a" })"));
  EXPECT_NE(no_kind.status().message().find("model.kiln.txt: layer 'a': no layer kind set"), std::string::npos);
  auto units = Import(GraphWith(kInput4, R"(layer { name: "a" dense { units: 0 } })"));
  EXPECT_EQ(units.status().message(), "model.kiln.txt: layer 'a' (Dense): units must be positive, got 0");
  auto init = Import(GraphWith(kInput4, R"(layer { name: "a" dense { units: 2 kernel_initializer: "magic" } })"));
  EXPECT_NE(init.status().message().find("layer 'a' (Dense): unknown kernel_initializer 'magic'"), std::string::npos);
  auto no_input = Import(R"(graph { layer { name: "a" dense { units: 2 } } })");
  EXPECT_NE(no_input.status().message().find("layer 'a' (Dense): the graph has no input to start from"),
            std::string::npos);
}

TEST(TextFrontendTest, TextParseErrorsCarryLineNumbers) {
  std::string dir = testing::MakeTempDir();
  std::string path = dir + "/broken.kiln.txt";
  std::ofstream(path) << "graph {\n  name: \"x\"\n  layer { dense { units: \"many\" } }\n}\n";
  auto m = LoadModel(path);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find(path + ":line 3:"), std::string::npos) << m.status().message();
}

TEST(TextFrontendTest, ExampleModelLoads) {
  auto m = LoadModel(testing::SourcePath("examples/iris_mlp.kiln.txt"));
  ASSERT_OK(m.status());
  EXPECT_EQ(m->graph->name(), "iris_mlp");
  EXPECT_EQ(InferredOutput(*m->graph, 3), (TensorType{proto::DT_FLOAT, {3, 3}}));
}

// Given values are used as they are or refused; only unset ones take the Keras defaults.
TEST(TextFrontendTest, BatchNormAndDropoutHyperparametersAreNeverReplaced) {
  for (const auto& [layer, needle] : std::vector<std::pair<std::string, std::string>>{
           {"batch_norm { epsilon: 0 }", "epsilon must be > 0, got 0"},
           {"batch_norm { epsilon: -0.001 }", "epsilon must be > 0, got -0.001"},
           {"batch_norm { epsilon: nan }", "epsilon must be > 0"},
           {"batch_norm { momentum: 1.5 }", "momentum must be in [0, 1], got 1.5"},
           {"batch_norm { momentum: -0.5 }", "momentum must be in [0, 1]"},
           {"dropout { rate: -0.1 }", "rate must be in [0, 1)"},
           {"dropout { rate: 1 }", "rate must be in [0, 1)"},
           {"dropout { rate: nan }", "rate must be in [0, 1)"}}) {
    auto m = Import(GraphWith(kImage, "layer { name: \"l\" " + layer + " }"));
    ASSERT_FALSE(m.ok()) << layer;
    EXPECT_NE(m.status().message().find("layer 'l'"), std::string::npos) << m.status().message();
    EXPECT_NE(m.status().message().find(needle), std::string::npos) << layer << ": " << m.status().message();
  }
  auto m = Import(GraphWith(kImage, R"(layer { name: "bn" batch_norm { momentum: 0 } })"));
  ASSERT_OK(m.status());
  EXPECT_FLOAT_EQ(m->graph->FindNode("bn/BatchNormalization")->attrs().GetFloat("momentum", -1), 0.0f);
  EXPECT_FLOAT_EQ(m->graph->FindNode("bn/BatchNormalization")->attrs().GetFloat("epsilon", -1), 1e-3f);
}

// An empty or output-less file is not a model: no empty plan, no empty dump.
TEST(TextFrontendTest, EmptyModelFilesAreRejected) {
  const std::string dir = testing::MakeTempDir();
  for (const std::string name : {"empty.kiln", "empty.kiln.txt", "comment.kiln.txt", "noout.kiln.txt"}) {
    std::ofstream f(dir + "/" + name);
    if (name == "comment.kiln.txt") f << "# nothing here\n";
    if (name == "noout.kiln.txt") f << "graph { name: 'g' }\n";
  }
  for (const std::string name : {"empty.kiln", "empty.kiln.txt", "comment.kiln.txt", "noout.kiln.txt"}) {
    auto m = LoadModel(dir + "/" + name);
    ASSERT_FALSE(m.ok()) << name;
    const std::string& msg = m.status().message();
    EXPECT_TRUE(msg.find("empty file") != std::string::npos || msg.find("has no outputs") != std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace kiln
