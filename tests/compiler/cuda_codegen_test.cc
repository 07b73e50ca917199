// The CUDA backend's code generator on the fused programs the real pipeline
// makes for the examples' models (inference and training steps): each is
// rendered, run by the emulation harness (kiln_cuda_check --emulate) against the
// reference arithmetic, and, where the CUDA toolkit is installed, compiled by
// NVRTC for compute_80 and compute_90 and assembled by ptxas -arch=sm_90.
#include "compiler/backends/cuda/cuda_codegen.h"

#include <dirent.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/backends/cuda/cuda_kinds_lowering.h"
#include "compiler/backends/cuda/nvrtc.h"
#include "compiler/load.h"
#include "compiler/pass.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "ir/core/attrs.h"
#include "runtime/kernels/cuda/cuda_driver.h"
#include "tests/test_util.h"
#include "tools/kiln_cuda_check/kinds.h"

namespace kiln::cuda {
namespace {

void CollectPrograms(const proto::Plan& plan, std::set<std::string>* programs) {
  for (const proto::Step& step : plan.step()) {
    if (step.op_type() != "FusedElementwise") continue;
    programs->insert(Attrs(step.attribute()).GetString("program", ""));
  }
}

// The plans of examples/*.kiln.txt: inference and, where the example trains, the SGD training
// step (lowered for the CPU, the reference kernels checking the CUDA kinds).
struct ExamplePlanSet {
  std::vector<proto::Plan> plans;
  int models = 0, trained = 0;
};
const ExamplePlanSet& ExamplePlans() {
  static const ExamplePlanSet set = [] {
    ExamplePlanSet s;
    DIR* dir = opendir(testing::SourcePath("examples").c_str());
    EXPECT_NE(dir, nullptr);
    std::vector<std::string> files;
    while (dir != nullptr) {
      dirent* e = readdir(dir);
      if (e == nullptr) break;
      const std::string name = e->d_name;
      if (name.size() > 9 && name.substr(name.size() - 9) == ".kiln.txt") files.push_back("examples/" + name);
    }
    if (dir != nullptr) closedir(dir);
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
      auto model = LoadModel(testing::SourcePath(file));
      EXPECT_OK(model.status());
      if (!model.ok()) continue;
      ++s.models;
      Graph& g = *model->graph;
      EXPECT_OK(PrepareForInference(g, {}));
      auto plan = CompileForCpu(g, {.use_onednn = false});
      EXPECT_OK(plan.status());
      if (plan.ok()) s.plans.push_back(*plan);
      // Not every example trains (some have no labels or loss): those are listed, at least 3 must.
      // The step's nodes as the CUDA pipeline leaves them (its loss stays unfused).
      auto step = testing::CompileTrainingStep(file, 4, "sgd", "cuda");
      if (step.ok()) {
        ++s.trained;
        s.plans.push_back(*step);
      } else {
        std::printf("[ info ] %s: no training step: %s\n", file.c_str(), step.status().message().c_str());
      }
    }
    return s;
  }();
  return set;
}

// Every distinct fused program of the examples' plans.
std::vector<FusedProgram> ExamplePrograms(int* models, int* trained) {
  std::set<std::string> texts;
  *models = ExamplePlans().models;
  *trained = ExamplePlans().trained;
  for (const proto::Plan& plan : ExamplePlans().plans) CollectPrograms(plan, &texts);
  std::vector<FusedProgram> programs;
  for (const std::string& text : texts) {
    auto p = ParseFusedProgram(text);
    EXPECT_OK(p.status());
    if (p.ok()) programs.push_back(*p);
  }
  return programs;
}

// A plan step as the kinds' lowering sees it: dims, dtypes, constant int inputs.
CudaOpView StepView(const proto::Plan& plan, const proto::Step& step) {
  CudaOpView v;
  v.op_type = step.op_type();
  v.attrs = Attrs(step.attribute());
  v.num_outputs = step.output_size();
  for (int index : step.output()) {
    const proto::Buffer& b = plan.buffer(index);
    v.output_dims.emplace_back(b.dims().begin(), b.dims().end());
  }
  for (int index : step.input()) {
    if (index < 0) {
      v.input_dims.emplace_back();
      v.input_dtypes.push_back(proto::DT_UNDEFINED);
      v.constant_ints.emplace_back();
      continue;
    }
    const proto::Buffer& b = plan.buffer(index);
    v.input_dims.emplace_back(b.dims().begin(), b.dims().end());
    v.input_dtypes.push_back(b.dtype());
    std::optional<std::vector<int64_t>> ints;
    if (b.kind() == proto::BUF_CONSTANT && (b.dtype() == proto::DT_INT64 || b.dtype() == proto::DT_INT32)) {
      const int64_t n = ElementCount(v.input_dims.back());
      ints.emplace();
      for (int64_t i = 0; i < n; ++i) {
        const char* at = plan.constants().data() + b.offset();
        int64_t x = 0;
        if (b.dtype() == proto::DT_INT64) {
          std::memcpy(&x, at + 8 * i, 8);
        } else {
          int32_t y = 0;
          std::memcpy(&y, at + 4 * i, 4);
          x = y;
        }
        ints->push_back(x);
      }
    }
    v.constant_ints.push_back(ints);
  }
  return v;
}

// The examples' steps that a generated kernel kind computes, one case each (distinct
// kernels), with the steps' real shapes and the reference's outputs.
std::vector<KindCase> ExampleKindCases(std::map<std::string, int>* per_kind, std::set<std::string>* not_lowered) {
  std::vector<KindCase> cases;
  std::set<std::string> names;
  for (const proto::Plan& plan : ExamplePlans().plans) {
    for (const proto::Step& step : plan.step()) {
      auto desc = CudaKindForOp(StepView(plan, step));
      if (!desc.ok()) {
        EXPECT_EQ(desc.status().code(), StatusCode::kUnimplemented) << step.name() << ": " << desc.status().message();
        not_lowered->insert(step.op_type());
        continue;
      }
      auto k = RenderCudaKind(*desc);
      EXPECT_OK(k.status());
      if (!k.ok() || !names.insert(k->kernel.name).second) continue;
      auto c = MakeKindCase(step.name(), *desc, 77 + uint32_t(cases.size()));
      EXPECT_OK(c.status());
      if (!c.ok()) continue;
      ++(*per_kind)[GetCudaKindInfo(desc->kind).name];
      cases.push_back(*c);
    }
  }
  return cases;
}

TEST(CudaCodegenTest, ExampleProgramsRenderAndPassTheEmulationHarness) {
  int models = 0, trained = 0;
  const std::vector<FusedProgram> programs = ExamplePrograms(&models, &trained);
  ASSERT_GT(models, 5);
  ASSERT_GE(trained, 3);
  ASSERT_GE(programs.size(), 3u) << "the examples should fuse elementwise chains";
  const std::string dir = testing::MakeTempDir();
  std::ofstream list(dir + "/programs.txt");
  for (const FusedProgram& p : programs) {
    for (CudaMath math : {CudaMath::kDouble, CudaMath::kFloat}) {
      auto k = RenderCudaKernel(p, math);
      ASSERT_OK(k.status());
      EXPECT_NE(k->source.find("extern \"C\" __global__ void " + k->name + "("), std::string::npos);
    }
    list << FormatFusedProgram(p) << "\n";
  }
  list.close();
  std::string output;
  const int rc = testing::RunCommand(
      std::string(KILN_CUDA_CHECK_PATH) + " --emulate --programs " + dir + "/programs.txt", &output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("PASS emulation"), std::string::npos) << output;
  std::printf("[ info ] %zu distinct fused programs from %d example models emulated\n", programs.size(), models);
}

#if KILN_HAVE_CUDA_TOOLKIT
TEST(CudaCodegenTest, ExampleProgramsCompileWithNvrtcAndAssembleWithPtxas) {
  int models = 0, trained = 0;
  const std::vector<FusedProgram> programs = ExamplePrograms(&models, &trained);
  ASSERT_GE(programs.size(), 3u);
  auto lib = NvrtcDescription();
  ASSERT_OK(lib.status());
  const std::string dir = testing::MakeTempDir();
  setenv("KILN_CUDA_CACHE", "0", 1);  // compile for real, not from an earlier run's cache
  int compiled = 0;
  for (const FusedProgram& p : programs) {
    auto k = RenderCudaKernel(p, CudaMath::kDouble);
    ASSERT_OK(k.status());
    for (int arch : {80, 90}) {
      auto r = NvrtcCompile(k->source, k->name, {arch / 10, arch % 10, false});
      ASSERT_OK(r.status());
      EXPECT_NE(r->image.find(".entry " + k->name), std::string::npos);
      const std::string file = dir + "/" + k->name + "_" + std::to_string(arch) + ".ptx";
      std::ofstream(file) << r->image;
      std::string output;
      EXPECT_EQ(testing::RunCommand("/usr/local/cuda/bin/ptxas -arch=sm_90 -o /dev/null " + file, &output), 0)
          << k->name << ": " << output;
      ++compiled;
    }
  }
  unsetenv("KILN_CUDA_CACHE");
  std::printf("[ info ] %d kernels compiled by NVRTC (%s) and assembled by ptxas -arch=sm_90\n", compiled,
              lib->c_str());
}

TEST(CudaCodegenTest, NvrtcErrorsNameTheKernelAndCarryTheLog) {
  auto r =
      NvrtcCompile("extern \"C\" __global__ void broken() { undeclared_thing(); }", "broken_kernel", {9, 0, false});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("cuda: broken_kernel: NVRTC"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("undeclared_thing"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
}

TEST(CudaCodegenTest, TheDiskCacheIsKeyedAndWrittenWhole) {
  const std::string dir = testing::MakeTempDir() + "/nested/cache";
  setenv("KILN_CUDA_CACHE_DIR", dir.c_str(), 1);
  auto p = ParseFusedProgram("t0=Relu(i0); o0=t0");
  ASSERT_OK(p.status());
  auto k = RenderCudaKernel(*p);
  ASSERT_OK(k.status());
  auto first = NvrtcCompile(k->source, k->name, {8, 0, false});
  ASSERT_OK(first.status());
  EXPECT_FALSE(first->from_cache);
  auto again = NvrtcCompile(k->source, k->name, {8, 0, false});
  ASSERT_OK(again.status());
  EXPECT_TRUE(again->from_cache);
  EXPECT_EQ(again->image, first->image);
  auto other_arch = NvrtcCompile(k->source, k->name, {9, 0, false});
  ASSERT_OK(other_arch.status());
  EXPECT_FALSE(other_arch->from_cache);
  std::string output;
  testing::RunCommand("ls " + dir, &output);
  EXPECT_EQ(output.find(".tmp."), std::string::npos) << output;
  EXPECT_EQ(testing::CountLines(output), 2) << output;
  setenv("KILN_CUDA_CACHE", "0", 1);
  auto uncached = NvrtcCompile(k->source, k->name, {8, 0, false});
  ASSERT_OK(uncached.status());
  EXPECT_FALSE(uncached->from_cache);
  unsetenv("KILN_CUDA_CACHE");
  unsetenv("KILN_CUDA_CACHE_DIR");
}
#endif  // KILN_HAVE_CUDA_TOOLKIT

TEST(CudaCodegenTest, KernelNamesAreReadableAndDistinct) {
  auto a = ParseFusedProgram("t0=Add(i0,i1); t1=Relu(t0); o0=t1");
  auto b = ParseFusedProgram("t0=Add(i0,i1); t1=Relu(t0); t2=Mul(t1,0.5); o0=t2");
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  const std::string na = CudaKernelName(*a, CudaMath::kDouble);
  EXPECT_EQ(na.rfind("kiln_fused_add_relu_", 0), 0u) << na;
  EXPECT_NE(na, CudaKernelName(*b, CudaMath::kDouble));
  EXPECT_NE(na, CudaKernelName(*a, CudaMath::kFloat));
}

TEST(CudaCodegenTest, ImmediatesKeepTheirExactValue) {
  FusedProgram p;
  p.num_inputs = 1;
  for (float v : {0.1f, 1.0f, -3e-38f, std::numeric_limits<float>::infinity(), std::nanf("")}) {
    p.instrs.push_back({FusedOp::kAdd, {{FusedOperand::kInput, 0, 0}, {FusedOperand::kImmediate, 0, v}}});
  }
  p.outputs = {4};
  auto k = RenderCudaKernel(p);
  ASSERT_OK(k.status());
  EXPECT_NE(k->source.find("(float)0.100000001f"), std::string::npos) << k->source;
  EXPECT_NE(k->source.find("(float)1.f"), std::string::npos) << k->source;
  EXPECT_NE(k->source.find("(float)(1e300 * 1e300)"), std::string::npos) << k->source;
  EXPECT_NE(k->source.find("(float)(0.0 / 0.0)"), std::string::npos) << k->source;
}

TEST(CudaCodegenTest, ArgumentPackingChecksShapesAndLimits) {
  auto p = ParseFusedProgram("t0=Add(i0,i1); o0=t0");
  ASSERT_OK(p.status());
  int64_t total = 0;
  auto ok = PackCudaKernelArgs(*p, {{4, 1, 6}, {5, 1}}, {4, 5, 6}, {1, 2}, {3}, &total);
  ASSERT_OK(ok.status());
  EXPECT_EQ(total, 120);
  EXPECT_EQ((*ok)[0], 3u);  // outputs first, then inputs
  EXPECT_EQ((*ok)[1], 1u);
  EXPECT_FALSE(PackCudaKernelArgs(*p, {{4, 3}, {5}}, {4, 5}, {1, 2}, {3}, &total).ok());  // no broadcast
  EXPECT_FALSE(PackCudaKernelArgs(*p, {{4, 5}}, {4, 5}, {1}, {3}, &total).ok());          // too few inputs
  // Alternating broadcast dims do not collapse: more outer dims than the kernels take.
  const Dims a = {2, 1, 2, 1, 2, 1, 2, 1, 2}, b = {1, 2, 1, 2, 1, 2, 1, 2, 1}, out = {2, 2, 2, 2, 2, 2, 2, 2, 2};
  const auto deep = PackCudaKernelArgs(*p, {a, b}, out, {1, 2}, {3}, &total);
  ASSERT_FALSE(deep.ok());
  EXPECT_NE(deep.status().message().find("outer dims"), std::string::npos) << deep.status().message();
  // Too many inputs for cuLaunchKernel's 4 KiB of parameters.
  std::string text;
  for (int k = 0; k < 70; ++k) text += "t" + std::to_string(k) + "=Neg(i" + std::to_string(k) + "); ";
  text += "o0=t69";
  auto wide = ParseFusedProgram(text);
  ASSERT_OK(wide.status());
  const auto big =
      PackCudaKernelArgs(*wide, std::vector<Dims>(70, Dims{3}), {3}, std::vector<uint64_t>(70, 1), {2}, &total);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("4 KiB"), std::string::npos) << big.status().message();
}

TEST(CudaCodegenTest, NoDriverIsAOneLineErrorNotACrash) {
  const Status st = CudaDriverAvailable();
  if (st.ok()) {  // a GPU machine: the device opens instead
    ASSERT_OK(CudaDevice::Open(0).status());
    return;
  }
  EXPECT_TRUE(st.message().rfind("cuda: ", 0) == 0) << st.message();
  EXPECT_EQ(st.message().find('\n'), std::string::npos);
  auto dev = CudaDevice::Open(0);
  ASSERT_FALSE(dev.ok());
  EXPECT_EQ(dev.status().message(), st.message());
}

// `kiln_cuda_check --kinds-only` on these kind cases and fused programs: the emulation harness
// and, with the toolkit, NVRTC (compute_80/90) + ptxas; its output (checked to pass).
std::string RunKindsCheck(const std::vector<KindCase>& cases, const std::set<std::string>& programs) {
  const std::string dir = testing::MakeTempDir();
  EXPECT_OK(WriteKindCases(cases, dir + "/kinds.bin"));
  std::ofstream list(dir + "/programs.txt");
  for (const std::string& p : programs) list << p << "\n";
  list.close();
  std::string modes = " --emulate";
#if KILN_HAVE_CUDA_TOOLKIT
  modes += " --ptx";
  setenv("KILN_CUDA_CACHE", "0", 1);
#endif
  std::string output;
  const int rc = testing::RunCommand(std::string(KILN_CUDA_CHECK_PATH) + " --kinds-only --kinds " + dir +
                                         "/kinds.bin --programs " + dir + "/programs.txt" + modes,
                                     &output);
  EXPECT_EQ(rc, 0) << output;
  EXPECT_NE(output.find("PASS kinds emulation"), std::string::npos) << output;
#if KILN_HAVE_CUDA_TOOLKIT
  EXPECT_NE(output.find("PASS ptx"), std::string::npos) << output;
#endif
  return output;
}

// The kinds' lowering over the examples' plans (inference and training steps): every
// step it maps renders, and its kernel passes the emulation harness against the
// reference kernel with the step's real shapes (and, with the toolkit, NVRTC + ptxas).
TEST(CudaCodegenTest, ExampleStepsOfTheKernelKindsPassTheEmulationHarness) {
  std::map<std::string, int> per_kind;
  std::set<std::string> not_lowered;
  const std::vector<KindCase> cases = ExampleKindCases(&per_kind, &not_lowered);
  // The examples' training steps reduce bias gradients and take softmax cross-entropy losses.
  EXPECT_GE(per_kind["reduce_sum"], 1);
  EXPECT_GE(per_kind["softmax_ce"] + per_kind["softmax_ce_grad"], 2);
  ASSERT_GE(cases.size(), 4u);
  const std::string output = RunKindsCheck(cases, {});
  std::string kinds, ops;
  for (const auto& [kind, n] : per_kind) kinds += " " + kind + "=" + std::to_string(n);
  for (const std::string& op : not_lowered) ops += " " + op;
  std::printf("[ info ] %zu kind kernels from the examples' steps:%s\n[ info ] steps with no kind:%s\n", cases.size(),
              kinds.c_str(), ops.c_str());
}

// Every kernel of device plans, rebuilt from its step (the kind's description, or the
// FusedElementwise program) and checked to be the plan's kernel: the cases for the harness.
struct PlanKernels {
  std::vector<KindCase> cases;
  std::set<std::string> programs, checked, images;
  std::map<std::string, int> per_kind;
};
void CollectPlanKernels(const proto::Plan& plan, const std::string& label, PlanKernels* set,
                        bool host_steps_allowed = false) {
  for (const proto::KernelImage& image : plan.kernel_image()) set->images.insert(image.name());
  for (const proto::Step& step : plan.step()) {
    if (host_steps_allowed && step.kernel() != "cuda") continue;  // --cpu-fallback's host steps
    EXPECT_EQ(step.kernel(), "cuda") << label << ": " << step.name() << " (" << step.op_type() << ") is a host step";
    if (step.op_type() == "Identity" && Attrs(step.attribute()).Has("direction")) continue;  // the edges' copies
    const Attrs attrs(step.attribute());
    if (step.op_type() == "FusedElementwise") {
      auto program = ParseFusedProgram(attrs.GetString("program", ""));
      ASSERT_OK(program.status());
      EXPECT_EQ(CudaKernelName(*program, CudaMath::kDouble), attrs.GetString("symbol", "")) << step.name();
      set->programs.insert(FormatFusedProgram(*program));
      set->checked.insert(attrs.GetString("symbol", ""));
      continue;
    }
    auto desc = CudaKindForOp(StepView(plan, step));
    ASSERT_OK(desc.status().WithContext(label));
    auto kernel = RenderCudaKind(*desc);
    ASSERT_OK(kernel.status());
    EXPECT_EQ(kernel->kernel.name, attrs.GetString("symbol", "")) << label << ": " << step.name();
    if (!set->checked.insert(kernel->kernel.name).second) continue;
    auto c = MakeKindCase(label + ":" + step.name(), *desc, 501 + uint32_t(set->cases.size()));
    ASSERT_OK(c.status());
    ++set->per_kind[GetCudaKindInfo(desc->kind).name];
    set->cases.push_back(*c);
  }
}

// The seed models (the PyTorch-exported MLP, LeNet-5 and ResNet, the examples' MLPs and CNN)
// lower fully to the device: no host step. Every kernel of their CUDA plans -- the GEMM and
// convolution kinds, the other kinds, the fused programs -- is rebuilt from its step,
// checked to be the plan's kernel, and passes the emulation harness against the
// reference kernels (and, with the toolkit, NVRTC for compute_80/90 and ptxas for sm_90).
TEST(CudaCodegenTest, SeedModelsLowerToDeviceStepsOnlyAndEveryKernelPassesTheHarness) {
  const std::vector<std::string> models = {
      "tests/data/models/mlp/model.onnx", "tests/data/models/lenet5/model.onnx", "tests/data/models/resnet/model.onnx",
      "examples/iris_mlp.kiln.txt",       "examples/fashion_mnist_mlp.kiln.txt", "examples/fashion_mnist_cnn.kiln.txt"};
  PlanKernels set;
  int steps = 0;
  for (const std::string& m : models) {
    auto model = LoadModel(testing::SourcePath(m));
    ASSERT_OK(model.status());
    CompileOptions options;
    options.device = "cuda";
    auto plan = CompileToPlan(*model->graph, options);
    if (testing::StopsForMissingNvrtc(plan.status())) return;
    ASSERT_OK(plan.status().WithContext(m));
    steps += plan->step_size();
    CollectPlanKernels(*plan, m, &set);
  }
  EXPECT_EQ(set.images, set.checked) << "every kernel image of the plans is one the harness runs";
  std::map<std::string, int>& per_kind = set.per_kind;
  const std::vector<KindCase>& cases = set.cases;
  const std::set<std::string>& programs = set.programs;
  EXPECT_GE(per_kind["fused_conv"], 5);    // LeNet, the CNN, ResNet (with residuals)
  EXPECT_GE(per_kind["conv"], 2);          // ResNet's shortcuts
  EXPECT_GE(per_kind["fused_matmul"], 4);  // the MLPs' hidden layers
  EXPECT_GE(per_kind["gemm"], 2);          // the exported models' last layers
  EXPECT_GE(per_kind["copy"], 2);          // Flatten
  const std::string output = RunKindsCheck(cases, programs);
  if (!programs.empty()) {
    EXPECT_NE(output.find("PASS emulation"), std::string::npos) << output;
  }
  std::string kinds;
  for (const auto& [kind, n] : per_kind) kinds += " " + kind + "=" + std::to_string(n);
  std::printf(
      "[ info ] %zu models, %d steps, 0 on the host; %zu kind kernels (%s ) and %zu fused programs emulated%s\n",
      models.size(), steps, cases.size(), kinds.c_str(), programs.size(),
#if KILN_HAVE_CUDA_TOOLKIT
      " and NVRTC-compiled (compute_80/90) + ptxas sm_90"
#else
      ""
#endif
  );
}

// The examples' training steps compiled for the device (forward, backward, the optimizer's
// in-place updates, the step counter; SGD, momentum and Adam): the MLPs lower with no host
// step, and every kernel of every such step passes the emulation harness against the
// reference kernels (and, with the toolkit, NVRTC for compute_80/90 and ptxas for sm_90).
// The examples that do not lower yet are listed with the reason.
TEST(CudaCodegenTest, ExampleTrainingStepsOnTheDeviceLowerFullyAndEveryKernelPassesTheHarness) {
  PlanKernels set;
  std::set<std::string> lowered;
  int steps = 0;
  for (const char* file : {"examples/iris_mlp.kiln.txt", "examples/fashion_mnist_mlp.kiln.txt",
                           "examples/xor_mlp.kiln.txt", "examples/perceptron_and.kiln.txt", "examples/and_221.kiln.txt",
                           "examples/fashion_mnist_cnn.kiln.txt", "examples/word2vec_cbow.kiln.txt"}) {
    auto model = LoadModel(testing::SourcePath(file));
    ASSERT_OK(model.status());
    for (const char* optimizer : {"sgd", "momentum", "adam"}) {
      auto config = TrainingConfigFromSpec(model->training, *model->graph);
      ASSERT_OK(config.status());
      config->optimizer = OptimizerConfig::For(optimizer);
      config->batch_size = 4;
      config->device = "cuda";
      auto program = BuildTrainingProgram(*model->graph, *config);
      ASSERT_OK(program.status().WithContext(file));
      CompileOptions options;
      options.device = "cuda";
      options.prepare_for_inference = false;
      auto plan = CompileToPlan(*program->step, options);
      const std::string label = std::string(file) + " (" + optimizer + ")";
      if (testing::StopsForMissingNvrtc(plan.status())) return;
      if (!plan.ok()) {
        std::printf("[ info ] %s: not on the device yet: %s\n", label.c_str(),
                    plan.status().message().substr(0, 200).c_str());
        continue;
      }
      lowered.insert(file);
      steps += plan->step_size();
      // Parameters, optimizer slots and the counter live on the device; the updates run in place.
      EXPECT_GT(plan->state_size(), 0) << label;
      for (int idx : plan->state()) EXPECT_EQ(plan->buffer(idx).space(), proto::MEM_DEVICE) << label;
      for (const proto::StateUpdate& su : plan->state_update()) {
        EXPECT_EQ(plan->buffer(su.update()).space(), proto::MEM_DEVICE) << label;
      }
      CollectPlanKernels(*plan, label, &set);
    }
  }
  EXPECT_TRUE(lowered.count("examples/iris_mlp.kiln.txt"));
  EXPECT_TRUE(lowered.count("examples/fashion_mnist_mlp.kiln.txt"));
  EXPECT_EQ(set.images, set.checked) << "every kernel image of the plans is one the harness runs";
  EXPECT_GE(set.per_kind["optimizer_update"], 6);  // at least two parameter shapes x three optimizers
  EXPECT_GE(set.per_kind["counter_add"], 1);
  EXPECT_GE(set.per_kind["dropout"], 1);  // the Fashion-MNIST MLP
  const std::string output = RunKindsCheck(set.cases, set.programs);
  if (!set.programs.empty()) {
    EXPECT_NE(output.find("PASS emulation"), std::string::npos) << output;
  }
  std::string kinds;
  for (const auto& [kind, n] : set.per_kind) kinds += " " + kind + "=" + std::to_string(n);
  std::printf(
      "[ info ] %zu examples' training steps on the device (%d steps, 0 on the host): %zu kind kernels (%s ) and %zu "
      "fused programs emulated%s\n",
      lowered.size(), steps, set.cases.size(), kinds.c_str(), set.programs.size(),
#if KILN_HAVE_CUDA_TOOLKIT
      " and NVRTC-compiled (compute_80/90) + ptxas sm_90"
#else
      ""
#endif
  );
}

}  // namespace
}  // namespace kiln::cuda

