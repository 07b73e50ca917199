// The generated kernel kinds' renderers (compiler/backends/cuda/cuda_kinds.h): the
// table, the shape of the generated source and the errors for bad descriptions.
// Their numerics are checked by kiln_cuda_check (ctests cuda_emulation, cuda_nvrtc_ptx, cuda_gpu).
#include "compiler/backends/cuda/cuda_kinds.h"

#include <gtest/gtest.h>

#include <set>

#include "ir/core/optimizer.h"

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
    case CudaKind::kMatMul: return Desc(kind, {{2, 5, 7}, {7, 3}});
    case CudaKind::kGemm: {
      CudaKernelDesc d = Desc(kind, {{7, 5}, {3, 7}, {3}});
      d.trans_a = d.trans_b = true;
      return d;
    }
    case CudaKind::kFusedMatMul: {
      CudaKernelDesc d = Desc(kind, {{5, 7}, {7, 3}, {3}, {5, 3}});
      d.activation = "Relu";
      return d;
    }
    case CudaKind::kConv:
    case CudaKind::kFusedConv: {
      CudaKernelDesc d = Desc(kind, {{2, 4, 9, 9}, {6, 2, 3, 3}, {6}});
      d.strides = {2, 2};
      d.pads = {1, 1, 1, 1};
      d.group = 2;
      if (kind == CudaKind::kFusedConv) d.activation = "Sigmoid";
      return d;
    }
    case CudaKind::kConvGradInput:
    case CudaKind::kConvGradWeight: {
      const bool input = kind == CudaKind::kConvGradInput;
      CudaKernelDesc d = Desc(kind, {{2, 6, 5, 5}, input ? Dims{6, 2, 3, 3} : Dims{2, 4, 9, 9}});
      d.strides = {2, 2};
      d.pads = {1, 1, 1, 1};
      d.group = 2;
      d.out = input ? Dims{2, 4, 9, 9} : Dims{6, 2, 3, 3};
      d.bias_gradient = !input;
      return d;
    }
    case CudaKind::kCopy: {
      CudaKernelDesc d = Desc(kind, {{2, 3, 4}});
      d.out = {2, 12};
      return d;
    }
    case CudaKind::kOptimizerUpdate: {  // Adam: p, g, m, v, step
      CudaKernelDesc d = Desc(kind, {{5, 7}, {5, 7}, {5, 7}, {5, 7}, {}});
      d.update_op = "AdamUpdate";
      d.hyper = FindOptimizer("adam")->defaults;
      return d;
    }
    case CudaKind::kCounterAdd: return Desc(kind, {{}});
    case CudaKind::kDropout: {
      CudaKernelDesc d = Desc(kind, {{4, 10}, {}});
      d.dropout_ratio = 0.25f;
      return d;
    }
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
  EXPECT_EQ(int(kinds.size()), int(CudaKind::kDropout) + 1);
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
  EXPECT_EQ(dims(Valid(CudaKind::kMatMul)), (std::vector<Dims>{{2, 5, 3}}));
  EXPECT_EQ(dims(Desc(CudaKind::kMatMul, {{7}, {4, 7, 3}})), (std::vector<Dims>{{4, 3}}));
  EXPECT_EQ(dims(Desc(CudaKind::kMatMul, {{2, 1, 5, 7}, {7}})), (std::vector<Dims>{{2, 1, 5}}));
  EXPECT_EQ(dims(Valid(CudaKind::kGemm)), (std::vector<Dims>{{5, 3}}));
  EXPECT_EQ(dims(Valid(CudaKind::kConv)), (std::vector<Dims>{{2, 6, 5, 5}}));
  CudaKernelDesc dilated = Valid(CudaKind::kConv);
  dilated.dilations = {2, 3};
  dilated.strides = {1, 1};
  EXPECT_EQ(dims(dilated), (std::vector<Dims>{{2, 6, 7, 5}}));
  EXPECT_EQ(dims(Valid(CudaKind::kCopy)), (std::vector<Dims>{{2, 12}}));
  EXPECT_EQ(dims(Valid(CudaKind::kConvGradInput)), (std::vector<Dims>{{2, 4, 9, 9}}));
  EXPECT_EQ(dims(Valid(CudaKind::kConvGradWeight)), (std::vector<Dims>{{6, 2, 3, 3}, {6}}));  // dW, dB
}

