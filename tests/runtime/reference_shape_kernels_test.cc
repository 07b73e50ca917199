// Reference kernels for data movement, Cast and constants: hand-computed
// cases through runtime::RunReferenceOp, in float and in int64 (shape subgraphs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "ir/core/shape_util.h"
#include "runtime/kernels/reference/ref_util.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

using namespace reftest;  // NOLINT: test helpers

std::vector<int64_t> RunInts(const std::string& op, const Attrs& attrs, const std::vector<Tensor>& inputs,
                             const Dims& out_dims) {
  auto r = RunRef(op, attrs, inputs, {{proto::DT_INT64, out_dims}});
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().message();
  return r.ok() ? Values<int64_t>((*r)[0]) : std::vector<int64_t>{};
}

TEST(ReferenceShapeKernels, CopiesKeepTheBytes) {
  const Tensor x = Iota({2, 3});
  const std::vector<float> v = {0, 1, 2, 3, 4, 5};
  ExpectRef("Identity", {}, {x}, {2, 3}, v);
  ExpectRef("Reshape", {}, {x, Ints({3, -1})}, {3, 2}, v);
  ExpectRef("Flatten", {}, {Iota({2, 3, 1})}, {2, 3}, v);
  ExpectRef("Squeeze", {}, {Iota({1, 2, 3}), Ints({0})}, {2, 3}, v);
  ExpectRef("Unsqueeze", {}, {x, Ints({0})}, {1, 2, 3}, v);
  EXPECT_EQ(RunInts("Reshape", {}, {I64({2, 2}, {1, 2, 3, 4}), Ints({4})}, {4}), (std::vector<int64_t>{1, 2, 3, 4}));
  auto mismatch = RunRef("Reshape", {}, {x, Ints({4})}, {{proto::DT_FLOAT, {4}}});
  EXPECT_FALSE(mismatch.ok());
}

TEST(ReferenceShapeKernels, Transpose) {
  ExpectRef("Transpose", {}, {Iota({2, 3})}, {3, 2}, {0, 3, 1, 4, 2, 5});
  ExpectRef("Transpose", IntsAttr("perm", {1, 0, 2}), {Iota({2, 2, 2})}, {2, 2, 2}, {0, 1, 4, 5, 2, 3, 6, 7});
  // [2, 3, 4] -> perm (2, 0, 1): out[k, i, j] = in[i, j, k] = 12 i + 4 j + k.
  std::vector<float> expected;
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j) expected.push_back(12 * i + 4 * j + k);
  ExpectRef("Transpose", IntsAttr("perm", {2, 0, 1}), {Iota({2, 3, 4})}, {4, 2, 3}, expected);
  EXPECT_EQ(RunInts("Transpose", {}, {I64({2, 2}, {1, 2, 3, 4})}, {2, 2}), (std::vector<int64_t>{1, 3, 2, 4}));
}

TEST(ReferenceShapeKernels, ConcatAndSplit) {
  ExpectRef("Concat", IntAttr("axis", 1), {F({2, 1}, {1, 2}), F({2, 2}, {3, 4, 5, 6})}, {2, 3}, {1, 3, 4, 2, 5, 6});
  ExpectRef("Concat", IntAttr("axis", -1), {F({2, 1}, {1, 2}), F({2, 2}, {3, 4, 5, 6})}, {2, 3}, {1, 3, 4, 2, 5, 6});
  EXPECT_EQ(RunInts("Concat", {}, {Ints({1}), Ints({}), Ints({2, 3})}, {3}), (std::vector<int64_t>{1, 2, 3}));

  auto split = RunRef("Split", IntAttr("axis", 1), {Iota({2, 3}), Ints({1, 2})},
                      {{proto::DT_FLOAT, {2, 1}}, {proto::DT_FLOAT, {2, 2}}});
  ASSERT_OK(split.status());
  EXPECT_EQ(Values<float>((*split)[0]), (std::vector<float>{0, 3}));
  EXPECT_EQ(Values<float>((*split)[1]), (std::vector<float>{1, 2, 4, 5}));
  auto even = RunRef("Split", {}, {Iota({4})}, {{proto::DT_FLOAT, {2}}, {proto::DT_FLOAT, {2}}});
  ASSERT_OK(even.status());
  EXPECT_EQ(Values<float>((*even)[1]), (std::vector<float>{2, 3}));
}

