// oneDNN kernels split over Kiln's share team (runtime/kernels/onednn/onednn_split.cc): a
// convolution at batch 1 in channels-last split over its output rows (strides, dilations,
// asymmetric and SAME pads, bias, residual and activation, row counts that do not divide),
// pooling, Concat and binary arithmetic at batch 1 split their rows too; batches split evenly and unevenly
// (convolutions, products, pooling, Concat), each against the
// reference kernel (grouped and depthwise ones too); what must not be split (plain convolutions at batch 1,
// transposed A, MaxPool's indices, one thread); the parts share the session's scratch; and
// a second run is right too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>

#include "dnnl.hpp"
#include "ir/core/fused_ops.h"
#include "ir/core/layout.h"
#include "runtime/kernel.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using runtime::ExecEnv;
using runtime::KernelRegistry;
using runtime::KernelSpec;
using runtime::onednn::SplitPartCount;

struct Case {
  std::string op;
  std::vector<Dims> inputs;  // {} = omitted optional input
  Dims output;
  Attrs attrs;
  bool channels_last = false;  // activations (input 0, the residual, the output) in nhwc
  bool plain_input = false;    // but input 0 plain (a model's image input)
};

Attrs Ints(const std::vector<std::pair<std::string, std::vector<int64_t>>>& ints) {
  Attrs a;
  for (const auto& [name, v] : ints) {
    if (v.size() == 1 && name != "pads" && name != "strides" && name != "kernel_shape" && name != "dilations") {
      a.SetInt(name, v[0]);
    } else {
      a.SetInts(name, v);
    }
  }
  return a;
}

Attrs WithActivation(Attrs a) {
  a.SetString("activation", "Relu");
  return a;
}

class OneDnnSplitTest : public ::testing::Test {
 protected:
  OneDnnSplitTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
    env_.num_threads = 2;
  }

  bool Activation(const Case& c, int i) const {
    if (i == 0 && c.plain_input) return false;
    const bool all_inputs = c.op == "Concat" || c.op == "Mul" || c.op == "Add";
    const bool activation = i == 0 || i == kFusedResidualInput || all_inputs;
    return c.channels_last && c.inputs[i].size() == 4 && activation;
  }

  KernelSpec Spec(const Case& c, std::vector<Tensor>& in, std::vector<Tensor>& out, bool laid_out) {
    KernelSpec spec;
    spec.name = c.op;
    spec.op_type = c.op;
    spec.attrs = c.attrs;
    spec.env = &env_;
    for (size_t i = 0; i < in.size(); ++i) {
      TensorRef r = in[i].dtype() == proto::DT_UNDEFINED ? TensorRef{} : in[i].ref();
      if (laid_out && Activation(c, static_cast<int>(i))) r.layout = proto::LAYOUT_CHANNELS_LAST;
      spec.inputs.push_back(r);
      spec.constant_inputs.push_back(i == 1 && (c.op == "Conv" || c.op == "FusedConv" || c.op == "MatMul" ||
                                                c.op == "FusedMatMul" || c.op == "Gemm"));
    }
    for (Tensor& t : out) {
      TensorRef r = t.ref();
      if (laid_out && c.channels_last) r.layout = proto::LAYOUT_CHANNELS_LAST;
      spec.outputs.push_back(r);
    }
    return spec;
  }

  // A value written into a (plain) input before the run.
  struct Poison {
    int input;
    int64_t element;
    float value;
  };

  // Runs `c` with the oneDNN kernel (split as `parts` says) and with the reference kernel.
  void Check(const Case& c, int parts, uint32_t seed = 1, const std::vector<Poison>& poison = {}) {
    SCOPED_TRACE(c.op);
    std::vector<Tensor> plain_in;
    for (size_t i = 0; i < c.inputs.size(); ++i) {
      plain_in.push_back(c.inputs[i].empty() ? Tensor() : testing::RandomTensor(c.inputs[i], seed + i, -1, 1));
    }
    for (const Poison& p : poison) plain_in[p.input].mutable_data_as<float>()[p.element] = p.value;
    std::vector<Tensor> in = plain_in;
    for (size_t i = 0; i < in.size(); ++i) {
      if (Activation(c, static_cast<int>(i))) {
        in[i] = testing::Relayout(plain_in[i], proto::LAYOUT_PLAIN, proto::LAYOUT_CHANNELS_LAST);
      }
    }
    std::vector<Tensor> out = {Tensor(proto::DT_FLOAT, c.output)}, expected = {Tensor(proto::DT_FLOAT, c.output)};
    KernelSpec spec = Spec(c, in, out, true);
    EXPECT_EQ(SplitPartCount(spec), parts);
    auto kernel = KernelRegistry::Global().Create("onednn", spec);
    ASSERT_OK(kernel.status());
    EXPECT_EQ((*kernel)->Parts(), std::max(parts, 1));  // every part was built
    KernelSpec ref_spec = Spec(c, plain_in, expected, false);
    auto ref = KernelRegistry::Global().Create("ref", ref_spec);
    ASSERT_OK(ref.status());
    ASSERT_OK((*ref)->Run(ref_spec.inputs, ref_spec.outputs));
    for (int run = 0; run < 2; ++run) {
      ASSERT_OK(env_.AllocateScratch() ? Status::Ok() : Internal("scratch"));
      ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
      Tensor got =
          c.channels_last ? testing::Relayout(out[0], proto::LAYOUT_CHANNELS_LAST, proto::LAYOUT_PLAIN) : out[0];
      const std::string diff = testing::CompareTensors(got, expected[0], 1e-4, 1e-4);
      EXPECT_TRUE(diff.empty()) << "run " << run << ": " << diff;
      std::fill(out[0].mutable_data_as<float>(), out[0].mutable_data_as<float>() + out[0].num_elements(), -7.0f);
    }
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
};

TEST_F(OneDnnSplitTest, ConvolutionAtBatchOneSplitsItsOutputRows) {
  // 29 rows over two parts (14 + 15); the windows of each part reach into the other's input.
  Check({"Conv", {{1, 16, 29, 23}, {32, 16, 3, 3}, {32}}, {1, 32, 29, 23}, Ints({{"pads", {1, 1, 1, 1}}}), true}, 2);
  // Stride 2, dilation 2, asymmetric pads: the top part gets the image's top pad only.
  Check({"Conv",
         {{1, 16, 61, 40}, {24, 16, 3, 3}, {}},
         {1, 24, 30, 20},
         Ints({{"pads", {2, 0, 1, 1}}, {"strides", {2, 2}}, {"dilations", {2, 1}}}),
         true},
        2);
  // A 1x1 stride 2 (ResNet's downsampling): a part reads up to its last output's stride, as
  // oneDNN's 1x1 kernel wants, where the image has the rows (28 rows), and stops at the
  // image's last row where it does not (27 and 17 rows: the last part's window ends there).
  for (int64_t rows : {28, 27, 17}) {
    Check({"Conv",
           {{1, 256, rows, 28}, {512, 256, 1, 1}, {512}},
           {1, 512, (rows + 1) / 2, 14},
           Ints({{"strides", {2, 2}}}),
           true},
          2);
  }
  Attrs same = Ints({{"strides", {2, 2}}});
  same.SetString("auto_pad", "SAME_UPPER");
  Check({"Conv", {{1, 16, 33, 33}, {32, 16, 4, 4}, {32}}, {1, 32, 17, 17}, same, true}, 2);
  const Attrs fused = WithActivation(Ints({{"pads", {1, 1, 1, 1}}}));
  Check({"FusedConv", {{1, 16, 21, 21}, {32, 16, 3, 3}, {32}, {1, 32, 21, 21}}, {1, 32, 21, 21}, fused, true}, 2);
  // Grouped and depthwise (MobileNet's, stride 2 with a Clip): a part's rows hold every group.
  Check({"Conv",
         {{1, 16, 29, 23}, {32, 8, 3, 3}, {32}},
         {1, 32, 29, 23},
         Ints({{"pads", {1, 1, 1, 1}}, {"group", {2}}}),
         true},
        2);
  Attrs depthwise = Ints({{"pads", {1, 1, 1, 1}}, {"strides", {2, 2}}, {"group", {64}}});
  depthwise.SetString("activation", "Clip");
  depthwise.SetFloat("activation_alpha", 0.0f);
  depthwise.SetFloat("activation_beta", 6.0f);
  Check({"FusedConv", {{1, 64, 113, 112}, {64, 1, 3, 3}, {64}, {}}, {1, 64, 57, 56}, depthwise, true}, 2);
  // A plain image of 3 channels (ResNet-50's first layer): each part copies its rows into
  // channels-last first.
  Check({"FusedConv",
         {{1, 3, 64, 61}, {16, 3, 7, 7}, {16}, {}},
         {1, 16, 32, 31},
         WithActivation(Ints({{"pads", {3, 3, 3, 3}}, {"strides", {2, 2}}})),
         true,
         true},
        2);
  // One channel: the plain image's rows are contiguous too.
  Check({"FusedConv",
         {{1, 1, 64, 64}, {16, 1, 5, 5}, {16}, {}},
         {1, 16, 64, 64},
         WithActivation(Ints({{"pads", {2, 2, 2, 2}}})),
         true,
         true},
        2);
}

