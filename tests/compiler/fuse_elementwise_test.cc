// fuse-elementwise and its kernels: the groups the pass forms (and the nodes it
// must leave alone), the reference interpreter against the unfused graph
// (bit-identical), and the LLVM-generated kernels against both (broadcast
// patterns, odd sizes, transcendental accuracy, partial row ranges, in place); the
// reduction tails (FusedReduction: softmaxes and bias-gradient sums) likewise.
#include "compiler/passes/fuse_elementwise.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/codegen/jit.h"
#include "compiler/load.h"
#include "compiler/pass.h"
#include "ir/core/fused_program.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNan = std::numeric_limits<float>::quiet_NaN();

Status InferShapes(Graph& g) { return RunPipeline(g, {{"infer-shapes"}}, PassOptions{}); }

StatusOr<bool> Fuse(Graph& g, std::vector<FusionDecision>* decisions = nullptr) {
  PassOptions options;
  options.fusion_decisions = decisions;
  auto pass = CreatePass("fuse-elementwise");
  if (!pass) return NotFound("no pass fuse-elementwise");
  ASSIGN_OR_RETURN(bool changed, pass->Run(g, options));
  RETURN_IF_ERROR(RunPipeline(g, {{"dce"}}, options));
  return changed;
}

int CountOps(const Graph& g, const std::string& op) {
  int n = 0;
  for (const auto& node : g.nodes()) n += node->op_type() == op ? 1 : 0;
  return n;
}

enum class Engine { kReference, kJit };

// Runs `g` on the reference kernels; fused steps run the interpreter (kReference) or generated code (kJit).
std::vector<Tensor> Execute(const Graph& g, const std::vector<Tensor>& inputs, Engine engine) {
  auto plan = CompileForCpu(g, {.use_onednn = false});
  EXPECT_OK(plan.status());
  if (!plan.ok()) return {};
  auto session = engine == Engine::kJit ? LoadPlan(*plan) : runtime::Session::Create(*plan);
  EXPECT_OK(session.status());
  if (!session.ok()) return {};
  auto outputs = testing::RunOnce(**session, inputs);
  EXPECT_OK(outputs.status());
  return outputs.ok() ? *outputs : std::vector<Tensor>{};
}

// Closeness that treats NaN = NaN and equal infinities as equal; reports the worst relative error.
std::string Compare(const Tensor& actual, const Tensor& expected, double rtol, double atol, double* max_rel = nullptr) {
  if (actual.dims() != expected.dims())
    return "shape " + DimsToString(actual.dims()) + " vs " + DimsToString(expected.dims());
  for (int64_t i = 0; i < actual.num_elements(); ++i) {
    const double a = actual.data_as<float>()[i], e = expected.data_as<float>()[i];
    if ((std::isnan(a) && std::isnan(e)) || a == e) continue;
    const double err = std::fabs(a - e);
    if (max_rel && std::isfinite(err) && std::fabs(e) > 1e-30) *max_rel = std::max(*max_rel, err / std::fabs(e));
    if (!(err <= atol + rtol * std::fabs(e))) {
      return "element " + std::to_string(i) + ": got " + std::to_string(a) + ", expected " + std::to_string(e);
    }
  }
  return "";
}

Node* Op(Graph& g, const std::string& op, const std::vector<Value*>& in, Attrs attrs = {}) {
  return g.AddNode(op, op, in, 1, std::move(attrs));
}
Value* Scalar(Graph& g, float v) {
  return g.AddConstant("c", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v}));
}

TEST(FuseElementwiseTest, FusesABroadcastChainIntoOneNode) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 4, 5}});
  Value* b = g.AddInput("b", {proto::DT_FLOAT, {1, 3, 1, 1}});
  Value* t = Op(g, "Add", {x, b})->output(0);
  Value* r = Op(g, "Relu", {t})->output(0);
  Node* m = g.AddNode("Mul", "m", {r, Scalar(g, 0.5f)});
  g.AddOutput(m->output(0));
  ASSERT_OK(InferShapes(g));
  auto changed = Fuse(g);
  ASSERT_OK(changed.status());
  EXPECT_TRUE(*changed);
  ASSERT_EQ(g.num_nodes(), 1);
  const Node& fused = *g.nodes().front();
  EXPECT_EQ(fused.op_type(), "FusedElementwise");
  EXPECT_EQ(fused.attrs().GetString("program", ""), "t0=Add(i0,i1); t1=Relu(t0); t2=Mul(t1,0.5); o0=t2");
  EXPECT_EQ(fused.inputs(), (std::vector<Value*>{x, b}));
  EXPECT_EQ(g.outputs()[0]->name(), "m") << "graph outputs keep their names";
  EXPECT_EQ(g.outputs()[0]->dims(), (Dims{2, 3, 4, 5}));
  auto again = Fuse(g);
  ASSERT_OK(again.status());
  EXPECT_FALSE(*again) << "a fused graph has nothing left to fuse";
}

