// The generated LLVM modules: verified, with a kernel table for ahead-of-time
// objects, and vectorized by LLVM's loop vectorizer (transcendentals included).
#include <gtest/gtest.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>

#include <functional>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/codegen/fused_elementwise.h"
#include "compiler/codegen/jit.h"
#include "compiler/codegen/target.h"
#include "compiler/pass.h"
#include "tests/test_util.h"

namespace kiln::codegen {
namespace {

// A plan with one fused step computing `ops` in a chain over x [N, C, H, W] + bias [N, C, 1, 1].
proto::Plan ChainPlan(const std::vector<std::string>& ops) {
  Graph g;
  Value* x = g.AddInput("x", {proto::DT_FLOAT, {2, 3, 5, 7}});
  Value* v = g.AddNode("Add", "bias", {x, g.AddInput("b", {proto::DT_FLOAT, {2, 3, 1, 1}})})->output(0);
  for (const std::string& op : ops) v = g.AddNode(op, op, {v})->output(0);
  g.AddOutput(v);
  EXPECT_OK(RunPipeline(g, {{"infer-shapes"}, {"fuse-elementwise"}, {"dce"}}, PassOptions{}));
  auto plan = CompileForCpu(g, {.use_onednn = false});
  EXPECT_OK(plan.status());
  return *plan;
}

std::string Print(const llvm::Module& module) {
  std::string text;
  llvm::raw_string_ostream os(text);
  module.print(os, nullptr);
  return os.str();
}

TEST(CodegenFusedTest, EmitsAVerifiedModuleWithAKernelTable) {
  const proto::Plan plan = ChainPlan({"Relu", "Exp"});
  llvm::LLVMContext context;
  llvm::Module module("fused", context);
  std::vector<std::string> symbols;
  ASSERT_OK(AddFusedKernels(plan, module, &symbols));
  ASSERT_EQ(symbols, (std::vector<std::string>{"kiln_fused_0"}));
  ASSERT_OK(AddKernelTable(module, symbols, "kiln_kernels"));
  ASSERT_OK(VerifyModule(module));
  EXPECT_NE(module.getNamedGlobal("kiln_kernels"), nullptr);
  EXPECT_NE(module.getNamedGlobal("kiln_kernels_count"), nullptr);
  auto machine = CreateHostTargetMachine();
  ASSERT_OK(machine.status());
  auto object = EmitObject(module, **machine);
  ASSERT_OK(object.status());
  EXPECT_EQ(object->substr(0, 4), std::string("\x7f"
                                              "ELF"));
  EXPECT_FALSE(AddKernelTable(module, {"no_such_kernel"}, "other").ok());
}

// The optimized IR of the plan's generated kernels, for this CPU.
std::string OptimizedIr(const proto::Plan& plan) {
  llvm::LLVMContext context;
  llvm::Module module("fused", context);
  std::vector<std::string> symbols;
  EXPECT_OK(AddFusedKernels(plan, module, &symbols));
  auto machine = CreateHostTargetMachine();
  EXPECT_OK(machine.status());
  if (!machine.ok()) return "";
  module.setTargetTriple((*machine)->getTargetTriple().str());
  module.setDataLayout((*machine)->createDataLayout());
  OptimizeModule(module, **machine);
  EXPECT_OK(VerifyModule(module));
  return Print(module);
}

TEST(CodegenFusedTest, TranscendentalChainsVectorize) {
  const std::string ir = OptimizedIr(ChainPlan({"Sigmoid", "Tanh", "Exp", "Log"}));
  const bool vector = ir.find("<4 x float>") != std::string::npos || ir.find("<8 x float>") != std::string::npos ||
                      ir.find("<16 x float>") != std::string::npos;
  EXPECT_TRUE(vector) << "the element loop was not vectorized:\n" << ir.substr(0, 4000);
  // Intrinsics (llvm.maxnum, ...) lower to instructions; a call to a library function would not vectorize.
  for (size_t at = ir.find("call float @"); at != std::string::npos; at = ir.find("call float @", at + 1)) {
    EXPECT_EQ(ir.compare(at + 12, 5, "llvm."), 0) << "a library call: " << ir.substr(at, 80);
  }
}

// A plan of `build`'s graph after fusion (one FusedReduction expected).
proto::Plan ReductionPlan(const std::function<void(Graph&)>& build) {
  Graph g;
  build(g);
  EXPECT_OK(RunPipeline(g, {{"infer-shapes"}, {"fuse-elementwise"}, {"dce"}}, PassOptions{}));
  int reductions = 0;
  for (const auto& n : g.nodes()) reductions += n->op_type() == "FusedReduction";
  EXPECT_EQ(reductions, 1);
  auto plan = CompileForCpu(g, {.use_onednn = false});
  EXPECT_OK(plan.status());
  return *plan;
}

TEST(CodegenFusedTest, ReductionLoopsVectorize) {
  auto axes = [](Graph& g, std::vector<int64_t> v) {
    return g.AddConstant("axes", Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(v.size())}, v));
  };
  const std::vector<std::pair<std::string, proto::Plan>> plans = {
      {"softmax", ReductionPlan([](Graph& g) {
         Value* x = g.AddInput("x", {proto::DT_FLOAT, {8, 1000}});
         Value* b = g.AddInput("b", {proto::DT_FLOAT, {1000}});
         g.AddOutput(g.AddNode("Softmax", "p", {g.AddNode("Add", "z", {x, b})->output(0)})->output(0));
       })},
      {"column sums", ReductionPlan([&](Graph& g) {
         Value* x = g.AddInput("x", {proto::DT_FLOAT, {64, 512}});
         g.AddOutput(g.AddNode("ReduceSum", "s", {g.AddNode("Relu", "r", {x})->output(0), axes(g, {0})})->output(0));
       })},
      {"channel sums", ReductionPlan([&](Graph& g) {
         Value* x = g.AddInput("x", {proto::DT_FLOAT, {4, 16, 28, 28}});
         g.AddOutput(
             g.AddNode("ReduceSum", "s", {g.AddNode("Relu", "r", {x})->output(0), axes(g, {0, 2, 3})})->output(0));
       })},
  };
  for (const auto& [name, plan] : plans) {
    const std::string ir = OptimizedIr(plan);
    // The sums: per-lane partial sums (reassoc) or, down columns, a vector of column sums.
    const bool vector = ir.find("fadd reassoc <") != std::string::npos ||
                        (name == "column sums" && ir.find("fadd <") != std::string::npos);
    EXPECT_TRUE(vector) << name << ": no vector sums:\n" << ir.substr(0, 6000);
    if (name == "softmax") {
      EXPECT_NE(ir.find("@llvm.vector.reduce.fmax"), std::string::npos) << "the maximum is not vectorized:\n" << ir;
    }
  }
}

TEST(CodegenFusedTest, RejectsAStepWithoutASymbol) {
  proto::Plan plan = ChainPlan({"Relu"});
  plan.mutable_step(0)->clear_attribute();
  llvm::LLVMContext context;
  llvm::Module module("fused", context);
  const Status st = EmitFusedStep(plan, plan.step(0), module);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("(FusedElementwise): a jit step needs a 'symbol' attribute"), std::string::npos)
      << st.message();
}

}  // namespace
}  // namespace kiln::codegen
