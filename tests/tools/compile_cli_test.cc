// `kiln compile`: executables and libraries give bitwise the outputs of `kiln run` on
// the same input and thread count (MLP, LeNet-5, a ResNet-style conv net); the generated
// header compiles as C99 and C++17; bad inputs, flags and toolchains give one clear line.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "frontends/tensor_io.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;
using testing::RunKiln;
using testing::RunShell;

std::string Model(const std::string& name) { return testing::SourcePath("tests/data/models/" + name + "/model.onnx"); }
std::string Input(const std::string& name) {
  return testing::SourcePath("tests/data/models/" + name + "/input_b1.npy");
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void ExpectOneLineError(const Result& r, int code, const std::string& prefix, const std::string& needle) {
  testing::ExpectOneLineError(r.code, r.output, code, prefix, needle);
}

// `kiln run` on the model's reference input, the single output written as .npy.
std::string RunReference(const std::string& model, const std::string& dir, int threads) {
  const std::string out = dir + "/reference";
  const Result r = RunShell("OMP_NUM_THREADS=" + std::to_string(threads) + " " + KILN_TOOL_PATH + " run " +
                            Model(model) + " --input " + Input(model) + " --output-dir " + out);
  EXPECT_EQ(r.code, 0) << r.output;
  return out + "/output.npy";
}

class CompiledModelTest : public ::testing::TestWithParam<std::string> {};

TEST_P(CompiledModelTest, ExecutableMatchesKilnRunBitwise) {
  const std::string model = GetParam(), dir = testing::MakeTempDir();
  const std::string exe = dir + "/" + model;
  Result c = RunKiln("compile " + Model(model) + " -o " + exe);
  ASSERT_EQ(c.code, 0) << c.output;
  for (int threads : {1, 2}) {
    const std::string reference = RunReference(model, dir, threads);
    const std::string out = dir + "/exe" + std::to_string(threads);
    Result r =
        RunShell(exe + " --threads " + std::to_string(threads) + " --input " + Input(model) + " --output-dir " + out);
    ASSERT_EQ(r.code, 0) << r.output;
    const std::string got = ReadBytes(out + "/output.npy"), want = ReadBytes(reference);
    ASSERT_FALSE(want.empty());
    EXPECT_TRUE(got == want) << model << " with " << threads
                             << " threads: the executable's output differs from kiln run";
  }
  // Printed form: the output and, for these [1, 10] classifiers, the top classes.
  Result printed = RunShell(exe + " --input " + Input(model) + " --top 3");
  EXPECT_EQ(printed.code, 0) << printed.output;
  EXPECT_NE(printed.output.find("output: float32[1, 10]"), std::string::npos) << printed.output;
  EXPECT_NE(printed.output.find("top 3 classes"), std::string::npos) << printed.output;
  Result bench = RunShell(exe + " --input " + Input(model) + " --bench 5");
  EXPECT_NE(bench.output.find("bench: 5 runs, median"), std::string::npos) << bench.output;
}

// A C program against the generated header and library: raw input in, raw output out.
TEST_P(CompiledModelTest, LibraryMatchesKilnRunBitwise) {
  const std::string model = GetParam(), dir = testing::MakeTempDir();
  Result c = RunKiln("compile " + Model(model) + " -o " + dir + "/net --emit lib");
  ASSERT_EQ(c.code, 0) << c.output;
  for (const char* f : {"/libnet.a", "/libnet.so", "/net.h"}) EXPECT_TRUE(Exists(dir + f)) << f;
  auto input = ReadTensorFile(Input(model));
  ASSERT_TRUE(input.ok());
  std::ofstream(dir + "/input.raw", std::ios::binary)
      .write(static_cast<const char*>(input->data()), input->num_bytes());
  // Any model with one input and one float output of 10 values: the arrays pass as void*.
  std::ofstream(dir + "/main.c") << R"(#include <stdio.h>
#include "net.h"
static float in[1 << 16], out[10];
int main(int argc, char** argv) {
  FILE* f = fopen(argv[1], "rb");
  if (!f || fread(in, 1, sizeof(in), f) == 0) return 3;
  fclose(f);
  net_context* ctx = net_create(2);
  if (!ctx || net_run_ctx(ctx, (void*)in, (void*)out) != KILN_OK) {
    fprintf(stderr, "%s\n", kiln_last_error());
    return 4;
  }
  net_destroy(ctx);
  f = fopen(argv[2], "wb");
  fwrite(out, 1, sizeof(out), f);
  fclose(f);
  return 0;
}
)";
  const std::string include = testing::SourcePath("include");
  for (const std::string lib : {"libnet.a", "libnet.so"}) {
    const std::string exe = dir + "/main_" + lib;
    // The program calls kiln_* itself, so it names the runtime in either case.
    const std::string runtime = std::string(KILN_BINARY_DIR) + "/libkiln_runtime.so";
    Result built = RunShell("cc -std=c99 -Wall -Werror " + dir + "/main.c -I" + dir + " -I" + include + " " + dir +
                            "/" + lib + " " + runtime + " -Wl,-rpath," + KILN_BINARY_DIR + ":" + dir + " -o " + exe +
                            " " + KILN_SANITIZER_FLAGS);
    ASSERT_EQ(built.code, 0) << built.output;
    Result r = RunShell(exe + " " + dir + "/input.raw " + dir + "/output.raw");
    ASSERT_EQ(r.code, 0) << r.output;
    auto want = ReadTensorFile(RunReference(model, dir, 2));
    ASSERT_TRUE(want.ok());
    const std::string got = ReadBytes(dir + "/output.raw");
    EXPECT_TRUE(got == std::string(static_cast<const char*>(want->data()), want->num_bytes()))
        << model << " via " << lib << ": the library's output differs from kiln run";
  }
}

