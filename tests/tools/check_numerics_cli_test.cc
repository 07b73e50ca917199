// Non-finite values end to end: `kiln run` propagates NaN through a conv net on
// every kernel path, and `kiln run --check-numerics` names the first step that
// makes a NaN/Inf from finite values, or the model input / weight that already
// was one (one line, exit 3); without the flag, outputs are unchanged.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "frontends/tensor_io.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;
using testing::RunKiln;
using testing::RunShell;

std::string WriteTensor(const std::string& path, const Tensor& t) {
  Status st = WriteTensorFile(path, t);
  EXPECT_TRUE(st.ok()) << st.message();
  return path;
}

// x -> scale (x * b) -> log -> relu -> y: Log of a non-positive product, or an
// overflowing product, makes a non-finite value from finite ones.
std::string WriteModel(const std::string& dir, const std::string& name, const std::string& weights) {
  const std::string path = dir + "/" + name + ".kiln.txt";
  std::ofstream(path) << R"(graph {
    name: "scale_log"
    input { name: "x" dtype: DT_FLOAT dims { size: 3 } }
    initializer { name: "b" dtype: DT_FLOAT dims: 3 float_data: )"
                      << weights << R"( }
    node { name: "scale" op_type: "Mul" input: ["x", "b"] output: ["s"] }
    node { name: "log" op_type: "Log" input: ["s"] output: ["l"] }
    node { name: "relu" op_type: "Relu" input: ["l"] output: ["y"] }
    output { name: "y" }
  })";
  return path;
}

const float kNaN = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

TEST(CheckNumericsCliTest, NamesTheFirstStepOrTheNonFiniteInput) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = WriteModel(dir, "m", "[2, 1e30, 1]");
  auto input = [&](const std::string& name, std::vector<float> v) {
    return WriteTensor(dir + "/" + name + ".npy", Tensor::FromVector(proto::DT_FLOAT, {3}, v));
  };
  struct Case {
    std::string file, needle;
  };
  const std::vector<Case> cases = {
      {input("negative", {1, -1e-30f, 3}), "output 'y' is non-finite (NaN at flat index 1) from finite inputs"},
      {input("overflow", {1, 1e20f, 3}), "output 'y' is non-finite (+Inf at flat index 1) from finite inputs"},
      {input("nan", {1, kNaN, 3}), "input 'x' is already non-finite (NaN at flat index 1)"},
      {input("minus_inf", {-kInf, 1, 3}), "input 'x' is already non-finite (-Inf at flat index 0)"},
  };
  for (const char* kernels : {"", " --no-onednn"}) {
    for (const Case& c : cases) {
      const Result r = RunKiln("run " + model + " --input " + c.file + " --check-numerics" + kernels);
      testing::ExpectOneLineError(r.code, r.output, 3, "kiln: fused/scale", c.needle);
      // Without the flag the run succeeds and prints the non-finite output.
      const Result plain = RunKiln("run " + model + " --input " + c.file + kernels);
      EXPECT_EQ(plain.code, 0) << plain.output;
    }
  }
  // A weight that is already NaN is named too.
  const Result w = RunKiln("run " + WriteModel(dir, "w", "[2, nan, 1]") + " --input " + input("ok", {1, 2, 3}) +
                           " --check-numerics");
  testing::ExpectOneLineError(w.code, w.output, 3, "kiln: fused/scale", "input 'b' is already non-finite (NaN");
  // Finite throughout: the same output as without the flag, exit 0.
  const Result checked = RunKiln("run " + model + " --input " + dir + "/ok.npy --check-numerics");
  const Result plain = RunKiln("run " + model + " --input " + dir + "/ok.npy");
  EXPECT_EQ(checked.code, 0) << checked.output;
  EXPECT_EQ(checked.output, plain.output);
  EXPECT_NE(RunKiln("run --help").output.find("--check-numerics"), std::string::npos);
}

