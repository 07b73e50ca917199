// Zero heap allocations in the steady state: once a session exists and has run
// once, neither inference runs nor training steps touch the heap. This binary
// interposes malloc and friends (the executable's definitions win over libc's
// for every shared library too, oneDNN and libgomp included) and counts calls
// made while counting is switched on.
#include <dlfcn.h>
#include <execinfo.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "compiler/codegen/jit.h"
#include "compiler/compile.h"
#include "compiler/load.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "runtime/session.h"
#include "tests/test_util.h"

extern "C" {
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void* __libc_memalign(size_t, size_t);
void __libc_free(void*);
}

namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};  // made by Kiln (or anything but oneDNN)
std::atomic<long> g_onednn_allocations{0};
thread_local bool t_inside = false;
// KILN_ALLOC_TRACE=1 prints the stack of every counted allocation (to find its source).
const bool g_trace = std::getenv("KILN_ALLOC_TRACE") != nullptr;

// oneDNN 2.6's dnnl_primitive_execute builds a small argument map per call (its
// exec_args_t): allocations inside libdnnl are counted apart, since Kiln cannot
// avoid them; everything else must be zero.
bool InsideOneDnn(void* const* frames, int n) {
  for (int i = 0; i < n; ++i) {
    Dl_info info;
    if (dladdr(frames[i], &info) && info.dli_fname && std::strstr(info.dli_fname, "libdnnl")) return true;
  }
  return false;
}

inline void Count() {
  if (!g_counting.load(std::memory_order_relaxed) || t_inside) return;
  t_inside = true;  // backtrace() and dladdr() must not count (or recurse)
  void* frames[8];
  const int n = backtrace(frames, 8);
  if (InsideOneDnn(frames, n)) {
    g_onednn_allocations.fetch_add(1, std::memory_order_relaxed);
  } else {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (g_trace) {
      backtrace_symbols_fd(frames, n, 2);
      std::fputs("----\n", stderr);
    }
  }
  t_inside = false;
}

// backtrace() loads libgcc_s (allocating) on its first call: do that before counting.
const int g_warm_backtrace = [] {
  void* frames[2];
  return backtrace(frames, 2);
}();
}  // namespace

extern "C" {
void* malloc(size_t n) {
  Count();
  return __libc_malloc(n);
}
void* calloc(size_t n, size_t m) {
  Count();
  return __libc_calloc(n, m);
}
void* realloc(void* p, size_t n) {
  Count();
  return __libc_realloc(p, n);
}
void* memalign(size_t a, size_t n) {
  Count();
  return __libc_memalign(a, n);
}
void* aligned_alloc(size_t a, size_t n) {
  Count();
  return __libc_memalign(a, n);
}
int posix_memalign(void** out, size_t a, size_t n) {
  Count();
  *out = __libc_memalign(a, n);
  return *out ? 0 : ENOMEM;
}
void free(void* p) { __libc_free(p); }
}

namespace kiln {
namespace {

// Allocations made outside oneDNN by `runs` calls of session.Run() after two warm-up runs.
long SteadyStateAllocations(runtime::Session& session, int runs) {
  for (int i = 0; i < 2; ++i) EXPECT_OK(session.Run());
  g_allocations = 0;
  g_onednn_allocations = 0;
  g_counting = true;
  for (int i = 0; i < runs; ++i) {
    if (!session.Run().ok()) break;
  }
  g_counting = false;
  std::printf("  %ld allocations inside oneDNN's primitive execution over %d runs\n", g_onednn_allocations.load(),
              runs);
  return g_allocations.load();
}

std::unique_ptr<runtime::Session> CompileModel(const std::string& relative, int64_t batch, int threads) {
  auto model = LoadModel(testing::SourcePath(relative));
  EXPECT_OK(model.status());
  if (!model.ok()) return nullptr;
  CompileOptions options;
  options.batch_size = batch;
  auto plan = CompileToPlan(*model->graph, options);
  EXPECT_OK(plan.status());
  if (!plan.ok()) return nullptr;
  runtime::SessionOptions session_options;
  session_options.num_threads = threads;
  auto session = LoadPlan(std::move(plan).value(), session_options);
  EXPECT_OK(session.status());
  return session.ok() ? std::move(session).value() : nullptr;
}

TEST(SteadyStateAllocations, CounterSeesAllocations) {
  // The interposition works: a plain allocation is counted (so a zero below means something).
  g_allocations = 0;
  g_counting = true;
  void* volatile p = std::malloc(64);
  std::string* volatile s = new std::string(100, 'x');
  g_counting = false;
  std::free(p);
  delete s;
  EXPECT_GE(g_allocations.load(), 2);
}

struct InferenceCase {
  const char* model;
  int64_t batch;
  int threads;
};

class InferenceAllocations : public ::testing::TestWithParam<InferenceCase> {};

TEST_P(InferenceAllocations, RunAllocatesNothing) {
  const InferenceCase& c = GetParam();
  auto session = CompileModel(c.model, c.batch, c.threads);
  ASSERT_TRUE(session);
  EXPECT_EQ(SteadyStateAllocations(*session, 5), 0) << c.model << " at batch " << c.batch;
}

INSTANTIATE_TEST_SUITE_P(TorchModels, InferenceAllocations,
                         ::testing::Values(InferenceCase{"tests/data/models/mlp/model.onnx", 1, 1},
                                           InferenceCase{"tests/data/models/mlp/model.onnx", 64, 2},
                                           InferenceCase{"tests/data/models/lenet5/model.onnx", 1, 2},
                                           InferenceCase{"tests/data/models/resnet/model.onnx", 8, 2},
                                           // The vector recurrent kernels: one thread, and a batch split over two.
                                           InferenceCase{"tests/data/models/lstm/model.onnx", 1, 2},
                                           InferenceCase{"tests/data/models/lstm/model.onnx", 16, 2},
                                           InferenceCase{"tests/data/models/gru/model.onnx", 16, 2}),
                         [](const auto& info) {
                           std::string name = info.param.model;
                           name = name.substr(std::strlen("tests/data/models/"));
                           name = name.substr(0, name.find('/'));
                           return name + "_b" + std::to_string(info.param.batch) + "_t" +
                                  std::to_string(info.param.threads);
                         });

// x[B, 256] -> Dense(512, relu) -> Dense(10) -> Softmax: parameters large enough that the
// optimizer updates run on several threads.
std::unique_ptr<Graph> WideMlp() {
  auto g = std::make_unique<Graph>();
  auto param = [&](const std::string& name, const Dims& dims, uint32_t seed) {
    Value* v = g->AddConstant(name, testing::RandomTensor(dims, seed, -0.05f, 0.05f));
    v->set_parameter(true);
    return v;
  };
  Value* h = g->AddInput("x", {proto::DT_FLOAT, {-1, 256}});
  h = g->AddNode("MatMul", "d1", {h, param("d1/kernel", {256, 512}, 1)})->output(0);
  h = g->AddNode("Add", "d1/bias_add", {h, param("d1/bias", {512}, 2)})->output(0);
  h = g->AddNode("Relu", "d1/relu", {h})->output(0);
  h = g->AddNode("MatMul", "d2", {h, param("d2/kernel", {512, 10}, 3)})->output(0);
  Attrs axis;
  axis.SetInt("axis", -1);
  g->AddOutput(g->AddNode("Softmax", "probs", {h}, 1, axis)->output(0));
  return g;
}

TEST(SteadyStateAllocations, TrainingStepAllocatesNothing) {
  // The recurrent models: LSTMGrad and GRUGrad on the vector kernels, and the reference Slice
  // and SliceGrad that take their last step, which resolve their slice once (SliceWalk).
  for (const char* model_path : {"tests/data/training/mlp.onnx", "tests/data/training/cnn.onnx",
                                 "tests/data/training/lstm.onnx", "tests/data/training/gru.onnx", "wide-mlp"}) {
    auto plan = std::string(model_path) == "wide-mlp" ? testing::CompileTrainingStep(*WideMlp(), 16, "adam")
                                                      : testing::CompileTrainingStep(model_path, 16, "adam");
    ASSERT_OK(plan.status());
    runtime::SessionOptions options;
    options.num_threads = 2;
    auto session = LoadPlan(std::move(plan).value(), options);
    ASSERT_OK(session.status());
    // Any labels in range will do: the step's work does not depend on their values.
    for (int i = 0; i < (*session)->num_inputs(); ++i) {
      TensorRef in = (*session)->input(i);
      std::memset(in.data, 0, in.num_bytes());
    }
    EXPECT_EQ(SteadyStateAllocations(**session, 5), 0) << model_path;
  }
}

}  // namespace
}  // namespace kiln