TEST(FuseElementwiseTest, ValuesReadOutsideTheGroupBecomeOutputs) {
  // s = sigmoid(x + y) is read by the chain and by ReduceSum: the fused node has two outputs.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {4, 6}});
  Value* y = g.AddInput("y", {proto::DT_FLOAT, {6}});
  Value* s = Op(g, "Sigmoid", {Op(g, "Add", {x, y})->output(0)})->output(0);
  Value* z = Op(g, "Tanh", {Op(g, "Mul", {s, x})->output(0)})->output(0);
  g.AddOutput(z);
  g.AddOutput(Op(g, "ReduceSum", {s})->output(0));
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  EXPECT_EQ(CountOps(g, "FusedElementwise"), 1);
  EXPECT_EQ(g.num_nodes(), 2);
  const std::vector<Tensor> inputs = {testing::RandomTensor({4, 6}, 1), testing::RandomTensor({6}, 2)};
  const auto expected = Execute(*unfused, inputs, Engine::kReference);
  const auto interpreted = Execute(g, inputs, Engine::kReference);
  const auto jit = Execute(g, inputs, Engine::kJit);
  ASSERT_EQ(expected.size(), 2u);
  ASSERT_EQ(interpreted.size(), 2u);
  ASSERT_EQ(jit.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Compare(interpreted[i], expected[i], 0, 0), "") << "output " << i;
    EXPECT_EQ(Compare(jit[i], expected[i], 1e-6, 1e-6), "") << "output " << i;
  }
}

TEST(FuseElementwiseTest, LeavesNonFloatSingleAndNonElementwiseOpsAlone) {
  Graph g;
  Value* i = g.AddInput("i", {proto::DT_INT64, {8}});
  Value* j = g.AddInput("j", {proto::DT_INT64, {8}});
  g.AddOutput(g.AddNode("Mul", "imul", {g.AddNode("Add", "iadd", {i, j})->output(0), j})->output(0));
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 8}});
  Value* soft = g.AddNode("Softmax", "softmax", {x})->output(0);
  g.AddOutput(g.AddNode("Relu", "lone_relu", {soft})->output(0));
  ASSERT_OK(InferShapes(g));
  std::vector<FusionDecision> decisions;
  auto changed = Fuse(g, &decisions);
  ASSERT_OK(changed.status());
  EXPECT_FALSE(*changed);
  EXPECT_EQ(CountOps(g, "FusedElementwise"), 0);
  ASSERT_EQ(decisions.size(), 4u);
  const std::string text = FormatFusionDecisions(decisions);
  EXPECT_NE(text.find("iadd (Add): not fused: input 0 is int64: only float32 fuses"), std::string::npos) << text;
  EXPECT_NE(text.find("softmax (Softmax): not fused: reduction not fused: its operand is not computed by fusable"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("lone_relu (Relu): not fused: single op"), std::string::npos) << text;
  EXPECT_NE(text.find("Fusion: 0 of 4 nodes"), std::string::npos) << text;
}

TEST(FuseElementwiseTest, NeverFusesAStateUpdate) {
  // The update of `s` is relu(s + x): the memory planner may write it in place, so it stays a node.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {5}});
  Value* s = g.AddState("s", Tensor(proto::DT_FLOAT, {5}));
  Value* sum = g.AddNode("Add", "sum", {s, x})->output(0);
  Value* update = g.AddNode("Relu", "update", {sum})->output(0);
  g.SetStateUpdate(s, update);
  g.AddOutput(g.AddNode("Exp", "exp", {g.AddNode("Neg", "neg", {sum})->output(0)})->output(0));
  ASSERT_OK(InferShapes(g));
  std::vector<FusionDecision> decisions;
  ASSERT_OK(Fuse(g, &decisions).status());
  ASSERT_NE(g.FindNode("update"), nullptr);
  EXPECT_EQ(g.states()[0].update, g.FindNode("update")->output(0));
  const std::string text = FormatFusionDecisions(decisions);
  EXPECT_NE(text.find("update (Relu): not fused: produces a state update"), std::string::npos) << text;
  EXPECT_NE(text.find("neg (Neg): fused into"), std::string::npos) << text;
}

TEST(FuseElementwiseTest, DoesNotFuseAcrossAnOutsideReader) {
  // c = a + sum(a): fusing a and c would need sum(a) before a exists.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {3, 4}});
  Value* a = g.AddNode("Relu", "a", {x})->output(0);
  Value* total = g.AddNode("ReduceSum", "total", {a})->output(0);
  g.AddOutput(g.AddNode("Add", "c", {a, total})->output(0));
  ASSERT_OK(InferShapes(g));
  std::vector<FusionDecision> decisions;
  auto changed = Fuse(g, &decisions);
  ASSERT_OK(changed.status());
  EXPECT_FALSE(*changed);
  const std::string text = FormatFusionDecisions(decisions);
  EXPECT_NE(text.find("past their reader total (ReduceSum)"), std::string::npos) << text;
}

