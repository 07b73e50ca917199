// The "cuda" FusedElementwise kernel checks a plan's launch words against the step's
// buffers before anything runs (runtime/kernels/cuda/cuda_kernels.h): what the CUDA
// backend lowers passes; a launch that would read or write outside a buffer is refused.
#include <gtest/gtest.h>

#include "compiler/compile.h"
#include "frontends/load_model.h"
#include "runtime/kernels/cuda/cuda_kernels.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

// KILN_CUDA_GRAPH: unset or anything but "0" replays the plan's device segments as CUDA graphs.
TEST(CudaGraphSwitchTest, OnlyZeroTurnsGraphsOff) {
  EXPECT_TRUE(runtime::CudaGraphsEnabled(nullptr));
  EXPECT_TRUE(runtime::CudaGraphsEnabled("1"));
  EXPECT_TRUE(runtime::CudaGraphsEnabled(""));
  EXPECT_FALSE(runtime::CudaGraphsEnabled("0"));
}

#if KILN_HAVE_CUDA_TOOLKIT
struct Launch {
  runtime::KernelSpec spec;
  std::vector<int64_t> args;
  int64_t elements = 0;
};

// The FusedElementwise step of a CUDA plan, as the kernel factory sees it (no data bound).
Launch LoweredLaunch(const std::string& relative) {
  Launch launch;
  auto model = LoadModel(testing::SourcePath(relative));
  EXPECT_OK(model.status());
  if (!model.ok()) return launch;
  CompileOptions options;
  options.device = "cuda";
  auto plan = CompileToPlan(*model->graph, options);
  EXPECT_OK(plan.status());
  if (!plan.ok()) return launch;
  for (const proto::Step& step : plan->step()) {
    if (step.op_type() != "FusedElementwise") continue;
    auto ref = [&](int idx) {
      const proto::Buffer& b = plan->buffer(idx);
      TensorRef t;
      t.dtype = b.dtype();
      t.dims.assign(b.dims().begin(), b.dims().end());
      return t;
    };
    for (int idx : step.input()) launch.spec.inputs.push_back(ref(idx));
    for (int idx : step.output()) launch.spec.outputs.push_back(ref(idx));
    launch.spec.name = step.name();
    launch.spec.op_type = step.op_type();
    const Attrs attrs(step.attribute());
    launch.args = attrs.GetInts("args");
    launch.elements = attrs.GetInt("elements", -1);
  }
  return launch;
}

TEST(CudaLaunchCheckTest, TheLoweredLaunchPassesAndEveryOutOfBoundsEditFails) {
  const Launch ok = LoweredLaunch("tests/data/models/cuda/elementwise.kiln.txt");
  ASSERT_EQ(ok.spec.inputs.size(), 2u);  // x [2, 8] and the bias b [8], broadcast
  ASSERT_OK(runtime::CheckCudaLaunch(ok.spec, ok.args, ok.elements));
  // Words after the 3 pointers: total, inner, rank, outer[6], outer_stride[2][6], inner_stride[2].
  const size_t base = 3, outer = base + 3, outer_stride = outer + 6, inner_stride = outer_stride + 12;
  ASSERT_EQ(ok.args.size(), inner_stride + 2);
  struct Edit {
    const char* what;
    size_t word;
    int64_t value;
    const char* reason;
  };
  const Edit edits[] = {
      {"a larger total", base, 32, "an output's size"},
      {"rank 7", base + 2, 7, "total, inner or rank"},
      {"an outer dim of 0", outer, 0, "outer dims"},
      {"the bias read as if it were x", inner_stride + 1, 8, "input 1 read past its end"},
      {"a negative stride", outer_stride, -1, "input strides"},
      {"a huge stride", outer_stride, int64_t{1} << 62, "input 0 read past its end"},
      {"an overflowing stride", inner_stride, int64_t{1} << 61, "input strides"},
  };
  for (const Edit& e : edits) {
    std::vector<int64_t> args = ok.args;
    args[e.word] = e.value;
    int64_t elements = e.word == base ? e.value : ok.elements;
    const Status st = runtime::CheckCudaLaunch(ok.spec, args, elements);
    EXPECT_NE(st.message().find(e.reason), std::string::npos) << e.what << ": " << st.message();
  }
  std::vector<int64_t> short_args(ok.args.begin(), ok.args.end() - 1);
  EXPECT_FALSE(runtime::CheckCudaLaunch(ok.spec, short_args, ok.elements).ok());
  runtime::KernelSpec ints = ok.spec;
  ints.inputs[0].dtype = proto::DT_INT32;
  EXPECT_NE(runtime::CheckCudaLaunch(ints, ok.args, ok.elements).message().find("an input's type"), std::string::npos);
}