INSTANTIATE_TEST_SUITE_P(Models, CompiledModelTest, ::testing::Values("mlp", "lenet5", "resnet"));

TEST(CompileCliTest, HeaderCompilesAsC99AndCxx17) {
  const std::string dir = testing::MakeTempDir();
  // Names that are not C identifiers and a keyword, batch 2.
  std::ofstream(dir + "/odd.kiln.txt") << R"(graph {
    name: "odd"
    input { name: "in-put.0" dtype: DT_FLOAT dims { size: 2 } dims { size: 3 } }
    input { name: "int" dtype: DT_FLOAT dims { size: 2 } dims { size: 3 } }
    node { name: "add" op_type: "Add" input: ["in-put.0", "int"] output: ["sum/out"] }
    output { name: "sum/out" }
  })";
  Result c = RunKiln("compile " + dir + "/odd.kiln.txt -o " + dir + "/odd --emit lib");
  ASSERT_EQ(c.code, 0) << c.output;
  const std::string header = ReadBytes(dir + "/odd.h");
  EXPECT_NE(header.find("int odd_run(const float in_put_0[2][3], const float int_[2][3], float sum_out[2][3]);"),
            std::string::npos)
      << header;
  std::ofstream(dir + "/use.c") << "#include \"odd.h\"\nint main(void) { return odd_plan_size() == 0; }\n";
  const std::string flags = " -I" + dir + " -I" + testing::SourcePath("include") + " ";
  Result c99 = RunShell("cc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only" + flags + dir + "/use.c");
  EXPECT_EQ(c99.code, 0) << c99.output;
  Result cxx = RunShell("c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++" + flags + dir + "/use.c");
  EXPECT_EQ(cxx.code, 0) << cxx.output;
  // The runtime headers alone, too.
  std::ofstream(dir + "/api.c") << "#include <kiln/runtime.h>\nint main(void) { return kiln_version() == 0; }\n";
  Result api = RunShell("cc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only" + flags + dir + "/api.c");
  EXPECT_EQ(api.code, 0) << api.output;
  std::ofstream(dir + "/api.cc") << "#include <kiln/runtime.hpp>\nint main() { return kiln_version() == nullptr; }\n";
  Result hpp = RunShell("c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only" + flags + dir + "/api.cc");
  EXPECT_EQ(hpp.code, 0) << hpp.output;
}