TEST(FusedGeometryTest, CollapsesDimsThatBroadcastAlike) {
  auto g = ComputeFusedGeometry({{2, 3, 4, 5}, {2, 3, 1, 1}}, {2, 3, 4, 5});
  ASSERT_OK(g.status());
  EXPECT_EQ(g->outer, (Dims{6}));
  EXPECT_EQ(g->inner, 20);
  EXPECT_EQ(g->inner_stride, (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(g->outer_strides[0], (std::vector<int64_t>{20}));
  EXPECT_EQ(g->outer_strides[1], (std::vector<int64_t>{1}));
  EXPECT_EQ(g->iterations, 6);
  auto flat = ComputeFusedGeometry({{1000, 30}, {}}, {1000, 30});
  ASSERT_OK(flat.status());
  EXPECT_TRUE(flat->outer.empty());
  EXPECT_EQ(flat->inner, 30000);
  EXPECT_EQ(flat->chunks, 4) << "a long run is cut into rows of at most 8192";
  EXPECT_EQ(flat->iterations, 4);
  EXPECT_FALSE(ComputeFusedGeometry({{3}}, {4}).ok());
}

TEST(FusedProgramTest, RoundTripsAndRejectsMalformedPrograms) {
  const std::string text = "t0=Add(i0,i1); t1=Clip(t0,-3.40282347e+38,6); t2=Pow(t1,0.333333343); o0=t2; o1=t0";
  auto program = ParseFusedProgram(text);
  ASSERT_OK(program.status());
  EXPECT_EQ(FormatFusedProgram(*program), text);
  EXPECT_EQ(program->num_inputs, 2);
  for (const auto& [bad, error] :
       std::vector<std::pair<std::string, std::string>>{{"t0=Relu(t1); o0=t0", "t1 is used before it is defined"},
                                                        {"t0=Pow(i0,i1); o0=t0", "argument 2 must be a number"},
                                                        {"t0=Relu(i0); o1=t0", "never assigns output o0"},
                                                        {"t0=Add(i0); o0=t0", "Add takes 2 arguments"}}) {
    auto parsed = ParseFusedProgram(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find(error), std::string::npos) << parsed.status().message();
  }
  // Without outputs: a FusedReduction's program (its reduction is the output), not a FusedElementwise's.
  auto silent = ParseFusedProgram("t0=Relu(i0)");
  ASSERT_OK(silent.status());
  EXPECT_TRUE(silent->outputs.empty());
  Graph g;
  Attrs attrs;
  attrs.SetString("program", "t0=Relu(i0)");
  g.AddOutput(g.AddNode("FusedElementwise", "f", {g.AddInput("x", {proto::DT_FLOAT, {3}})}, 1, attrs)->output(0));
  const Status st = InferShapes(g);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("fused program has no outputs"), std::string::npos) << st.message();
}

struct BroadcastCase {
  const char* name;
  Dims x, y;
};

class FusedBroadcastTest : public ::testing::TestWithParam<BroadcastCase> {};

// out = tanh(sigmoid(x + y) * x - y), s = sigmoid(x + y) also an output; x has the full shape.
TEST_P(FusedBroadcastTest, InterpreterIsExactAndJitMatches) {
  const BroadcastCase& c = GetParam();
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, c.x});
  Value* y = g.AddInput("y", {proto::DT_FLOAT, c.y});
  Value* s = Op(g, "Sigmoid", {Op(g, "Add", {x, y})->output(0)})->output(0);
  Value* d = Op(g, "Sub", {Op(g, "Mul", {s, x})->output(0), y})->output(0);
  g.AddOutput(Op(g, "Tanh", {d})->output(0));
  g.AddOutput(s);
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  ASSERT_EQ(g.num_nodes(), 1);
  const std::vector<Tensor> inputs = {testing::RandomTensor(c.x, 3, -3, 3), testing::RandomTensor(c.y, 4, -3, 3)};
  const auto expected = Execute(*unfused, inputs, Engine::kReference);
  const auto interpreted = Execute(g, inputs, Engine::kReference);
  const auto jit = Execute(g, inputs, Engine::kJit);
  ASSERT_EQ(interpreted.size(), 2u);
  ASSERT_EQ(jit.size(), 2u);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(Compare(interpreted[i], expected[i], 0, 0), "") << "interpreter, output " << i;
    EXPECT_EQ(Compare(jit[i], expected[i], 1e-6, 1e-6), "") << "jit, output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Patterns, FusedBroadcastTest,
    ::testing::Values(BroadcastCase{"scalar", {37, 19}, {}}, BroadcastCase{"row", {33, 29}, {29}},
                      BroadcastCase{"column", {33, 29}, {33, 1}}, BroadcastCase{"channels", {2, 5, 7, 9}, {2, 5, 1, 1}},
                      BroadcastCase{"middle", {3, 4, 5}, {1, 4, 1}}, BroadcastCase{"same", {7, 13}, {7, 13}},
                      BroadcastCase{"single_element", {1}, {1}}, BroadcastCase{"long_rows", {3, 20001}, {3, 1}}),
    [](const auto& info) { return std::string(info.param.name); });

struct UnaryCase {
  const char* op;
  Attrs attrs;
  float lo, hi;  // random inputs in [lo, hi), plus the special values
  std::vector<Value*> (*extra)(Graph&) = nullptr;
  double abs_tolerance = 1e-37;
};

class FusedUnaryAccuracyTest : public ::testing::TestWithParam<UnaryCase> {};