// The LLVM fused elementwise kernel (one jit step for the whole chain) keeps the
// rule: x=NaN -> NaN; +Inf -> Relu Inf, Max Inf, Min Inf, Exp Inf, Tanh 1;
// -Inf -> Relu 0, Max 0, Min -Inf, Exp 0, Tanh 0.
TEST(CheckNumericsCliTest, FusedElementwiseKernelPropagatesNaNAndInf) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = dir + "/f.kiln.txt";
  std::ofstream(model) << R"(graph {
    name: "f"
    input { name: "x" dtype: DT_FLOAT dims { size: 3 } }
    initializer { name: "b" dtype: DT_FLOAT dims: 3 float_data: [0, 0, 0] }
    node { name: "r" op_type: "Relu" input: ["x"] output: ["r1"] }
    node { name: "m" op_type: "Max" input: ["r1", "b"] output: ["m1"] }
    node { name: "n" op_type: "Min" input: ["m1", "x"] output: ["n1"] }
    node { name: "e" op_type: "Exp" input: ["n1"] output: ["e1"] }
    node { name: "t" op_type: "Tanh" input: ["e1"] output: ["y"] }
    output { name: "y" }
  })";
  const std::string x =
      WriteTensor(dir + "/x.npy", Tensor::FromVector(proto::DT_FLOAT, {3}, std::vector<float>{kNaN, kInf, -kInf}));
  const Result plan = RunKiln("dump " + model);
  EXPECT_NE(plan.output.find("(1 jit)"), std::string::npos) << plan.output;
  const Result r = RunKiln("run " + model + " --input " + x + " --output-dir " + dir + "/out");
  ASSERT_EQ(r.code, 0) << r.output;
  auto y = ReadTensorFile(dir + "/out/y.npy");
  ASSERT_TRUE(y.ok()) << y.status().message();
  const float* v = y->data_as<float>();
  EXPECT_TRUE(std::isnan(v[0])) << v[0];
  EXPECT_EQ(v[1], 1.0f);
  EXPECT_EQ(v[2], 0.0f);
}

// LeNet-5 (conv, pooling, Relu, Gemm: oneDNN kernels with post-ops, or the
// reference ones) fed all-NaN or one +Inf pixel prints all-NaN logits on every path.
TEST(CheckNumericsCliTest, LeNetPropagatesNonFiniteInputsOnEveryPath) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = testing::SourcePath("tests/data/models/lenet5/model.onnx");
  auto base = ReadTensorFile(testing::SourcePath("tests/data/models/lenet5/input_b1.npy"));
  ASSERT_TRUE(base.ok()) << base.status().message();
  for (const char* kind : {"nan", "inf"}) {
    Tensor x = *base;
    float* v = x.mutable_data_as<float>();
    if (std::string(kind) == "nan") {
      for (int64_t i = 0; i < x.num_elements(); ++i) v[i] = kNaN;
    } else {
      v[300] = kInf;  // inside the image: a pooling window of +Inf next to finite values
    }
    const std::string file = WriteTensor(dir + "/" + kind + ".npy", x);
    for (const char* flags : {"", " --no-onednn", " --threads 1"}) {
      for (const char* isa : {"", "ONEDNN_MAX_CPU_ISA=AVX2 "}) {
        const std::string out = dir + "/out_" + kind;
        const Result r = RunShell(std::string(isa) + KILN_TOOL_PATH + " run " + model + " --input " + file + flags +
                                  " --output-dir " + out);
        ASSERT_EQ(r.code, 0) << r.output;
        auto y = ReadTensorFile(out + "/output.npy");
        ASSERT_TRUE(y.ok()) << y.status().message();
        ASSERT_EQ(y->num_elements(), 10);
        for (int i = 0; i < 10; ++i) {
          EXPECT_TRUE(std::isnan(y->data_as<float>()[i]))
              << kind << flags << " " << isa << ": logit " << i << " is " << y->data_as<float>()[i];
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln
