#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "compiler/compile.h"
#include "frontends/load_model.h"
#include "frontends/onnx/onnx_importer.h"
#include "runtime/session.h"
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

std::string WriteModel(const std::string& bytes, const std::string& leaf = "model.onnx") {
  std::string path = testing::MakeTempDir() + "/" + leaf;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

StatusOr<Model> Import(const onnx::ModelProto& m) { return ImportOnnxBytes(Serialize(m), "model.onnx"); }

// Runs the inference passes and returns the type of graph output 0.
StatusOr<TensorType> InferredOutputType(Graph& graph) {
  RETURN_IF_ERROR(PrepareForInference(graph, PassOptions{}));
  return graph.outputs()[0]->type();
}

// Compiles and runs `graph` with one float input; returns output 0.
StatusOr<Tensor> RunFloat(Graph& graph, const Tensor& input) {
  ASSIGN_OR_RETURN(proto::Plan plan, CompileToPlan(graph));
  ASSIGN_OR_RETURN(auto session, runtime::Session::Create(plan));
  RETURN_IF_ERROR(session->SetInput(0, input.data(), static_cast<size_t>(input.num_bytes())));
  RETURN_IF_ERROR(session->Run());
  TensorRef out = session->output(0);
  return Tensor::FromBytes(out.dtype, out.dims, out.data, static_cast<size_t>(out.num_bytes()));
}

TEST(OnnxImport, InitializersAreParameterConstantsNotInputs) {
  onnx::ModelProto m = MakeOnnxModel(13);
  AddInput(m, "x", {2, 3});
  AddInput(m, "b", {3});  // listed as an input too, as older exporters do
  AddFloatInitializer(m, "b", {3}, {1, -2, 3});
  AddNode(m, "Add", {"x", "b"}, {"s"}, "add");
  AddNode(m, "Relu", {"s"}, {"y"});  // unnamed: known by its output
  AddOutput(m, "y", {2, 3});
  auto model = Import(m);
  ASSERT_OK(model.status());
  Graph& g = *model->graph;
  ASSERT_EQ(g.inputs().size(), 1u);
  EXPECT_EQ(g.inputs()[0]->name(), "x");
  Value* b = g.FindValue("b");
  ASSERT_NE(b, nullptr);
  EXPECT_TRUE(b->is_constant());
  EXPECT_TRUE(b->is_parameter());
  EXPECT_NE(g.FindNode("add"), nullptr);
  EXPECT_NE(g.FindNode("y"), nullptr);

  Tensor x = Tensor::FromVector<float>(proto::DT_FLOAT, {2, 3}, {0, 0, 0, -5, 5, -5});
  auto y = RunFloat(g, x);
  ASSERT_OK(y.status());
  Tensor expected = Tensor::FromVector<float>(proto::DT_FLOAT, {2, 3}, {1, 0, 3, 0, 3, 0});
  EXPECT_EQ(testing::CompareTensors(*y, expected, 0, 0), "");
}

TEST(OnnxImport, TypedInitializerFieldsAndConstantNodes) {
  onnx::ModelProto m = MakeOnnxModel(13);
  AddInput(m, "x", {2, 2});
  AddFloatInitializer(m, "w", {2, 2}, {1, 2, 3, 4}, /*raw=*/false);
  onnx::TensorProto* d = m.mutable_graph()->add_initializer();
  d->set_name("d");
  d->set_data_type(onnx::TensorProto::DOUBLE);
  d->add_dims(2);
  d->add_double_data(0.5);
  d->add_double_data(-1.5);
  onnx::TensorProto* i32 = m.mutable_graph()->add_initializer();
  i32->set_name("i32");
  i32->set_data_type(onnx::TensorProto::INT32);
  i32->add_dims(3);
  for (int v : {7, -8, 9}) i32->add_int32_data(v);
  onnx::NodeProto* c = AddNode(m, "Constant", {}, {"shape"}, "const_shape");
  auto* attr = c->add_attribute();
  attr->set_name("value");
  attr->set_type(onnx::AttributeProto::TENSOR);
  attr->mutable_t()->set_data_type(onnx::TensorProto::INT64);
  attr->mutable_t()->add_dims(1);
  attr->mutable_t()->add_int64_data(4);
  AddNode(m, "Mul", {"x", "w"}, {"p"});
  AddNode(m, "Reshape", {"p", "shape"}, {"y"});
  AddOutput(m, "y", {4});
  auto model = Import(m);
  ASSERT_OK(model.status());
  Graph& g = *model->graph;
  const Tensor& dt = g.FindValue("d")->constant();
  EXPECT_EQ(dt.dtype(), proto::DT_DOUBLE);
  EXPECT_EQ(dt.data_as<double>()[1], -1.5);
  const Tensor& it = g.FindValue("i32")->constant();
  EXPECT_EQ(it.dtype(), proto::DT_INT32);
  EXPECT_EQ(it.data_as<int32_t>()[1], -8);
  EXPECT_FALSE(g.FindValue("i32")->is_parameter());
  Value* shape = g.FindValue("shape");
  ASSERT_TRUE(shape && shape->is_constant());
  EXPECT_EQ(shape->constant().ToInt64Vector(), std::vector<int64_t>{4});

  auto type = InferredOutputType(*g.Clone());
  ASSERT_OK(type.status());
  EXPECT_EQ(*type, (TensorType{proto::DT_FLOAT, {4}}));
  auto y = RunFloat(g, Tensor::FromVector<float>(proto::DT_FLOAT, {2, 2}, {1, 1, 2, 2}));
  ASSERT_OK(y.status());
  EXPECT_EQ(testing::CompareTensors(*y, Tensor::FromVector<float>(proto::DT_FLOAT, {4}, {1, 2, 6, 8}), 0, 0), "");
}

TEST(OnnxImport, DimParamsBecomeSymbolicDims) {
  onnx::ModelProto m = MakeOnnxModel(13);
  AddInput(m, "x", {-1, 3});
  m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim();  // no value
  AddNode(m, "Relu", {"x"}, {"y"});
  AddOutput(m, "y", {-1, 3});
  auto model = Import(m);
  ASSERT_OK(model.status());
  Value* x = model->graph->inputs()[0];
  EXPECT_EQ(x->dims(), (Dims{-1, 3, -1}));
  ASSERT_EQ(x->symbolic_dims().size(), 2u);
  EXPECT_EQ(x->symbolic_dims()[0], (std::pair<int, std::string>{0, "N"}));
  EXPECT_EQ(x->symbolic_dims()[1].first, 2);
}

TEST(OnnxImport, EveryUnsupportedOpIsReportedWithItsNodes) {
  onnx::ModelProto m = MakeOnnxModel(13);
  AddInput(m, "x", {2});
  AddNode(m, "Foo", {"x"}, {"a"}, "n1");
  AddNode(m, "Bar", {"a"}, {"b"}, "n2");
  AddNode(m, "Foo", {"b"}, {"c"});  // unnamed: reported by its output
  AddNode(m, "Relu", {"c"}, {"y"}, "ok");
  AddOutput(m, "y", {2});
  auto model = Import(m);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(model.status().message(), "model.onnx: unsupported ops: Foo (nodes n1, c), Bar (node n2)");
}

TEST(OnnxImport, ForeignDomainIsUnsupported) {
  onnx::ModelProto m = MakeOnnxModel(13);
  auto* op = m.add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  AddInput(m, "x", {2});
  AddNode(m, "Relu", {"x"}, {"y"}, "r")->set_domain("com.example");
  AddOutput(m, "y", {2});
  auto model = Import(m);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(model.status().message().find("com.example.Relu (node r)"), std::string::npos) << model.status().message();
}

TEST(OnnxImport, TruncatedCorruptAndMissingFiles) {
  onnx::ModelProto m = MakeOnnxModel(13);
  AddInput(m, "x", {64});
  AddFloatInitializer(m, "w", {64}, std::vector<float>(64, 1.0f));
  AddNode(m, "Add", {"x", "w"}, {"y"});
  AddOutput(m, "y", {64});
  std::string bytes = Serialize(m);
  std::string truncated = WriteModel(bytes.substr(0, bytes.size() - 40));
  auto model = ImportOnnxFile(truncated);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(), truncated + ": not a valid ONNX model (truncated or corrupt protobuf)");

  std::string garbage = WriteModel("\xff\xff\xff\xff garbage \x01\x02");
  model = LoadModel(garbage);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("not a valid ONNX model"), std::string::npos) << model.status().message();

  EXPECT_FALSE(ImportOnnxFile(WriteModel("")).ok());

  model = ImportOnnxFile("/nonexistent/dir/model.onnx");
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kNotFound);
  EXPECT_NE(model.status().message().find("/nonexistent/dir/model.onnx"), std::string::npos);
}