// op(x) followed by Neg (exact), so any error is the op's: generated code within 1e-6 relative.
TEST_P(FusedUnaryAccuracyTest, JitMatchesReference) {
  const UnaryCase& c = GetParam();
  std::vector<float> values;
  const Tensor random = testing::RandomTensor({10007}, 7, c.lo, c.hi);
  values.assign(random.data_as<float>(), random.data_as<float>() + random.num_elements());
  for (float v : {0.0f,  -0.0f,  kInf,    -kInf,  kNan,    1e-40f, -1e-40f, 1e-8f, -1e-8f, 88.5f,
                  89.0f, -87.5f, -104.0f, 0.625f, -0.625f, 0.5f,   -0.5f,   1.0f,  2.0f,   1e30f}) {
    values.push_back(v);
  }
  const Dims dims = {static_cast<int64_t>(values.size())};
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, dims});
  std::vector<Value*> ins = {x};
  if (c.extra) {
    for (Value* v : c.extra(g)) ins.push_back(v);
  }
  g.AddOutput(Op(g, "Neg", {g.AddNode(c.op, c.op, ins, 1, c.attrs)->output(0)})->output(0));
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  ASSERT_EQ(CountOps(g, "FusedElementwise"), 1);
  const std::vector<Tensor> inputs = {Tensor::FromVector(proto::DT_FLOAT, dims, values)};
  const auto expected = Execute(*unfused, inputs, Engine::kReference);
  const auto jit = Execute(g, inputs, Engine::kJit);
  ASSERT_EQ(jit.size(), 1u);
  double max_rel = 0;
  EXPECT_EQ(Compare(jit[0], expected[0], 1e-6, c.abs_tolerance, &max_rel), "");
  std::printf("[ %s ] max relative error of the generated kernel: %.3g\n", c.op, max_rel);
}

Attrs Alpha(float alpha) {
  Attrs a;
  a.SetFloat("alpha", alpha);
  return a;
}
Attrs Grad(const char* function) {
  Attrs a;
  a.SetString("function", function);
  return a;
}

INSTANTIATE_TEST_SUITE_P(
    Ops, FusedUnaryAccuracyTest,
    ::testing::Values(
        UnaryCase{"Exp", {}, -80, 80}, UnaryCase{"Log", {}, 1e-30f, 1e30f}, UnaryCase{"Log", {}, 0.5f, 2.0f},
        UnaryCase{"Tanh", {}, -10, 10}, UnaryCase{"Tanh", {}, -0.7f, 0.7f}, UnaryCase{"Sigmoid", {}, -30, 30},
        UnaryCase{"Softplus", {}, -30, 30}, UnaryCase{"Softsign", {}, -5, 5}, UnaryCase{"Mish", {}, -20, 20},
        UnaryCase{"Erf", {}, -6, 6}, UnaryCase{"Erf", {}, -0.01f, 0.01f}, UnaryCase{"Elu", Alpha(0.7f), -3, 3},
        UnaryCase{"Selu", {}, -3, 3}, UnaryCase{"LeakyRelu", Alpha(0.1f), -3, 3}, UnaryCase{"Sqrt", {}, 0, 100},
        UnaryCase{"Relu", {}, -1, 1}, UnaryCase{"Abs", {}, -1, 1}, UnaryCase{"Sign", {}, -1, 1},
        UnaryCase{"Sin", {}, -10, 10}, UnaryCase{"Sin", {}, -1e4f, 1e4f}, UnaryCase{"Cos", {}, -10, 10},
        UnaryCase{"Tan", {}, -1.5f, 1.5f}, UnaryCase{"Asin", {}, -1, 1}, UnaryCase{"Acos", {}, -1, 1},
        UnaryCase{"Atan", {}, -100, 100}, UnaryCase{"Sinh", {}, -20, 20}, UnaryCase{"Cosh", {}, -20, 20},
        UnaryCase{"Asinh", {}, -1e3f, 1e3f}, UnaryCase{"Acosh", {}, 1, 1e3f}, UnaryCase{"Atanh", {}, -1, 1},
        UnaryCase{"Floor", {}, -1e3f, 1e3f}, UnaryCase{"Ceil", {}, -1e3f, 1e3f}, UnaryCase{"Round", {}, -8, 8},
        UnaryCase{"Gelu", {}, -0.5f, 6},
        // 1 + erf(x / sqrt 2) cancels for x << 0: an absolute error of about ulp(1) |x| / 2, as in the
        // float kernels of PyTorch and oneDNN (the relative error grows as gelu(x) vanishes).
        UnaryCase{"Gelu", {}, -6, 6, nullptr, 5e-7}, UnaryCase{"GeluTanh", {}, -2, 6},
        // sigmoid(2u) for u << 0: the float rounding of u costs |2u| ulp relative (3e-6 at x = -6).
        UnaryCase{"GeluTanh", {}, -6, 6, nullptr, 1e-9}, UnaryCase{"Swish", {}, -20, 20},
        UnaryCase{"Swish", Alpha(0.3f), -20, 20},
        UnaryCase{"Pow", {}, 0, 10, [](Graph& g) { return std::vector<Value*>{Scalar(g, 2.0f)}; }},
        UnaryCase{"Pow", {}, -4, 4, [](Graph& g) { return std::vector<Value*>{Scalar(g, 0.5f)}; }},
        UnaryCase{"Pow", {}, -4, 4, [](Graph& g) { return std::vector<Value*>{Scalar(g, 1.7f)}; }},
        UnaryCase{"Clip",
                  {},
                  -10,
                  10,
                  [](Graph& g) {
                    return std::vector<Value*>{Scalar(g, -1.5f), Scalar(g, 6.0f)};
                  }},
        UnaryCase{"Max", {}, -1, 1, [](Graph& g) { return std::vector<Value*>{Scalar(g, 0.25f)}; }},
        UnaryCase{"EltwiseGrad", Grad("sigmoid"), 0, 1, [](Graph& g) { return std::vector<Value*>{g.FindValue("x")}; }},
        UnaryCase{"EltwiseGrad", Grad("tanh"), -1, 1, [](Graph& g) { return std::vector<Value*>{g.FindValue("x")}; }},
        UnaryCase{"EltwiseGrad", Grad("relu"), -1, 1, [](Graph& g) { return std::vector<Value*>{g.FindValue("x")}; }}),
    [](const auto& info) { return std::string(info.param.op) + "_" + std::to_string(info.index); });