// Pooling and Concat split their rows like the convolutions around them (each core then
// reads the rows it wrote).
TEST_F(OneDnnSplitTest, PoolingAndConcatAtBatchOneSplitTheirOutputRows) {
  // SqueezeNet's pools: ceil_mode whose last window still ends inside the image.
  Check({"MaxPool",
         {{1, 64, 55, 55}},
         {1, 64, 27, 27},
         Ints({{"kernel_shape", {3, 3}}, {"strides", {2, 2}}, {"ceil_mode", {1}}}),
         true},
        2);
  // Padding on both edges, an odd row count (above the one-thread size); the windows of each part reach into the
  // other's rows.
  Check({"MaxPool",
         {{1, 64, 59, 61}},
         {1, 64, 30, 31},
         Ints({{"kernel_shape", {3, 3}}, {"strides", {2, 2}}, {"pads", {1, 1, 1, 1}}}),
         true},
        2);
  Attrs excluded = Ints({{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}});
  Check({"AveragePool", {{1, 64, 41, 41}}, {1, 64, 41, 41}, excluded, true}, 2);
  Attrs included = excluded;
  included.SetInt("count_include_pad", 1);
  Check({"AveragePool", {{1, 64, 41, 41}}, {1, 64, 41, 41}, included, true}, 2);
  // A fire module's channel Concat, and one along the columns.
  Attrs channels;
  channels.SetInt("axis", 1);
  Check({"Concat", {{1, 64, 55, 55}, {1, 64, 55, 55}}, {1, 128, 55, 55}, channels, true}, 2);
  Attrs columns;
  columns.SetInt("axis", -1);
  Check({"Concat", {{1, 40, 33, 20}, {1, 40, 33, 27}}, {1, 40, 33, 47}, columns, true}, 2);
  // Concat along the batch of larger batches: each part joins its samples.
  Check({"Concat", {{4, 64, 20, 20}, {4, 32, 20, 20}}, {4, 96, 20, 20}, channels, false}, 2);
  // Not split: a window past the padded image (ceil_mode), a Concat along the rows, a
  // plain Concat at batch 1 (rows not contiguous).
  Check({"MaxPool",
         {{1, 64, 56, 56}},
         {1, 64, 28, 28},
         Ints({{"kernel_shape", {3, 3}}, {"strides", {2, 2}}, {"ceil_mode", {1}}}),
         true},
        0);
  Attrs rows;
  rows.SetInt("axis", 2);
  Check({"Concat", {{1, 64, 40, 40}, {1, 64, 40, 40}}, {1, 64, 80, 40}, rows, true}, 0);
  Check({"Concat", {{1, 64, 55, 55}, {1, 64, 55, 55}}, {1, 128, 55, 55}, channels, false}, 0);
}

// Binary arithmetic splits its rows too: an input with the output's rows is sliced, one
// broadcast over them read whole (EfficientNet's squeeze-excitation scale).
TEST_F(OneDnnSplitTest, BinaryOpsAtBatchOneSplitTheirOutputRows) {
  Check({"Mul", {{1, 96, 57, 56}, {1, 96, 1, 1}}, {1, 96, 57, 56}, Attrs(), true}, 2);
  Check({"Add", {{1, 64, 40, 40}, {1, 64, 40, 40}}, {1, 64, 40, 40}, Attrs(), true}, 2);
  Check({"Mul", {{1, 1, 1, 40}, {1, 64, 40, 40}}, {1, 64, 40, 40}, Attrs(), true}, 2);  // broadcast first
  // Batches: a per-sample scale is sliced with its samples, a shared one read whole.
  Check({"Mul", {{4, 32, 20, 20}, {4, 32, 1, 1}}, {4, 32, 20, 20}, Attrs(), true}, 2);
  Check({"Add", {{4, 32, 20, 20}, {1, 32, 20, 20}}, {4, 32, 20, 20}, Attrs(), false}, 2);
  // Not split: an input of another rank, rows of a plain tensor at batch 1.
  Check({"Mul", {{1, 96, 57, 56}, {96, 1, 1}}, {1, 96, 57, 56}, Attrs(), true}, 0);
  Check({"Add", {{1, 64, 40, 40}, {1, 64, 40, 40}}, {1, 64, 40, 40}, Attrs(), false}, 0);
}