namespace kiln::cuda {
namespace {

// The conformance models (../shared/conformance/onnx-backend): every model the CUDA backend
// lowers -- what it cannot run going to the host, as `--cpu-fallback` does -- gives its device
// kernels to the harness: rebuilt from their steps, emulated against the reference kernels and,
// with the toolkit, NVRTC-compiled for compute_80/90 and assembled by ptxas for sm_90. Models the
// pipeline refuses altogether (ops Kiln lacks) are counted and named, not hidden.
TEST(CudaCodegenTest, ConformanceModelsDeviceKernelsPassTheHarness) {
  const std::filesystem::path root = testing::SourcePath("../shared/conformance/onnx-backend");
  ASSERT_TRUE(std::filesystem::is_directory(root)) << root << " is missing (the checkout's ../shared)";
  std::vector<std::filesystem::path> models;
  for (const auto& group : std::filesystem::directory_iterator(root)) {
    if (!group.is_directory()) continue;
    for (const auto& dir : std::filesystem::directory_iterator(group.path())) {
      if (std::filesystem::exists(dir.path() / "model.onnx")) models.push_back(dir.path() / "model.onnx");
    }
  }
  std::sort(models.begin(), models.end());
  PlanKernels set;
  int lowered = 0, with_device_steps = 0;
  std::string refused;
  for (const auto& m : models) {
    const std::string name = m.parent_path().filename().string();
    auto model = LoadModel(m.string());
    CompileOptions options;
    options.device = "cuda";
    options.cpu_fallback = true;
    auto plan = model.ok() ? CompileToPlan(*model->graph, options) : StatusOr<proto::Plan>(model.status());
    if (testing::StopsForMissingNvrtc(plan.status())) return;
    if (!plan.ok()) {
      refused += " " + name;
      continue;
    }
    ++lowered;
    const size_t before = set.checked.size();
    CollectPlanKernels(*plan, name, &set, /*host_steps_allowed=*/true);
    with_device_steps += plan->kernel_image_size() > 0 || set.checked.size() > before;
  }
  EXPECT_GE(lowered, 100) << "refused:" << refused;
  EXPECT_GE(with_device_steps, 60);
  EXPECT_EQ(set.images, set.checked) << "every kernel image of the plans is one the harness runs";
  const std::string output = RunKindsCheck(set.cases, set.programs);
  if (!set.programs.empty()) {
    EXPECT_NE(output.find("PASS emulation"), std::string::npos) << output;
  }
  std::printf(
      "[ info ] %zu conformance models, %d compiled for cuda (--cpu-fallback), %d with device kernels: "
      "%zu kind kernels and %zu fused programs emulated%s; refused:%s\n",
      models.size(), lowered, with_device_steps, set.cases.size(), set.programs.size(),
#if KILN_HAVE_CUDA_TOOLKIT
      " and NVRTC-compiled (compute_80/90) + ptxas sm_90",
#else
      "",
#endif
      refused.c_str());
}

}  // namespace
}  // namespace kiln::cuda
