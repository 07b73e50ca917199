// The training-step builder, state and in-place updates: optimizer updates
// overwrite their state where it lives, state persists across runs, each
// optimizer lowers the loss, and the evaluation graph sees trained weights.
#include "compiler/training.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <tuple>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/codegen/jit.h"
#include "compiler/load.h"
#include "compiler/memory_planner.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

Value* Param(Graph& g, const std::string& name, const Dims& dims, uint32_t seed) {
  Value* v = g.AddConstant(name, testing::RandomTensor(dims, seed, -0.5f, 0.5f));
  v->set_parameter(true);
  return v;
}

// x[B, 4] -> Dense(8, relu) -> BatchNorm -> Dense(3) -> Softmax.
std::unique_ptr<Graph> SmallClassifier() {
  auto g = std::make_unique<Graph>();
  Value* x = g->AddInput("x", {proto::DT_FLOAT, {-1, 4}});
  Value* h = g->AddNode("MatMul", "d1", {x, Param(*g, "d1/kernel", {4, 8}, 1)})->output(0);
  h = g->AddNode("Add", "d1/bias_add", {h, Param(*g, "d1/bias", {8}, 2)})->output(0);
  h = g->AddNode("Relu", "d1/relu", {h})->output(0);
  Value* mean = g->AddConstant("bn/mean", Tensor(proto::DT_FLOAT, {8}));
  Value* var = g->AddConstant("bn/var", Tensor::FromVector(proto::DT_FLOAT, {8}, std::vector<float>(8, 1.0f)));
  Value* gamma = g->AddConstant("bn/gamma", Tensor::FromVector(proto::DT_FLOAT, {8}, std::vector<float>(8, 1.0f)));
  gamma->set_parameter(true);
  Value* beta = Param(*g, "bn/beta", {8}, 3);
  // BatchNormalization wants a channel axis 1: [B, 8] works as N, C.
  h = g->AddNode("BatchNormalization", "bn", {h, gamma, beta, mean, var})->output(0);
  h = g->AddNode("MatMul", "d2", {h, Param(*g, "d2/kernel", {8, 3}, 4)})->output(0);
  h = g->AddNode("Add", "d2/bias_add", {h, Param(*g, "d2/bias", {3}, 5)})->output(0);
  Attrs axis;
  axis.SetInt("axis", -1);
  g->AddOutput(g->AddNode("Softmax", "probs", {h}, 1, axis)->output(0));
  return g;
}

// Three separable classes: the class is the argmax of the first three features.
void FillBatch(runtime::Session& s, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  TensorRef x = s.input(0), t = s.input(1);
  const int64_t batch = x.dims[0];
  for (int64_t i = 0; i < batch; ++i) {
    float* row = x.as<float>() + i * 4;
    for (int j = 0; j < 4; ++j) row[j] = u(rng);
    t.as<int64_t>()[i] = std::max_element(row, row + 3) - row;
  }
}

StatusOr<std::unique_ptr<runtime::Session>> Compile(Graph& g) {
  ASSIGN_OR_RETURN(proto::Plan plan, CompileForCpu(g, CpuCompileOptions{}));
  return runtime::Session::Create(std::move(plan));
}

TEST(TrainingProgramTest, OptimizerUpdatesOverwriteTheirStateInPlace) {
  auto model = SmallClassifier();
  TrainingConfig config;
  config.batch_size = 16;
  config.optimizer = OptimizerConfig::For("adam");
  config.optimizer.hyper.lr = 0.01f;
  auto program = BuildTrainingProgram(*model, config);
  ASSERT_OK(program.status());
  EXPECT_EQ(program->parameters.size(), 6u) << "d1/kernel, d1/bias, bn/gamma, bn/beta, d2/kernel, d2/bias";
  auto plan = CompileForCpu(*program->step, CpuCompileOptions{});
  ASSERT_OK(plan.status());
  int in_place = 0, copied = 0;
  for (const proto::StateUpdate& su : plan->state_update()) {
    const proto::Buffer& state = plan->buffer(su.state());
    const proto::Buffer& update = plan->buffer(su.update());
    if (state.offset() == update.offset()) {
      ++in_place;
    } else {
      ++copied;
      // Only the step counter and the batch-norm statistics take the copy path.
      EXPECT_TRUE(state.name() == "train/step" || state.name().rfind("bn/", 0) == 0) << state.name();
    }
  }
  EXPECT_EQ(in_place, 6 * 3) << "each parameter and its two Adam moments";
  EXPECT_EQ(copied, 3) << "step counter, running mean, running variance";
}

