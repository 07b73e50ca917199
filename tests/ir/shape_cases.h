// The table format of the shape-inference tests (op_shape_test.cc,
// gradient_op_shape_test.cc): a case is an op, its inputs (graph inputs of a
// type, constants, or omitted), attributes, and the expected output types or a
// fragment of the expected error. CheckShapeCase runs one through a real Graph.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "ir/core/op_registry.h"
#include "ir/graph.h"
#include "tests/test_util.h"

namespace kiln::shape_cases {

inline TensorType F32(Dims d) { return {proto::DT_FLOAT, std::move(d)}; }
inline TensorType F64(Dims d) { return {proto::DT_DOUBLE, std::move(d)}; }
inline TensorType I64(Dims d) { return {proto::DT_INT64, std::move(d)}; }
inline TensorType I32(Dims d) { return {proto::DT_INT32, std::move(d)}; }
inline TensorType U8(Dims d) { return {proto::DT_UINT8, std::move(d)}; }
inline TensorType I16(Dims d) { return {proto::DT_INT16, std::move(d)}; }
inline TensorType Bool(Dims d) { return {proto::DT_BOOL, std::move(d)}; }

// One node input: a graph input of a type, a constant, or omitted.
struct In {
  TensorType type;
  std::optional<Tensor> value;
  bool present = true;
};
inline In X(TensorType t) { return {std::move(t), std::nullopt}; }
inline In None() { return {{}, std::nullopt, false}; }
inline In Ints(std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return {I64({n}), Tensor::FromVector(proto::DT_INT64, {n}, v)};
}
inline In Ints32(std::vector<int32_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return {I32({n}), Tensor::FromVector(proto::DT_INT32, {n}, v)};
}
inline In FloatScalar(float v) { return {F32({}), Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v})}; }
inline In BoolScalar(bool v) { return {Bool({}), Tensor::FromVector(proto::DT_BOOL, {}, std::vector<uint8_t>{v})}; }

// Fluent attribute builder: A().i("axis", 1).ints("perm", {1, 0}).
struct A {
  Attrs attrs;
  A& i(const std::string& n, int64_t v) { return attrs.SetInt(n, v), *this; }
  A& f(const std::string& n, float v) { return attrs.SetFloat(n, v), *this; }
  A& s(const std::string& n, const std::string& v) { return attrs.SetString(n, v), *this; }
  A& ints(const std::string& n, const std::vector<int64_t>& v) { return attrs.SetInts(n, v), *this; }
  A& floats(const std::string& n, const std::vector<float>& v) { return attrs.SetFloats(n, v), *this; }
  A& strs(const std::string& n, const std::vector<std::string>& v) { return attrs.SetStrings(n, v), *this; }
  A& tensor(const std::string& n, const Tensor& t) {
    proto::Tensor p;
    t.ToProto(&p);
    return attrs.SetTensor(n, p), *this;
  }
};

struct Case {
  std::string op;
  std::vector<In> inputs;
  A attrs;
  std::vector<TensorType> expected;  // one per output; empty when `error` is expected
  std::string error = "";            // fragment of the expected message (prefixed with "n (Op): ")
  int num_outputs = 0;               // for error cases: how many outputs the node has (default: the op's minimum)
};

inline std::string CaseName(const Case& c, size_t index) {
  return "case " + std::to_string(index) + " (" + c.op + (c.error.empty() ? "" : ", error") + ")";
}

// Builds node "n" of the case's op and checks InferNodeTypes against it.
inline void CheckShapeCase(const Case& c) {
  Graph g;
  std::vector<Value*> inputs;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const In& in = c.inputs[i];
    const std::string name = "in" + std::to_string(i);
    if (!in.present) {
      inputs.push_back(nullptr);
    } else if (in.value) {
      inputs.push_back(g.AddConstant(name, *in.value));
    } else {
      inputs.push_back(g.AddInput(name, in.type));
    }
  }
  const OpDef* def = FindOpDef(c.op);
  int num_outputs = c.expected.empty() ? std::max(1, def ? def->min_outputs : 1) : static_cast<int>(c.expected.size());
  if (c.expected.empty() && c.num_outputs > 0) num_outputs = c.num_outputs;
  Node* node = g.AddNode(c.op, "n", inputs, num_outputs, c.attrs.attrs);
  auto types = InferNodeTypes(*node);
  if (!c.error.empty()) {
    ASSERT_FALSE(types.ok()) << "expected an error containing: " << c.error;
    const std::string& msg = types.status().message();
    EXPECT_EQ(msg.rfind("n (" + c.op + "): ", 0), 0u) << msg;
    EXPECT_NE(msg.find(c.error), std::string::npos) << msg;
    return;
  }
  ASSERT_OK(types.status());
  ASSERT_EQ(types->size(), c.expected.size());
  for (size_t i = 0; i < c.expected.size(); ++i) {
    EXPECT_TRUE((*types)[i] == c.expected[i])
        << "output " << i << ": got " << (*types)[i].ToString() << ", want " << c.expected[i].ToString();
  }
}

}  // namespace kiln::shape_cases