TEST(OnnxImport, CheckerFindingsAreErrors) {
  onnx::ModelProto m = MakeOnnxModel(13);
  AddInput(m, "x", {2});
  AddNode(m, "Relu", {"x", "x"}, {"y"}, "r");  // Relu takes one input
  AddOutput(m, "y", {2});
  auto model = Import(m);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("model.onnx: invalid ONNX model"), std::string::npos)
      << model.status().message();
  EXPECT_NE(model.status().message().find("Node (r)"), std::string::npos) << model.status().message();
}

TEST(OnnxImport, BrokenGraphStructureIsReportedBeforeLibonnxSeesIt) {
  onnx::ModelProto m = MakeOnnxModel(6);
  AddInput(m, "x", {2});
  AddNode(m, "Relu", {"x"}, {"y"}, "r");
  AddNode(m, "Relu", {"x"}, {"y"}, "r2");  // y defined twice: not SSA
  AddOutput(m, "y", {2});
  auto model = Import(m);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(), "model.onnx: r2 (Relu): output 'y' is already defined");
  m.mutable_graph()->mutable_node()->RemoveLast();
  m.mutable_graph()->mutable_output(0)->set_name("nowhere");  // libonnx's converter crashes on this
  model = Import(m);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().message(), "model.onnx: graph output 'nowhere' is not defined");
}

