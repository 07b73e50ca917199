#include "compiler/codegen/target.h"

#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/IR/Verifier.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>
#include <llvm/TargetParser/Host.h>

#include <cstdlib>
#include <mutex>

namespace kiln::codegen {

void InitializeNativeTarget() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

namespace {
std::string& TargetCpuOverride() {
  static std::string cpu;
  return cpu;
}

bool IsKnownCpu(const std::string& triple, const std::string& cpu, std::string* error) {
  InitializeNativeTarget();
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(triple, *error);
  if (!target) return false;
  std::unique_ptr<llvm::MCSubtargetInfo> generic(target->createMCSubtargetInfo(triple, "", ""));
  return generic && generic->isCPUStringValid(cpu);
}
}  // namespace

Status SetTargetCpu(const std::string& cpu) {
  std::string error;
  const std::string triple = llvm::sys::getProcessTriple();
  if (!IsKnownCpu(triple, cpu, &error)) {
    return InvalidArgument("--cpu: LLVM does not know the CPU '", cpu, "' for ", triple,
                           " (e.g. x86-64-v2, x86-64-v3, x86-64-v4, znver4, skylake-avx512)");
  }
  TargetCpuOverride() = cpu;
  return Status::Ok();
}

HostTarget DescribeHost() {
  HostTarget host;
  host.triple = llvm::sys::getProcessTriple();
  if (!TargetCpuOverride().empty()) {
    host.cpu = TargetCpuOverride();
    return host;
  }
  // KILN_CPU names another LLVM CPU (x86-64-v2/-v3/-v4, znver4, ...): its own features
  // replace the host's, so generated kernels match what oneDNN is limited to by
  // ONEDNN_MAX_CPU_ISA (scripts/check_isa.sh). It must be a CPU this machine can run.
  if (const char* cpu = std::getenv("KILN_CPU"); cpu && *cpu) {
    host.cpu = cpu;
    return host;
  }
  host.cpu = llvm::sys::getHostCPUName().str();
  std::string features;
  for (const auto& feature : llvm::sys::getHostCPUFeatures()) {
    if (!features.empty()) features += ',';
    features += (feature.getValue() ? "+" : "-") + feature.getKey().str();
  }
  host.features = features;
  return host;
}

StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateHostTargetMachine() {
  InitializeNativeTarget();
  const HostTarget host = DescribeHost();
  std::string error;
  const llvm::Target* target = llvm::TargetRegistry::lookupTarget(host.triple, error);
  if (!target) return Internal("LLVM has no target for ", host.triple, ": ", error);
  // Checked before LLVM sees it: an unknown name would only print a warning and fall back.
  if (!IsKnownCpu(host.triple, host.cpu, &error)) {
    return InvalidArgument("KILN_CPU: LLVM does not know the CPU '", host.cpu, "' for ", host.triple);
  }
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(target->createTargetMachine(host.triple, host.cpu, host.features,
                                                                           options, llvm::Reloc::PIC_, std::nullopt,
                                                                           llvm::CodeGenOptLevel::Aggressive));
  if (!machine) return Internal("LLVM could not create a target machine for ", host.triple, " (", host.cpu, ")");

  return machine;
}

Status VerifyModule(const llvm::Module& module) {
  std::string message;
  llvm::raw_string_ostream os(message);
  if (llvm::verifyModule(module, &os)) {
    os.flush();
    return Internal("generated LLVM module '", module.getName().str(), "' is invalid: ", message);
  }
  return Status::Ok();
}

void OptimizeModule(llvm::Module& module, llvm::TargetMachine& machine) {
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PipelineTuningOptions tuning;
  tuning.LoopVectorization = true;
  tuning.SLPVectorization = true;
  llvm::PassBuilder builder(&machine, tuning);
  builder.registerModuleAnalyses(mam);
  builder.registerCGSCCAnalyses(cgam);
  builder.registerFunctionAnalyses(fam);
  builder.registerLoopAnalyses(lam);
  builder.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager passes = builder.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  passes.run(module, mam);
}

StatusOr<std::string> EmitObject(llvm::Module& module, llvm::TargetMachine& machine) {
  module.setTargetTriple(machine.getTargetTriple().str());
  module.setDataLayout(machine.createDataLayout());
  RETURN_IF_ERROR(VerifyModule(module));
  OptimizeModule(module, machine);
  llvm::SmallVector<char, 0> buffer;
  llvm::raw_svector_ostream os(buffer);
  llvm::legacy::PassManager emit;
  if (machine.addPassesToEmitFile(emit, os, nullptr, llvm::CodeGenFileType::ObjectFile)) {
    return Internal("LLVM cannot emit object files for ", machine.getTargetTriple().str());
  }
  emit.run(module);
  return std::string(buffer.begin(), buffer.end());
}

}  // namespace kiln::codegen
