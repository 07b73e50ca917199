// Compiled kernels as the runtime sees them: functions looked up by symbol. The
// compiler produces them (ORC JIT in-process, or object files ahead of time); the
// runtime only calls them, so it never links LLVM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

/// A generated kernel: `buffers` are the data pointers of the step's inputs then
/// outputs; it computes rows [begin, end) of the step's iteration space (Step
/// attribute `iterations` says how many there are; any split is valid).
extern "C" typedef void (*KilnKernelFn)(void* const* buffers, int64_t begin, int64_t end);

namespace kiln::runtime {

class CompiledKernels {
 public:
  virtual ~CompiledKernels() = default;
  /// The function named `symbol`, or null when it is not among these kernels.
  virtual KilnKernelFn Find(const std::string& symbol) const = 0;
};

/// One entry of a kernel table; also the layout ahead-of-time objects emit
/// (compiler/codegen/jit.h AddKernelTable).
struct KernelTableEntry {
  const char* symbol;
  KilnKernelFn fn;
};

/// Kernels from a table of `count` entries (not copied: the table must outlive them).
std::shared_ptr<const CompiledKernels> KernelsFromTable(const KernelTableEntry* entries, size_t count);

}  // namespace kiln::runtime
