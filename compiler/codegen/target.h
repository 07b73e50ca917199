// LLVM for the host: one place that initializes the native target, builds the
// TargetMachine (host CPU and features, so vector widths match the machine) and
// writes object files. Shared by the JIT and the ahead-of-time paths.
#pragma once

#include <memory>
#include <string>

#include "ir/core/status.h"

namespace llvm {
class Module;
class TargetMachine;
}  // namespace llvm

namespace kiln::codegen {

/// Initializes LLVM's native target, asm printer and parser (idempotent, thread-safe).
void InitializeNativeTarget();

/// The host's triple, CPU name ("znver3", "sapphirerapids", ...) and feature string.
struct HostTarget {
  std::string triple;
  std::string cpu;
  std::string features;
};
HostTarget DescribeHost();

/// Makes DescribeHost name `cpu` (an LLVM CPU name: x86-64-v3, znver4, skylake-avx512, ...)
/// with that CPU's own features, for the rest of the process (`kiln compile --cpu NAME`: the
/// executable is meant for another machine). It wins over KILN_CPU. Fails, changing nothing,
/// for a name LLVM does not know on this target.
Status SetTargetCpu(const std::string& cpu);

/// A TargetMachine for the host at -O3 with position-independent code (objects go into
/// executables and shared libraries alike).
StatusOr<std::unique_ptr<llvm::TargetMachine>> CreateHostTargetMachine();

/// Verifies `module` (naming it in the error), sets its triple and data layout for `machine`,
/// runs the O3 pipeline and returns the object file's bytes.
StatusOr<std::string> EmitObject(llvm::Module& module, llvm::TargetMachine& machine);

/// Verifies `module`; the error names the module and LLVM's message.
Status VerifyModule(const llvm::Module& module);

/// Runs LLVM's O3 pipeline (vectorizers included) on `module` for `machine`.
void OptimizeModule(llvm::Module& module, llvm::TargetMachine& machine);

}  // namespace kiln::codegen
