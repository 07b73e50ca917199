// Helpers for the pass tests: run one pass, run a graph on the reference or the
// oneDNN backend, and check an optimized graph against the unoptimized one.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "compiler/compile.h"
#include "compiler/pass.h"
#include "ir/verifier.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln::testing {

inline StatusOr<bool> RunOnePass(Graph& g, const std::string& name, PassOptions options = {}) {
  auto pass = CreatePass(name);
  if (!pass) return InvalidArgument("no pass ", name);
  return pass->Run(g, options);
}

/// Runs pass `name` on `graph` and checks the changed flag it reports.
inline void ExpectPassChanges(Graph& graph, const std::string& name, bool changed, PassOptions options = {}) {
  auto result = RunOnePass(graph, name, options);
  ASSERT_TRUE(result.ok()) << result.status().message();
  EXPECT_EQ(*result, changed) << name << (changed ? " changed nothing" : " changed the graph");
}

/// Shape-infers `graph`, runs pass `name` and checks that it changes nothing.
inline void ExpectPassLeavesAlone(Graph& graph, const std::string& name) {
  ASSERT_OK(RunOnePass(graph, "infer-shapes").status());
  const int before = graph.num_nodes();
  ExpectPassChanges(graph, name, false);
  EXPECT_EQ(graph.num_nodes(), before);
}

/// Runs `graph` (already shape-inferred) on the reference backend, or on oneDNN
/// where it can run a node, with the given inputs.
inline std::vector<Tensor> Execute(const Graph& graph, const std::vector<Tensor>& inputs, bool use_onednn = false) {
  auto plan = CompileForCpu(graph, {.use_onednn = use_onednn});
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  if (!plan.ok()) return {};
  auto session = runtime::Session::Create(*plan);
  EXPECT_TRUE(session.ok()) << session.status().message();
  if (!session.ok()) return {};
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_OK((*session)->SetInput(static_cast<int>(i), inputs[i].data(), inputs[i].num_bytes()));
  }
  EXPECT_OK((*session)->Run());
  std::vector<Tensor> outputs;
  for (int i = 0; i < (*session)->num_outputs(); ++i) {
    TensorRef r = (*session)->output(i);
    outputs.push_back(*Tensor::FromBytes(r.dtype, r.dims, r.data, r.num_bytes()));
  }
  return outputs;
}

/// Number of nodes of op `op_type` in `graph`.
inline int CountOps(const Graph& graph, const std::string& op_type) {
  int n = 0;
  for (const auto& node : graph.nodes()) n += node->op_type() == op_type ? 1 : 0;
  return n;
}

/// Random inputs of `graph`'s input types (float32), seeded by position.
inline std::vector<Tensor> RandomInputs(const Graph& graph) {
  std::vector<Tensor> inputs;
  for (size_t i = 0; i < graph.inputs().size(); ++i) {
    inputs.push_back(RandomTensor(graph.inputs()[i]->dims(), 100 + static_cast<uint32_t>(i)));
  }
  return inputs;
}

/// `optimized` verifies, keeps `original`'s output names and types, and computes
/// what `original` computes on the reference backend, on the reference backend
/// and on the oneDNN one.
inline void ExpectSameResults(const Graph& original, const Graph& optimized, double atol = 1e-5, double rtol = 1e-4) {
  ASSERT_OK(Verify(optimized));
  ASSERT_EQ(original.outputs().size(), optimized.outputs().size());
  for (size_t i = 0; i < original.outputs().size(); ++i) {
    EXPECT_EQ(original.outputs()[i]->name(), optimized.outputs()[i]->name()) << "output " << i << " was renamed";
    EXPECT_EQ(original.outputs()[i]->type(), optimized.outputs()[i]->type()) << "output " << i;
  }
  const std::vector<Tensor> inputs = RandomInputs(original);
  const std::vector<Tensor> expected = Execute(original, inputs);
  for (bool onednn : {false, true}) {
    const std::vector<Tensor> actual = Execute(optimized, inputs, onednn);
    ASSERT_EQ(actual.size(), expected.size());
    for (size_t i = 0; i < expected.size(); ++i) {
      EXPECT_EQ(CompareTensors(actual[i], expected[i], atol, rtol), "")
          << "output " << i << (onednn ? " (oneDNN plan)" : " (reference plan)");
    }
  }
}

/// Shape-infers `graph` (without folding) and returns a copy: the unoptimized reference.
inline std::unique_ptr<Graph> InferAndClone(Graph& graph) {
  auto st = RunOnePass(graph, "infer-shapes", {.max_fold_elements = 0});
  EXPECT_TRUE(st.ok()) << st.status().message();
  return graph.Clone();
}

}  // namespace kiln::testing
