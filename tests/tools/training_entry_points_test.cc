// `kiln train`, `kiln compile --train` and `kiln dump --train` map a model file's training
// block to the training step through one function (TrainingConfigFromSpec): from the same
// file they must build the identical graph, defaults included (loss, batch size, seed).
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;
Result Kiln(const std::string& args) { return testing::RunKilnInSourceTree(args); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Iris with a Dropout (so the seed matters) and a training block that leaves the loss unset.
std::string WriteModel(const std::string& dir) {
  const std::string path = dir + "/iris_dropout.kiln.txt";
  std::ofstream(path) << R"(graph {
  name: "iris_dropout"
  input { name: "features" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } }
  parameter { name: "w1" dims: [4, 16] init { kind: "he_normal" } }
  parameter { name: "b1" dims: [16] init { kind: "zeros" } }
  parameter { name: "w2" dims: [16, 3] init { kind: "glorot_uniform" seed: 7 } }
  parameter { name: "b2" dims: [3] init { kind: "zeros" } }
  node { name: "fc1" op_type: "MatMul" input: "features" input: "w1" output: "h1" }
  node { name: "bias1" op_type: "Add" input: "h1" input: "b1" output: "z1" }
  node { name: "relu1" op_type: "Relu" input: "z1" output: "a1" }
  node { name: "drop" op_type: "Dropout" input: "a1" output: "d1" }
  node { name: "fc2" op_type: "MatMul" input: "d1" input: "w2" output: "h2" }
  node { name: "bias2" op_type: "Add" input: "h2" input: "b2" output: "logits" }
  node { name: "softmax" op_type: "Softmax" input: "logits" output: "probs" attribute { name: "axis" i: -1 } }
  output { name: "probs" }
}
training {
  data: "csv:)" + testing::SourcePath("examples/data/iris.csv") +
                             R"("
  preprocess: "minmax"
  optimizer: "rmsprop" learning_rate: 0.005 weight_decay: 0.0001
  batch_size: 16
  seed: 42
  epochs: 1
})";
  return path;
}

TEST(TrainingEntryPointsTest, TrainCompileAndDumpBuildTheSameStep) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = WriteModel(dir);

  Result train = Kiln("train " + model + " --quiet --threads 1 --dump-step " + dir + "/train.txt");
  ASSERT_EQ(train.code, 0) << train.output;
  Result compile = Kiln("compile " + model + " --train -o " + dir + "/trainer --dump-step " + dir + "/compile.txt");
  ASSERT_EQ(compile.code, 0) << compile.output;
  Result dump = Kiln("dump " + model + " --train -o " + dir + "/dump.txt");
  ASSERT_EQ(dump.code, 0) << dump.output;

  const std::string from_train = ReadAll(dir + "/train.txt");
  ASSERT_FALSE(from_train.empty());
  EXPECT_EQ(ReadAll(dir + "/compile.txt"), from_train);
  // dump --train adds one paragraph on the compiled plan after the graph.
  const std::string dumped = ReadAll(dir + "/dump.txt");
  ASSERT_GE(dumped.size(), from_train.size());
  EXPECT_EQ(dumped.substr(0, from_train.size()), from_train);
  EXPECT_EQ(dumped.rfind("Plan: ", from_train.size()), from_train.size()) << dumped.substr(from_train.size());

  // The block's choices and the defaults all reached the step.
  for (const char* needle : {"RMSpropUpdate", "SoftmaxCrossEntropy", "DropoutTraining", "float32[16, 4]"}) {
    EXPECT_NE(from_train.find(needle), std::string::npos) << needle << " in\n" << from_train;
  }
}

}  // namespace
}  // namespace kiln
