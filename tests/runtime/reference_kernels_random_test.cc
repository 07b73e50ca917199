// Randomized agreement between shape inference and the reference kernels:
// every op with random inputs (shapes, dtypes, omitted optionals) and random
// attributes. Whatever shape inference accepts, the kernel must run (integer
// division by zero, out-of-range labels and negative Adam steps aside) and
// never crash; run under KILN_SANITIZE for memory errors.
#include <gtest/gtest.h>

#include <random>

#include "ir/core/op_registry.h"
#include "ir/graph.h"
#include "runtime/kernel.h"
#include "tests/runtime/reference_test_util.h"

namespace kiln {
namespace {

Tensor RandomValues(std::mt19937& rng, DType dtype, const Dims& dims) {
  Tensor t(dtype, dims);
  std::uniform_int_distribution<int> dist(-4, 5);
  for (int64_t i = 0; i < t.num_elements(); ++i) {
    const int v = dist(rng);
    switch (dtype) {
      case proto::DT_FLOAT: t.mutable_data_as<float>()[i] = v * 0.37f; break;
      case proto::DT_INT64: t.mutable_data_as<int64_t>()[i] = v; break;
      case proto::DT_INT32: t.mutable_data_as<int32_t>()[i] = v; break;
      case proto::DT_BOOL: t.mutable_data_as<uint8_t>()[i] = v & 1; break;
      case proto::DT_FLOAT16: t.mutable_data_as<uint16_t>()[i] = static_cast<uint16_t>(0x3c00 + v); break;
      case proto::DT_BFLOAT16: t.mutable_data_as<uint16_t>()[i] = FloatToBFloat16(v * 0.37f); break;
      case proto::DT_INT16: t.mutable_data_as<int16_t>()[i] = static_cast<int16_t>(v); break;
      case proto::DT_UINT16: t.mutable_data_as<uint16_t>()[i] = static_cast<uint16_t>(v + 4); break;
      case proto::DT_UINT64: t.mutable_data_as<uint64_t>()[i] = static_cast<uint64_t>(v + 4); break;
      default: break;
    }
  }
  return t;
}

Attrs RandomAttrs(std::mt19937& rng, const OpDef& def) {
  static const char* const kStrings[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID", "constant", "reflect", "edge"};
  Attrs a;
  for (const AttrSpec& spec : def.attrs) {
    if (rng() % 2) continue;
    switch (spec.type) {
      case AttrType::kInt: a.SetInt(spec.name, static_cast<int>(rng() % 7) - 2); break;
      case AttrType::kFloat: a.SetFloat(spec.name, (static_cast<int>(rng() % 9) - 3) * 0.5f); break;
      case AttrType::kInts: {
        std::vector<int64_t> v(rng() % 7);
        for (int64_t& x : v) x = static_cast<int>(rng() % 5) - 1;
        a.SetInts(spec.name, v);
        break;
      }
      case AttrType::kFloats: a.SetFloats(spec.name, {1.0f, 2.0f}); break;
      case AttrType::kString: a.SetString(spec.name, kStrings[rng() % 7]); break;
      default: break;  // tensor attributes (Constant, ConstantOfShape) keep their defaults
    }
  }
  return a;
}

TEST(ReferenceKernelsRandom, WhatShapeInferenceAcceptsTheKernelRuns) {
  std::mt19937 rng(42);
  const std::vector<DType> kTypes = {proto::DT_FLOAT,  proto::DT_INT64,    proto::DT_INT32,
                                     proto::DT_BOOL,   proto::DT_FLOAT16,  proto::DT_INT16,
                                     proto::DT_UINT16, proto::DT_BFLOAT16, proto::DT_UINT64};
  const std::vector<const OpDef*> defs = AllOpDefs();
  int ran = 0;
  for (int iter = 0; iter < 24000; ++iter) {
    const OpDef& def = *defs[rng() % defs.size()];
    if (reftest::RewrittenBeforeLowering(def.name)) continue;
    Graph g;
    const int max_inputs = std::min(def.max_inputs, 5);
    const int num_inputs = def.min_inputs + static_cast<int>(rng() % (max_inputs - def.min_inputs + 1));
    const DType main_type = rng() % 3 ? proto::DT_FLOAT : kTypes[rng() % kTypes.size()];
    std::vector<Value*> inputs;
    for (int i = 0; i < num_inputs; ++i) {
      if (i > 0 && rng() % 6 == 0) {
        inputs.push_back(nullptr);
        continue;
      }
      Dims dims(rng() % 5);
      for (int64_t& d : dims) d = rng() % 4;
      if (i > 0 && rng() % 3 == 0) dims = {static_cast<int64_t>(rng() % 6)};  // shape-like vectors
      const DType dtype = i == 0 || rng() % 2 ? main_type : kTypes[rng() % 3];
      inputs.push_back(g.AddConstant("c", RandomValues(rng, dtype, dims)));
    }
    int num_outputs = def.min_outputs;
    if (def.max_outputs > def.min_outputs) num_outputs += static_cast<int>(rng() % std::min(3, def.max_outputs));
    num_outputs = std::min(num_outputs, def.max_outputs);
    const Attrs attrs = RandomAttrs(rng, def);
    Node* node = g.AddNode(def.name, "n", inputs, num_outputs, attrs);
    auto types = InferNodeTypes(*node);
    if (!types.ok()) continue;
    std::vector<TensorRef> in_refs, out_refs;
    for (Value* v : inputs) in_refs.push_back(v ? v->constant().ref() : TensorRef{});
    std::vector<Tensor> outputs;
    for (const TensorType& t : *types) outputs.emplace_back(t.dtype, t.dims);
    for (const Tensor& t : outputs) out_refs.push_back(t.ref());
    const Status st = runtime::RunReferenceOp(def.name, "n", attrs, in_refs, out_refs);
    if (!st.ok() && st.message() == "integer division by zero") continue;
    // Data-dependent run-time errors of the training ops: random class labels and Adam steps.
    if (!st.ok() && (st.message().rfind("label ", 0) == 0 || st.message().rfind("step -", 0) == 0)) continue;
    ASSERT_TRUE(st.ok()) << def.name << " [" << attrs.ToString() << "]: shape inference accepted it but the kernel "
                         << "said: " << st.message();
    ++ran;
  }
  EXPECT_GT(ran, 5000);  // the generator must keep producing valid cases
}

}  // namespace
}  // namespace kiln
