// The small-product kernel (runtime/kernels/onednn/small_matmul.h, family "gemv") and the
// blocked product ("sgemm") against the reference kernels: MatMul (1-D and batched A, 1-D B),
// FusedMatMul (bias per column and of the output's shape, residual, every fusable
// activation), Gemm (transposes, alpha, beta, C as scalar, row and matrix); odd K and N
// (partial panels and pairs), rows that fill no whole tile, one and three threads (a product
// over more than 1 MiB of weights splits its panels); for "sgemm" also more rows than a
// block and a share, more columns than a chunk, a depth of several slices; on every
// instruction set this CPU has. Also what the support check refuses, and NaN.
#include "runtime/kernels/onednn/small_matmul.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>

#include "dnnl.hpp"
#include "ir/core/fused_ops.h"
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"
#include "tests/runtime/simd_levels.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelSpec;
using runtime::onednn::SimdLevel;

struct Product {
  std::string name, op;
  std::vector<Dims> inputs;  // A, B [, bias / C [, Z]]; {} = omitted
  Dims output;
  Attrs attrs;
};

class SmallMatMulTest : public ::testing::Test {
 protected:
  SmallMatMulTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  KernelSpec Spec(const Product& p, const std::vector<Tensor>& in, const Tensor& out) {
    KernelSpec spec;
    spec.name = p.name;
    spec.op_type = p.op;
    spec.attrs = p.attrs;
    spec.env = &env_;
    for (size_t i = 0; i < in.size(); ++i) {
      spec.inputs.push_back(in[i].dtype() == proto::DT_UNDEFINED ? TensorRef{} : in[i].ref());
      spec.constant_inputs.push_back(i == 1);
    }
    spec.outputs = {out.ref()};
    return spec;
  }

  std::vector<Tensor> Inputs(const Product& p, uint32_t seed) {
    std::vector<Tensor> in;
    for (size_t i = 0; i < p.inputs.size(); ++i) {
      in.push_back(p.inputs[i].empty() && i >= 2 ? Tensor() : testing::RandomTensor(p.inputs[i], seed + i));
    }
    return in;
  }

  // The kernel at `level` (`blocked`: "sgemm") against the reference kernel, twice each (no
  // state carried over).
  void ExpectMatchesRef(const Product& p, SimdLevel level, bool blocked, const std::vector<Tensor>& in) {
    Tensor got(proto::DT_FLOAT, p.output), want(proto::DT_FLOAT, p.output);
    KernelSpec spec = Spec(p, in, got);
    auto kernel = runtime::onednn::BuildSmallMatMul(spec, level, blocked);
    ASSERT_TRUE(kernel.ok()) << p.name << ": " << kernel.status().message();
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    KernelSpec ref_spec = Spec(p, in, want);
    auto ref = runtime::KernelRegistry::Global().Create("ref", ref_spec);
    ASSERT_OK(ref.status());
    ASSERT_OK((*ref)->Run(ref_spec.inputs, ref_spec.outputs));
    const std::string diff = testing::CompareTensors(got, want, 2e-5, 1e-4);
    EXPECT_TRUE(diff.empty()) << p.name << (blocked ? " (sgemm)" : " (gemv)") << " at level " << static_cast<int>(level)
                              << ": " << diff;
  }

  // Both kernels, or the blocked one alone (`only_blocked`: shapes beyond "gemv"'s rows).
  void ExpectMatchesRefEverywhere(const Product& p, bool only_blocked = false) {
    const std::vector<Tensor> in = Inputs(p, 7);
    testing::ForEachThreadCountAndLevel([&](SimdLevel level, int) {
      for (bool blocked : {false, true}) {
        if (blocked || !only_blocked) ExpectMatchesRef(p, level, blocked, in);
      }
    });
  }

