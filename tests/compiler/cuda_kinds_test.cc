// The generated kernel kinds' renderers (compiler/backends/cuda/cuda_kinds.h): the
// table, the shape of the generated source and the errors for bad descriptions.
// Their numerics are checked by kiln_cuda_check (ctests cuda_emulation, cuda_nvrtc_ptx, cuda_gpu).
#include "compiler/backends/cuda/cuda_kinds.h"

#include <gtest/gtest.h>

#include <set>

namespace kiln::cuda {
namespace {

CudaKernelDesc Desc(CudaKind kind, std::vector<Dims> inputs, std::vector<int64_t> axes = {}) {
  CudaKernelDesc d;
  d.kind = kind;
  d.inputs = std::move(inputs);
  d.axes = std::move(axes);
  return d;
}

CudaKernelDesc Pool(CudaKind kind, std::vector<Dims> inputs) {
  CudaKernelDesc d = Desc(kind, std::move(inputs));
  d.kernel = {3, 3};
  d.strides = {2, 2};
  d.pads = {1, 1, 1, 1};
  return d;
}

// One valid description per kind.
CudaKernelDesc Valid(CudaKind kind) {
  switch (kind) {
    case CudaKind::kSoftmax:
    case CudaKind::kLogSoftmax: return Desc(kind, {{4, 10}});
    case CudaKind::kSoftmaxGrad:
    case CudaKind::kLogSoftmaxGrad: return Desc(kind, {{4, 10}, {4, 10}});
    case CudaKind::kReduceSum:
    case CudaKind::kReduceMean:
    case CudaKind::kReduceMax: return Desc(kind, {{2, 3, 4, 5}}, {0, 2, 3});
    case CudaKind::kBatchNormStats: return Desc(kind, {{2, 3, 4, 5}});
    case CudaKind::kSoftmaxCrossEntropy: return Desc(kind, {{8, 10}, {8, 10}});
    case CudaKind::kSoftmaxCrossEntropyGrad: return Desc(kind, {{}, {8, 10}, {8, 10}});
    case CudaKind::kMaxPool:
    case CudaKind::kAveragePool: return Pool(kind, {{1, 2, 9, 9}});
    case CudaKind::kMaxPoolGrad: return Pool(kind, {{1, 2, 5, 5}, {1, 2, 9, 9}});
    case CudaKind::kTranspose: return Desc(kind, {{3, 4, 5}}, {0, 2, 1});
    case CudaKind::kConcat: return Desc(kind, {{2, 3}, {2, 5}}, {1});
    case CudaKind::kSlice: {
      CudaKernelDesc d = Desc(kind, {{6, 8}});
      d.starts = {5, 0};
      d.steps = {-2, 3};
      d.out = {3, 3};
      return d;
    }
    case CudaKind::kGather: return Desc(kind, {{10, 4}, {3}}, {0});
  }
  return {};
}

TEST(CudaKindsTest, EveryKindIsInTheTableAndRendersOneSelfContainedKernel) {
  std::set<std::string> names;
  std::set<CudaKind> kinds;
  for (const CudaKindInfo& info : CudaKinds()) {
    EXPECT_TRUE(names.insert(info.name).second) << info.name;
    EXPECT_TRUE(kinds.insert(info.kind).second) << info.name;
    ASSERT_NE(info.render, nullptr) << info.name;
    auto k = RenderCudaKind(Valid(info.kind));
    ASSERT_TRUE(k.ok()) << info.name << ": " << k.status().message();
    EXPECT_EQ(k->kernel.name.rfind(std::string("kiln_") + info.name + "_", 0), 0u) << k->kernel.name;
    EXPECT_NE(k->kernel.source.find("extern \"C\" __global__ void " + k->kernel.name + "("), std::string::npos);
    EXPECT_EQ(k->kernel.source.find("#include"), std::string::npos) << info.name;
    EXPECT_EQ(k->kernel.num_inputs, int(Valid(info.kind).inputs.size())) << info.name;
    EXPECT_EQ(k->kernel.num_outputs, int(k->outputs.size())) << info.name;
    EXPECT_GE(k->launch.grid, 1u);
    EXPECT_EQ(k->launch.block % 32, 0u) << info.name;
  }
  EXPECT_EQ(int(kinds.size()), int(CudaKind::kGather) + 1);
}

TEST(CudaKindsTest, OutputShapes) {
  auto dims = [](const CudaKernelDesc& d) { return RenderCudaKind(d)->outputs; };
  EXPECT_EQ(dims(Valid(CudaKind::kReduceSum)), (std::vector<Dims>{{1, 3, 1, 1}}));
  CudaKernelDesc drop = Valid(CudaKind::kReduceSum);
  drop.keepdims = false;
  EXPECT_EQ(dims(drop), (std::vector<Dims>{{3}}));
  EXPECT_EQ(dims(Valid(CudaKind::kBatchNormStats)), (std::vector<Dims>{{3}, {3}}));
  EXPECT_EQ(dims(Valid(CudaKind::kMaxPool)), (std::vector<Dims>{{1, 2, 5, 5}}));
  EXPECT_EQ(dims(Valid(CudaKind::kTranspose)), (std::vector<Dims>{{3, 5, 4}}));
  EXPECT_EQ(dims(Valid(CudaKind::kConcat)), (std::vector<Dims>{{2, 8}}));
  EXPECT_EQ(dims(Desc(CudaKind::kGather, {{10, 4}, {2, 3}}, {0})), (std::vector<Dims>{{2, 3, 4}}));
  EXPECT_EQ(dims(Valid(CudaKind::kSoftmaxCrossEntropy)), (std::vector<Dims>{Dims{}}));
}

TEST(CudaKindsTest, ReductionsAreBlockTreesAndTransposeIsTiled) {
  for (CudaKind kind : {CudaKind::kSoftmax, CudaKind::kBatchNormStats, CudaKind::kSoftmaxCrossEntropy}) {
    const std::string src = RenderCudaKind(Valid(kind))->kernel.source;
    EXPECT_NE(src.find("__shfl_xor_sync"), std::string::npos) << GetCudaKindInfo(kind).name;
    EXPECT_NE(src.find("__shared__"), std::string::npos) << GetCudaKindInfo(kind).name;
    EXPECT_NE(src.find("__syncthreads()"), std::string::npos) << GetCudaKindInfo(kind).name;
  }
  EXPECT_NE(RenderCudaKind(Valid(CudaKind::kTranspose))->kernel.source.find("tile[32][33]"), std::string::npos);
  // Permutations that are no (batched) 2-D transpose after merging adjacent axes: a gather.
  for (std::vector<int64_t> perm : {std::vector<int64_t>{1, 0, 2}, {2, 1, 0}}) {
    EXPECT_EQ(RenderCudaKind(Desc(CudaKind::kTranspose, {{2, 3, 4}}, perm))->kernel.source.find("tile["),
              std::string::npos);
  }
  // [2, 3, 4] by (2, 0, 1) is [6, 4] by (1, 0).
  EXPECT_NE(RenderCudaKind(Desc(CudaKind::kTranspose, {{2, 3, 4}}, {2, 0, 1}))->kernel.source.find("tile["),
            std::string::npos);
  // NCHW -> NHWC merges H and W: a batched 2-D transpose.
  EXPECT_NE(RenderCudaKind(Desc(CudaKind::kTranspose, {{2, 3, 4, 5}}, {0, 2, 3, 1}))->kernel.source.find("tile["),
            std::string::npos);
}

TEST(CudaKindsTest, NamesFollowTheDescription) {
  const std::string a = RenderCudaKind(Desc(CudaKind::kSoftmax, {{4, 10}}))->kernel.name;
  EXPECT_EQ(a, RenderCudaKind(Desc(CudaKind::kSoftmax, {{4, 10}}))->kernel.name);
  EXPECT_NE(a, RenderCudaKind(Desc(CudaKind::kSoftmax, {{4, 11}}))->kernel.name);
  EXPECT_NE(a, RenderCudaKind(Desc(CudaKind::kLogSoftmax, {{4, 10}}))->kernel.name);
}

TEST(CudaKindsTest, BadDescriptionsGiveOneLineErrorsNamingTheKind) {
  CudaKernelDesc slice = Valid(CudaKind::kSlice);
  slice.out = {4, 3};  // 5 - 3 * 2 < 0
  CudaKernelDesc big_window = Valid(CudaKind::kMaxPool);
  big_window.kernel = {12, 3};
  const std::vector<std::pair<CudaKernelDesc, std::string>> bad = {
      {Desc(CudaKind::kTranspose, {{3, 4}}, {0, 0}), "cuda: transpose: perm"},
      {Desc(CudaKind::kTranspose, {{3, 4}}, {0, 1, 2}), "cuda: transpose: perm"},
      {slice, "cuda: slice: axis 0 reads outside [0, 6)"},
      {big_window, "cuda: max_pool: the kernel is larger than the padded input"},
      {Desc(CudaKind::kSoftmaxCrossEntropy, {{8, 10}, {8, 9}}), "cuda: softmax_ce: targets"},
      {Desc(CudaKind::kConcat, {{2, 3}, {3, 3}}, {1}), "cuda: concat: inputs differ outside axis 1"},
      {Desc(CudaKind::kGather, {{10, 4}, {3}}, {2}), "cuda: gather: axis 2"},
      {Desc(CudaKind::kReduceSum, {{2, 3}}, {2}), "cuda: reduce_sum: axis 2"},
      {Desc(CudaKind::kSoftmax, {{-1, 3}}), "cuda: softmax: negative dim"},
      {Pool(CudaKind::kMaxPoolGrad, {{1, 2, 4, 4}, {1, 2, 9, 9}}), "cuda: max_pool_grad: dy"},
  };
  for (const auto& [desc, want] : bad) {
    auto k = RenderCudaKind(desc);
    ASSERT_FALSE(k.ok()) << want;
    EXPECT_EQ(k.status().message().rfind(want, 0), 0u) << k.status().message();
    EXPECT_EQ(k.status().message().find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::cuda