TEST_F(OneDnnSplitTest, BatchesSplitEvenlyAndUnevenly) {
  Check({"Conv", {{3, 8, 20, 20}, {16, 8, 3, 3}, {16}}, {3, 16, 18, 18}, Attrs(), false}, 2);
  Check({"Conv", {{4, 8, 20, 20}, {16, 8, 3, 3}, {16}}, {4, 16, 18, 18}, Attrs(), true}, 2);
  Check({"MatMul", {{37, 300}, {300, 200}}, {37, 200}, Attrs(), false}, 2);
  Attrs fused;
  fused.SetString("activation", "Relu");
  Check({"FusedMatMul", {{40, 256}, {256, 300}, {300}}, {40, 300}, fused, false}, 2);
  Attrs gemm;
  gemm.SetInt("transB", 1);
  gemm.SetFloat("beta", 0.5f);
  Check({"Gemm", {{33, 256}, {300, 256}, {33, 300}}, {33, 300}, gemm, false}, 2);
  Check({"MaxPool", {{6, 32, 40, 40}}, {6, 32, 20, 20}, Ints({{"kernel_shape", {2, 2}}, {"strides", {2, 2}}}), true},
        2);
  Check({"AveragePool",
         {{5, 32, 40, 40}},
         {5, 32, 40, 40},
         Ints({{"kernel_shape", {3, 3}}, {"pads", {1, 1, 1, 1}}}),
         false},
        2);
  Check({"GlobalAveragePool", {{6, 64, 32, 32}}, {6, 64, 1, 1}, Attrs(), true}, 2);
}

TEST_F(OneDnnSplitTest, ThreeThreadsMakeThreeParts) {
  env_.num_threads = 3;
  Check({"Conv", {{1, 16, 29, 23}, {32, 16, 3, 3}, {32}}, {1, 32, 29, 23}, Ints({{"pads", {1, 1, 1, 1}}}), true}, 3);
  Check({"MatMul", {{40, 300}, {300, 200}}, {40, 200}, Attrs(), false}, 3);
}

TEST_F(OneDnnSplitTest, LeavesAloneWhatItCannotSplit) {
  // Plain (whose rows are not contiguous) at batch 1; too few rows.
  Check({"Conv", {{1, 16, 29, 23}, {32, 16, 3, 3}, {32}}, {1, 32, 29, 23}, Ints({{"pads", {1, 1, 1, 1}}}), false}, 0);
  Check({"Conv", {{1, 64, 3, 40}, {64, 64, 3, 3}, {}}, {1, 64, 3, 40}, Ints({{"pads", {1, 1, 1, 1}}}), true}, 0);
  // A transposed A's rows are its columns; a product over batched weights; MatMul's B.
  Attrs trans_a;
  trans_a.SetInt("transA", 1);
  Check({"Gemm", {{256, 40}, {256, 300}, {}}, {40, 300}, trans_a, false}, 0);
  Check({"MatMul", {{4, 40, 64}, {4, 64, 300}}, {4, 40, 300}, Attrs(), false}, 0);
  // One thread.
  env_.num_threads = 1;
  Check({"MatMul", {{37, 300}, {300, 200}}, {37, 200}, Attrs(), false}, 0);
  // A session that keeps OpenMP regions (a training step's: ExecEnv::use_share_team).
  env_.num_threads = 2;
  env_.use_share_team = false;
  Check({"MatMul", {{37, 300}, {300, 200}}, {37, 200}, Attrs(), false}, 0);
}

TEST_F(OneDnnSplitTest, MaxPoolWithIndicesIsNotSplit) {
  KernelSpec spec;
  spec.op_type = "MaxPool";
  spec.attrs = Ints({{"kernel_shape", {2, 2}}});
  spec.env = &env_;
  spec.inputs = {TensorRef{proto::DT_FLOAT, {4, 32, 64, 64}, nullptr}};
  spec.outputs = {TensorRef{proto::DT_FLOAT, {4, 32, 63, 63}, nullptr},
                  TensorRef{proto::DT_INT64, {4, 32, 63, 63}, nullptr}};
  EXPECT_EQ(SplitPartCount(spec), 0);
  spec.outputs.pop_back();
  EXPECT_EQ(SplitPartCount(spec), 2);
}