// A plan with one fused step: out = relu(x * 2 + y) over x [7, 1003], y [7, 1].
struct FusedPlan {
  proto::Plan plan;
  std::vector<Tensor> inputs;
  Tensor expected;
};

FusedPlan MakeFusedPlan() {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {7, 1003}});
  Value* y = g.AddInput("y", {proto::DT_FLOAT, {7, 1}});
  Value* t = Op(g, "Add", {Op(g, "Mul", {x, Scalar(g, 2.0f)})->output(0), y})->output(0);
  g.AddOutput(Op(g, "Relu", {t})->output(0));
  EXPECT_OK(InferShapes(g));
  EXPECT_OK(Fuse(g).status());
  FusedPlan p;
  p.inputs = {testing::RandomTensor({7, 1003}, 11), testing::RandomTensor({7, 1}, 12)};
  p.expected = Execute(g, p.inputs, Engine::kReference).at(0);
  auto plan = CompileForCpu(g, {.use_onednn = false});
  EXPECT_OK(plan.status());
  p.plan = *plan;
  return p;
}

TEST(FusedKernelTest, ComputesExactlyTheRowsAskedForAndWorksInPlace) {
  FusedPlan p = MakeFusedPlan();
  ASSERT_EQ(p.plan.step_size(), 1);
  const proto::Step& step = p.plan.step(0);
  ASSERT_EQ(step.kernel(), "jit");
  const Attrs attrs(step.attribute());
  EXPECT_EQ(attrs.GetString("symbol", ""), "kiln_fused_0");
  ASSERT_EQ(attrs.GetInt("iterations", 0), 7);
  auto kernels = codegen::JitCompileKernels(p.plan);
  ASSERT_OK(kernels.status());
  KilnKernelFn fn = (*kernels)->Find("kiln_fused_0");
  ASSERT_NE(fn, nullptr);
  EXPECT_EQ((*kernels)->Find("kiln_fused_1"), nullptr);

  const float sentinel = -12345.0f;
  std::vector<float> out(7 * 1003, sentinel);
  void* buffers[] = {const_cast<void*>(p.inputs[0].data()), const_cast<void*>(p.inputs[1].data()), out.data()};
  fn(buffers, 2, 5);  // rows 2, 3, 4 only
  for (int64_t i = 0; i < 7 * 1003; ++i) {
    const bool inside = i >= 2 * 1003 && i < 5 * 1003;
    if (inside) {
      ASSERT_EQ(out[i], p.expected.data_as<float>()[i]) << "element " << i;
    } else {
      ASSERT_EQ(out[i], sentinel) << "element " << i << " lies outside rows [2, 5)";
    }
  }
  fn(buffers, 0, 2);
  fn(buffers, 5, 7);
  EXPECT_EQ(std::memcmp(out.data(), p.expected.data(), out.size() * sizeof(float)), 0);

  // In place: the output buffer is the input x itself.
  std::vector<float> x(p.inputs[0].data_as<float>(), p.inputs[0].data_as<float>() + 7 * 1003);
  void* in_place[] = {x.data(), const_cast<void*>(p.inputs[1].data()), x.data()};
  fn(in_place, 0, 7);
  EXPECT_EQ(std::memcmp(x.data(), p.expected.data(), x.size() * sizeof(float)), 0);
}

TEST(FusedKernelTest, SessionFallsBackToTheInterpreterWithoutCompiledCode) {
  FusedPlan p = MakeFusedPlan();
  runtime::SessionOptions options;
  options.compiled_kernels = runtime::KernelsFromTable(nullptr, 0);  // has no kiln_fused_0
  auto session = runtime::Session::Create(p.plan, options);
  ASSERT_OK(session.status());
  ASSERT_OK((*session)->SetInput(0, p.inputs[0].data(), p.inputs[0].num_bytes()));
  ASSERT_OK((*session)->SetInput(1, p.inputs[1].data(), p.inputs[1].num_bytes()));
  ASSERT_OK((*session)->Run());
  EXPECT_EQ(std::memcmp((*session)->output(0).data, p.expected.data(), p.expected.num_bytes()), 0);
}

TEST(FusedKernelTest, RejectsAStepWhoseGeometryDisagrees) {
  FusedPlan p = MakeFusedPlan();
  for (auto& a : *p.plan.mutable_step(0)->mutable_attribute()) {
    if (a.name() == "iterations") a.set_i(8);
  }
  auto kernels = codegen::JitCompileKernels(p.plan);
  ASSERT_FALSE(kernels.ok());
  EXPECT_NE(kernels.status().message().find("(FusedElementwise): 'iterations' is 8 but the buffers give 7"),
            std::string::npos)
      << kernels.status().message();
}

