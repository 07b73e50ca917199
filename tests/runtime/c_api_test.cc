// The C API (include/kiln/runtime.h) and its C++ wrapper: plans from memory and
// files, names and shapes, errors through kiln_last_error, states and checkpoints
// of a training plan, and two sessions running on two threads at once.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <thread>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/compile.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "frontends/tensor_io.h"
#include "kiln/runtime.h"
#include "kiln/runtime.hpp"
#include "runtime/device.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

std::string ModelPath(const std::string& model, const std::string& file) {
  return testing::SourcePath("tests/data/models/" + model + "/" + file);
}

// The serialized plan of a reference model at batch 1.
std::string SerializedPlan(const std::string& model) {
  auto m = LoadModel(ModelPath(model, "model.onnx"));
  EXPECT_TRUE(m.ok()) << m.status().message();
  auto plan = CompileToPlan(*m->graph);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan->SerializeAsString();
}

Tensor Read(const std::string& path) {
  auto t = ReadTensorFile(path);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(t).value();
}

TEST(CApiTest, LoadFromMemoryDescribeAndRun) {
  const std::string bytes = SerializedPlan("mlp");
  kiln_plan* plan = nullptr;
  ASSERT_EQ(kiln_plan_load_memory(bytes.data(), bytes.size(), &plan), KILN_OK) << kiln_last_error();
  kiln_session* session = nullptr;
  kiln_session_options options;
  kiln_session_options_init(&options);
  options.num_threads = 1;
  ASSERT_EQ(kiln_session_create(plan, &options, &session), KILN_OK) << kiln_last_error();
  kiln_plan_free(plan);  // the session keeps its own copy

  int inputs = 0, outputs = 0, states = -1;
  ASSERT_EQ(kiln_session_num_inputs(session, &inputs), KILN_OK);
  ASSERT_EQ(kiln_session_num_outputs(session, &outputs), KILN_OK);
  ASSERT_EQ(kiln_session_num_states(session, &states), KILN_OK);
  ASSERT_EQ(inputs, 1);
  ASSERT_EQ(outputs, 1);
  EXPECT_EQ(states, 0);
  EXPECT_EQ(kiln_session_num_inputs(nullptr, &inputs), KILN_ERROR_INVALID_ARGUMENT);
  kiln_tensor_info in, out;
  ASSERT_EQ(kiln_session_input_info(session, 0, &in), KILN_OK);
  ASSERT_EQ(kiln_session_output_info(session, 0, &out), KILN_OK);
  const Tensor x = Read(ModelPath("mlp", "input_b1.npy"));
  const Tensor expected = Read(ModelPath("mlp", "output_b1.npy"));
  EXPECT_EQ(in.dtype, KILN_DTYPE_FLOAT32);
  EXPECT_STREQ(kiln_dtype_name(in.dtype), "float32");
  ASSERT_EQ(in.rank, static_cast<int>(x.dims().size()));
  for (int d = 0; d < in.rank; ++d) EXPECT_EQ(in.dims[d], x.dims()[d]);
  EXPECT_EQ(in.size_bytes, static_cast<size_t>(x.num_bytes()));
  EXPECT_EQ(out.size_bytes, static_cast<size_t>(expected.num_bytes()));
  int index = -1;
  ASSERT_EQ(kiln_session_find_input(session, in.name, &index), KILN_OK);
  EXPECT_EQ(index, 0);
  ASSERT_EQ(kiln_session_find_output(session, out.name, &index), KILN_OK);
  EXPECT_EQ(index, 0);

  ASSERT_EQ(kiln_session_set_input(session, 0, x.data(), x.num_bytes()), KILN_OK) << kiln_last_error();
  ASSERT_EQ(kiln_session_run(session), KILN_OK) << kiln_last_error();
  const void* data = nullptr;
  size_t size = 0;
  ASSERT_EQ(kiln_session_output(session, 0, &data, &size), KILN_OK);
  ASSERT_EQ(size, static_cast<size_t>(expected.num_bytes()));
  auto got = Tensor::FromBytes(expected.dtype(), expected.dims(), data, size);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(testing::CompareTensors(*got, expected, 1e-5, 1e-4), "");

  // Filling the input buffer in place gives the same result.
  void* buffer = nullptr;
  ASSERT_EQ(kiln_session_input_buffer(session, 0, &buffer, &size), KILN_OK);
  ASSERT_EQ(size, static_cast<size_t>(x.num_bytes()));
  std::memcpy(buffer, x.data(), size);
  ASSERT_EQ(kiln_session_run(session), KILN_OK);
  const void* again = nullptr;
  ASSERT_EQ(kiln_session_output(session, 0, &again, &size), KILN_OK);
  EXPECT_EQ(std::memcmp(again, got->data(), size), 0);
  kiln_session_free(session);
}

