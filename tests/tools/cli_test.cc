// End-to-end tests of the kiln command: the example model, and every kind of
// bad input giving a non-zero exit and one line naming the file or input.
#include <gtest/gtest.h>

#include <fstream>

#include "frontends/tensor_io.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;
using testing::RunKiln;

std::string Example(const std::string& file) { return testing::SourcePath("examples/" + file); }

using testing::CountLines;

using testing::ExpectOneLineError;

// A nodes-only model with ops the skeleton already has, for tests that do not need the example.
std::string WriteAddReluModel(const std::string& dir) {
  std::string path = dir + "/add_relu.kiln.txt";
  std::ofstream(path) << R"(graph {
    name: "add_relu"
    input { name: "x" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 3 } }
    initializer { name: "b" dtype: DT_FLOAT dims: 3 float_data: [0.5, -1, 2] }
    node { name: "add" op_type: "Add" input: ["x", "b"] output: ["sum"] }
    node { name: "relu" op_type: "Relu" input: ["sum"] output: ["y"] }
    output { name: "y" }
  })";
  return path;
}

std::string WriteTensor(const std::string& path, const Tensor& t) {
  Status st = WriteTensorFile(path, t);
  EXPECT_TRUE(st.ok()) << st.message();
  return path;
}

TEST(CliTest, HelpAndVersion) {
  Result help = RunKiln("--help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("run"), std::string::npos);
  EXPECT_NE(help.output.find("dump"), std::string::npos);
  for (const char* sub : {"run", "dump"}) {
    Result r = RunKiln(std::string(sub) + " --help");
    EXPECT_EQ(r.code, 0) << sub;
    EXPECT_NE(r.output.find("Examples:"), std::string::npos) << sub;
  }
  Result version = RunKiln("--version");
  EXPECT_EQ(version.code, 0);
  EXPECT_EQ(version.output.rfind("kiln ", 0), 0u) << version.output;
}

TEST(CliTest, UsageErrors) {
  ExpectOneLineError(RunKiln("frobnicate"), 2, "unknown command 'frobnicate'");
  ExpectOneLineError(RunKiln("--frob"), 2, "unknown option '--frob'");
  ExpectOneLineError(RunKiln("run --frob x.kiln"), 2, "run: unknown option '--frob'");
  ExpectOneLineError(RunKiln("dump"), 2, "dump: missing MODEL");
  ExpectOneLineError(RunKiln("dump m.kiln --format svg"), 2, "--format must be 'text', 'dot' or 'html'");
  ExpectOneLineError(RunKiln("run m.kiln --batch zero"), 2, "--batch");
  ExpectOneLineError(RunKiln("run m.kiln --input"), 2, "option '--input' needs a value");
  EXPECT_EQ(RunKiln("").code, 2);
}

TEST(CliTest, BadModelFiles) {
  std::string dir = testing::MakeTempDir();
  ExpectOneLineError(RunKiln("dump " + dir + "/missing.kiln"), 1, dir + "/missing.kiln");
  ExpectOneLineError(RunKiln("run " + dir + "/missing.kiln.txt --input x.npy"), 1, dir + "/missing.kiln.txt");

  // Truncated binary model: the first bytes of a valid one.
  std::string text_model = WriteAddReluModel(dir);
  std::string corrupt = dir + "/corrupt.kiln";
  std::ofstream(corrupt, std::ios::binary) << std::string("\x0a\xff\xff\xff\x0f\x12garbage", 14);
  ExpectOneLineError(RunKiln("dump " + corrupt), 1, corrupt);

  // Text model with a syntax error: the line number is in the message.
  std::string broken = dir + "/broken.kiln.txt";
  std::ofstream(broken) << "graph {\n  name: \"b\"\n  node { op_type: Add }\n";
  ExpectOneLineError(RunKiln("dump " + broken), 1, broken + ":line 3");

  // Structurally invalid: a node reading an undefined value.
  std::string dangling = dir + "/dangling.kiln.txt";
  std::ofstream(dangling)
      << R"(graph { node { name: "r" op_type: "Relu" input: "ghost" output: "y" } output { name: "y" } })";
  ExpectOneLineError(RunKiln("dump " + dangling), 1, "input 'ghost' is not defined");
}

TEST(CliTest, RunChecksInputs) {
  std::string dir = testing::MakeTempDir();
  std::string model = WriteAddReluModel(dir);
  std::string good = WriteTensor(dir + "/good.npy", testing::RandomTensor({2, 3}, 1));
  std::string wrong_shape = WriteTensor(dir + "/wrong_shape.npy", testing::RandomTensor({2, 5}, 2));
  std::string wrong_dtype = WriteTensor(dir + "/wrong_dtype.npy", Tensor(proto::DT_INT64, {2, 3}));

  ExpectOneLineError(RunKiln("run " + model + " --input " + wrong_shape), 1,
                     "input 'x' (" + wrong_shape + "): shape [2, 5] does not match the model's float32[batch, 3]");
  ExpectOneLineError(RunKiln("run " + model + " --input x=" + wrong_dtype), 1,
                     "input 'x' (" + wrong_dtype + "): dtype int64 does not match the model's float32");
  ExpectOneLineError(RunKiln("run " + model + " --input " + dir + "/nope.npy"), 1, dir + "/nope.npy: no such file");
  ExpectOneLineError(RunKiln("run " + model), 1, "input 'x' (float32[batch, 3]) is missing");
  ExpectOneLineError(RunKiln("run " + model + " --input y=" + good), 1, "the model has no input named 'y'");
  ExpectOneLineError(RunKiln("run " + model + " --input " + good + " --input " + good), 1, "more files were given");
  ExpectOneLineError(RunKiln("run " + model + " --input " + good + " --batch 4"), 1, "with batch 4 (from --batch)");
  std::string garbage = dir + "/garbage.npy";
  std::ofstream(garbage) << "not a tensor";
  ExpectOneLineError(RunKiln("run " + model + " --input " + garbage), 1, garbage);
}

TEST(CliTest, RunPrintsAndWritesOutputs) {
  std::string dir = testing::MakeTempDir();
  std::string model = WriteAddReluModel(dir);
  Tensor x = Tensor::FromVector(proto::DT_FLOAT, {2, 3}, std::vector<float>{1, 2, -3, -4, 5, 6});
  std::string input = WriteTensor(dir + "/x.npy", x);
  for (const char* flags : {"", " --no-onednn"}) {
    Result r = RunKiln("run " + model + " --input x=" + input + flags);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(r.output, "y: float32[2, 3]\n[[1.5, 1., 0.],\n [0., 4., 8.]]\n");
  }
  Result written = RunKiln("run " + model + " --input " + input + " --output-dir " + dir + "/out");
  ASSERT_EQ(written.code, 0) << written.output;
  auto y = ReadTensorFile(dir + "/out/y.npy");
  ASSERT_OK(y.status());
  Tensor expected = Tensor::FromVector(proto::DT_FLOAT, {2, 3}, std::vector<float>{1.5f, 1, 0, 0, 4, 8});
  EXPECT_EQ(testing::CompareTensors(*y, expected, 0, 0), "");
}

TEST(CliTest, RunSummarizesBigOutputs) {
  std::string dir = testing::MakeTempDir();
  std::string model = WriteAddReluModel(dir);
  std::string input = WriteTensor(dir + "/big.npy", testing::RandomTensor({2000, 3}, 3, 1.0f, 2.0f));
  Result r = RunKiln("run " + model + " --input " + input);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("y: float32[2000, 3]\n"), std::string::npos);
  EXPECT_NE(r.output.find(" ...,\n"), std::string::npos) << r.output;
  EXPECT_LT(CountLines(r.output), 12) << r.output;
}