TEST(CompileCliTest, PlanAndObject) {
  const std::string dir = testing::MakeTempDir();
  ASSERT_EQ(RunKiln("compile " + Model("mlp") + " -o " + dir + "/mlp --emit plan").code, 0);
  EXPECT_TRUE(Exists(dir + "/mlp.plan"));
  ASSERT_EQ(RunKiln("compile " + Model("mlp") + " -o " + dir + "/m.bin --emit plan --batch 4").code, 0);
  EXPECT_TRUE(Exists(dir + "/m.bin"));
  ASSERT_EQ(RunKiln("compile " + Model("mlp") + " -o " + dir + "/mlp --emit obj").code, 0);
  Result nm = RunShell("nm " + dir + "/mlp.o");
  ASSERT_EQ(nm.code, 0) << nm.output;
  for (const char* sym : {"kiln_model_mlp_plan", "kiln_model_mlp_plan_size", "kiln_model_mlp_kernels_count"}) {
    EXPECT_NE(nm.output.find(std::string(" R ") + sym + "\n"), std::string::npos) << sym << " in " << nm.output;
  }
  // A C program linking the object loads the embedded plan with the C API and gets kiln run's output.
  auto input = ReadTensorFile(Input("mlp"));
  ASSERT_TRUE(input.ok());
  std::ofstream(dir + "/input.raw", std::ios::binary)
      .write(static_cast<const char*>(input->data()), input->num_bytes());
  std::ofstream(dir + "/use_obj.c") << R"(#include <stdio.h>
#include <kiln/runtime.h>
extern const unsigned char kiln_model_mlp_plan[];
extern const int64_t kiln_model_mlp_plan_size;
static float in[784];
int main(int argc, char** argv) {
  kiln_plan* plan;
  kiln_session* s;
  kiln_session_options o;
  const void* out;
  size_t size;
  FILE* f = fopen(argv[1], "rb");
  if (!f || fread(in, 1, sizeof(in), f) != sizeof(in)) return 3;
  fclose(f);
  kiln_session_options_init(&o);
  o.num_threads = 1;
  if (kiln_plan_load_memory(kiln_model_mlp_plan, (size_t)kiln_model_mlp_plan_size, &plan) ||
      kiln_session_create(plan, &o, &s) || kiln_session_set_input(s, 0, in, sizeof(in)) || kiln_session_run(s) ||
      kiln_session_output(s, 0, &out, &size)) {
    fprintf(stderr, "%s\n", kiln_last_error());
    return 4;
  }
  f = fopen(argv[2], "wb");
  fwrite(out, 1, size, f);
  fclose(f);
  kiln_session_free(s);
  kiln_plan_free(plan);
  return 0;
}
)";
  Result built = RunShell("cc -std=c99 -Wall -Werror " + dir + "/use_obj.c " + dir + "/mlp.o -I" +
                          testing::SourcePath("include") + " " + KILN_BINARY_DIR + "/libkiln_runtime.so -Wl,-rpath," +
                          KILN_BINARY_DIR + " -o " + dir + "/use_obj " + KILN_SANITIZER_FLAGS);
  ASSERT_EQ(built.code, 0) << built.output;
  Result r = RunShell(dir + "/use_obj " + dir + "/input.raw " + dir + "/output.raw");
  ASSERT_EQ(r.code, 0) << r.output;
  auto want = ReadTensorFile(RunReference("mlp", dir, 1));
  ASSERT_TRUE(want.ok());
  EXPECT_TRUE(ReadBytes(dir + "/output.raw") == std::string(static_cast<const char*>(want->data()), want->num_bytes()));
}

// The same input as .npy, ONNX .pb, NAME=FILE and raw float32 on stdin: the same output bytes.
// --cpu NAME: the generated kernels use that CPU's instructions (x86-64-v2 has no 256-bit
// registers, x86-64-v4 vectorizes with them), whatever this machine has; unknown names are
// usage errors.
TEST(CompileCliTest, CpuNamesTheKernelsTarget) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = Model("transformer_op17");  // has fused elementwise kernels
  auto ymm_count = [&](const std::string& cpu) {
    Result r = RunKiln("compile " + model + " -o " + dir + "/t_" + cpu + " --emit obj --cpu " + cpu);
    EXPECT_EQ(r.code, 0) << r.output;
    Result dis = RunShell("objdump -d " + dir + "/t_" + cpu + ".o | grep -c ymm || true");
    return std::atoi(dis.output.c_str());
  };
  EXPECT_EQ(ymm_count("x86-64-v2"), 0);
  EXPECT_GT(ymm_count("x86-64-v4"), 0);
  ExpectOneLineError(RunKiln("compile " + model + " -o " + dir + "/t --cpu pentium9"), 2,
                     "kiln: compile:", "LLVM does not know the CPU 'pentium9'");
}