TEST(ReferenceShapeKernels, SliceWithNegativeSteps) {
  const Tensor x = Iota({3, 4});
  ExpectRef("Slice", {}, {x, Ints({0, 1}), Ints({2, 3})}, {2, 2}, {1, 2, 5, 6});
  // Every row, columns 3 then 1 (start -1, step -2, end clamped below 0).
  ExpectRef("Slice", {}, {x, Ints({-1}), Ints({-1000}), Ints({1}), Ints({-2})}, {3, 2}, {3, 1, 7, 5, 11, 9});
  ExpectRef("Slice", {}, {x, Ints({1}), Ints({INT64_MAX}), Ints({0})}, {2, 4}, {4, 5, 6, 7, 8, 9, 10, 11});
  EXPECT_EQ(RunInts("Slice", {}, {Ints({5, 6, 7, 8}), Ints({-2}), Ints({10})}, {2}), (std::vector<int64_t>{7, 8}));
}

// The copy merges dims whose source strides chain and copies contiguous runs whole:
// cases that keep runs (a Concat's gradient), merge dims, drop extent-1 dims and step
// through the innermost axis, each against out[o] = in[start + o * step] per axis.
TEST(ReferenceShapeKernels, SliceRunsAndStridesMatchTheIndexFormula) {
  struct Case {
    Dims input;
    std::vector<int64_t> starts, ends, axes, steps;
  };
  const std::vector<Case> cases = {
      {{4, 5, 6}, {0}, {2}, {2}, {1}},                   // [B, T, a + b] -> [B, T, a]: runs of 2
      {{4, 5, 6}, {2}, {6}, {2}, {1}},                   // ... and [B, T, b]
      {{4, 5, 6}, {1}, {3}, {0}, {1}},                   // whole rows: one run of 60
      {{3, 1, 4, 5}, {0, 1}, {1, 4}, {1, 2}, {1, 1}},    // extent-1 dim, runs of 5 merged over 3 rows
      {{3, 4, 5}, {4, 0}, {-1000, 4}, {2, 1}, {-2, 2}},  // reversed inner axis, stepped middle
      {{2, 3, 4, 5}, {1, 0, 3}, {3, 4, 0}, {1, 2, 3}, {1, 3, -1}},
  };
  for (const Case& c : cases) {
    const Tensor x = Iota(c.input);
    auto range = ResolveSlice(c.input, c.starts, c.ends, c.axes, c.steps);
    ASSERT_OK(range.status());
    const Dims& out = range->output;
    std::vector<float> expected;
    Dims index;
    for (int64_t i = 0; i < ElementCount(out); ++i) {
      runtime::ref::Unflatten(i, out, &index);
      int64_t flat = 0;
      for (size_t d = 0; d < out.size(); ++d) flat = flat * c.input[d] + range->starts[d] + index[d] * range->steps[d];
      expected.push_back(static_cast<float>(flat));
    }
    ExpectRef("Slice", {}, {x, Ints(c.starts), Ints(c.ends), Ints(c.axes), Ints(c.steps)}, out, expected);
  }
}