// The products are one tiled GEMM: shared-memory tiles between two barriers per K step, a
// register micro-tile (64 x 64 blocks for large products, thin tiles when M or N is small),
// and the fused ops' epilogue in the fused programs' arithmetic.
TEST(CudaKindsTest, ProductsAreTiledSharedMemoryGemms) {
  auto src = [](const CudaKernelDesc& d) { return RenderCudaKind(d)->kernel.source; };
  const std::string large = src(Desc(CudaKind::kMatMul, {{128, 300}, {300, 96}}));
  EXPECT_NE(large.find("__shared__ float As[16][64 + 1]"), std::string::npos) << large;
  EXPECT_NE(large.find("__shared__ float Bs[16][64 + 1]"), std::string::npos);
  EXPECT_NE(large.find("float acc[4][4]"), std::string::npos);
  EXPECT_EQ(RenderCudaKind(Desc(CudaKind::kMatMul, {{128, 300}, {300, 96}}))->launch.block, 256u);
  EXPECT_EQ(RenderCudaKind(Desc(CudaKind::kMatMul, {{128, 300}, {300, 96}}))->launch.grid, 4u);  // 2 x 2 tiles
  EXPECT_NE(src(Desc(CudaKind::kMatMul, {{8, 300}, {300, 96}})).find("float acc[1][4]"), std::string::npos);
  // Up to 4 rows (batch-1 layers): the GEMV form, 32 columns x 8 slices of K summed in slice order.
  const std::string gemv = src(Desc(CudaKind::kMatMul, {{1, 300}, {300, 96}}));
  EXPECT_NE(gemv.find("__shared__ float part[8][1][32]"), std::string::npos) << gemv;
  EXPECT_EQ(gemv.find("__shared__ float As"), std::string::npos);
  EXPECT_EQ(RenderCudaKind(Desc(CudaKind::kMatMul, {{1, 300}, {300, 96}}))->launch.grid, 3u);  // 96 / 32 columns
  EXPECT_NE(src(Desc(CudaKind::kMatMul, {{100, 300}, {300, 10}})).find("float acc[4][1]"), std::string::npos);
  // 32-bit index arithmetic unless a tensor reaches 2^30 elements.
  EXPECT_NE(large.find("for (int tile = blockIdx.x; tile < 4;"), std::string::npos) << large;
  EXPECT_EQ(large.find("long long"), std::string::npos);
  const std::string huge = src(Desc(CudaKind::kMatMul, {{32768, 32768}, {32768, 64}}));
  EXPECT_NE(huge.find("for (long long tile = blockIdx.x; tile < 512LL;"), std::string::npos);
  const std::string fused = src(Valid(CudaKind::kFusedConv));
  EXPECT_NE(fused.find("// Sigmoid"), std::string::npos) << fused;
  EXPECT_NE(fused.find("kiln_sigmoid"), std::string::npos);
  size_t syncs = 0;  // in the kernel (the prelude's block reductions have their own)
  for (size_t at = large.find("__syncthreads()", large.find("extern \"C\" __global__")); at != std::string::npos;
       at = large.find("__syncthreads()", at + 1))
    ++syncs;
  EXPECT_EQ(syncs, 2u);
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
  CudaKernelDesc adam_without_step = Valid(CudaKind::kOptimizerUpdate);
  adam_without_step.inputs.pop_back();
  CudaKernelDesc adam_moment = Valid(CudaKind::kOptimizerUpdate);
  adam_moment.inputs[3] = {5, 6};
  CudaKernelDesc unknown_update = Valid(CudaKind::kOptimizerUpdate);
  unknown_update.update_op = "FooUpdate";
  CudaKernelDesc bad_ratio = Valid(CudaKind::kDropout);
  bad_ratio.dropout_ratio = 1.f;
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
      {Desc(CudaKind::kMatMul, {{2, 5}, {4, 3}}), "cuda: matmul: inner dimensions"},
      {Desc(CudaKind::kMatMul, {{2, 5, 7}, {3, 7, 2}}), "cuda: matmul: batch dims"},
      {Desc(CudaKind::kGemm, {{2, 5}, {5, 3}, {2, 2}}), "cuda: gemm: input 2 [2, 2] does not broadcast"},
      {Desc(CudaKind::kConv, {{1, 3, 5, 5}, {4, 2, 3, 3}}), "cuda: conv: channels"},
      {Desc(CudaKind::kConv, {{1, 2, 2, 2}, {4, 2, 3, 3}}), "cuda: conv: the window is larger"},
      {Desc(CudaKind::kConv, {{1, 2, 5, 5}, {4, 2, 3, 3}, {3}}), "cuda: conv: bias"},
      {Desc(CudaKind::kCopy, {{2, 3}}), "cuda: copy: [2, 3] and [] differ in size"},
      {adam_without_step, "cuda: optimizer_update: AdamUpdate takes 5 inputs, got 4"},
      {adam_moment, "cuda: optimizer_update: input 3 [5, 6] does not match the param [5, 7]"},
      {unknown_update, "cuda: optimizer_update: no generated update for 'FooUpdate'"},
      {bad_ratio, "cuda: dropout: ratio must be in [0, 1)"},
  };
  CudaKernelDesc unknown_activation = Valid(CudaKind::kFusedMatMul);
  unknown_activation.activation = "Gelu2";
  auto k = RenderCudaKind(unknown_activation);
  ASSERT_FALSE(k.ok());
  EXPECT_EQ(k.status().message(), "cuda: fused_matmul: activation 'Gelu2' is not a unary fused op");
  for (const auto& [desc, want] : bad) {
    auto k = RenderCudaKind(desc);
    ASSERT_FALSE(k.ok()) << want;
    EXPECT_EQ(k.status().message().rfind(want, 0), 0u) << k.status().message();
    EXPECT_EQ(k.status().message().find('\n'), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln::cuda
