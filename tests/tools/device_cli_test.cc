// --device on the commands: an unknown device is a usage error naming the valid ones;
// `kiln run --device cuda` without a CUDA driver is one line and exit 1 -- with one, it
// runs the model on the GPU and prints what the CPU prints; compile and dump lower for
// CUDA on any machine (NVRTC, no GPU needed).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include "frontends/tensor_io.h"
#include "runtime/device.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using testing::RunKiln;

const std::string kModel = testing::SourcePath("tests/data/models/cuda/elementwise.kiln.txt");

bool DriverPresent() {
  void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

std::string WriteInput() {
  const std::string path = testing::MakeTempDir() + "/x.npy";
  EXPECT_OK(WriteTensorFile(path, testing::RandomTensor({2, 8}, 11)));
  return path;
}

TEST(DeviceCliTest, RunOnCudaIsOneLineWithoutADriverElseMatchesTheCpu) {
  const std::string input = WriteInput();
  const auto cuda = RunKiln("run " + kModel + " --input " + input + " --device cuda");
  if (!DriverPresent()) {
    testing::ExpectOneLineError(cuda, 1, "cuda: no CUDA driver found (");
    EXPECT_EQ(cuda.output.rfind("kiln: cuda: no CUDA driver found (", 0), 0u) << cuda.output;
    return;
  }
  if (const Status here = runtime::DeviceAvailable("cuda"); !here.ok()) {  // a driver, no usable GPU
    testing::ExpectOneLineError(cuda, 1, here.message());
    return;
  }
  const auto cpu = RunKiln("run " + kModel + " --input " + input);
  ASSERT_EQ(cpu.code, 0) << cpu.output;
  EXPECT_EQ(cuda.code, 0) << cuda.output;
  EXPECT_EQ(cuda.output, cpu.output);
}

// The training step on the device: without a driver one line and exit 1 (before the data is
// read or anything compiled); with a GPU it trains, as on the CPU, to a comparable loss.
TEST(DeviceCliTest, TrainOnCudaIsOneLineWithoutADriverElseTrains) {
  const std::string model = testing::SourcePath("examples/iris_mlp.kiln.txt");
  const auto cuda = RunKiln("train " + model + " --device cuda --epochs 2 --quiet");
  if (const Status here = runtime::DeviceAvailable("cuda"); !here.ok()) {
    testing::ExpectOneLineError(cuda, 1, here.message());
    if (!DriverPresent()) {
      EXPECT_EQ(cuda.output.rfind("kiln: cuda: no CUDA driver found (", 0), 0u) << cuda.output;
    }
    return;
  }
  EXPECT_EQ(cuda.code, 0) << cuda.output;
  const auto verbose = RunKiln("train " + model + " --device cuda --epochs 2");
  EXPECT_EQ(verbose.code, 0) << verbose.output;
  EXPECT_NE(verbose.output.find("Epoch 2"), std::string::npos) << verbose.output;
}

TEST(DeviceCliTest, UnknownDeviceIsAUsageErrorNamingTheValidOnes) {
  for (const char* command : {"run", "bench", "predict", "train", "compile", "dump"}) {
    const auto r = RunKiln(std::string(command) + " " + kModel + " --device tpu");
    testing::ExpectOneLineError(r, 2, "--device: unknown device 'tpu' (valid: cpu|cuda)");
  }
}

TEST(DeviceCliTest, CpuFallbackNeedsADevice) {
  for (const char* command : {"run", "bench", "predict", "compile", "dump"}) {
    const auto r = RunKiln(std::string(command) + " " + kModel + " --cpu-fallback");
    testing::ExpectOneLineError(r, 2, "--cpu-fallback goes with a device (--device cuda)");
  }
}

TEST(DeviceCliTest, EveryCommandDocumentsDevice) {
  for (const char* command : {"run", "bench", "predict", "train", "compile", "dump"}) {
    const auto r = RunKiln(std::string(command) + " --help");
    EXPECT_EQ(r.code, 0) << command;
    EXPECT_NE(r.output.find("--device cpu|cuda"), std::string::npos) << command << ": " << r.output;
  }
}

TEST(DeviceCliTest, CheckNumericsNeedsTheCpu) {
  const auto r = RunKiln("run " + kModel + " --input " + WriteInput() + " --device cuda --check-numerics");
  if (r.code == 2) {
    testing::ExpectOneLineError(r, 2, "--check-numerics reads every step's values on the host");
  } else {
    testing::ExpectOneLineError(r, 1, "cuda: ");  // no usable device: checked first
    if (!DriverPresent()) {
      EXPECT_NE(r.output.find("no CUDA driver found"), std::string::npos) << r.output;
    }
  }
}

#if KILN_HAVE_CUDA_TOOLKIT
TEST(DeviceCliTest, DumpAndCompileLowerForCudaWithoutAGpu) {
  const auto summary = RunKiln("dump " + kModel + " --device cuda");
  ASSERT_EQ(summary.code, 0) << summary.output;
  EXPECT_NE(summary.output.find("Plan: 3 steps (3 cuda), arena 128 B"), std::string::npos) << summary.output;
  EXPECT_NE(summary.output.find("device cuda arena"), std::string::npos) << summary.output;
  // The host arena holds x and y; the device arena their device copies (reports apart).
  const auto memory = RunKiln("dump " + kModel + " --device cuda --memory");
  ASSERT_EQ(memory.code, 0) << memory.output;
  const size_t device_report = memory.output.find("Device memory plan (cuda)");
  ASSERT_NE(device_report, std::string::npos) << memory.output;
  EXPECT_NE(memory.output.find("%x:device", device_report), std::string::npos) << memory.output;
  EXPECT_EQ(memory.output.find("%x:device"), memory.output.find("%x:device", device_report)) << memory.output;
  const auto kernels = RunKiln("dump " + kModel + " --device cuda --kernels");
  ASSERT_EQ(kernels.code, 0) << kernels.output;
  EXPECT_NE(kernels.output.find("ptx for compute_80"), std::string::npos) << kernels.output;
  EXPECT_NE(kernels.output.find("extern \"C\" __global__ void kiln_fused_add_relu_mul_"), std::string::npos)
      << kernels.output;
  const std::string plan = testing::MakeTempDir() + "/model.plan";
  const auto compiled = RunKiln("compile " + kModel + " --device cuda --emit plan -o " + plan);
  ASSERT_EQ(compiled.code, 0) << compiled.output;
  // The products are generated kernels now: the MLP lowers with no host step.
  const auto mlp = RunKiln("dump " + testing::SourcePath("examples/iris_mlp.kiln.txt") + " --device cuda");
  ASSERT_EQ(mlp.code, 0) << mlp.output;
  EXPECT_NE(mlp.output.find("Plan: 5 steps (5 cuda)"), std::string::npos) << mlp.output;
  const auto unsupported = RunKiln("dump " + testing::SourcePath("examples/word2vec_cbow.kiln.txt") + " --device cuda");
  testing::ExpectOneLineError(unsupported, 1,
                              "cuda: 3 nodes cannot be lowered yet; ids (Cast): cuda: no generated kernel for Cast");
  // --cpu-fallback: the Cast and the integer Slices on the host, the rest on the device.
  const auto fallback =
      RunKiln("dump " + testing::SourcePath("examples/word2vec_cbow.kiln.txt") + " --device cuda --cpu-fallback");
  ASSERT_EQ(fallback.code, 0) << fallback.output;
  EXPECT_NE(fallback.output.find("Plan: 13 steps (10 cuda, 3 ref)"), std::string::npos) << fallback.output;
  // Training steps lower too: forward, backward, the optimizer's updates, all on the device.
  const auto train = RunKiln("dump " + testing::SourcePath("examples/iris_mlp.kiln.txt") + " --train --device cuda");
  ASSERT_EQ(train.code, 0) << train.output;
  EXPECT_NE(train.output.find("Plan: 24 steps (24 cuda)"), std::string::npos) << train.output;
  const auto cpu_kernels = RunKiln("dump " + kModel + " --kernels");
  testing::ExpectOneLineError(cpu_kernels, 2, "--kernels lists a device plan's kernels");
}

// The compiled program loads its embedded CUDA plan through the C API: one line without a
// driver, the CPU's output with one.
TEST(DeviceCliTest, CompiledExecutableRunsItsCudaPlanOrSaysWhyNot) {
  const std::string dir = testing::MakeTempDir();
  const auto compiled = RunKiln("compile " + kModel + " --device cuda -o " + dir + "/ew");
  ASSERT_EQ(compiled.code, 0) << compiled.output;
  const std::string input = WriteInput();
  const auto r = testing::RunShell(dir + "/ew --input " + input);
  if (const Status here = runtime::DeviceAvailable("cuda"); !here.ok()) {
    testing::ExpectOneLineError(r.code, r.output, 1, "ew: ", here.message());
    if (!DriverPresent()) {
      EXPECT_NE(r.output.find("cuda: no CUDA driver found ("), std::string::npos) << r.output;
    }
    return;
  }
  const auto cpu = RunKiln("run " + kModel + " --input " + input);
  ASSERT_EQ(cpu.code, 0) << cpu.output;
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find(cpu.output.substr(cpu.output.find('['))), std::string::npos) << r.output << cpu.output;
}
#endif

}  // namespace
}  // namespace kiln