TEST(TrainingProgramTest, StatePersistsAcrossRunsAndTheStepCounts) {
  auto model = SmallClassifier();
  TrainingConfig config;
  config.batch_size = 8;
  config.optimizer = OptimizerConfig::For("sgd");
  config.optimizer.hyper.lr = 0.1f;
  auto program = BuildTrainingProgram(*model, config);
  ASSERT_OK(program.status());
  auto session = Compile(*program->step);
  ASSERT_OK(session.status());
  runtime::Session& s = **session;
  const int step = s.FindState("train/step"), kernel = s.FindState("d1/kernel"), mean = s.FindState("bn/mean");
  ASSERT_GE(step, 0);
  ASSERT_GE(kernel, 0);
  ASSERT_GE(mean, 0);
  const std::vector<float> before(s.state(kernel).as<float>(), s.state(kernel).as<float>() + 32);
  for (int i = 0; i < 3; ++i) {
    FillBatch(s, i);
    ASSERT_OK(s.Run());
  }
  EXPECT_EQ(s.state(step).as<int64_t>()[0], 3);
  EXPECT_NE(std::vector<float>(s.state(kernel).as<float>(), s.state(kernel).as<float>() + 32), before);
  float moved = 0;
  for (int c = 0; c < 8; ++c) moved += std::fabs(s.state(mean).as<float>()[c]);
  EXPECT_GT(moved, 0.0f) << "running mean follows the batches";
  s.ResetStates();
  EXPECT_EQ(s.state(step).as<int64_t>()[0], 0);
  EXPECT_EQ(std::vector<float>(s.state(kernel).as<float>(), s.state(kernel).as<float>() + 32), before);
}

TEST(TrainingProgramTest, StateReadAfterItsUpdateIsCopiedNotOverwritten) {
  // s' = s + 1 computed first, then y = s * 2 still reads the old s.
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1}});
  Value* s = g.AddState("s", Tensor::FromVector(proto::DT_FLOAT, {1}, std::vector<float>{1.0f}));
  Value* one = g.AddConstant("one", Tensor::FromVector(proto::DT_FLOAT, {1}, std::vector<float>{1.0f}));
  Node* next = g.AddNode("Add", "next", {s, one});
  Node* y = g.AddNode("Mul", "y", {s, x});
  for (Node* n : {next, y}) n->output(0)->set_type(TensorType{proto::DT_FLOAT, {1}});
  g.SetStateUpdate(s, next->output(0));
  g.AddOutput(y->output(0));
  const MemoryPlan memory = PlanMemory(g);
  EXPECT_NE(memory.offsets.at(s), memory.offsets.at(next->output(0)));
  auto session = Compile(g);
  ASSERT_OK(session.status());
  const float two = 2.0f;
  ASSERT_OK((*session)->SetInput(0, &two, sizeof two));
  for (float expected : {2.0f, 4.0f, 6.0f}) {
    ASSERT_OK((*session)->Run());
    EXPECT_EQ((*session)->output(0).as<float>()[0], expected);
  }
}

