#include "compiler/codegen/jit.h"

#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/ExecutionEngine/Orc/ThreadSafeModule.h>
#include <llvm/IR/Constants.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Support/Error.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/TargetParser/SubtargetFeature.h>

#include <unordered_map>

#include "compiler/codegen/fused_elementwise.h"
#include "compiler/codegen/target.h"

namespace kiln::codegen {
namespace {

// The kernels of one plan: the JIT that holds their code, and the functions by symbol.
class JitKernels : public runtime::CompiledKernels {
 public:
  KilnKernelFn Find(const std::string& symbol) const override {
    auto it = functions.find(symbol);
    return it == functions.end() ? nullptr : it->second;
  }

  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::unordered_map<std::string, KilnKernelFn> functions;
};

Status FromLlvm(llvm::Error error, const std::string& what) {
  if (!error) return Status::Ok();
  return Internal(what, ": ", llvm::toString(std::move(error)));
}

}  // namespace

Status AddFusedKernels(const proto::Plan& plan, llvm::Module& module, std::vector<std::string>* symbols) {
  for (const proto::Step& step : plan.step()) {
    if (step.kernel() != "jit") continue;
    // Steps of the same program and shapes share a symbol (see CompileForCpu): emit it once.
    const std::string symbol = Attrs(step.attribute()).GetString("symbol", "");
    if (!symbol.empty() && module.getFunction(symbol)) continue;
    RETURN_IF_ERROR(EmitFusedStep(plan, step, module));
    symbols->push_back(symbol);
  }
  return VerifyModule(module);
}

Status AddKernelTable(llvm::Module& module, const std::vector<std::string>& symbols, const std::string& table_name) {
  llvm::LLVMContext& ctx = module.getContext();
  auto* ptr = llvm::PointerType::get(ctx, 0);
  auto* entry_type = llvm::StructType::get(ctx, {ptr, ptr});
  std::vector<llvm::Constant*> entries;
  for (const std::string& symbol : symbols) {
    llvm::Function* fn = module.getFunction(symbol);
    if (!fn) return InvalidArgument("kernel table '", table_name, "': the module has no function ", symbol);
    auto* text = llvm::ConstantDataArray::getString(ctx, symbol);
    auto* name = new llvm::GlobalVariable(module, text->getType(), true, llvm::GlobalValue::PrivateLinkage, text,
                                          table_name + ".name");
    name->setUnnamedAddr(llvm::GlobalValue::UnnamedAddr::Global);
    entries.push_back(llvm::ConstantStruct::get(entry_type, {name, fn}));
  }
  auto* array_type = llvm::ArrayType::get(entry_type, entries.size());
  new llvm::GlobalVariable(module, array_type, true, llvm::GlobalValue::ExternalLinkage,
                           llvm::ConstantArray::get(array_type, entries), table_name);
  auto* i64 = llvm::Type::getInt64Ty(ctx);
  new llvm::GlobalVariable(module, i64, true, llvm::GlobalValue::ExternalLinkage,
                           llvm::ConstantInt::get(i64, entries.size()), table_name + "_count");
  return VerifyModule(module);
}

StatusOr<std::shared_ptr<const runtime::CompiledKernels>> JitCompileKernels(const proto::Plan& plan) {
  auto kernels = std::make_shared<JitKernels>();
  auto context = std::make_unique<llvm::LLVMContext>();
  auto module = std::make_unique<llvm::Module>("kiln_fused_kernels", *context);
  std::vector<std::string> symbols;
  RETURN_IF_ERROR(AddFusedKernels(plan, *module, &symbols));
  if (symbols.empty()) return std::shared_ptr<const runtime::CompiledKernels>(kernels);  // nothing to compile

  ASSIGN_OR_RETURN(std::unique_ptr<llvm::TargetMachine> machine, CreateHostTargetMachine());
  module->setTargetTriple(machine->getTargetTriple().str());
  module->setDataLayout(machine->createDataLayout());
  OptimizeModule(*module, *machine);

  auto builder = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!builder) return FromLlvm(builder.takeError(), "JIT: cannot describe the host");
  builder->setCodeGenOptLevel(llvm::CodeGenOptLevel::Aggressive);
  const HostTarget target = DescribeHost();  // the host, or the CPU KILN_CPU names
  builder->setCPU(target.cpu);
  builder->getFeatures() = llvm::SubtargetFeatures(target.features);
  auto jit = llvm::orc::LLJITBuilder().setJITTargetMachineBuilder(std::move(*builder)).create();
  if (!jit) return FromLlvm(jit.takeError(), "JIT: cannot create LLJIT");
  kernels->jit = std::move(*jit);
  // powf (Pow with a general exponent) comes from the process's libm.
  auto process =
      llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(kernels->jit->getDataLayout().getGlobalPrefix());
  if (!process) return FromLlvm(process.takeError(), "JIT: cannot search the process for symbols");
  kernels->jit->getMainJITDylib().addGenerator(std::move(*process));
  RETURN_IF_ERROR(
      FromLlvm(kernels->jit->addIRModule(llvm::orc::ThreadSafeModule(std::move(module), std::move(context))), "JIT"));
  for (const std::string& symbol : symbols) {
    auto address = kernels->jit->lookup(symbol);
    if (!address) return FromLlvm(address.takeError(), "JIT: kernel " + symbol);
    kernels->functions[symbol] = address->toPtr<KilnKernelFn>();
  }
  return std::shared_ptr<const runtime::CompiledKernels>(kernels);
}

}  // namespace kiln::codegen
