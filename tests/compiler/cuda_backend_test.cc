// The CUDA backend's lowering (compiler/backends/cuda/cuda_backend.cc) and the backend
// seam, without a GPU: the plan's structure (host edges, device buffers from the memory
// planner, device constants, copy steps, one launch per FusedElementwise), its PTX from
// NVRTC (assembled by ptxas for sm_90), the one-line per-node error for what it cannot
// lower, the validator's memory-space rules, and loading: without a driver a one-line
// error; with one, the plan runs and matches the CPU.
#include "compiler/backends/cuda/cuda_backend.h"

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "compiler/backends/cuda/cuda_codegen.h"
#include "compiler/load.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "ir/core/attrs.h"
#include "runtime/device.h"
#include "runtime/plan_validator.h"
#include "runtime/session.h"
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
  if (!DriverPresent()) {
    EXPECT_EQ(cuda.message().rfind("cuda: no CUDA driver found (", 0), 0u) << cuda.message();
  }
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
    if (!DriverPresent()) {
      EXPECT_EQ(message.rfind("cuda: no CUDA driver found (", 0), 0u) << message;
    }
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
  auto plan = CompileFile("examples/word2vec_cbow.kiln.txt", "cuda");
  ASSERT_FALSE(plan.ok());
  const std::string& message = plan.status().message();
  EXPECT_EQ(message.rfind("cuda: 3 nodes cannot be lowered yet\n", 0), 0u) << message;
  EXPECT_NE(message.find("ids (Cast): cuda: no generated kernel for Cast: no kernel kind for this op"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("context (Slice): cuda: no generated kernel for Slice: only float32 data"), std::string::npos)
      << message;
  EXPECT_EQ(testing::CountLines(message), 3) << message;
  // The products (generated GEMM kinds) and the Softmax lower.
  EXPECT_EQ(message.find("MatMul"), std::string::npos) << message;
  EXPECT_EQ(message.find("Softmax"), std::string::npos) << message;
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
    if (testing::StopsForMissingNvrtc(plan.status())) return;
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
    // The recurrent and LayerNormalization models have host steps, the others none.
    const bool lowers_fully = m.find("lstm") == std::string::npos && m.find("gru") == std::string::npos &&
                              m.find("transformer") == std::string::npos;
    EXPECT_EQ(host == 0, lowers_fully) << m << ": " << host << " host steps";
    EXPECT_GT(copies, 0) << m;  // inputs in, outputs out; with host steps also between them
    // CUDA-graph segments: every device step in exactly one, host steps between them; a plan
    // with no host step is one graph.
    const std::vector<runtime::DeviceSegment> segments = runtime::DeviceSegments(*plan);
    std::vector<int> in_segment(plan->step_size(), 0);
    for (size_t k = 0; k < segments.size(); ++k) {
      ASSERT_LT(segments[k].begin, segments[k].end) << m;
      for (int i = segments[k].begin; i < segments[k].end; ++i) ++in_segment[i];
      if (k > 0) {
        ASSERT_LT(segments[k - 1].end, segments[k].begin) << m << ": adjacent segments";
        for (int i = segments[k - 1].end; i < segments[k].begin; ++i) EXPECT_NE(plan->step(i).kernel(), "cuda") << m;
      }
    }
    for (int i = 0; i < plan->step_size(); ++i) {
      EXPECT_EQ(in_segment[i], plan->step(i).kernel() == "cuda" ? 1 : 0) << m << ": step " << i;
    }
    if (lowers_fully) {
      ASSERT_EQ(segments.size(), 1u) << m;
      EXPECT_EQ(segments[0].begin, 0);
      EXPECT_EQ(segments[0].end, plan->step_size());
    } else {
      EXPECT_GT(segments.size(), 1u) << m << ": the host steps split the graph";
    }
    for (int idx : plan->input()) EXPECT_EQ(plan->buffer(idx).space(), proto::MEM_HOST) << m;
  }
  EXPECT_GT(device_launches, 10);
  // Without the flag the models with host steps are refused.
  auto model = LoadModel(testing::SourcePath("tests/data/models/lstm/model.onnx"));
  ASSERT_OK(model.status());
  CompileOptions strict;
  strict.device = "cuda";
  EXPECT_FALSE(CompileToPlan(*model->graph, strict).ok());
}

// The training step of the iris MLP with Adam, compiled for the device and for the CPU.
struct TrainingPlans {
  proto::Plan cuda, cpu;
};
StatusOr<TrainingPlans> IrisTrainingPlans(const std::string& optimizer) {
  ASSIGN_OR_RETURN(Model model, LoadModel(testing::SourcePath("examples/iris_mlp.kiln.txt")));
  TrainingPlans plans;
  for (const std::string device : {"cuda", "cpu"}) {
    ASSIGN_OR_RETURN(TrainingConfig config, TrainingConfigFromSpec(model.training, *model.graph));
    config.optimizer = OptimizerConfig::For(optimizer);
    config.batch_size = 8;
    config.device = device;
    ASSIGN_OR_RETURN(TrainingProgram program, BuildTrainingProgram(*model.graph, config));
    CompileOptions options;
    options.device = device;
    options.prepare_for_inference = false;
    ASSIGN_OR_RETURN(proto::Plan plan, CompileToPlan(*program.step, options));
    (device == std::string("cuda") ? plans.cuda : plans.cpu) = std::move(plan);
  }
  return plans;
}