class OptimizerTest : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerTest, LowersTheLossOfASeparableProblem) {
  auto model = SmallClassifier();
  TrainingConfig config;
  config.batch_size = 32;
  config.optimizer = OptimizerConfig::For(GetParam());
  config.optimizer.hyper.lr = GetParam() == "adadelta" ? 1.0f : GetParam() == "sgd" ? 0.2f : 0.02f;
  config.optimizer.clip_norm = 5.0f;
  auto program = BuildTrainingProgram(*model, config);
  ASSERT_OK(program.status());
  auto session = Compile(*program->step);
  ASSERT_OK(session.status());
  runtime::Session& s = **session;
  double first = 0, last = 0;
  for (int i = 0; i < 200; ++i) {
    FillBatch(s, 1000 + i);
    ASSERT_OK(s.Run());
    const double loss = s.output(0).as<float>()[0];
    ASSERT_TRUE(std::isfinite(loss)) << "step " << i;
    if (i < 10) first += loss / 10;
    if (i >= 190) last += loss / 10;
  }
  EXPECT_LT(last, 0.6 * first) << GetParam() << ": mean loss of the first 10 steps " << first << ", last 10 " << last;
}

INSTANTIATE_TEST_SUITE_P(AllOptimizers, OptimizerTest,
                         ::testing::Values("sgd", "momentum", "nesterov", "adagrad", "adadelta", "rmsprop", "adam"));

TEST(TrainingProgramTest, EvalGraphSharesStateNamesAndUsesRunningStatistics) {
  auto model = SmallClassifier();
  auto eval = BuildEvalGraph(*model, 4);
  ASSERT_OK(eval.status());
  std::vector<std::string> names;
  for (const StateVar& st : (*eval)->states()) names.push_back(st.value->name());
  for (const char* want : {"d1/kernel", "bn/mean", "bn/var", "d2/bias"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const StateVar& st : (*eval)->states()) EXPECT_EQ(st.update, nullptr) << "evaluation never updates state";
}

// x -> Dense(8) -> tanh -> *0.5 -> Dense(3): the forward bias/tanh/scale chain and the
// backward scale/tanh-gradient chain fuse; training matches the unfused step.
TEST(TrainingProgramTest, ElementwiseChainsFuseAndTrainLikeTheUnfusedStep) {
  Graph model;
  Value* x = model.AddInput("x", {proto::DT_FLOAT, {-1, 4}});
  Value* h = model.AddNode("MatMul", "d1", {x, Param(model, "d1/kernel", {4, 8}, 1)})->output(0);
  h = model.AddNode("Add", "d1/bias_add", {h, Param(model, "d1/bias", {8}, 2)})->output(0);
  h = model.AddNode("Tanh", "d1/tanh", {h})->output(0);
  Value* half = model.AddConstant("half", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{0.5f}));
  h = model.AddNode("Mul", "d1/scale", {h, half})->output(0);
  h = model.AddNode("MatMul", "d2", {h, Param(model, "d2/kernel", {8, 3}, 4)})->output(0);
  model.AddOutput(model.AddNode("Add", "d2/bias_add", {h, Param(model, "d2/bias", {3}, 5)})->output(0));
  TrainingConfig config;
  config.batch_size = 16;
  config.optimizer = OptimizerConfig::For("adam");
  config.optimizer.hyper.lr = 0.01f;
  auto fused = BuildTrainingProgram(model, config);
  ASSERT_OK(fused.status());
  config.fuse_elementwise = false;
  auto unfused = BuildTrainingProgram(model, config);
  ASSERT_OK(unfused.status());
  int groups = 0, reductions = 0;
  for (const auto& n : fused->step->nodes()) {
    if (n->op_type() != "FusedElementwise" && n->op_type() != "FusedReduction") continue;
    ++groups;
    reductions += n->op_type() == "FusedReduction";
    for (Value* out : n->outputs()) {
      for (const StateVar& st : fused->step->states()) EXPECT_NE(st.update, out) << "a fused node updates state";
    }
  }
  EXPECT_GE(groups, 2) << "forward and backward chains";
  EXPECT_GE(reductions, 1) << "d1's bias gradient sums the tanh gradient chain in its pass";
  auto fused_plan = CompileForCpu(*fused->step, CpuCompileOptions{});
  auto unfused_plan = CompileForCpu(*unfused->step, CpuCompileOptions{});
  ASSERT_OK(fused_plan.status());
  ASSERT_OK(unfused_plan.status());
  EXPECT_EQ(fused_plan->state_update_size(), unfused_plan->state_update_size());
  auto a = LoadPlan(*fused_plan);
  auto b = runtime::Session::Create(*unfused_plan);
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  for (uint32_t step = 0; step < 20; ++step) {
    FillBatch(**a, step);
    FillBatch(**b, step);
    ASSERT_OK((*a)->Run());
    ASSERT_OK((*b)->Run());
    const float la = (*a)->output(0).as<float>()[0], lb = (*b)->output(0).as<float>()[0];
    EXPECT_NEAR(la, lb, 1e-5 * std::fabs(lb) + 1e-6) << "step " << step;
  }
}