TEST(CApiTest, ErrorsNameTheProblem) {
  kiln_plan* plan = nullptr;
  EXPECT_EQ(kiln_plan_load_file("/nonexistent/model.plan", &plan), KILN_ERROR_NOT_FOUND);
  EXPECT_NE(std::string(kiln_last_error()).find("/nonexistent/model.plan"), std::string::npos) << kiln_last_error();
  const char garbage[] = "\xff\xff\xff\xff not a plan";
  EXPECT_EQ(kiln_plan_load_memory(garbage, sizeof(garbage), &plan), KILN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kiln_last_error()).find("not a valid Kiln plan"), std::string::npos) << kiln_last_error();
  EXPECT_EQ(kiln_plan_load_memory(nullptr, 0, nullptr), KILN_ERROR_INVALID_ARGUMENT);

  const std::string bytes = SerializedPlan("mlp");
  ASSERT_EQ(kiln_plan_load_memory(bytes.data(), bytes.size(), &plan), KILN_OK);
  kiln_session* session = nullptr;
  ASSERT_EQ(kiln_session_create(plan, nullptr, &session), KILN_OK);
  kiln_plan_free(plan);
  const float two[2] = {1, 2};
  EXPECT_EQ(kiln_session_set_input(session, 0, two, sizeof(two)), KILN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kiln_last_error()).find("got 8"), std::string::npos) << kiln_last_error();
  EXPECT_EQ(kiln_session_set_input(session, 3, two, sizeof(two)), KILN_ERROR_OUT_OF_RANGE);
  EXPECT_NE(std::string(kiln_last_error()).find("input index 3"), std::string::npos) << kiln_last_error();
  int index = 7;
  EXPECT_EQ(kiln_session_find_input(session, "nope", &index), KILN_ERROR_NOT_FOUND);
  EXPECT_EQ(index, 7) << "out-pointers are written only on success";
  EXPECT_NE(std::string(kiln_last_error()).find("no input named 'nope'"), std::string::npos) << kiln_last_error();
  kiln_tensor_info info;
  EXPECT_EQ(kiln_session_output_info(session, -1, &info), KILN_ERROR_OUT_OF_RANGE);
  // The message is per thread: another thread sees none.
  std::string other;
  std::thread([&] { other = kiln_last_error(); }).join();
  EXPECT_EQ(other, "");
  kiln_session_free(session);

  // The C++ wrapper throws kiln::Error with the same message.
  try {
    kiln::Plan::FromFile("/nonexistent/model.plan");
    ADD_FAILURE() << "expected kiln::Error";
  } catch (const kiln::Error& e) {
    EXPECT_EQ(e.code(), KILN_ERROR_NOT_FOUND);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/model.plan"), std::string::npos);
  }
}

