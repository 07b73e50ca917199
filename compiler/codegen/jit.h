// Generated kernels for a Plan's "jit" steps: compiled in-process with ORC LLJIT
// (one module per plan, compiled once), or added to a module that ahead-of-time
// compilation writes as an object file next to a kernel table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "runtime/compiled_kernels.h"
#include "runtime/plan.pb.h"
#include "runtime/session.h"

namespace llvm {
class Module;
}  // namespace llvm

namespace kiln::codegen {

/// Adds one function per "jit" step of `plan` to `module` (verified) and appends
/// their symbols, in plan order, to `symbols`.
Status AddFusedKernels(const proto::Plan& plan, llvm::Module& module, std::vector<std::string>* symbols);

/// Adds `table_name`, a constant array of runtime::KernelTableEntry {symbol, fn}
/// for `symbols` (functions of `module`), and `<table_name>_count`, an int64.
Status AddKernelTable(llvm::Module& module, const std::vector<std::string>& symbols, const std::string& table_name);

/// Compiles the plan's "jit" steps for the host; the result owns the JIT and its code.
StatusOr<std::shared_ptr<const runtime::CompiledKernels>> JitCompileKernels(const proto::Plan& plan);

// A session running a plan with these kernels: LoadPlan (compiler/load.h).

}  // namespace kiln::codegen