// Relu's gradient reads its output, so the pre-activation of Conv + bias + Relu is read by the
// Relu alone and the forward fuses in training too (FusedConv with the Relu post-op; a dense
// layer's bias is a state, not a constant, so its Add + Relu is one generated kernel with one
// output); the relu gradient before the MaxPool masks the pooled gradient; the fused step
// trains like the unfused one.
TEST(TrainingProgramTest, ConvAndDenseWithReluFuseAndTrainLikeTheUnfusedStep) {
  Graph model;
  Value* x = model.AddInput("x", {proto::DT_FLOAT, {-1, 1, 6, 6}});
  Attrs conv;
  conv.SetInts("kernel_shape", {3, 3});
  conv.SetInts("pads", {1, 1, 1, 1});
  Value* h = model
                 .AddNode("Conv", "c1",
                          {x, Param(model, "c1/kernel", {4, 1, 3, 3}, 1), Param(model, "c1/bias", {4}, 2)}, 1, conv)
                 ->output(0);
  h = model.AddNode("Relu", "c1/relu", {h})->output(0);
  Attrs pool;
  pool.SetInts("kernel_shape", {2, 2});
  pool.SetInts("strides", {2, 2});
  h = model.AddNode("MaxPool", "p1", {h}, 1, pool)->output(0);
  Attrs flat;
  flat.SetInt("axis", 1);
  h = model.AddNode("Flatten", "flat", {h}, 1, flat)->output(0);
  h = model.AddNode("MatMul", "d1", {h, Param(model, "d1/kernel", {36, 8}, 3)})->output(0);
  h = model.AddNode("Add", "d1/bias_add", {h, Param(model, "d1/bias", {8}, 4)})->output(0);
  h = model.AddNode("Relu", "d1/relu", {h})->output(0);
  h = model.AddNode("MatMul", "d2", {h, Param(model, "d2/kernel", {8, 3}, 5)})->output(0);
  model.AddOutput(h);
  TrainingConfig config;
  config.batch_size = 8;
  config.optimizer = OptimizerConfig::For("sgd");
  config.optimizer.hyper.lr = 0.05f;
  auto fused = BuildTrainingProgram(model, config);
  ASSERT_OK(fused.status());
  config.fuse_elementwise = false;
  auto unfused = BuildTrainingProgram(model, config);
  ASSERT_OK(unfused.status());
  std::map<std::string, int> ops;
  for (const auto& n : fused->step->nodes()) {
    ++ops[n->op_type() +
          (n->attrs().GetString("activation", "").empty() ? "" : "+" + n->attrs().GetString("activation", ""))];
    if (n->op_type() == "EltwiseGrad") {
      const Node* t = n->input(1)->producer();
      ASSERT_NE(t, nullptr);
      // The conv's mask reads the pooled output (sink-relu-grad), the dense one its fused Add + Relu.
      EXPECT_TRUE(t->op_type() == "MaxPool" || t->op_type() == "FusedElementwise") << t->op_type();
      EXPECT_EQ(t->num_outputs(), 1) << t->name() << ": only the activation is kept";
    }
  }
  EXPECT_EQ(ops["FusedConv+Relu"], 1);
  EXPECT_EQ(ops["Conv"], 0);
  EXPECT_EQ(ops["Relu"], 0);
  // The conv's Relu gradient stays (its bias gradient comes from ConvGradWeight); the dense
  // one's fuses with the sum of its bias gradient.
  EXPECT_EQ(ops["EltwiseGrad"], 1);
  EXPECT_EQ(ops["FusedReduction"], 1);
  auto a = LoadPlan(*CompileForCpu(*fused->step, CpuCompileOptions{}));
  auto b = LoadPlan(*CompileForCpu(*unfused->step, CpuCompileOptions{}));
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  for (uint32_t step = 0; step < 10; ++step) {
    for (runtime::Session* s : {a->get(), b->get()}) {
      std::mt19937 rng(step);
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      TensorRef in = s->input(0), t = s->input(1);
      for (int64_t i = 0; i < in.num_elements(); ++i) in.as<float>()[i] = u(rng);
      for (int64_t i = 0; i < t.num_elements(); ++i) t.as<int64_t>()[i] = static_cast<int64_t>(i % 3);
      ASSERT_OK(s->Run());
    }
    const float la = (*a)->output(0).as<float>()[0], lb = (*b)->output(0).as<float>()[0];
    EXPECT_NEAR(la, lb, 1e-5 * std::fabs(lb) + 1e-6) << "step " << step;
  }
}