// Slice and SliceGrad keep their resolved walk between runs (a run allocates nothing): one
// kernel, run again after its starts or its input's shape changed, must follow them.
TEST(ReferenceShapeKernels, SliceFollowsStartsThatChangeBetweenRuns) {
  for (const std::string op : {"Slice", "SliceGrad"}) {
    SCOPED_TRACE(op);
    const bool grad = op == "SliceGrad";
    Tensor x = Iota({3, 4}), starts = Ints({0, 1}), ends = Ints({2, 3});
    Tensor dy = Iota({2, 2}, 1);
    runtime::KernelSpec spec;
    spec.name = "n";
    spec.op_type = op;
    spec.inputs = {grad ? dy.ref() : x.ref(), starts.ref(), ends.ref()};
    Tensor y(proto::DT_FLOAT, grad ? Dims{3, 4} : Dims{2, 2});
    spec.outputs = {y.ref()};
    auto kernel = runtime::KernelRegistry::Global().Create("ref", spec);
    ASSERT_OK(kernel.status());
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    const std::vector<float> first =
        grad ? std::vector<float>{0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 0} : std::vector<float>{1, 2, 5, 6};
    EXPECT_EQ(Values<float>(y), first);
    // Rows 1..2 and columns 0..1 now.
    starts.mutable_data_as<int64_t>()[0] = 1, starts.mutable_data_as<int64_t>()[1] = 0;
    ends.mutable_data_as<int64_t>()[0] = 3, ends.mutable_data_as<int64_t>()[1] = 2;
    ASSERT_OK((*kernel)->Run(spec.inputs, spec.outputs));
    const std::vector<float> second =
        grad ? std::vector<float>{0, 0, 0, 0, 1, 2, 0, 0, 3, 4, 0, 0} : std::vector<float>{4, 5, 8, 9};
    EXPECT_EQ(Values<float>(y), second);
    // A shape the starts no longer fit: an error, not the old walk.
    ends.mutable_data_as<int64_t>()[0] = 2;
    EXPECT_FALSE((*kernel)->Run(spec.inputs, spec.outputs).ok());
  }
}