TEST(CompileCliTest, ExecutableInputFormats) {
  const std::string dir = testing::MakeTempDir();
  const std::string exe = dir + "/lenet";
  ASSERT_EQ(RunKiln("compile " + Model("lenet5") + " -o " + exe + " --threads 1").code, 0);
  auto input = ReadTensorFile(Input("lenet5"));
  ASSERT_TRUE(input.ok());
  ASSERT_TRUE(WriteTensorFile(dir + "/input.pb", *input).ok());
  std::ofstream(dir + "/input.f32", std::ios::binary)
      .write(static_cast<const char*>(input->data()), input->num_bytes());
  const std::vector<std::string> runs = {exe + " --input " + Input("lenet5"), exe + " --input " + dir + "/input.pb",
                                         exe + " -i input=" + dir + "/input.pb",
                                         exe + " --input - < " + dir + "/input.f32"};
  std::string first;
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string out = dir + "/out" + std::to_string(i);
    Result r = RunShell(runs[i] + " --output-dir " + out);
    ASSERT_EQ(r.code, 0) << runs[i] << ": " << r.output;
    const std::string bytes = ReadBytes(out + "/output.npy");
    if (i == 0) first = bytes;
    EXPECT_TRUE(bytes == first && !bytes.empty()) << runs[i];
  }
  Result info = RunShell(exe + " --info");
  EXPECT_NE(info.output.find("input: float32[1, 1, 28, 28]"), std::string::npos) << info.output;
}

// kiln compile --train: the compiled trainer trains like `kiln train` (same plans, data,
// seed: the same test metrics) and writes a model that `kiln run` loads.
TEST(CompileCliTest, CompiledTrainerMatchesKilnTrain) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = testing::SourcePath("examples/iris_mlp.kiln.txt");
  const std::string data = "csv:" + testing::SourcePath("examples/data/iris.csv");
  Result c = RunKiln("compile " + model + " -o " + dir + "/trainer --train");
  ASSERT_EQ(c.code, 0) << c.output;
  Result trained = RunShell("OMP_NUM_THREADS=1 " + dir + "/trainer --data " + data + " --epochs 5 --quiet --out " +
                            dir + "/trained.kiln");
  ASSERT_EQ(trained.code, 0) << trained.output;
  Result reference = RunShell("OMP_NUM_THREADS=1 " + std::string(KILN_TOOL_PATH) + " train " + model + " --data " +
                              data + " --epochs 5 --quiet");
  ASSERT_EQ(reference.code, 0) << reference.output;
  auto test_line = [](const std::string& out) {
    const size_t at = out.find("Test: loss");
    return at == std::string::npos ? std::string() : out.substr(at, out.find('\n', at) - at);
  };
  EXPECT_FALSE(test_line(trained.output).empty()) << trained.output;
  EXPECT_EQ(test_line(trained.output), test_line(reference.output)) << trained.output << "\n" << reference.output;
  Result run = RunKiln("run " + dir + "/trained.kiln --input " + testing::SourcePath("examples/iris_sample.npy"));
  EXPECT_EQ(run.code, 0) << run.output;
  ExpectOneLineError(RunShell(dir + "/trainer --epochs 0"), 2, "trainer: ", "--epochs");
  ExpectOneLineError(RunKiln("compile " + model + " -o " + dir + "/t --train --emit lib"), 2, "kiln: ", "--train");
  // Outputs are checked before the data is loaded: format by extension (no ONNX here),
  // existing directories, distinct files; a checkpoint must be a checkpoint.
  const std::string train = dir + "/trainer --data " + data + " --epochs 1 --quiet ";
  ExpectOneLineError(RunShell(train + "--out " + dir + "/m.onnx"), 2, "trainer: ", "writes .kiln or .kiln.txt");
  ExpectOneLineError(RunShell(train + "--out " + dir + "/m.bin"), 2, "trainer: ", "unknown model format");
  ExpectOneLineError(RunShell(train + "--out " + dir + "/missing/m.kiln"), 1, "trainer: ", "does not exist");
  ExpectOneLineError(RunShell(train + "--checkpoint " + dir + "/missing/ck"), 1, "trainer: ", "does not exist");
  ExpectOneLineError(RunShell(train + "--out " + dir + "/m.kiln --checkpoint " + dir + "/./m.kiln"), 1,
                     "trainer: ", "name the same file");
  std::ofstream(dir + "/empty.ck").close();
  ExpectOneLineError(RunShell(train + "--checkpoint " + dir + "/empty.ck --resume"), 1,
                     "trainer: ", "empty file, not a Kiln checkpoint");
  EXPECT_FALSE(Exists(dir + "/m.kiln"));
  // A bad training block is refused when the trainer is compiled.
  std::string text = ReadBytes(model);
  ASSERT_NE(text.find("learning_rate: 0.01"), std::string::npos);
  text.replace(text.find("learning_rate: 0.01"), 19, "learning_rate: -0.5");
  std::ofstream(dir + "/bad.kiln.txt") << text;
  ExpectOneLineError(RunKiln("compile " + dir + "/bad.kiln.txt -o " + dir + "/bad --train"), 1,
                     "kiln: ", "learning_rate (--lr) must be > 0, got -0.5");
  EXPECT_FALSE(Exists(dir + "/bad"));
}