TEST_F(OneDnnSplitTest, PartsShareTheSessionsScratch) {
  // Plain NCHW at batch 4: each part reorders its activations through scratch.
  Tensor x = testing::RandomTensor({4, 16, 24, 24}, 1), w = testing::RandomTensor({32, 16, 3, 3}, 2);
  Tensor y(proto::DT_FLOAT, {4, 32, 22, 22});
  KernelSpec spec;
  spec.op_type = "Conv";
  spec.env = &env_;
  spec.inputs = {x.ref(), w.ref()};
  spec.constant_inputs = {false, true};
  spec.outputs = {y.ref()};
  ASSERT_EQ(SplitPartCount(spec), 2);
  auto kernel = KernelRegistry::Global().Create("onednn", spec);
  ASSERT_OK(kernel.status());
  ASSERT_EQ((*kernel)->Parts(), 2);
  const int64_t split_scratch = env_.scratch_bytes;
  EXPECT_GT(split_scratch, 0);
  // Two parts of half the batch: about the scratch of the whole, not twice it.
  ExecEnv one_env;
  one_env.engine = &engine_;
  one_env.stream = &stream_;
  one_env.num_threads = 1;
  spec.env = &one_env;
  auto whole = KernelRegistry::Global().Create("onednn", spec);
  ASSERT_OK(whole.status());
  // (oneDNN's scratchpads, in the scratch too, do not halve exactly with the batch.)
  EXPECT_LE(split_scratch, one_env.scratch_bytes * 5 / 4);
}

}  // namespace
}  // namespace kiln

namespace kiln {
namespace {

int64_t ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return -1;
  const int n = std::fscanf(f, "%ld %ld", &pages, &resident);
  std::fclose(f);
  return n == 2 ? resident * sysconf(_SC_PAGESIZE) : -1;
}

// The exact (reference) path of a kernel inside a layout region copies its tensors to plain
// buffers only when a run meets a non-finite value: building the kernel must not allocate
// them (every such kernel held them: ResNet-50 at batch 64 took 8 GB instead of 1.1).
// Large inputs are scanned for NaN and Inf in slices, one per part (onednn_common.cc): a
// value in the last slice, or only in the residual, still sends the run to the reference.
TEST_F(OneDnnSplitTest, NonFiniteValuesInAnySliceOfALargeScanTakeTheExactPath) {
  const Attrs fused = WithActivation(Ints({{"pads", {1, 1, 1, 1}}}));
  const Case c{"FusedConv", {{2, 16, 96, 96}, {16, 16, 3, 3}, {16}, {2, 16, 96, 96}}, {2, 16, 96, 96}, fused, true};
  const int64_t n = 2 * 16 * 96 * 96;  // 295k floats: past the size that splits the scan
  Check(c, 2, 1, {{0, n - 1, std::nanf("")}});
  Check(c, 2, 1, {{0, n / 2 + 5, -INFINITY}});
  Check(c, 2, 1, {{kFusedResidualInput, n - 3, std::nanf("")}});
}

TEST(OneDnnLayoutFallbackTest, PlainCopiesAreNotHeldUntilANonFiniteRun) {
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  ExecEnv env;
  env.engine = &engine;
  env.stream = &stream;
  Tensor w = testing::RandomTensor({16, 16, 3, 3}, 1);
  KernelSpec spec;
  spec.op_type = "Conv";
  spec.attrs = Ints({{"pads", {1, 1, 1, 1}}});
  spec.env = &env;
  const Dims big = {8, 16, 256, 256};  // 32 MiB each, input and output
  spec.inputs = {TensorRef{proto::DT_FLOAT, big, nullptr, proto::LAYOUT_CHANNELS_LAST}, w.ref()};
  spec.constant_inputs = {false, true};
  spec.outputs = {TensorRef{proto::DT_FLOAT, big, nullptr, proto::LAYOUT_CHANNELS_LAST}};
  const int64_t before = ResidentBytes();
  auto kernel = KernelRegistry::Global().Create("onednn", spec);
  ASSERT_OK(kernel.status());
  const int64_t grown = ResidentBytes() - before;
  EXPECT_LT(grown, 16 << 20) << "building the kernel made " << grown << " bytes resident";
}

}  // namespace
}  // namespace kiln
