// Ahead-of-time emission support (for `kiln compile`): finding the Kiln libraries and the system toolchain,
// running the compiler driver and the archiver, and generating the C header and
// entry points of `--emit lib`.
#pragma once

#include <string>
#include <vector>

#include "ir/core/status.h"
#include "runtime/plan.pb.h"

namespace kiln::aot {

/// Where generated programs find Kiln: the directory holding libkiln_runtime.{a,so} and
/// libkiln_main.a, and the directory holding kiln/runtime.h.
struct KilnLayout {
  std::string lib_dir;
  std::string include_dir;
};

/// $KILN_RUNTIME_DIR if set; else the kiln binary's own directory (build tree) when it holds
/// libkiln_runtime.a; else <prefix>/lib beside <prefix>/bin/kiln (install tree).
StatusOr<KilnLayout> FindKilnLayout();

/// The program `env_var` names (e.g. $CXX) or `fallback`, resolved on $PATH; the error says
/// which program is missing and how to choose another.
StatusOr<std::string> FindTool(const char* env_var, const std::string& fallback);

/// Runs `argv` (no shell); on failure the error shows the command and its output.
Status RunTool(const std::vector<std::string>& argv, const std::string& what);

/// The runtime's own dependencies for linking (oneDNN, protobuf, zlib, OpenMP, pthread).
std::vector<std::string> RuntimeDependencyFlags();

/// A fresh temporary directory, removed (with its contents) by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  bool ok() const { return !path_.empty(); }

 private:
  std::string path_;
};

/// A C identifier from a file or tensor name ("my-model.v2" -> "my_model_v2").
std::string CIdentifier(const std::string& name);

/// The header and the C source of `--emit lib` for a model compiled to `plan`.
struct LibSources {
  std::string header;
  std::string source;
};
LibSources GenerateLibSources(const proto::Plan& plan, const std::string& symbol, const std::string& model_path,
                              int64_t batch, int threads);

}  // namespace kiln::aot
