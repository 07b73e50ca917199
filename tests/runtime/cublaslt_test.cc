// cuBLASLt, the runtime alternative to the generated GEMM kinds (runtime/kernels/cuda/cublaslt.h):
// the library is opened with dlopen (no GPU needed for that), which steps it can compute and
// how a row-major step becomes its column-major call, and -- on a machine with a GPU -- the
// same products as the reference kernels.
#include "runtime/kernels/cuda/cublaslt.h"

#include <gtest/gtest.h>

#include "runtime/kernel.h"
#include "tests/test_util.h"

namespace kiln::cuda {
namespace {

TEST(CublasLtTest, OpensWithoutAGpuOrSaysWhyNotOnOneLine) {
  auto description = CublasLtDescription();
#if KILN_HAVE_CUDA_TOOLKIT
  // The toolkit ships it (/usr/local/cuda/lib64/libcublasLt.so.13); its version needs no device.
  ASSERT_OK(description.status());
  EXPECT_NE(description->find("libcublasLt.so"), std::string::npos) << *description;
  EXPECT_NE(description->find("(cuBLASLt 1"), std::string::npos) << *description;
#else
  if (!description.ok()) {
    EXPECT_EQ(description.status().message().rfind("cuda: no cuBLASLt library found (", 0), 0u);
    EXPECT_EQ(description.status().message().find('\n'), std::string::npos);
  }
#endif
}

Attrs Make(std::initializer_list<std::pair<const char*, int64_t>> ints,
           std::initializer_list<std::pair<const char*, float>> floats = {}, const char* activation = nullptr) {
  Attrs a;
  for (const auto& [k, v] : ints) a.SetInt(k, v);
  for (const auto& [k, v] : floats) a.SetFloat(k, v);
  if (activation) a.SetString("activation", activation);
  return a;
}

TEST(CublasLtTest, StepsItComputesAndWhyNotTheOthers) {
  // MatMul: B's batch of 1s folds A's batch into its rows; equal batches are strided batches.
  auto folded = CublasLtStepFor("MatMul", {}, {{2, 3, 4, 5}, {5, 6}}, {2, 3, 4, 6});
  ASSERT_OK(folded.status());
  EXPECT_EQ(folded->gemm.m, 24);
  EXPECT_EQ(folded->gemm.batch, 1);
  EXPECT_EQ(folded->gemm.n, 6);
  EXPECT_EQ(folded->gemm.k, 5);
  auto batched = CublasLtStepFor("MatMul", {}, {{2, 4, 5}, {2, 5, 6}}, {2, 4, 6});
  ASSERT_OK(batched.status());
  EXPECT_EQ(batched->gemm.batch, 2);
  EXPECT_EQ(batched->gemm.m, 4);
  // Gemm: transposes, alpha, C of the output's dims as C (beta), a column C with beta 1 as the bias.
  auto full_c = CublasLtStepFor("Gemm", Make({{"transA", 1}, {"transB", 1}}, {{"alpha", 0.5f}, {"beta", 2.f}}),
                                {{7, 3}, {4, 7}, {3, 4}}, {3, 4});
  ASSERT_OK(full_c.status());
  EXPECT_TRUE(full_c->gemm.trans_a && full_c->gemm.trans_b);
  EXPECT_EQ(full_c->gemm.m, 3);
  EXPECT_EQ(full_c->gemm.n, 4);
  EXPECT_EQ(full_c->gemm.k, 7);
  EXPECT_EQ(full_c->c, 2);
  EXPECT_EQ(full_c->gemm.alpha, 0.5f);
  EXPECT_EQ(full_c->gemm.beta, 2.f);
  auto bias = CublasLtStepFor("Gemm", Make({{"transB", 1}}), {{3, 7}, {4, 7}, {4}}, {3, 4});
  ASSERT_OK(bias.status());
  EXPECT_EQ(bias->bias, 2);
  EXPECT_TRUE(bias->gemm.bias);
  EXPECT_EQ(bias->c, -1);
  // FusedMatMul: the bias and Relu as the epilogue, the residual as C with beta 1.
  auto fused = CublasLtStepFor("FusedMatMul", Make({}, {}, "Relu"), {{3, 7}, {7, 4}, {1, 4}, {3, 4}}, {3, 4});
  ASSERT_OK(fused.status());
  EXPECT_TRUE(fused->gemm.relu && fused->gemm.bias);
  EXPECT_EQ(fused->bias, 2);
  EXPECT_EQ(fused->c, 3);
  EXPECT_EQ(fused->gemm.beta, 1.f);
  const std::vector<std::tuple<std::string, Attrs, std::vector<Dims>, Dims, std::string>> refused = {
      {"MatMul", {}, {{4, 5}, {2, 5, 6}}, {2, 4, 6}, "broadcast batch dims"},
      {"MatMul", {}, {{5}, {5, 6}}, {6}, "a 1-D operand"},
      {"Gemm", Make({}, {{"beta", 2.f}}), {{3, 7}, {7, 4}, {4}}, {3, 4}, "a C that is neither"},
      {"Gemm", {}, {{3, 7}, {7, 4}, {3, 1}}, {3, 4}, "a C that is neither"},
      {"FusedMatMul", Make({}, {}, "Sigmoid"), {{3, 7}, {7, 4}, {4}}, {3, 4}, "the activation Sigmoid"},
      {"FusedMatMul", {}, {{3, 7}, {7, 4}, {3, 4}}, {3, 4}, "a bias that is not one value per column"},
      {"Conv", {}, {{1, 1, 4, 4}, {1, 1, 3, 3}}, {1, 1, 2, 2}, "not a product"},
  };
  for (const auto& [op, attrs, inputs, output, why] : refused) {
    auto s = CublasLtStepFor(op, attrs, inputs, output);
    ASSERT_FALSE(s.ok()) << op << " " << why;
    EXPECT_EQ(s.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(s.status().message().find(why), std::string::npos) << s.status().message();
  }
}

// On a GPU: cuBLASLt's products (plain, transposed, batched, bias + Relu, C) against the
// reference kernels. Without a driver, opening the device is the one-line error instead.
TEST(CublasLtTest, OnAGpuItComputesWhatTheReferenceDoes) {
  auto device = CudaDevice::Open(0);
  if (!device.ok()) {
    EXPECT_EQ(device.status().message().find('\n'), std::string::npos) << device.status().message();
    EXPECT_EQ(device.status().message().rfind("cuda: ", 0), 0u) << device.status().message();
    return;
  }
  CudaDevice& dev = **device;
  struct Case {
    std::string op;
    Attrs attrs;
    std::vector<Dims> inputs;
    Dims output;
  };
  const std::vector<Case> cases = {
      {"MatMul", {}, {{37, 91}, {91, 53}}, {37, 53}},
      {"MatMul", {}, {{3, 17, 40}, {3, 40, 9}}, {3, 17, 9}},
      {"Gemm",
       Make({{"transA", 1}, {"transB", 1}}, {{"alpha", 0.5f}, {"beta", -1.f}}),
       {{40, 17}, {9, 40}, {17, 9}},
       {17, 9}},
      {"FusedMatMul", Make({}, {}, "Relu"), {{64, 784}, {784, 128}, {128}}, {64, 128}},
  };
  for (const Case& c : cases) {
    auto step = CublasLtStepFor(c.op, c.attrs, c.inputs, c.output);
    ASSERT_OK(step.status());
    auto lt = CublasLtMatmul::Create(step->gemm, dev);
    ASSERT_OK(lt.status());
    std::vector<Tensor> host;
    std::vector<DevicePtr> on_device;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      host.push_back(testing::RandomTensor(c.inputs[i], 11 + int(i)));
      auto p = dev.Alloc(host.back().num_bytes());
      ASSERT_OK(p.status());
      on_device.push_back(*p);
      ASSERT_OK(dev.CopyToDevice(*p, host.back().data(), host.back().num_bytes()));
    }
    Tensor want(proto::DT_FLOAT, c.output), got(proto::DT_FLOAT, c.output);
    auto d = dev.Alloc(got.num_bytes());
    ASSERT_OK(d.status());
    auto at = [&](int i) { return i < 0 ? DevicePtr{0} : on_device[i]; };
    ASSERT_OK((*lt)->Run(at(step->a), at(step->b), at(step->c), *d, at(step->bias), nullptr));
    ASSERT_OK(dev.Synchronize());
    ASSERT_OK(dev.CopyToHost(got.MutableData(), *d, got.num_bytes()));
    std::vector<TensorRef> in;
    for (const Tensor& t : host) in.push_back(t.ref());
    ASSERT_OK(runtime::RunReferenceOp(c.op, "ref", c.attrs, in, {want.ref()}));
    EXPECT_EQ(testing::CompareTensors(got, want, 1e-4, 1e-4), "") << c.op;
    for (DevicePtr p : on_device) ASSERT_OK(dev.Free(p));
    ASSERT_OK(dev.Free(*d));
  }
}

}  // namespace
}  // namespace kiln::cuda
