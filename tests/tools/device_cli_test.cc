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
    if (!DriverPresent()) EXPECT_NE(r.output.find("no CUDA driver found"), std::string::npos) << r.output;
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
  const auto unsupported = RunKiln("dump " + testing::SourcePath("examples/iris_mlp.kiln.txt") + " --device cuda");
  testing::ExpectOneLineError(unsupported, 1,
                              "cuda: 2 nodes cannot be lowered yet; dense1/MatMul (MatMul): "
                              "cuBLASLt lowering not built");
  // --cpu-fallback: the MatMuls on the host, the rest (bias adds, activations, Softmax) on the device.
  const auto fallback =
      RunKiln("dump " + testing::SourcePath("examples/iris_mlp.kiln.txt") + " --device cuda --cpu-fallback");
  ASSERT_EQ(fallback.code, 0) << fallback.output;
  EXPECT_NE(fallback.output.find("Plan: 9 steps (7 cuda, 2 onednn)"), std::string::npos) << fallback.output;
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
    if (!DriverPresent()) EXPECT_NE(r.output.find("cuda: no CUDA driver found ("), std::string::npos) << r.output;
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