  std::string Refusal(const Product& p, bool b_constant = true) {
    std::vector<Tensor> in = Inputs(p, 1);
    Tensor out(proto::DT_FLOAT, p.output);
    KernelSpec spec = Spec(p, in, out);
    spec.constant_inputs[1] = b_constant;
    return runtime::SmallProductUnsupportedReason(spec);
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
};

Attrs Activation(const std::string& act, float alpha = 0, float beta = 0, bool with_alpha = false) {
  Attrs a;
  a.SetString("activation", act);
  if (with_alpha || act == "Clip") a.SetFloat("activation_alpha", alpha);
  if (act == "Clip") a.SetFloat("activation_beta", beta);
  return a;
}

Attrs GemmAttrs(int trans_a, int trans_b, float alpha, float beta) {
  Attrs a;
  a.SetInt("transA", trans_a);
  a.SetInt("transB", trans_b);
  a.SetFloat("alpha", alpha);
  a.SetFloat("beta", beta);
  return a;
}

TEST_F(SmallMatMulTest, MatMulShapes) {
  for (const Product& p : std::vector<Product>{
           {"row", "MatMul", {{1, 37}, {37, 70}}, {1, 70}, {}},
           {"one_column", "MatMul", {{1, 9}, {9, 1}}, {1, 1}, {}},
           {"row_shorter_than_its_streams", "MatMul", {{1, 3}, {3, 20}}, {1, 20}, {}},
           {"vector_a", "MatMul", {{33}, {33, 17}}, {17}, {}},
           {"vector_b", "MatMul", {{3, 33}, {33}}, {3}, {}},
           {"five_rows", "MatMul", {{5, 19}, {19, 129}}, {5, 129}, {}},
           {"batched_a", "MatMul", {{2, 3, 11}, {11, 40}}, {2, 3, 40}, {}},
           {"whole_panels", "MatMul", {{2, 64}, {64, 128}}, {2, 128}, {}},
           {"split_over_threads", "MatMul", {{1, 600}, {600, 520}}, {1, 520}, {}},  // 1.25 MB of B
           {"split_rows", "MatMul", {{6, 300}, {300, 1000}}, {6, 1000}, {}},
       }) {
    ExpectMatchesRefEverywhere(p);
  }
}

// Shapes of the blocked product's blocks, chunks, slices and shares: rows past one block
// (192) and a partial tile, columns past a chunk (512) ending in half a pair, a depth of
// several uneven slices, a transposed A and B, the post-ops over partial vectors.
TEST_F(SmallMatMulTest, BlockedShapes) {
  for (const Product& p : std::vector<Product>{
           {"rows_past_a_block", "MatMul", {{2, 203, 70}, {70, 45}}, {2, 203, 45}, {}},
           {"columns_past_a_chunk", "MatMul", {{13, 300}, {300, 1100}}, {13, 1100}, {}},
           {"deep", "FusedMatMul", {{50, 1000}, {1000, 24}, {24}, {50, 24}}, {50, 24}, Activation("Relu")},
           {"few_rows_many_columns", "MatMul", {{40, 33}, {33, 2000}}, {40, 2000}, {}},
           {"gemm_transposed", "Gemm", {{311, 197}, {61, 311}, {197, 61}}, {197, 61}, GemmAttrs(1, 1, 0.5f, 2.0f)},
           {"tanh", "FusedMatMul", {{401, 57}, {57, 9}, {9}}, {401, 9}, Activation("Tanh")},
       }) {
    ExpectMatchesRefEverywhere(p, /*only_blocked=*/true);
  }
}

TEST_F(SmallMatMulTest, FusedMatMulPostOps) {
  std::vector<Product> products = {
      {"bias", "FusedMatMul", {{1, 23}, {23, 45}, {45}}, {1, 45}, {}},
      {"bias_row", "FusedMatMul", {{3, 23}, {23, 45}, {1, 45}}, {3, 45}, {}},
      {"bias_scalar", "FusedMatMul", {{3, 23}, {23, 45}, {1}}, {3, 45}, {}},
      {"bias_full", "FusedMatMul", {{3, 23}, {23, 45}, {3, 45}}, {3, 45}, {}},
      {"residual", "FusedMatMul", {{2, 23}, {23, 70}, {70}, {2, 70}}, {2, 70}, Activation("Relu")},
      {"residual_no_bias", "FusedMatMul", {{2, 23}, {23, 70}, {}, {2, 70}}, {2, 70}, {}},
  };
  for (const auto& [act, alpha, beta, with_alpha] :
       std::vector<std::tuple<std::string, float, float, bool>>{{"Relu", 0, 0, false},
                                                                {"LeakyRelu", 0.1f, 0, true},
                                                                {"Elu", 0.5f, 0, true},
                                                                {"Sigmoid", 0, 0, false},
                                                                {"Tanh", 0, 0, false},
                                                                {"Softplus", 0, 0, false},
                                                                {"Clip", -0.3f, 0.4f, false}}) {
    products.push_back(
        {"act_" + act, "FusedMatMul", {{3, 31}, {31, 77}, {77}}, {3, 77}, Activation(act, alpha, beta, with_alpha)});
  }
  for (const Product& p : products) ExpectMatchesRefEverywhere(p);
}

TEST_F(SmallMatMulTest, GemmAttributes) {
  for (const Product& p : std::vector<Product>{
           {"plain", "Gemm", {{1, 29}, {29, 50}}, {1, 50}, GemmAttrs(0, 0, 1, 1)},
           {"trans_b", "Gemm", {{1, 29}, {50, 29}, {50}}, {1, 50}, GemmAttrs(0, 1, 1, 1)},
           {"trans_a", "Gemm", {{29, 3}, {29, 50}, {1, 50}}, {3, 50}, GemmAttrs(1, 0, 1, 1)},
           {"trans_a_row", "Gemm", {{29, 1}, {29, 50}, {1, 50}}, {1, 50}, GemmAttrs(1, 0, 1, 1)},
           {"trans_both_scaled", "Gemm", {{29, 3}, {50, 29}, {3, 50}}, {3, 50}, GemmAttrs(1, 1, 0.5f, -2.0f)},
           {"one_value_c", "Gemm", {{2, 29}, {29, 50}, {1}}, {2, 50}, GemmAttrs(0, 0, 1.5f, 0.25f)},
           {"beta_zero", "Gemm", {{2, 29}, {29, 50}, {2, 50}}, {2, 50}, GemmAttrs(0, 0, 1, 0)},
       }) {
    ExpectMatchesRefEverywhere(p);
  }
}

TEST_F(SmallMatMulTest, RefusesWhatItDoesNotCompute) {
  EXPECT_NE(Refusal({"b_input", "MatMul", {{1, 8}, {8, 4}}, {1, 4}, {}}, false), "");
  EXPECT_NE(Refusal({"batched_b", "MatMul", {{2, 1, 8}, {2, 8, 4}}, {2, 1, 4}, {}}), "");
  EXPECT_NE(Refusal({"c_per_row", "Gemm", {{3, 8}, {8, 4}, {3, 1}}, {3, 4}, GemmAttrs(0, 0, 1, 1)}), "");
  EXPECT_EQ(Refusal({"ok", "Gemm", {{3, 8}, {8, 4}, {4}}, {3, 4}, GemmAttrs(0, 0, 1, 1)}), "");
  EXPECT_NE(Refusal({"conv", "Conv", {{1, 1, 4, 4}, {1, 1, 3, 3}}, {1, 1, 2, 2}, {}}), "");
  EXPECT_EQ(runtime::SmallProductRows(KernelSpec{}), 0);
  // The blocked kernel copies blocks of A's rows whole: not past its depth.
  const int64_t deep = runtime::onednn::kBlockedMatMulMaxDepth + 1;
  KernelSpec spec;
  spec.op_type = "MatMul";
  spec.inputs = {TensorRef{proto::DT_FLOAT, {40, deep}, nullptr}, TensorRef{proto::DT_FLOAT, {deep, 2}, nullptr}};
  spec.constant_inputs = {false, true};
  spec.outputs = {TensorRef{proto::DT_FLOAT, {40, 2}, nullptr}};
  EXPECT_EQ(runtime::SmallProductUnsupportedReason(spec), "");
  EXPECT_NE(runtime::BlockedProductUnsupportedReason(spec), "");
  spec.inputs[0].dims = {40, deep - 1};
  spec.inputs[1].dims = {deep - 1, 2};
  EXPECT_EQ(runtime::BlockedProductUnsupportedReason(spec), "");
}

TEST_F(SmallMatMulTest, NanAndInfinityPropagate) {
  const Product p{"nan", "FusedMatMul", {{1, 20}, {20, 40}, {40}}, {1, 40}, Activation("Relu")};
  std::vector<Tensor> in = Inputs(p, 3);
  in[0].mutable_data_as<float>()[4] = NAN;
  for (SimdLevel level : testing::CpuSimdLevels()) {
    for (bool blocked : {false, true}) {
      Tensor out(proto::DT_FLOAT, p.output);
      KernelSpec spec = Spec(p, in, out);
      auto kernel = runtime::onednn::BuildSmallMatMul(spec, level, blocked);
      ASSERT_OK(kernel.status());
      ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
      for (int64_t j = 0; j < 40; ++j) EXPECT_TRUE(std::isnan(out.data_as<float>()[j])) << j;  // Relu keeps NaN
    }
  }
  // Inf times weights of both signs: +Inf (Relu'd -Inf is 0) as the reference computes it.
  in[0].mutable_data_as<float>()[4] = INFINITY;
  Tensor got(proto::DT_FLOAT, p.output), want(proto::DT_FLOAT, p.output);
  KernelSpec spec = Spec(p, in, got), ref_spec = Spec(p, in, want);
  auto kernel = runtime::onednn::BuildSmallMatMul(spec, runtime::onednn::BestSimdLevel());
  auto ref = runtime::KernelRegistry::Global().Create("ref", ref_spec);
  ASSERT_OK(kernel.status());
  ASSERT_OK(ref.status());
  ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
  ASSERT_OK((*ref)->Run(ref_spec.inputs, ref_spec.outputs));
  int infinite = 0;
  for (int64_t j = 0; j < 40; ++j) {
    const float g = got.data_as<float>()[j], w = want.data_as<float>()[j];
    infinite += std::isinf(w);
    EXPECT_TRUE(std::isinf(w) || std::isnan(w) ? (std::isnan(g) == std::isnan(w) && (std::isnan(g) || g == w))
                                               : std::abs(g - w) <= 1e-4 * (1 + std::abs(w)))
        << j << ": got " << g << ", expected " << w;
  }
  EXPECT_GT(infinite, 0);
}

}  // namespace
}  // namespace kiln
