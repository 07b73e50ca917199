// The one writer of files, shared by the compiler side (models, plans, executables,
// dumps, tensors, reports) and the runtime (checkpoints): a crash, a full disk, a
// signal or a planted symlink never leaves a half-written or redirected file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/core/status.h"

namespace kiln {

struct WriteOptions {
  /// Write into an existing non-regular file (a device, a FIFO) instead of refusing.
  bool force = false;
  /// Permissions of a new file, before the umask (0777 for executables).
  mode_t mode = 0666;
};

/// Writes `contents` to `path` atomically: a uniquely named temporary file beside it
/// (`PATH.tmp.<pid>.<random>`, created with O_EXCL|O_NOFOLLOW), fsync, rename, fsync of
/// the directory. A symlink at `path` is replaced, never written through. An existing
/// non-regular file is refused unless `options.force`. The temporary is removed on every
/// error and on SIGINT/SIGTERM/SIGHUP; stale ones of dead processes are removed first.
/// FNV-1a (64-bit): a hash that is the same on every build and machine (std::hash is not),
/// for names that must stay stable: cache files, generated kernels, seeds.
inline uint64_t StableHash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  return h;
}

/// A cache folder of Kiln's: "" (no cache) when $<off_variable> is "0"; else $<dir_variable>
/// when set; else ~/.cache/kiln/<name> ("" without a home).
std::string KilnCacheDir(const std::string& name, const char* dir_variable, const char* off_variable);

/// Creates `dir` and its missing parents, best effort (a cache folder: failing only costs the cache).
void MakeDirectories(const std::string& dir);

/// Where a CUDA toolkit library is looked for, in order: $<env_variable> (a file), each of
/// `sonames` on the loader's path, in /usr/local/cuda/lib64, then in the pip wheels'
/// folders (`wheel_globs`, e.g. "nvidia/cu13/lib/libnvrtc.so*", under the system's,
/// $VIRTUAL_ENV's and ~/.local's Python site-packages). Shared by NVRTC, cuBLASLt and cuDNN.
std::vector<std::string> CudaLibraryCandidates(const char* env_variable, const std::vector<std::string>& sonames,
                                               const std::vector<std::string>& wheel_globs);
/// The first of those candidates that dlopen loads (RTLD_NOW | RTLD_LOCAL): its handle and
/// path, else a null handle and the error "cuda: no <what> library found (<the first
/// candidate's dlopen error>; set <env_variable>)".
struct OpenedLibrary {
  void* handle = nullptr;
  std::string path, error;
};
OpenedLibrary OpenCudaLibrary(const std::string& what, const char* env_variable,
                              const std::vector<std::string>& sonames, const std::vector<std::string>& wheel_globs);
/// dlsym(handle, name): a symbol of such a library (null when it lacks it).
void* LibrarySymbol(void* handle, const char* name);
/// `*fn` = the symbol `name` as the entry point type F (declared in Kiln's sources, no CUDA
/// header needed); false when the library lacks it.
template <typename F>
bool BindSymbol(void* handle, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(LibrarySymbol(handle, name));
  return *fn != nullptr;
}

Status WriteFileAtomically(const std::string& path, const std::string& contents, const WriteOptions& options = {});

/// Checks, before any long work, that WriteFileAtomically(path) can succeed as far as
/// can be known: the directory exists and is writable, and `path` is not a directory
/// (nor a non-regular file unless `force`). Also removes stale temporaries of `path`.
Status CheckOutputPath(const std::string& path, bool force = false);

/// Labelled paths ("-o", "out.kiln").
using NamedPaths = std::vector<std::pair<std::string, std::string>>;
/// Refuses when an output resolves to an input or to another output: the same inode
/// (hard links, symlinks) or the same canonical path (`./x`, `d/../x`) for files that
/// do not exist yet.
Status CheckDistinctPaths(const NamedPaths& inputs, const NamedPaths& outputs);

/// Removes `PATH.tmp.<pid>[.*]` files beside `path` whose process no longer exists
/// (left by `kill -9`); returns how many were removed.
int RemoveStaleTemporaries(const std::string& path);

/// The formats a model can be written in, chosen by the output's extension only (here,
/// beside the writer, so that compiled trainers, which have no compiler, share the rule).
enum class ModelFormat { kKilnBinary, kKilnText, kOnnx };
/// .kiln -> binary, .kiln.txt -> text, .onnx -> ONNX; any other name is an error that
/// lists them (so `-o m.onnx` never holds Kiln bytes, nor `-o m.bin` an unknown format).
StatusOr<ModelFormat> ModelFormatForOutput(const std::string& path);

}  // namespace kiln
