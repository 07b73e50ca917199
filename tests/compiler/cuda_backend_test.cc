// The CUDA backend's lowering (compiler/backends/cuda/cuda_backend.cc) and the backend
// seam, without a GPU: the plan's structure (host edges, device buffers from the memory
// planner, device constants, copy steps, one launch per FusedElementwise), its PTX from
// NVRTC (assembled by ptxas for sm_90), the one-line per-node error for what it cannot
// lower, the validator's memory-space rules, and loading: without a driver a one-line
// error; with one, the plan runs and matches the CPU.
#include "compiler/backends/cuda/cuda_backend.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <fstream>

#include "compiler/backends/cuda/cuda_codegen.h"
#include "compiler/load.h"
#include "frontends/load_model.h"
#include "ir/core/attrs.h"
#include "runtime/device.h"
#include "runtime/plan_validator.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

const char* kElementwiseModel = "tests/data/models/cuda/elementwise.kiln.txt";

bool DriverPresent() {
  void* handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (handle) dlclose(handle);
  return handle != nullptr;
}

StatusOr<proto::Plan> CompileFile(const std::string& relative, const std::string& device) {
  ASSIGN_OR_RETURN(Model model, LoadModel(testing::SourcePath(relative)));
  CompileOptions options;
  options.device = device;
  return CompileToPlan(*model.graph, options);
}

TEST(BackendRegistryTest, DeviceRuntimesAnswerForTheirDevices) {
  EXPECT_OK(runtime::DeviceAvailable("cpu"));
  EXPECT_OK(runtime::DeviceAvailable(""));
  const Status cuda = runtime::DeviceAvailable("cuda");
  if (!DriverPresent()) EXPECT_EQ(cuda.message().rfind("cuda: no CUDA driver found (", 0), 0u) << cuda.message();
  const Status unknown = runtime::DeviceAvailable("tpu");
  EXPECT_NE(unknown.message().find("unknown device 'tpu' (known: cpu, cuda)"), std::string::npos) << unknown.message();
}

TEST(BackendRegistryTest, NamesEveryBackendAndRejectsOthers) {
  EXPECT_EQ(BackendNames(), "cpu|cuda");
  for (const Backend* b : Backends()) {
    auto found = FindBackend(b->name());
    ASSERT_OK(found.status());
    EXPECT_EQ(*found, b);
    EXPECT_STREQ(b->target().name(), b->name());
  }
  auto unknown = FindBackend("tpu");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("unknown device 'tpu' (valid: cpu|cuda)"), std::string::npos);
}

#if KILN_HAVE_CUDA_TOOLKIT
TEST(CudaBackendTest, LowersAnElementwiseModelToDeviceStepsWithPtx) {
  setenv("KILN_CUDA_CACHE", "0", 1);  // NVRTC compiles it here, not an earlier run's cache
  auto plan = CompileFile(kElementwiseModel, "cuda");
  unsetenv("KILN_CUDA_CACHE");
  ASSERT_OK(plan.status());
  ASSERT_OK(runtime::ValidatePlan(*plan));
  EXPECT_EQ(plan->device(), "cuda");
  // Steps: x to the device, one fused launch, y back.
  ASSERT_EQ(plan->step_size(), 3);
  const proto::Step& up = plan->step(0);
  const proto::Step& fused = plan->step(1);
  const proto::Step& down = plan->step(2);
  EXPECT_EQ(up.op_type(), "Identity");
  EXPECT_EQ(Attrs(up.attribute()).GetString("direction", ""), "to_device");
  EXPECT_EQ(fused.op_type(), "FusedElementwise");
  EXPECT_EQ(Attrs(down.attribute()).GetString("direction", ""), "to_host");
  for (const proto::Step& s : plan->step()) EXPECT_EQ(s.kernel(), "cuda");
  // Inputs and outputs are host buffers; everything the launch touches is on the device.
  ASSERT_EQ(plan->input_size(), 1);
  ASSERT_EQ(plan->output_size(), 1);
  EXPECT_EQ(plan->buffer(plan->input(0)).space(), proto::MEM_HOST);
  EXPECT_EQ(plan->buffer(plan->output(0)).space(), proto::MEM_HOST);
  EXPECT_EQ(up.input(0), plan->input(0));
  EXPECT_EQ(down.output(0), plan->output(0));
  int device_constants = 0;
  for (int idx : fused.input()) {
    const proto::Buffer& b = plan->buffer(idx);
    EXPECT_EQ(b.space(), proto::MEM_DEVICE) << b.name();
    device_constants += b.kind() == proto::BUF_CONSTANT;
  }
  EXPECT_EQ(device_constants, 1);  // the weight b, uploaded once
  EXPECT_EQ(plan->buffer(fused.output(0)).space(), proto::MEM_DEVICE);
  EXPECT_EQ(fused.input(0), up.output(0));
  EXPECT_EQ(fused.output(0), down.input(0));
  EXPECT_EQ(plan->arena_size(), 128);         // x and y on the host, 64 B each
  EXPECT_GE(plan->device_arena_size(), 128);  // x and y on the device (the planner may share)
  // The launch: its kernel image, the elements, the argument words with the pointers left zero.
  const Attrs attrs(fused.attribute());
  EXPECT_EQ(attrs.GetInt("elements", -1), 16);
  const std::vector<int64_t> args = attrs.GetInts("args");
  ASSERT_GE(args.size(), 3u);
  EXPECT_EQ(args[0], 0);
  EXPECT_EQ(args[1], 0);
  EXPECT_EQ(args[2], 0);
  ASSERT_EQ(plan->kernel_image_size(), 1);
  const proto::KernelImage& image = plan->kernel_image(0);
  EXPECT_EQ(attrs.GetString("symbol", ""), image.name());
  EXPECT_EQ(image.format(), "ptx");
  EXPECT_EQ(image.arch(), "compute_80");
  EXPECT_NE(image.data().find(".entry " + image.name()), std::string::npos);
  EXPECT_NE(image.source().find("extern \"C\" __global__ void " + image.name() + "("), std::string::npos);
  // ptxas (the toolkit's assembler) accepts the embedded PTX for a real GPU.
  const std::string file = testing::MakeTempDir() + "/" + image.name() + ".ptx";
  std::ofstream(file) << image.data();
  std::string output;
  EXPECT_EQ(testing::RunCommand("/usr/local/cuda/bin/ptxas -arch=sm_90 -o /dev/null " + file, &output), 0) << output;
}