TEST(CompileCliTest, BadInputsAndFlags) {
  const std::string dir = testing::MakeTempDir();
  const std::string exe = dir + "/mlp";
  ASSERT_EQ(RunKiln("compile " + Model("mlp") + " -o " + exe).code, 0);
  // The executable: wrong-size input, missing file, unknown flag, bad raw stdin.
  ExpectOneLineError(RunShell(exe + " --input " + Input("lenet5")), 1,
                     "mlp: ", "float32[1, 1, 28, 28] does not match the model's float32[1, 784]");
  ExpectOneLineError(RunShell(exe + " --input " + dir + "/missing.npy"), 1,
                     "mlp: ", dir + "/missing.npy: no such file");
  ExpectOneLineError(RunShell(exe + " --frob"), 2, "mlp: ", "unknown option '--frob'");
  // --output-dir never replaces an input file.
  const std::string input = ReadBytes(Input("mlp"));
  std::ofstream(dir + "/output.npy", std::ios::binary) << input;
  ExpectOneLineError(RunShell(exe + " --input " + dir + "/./output.npy --output-dir " + dir), 2,
                     "mlp: ", "output 'output' is the same file as the input");
  EXPECT_EQ(ReadBytes(dir + "/output.npy"), input);
  ExpectOneLineError(RunShell(exe), 2, "mlp: ", "is missing: pass --input");
  ExpectOneLineError(RunShell("echo 1234 | " + exe + " --input -"), 1, "mlp: ", "got 5 bytes");
  ExpectOneLineError(RunShell(exe + " --image x.png"), 1, "mlp: ", "x.png: no such file");
  Result help = RunShell(exe + " --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("Examples:"), std::string::npos) << help.output;

  // kiln compile itself.
  ExpectOneLineError(RunKiln("compile " + dir + "/nope.onnx -o " + dir + "/x"), 1, "kiln: ", dir + "/nope.onnx");
  ExpectOneLineError(RunKiln("compile " + Model("mlp") + " -o " + dir + "/x --emit dll"), 2,
                     "kiln: ", "--emit: expected exe, lib, obj or plan");
  ExpectOneLineError(RunKiln("compile " + Model("mlp") + " -o " + dir + "/x --frob"), 2, "kiln: ", "unknown option");
  ExpectOneLineError(RunKiln("compile " + Model("mlp")), 2, "kiln: ", "missing -o NAME");
  ExpectOneLineError(RunKiln("compile " + Model("mlp") + " -o " + dir + "/no/such/dir/x"), 1,
                     "kiln: ", "does not exist");
  Result help_compile = RunKiln("compile --help");
  EXPECT_EQ(help_compile.code, 0);
  EXPECT_NE(help_compile.output.find("Examples:"), std::string::npos);
}

TEST(CompileCliTest, ToolchainErrorsLeaveNoOutput) {
  const std::string dir = testing::MakeTempDir();
  ExpectOneLineError(RunShell("CXX=/nonexistent/c++ " + std::string(KILN_TOOL_PATH) + " compile " + Model("mlp") +
                              " -o " + dir + "/a"),
                     1, "kiln: ", "/nonexistent/c++: not an executable program");
  EXPECT_FALSE(Exists(dir + "/a"));
  // A "linker" that fails with a message: the message is shown, nothing is left behind.
  std::ofstream(dir + "/badld") << "#!/bin/sh\necho 'ld: cannot find -lmissing' >&2\nexit 1\n";
  RunShell("chmod +x " + dir + "/badld");
  ExpectOneLineError(RunShell("CXX=" + dir + "/badld " + std::string(KILN_TOOL_PATH) + " compile " + Model("mlp") +
                              " -o " + dir + "/b"),
                     1, "kiln: ", "ld: cannot find -lmissing");
  EXPECT_FALSE(Exists(dir + "/b"));
  Result ls = RunShell("ls " + dir);
  EXPECT_EQ(ls.output, "badld\n") << "temporary files left: " << ls.output;
  ExpectOneLineError(RunShell("KILN_RUNTIME_DIR=" + dir + " " + std::string(KILN_TOOL_PATH) + " compile " +
                              Model("mlp") + " -o " + dir + "/c"),
                     1, "kiln: ", "KILN_RUNTIME_DIR=" + dir + ": holds no libkiln_runtime.a");
}

}  // namespace
}  // namespace kiln