// A 1M-element chain: fused generated code against the unfused graph on oneDNN and reference kernels.
TEST(FusedKernelTest, FusedChainOnAMillionElements) {
  Graph g;
  const Dims dims = {1000, 1000};
  Value* x = g.AddInput("x", {proto::DT_FLOAT, dims});
  Value* b = g.AddInput("b", {proto::DT_FLOAT, {1000}});
  Value* t = Op(g, "Add", {x, b})->output(0);
  t = Op(g, "Relu", {t})->output(0);
  t = Op(g, "Mul", {t, Scalar(g, 0.5f)})->output(0);
  t = Op(g, "Sigmoid", {t})->output(0);
  g.AddOutput(Op(g, "Sub", {t, x})->output(0));
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  ASSERT_EQ(g.num_nodes(), 1);
  const std::vector<Tensor> inputs = {testing::RandomTensor(dims, 5), testing::RandomTensor({1000}, 6)};
  auto time_ms = [&](const Graph& graph, bool jit, bool onednn, int threads, Tensor* result) {
    auto plan = CompileForCpu(graph, {.use_onednn = onednn});
    EXPECT_OK(plan.status());
    runtime::SessionOptions options;
    options.num_threads = threads;
    auto session = jit ? LoadPlan(*plan, options) : runtime::Session::Create(*plan, options);
    EXPECT_OK(session.status());
    for (int i = 0; i < 2; ++i) EXPECT_OK((*session)->SetInput(i, inputs[i].data(), inputs[i].num_bytes()));
    EXPECT_OK((*session)->Run());  // warm-up
    const int runs = 10;
    const auto start = std::chrono::steady_clock::now();
    for (int r = 0; r < runs; ++r) EXPECT_OK((*session)->Run());
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    const TensorRef out = (*session)->output(0);
    *result = *Tensor::FromBytes(out.dtype, out.dims, out.data, out.num_bytes());
    return ms / runs;
  };
  Tensor reference, onednn, jit, jit_threads;
  const double ref_ms = time_ms(*unfused, false, false, 1, &reference);
  const double onednn_ms = time_ms(*unfused, false, true, 1, &onednn);
  const double jit_ms = time_ms(g, true, false, 1, &jit);
  const double threads_ms = time_ms(g, true, false, 2, &jit_threads);  // rows split over the session's threads
  EXPECT_EQ(Compare(jit, reference, 1e-6, 1e-6), "");
  EXPECT_EQ(Compare(jit_threads, jit, 0, 0), "") << "a row split changes nothing";
  std::printf(
      "[ 1M-element chain ] 1 thread: unfused reference %.3f ms, unfused oneDNN %.3f ms, fused jit %.3f ms "
      "(%.1fx vs oneDNN); fused jit on 2 threads %.3f ms\n",
      ref_ms, onednn_ms, jit_ms, onednn_ms / jit_ms, threads_ms);
}

// ---- Reduction tails: FusedReduction -------------------------------------------------------------

Value* Ints(Graph& g, const std::vector<int64_t>& v) {
  return g.AddConstant("axes", Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(v.size())}, v));
}

const Node* OnlyNode(const Graph& g, const std::string& op) {
  for (const auto& n : g.nodes()) {
    if (n->op_type() == op) return n.get();
  }
  return nullptr;
}

// The fused graph against the unfused one: the interpreter to 1e-6 (the reductions sum in
// double as the reference kernels do), the generated code to `rtol`.
void ExpectSameResults(const Graph& unfused, const Graph& fused, const std::vector<Tensor>& inputs, double rtol) {
  const auto expected = Execute(unfused, inputs, Engine::kReference);
  const auto interpreted = Execute(fused, inputs, Engine::kReference);
  const auto jit = Execute(fused, inputs, Engine::kJit);
  ASSERT_FALSE(expected.empty());
  ASSERT_EQ(interpreted.size(), expected.size());
  ASSERT_EQ(jit.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(Compare(interpreted[i], expected[i], 1e-6, 1e-7), "") << "interpreter, output " << i;
    EXPECT_EQ(Compare(jit[i], expected[i], rtol, rtol), "") << "generated code, output " << i;
  }
}

TEST(FuseReductionTest, SoftmaxEndsTheGroupOfItsLogits) {
  // logits = x + b also feeds a second reader: the fused node outputs it and the softmax.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {6, 37}});
  Value* b = g.AddInput("b", {proto::DT_FLOAT, {37}});
  Value* logits = Op(g, "Add", {x, b})->output(0);
  g.AddOutput(g.AddNode("Softmax", "probs", {logits})->output(0));
  g.AddOutput(Op(g, "Neg", {logits})->output(0));
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  std::vector<FusionDecision> decisions;
  ASSERT_OK(Fuse(g, &decisions).status());
  const Node* fused = OnlyNode(g, "FusedReduction");
  ASSERT_NE(fused, nullptr) << FormatFusionDecisions(decisions);
  EXPECT_EQ(fused->attrs().GetString("program", ""), "t0=Add(i0,i1); o0=t0");
  EXPECT_EQ(fused->attrs().GetString("reduce", ""), "softmax");
  EXPECT_EQ(fused->attrs().GetInt("operand", -1), 0);
  ASSERT_EQ(fused->num_outputs(), 2);
  EXPECT_EQ(fused->output(1)->name(), "probs") << "the reduction's value keeps its name";
  EXPECT_EQ(CountOps(g, "Softmax"), 0);
  EXPECT_NE(FormatFusionDecisions(decisions).find("probs (Softmax): fused into"), std::string::npos);
  // Rows with NaN, +inf and only -inf: the reference's results (NaN rows) come out too.
  Tensor xs = testing::RandomTensor({6, 37}, 11, -8.0f, 8.0f);
  float* px = xs.mutable_data_as<float>();
  px[1 * 37 + 5] = kNan;
  px[2 * 37 + 9] = kInf;
  for (int j = 0; j < 37; ++j) px[3 * 37 + j] = -kInf;
  ExpectSameResults(*unfused, g, {xs, testing::RandomTensor({37}, 12)}, 2e-6);
}