// A generated kernel kind's step (the iris MLP's Softmax, on the device with the products on
// the host): lowered with the shapes its kernel was generated for; a step whose buffers
// differ from them is refused before any device is asked for.
TEST(CudaLaunchCheckTest, AKindStepsShapesMustBeItsBuffers) {
  auto model = LoadModel(testing::SourcePath("examples/iris_mlp.kiln.txt"));
  ASSERT_OK(model.status());
  CompileOptions options;
  options.device = "cuda";
  options.cpu_fallback = true;
  auto plan = CompileToPlan(*model->graph, options);
  ASSERT_OK(plan.status());
  const proto::Step* softmax = nullptr;
  for (const proto::Step& step : plan->step()) {
    if (step.op_type() == "Softmax") softmax = &step;
  }
  ASSERT_NE(softmax, nullptr);
  EXPECT_EQ(softmax->kernel(), "cuda");
  const Attrs attrs(softmax->attribute());
  EXPECT_NE(attrs.GetString("symbol", "").find("softmax"), std::string::npos) << attrs.GetString("symbol", "");
  bool has_image = false;
  for (const proto::KernelImage& image : plan->kernel_image())
    has_image |= image.name() == attrs.GetString("symbol", "");
  EXPECT_TRUE(has_image);
  runtime::KernelSpec spec;
  spec.name = softmax->name();
  spec.op_type = softmax->op_type();
  spec.attrs = attrs;
  for (int idx : softmax->input()) {
    TensorRef t;
    t.dtype = plan->buffer(idx).dtype();
    t.dims.assign(plan->buffer(idx).dims().begin(), plan->buffer(idx).dims().end());
    spec.inputs.push_back(t);
  }
  for (int idx : softmax->output()) {
    TensorRef t;
    t.dtype = plan->buffer(idx).dtype();
    t.dims.assign(plan->buffer(idx).dims().begin(), plan->buffer(idx).dims().end());
    spec.outputs.push_back(t);
  }
  // The lowered step's attributes pass; without a session on a device it stops there.
  auto kernel = runtime::KernelRegistry::Global().Create("cuda", spec);
  ASSERT_FALSE(kernel.ok());
  EXPECT_NE(kernel.status().message().find("needs a session on a CUDA device"), std::string::npos)
      << kernel.status().message();
  runtime::KernelSpec larger = spec;
  larger.outputs[0].dims.back() += 1;
  kernel = runtime::KernelRegistry::Global().Create("cuda", larger);
  ASSERT_FALSE(kernel.ok());
  EXPECT_NE(kernel.status().message().find("do not describe its output 0"), std::string::npos)
      << kernel.status().message();
  runtime::KernelSpec wide = spec;
  wide.attrs.SetInt("launch_block", 4096);
  kernel = runtime::KernelRegistry::Global().Create("cuda", wide);
  ASSERT_FALSE(kernel.ok());
  EXPECT_NE(kernel.status().message().find("out of range"), std::string::npos) << kernel.status().message();
}
#endif

}  // namespace
}  // namespace kiln