TEST(OnnxImport, AbsurdSizesAreRejectedWithoutAllocating) {
  {  // 2^40 elements declared by an initializer with no data
    onnx::ModelProto m = MakeOnnxModel(13);
    AddInput(m, "x", {1});
    onnx::TensorProto* t = m.mutable_graph()->add_initializer();
    t->set_name("huge");
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_dims(int64_t{1} << 20);
    t->add_dims(int64_t{1} << 20);
    AddNode(m, "Add", {"x", "huge"}, {"y"});
    AddOutput(m, "y", {1});
    auto model = Import(m);
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.status().message().find("initializer 'huge'"), std::string::npos) << model.status().message();
    EXPECT_NE(model.status().message().find("2^34"), std::string::npos) << model.status().message();
  }
  {  // ... and by an input shape
    onnx::ModelProto m = MakeOnnxModel(13);
    AddInput(m, "x", {int64_t{1} << 40});
    AddNode(m, "Relu", {"x"}, {"y"});
    AddOutput(m, "y", {1});
    auto model = Import(m);
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.status().message().find("input 'x'"), std::string::npos) << model.status().message();
  }
  {  // data shorter than the dims say
    onnx::ModelProto m = MakeOnnxModel(13);
    AddInput(m, "x", {4});
    onnx::TensorProto* t = AddFloatInitializer(m, "w", {4}, {1, 2, 3, 4});
    t->set_raw_data(t->raw_data().substr(0, 8));
    AddNode(m, "Add", {"x", "w"}, {"y"});
    AddOutput(m, "y", {4});
    EXPECT_FALSE(Import(m).ok());
  }
}

TEST(OnnxImport, ExternalDataAndUnsupportedTypesAreClearErrors) {
  {
    onnx::ModelProto m = MakeOnnxModel(13);
    AddInput(m, "x", {2});
    onnx::TensorProto* t = AddFloatInitializer(m, "w", {2}, {});
    t->clear_raw_data();
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value("weights.bin");
    AddNode(m, "Add", {"x", "w"}, {"y"});
    AddOutput(m, "y", {2});
    auto model = Import(m);
    ASSERT_FALSE(model.ok());
    EXPECT_NE(model.status().message().find("external"), std::string::npos) << model.status().message();
  }
  {
    onnx::ModelProto m = MakeOnnxModel(13);
    AddInput(m, "s", {2}, onnx::TensorProto::STRING);
    AddNode(m, "Identity", {"s"}, {"y"});
    AddOutput(m, "y", {2}, onnx::TensorProto::STRING);
    auto model = Import(m);
    ASSERT_FALSE(model.ok());
    EXPECT_EQ(model.status().code(), StatusCode::kUnimplemented);
    EXPECT_NE(model.status().message().find("input 's': unsupported dtype STRING"), std::string::npos)
        << model.status().message();
  }
}

// Every opset from 1 to 17 imports (lifted to or mapped down to 13).
TEST(OnnxImportLegacy, EveryOpsetFrom1To17Imports) {
  for (int64_t opset = 1; opset <= 17; ++opset) {
    onnx::ModelProto m = MakeOnnxModel(opset);
    AddInput(m, "x", {2, 3});
    AddInput(m, "z", {2, 3});
    auto* add = AddNode(m, "Add", {"x", "z"}, {"s"}, "add");
    if (opset < 6) testing::SetIntsAttr(add, "consumed_inputs", {0, 0});
    AddNode(m, "Relu", {"s"}, {"y"}, "relu");
    AddOutput(m, "y", {2, 3});
    auto model = Import(m);
    ASSERT_OK(model.status());
    EXPECT_TRUE(model->graph->FindNode("add")->attrs().all().empty()) << "opset " << opset;
    auto type = InferredOutputType(*model->graph);
    ASSERT_OK(type.status());
    EXPECT_EQ(*type, (TensorType{proto::DT_FLOAT, {2, 3}})) << "opset " << opset;
  }
}

// Opset 6: Add with legacy broadcast=1, axis=1 broadcasts B [3] over dim 1 of A [2, 3, 4].
TEST(OnnxImportLegacy, Add6BroadcastAxis) {
  onnx::ModelProto m = MakeOnnxModel(6);
  AddInput(m, "a", {2, 3, 4});
  AddFloatInitializer(m, "b", {3}, {10, 20, 30});
  auto* add = AddNode(m, "Add", {"a", "b"}, {"y"}, "add");
  testing::SetIntAttr(add, "broadcast", 1);
  testing::SetIntAttr(add, "axis", 1);
  AddOutput(m, "y", {2, 3, 4});
  auto model = Import(m);
  ASSERT_OK(model.status());
  auto type = InferredOutputType(*model->graph->Clone());
  ASSERT_OK(type.status());
  EXPECT_EQ(*type, (TensorType{proto::DT_FLOAT, {2, 3, 4}}));
  Tensor a(proto::DT_FLOAT, {2, 3, 4});
  auto y = RunFloat(*model->graph, a);
  ASSERT_OK(y.status());
  ASSERT_EQ(y->dims(), (Dims{2, 3, 4}));
  for (int64_t i = 0; i < 24; ++i) EXPECT_EQ(y->data_as<float>()[i], 10.0f * ((i / 4) % 3 + 1)) << i;
}

// Legacy models go through libonnx's shape inference, which divides by strides,
// dilations, kernel sizes and groups unchecked: zero must be an error naming the node,
// not a SIGFPE (fuzz_model_loaders found the Conv case; its input is the seed
// tests/fuzz/seeds/model_loaders/conv6_zero_stride.onnx).
TEST(OnnxImportLegacy, ZeroStridesDilationsKernelsAndGroupsAreErrors) {
  struct Case {
    const char* attr;
    std::vector<int64_t> ints;  // empty: an int attribute of 0
  };
  for (const Case& c :
       {Case{"strides", {0, 1}}, Case{"dilations", {1, 0}}, Case{"kernel_shape", {3, 0}}, Case{"group", {}}}) {
    onnx::ModelProto m = MakeOnnxModel(6);
    AddInput(m, "x", {2, 3, 7, 5});
    AddFloatInitializer(m, "w", {4, 3, 3, 2}, std::vector<float>(72, 0.5f));
    auto* conv = AddNode(m, "Conv", {"x", "w"}, {"y"}, "conv");
    auto* attr = conv->add_attribute();
    attr->set_name(c.attr);
    if (c.ints.empty()) {
      attr->set_type(onnx::AttributeProto::INT);
      attr->set_i(0);
    } else {
      attr->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : c.ints) attr->add_ints(v);
    }
    AddOutput(m, "y", {2, 4, 5, 4});
    auto model = Import(m);
    ASSERT_FALSE(model.ok()) << c.attr;
    EXPECT_NE(model.status().message().find("'conv' (Conv): attribute '" + std::string(c.attr) + "' must be positive"),
              std::string::npos)
        << model.status().message();
  }
}

TEST(OnnxImportLegacy, BatchNorm6AttributesAndGemm6) {
  auto make_bn = [](int64_t is_test, int64_t spatial) {
    onnx::ModelProto m = MakeOnnxModel(6);
    AddInput(m, "x", {1, 2, 1, 1});
    AddFloatInitializer(m, "s", {2}, {1, 2});
    AddFloatInitializer(m, "b", {2}, {0, 1});
    AddFloatInitializer(m, "mean", {2}, {0, 0});
    AddFloatInitializer(m, "var", {2}, {1, 1});
    auto* bn = AddNode(m, "BatchNormalization", {"x", "s", "b", "mean", "var"}, {"y"}, "bn");
    testing::SetIntAttr(bn, "is_test", is_test);
    testing::SetIntAttr(bn, "spatial", spatial);
    testing::SetFloatAttr(bn, "epsilon", 0.0f);
    AddOutput(m, "y", {1, 2, 1, 1});
    return m;
  };
  auto model = Import(make_bn(1, 1));
  ASSERT_OK(model.status());
  const Node* bn = model->graph->FindNode("bn");
  ASSERT_NE(bn, nullptr);
  EXPECT_FALSE(bn->attrs().Has("is_test"));
  EXPECT_FALSE(bn->attrs().Has("spatial"));
  auto y = RunFloat(*model->graph, Tensor::FromVector<float>(proto::DT_FLOAT, {1, 2, 1, 1}, {3, 3}));
  ASSERT_OK(y.status());
  EXPECT_EQ(testing::CompareTensors(*y, Tensor::FromVector<float>(proto::DT_FLOAT, {1, 2, 1, 1}, {3, 7}), 1e-6, 0), "");

  auto training = Import(make_bn(0, 1));
  ASSERT_FALSE(training.ok());
  EXPECT_NE(training.status().message().find("is_test=0"), std::string::npos) << training.status().message();
  auto per_activation = Import(make_bn(1, 0));
  ASSERT_FALSE(per_activation.ok());
  EXPECT_NE(per_activation.status().message().find("spatial=0"), std::string::npos);

  onnx::ModelProto g = MakeOnnxModel(6);
  AddInput(g, "a", {2, 2});
  AddFloatInitializer(g, "w", {2, 3}, {1, 0, 1, 0, 1, 1});
  AddFloatInitializer(g, "c", {3}, {100, 200, 300});
  auto* gemm = AddNode(g, "Gemm", {"a", "w", "c"}, {"y"}, "gemm");
  testing::SetIntAttr(gemm, "broadcast", 1);
  AddOutput(g, "y", {2, 3});
  auto gm = Import(g);
  ASSERT_OK(gm.status());
  EXPECT_FALSE(gm->graph->FindNode("gemm")->attrs().Has("broadcast"));
  auto gy = RunFloat(*gm->graph, Tensor::FromVector<float>(proto::DT_FLOAT, {2, 2}, {1, 2, 3, 4}));
  ASSERT_OK(gy.status());
  EXPECT_EQ(testing::CompareTensors(
                *gy, Tensor::FromVector<float>(proto::DT_FLOAT, {2, 3}, {101, 202, 303, 103, 204, 307}), 0, 0),
            "");
}

// AveragePool-1 never counts padding; opset 13's default (count_include_pad=0) agrees.
TEST(OnnxImportLegacy, AveragePool1ExcludesPadding) {
  onnx::ModelProto m = MakeOnnxModel(1);
  m.set_ir_version(3);
  AddInput(m, "x", {1, 1, 2, 2});
  auto* pool = AddNode(m, "AveragePool", {"x"}, {"y"}, "pool");
  testing::SetIntsAttr(pool, "kernel_shape", {2, 2});
  testing::SetIntsAttr(pool, "pads", {1, 1, 0, 0});
  AddOutput(m, "y", {1, 1, 2, 2});
  auto model = Import(m);
  ASSERT_OK(model.status());
  EXPECT_EQ(model->graph->FindNode("pool")->attrs().GetInt("count_include_pad", 0), 0);
  auto y = RunFloat(*model->graph, Tensor::FromVector<float>(proto::DT_FLOAT, {1, 1, 2, 2}, {1, 2, 3, 4}));
  ASSERT_OK(y.status());
  EXPECT_EQ(
      testing::CompareTensors(*y, Tensor::FromVector<float>(proto::DT_FLOAT, {1, 1, 2, 2}, {1, 1.5, 2, 2.5}), 1e-6, 0),
      "");
}

TEST(OnnxImportLegacy, Opset15ShapeAndTrainingMode) {
  onnx::ModelProto m = MakeOnnxModel(15);
  m.set_ir_version(8);
  AddInput(m, "x", {2, 3, 4});
  auto* shape = AddNode(m, "Shape", {"x"}, {"s"}, "shape");
  testing::SetIntAttr(shape, "start", 1);
  AddOutput(m, "s", {2}, onnx::TensorProto::INT64);
  auto model = Import(m);
  ASSERT_OK(model.status());
  EXPECT_EQ(model->graph->FindNode("shape")->attrs().GetInt("start", 0), 1);

  onnx::ModelProto bn = MakeOnnxModel(15);
  bn.set_ir_version(8);
  AddInput(bn, "x", {1, 2});
  for (const char* n : {"s", "b", "mean", "var"}) AddFloatInitializer(bn, n, {2}, {1, 1});
  auto* node = AddNode(bn, "BatchNormalization", {"x", "s", "b", "mean", "var"}, {"y"}, "bn");
  testing::SetIntAttr(node, "training_mode", 1);
  AddOutput(bn, "y", {1, 2});
  auto r = Import(bn);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("training_mode=1"), std::string::npos) << r.status().message();

  onnx::ModelProto future = MakeOnnxModel(99);
  AddInput(future, "x", {1});
  AddNode(future, "Relu", {"x"}, {"y"});
  AddOutput(future, "y", {1});
  auto f = Import(future);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("opset 99"), std::string::npos) << f.status().message();
}

// Opsets 18-28: ops whose semantics did not change since 13 import as they are.
TEST(OnnxImportOpsets, EveryOpsetFrom18To28Imports) {
  for (int64_t opset = 18; opset <= 28; ++opset) {
    onnx::ModelProto m = MakeOnnxModel(opset);
    m.set_ir_version(10);
    AddInput(m, "x", {2, 3});
    AddInput(m, "z", {2, 3});
    AddNode(m, "Add", {"x", "z"}, {"s"}, "add");
    AddNode(m, "Relu", {"s"}, {"r"}, "relu");
    AddNode(m, "Mish", {"r"}, {"mish"}, "mish");  // new in ONNX 18, a row of ir/core/ops/unary.def
    auto* cast = AddNode(m, "Cast", {"mish"}, {"y"}, "cast");
    testing::SetIntAttr(cast, "to", onnx::TensorProto::FLOAT);
    if (opset >= 19) testing::SetIntAttr(cast, "saturate", 1);
    AddOutput(m, "y", {2, 3});
    auto model = Import(m);
    ASSERT_TRUE(model.ok()) << "opset " << opset << ": " << model.status().message();
    EXPECT_FALSE(model->graph->FindNode("cast")->attrs().Has("saturate"));
    auto type = InferredOutputType(*model->graph);
    ASSERT_OK(type.status());
    EXPECT_EQ(*type, (TensorType{proto::DT_FLOAT, {2, 3}})) << "opset " << opset;
  }
  onnx::ModelProto future = MakeOnnxModel(29);
  AddInput(future, "x", {1});
  AddNode(future, "Relu", {"x"}, {"y"});
  AddOutput(future, "y", {1});
  auto f = Import(future);
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(f.status().message().find("opset 29 is newer than the newest supported (28)"), std::string::npos)
      << f.status().message();
}

onnx::TensorProto* AddInt64Initializer(onnx::ModelProto& m, const std::string& name, const std::vector<int64_t>& v) {
  onnx::TensorProto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<int64_t>(v.size()));
  for (int64_t x : v) t->add_int64_data(x);
  return t;
}

// ReduceMean 18 takes axes as an input; the importer moves a constant one to the
// IR's attribute (a computed one stays an input). Empty axes with noop_with_empty_axes=1 is the identity.
TEST(OnnxImportOpsets, Reduce18AxesInput) {
  onnx::ModelProto m = MakeOnnxModel(18);
  AddInput(m, "x", {2, 3});
  AddInt64Initializer(m, "axes", {1});
  auto* mean = AddNode(m, "ReduceMean", {"x", "axes"}, {"y"}, "mean");
  testing::SetIntAttr(mean, "keepdims", 0);
  AddOutput(m, "y", {2});
  auto model = Import(m);
  ASSERT_OK(model.status());
  EXPECT_EQ(model->graph->FindNode("mean")->attrs().GetInts("axes"), std::vector<int64_t>{1});
  auto y = RunFloat(*model->graph, Tensor::FromVector<float>(proto::DT_FLOAT, {2, 3}, {1, 2, 3, 4, 5, 9}));
  ASSERT_OK(y.status());
  EXPECT_EQ(testing::CompareTensors(*y, Tensor::FromVector<float>(proto::DT_FLOAT, {2}, {2, 6}), 1e-6, 0), "");

  onnx::ModelProto noop = MakeOnnxModel(20);
  AddInput(noop, "x", {2, 3});
  auto* max = AddNode(noop, "ReduceMax", {"x"}, {"y"}, "max");
  testing::SetIntAttr(max, "noop_with_empty_axes", 1);
  AddOutput(noop, "y", {2, 3});
  auto n = Import(noop);
  ASSERT_OK(n.status());
  EXPECT_EQ(n->graph->FindNode("max")->op_type(), "Identity");

  onnx::ModelProto dynamic = MakeOnnxModel(18);
  AddInput(dynamic, "x", {2, 3});
  AddInput(dynamic, "axes", {1}, onnx::TensorProto::INT64);
  AddNode(dynamic, "ReduceMean", {"x", "axes"}, {"y"}, "mean");
  AddOutput(dynamic, "y", {1, 1});
  // Axes computed in the graph (here: a graph input) stay the IR's axes input, which
  // must be constant once folded: compiling names the node.
  auto d = Import(dynamic);
  ASSERT_OK(d.status());
  EXPECT_EQ(d->graph->FindNode("mean")->num_inputs(), 2);
  auto compiled = CompileToPlan(*d->graph);
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find("mean (ReduceMean): needs a constant 'axes' input"), std::string::npos)
      << compiled.status().message();
}

// Gelu 20: approximate="none" (the default) is the IR's Gelu, "tanh" its GeluTanh; other values are errors.
TEST(OnnxImportOpsets, Gelu20Approximate) {
  for (const char* approximate : {"", "none", "tanh", "sigmoid"}) {
    onnx::ModelProto m = MakeOnnxModel(20);
    AddInput(m, "x", {3});
    onnx::NodeProto* gelu = AddNode(m, "Gelu", {"x"}, {"y"}, "gelu");
    if (*approximate) {
      onnx::AttributeProto* a = gelu->add_attribute();
      a->set_name("approximate");
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(approximate);
    }
    AddOutput(m, "y", {3});
    auto model = Import(m);
    if (std::string(approximate) == "sigmoid") {
      ASSERT_FALSE(model.ok());
      EXPECT_NE(model.status().message().find("gelu (Gelu): approximate must be \"none\" or \"tanh\", got \"sigmoid\""),
                std::string::npos)
          << model.status().message();
      continue;
    }
    ASSERT_OK(model.status());
    const Node* node = model->graph->FindNode("gelu");
    EXPECT_EQ(node->op_type(), std::string(approximate) == "tanh" ? "GeluTanh" : "Gelu") << approximate;
    EXPECT_FALSE(node->attrs().Has("approximate"));
  }
}