TEST(FuseReductionTest, LogSoftmaxOfAChainOverTheLastAxis) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {3, 4, 33}});
  Value* t = Op(g, "Tanh", {Op(g, "Mul", {x, Scalar(g, 3.0f)})->output(0)})->output(0);
  Attrs last;
  last.SetInt("axis", 2);
  g.AddOutput(g.AddNode("LogSoftmax", "logp", {t}, 1, last)->output(0));
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  ASSERT_EQ(g.num_nodes(), 1);
  const Node* fused = OnlyNode(g, "FusedReduction");
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(fused->attrs().GetString("reduce", ""), "log_softmax");
  EXPECT_EQ(fused->num_outputs(), 1) << "the chain's values are read by nothing else";
  ExpectSameResults(*unfused, g, {testing::RandomTensor({3, 4, 33}, 13)}, 2e-6);
}

TEST(FuseReductionTest, AttentionSoftmaxWithABroadcastMask) {
  // Scaled scores [batch * heads, T, T] plus a causal mask [1, T, T]: the mask walks the rows
  // with stride 0 over the first axis and T over the second.
  Graph g;
  Value* scores = g.AddInput("scores", {proto::DT_FLOAT, {4, 10, 10}});
  Value* mask = g.AddInput("mask", {proto::DT_FLOAT, {1, 10, 10}});
  Value* scaled = Op(g, "Mul", {scores, Scalar(g, 0.125f)})->output(0);
  g.AddOutput(g.AddNode("Softmax", "attention", {Op(g, "Add", {scaled, mask})->output(0)})->output(0));
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  ASSERT_EQ(g.num_nodes(), 1);
  ASSERT_NE(OnlyNode(g, "FusedReduction"), nullptr);
  Tensor causal(proto::DT_FLOAT, {1, 10, 10});
  for (int i = 0; i < 10; ++i)
    for (int j = 0; j < 10; ++j) causal.mutable_data_as<float>()[i * 10 + j] = j > i ? -kInf : 0.0f;
  ExpectSameResults(*unfused, g, {testing::RandomTensor({4, 10, 10}, 19, -4.0f, 4.0f), causal}, 2e-6);
}

TEST(FuseReductionTest, BiasGradientSumJoinsItsEltwiseGrad) {
  // A dense layer's backward step: dA = relu'(A) dY read by the weight gradient and summed
  // over the batch for the bias (keepdims, then reshaped, as autodiff writes it).
  Graph g;
  Value* dy = g.AddInput("dy", {proto::DT_FLOAT, {64, 512}});
  Value* a = g.AddInput("a", {proto::DT_FLOAT, {64, 512}});
  Value* w = g.AddInput("w", {proto::DT_FLOAT, {512, 8}});
  Value* da = Op(g, "EltwiseGrad", {dy, a}, Grad("relu"))->output(0);
  Attrs keep;
  keep.SetInt("keepdims", 1);
  Value* db = g.AddNode("ReduceSum", "db", {da, Ints(g, {0})}, 1, keep)->output(0);
  g.AddOutput(g.AddNode("Reshape", "db_flat", {db, Ints(g, {512})})->output(0));
  g.AddOutput(Op(g, "MatMul", {da, w})->output(0));
  ASSERT_OK(InferShapes(g));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  const Node* fused = OnlyNode(g, "FusedReduction");
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(fused->attrs().GetString("program", ""), "t0=ReluGrad(i0,i1); o0=t0");
  EXPECT_EQ(fused->attrs().GetString("reduce", ""), "sum");
  EXPECT_EQ(fused->attrs().GetInt("axis", -1), 1);
  EXPECT_EQ(fused->attrs().GetInt("keepdims", -1), 1);
  ASSERT_EQ(fused->num_outputs(), 2);
  EXPECT_EQ(fused->output(1)->dims(), (Dims{1, 512}));
  EXPECT_EQ(CountOps(g, "ReduceSum"), 0);
  ExpectSameResults(
      *unfused, g,
      {testing::RandomTensor({64, 512}, 14), testing::RandomTensor({64, 512}, 15), testing::RandomTensor({512, 8}, 16)},
      1e-5);
}

TEST(FuseReductionTest, ChannelSumOverAnImageBatch) {
  // Sum over N, H and W of an NCHW chain: each channel's inner runs summed per image.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {4, 6, 5, 7}});
  Value* sq = Op(g, "Mul", {x, x})->output(0);
  g.AddOutput(g.AddNode("ReduceSum", "sum", {Op(g, "Sub", {sq, x})->output(0), Ints(g, {0, 2, 3})})->output(0));
  ASSERT_OK(InferShapes(g));
  ASSERT_EQ(g.outputs()[0]->dims(), (Dims{1, 6, 1, 1}));
  std::unique_ptr<Graph> unfused = g.Clone();
  ASSERT_OK(Fuse(g).status());
  ASSERT_EQ(g.num_nodes(), 1);
  const Node* fused = OnlyNode(g, "FusedReduction");
  ASSERT_NE(fused, nullptr);
  EXPECT_EQ(fused->attrs().GetInt("axis", -1), 1);
  ExpectSameResults(*unfused, g, {testing::RandomTensor({4, 6, 5, 7}, 17)}, 1e-5);
}