TEST(ReferenceShapeKernels, GatherWithNegativeAndCheckedIndices) {
  ExpectRef("Gather", {}, {Iota({3, 2}), Ints({2, -3})}, {2, 2}, {4, 5, 0, 1});
  ExpectRef("Gather", IntAttr("axis", 1), {Iota({2, 2}), I32({2, 2}, {1, 0, 0, 1})}, {2, 2, 2},
            {1, 0, 0, 1, 3, 2, 2, 3});
  EXPECT_EQ(RunInts("Gather", {}, {Ints({10, 20, 30}), I64({}, {1})}, {}), (std::vector<int64_t>{20}));
  auto bad = RunRef("Gather", {}, {Iota({5}), Ints({7})}, {{proto::DT_FLOAT, {1}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "index 7 out of range for axis of size 5");
  auto misshaped = RunRef("Gather", IntAttr("axis", 1), {Iota({2, 3}), Ints({0, 2})}, {{proto::DT_FLOAT, {2, 3}}});
  ASSERT_FALSE(misshaped.ok());
  EXPECT_EQ(misshaped.status().message(), "output shape [2, 3] is not [2, 2]");
}

TEST(ReferenceShapeKernels, PadModes) {
  // pads = [begin axis 0, begin axis 1, end axis 0, end axis 1].
  ExpectRef("Pad", {}, {F({2, 2}, {1, 2, 3, 4}), Ints({1, 0, 0, 1}), F({}, {9})}, {3, 3}, {9, 9, 9, 1, 2, 9, 3, 4, 9});
  ExpectRef("Pad", {}, {F({2, 2}, {1, 2, 3, 4}), Ints({0, 1, 0, 0})}, {2, 3}, {0, 1, 2, 0, 3, 4});
  Attrs reflect;
  reflect.SetString("mode", "reflect");
  ExpectRef("Pad", reflect, {F({1, 3}, {1, 2, 3}), Ints({0, 2, 0, 2})}, {1, 7}, {3, 2, 1, 2, 3, 2, 1});
  Attrs edge;
  edge.SetString("mode", "edge");
  ExpectRef("Pad", edge, {F({1, 3}, {1, 2, 3}), Ints({0, 2, 0, 1})}, {1, 6}, {1, 1, 1, 2, 3, 3});
  ExpectRef("Pad", {}, {F({1, 4}, {1, 2, 3, 4}), Ints({0, -1, 0, 1})}, {1, 4}, {2, 3, 4, 0});  // negative pads crop
  EXPECT_EQ(RunInts("Pad", {}, {Ints({1, 2}), Ints({1, 0}), I64({}, {-1})}, {3}), (std::vector<int64_t>{-1, 1, 2}));
  auto too_far = RunRef("Pad", reflect, {F({1, 2}, {1, 2}), Ints({0, 2, 0, 0})}, {{proto::DT_FLOAT, {1, 4}}});
  EXPECT_FALSE(too_far.ok());
}

TEST(ReferenceShapeKernels, ExpandBroadcastsToTheOutput) {
  ExpectRef("Expand", {}, {F({3, 1}, {1, 2, 3}), Ints({2, 1, 2})}, {2, 3, 2}, {1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3});
  EXPECT_EQ(RunInts("Expand", {}, {I64({}, {7}), Ints({3})}, {3}), (std::vector<int64_t>{7, 7, 7}));
  // Broadcast middle, inner, leading and merged axes against out[o] = in[o with broadcast axes at 0].
  const std::vector<std::pair<Dims, Dims>> cases = {
      {{4, 1, 6}, {4, 5, 6}}, {{4, 5, 1}, {4, 5, 6}}, {{5, 6}, {3, 5, 6}}, {{1, 1, 6}, {2, 3, 6}}, {{3, 1}, {2, 3, 4}}};
  for (const auto& [in, out] : cases) {
    std::vector<float> expected;
    Dims index;
    for (int64_t i = 0; i < ElementCount(out); ++i) {
      runtime::ref::Unflatten(i, out, &index);
      int64_t flat = 0;
      const size_t lead = out.size() - in.size();
      for (size_t d = 0; d < in.size(); ++d) flat = flat * in[d] + (in[d] == 1 ? 0 : index[lead + d]);
      expected.push_back(static_cast<float>(flat));
    }
    ExpectRef("Expand", {}, {Iota(in), Ints(out)}, out, expected);
  }
}

TEST(ReferenceShapeKernels, ConstantsAndShape) {
  ExpectRef("Constant",
            [] {
              Attrs a;
              a.SetFloats("value_floats", {1, 2});
              return a;
            }(),
            {}, {2}, {1, 2});
  EXPECT_EQ(RunInts("Constant", IntAttr("value_int", 7), {}, {}), (std::vector<int64_t>{7}));
  EXPECT_EQ(RunInts("Constant", IntsAttr("value_ints", {4, 5}), {}, {2}), (std::vector<int64_t>{4, 5}));
  proto::Tensor value;
  I32({2}, {3, -3}).ToProto(&value);
  Attrs tensor_attr;
  tensor_attr.SetTensor("value", value);
  auto c = RunRef("Constant", tensor_attr, {}, {{proto::DT_INT32, {2}}});
  ASSERT_OK(c.status());
  EXPECT_EQ(Values<int32_t>((*c)[0]), (std::vector<int32_t>{3, -3}));

  ExpectRef("ConstantOfShape", {}, {Ints({2, 2})}, {2, 2}, {0, 0, 0, 0});
  proto::Tensor five;
  I64({1}, {5}).ToProto(&five);
  Attrs fill;
  fill.SetTensor("value", five);
  EXPECT_EQ(RunInts("ConstantOfShape", fill, {Ints({3})}, {3}), (std::vector<int64_t>{5, 5, 5}));

  const Tensor x(proto::DT_FLOAT, {2, 3, 4});
  EXPECT_EQ(RunInts("Shape", {}, {x}, {3}), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(RunInts("Shape", IntAttr("start", 1), {x}, {2}), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(RunInts("Shape", IntAttr("end", -1), {x}, {2}), (std::vector<int64_t>{2, 3}));
}

TEST(ReferenceShapeKernels, CastBetweenDTypes) {
  EXPECT_EQ(RunInts("Cast", IntAttr("to", 7), {F({4}, {1.7f, -2.5f, 0, NAN})}, {4}),
            (std::vector<int64_t>{1, -2, 0, 0}));
  ExpectRef("Cast", IntAttr("to", 1), {Ints({3, -4})}, {2}, {3, -4});
  auto to_bool = RunRef("Cast", IntAttr("to", 9), {F({3}, {0, 0.5f, -2})}, {{proto::DT_BOOL, {3}}});
  ASSERT_OK(to_bool.status());
  EXPECT_EQ(Values<uint8_t>((*to_bool)[0]), (std::vector<uint8_t>{0, 1, 1}));
  ExpectRef("Cast", IntAttr("to", 1), {(*to_bool)[0]}, {3}, {0, 1, 1});
  auto to_u8 = RunRef("Cast", IntAttr("to", 2), {I32({2}, {300, 7})}, {{proto::DT_UINT8, {2}}});
  ASSERT_OK(to_u8.status());
  EXPECT_EQ(Values<uint8_t>((*to_u8)[0]), (std::vector<uint8_t>{44, 7}));  // wraps like numpy astype
  auto to_double = RunRef("Cast", IntAttr("to", 11), {F({1}, {0.25f})}, {{proto::DT_DOUBLE, {1}}});
  ASSERT_OK(to_double.status());
  EXPECT_EQ(Values<double>((*to_double)[0]), (std::vector<double>{0.25}));
  auto to_i8 = RunRef("Cast", IntAttr("to", 3), {F({2}, {-3.9f, 1000})}, {{proto::DT_INT8, {2}}});
  ASSERT_OK(to_i8.status());
  EXPECT_EQ(Values<int8_t>((*to_i8)[0]), (std::vector<int8_t>{-3, 127}));  // out-of-range saturates
}

TEST(ReferenceShapeKernels, CastFloat16RoundTrips) {
  // 2^-24 * 2 is the nearest half to 1e-7; 3.14159 rounds to 3.140625.
  auto half =
      RunRef("Cast", IntAttr("to", 10), {F({6}, {1, 0.5f, 65504, -2, 1e-7f, 3.14159f})}, {{proto::DT_FLOAT16, {6}}});
  ASSERT_OK(half.status());
  EXPECT_EQ(Values<uint16_t>((*half)[0]), (std::vector<uint16_t>{0x3c00, 0x3800, 0x7bff, 0xc000, 0x0002, 0x4248}));
  ExpectRef("Cast", IntAttr("to", 1), {(*half)[0]}, {6}, {1, 0.5f, 65504, -2, 2 * std::ldexp(1.0f, -24), 3.140625f},
            1e-9);
  auto inf = RunRef("Cast", IntAttr("to", 10), {F({2}, {1e6f, NAN})}, {{proto::DT_FLOAT16, {2}}});
  ASSERT_OK(inf.status());
  EXPECT_EQ(Values<uint16_t>((*inf)[0])[0], 0x7c00);
  EXPECT_EQ(Values<uint16_t>((*inf)[0])[1] & 0x7c00, 0x7c00);
}

TEST(ReferenceShapeKernels, DropoutIsIdentityWithTrueMask) {
  auto r =
      RunRef("Dropout", {}, {F({3}, {1, 2, 3}), F({}, {0.3f}), Tensor::FromVector<uint8_t>(proto::DT_BOOL, {}, {0})},
             {{proto::DT_FLOAT, {3}}, {proto::DT_BOOL, {3}}});
  ASSERT_OK(r.status());
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(Values<uint8_t>((*r)[1]), (std::vector<uint8_t>{1, 1, 1}));
  ExpectRef("Dropout", {}, {F({2}, {4, 5})}, {2}, {4, 5});
}

}  // namespace
}  // namespace kiln