// The runtime fills the argument words the plan leaves zero with the bound buffers' device
// addresses, outputs first, then inputs: what PackCudaKernelArgs packs with those addresses.
TEST(CudaBackendTest, LaunchArgumentsLeaveExactlyThePointerWordsToTheRuntime) {
  auto plan = CompileFile(kElementwiseModel, "cuda");
  ASSERT_OK(plan.status());
  const proto::Step& fused = plan->step(1);
  const Attrs attrs(fused.attribute());
  auto program = ParseFusedProgram(attrs.GetString("program", ""));
  ASSERT_OK(program.status());
  std::vector<Dims> input_dims;
  std::vector<uint64_t> inputs;
  for (int idx : fused.input()) {
    const proto::Buffer& b = plan->buffer(idx);
    input_dims.emplace_back(b.dims().begin(), b.dims().end());
    inputs.push_back(0x1000 + 0x100 * inputs.size());
  }
  const proto::Buffer& out = plan->buffer(fused.output(0));
  int64_t total = 0;
  auto packed = cuda::PackCudaKernelArgs(*program, input_dims, Dims(out.dims().begin(), out.dims().end()), inputs,
                                         {0x9000}, &total);
  ASSERT_OK(packed.status());
  std::vector<int64_t> patched = attrs.GetInts("args");
  patched[0] = 0x9000;
  for (size_t i = 0; i < inputs.size(); ++i) patched[1 + i] = static_cast<int64_t>(inputs[i]);
  EXPECT_EQ(patched, std::vector<int64_t>(packed->begin(), packed->end()));
  EXPECT_EQ(total, attrs.GetInt("elements", -1));
}

