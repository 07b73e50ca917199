#include "compiler/codegen/plan_object.h"

#include "compiler/codegen/jit.h"

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
// Gives every "jit" step of `plan` a symbol under `prefix`: the kernels of several
// plans (a trainer's two, or two generated libraries in one program) never collide.
void PrefixKernelSymbols(proto::Plan* plan, const std::string& prefix) {
  for (proto::Step& step : *plan->mutable_step()) {
    if (step.kernel() != "jit") continue;
    for (proto::Attribute& attr : *step.mutable_attribute()) {
      if (attr.name() == "symbol") attr.set_s(prefix + attr.s());
    }
  }
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
Status AddCommon(llvm::Module& module, const PlanObjectOptions& options, const std::vector<std::string>& kernels) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* threads = AddConstant(module, PlanSymbol(options.symbol, "_num_threads"),
                              llvm::ConstantInt::get(llvm::Type::getInt32Ty(ctx), options.num_threads), 4);
  const std::string table = PlanSymbol(options.symbol, "_kernels");
  RETURN_IF_ERROR(AddKernelTable(module, kernels, table));
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

StatusOr<std::string> EmitPlanObject(const proto::Plan& original, const PlanObjectOptions& options) {
  proto::Plan plan = original;
  PrefixKernelSymbols(&plan, PlanSymbol(options.symbol, "_"));
  ASSIGN_OR_RETURN(std::string bytes, Serialize(plan));
  llvm::LLVMContext ctx;
  llvm::Module module("kiln_model_" + options.symbol, ctx);
  // The same generated kernels the JIT path runs, next to the plan that names them.
  std::vector<std::string> kernels;
  RETURN_IF_ERROR(AddFusedKernels(plan, module, &kernels));
  auto [data, size] = AddBlob(module, PlanSymbol(options.symbol, "_plan"), bytes);
  RETURN_IF_ERROR(AddCommon(module, options, kernels));
  if (options.main_aliases) {
    AddMainAlias(module, "kiln_main_plan", data);
    AddMainAlias(module, "kiln_main_plan_size", size);
    AddBlob(module, "kiln_main_training", options.training);
  }
  ASSIGN_OR_RETURN(auto machine, CreateHostTargetMachine());
  return EmitObject(module, *machine);
}

StatusOr<std::string> EmitTrainerObject(const proto::Plan& original_step, const proto::Plan& original_eval,
                                        const std::string& model, const PlanObjectOptions& options) {
  proto::Plan step = original_step, eval = original_eval;
  PrefixKernelSymbols(&step, "kiln_train_step_");
  PrefixKernelSymbols(&eval, "kiln_train_eval_");
  ASSIGN_OR_RETURN(std::string step_bytes, Serialize(step));
  ASSIGN_OR_RETURN(std::string eval_bytes, Serialize(eval));
  llvm::LLVMContext ctx;
  llvm::Module module("kiln_trainer_" + options.symbol, ctx);
  std::vector<std::string> kernels;
  RETURN_IF_ERROR(AddFusedKernels(step, module, &kernels));
  RETURN_IF_ERROR(AddFusedKernels(eval, module, &kernels));
  AddBlob(module, "kiln_main_train_step", step_bytes);
  AddBlob(module, "kiln_main_train_eval", eval_bytes);
  AddBlob(module, "kiln_main_train_model", model);
  PlanObjectOptions common = options;
  common.main_aliases = true;
  RETURN_IF_ERROR(AddCommon(module, common, kernels));
  ASSIGN_OR_RETURN(auto machine, CreateHostTargetMachine());
  return EmitObject(module, *machine);
}

}  // namespace kiln::codegen