TEST(FuseReductionTest, LeavesOtherReductionsAlone) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {4, 6}});
  Value* y = g.AddInput("y", {proto::DT_FLOAT, {2, 4, 6}});
  Value* z = g.AddInput("z", {proto::DT_FLOAT, {4, 6}});
  Value* image = g.AddInput("image", {proto::DT_FLOAT, {4, 6, 5, 7}});
  Value* rows = g.AddInput("rows", {proto::DT_FLOAT, {1, 6, 1, 7}});
  Attrs first;
  first.SetInt("axis", 0);
  // Over the first axis, not the last.
  g.AddOutput(g.AddNode("Softmax", "by_column", {Op(g, "Relu", {x})->output(0)}, 1, first)->output(0));
  // Keeps two axes of extent > 1.
  g.AddOutput(g.AddNode("ReduceSum", "two_kept", {Op(g, "Exp", {y})->output(0), Ints(g, {2})})->output(0));
  // Its operand is a product, not an elementwise group.
  g.AddOutput(g.AddNode("Softmax", "of_product", {Op(g, "MatMul", {x, Op(g, "Transpose", {z})->output(0)})->output(0)})
                  ->output(0));
  // `rows` broadcasts over H but not W, part of the channel sum's inner run: no one-stride walk.
  g.AddOutput(
      g.AddNode("ReduceSum", "partial", {Op(g, "Add", {image, rows})->output(0), Ints(g, {0, 2, 3})})->output(0));
  // A state's update stays a node of its own.
  Attrs flat;
  flat.SetInt("keepdims", 0);
  Value* total = g.AddState("total", Tensor(proto::DT_FLOAT, {6}));
  g.SetStateUpdate(total,
                   g.AddNode("ReduceSum", "running", {Op(g, "Exp", {x})->output(0), Ints(g, {0})}, 1, flat)->output(0));
  ASSERT_OK(InferShapes(g));
  std::vector<FusionDecision> decisions;
  ASSERT_OK(Fuse(g, &decisions).status());
  EXPECT_EQ(CountOps(g, "FusedReduction"), 0);
  EXPECT_EQ(CountOps(g, "Softmax"), 2);
  const std::string text = FormatFusionDecisions(decisions);
  for (const char* why :
       {"by_column (Softmax): not fused: reduction not fused: Softmax over an axis other than the last",
        "two_kept (ReduceSum): not fused: reduction not fused: ReduceSum keeps more than one axis",
        "of_product (Softmax): not fused: reduction not fused: its operand is not computed by fusable",
        "partial (ReduceSum): not fused: reduction not fused: input 1 [1, 6, 1, 7] neither spans nor "
        "broadcasts over axes [2, 4) of [4, 6, 5, 7]",
        "running (ReduceSum): not fused: reduction not fused: it produces a state update"}) {
    EXPECT_NE(text.find(why), std::string::npos) << why << "\n" << text;
  }
}

// The generated kernels compute exactly their rows: softmax rows, or summed entries.
TEST(FuseReductionTest, GeneratedKernelsComputeExactlyTheRowsAskedFor) {
  for (const char* reduce : {"softmax", "sum"}) {
    SCOPED_TRACE(reduce);
    Graph g;
    Value* x = g.AddInput("x", {proto::DT_FLOAT, {7, 19}});
    Value* t = Op(g, "Sigmoid", {x})->output(0);
    g.AddOutput(std::string(reduce) == "softmax" ? g.AddNode("Softmax", "r", {t})->output(0)
                                                 : g.AddNode("ReduceSum", "r", {t, Ints(g, {0})})->output(0));
    ASSERT_OK(InferShapes(g));
    std::unique_ptr<Graph> unfused = g.Clone();
    ASSERT_OK(Fuse(g).status());
    auto plan = CompileForCpu(g, {.use_onednn = false});
    ASSERT_OK(plan.status());
    ASSERT_EQ(plan->step_size(), 1);
    const Attrs attrs(plan->step(0).attribute());
    const int64_t rows = std::string(reduce) == "softmax" ? 7 : 19;
    ASSERT_EQ(attrs.GetInt("iterations", 0), rows);
    auto kernels = codegen::JitCompileKernels(*plan);
    ASSERT_OK(kernels.status());
    KilnKernelFn fn = (*kernels)->Find(attrs.GetString("symbol", ""));
    ASSERT_NE(fn, nullptr);
    const Tensor input = testing::RandomTensor({7, 19}, 18);
    const auto expected = Execute(*unfused, {input}, Engine::kReference);
    ASSERT_EQ(expected.size(), 1u);
    const float sentinel = -12345.0f;
    std::vector<float> out(expected[0].num_elements(), sentinel);
    const int64_t per_row = std::string(reduce) == "softmax" ? 19 : 1;
    void* buffers[] = {const_cast<void*>(input.data()), out.data()};
    fn(buffers, 2, 5);
    for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) {
      const float want = expected[0].data_as<float>()[i];
      if (i >= 2 * per_row && i < 5 * per_row) {
        ASSERT_NEAR(out[i], want, 1e-5 * std::fabs(want) + 1e-6) << "element " << i;
      } else {
        ASSERT_EQ(out[i], sentinel) << "element " << i << " lies outside rows [2, 5)";
      }
    }
  }
}

}  // namespace
}  // namespace kiln
