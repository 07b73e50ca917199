// The backend seam: what the compiler asks of a backend (its name, the Target the
// passes consult, what it can run and why not, how it lowers an optimized graph to a
// Plan) and the registry of backends (compiler/backends/registry.cc, one line each).
// A new backend is one folder under compiler/backends/ (this interface), one under
// runtime/kernels/ (its kernels and, for a device, its runtime/device.h runtime) and
// a line in each registry (docs/design-notes.md, "Adding a backend").
#pragma once

#include <string>
#include <vector>

#include "compiler/target.h"
#include "ir/core/status.h"
#include "ir/graph.h"
#include "runtime/plan.pb.h"

namespace kiln {

struct LowerOptions {
  bool use_onednn = true;  // cpu: false is reference kernels only (for testing backends against them)
  /// cpu: FusedElementwise steps run generated code named <prefix><n> (n counts them in
  /// plan order); plans whose kernels share one binary need distinct prefixes.
  std::string kernel_symbol_prefix = "kiln_fused_";
  /// A device backend: nodes it cannot run run on the host with the CPU's kernels, with
  /// copies where values cross (only when the user asks: --cpu-fallback); else they are errors.
  bool cpu_fallback = false;
};

class Backend {
 public:
  virtual ~Backend() = default;
  /// The name --device takes and a Plan's `device` holds ("cpu", "cuda").
  virtual const char* name() const = 0;
  /// What the target-dependent passes ask (fuse-postops, assign-layouts).
  virtual const Target& target() const = 0;
  /// Why the backend cannot run `node` of an optimized graph; "" when it can.
  virtual std::string UnsupportedReason(const Node& node, const LowerOptions& options) const = 0;
  /// Lowers `graph` (after the passes) to a Plan; every node it cannot run is named in one
  /// error, one line per node ("<node>: <reason>").
  virtual StatusOr<proto::Plan> Lower(const Graph& graph, const LowerOptions& options) const = 0;
};

/// Every backend, the CPU first.
const std::vector<const Backend*>& Backends();
/// The backend named `name`; an error naming the valid ones otherwise.
StatusOr<const Backend*> FindBackend(const std::string& name);
/// "cpu|cuda": the names, for help texts and messages.
std::string BackendNames();

// One per backend folder.
const Backend& CpuBackend();   // compiler/backends/cpu
const Backend& CudaBackend();  // compiler/backends/cuda

}  // namespace kiln
