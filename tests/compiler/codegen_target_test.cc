#include <gtest/gtest.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>
#include <stdlib.h>

#include "compiler/codegen/target.h"

namespace kiln::codegen {
namespace {

TEST(CodegenTarget, DescribesTheHost) {
  HostTarget host = DescribeHost();
  EXPECT_FALSE(host.triple.empty());
  EXPECT_FALSE(host.cpu.empty());
}

// KILN_CPU (scripts/check_isa.sh) replaces the host CPU and its features; an unknown name is an error.
TEST(CodegenTarget, KilnCpuNamesAnotherCpu) {
  ::setenv("KILN_CPU", "x86-64-v2", 1);
  HostTarget named = DescribeHost();
  auto machine = CreateHostTargetMachine();
  ::setenv("KILN_CPU", "no-such-cpu", 1);
  auto unknown = CreateHostTargetMachine();
  ::unsetenv("KILN_CPU");
  EXPECT_EQ(named.cpu, "x86-64-v2");
  EXPECT_TRUE(named.features.empty());
  ASSERT_TRUE(machine.ok()) << machine.status().message();
  EXPECT_EQ((*machine)->getTargetCPU().str(), "x86-64-v2");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no-such-cpu"), std::string::npos);
}

TEST(CodegenTarget, EmitsAnElfObjectForAVerifiedModule) {
  llvm::LLVMContext context;
  llvm::Module module("add_one", context);
  auto* f32 = llvm::Type::getFloatTy(context);
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(f32, {f32}, false), llvm::Function::ExternalLinkage,
                                    "kiln_test_add_one", module);
  llvm::IRBuilder<> b(llvm::BasicBlock::Create(context, "entry", fn));
  b.CreateRet(b.CreateFAdd(fn->getArg(0), llvm::ConstantFP::get(f32, 1.0)));
  auto machine = CreateHostTargetMachine();
  ASSERT_TRUE(machine.ok()) << machine.status().message();
  auto object = EmitObject(module, **machine);
  ASSERT_TRUE(object.ok()) << object.status().message();
  ASSERT_GT(object->size(), 4u);
  EXPECT_EQ(object->substr(0, 4), std::string("\x7f"
                                              "ELF"));
}

TEST(CodegenTarget, RejectsAnInvalidModuleNamingIt) {
  llvm::LLVMContext context;
  llvm::Module module("broken", context);
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(context), false),
                                    llvm::Function::ExternalLinkage, "no_terminator", module);
  llvm::BasicBlock::Create(context, "entry", fn);  // a block without a terminator
  Status status = VerifyModule(module);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("broken"), std::string::npos);
}

}  // namespace
}  // namespace kiln::codegen