TEST(TrainingProgramTest, RejectsUnknownLossAndOptimizer) {
  auto model = SmallClassifier();
  TrainingConfig config;
  config.loss = "hinge";
  auto p = BuildTrainingProgram(*model, config);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("unknown loss 'hinge'"), std::string::npos) << p.status().message();
  config.loss = "mse";
  config.optimizer = OptimizerConfig::For("lbfgs");
  p = BuildTrainingProgram(*model, config);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("unknown optimizer 'lbfgs'"), std::string::npos) << p.status().message();
}

// Attributes of imported (ONNX) layers are used as they are or refused, never replaced.
TEST(TrainingProgramTest, RejectsInvalidBatchNormAndDropoutAttributes) {
  for (const auto& [attr, value, needle] : {std::make_tuple("epsilon", 0.0f, "epsilon must be > 0"),
                                            std::make_tuple("epsilon", -1e-5f, "epsilon must be > 0"),
                                            std::make_tuple("epsilon", NAN, "epsilon must be > 0"),
                                            std::make_tuple("momentum", 1.5f, "momentum must be in [0, 1]"),
                                            std::make_tuple("momentum", -0.1f, "momentum must be in [0, 1]")}) {
    auto model = SmallClassifier();
    for (Node* n : model->NodeList()) {
      if (n->op_type() == "BatchNormalization") n->attrs().SetFloat(attr, value);
    }
    auto p = BuildTrainingProgram(*model, TrainingConfig{});
    ASSERT_FALSE(p.ok()) << attr << " " << value;
    EXPECT_NE(p.status().message().find(needle), std::string::npos) << p.status().message();
  }
  for (float ratio : {-0.1f, 1.0f, 2.0f, NAN}) {
    // x[B, 4] -> MatMul -> Dropout(ratio) -> y
    auto model = std::make_unique<Graph>();
    Value* x = model->AddInput("x", {proto::DT_FLOAT, {-1, 4}});
    Value* h = model->AddNode("MatMul", "d", {x, Param(*model, "d/kernel", {4, 3}, 1)})->output(0);
    Value* r = model->AddConstant("drop/ratio", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{ratio}));
    model->AddOutput(model->AddNode("Dropout", "drop", {h, r})->output(0));
    TrainingConfig config;
    config.loss = "mse";
    auto p = BuildTrainingProgram(*model, config);
    ASSERT_FALSE(p.ok()) << ratio;
    EXPECT_NE(p.status().message().find("dropout ratio must be in [0, 1)"), std::string::npos) << p.status().message();
  }
}

}  // namespace
}  // namespace kiln