// Split 18's num_outputs: parts of ceil(5 / 3) = 2, the last one smaller.
TEST(OnnxImportOpsets, Split18NumOutputs) {
  onnx::ModelProto m = MakeOnnxModel(18);
  AddInput(m, "x", {5});
  auto* split = AddNode(m, "Split", {"x"}, {"a", "b", "c"}, "split");
  testing::SetIntAttr(split, "num_outputs", 3);
  for (const char* o : {"a", "b", "c"}) AddOutput(m, o, {-1});
  auto model = Import(m);
  ASSERT_OK(model.status());
  ASSERT_OK(PrepareForInference(*model->graph, PassOptions{}));
  EXPECT_EQ(model->graph->outputs()[0]->dims(), (Dims{2}));
  EXPECT_EQ(model->graph->outputs()[2]->dims(), (Dims{1}));

  testing::SetIntAttr(m.mutable_graph()->mutable_node(0), "num_outputs", 2);  // a second, conflicting value
  m.mutable_graph()->mutable_node(0)->mutable_attribute()->DeleteSubrange(0, 1);
  auto wrong = Import(m);
  ASSERT_OK(wrong.status());
  Status s = PrepareForInference(*wrong->graph, PassOptions{});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("num_outputs is 2 but the node has 3 outputs"), std::string::npos) << s.message();
}

// Pad 18's axes input and 19's wrap mode.
TEST(OnnxImportOpsets, Pad18AxesAndWrap) {
  onnx::ModelProto m = MakeOnnxModel(19);
  AddInput(m, "x", {2, 3});
  AddInt64Initializer(m, "pads", {1, 2});  // axis -1: one before, two after
  AddInt64Initializer(m, "axes", {-1});
  auto* pad = AddNode(m, "Pad", {"x", "pads", "", "axes"}, {"y"}, "pad");
  auto* mode = pad->add_attribute();
  mode->set_name("mode");
  mode->set_type(onnx::AttributeProto::STRING);
  mode->set_s("wrap");
  AddOutput(m, "y", {2, 6});
  auto model = Import(m);
  ASSERT_OK(model.status());
  auto y = RunFloat(*model->graph, Tensor::FromVector<float>(proto::DT_FLOAT, {2, 3}, {1, 2, 3, 4, 5, 6}));
  ASSERT_OK(y.status());
  EXPECT_EQ(testing::CompareTensors(
                *y, Tensor::FromVector<float>(proto::DT_FLOAT, {2, 6}, {3, 1, 2, 3, 1, 2, 6, 4, 5, 6, 4, 5}), 0, 0),
            "");
}

// AveragePool 19's dilations: windows of every other cell.
TEST(OnnxImportOpsets, AveragePool19Dilations) {
  onnx::ModelProto m = MakeOnnxModel(19);
  AddInput(m, "x", {1, 1, 4, 4});
  auto* pool = AddNode(m, "AveragePool", {"x"}, {"y"}, "pool");
  testing::SetIntsAttr(pool, "kernel_shape", {2, 2});
  testing::SetIntsAttr(pool, "dilations", {2, 2});
  AddOutput(m, "y", {1, 1, 2, 2});
  auto r = Import(m);
  ASSERT_OK(r.status());
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i) x[i] = static_cast<float>(i);
  auto y = RunFloat(*r->graph, Tensor::FromVector<float>(proto::DT_FLOAT, {1, 1, 4, 4}, x));
  ASSERT_OK(y.status());
  // Window (0, 0) averages cells 0, 2, 8, 10; the others shift by one.
  EXPECT_EQ(
      testing::CompareTensors(*y, Tensor::FromVector<float>(proto::DT_FLOAT, {1, 1, 2, 2}, {5, 6, 9, 10}), 1e-6, 0),
      "");
}

}  // namespace
}  // namespace kiln