TEST(CudaBackendTest, LoadingWithoutADriverIsOneLineElseItRunsLikeTheCpu) {
  auto plan = CompileFile(kElementwiseModel, "cuda");
  ASSERT_OK(plan.status());
  auto session = LoadPlan(*plan);
  const Status here = runtime::DeviceAvailable("cuda");
  if (!here.ok()) {  // no driver (or a driver without a usable GPU): the same one line
    ASSERT_FALSE(session.ok());
    const std::string& message = session.status().message();
    EXPECT_EQ(message, here.message());
    if (!DriverPresent()) EXPECT_EQ(message.rfind("cuda: no CUDA driver found (", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    return;
  }
  // A GPU: the same input on both devices gives the same output (Add, Relu, Mul are exact).
  ASSERT_OK(session.status());
  auto cpu_model = LoadModel(testing::SourcePath(kElementwiseModel));
  ASSERT_OK(cpu_model.status());
  auto cpu = CompileAndLoad(*cpu_model->graph, CompileOptions{});
  ASSERT_OK(cpu.status());
  const Tensor x = testing::RandomTensor({2, 8}, 7);
  auto on_gpu = testing::RunOnce(**session, {x});
  auto on_cpu = testing::RunOnce(**cpu, {x});
  ASSERT_OK(on_gpu.status());
  ASSERT_OK(on_cpu.status());
  EXPECT_EQ(testing::CompareTensors((*on_gpu)[0], (*on_cpu)[0], 0, 0), "");
}
#endif

TEST(CudaBackendTest, NamesEveryNodeItCannotLowerOnOneLineEach) {
  auto plan = CompileFile("examples/iris_mlp.kiln.txt", "cuda");
  ASSERT_FALSE(plan.ok());
  const std::string& message = plan.status().message();
  EXPECT_EQ(message.rfind("cuda: 2 nodes cannot be lowered yet\n", 0), 0u) << message;
  EXPECT_NE(message.find("dense1/MatMul (MatMul): cuBLASLt lowering not built"), std::string::npos) << message;
  EXPECT_NE(message.find("probs/MatMul (MatMul): cuBLASLt lowering not built"), std::string::npos) << message;
  // The Softmax is a generated kernel kind (cuda_kinds.h).
  EXPECT_EQ(message.find("Softmax"), std::string::npos) << message;
  EXPECT_EQ(testing::CountLines(message), 2) << message;
  // The lone bias Add is a one-op FusedElementwise for this target (FusesSingleElementwiseOps).
  EXPECT_EQ(message.find("BiasAdd"), std::string::npos) << message;
}

// --cpu-fallback: what the backend cannot lower runs on the host, with copies where values
// cross; every plan of the examples and the PyTorch-exported models is valid (memory spaces,
// overlaps per arena) and keeps what it can on the device.
TEST(CudaBackendTest, CpuFallbackPlansOfEveryModelAreValid) {
  std::vector<std::string> models = {"examples/iris_mlp.kiln.txt", "examples/fashion_mnist_mlp.kiln.txt",
                                     "examples/fashion_mnist_cnn.kiln.txt", "examples/xor_mlp.kiln.txt"};
  for (const char* name : {"mlp", "lenet5", "resnet", "lstm", "gru", "transformer_op17"}) {
    models.push_back(std::string("tests/data/models/") + name + "/model.onnx");
  }
  int device_launches = 0;
  for (const std::string& m : models) {
    auto model = LoadModel(testing::SourcePath(m));
    ASSERT_OK(model.status());
    CompileOptions options;
    options.device = "cuda";
    options.cpu_fallback = true;
    auto plan = CompileToPlan(*model->graph, options);
    ASSERT_OK(plan.status().WithContext(m));
    EXPECT_OK(runtime::ValidatePlan(*plan).WithContext(m));
    int copies = 0, host = 0;
    for (const proto::Step& step : plan->step()) {
      if (step.kernel() != "cuda") {
        ++host;
      } else if (step.op_type() == "Identity") {
        ++copies;
      } else {
        ++device_launches;
      }
    }
    EXPECT_GT(host, 0) << m;    // every one of them has a MatMul or Conv
    EXPECT_GT(copies, 0) << m;  // and so crosses between the spaces
    for (int idx : plan->input()) EXPECT_EQ(plan->buffer(idx).space(), proto::MEM_HOST) << m;
  }
  EXPECT_GT(device_launches, 10);
  // Without the flag the same models are refused.
  auto model = LoadModel(testing::SourcePath("tests/data/models/mlp/model.onnx"));
  ASSERT_OK(model.status());
  CompileOptions strict;
  strict.device = "cuda";
  EXPECT_FALSE(CompileToPlan(*model->graph, strict).ok());
}

TEST(CudaBackendTest, TrainingStepsAreRefusedNotRunOnTheCpu) {
  auto model = LoadModel(testing::SourcePath(kElementwiseModel));
  ASSERT_OK(model.status());
  Graph& g = *model->graph;
  ASSERT_OK(PrepareForInference(g, PassOptions{}));
  g.AddState("counter", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{0}));
  auto plan = CudaBackend().Lower(g, LowerOptions{});
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("state (training steps) on the GPU not built"), std::string::npos)
      << plan.status().message();
}

// A host-only plan with one value moved to device memory, as a hand-edited plan could be.
TEST(PlanValidatorDeviceTest, MemorySpacesAreChecked) {
  auto plan = CompileFile(kElementwiseModel, "cpu");
  ASSERT_OK(plan.status());
  ASSERT_OK(runtime::ValidatePlan(*plan));
  EXPECT_EQ(plan->device(), "");

  proto::Plan no_device = *plan;
  no_device.mutable_buffer(no_device.output(0))->set_space(proto::MEM_DEVICE);
  auto st = runtime::ValidatePlan(no_device);
  EXPECT_NE(st.message().find("is in device memory but the plan names no device"), std::string::npos) << st.message();

  proto::Plan on_device = no_device;
  on_device.set_device("cuda");
  on_device.set_device_arena_size(on_device.arena_size());
  st = runtime::ValidatePlan(on_device);
  EXPECT_NE(st.message().find("is an input, output or state in device memory"), std::string::npos) << st.message();

  proto::Plan unknown = *plan;
  unknown.set_device("tpu");
  st = runtime::ValidatePlan(unknown);
  EXPECT_NE(st.message().find("unknown device 'tpu' (known: cpu, cuda)"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace kiln