// A training step on the device: every step a device step, every state (parameters, Adam's
// moments, the counter) a device state with its initial value in the constants, the
// optimizer updates generated kernels writing in place (no copy after the run), the loss
// and prediction copied out. Without a driver, loading it is the one-line error; with one,
// three steps give the CPU's losses and parameters.
TEST(CudaBackendTest, TrainingStepsKeepTheirStatesOnTheDeviceAndUpdateThemInPlace) {
  auto plans = IrisTrainingPlans("adam");
  if (testing::StopsForMissingNvrtc(plans.status())) return;
  ASSERT_OK(plans.status());
  const proto::Plan& plan = plans->cuda;
  ASSERT_OK(runtime::ValidatePlan(plan));
  EXPECT_EQ(plan.device(), "cuda");
  int updates = 0, copies_out = 0;
  for (const proto::Step& step : plan.step()) {
    EXPECT_EQ(step.kernel(), "cuda") << step.name();
    const std::string symbol = Attrs(step.attribute()).GetString("symbol", "");
    if (step.op_type() == "AdamUpdate") {
      ++updates;
      EXPECT_EQ(symbol.rfind("kiln_optimizer_update_", 0), 0u) << symbol;
    }
    if (step.name() == "train/step/increment") {
      EXPECT_EQ(symbol.rfind("kiln_counter_add_", 0), 0u) << symbol;
    }
    if (Attrs(step.attribute()).GetString("direction", "") == "to_host") ++copies_out;
  }
  EXPECT_EQ(updates, 4);     // two layers' kernels and biases
  EXPECT_EQ(copies_out, 2);  // loss, prediction
  ASSERT_EQ(plan.state_size(), plans->cpu.state_size());
  for (int i = 0; i < plan.state_size(); ++i) {
    const proto::Buffer& b = plan.buffer(plan.state(i));
    EXPECT_EQ(b.space(), proto::MEM_DEVICE) << b.name();
    EXPECT_EQ(b.kind(), proto::BUF_STATE) << b.name();
    const proto::Buffer& cpu = plans->cpu.buffer(plans->cpu.state(i));
    EXPECT_EQ(b.name(), cpu.name());
    const int64_t bytes = DTypeSize(b.dtype()) * ElementCount(Dims(b.dims().begin(), b.dims().end()));
    EXPECT_EQ(plan.constants().substr(b.init_offset(), bytes), plans->cpu.constants().substr(cpu.init_offset(), bytes))
        << b.name() << ": the same initial value";
  }
  // Parameters and moments are updated in place (the update shares the state's bytes).
  int in_place = 0;
  for (const proto::StateUpdate& su : plan.state_update()) {
    in_place += plan.buffer(su.update()).offset() == plan.buffer(su.state()).offset();
  }
  EXPECT_GE(in_place, 12) << "4 parameters x (p, m, v)";

  auto session = runtime::Session::Create(plan);
  const Status here = runtime::DeviceAvailable("cuda");
  if (!here.ok()) {
    ASSERT_FALSE(session.ok());
    EXPECT_EQ(session.status().message(), here.message());
    EXPECT_EQ(session.status().message().find('\n'), std::string::npos);
    return;
  }
  ASSERT_OK(session.status());
  auto cpu = runtime::Session::Create(plans->cpu);
  ASSERT_OK(cpu.status());
  const Tensor x = testing::RandomTensor({8, 4}, 3);
  const Tensor y = Tensor::FromVector(proto::DT_INT64, {8}, std::vector<int64_t>{0, 1, 2, 0, 1, 2, 0, 1});
  for (int step = 0; step < 3; ++step) {
    auto on_gpu = testing::RunOnce(**session, {x, y});
    auto on_cpu = testing::RunOnce(**cpu, {x, y});
    ASSERT_OK(on_gpu.status());
    ASSERT_OK(on_cpu.status());
    EXPECT_EQ(testing::CompareTensors((*on_gpu)[0], (*on_cpu)[0], 1e-4, 1e-4), "") << "loss at step " << step;
  }
  for (int i = 0; i < (*cpu)->num_states(); ++i) {
    const TensorRef a = (*session)->state(i), b = (*cpu)->state(i);
    ASSERT_EQ(a.num_bytes(), b.num_bytes());
    if (a.dtype != proto::DT_FLOAT) {
      EXPECT_EQ(std::memcmp(a.data, b.data, a.num_bytes()), 0) << (*cpu)->state_desc(i).name();
      continue;
    }
    for (int64_t e = 0; e < a.num_elements(); ++e) {
      EXPECT_NEAR(a.as<float>()[e], b.as<float>()[e], 1e-4) << (*cpu)->state_desc(i).name() << "[" << e << "]";
    }
  }
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
  EXPECT_NE(st.message().find("is an input or output in device memory"), std::string::npos) << st.message();

  proto::Plan unknown = *plan;
  unknown.set_device("tpu");
  st = runtime::ValidatePlan(unknown);
  EXPECT_NE(st.message().find("unknown device 'tpu' (known: cpu, cuda)"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace kiln
