#include "compiler/codegen/plan_object.h"

#include <llvm/IR/Constants.h>
#include <llvm/IR/GlobalAlias.h>
#include <llvm/IR/GlobalVariable.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Target/TargetMachine.h>

#include "compiler/codegen/target.h"

namespace kiln::codegen {

std::string PlanSymbol(const std::string& symbol, const std::string& suffix) { return "kiln_model_" + symbol + suffix; }

namespace {

llvm::GlobalVariable* AddConstant(llvm::Module& module, const std::string& name, llvm::Constant* value,
                                  unsigned align) {
  auto* global = new llvm::GlobalVariable(module, value->getType(), /*isConstant=*/true,
                                          llvm::GlobalValue::ExternalLinkage, value, name);
  global->setAlignment(llvm::Align(align));
  return global;
}

// The compiled-kernel table: { const char* symbol; kiln_kernel_fn fn; }[count] and its count.
//
// FUSION-SEAM (compiled kernels): today the table is empty. Once compiler/codegen's fused-kernel
// API lands, replace the body with
//   std::vector<std::string> symbols;
//   RETURN_IF_ERROR(AddFusedKernels(plan, module, &symbols));
//   return AddKernelTable(module, symbols, table_name);   // emits table_name and table_name + "_count"
// The runtime side is the FUSION-SEAM in runtime/c_api.cc (kiln_session_create).
Status AddEmptyKernelTable(llvm::Module& module, const std::string& table_name) {
  llvm::LLVMContext& ctx = module.getContext();
  llvm::Type* ptr = llvm::PointerType::getUnqual(ctx);
  llvm::StructType* entry = llvm::StructType::get(ctx, {ptr, ptr});
  llvm::ArrayType* type = llvm::ArrayType::get(entry, 0);
  AddConstant(module, table_name, llvm::ConstantArray::get(type, {}), 16);
  AddConstant(module, table_name + "_count", llvm::ConstantInt::get(llvm::Type::getInt64Ty(ctx), 0), 8);
  return Status::Ok();
}

// `name` (bytes, 64-byte aligned) and `name`_size (int64).
std::pair<llvm::GlobalVariable*, llvm::GlobalVariable*> AddBlob(llvm::Module& module, const std::string& name,
                                                                const std::string& bytes) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* data =
      AddConstant(module, name, llvm::ConstantDataArray::getRaw(bytes, bytes.size(), llvm::Type::getInt8Ty(ctx)), 64);
  auto* size =
      AddConstant(module, name + "_size", llvm::ConstantInt::get(llvm::Type::getInt64Ty(ctx), bytes.size()), 8);
  return {data, size};
}

void AddMainAlias(llvm::Module& module, const std::string& name, llvm::GlobalVariable* target) {
  llvm::GlobalAlias::create(target->getValueType(), 0, llvm::GlobalValue::ExternalLinkage, name, target, &module);
}

// The thread count, the kernel table and (for the drivers) their kiln_main_* aliases and the model name.
Status AddCommon(llvm::Module& module, const PlanObjectOptions& options) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* threads = AddConstant(module, PlanSymbol(options.symbol, "_num_threads"),
                              llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), options.num_threads), 4);
  const std::string table = PlanSymbol(options.symbol, "_kernels");
  RETURN_IF_ERROR(AddEmptyKernelTable(module, table));
  if (options.main_aliases) {
    AddMainAlias(module, "kiln_main_num_threads", threads);
    AddMainAlias(module, "kiln_main_kernels", module.getNamedGlobal(table));
    AddMainAlias(module, "kiln_main_kernels_count", module.getNamedGlobal(table + "_count"));
    AddConstant(module, "kiln_main_model_name", llvm::ConstantDataArray::getString(ctx, options.symbol), 1);
  }
  return Status::Ok();
}

StatusOr<std::string> Serialize(const proto::Plan& plan) {
  std::string bytes;
  if (!plan.SerializeToString(&bytes)) return Internal("cannot serialize the plan");
  return bytes;
}

}  // namespace

StatusOr<std::string> EmitPlanObject(const proto::Plan& plan, const PlanObjectOptions& options) {
  ASSIGN_OR_RETURN(std::string bytes, Serialize(plan));
  llvm::LLVMContext ctx;
  llvm::Module module("kiln_model_" + options.symbol, ctx);
  auto [data, size] = AddBlob(module, PlanSymbol(options.symbol, "_plan"), bytes);
  RETURN_IF_ERROR(AddCommon(module, options));
  if (options.main_aliases) {
    AddMainAlias(module, "kiln_main_plan", data);
    AddMainAlias(module, "kiln_main_plan_size", size);
  }
  ASSIGN_OR_RETURN(auto machine, CreateHostTargetMachine());
  return EmitObject(module, *machine);
}

StatusOr<std::string> EmitTrainerObject(const proto::Plan& step, const proto::Plan& eval, const std::string& model,
                                        const PlanObjectOptions& options) {
  ASSIGN_OR_RETURN(std::string step_bytes, Serialize(step));
  ASSIGN_OR_RETURN(std::string eval_bytes, Serialize(eval));
  llvm::LLVMContext ctx;
  llvm::Module module("kiln_trainer_" + options.symbol, ctx);
  AddBlob(module, "kiln_main_train_step", step_bytes);
  AddBlob(module, "kiln_main_train_eval", eval_bytes);
  AddBlob(module, "kiln_main_train_model", model);
  PlanObjectOptions common = options;
  common.main_aliases = true;
  RETURN_IF_ERROR(AddCommon(module, common));
  ASSIGN_OR_RETURN(auto machine, CreateHostTargetMachine());
  return EmitObject(module, *machine);
}

}  // namespace kiln::codegen