// Devices: which one a plan needs, whether one can run here, and sessions on the device the
// caller asks for. Without a CUDA driver a CUDA plan is the one-line driver error (NOT_FOUND)
// from every entry point, before anything is allocated.
TEST(CApiTest, DevicesSayWhatAPlanNeedsAndWhyItCannotRunHere) {
  EXPECT_EQ(kiln_device_available("cpu"), KILN_OK);
  EXPECT_EQ(kiln_device_available("tpu"), KILN_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(kiln_last_error()).find("unknown device 'tpu' (known: cpu, cuda)"), std::string::npos)
      << kiln_last_error();
  EXPECT_EQ(kiln_device_available(nullptr), KILN_ERROR_INVALID_ARGUMENT);

  const std::string bytes = SerializedPlan("mlp");
  kiln_plan* plan = nullptr;
  ASSERT_EQ(kiln_plan_load_memory(bytes.data(), bytes.size(), &plan), KILN_OK);
  EXPECT_STREQ(kiln_plan_device(plan), "cpu");
  kiln_session* session = nullptr;
  EXPECT_EQ(kiln_session_create_on_device(plan, nullptr, "cuda", &session), KILN_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(kiln_last_error(),
               "kiln_session_create_on_device: the plan was compiled for cpu, not cuda (kiln compile --device cuda)");
  EXPECT_EQ(session, nullptr);
  EXPECT_EQ(kiln_session_create_on_device(plan, nullptr, "tpu", &session), KILN_ERROR_INVALID_ARGUMENT);
  for (const char* device : {"cpu", static_cast<const char*>(nullptr)}) {
    ASSERT_EQ(kiln_session_create_on_device(plan, nullptr, device, &session), KILN_OK) << kiln_last_error();
    EXPECT_EQ(kiln_session_run(session), KILN_OK);
    kiln_session_free(session);
    session = nullptr;
  }
  kiln_plan_free(plan);

#if KILN_HAVE_CUDA_TOOLKIT  // NVRTC compiles the CUDA plan's kernels (no GPU needed)
  auto m = LoadModel(ModelPath("mlp", "model.onnx"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  CompileOptions options;
  options.device = "cuda";
  auto cuda = CompileToPlan(*m->graph, options);
  ASSERT_TRUE(cuda.ok()) << cuda.status().message();
  const std::string cuda_bytes = cuda->SerializeAsString();
  ASSERT_EQ(kiln_plan_load_memory(cuda_bytes.data(), cuda_bytes.size(), &plan), KILN_OK);
  EXPECT_STREQ(kiln_plan_device(plan), "cuda");
  EXPECT_EQ(kiln_session_create_on_device(plan, nullptr, "cpu", &session), KILN_ERROR_INVALID_ARGUMENT);
  EXPECT_STREQ(kiln_last_error(),
               "kiln_session_create_on_device: the plan was compiled for cuda, not cpu (kiln compile --device cpu)");
  const Status here = runtime::DeviceAvailable("cuda");
  if (!here.ok()) {
    EXPECT_EQ(kiln_device_available("cuda"), KILN_ERROR_NOT_FOUND);
    EXPECT_EQ(std::string(kiln_last_error()), here.message());
    EXPECT_EQ(std::string(kiln_last_error()).find('\n'), std::string::npos);
    EXPECT_EQ(kiln_session_create_on_device(plan, nullptr, "cuda", &session), KILN_ERROR_NOT_FOUND);
    EXPECT_EQ(std::string(kiln_last_error()), here.message());
    EXPECT_EQ(kiln_session_create(plan, nullptr, &session), KILN_ERROR_NOT_FOUND);
    EXPECT_EQ(std::string(kiln_last_error()), here.message());
    EXPECT_EQ(session, nullptr);
  } else {
    EXPECT_EQ(kiln_device_available("cuda"), KILN_OK);
    ASSERT_EQ(kiln_session_create_on_device(plan, nullptr, "cuda", &session), KILN_OK) << kiln_last_error();
    EXPECT_EQ(kiln_session_run(session), KILN_OK) << kiln_last_error();
    kiln_session_free(session);
  }
  kiln_plan_free(plan);
#endif
}

// Hostile plans are errors from kiln_session_create, and no session or memory leaks
// (this binary also runs under valgrind). tests/runtime/plan_validation_test.cc has the rest.
TEST(CApiTest, HostilePlansAreErrors) {
  auto m = LoadModel(ModelPath("mlp", "model.onnx"));
  ASSERT_TRUE(m.ok()) << m.status().message();
  auto compiled = CompileToPlan(*m->graph);
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  int constant = -1;
  for (int b = 0; b < compiled->buffer_size() && constant < 0; ++b) {
    if (compiled->buffer(b).kind() == proto::BUF_CONSTANT) constant = b;
  }
  ASSERT_GE(constant, 0);
  struct Lie {
    std::function<void(proto::Plan*)> mutate;
    const char* message;
  };
  const std::vector<Lie> lies = {
      {[](proto::Plan* p) { p->mutable_step(0)->clear_input(); }, "inputs, got 0"},
      {[](proto::Plan* p) { p->mutable_step(0)->clear_output(); }, "outputs, got 0"},
      {[&](proto::Plan* p) { p->set_input(0, constant); }, "is a constant"},
      {[](proto::Plan* p) { p->mutable_buffer(p->input(0))->set_offset(INT64_MAX - 3); }, "outside its arena"},
  };
  for (const Lie& lie : lies) {
    proto::Plan p = *compiled;
    lie.mutate(&p);
    const std::string bytes = p.SerializeAsString();
    kiln_plan* plan = nullptr;
    ASSERT_EQ(kiln_plan_load_memory(bytes.data(), bytes.size(), &plan), KILN_OK);
    kiln_session* session = nullptr;
    EXPECT_EQ(kiln_session_create(plan, nullptr, &session), KILN_ERROR_INVALID_ARGUMENT) << lie.message;
    EXPECT_EQ(session, nullptr);
    EXPECT_NE(std::string(kiln_last_error()).find(lie.message), std::string::npos) << kiln_last_error();
    EXPECT_EQ(std::string(kiln_last_error()).find('\n'), std::string::npos);
    kiln_plan_free(plan);
  }
}

TEST(CApiTest, PlanFileAndCppWrapper) {
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/lenet.plan";
  std::ofstream(path, std::ios::binary) << SerializedPlan("lenet5");
  kiln::Plan plan = kiln::Plan::FromFile(path);
  kiln::Session session(plan, 1);
  const Tensor x = Read(ModelPath("lenet5", "input_b1.npy"));
  const Tensor expected = Read(ModelPath("lenet5", "output_b1.npy"));
  EXPECT_EQ(session.input_info(0).dims, x.dims());
  session.SetInput(session.input_info(0).name, x.data(), x.num_bytes());
  session.Run();
  std::vector<float> out = session.OutputVector<float>(0);
  ASSERT_EQ(out.size() * sizeof(float), static_cast<size_t>(expected.num_bytes()));
  auto got = Tensor::FromBytes(proto::DT_FLOAT, expected.dims(), out.data(), expected.num_bytes());
  EXPECT_EQ(testing::CompareTensors(*got, expected, 1e-5, 1e-4), "");
  EXPECT_THROW(session.FindOutput("missing"), kiln::Error);
}

// Two sessions (two models) on two threads at once, each many runs, each equal to
// its single-threaded result.
TEST(CApiTest, TwoSessionsOnTwoThreads) {
  struct Job {
    std::string model;
    std::string bytes;
    Tensor x;
    std::vector<uint8_t> expected;
    bool ok = true;
    std::string error;
  };
  Job jobs[2];
  jobs[0].model = "mlp";
  jobs[1].model = "lenet5";
  for (Job& job : jobs) {
    job.bytes = SerializedPlan(job.model);
    job.x = Read(ModelPath(job.model, "input_b1.npy"));
    kiln::Session s(kiln::Plan::FromMemory(job.bytes.data(), job.bytes.size()), 1);
    s.SetInput(0, job.x.data(), job.x.num_bytes());
    s.Run();
    size_t size = 0;
    const uint8_t* out = s.Output<uint8_t>(0, &size);
    job.expected.assign(out, out + size);
  }
  auto work = [](Job* job) {
    try {
      kiln::Session s(kiln::Plan::FromMemory(job->bytes.data(), job->bytes.size()), 1);
      for (int i = 0; i < 50 && job->ok; ++i) {
        s.SetInput(0, job->x.data(), job->x.num_bytes());
        s.Run();
        size_t size = 0;
        const uint8_t* out = s.Output<uint8_t>(0, &size);
        job->ok = size == job->expected.size() && std::memcmp(out, job->expected.data(), size) == 0;
      }
    } catch (const kiln::Error& e) {
      job->ok = false;
      job->error = e.what();
    }
  };
  std::thread a(work, &jobs[0]), b(work, &jobs[1]);
  a.join();
  b.join();
  for (const Job& job : jobs) EXPECT_TRUE(job.ok) << job.model << " " << job.error;
}

// A training plan: a run is a step (states change), states read/write, checkpoints round-trip.
TEST(CApiTest, TrainingStatesAndCheckpoints) {
  auto model = LoadModel(testing::SourcePath("tests/data/training/mlp.onnx"));
  ASSERT_OK(model.status());
  TrainingConfig config;
  config.batch_size = 4;
  config.optimizer = OptimizerConfig::For("sgd");
  config.optimizer.hyper.lr = 0.01f;
  auto program = BuildTrainingProgram(*model->graph, config);
  ASSERT_OK(program.status());
  auto plan = CompileForCpu(*program->step, CpuCompileOptions{});
  ASSERT_OK(plan.status());
  const std::string bytes = plan->SerializeAsString();
  kiln::Session s(kiln::Plan::FromMemory(bytes.data(), bytes.size()), 1);
  ASSERT_GT(s.num_states(), 0);
  const std::string param = program->parameters.at(0);
  const int p = s.FindState(param);
  const kiln::TensorInfo info = s.state_info(p);
  EXPECT_EQ(info.name, param);
  void* data = nullptr;
  size_t size = 0;
  ASSERT_EQ(kiln_session_state(s.get(), p, &data, &size), KILN_OK);
  ASSERT_EQ(size, info.size_bytes);
  const std::vector<uint8_t> initial(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);

  // Deterministic batch: inputs from a fixed pattern, targets class 0.
  for (int i = 0; i < s.num_inputs(); ++i) {
    const kiln::TensorInfo in = s.input_info(i);
    std::vector<uint8_t> values(in.size_bytes, 0);
    if (in.dtype == KILN_DTYPE_FLOAT32) {
      for (size_t k = 0; k < in.num_elements; ++k) reinterpret_cast<float*>(values.data())[k] = 0.01f * (k % 17);
    }
    s.SetInput(i, values.data(), values.size());
  }
  s.Run();
  const std::vector<uint8_t> trained(static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  EXPECT_NE(trained, initial) << "a run of a training plan is a step";

  const std::string path = testing::MakeTempDir() + "/ckpt.kiln";
  s.SaveCheckpoint(path);
  s.ResetStates();
  EXPECT_EQ(std::memcmp(data, initial.data(), size), 0);
  s.LoadCheckpoint(path);
  EXPECT_EQ(std::memcmp(data, trained.data(), size), 0);
  s.SetState(p, initial.data(), initial.size());
  EXPECT_EQ(std::memcmp(data, initial.data(), size), 0);
  EXPECT_THROW(s.SetState(p, initial.data(), initial.size() - 4), kiln::Error);
  EXPECT_THROW(s.LoadCheckpoint(path + ".missing"), kiln::Error);
}

}  // namespace
}  // namespace kiln
