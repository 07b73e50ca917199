// ONNX import of LSTM/GRU/RNN at every version ONNX defines past opset 1 (7,
// lifted by the converter; 14 and 22 mapped by the version table), and the
// one-line error a bad recurrent node gets.
#include <gtest/gtest.h>

#include "frontends/onnx/onnx_importer.h"
#include "ir/core/op_registry.h"
#include "tests/frontends/onnx_test_models.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using testing::AddFloatInitializer;
using testing::AddInput;
using testing::AddNode;
using testing::AddOutput;
using testing::MakeOnnxModel;
using testing::Serialize;

// X [T=4, N=2, I=3] through `op` with hidden size `hidden` (R built for `r_hidden`).
onnx::ModelProto RecurrentModel(int64_t opset, const std::string& op, int64_t gates, int64_t hidden, int64_t r_hidden) {
  onnx::ModelProto m = MakeOnnxModel(opset);
  if (opset >= 14) m.set_ir_version(8);
  AddInput(m, "x", {4, 2, 3});
  AddFloatInitializer(m, "w", {1, gates * hidden, 3}, std::vector<float>(gates * hidden * 3, 0.1f));
  AddFloatInitializer(m, "r", {1, gates * r_hidden, r_hidden}, std::vector<float>(gates * r_hidden * r_hidden, 0.2f));
  auto* node = AddNode(m, op, {"x", "w", "r"}, {"y", "y_h"}, "cell");
  testing::SetIntAttr(node, "hidden_size", hidden);
  AddOutput(m, "y", {4, 1, 2, hidden});
  AddOutput(m, "y_h", {1, 2, hidden});
  return m;
}

TEST(OnnxImportRecurrent, EveryVersionImportsWithItsShapes) {
  const std::pair<const char*, int64_t> ops[] = {{"RNN", 1}, {"GRU", 3}, {"LSTM", 4}};
  for (const auto& [op, gates] : ops) {
    for (int64_t opset : {7, 13, 14, 22}) {
      SCOPED_TRACE(std::string(op) + " opset " + std::to_string(opset));
      auto model = ImportOnnxBytes(Serialize(RecurrentModel(opset, op, gates, 5, 5)), "model.onnx");
      ASSERT_OK(model.status());
      const Node* cell = model->graph->FindNode("cell");
      ASSERT_NE(cell, nullptr);
      EXPECT_EQ(cell->op_type(), op);
      auto types = InferNodeTypes(*cell);
      ASSERT_OK(types.status());
      EXPECT_EQ((*types)[0], (TensorType{proto::DT_FLOAT, {4, 1, 2, 5}}));
      EXPECT_EQ((*types)[1], (TensorType{proto::DT_FLOAT, {1, 2, 5}}));
    }
  }
}

TEST(OnnxImportRecurrent, MismatchedHiddenSizeNamesTheNode) {
  auto model = ImportOnnxBytes(Serialize(RecurrentModel(14, "LSTM", 4, 5, 4)), "model.onnx");
  ASSERT_OK(model.status());  // shapes are checked by shape inference, on the IR
  auto types = InferNodeTypes(*model->graph->FindNode("cell"));
  ASSERT_FALSE(types.ok());
  EXPECT_EQ(types.status().message(), "cell (LSTM): hidden_size 5 does not match R [1, 16, 4] (hidden size 4)");
}

}  // namespace
}  // namespace kiln
