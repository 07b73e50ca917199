// `kiln run` prints outputs of every dtype of the IR (issue 10: float16 printed "?").
#include <gtest/gtest.h>

#include <fstream>

#include "frontends/tensor_io.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

TEST(RunDTypesCliTest, EveryOutputDTypePrintsItsValues) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = dir + "/casts.kiln.txt";
  // One Cast per dtype (ONNX type numbers: 10 float16, 11 float64, 7 int64, 6 int32, 3 int8, 2 uint8, 9 bool).
  std::ofstream(model) << R"(graph {
    name: "casts"
    input { name: "x" dtype: DT_FLOAT dims { size: 3 } }
    node { name: "f16" op_type: "Cast" input: ["x"] output: ["y_f16"] attribute { name: "to" i: 10 } }
    node { name: "f64" op_type: "Cast" input: ["x"] output: ["y_f64"] attribute { name: "to" i: 11 } }
    node { name: "i64" op_type: "Cast" input: ["x"] output: ["y_i64"] attribute { name: "to" i: 7 } }
    node { name: "i32" op_type: "Cast" input: ["x"] output: ["y_i32"] attribute { name: "to" i: 6 } }
    node { name: "i8" op_type: "Cast" input: ["x"] output: ["y_i8"] attribute { name: "to" i: 3 } }
    node { name: "u8" op_type: "Cast" input: ["x"] output: ["y_u8"] attribute { name: "to" i: 2 } }
    node { name: "b" op_type: "Cast" input: ["x"] output: ["y_bool"] attribute { name: "to" i: 9 } }
    output { name: "y_f16" } output { name: "y_f64" } output { name: "y_i64" } output { name: "y_i32" }
    output { name: "y_i8" } output { name: "y_u8" } output { name: "y_bool" }
  })";
  const std::string input = dir + "/x.npy";
  ASSERT_TRUE(WriteTensorFile(input, Tensor::FromVector<float>(proto::DT_FLOAT, {3}, {1.5f, 7.0f, 0.0f})).ok());
  std::string out;
  ASSERT_EQ(testing::RunCommand(std::string(KILN_TOOL_PATH) + " run " + model + " --input " + input, &out), 0) << out;
  EXPECT_EQ(out,
            "y_f16: float16[3]\n[1.5, 7., 0.]\n"
            "y_f64: float64[3]\n[1.5, 7., 0.]\n"
            "y_i64: int64[3]\n[1, 7, 0]\n"
            "y_i32: int32[3]\n[1, 7, 0]\n"
            "y_i8: int8[3]\n[1, 7, 0]\n"
            "y_u8: uint8[3]\n[1, 7, 0]\n"
            "y_bool: bool[3]\n[True, True, False]\n");
}

}  // namespace
}  // namespace kiln