TEST(CliTest, DumpTextAndDot) {
  std::string dir = testing::MakeTempDir();
  std::string model = WriteAddReluModel(dir);
  Result text = RunKiln("dump " + model + " --batch 4");
  ASSERT_EQ(text.code, 0) << text.output;
  // Add + Relu fuse into one generated kernel.
  EXPECT_NE(text.output.find("%y = FusedElementwise(%x, %b) {program=\"t0=Add(i0,i1); t1=Relu(t0); o0=t1\"}"),
            std::string::npos)
      << text.output;
  EXPECT_NE(text.output.find("Total params: 3 (12 B)"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("Plan: 1 steps (1 jit)"), std::string::npos) << text.output;

  Result explain = RunKiln("dump " + model + " --explain-fusion");
  ASSERT_EQ(explain.code, 0) << explain.output;
  EXPECT_NE(explain.output.find("add (Add): fused into fused/add, fused with 1 other op(s)"), std::string::npos)
      << explain.output;
  EXPECT_NE(explain.output.find("Fusion: 2 of 2 nodes in 1 fused group(s)"), std::string::npos)
      << explain.output;

  Result raw = RunKiln("dump " + model + " --raw");
  ASSERT_EQ(raw.code, 0) << raw.output;
  EXPECT_NE(raw.output.find("%x: float32[batch, 3]"), std::string::npos) << raw.output;

  Result memory = RunKiln("dump " + model + " --batch 4 --memory");
  ASSERT_EQ(memory.code, 0) << memory.output;
  EXPECT_NE(memory.output.find("arena (peak, allocated once per session)"), std::string::npos) << memory.output;
  EXPECT_NE(memory.output.find("%x"), std::string::npos) << memory.output;

  Result after = RunKiln("dump " + model + " --after infer-shapes");
  EXPECT_NE(after.output.find("# after pass infer-shapes"), std::string::npos) << after.output;
  EXPECT_NE(after.output.find("%sum = Add(%x, %b) : float32[1, 3]"), std::string::npos) << after.output;

  ASSERT_EQ(RunKiln("dump " + model + " --format dot -o " + dir + "/g.dot").code, 0);
  std::ifstream in(dir + "/g.dot");
  std::string dot((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(dot.rfind("digraph \"add_relu\" {", 0), 0u) << dot;
  std::string out;
  if (testing::RunCommand("command -v dot", &out) != 0) GTEST_SKIP() << "graphviz 'dot' is not installed";
  EXPECT_EQ(testing::RunCommand("dot -Tsvg " + dir + "/g.dot -o " + dir + "/g.svg", &out), 0) << out;
}

TEST(CliTest, ExampleModelRunsAndDumps) {
  Result run = RunKiln("run " + Example("iris_mlp.kiln.txt") + " --input " + Example("iris_sample.npy"));
  ASSERT_EQ(run.code, 0) << run.output;
  EXPECT_EQ(run.output.rfind("probs: float32[3, 3]\n", 0), 0u) << run.output;
  Result dump = RunKiln("dump " + Example("iris_mlp.kiln.txt"));
  ASSERT_EQ(dump.code, 0) << dump.output;
  // 4*64 + 64 + 64*3 + 3 parameters.
  EXPECT_NE(dump.output.find("Total params: 515 (2.0 KiB)"), std::string::npos) << dump.output;
  std::string out;
  if (testing::RunCommand("command -v dot", &out) != 0) GTEST_SKIP() << "graphviz 'dot' is not installed";
  EXPECT_EQ(testing::RunCommand(std::string(KILN_TOOL_PATH) + " dump --format dot " + Example("iris_mlp.kiln.txt") +
                                    " | dot -Tsvg > /dev/null",
                                &out),
            0)
      << out;
}

}  // namespace
}  // namespace kiln
