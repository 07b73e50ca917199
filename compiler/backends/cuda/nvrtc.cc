#include "compiler/backends/cuda/nvrtc.h"

#include <dlfcn.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

#include "ir/core/file_io.h"

namespace kiln::cuda {
namespace {

// The few NVRTC entry points, declared here so no CUDA header is needed.
using nvrtcProgram = struct _nvrtcProgram*;
struct Nvrtc {
  void* handle = nullptr;
  std::string path, error;
  int major = 0, minor = 0;
  const char* (*GetErrorString)(int);
  int (*Version)(int*, int*);
  int (*CreateProgram)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*);
  int (*CompileProgram)(nvrtcProgram, int, const char* const*);
  int (*DestroyProgram)(nvrtcProgram*);
  int (*GetProgramLogSize)(nvrtcProgram, size_t*);
  int (*GetProgramLog)(nvrtcProgram, char*);
  int (*GetPTXSize)(nvrtcProgram, size_t*);
  int (*GetPTX)(nvrtcProgram, char*);
  int (*GetCUBINSize)(nvrtcProgram, size_t*);
  int (*GetCUBIN)(nvrtcProgram, char*);
  int (*GetNumSupportedArchs)(int*);
  int (*GetSupportedArchs)(int*);
};

const Nvrtc& Load() {
  static Nvrtc lib;
  static std::once_flag once;
  std::call_once(once, [] {
    const OpenedLibrary opened =
        OpenCudaLibrary("NVRTC", "KILN_NVRTC_LIBRARY", {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"},
                        {"nvidia/cu13/lib/libnvrtc.so*", "nvidia/cuda_nvrtc/lib/libnvrtc.so*"});
    lib.handle = opened.handle;
    lib.path = opened.path;
    if (lib.handle == nullptr) {
      lib.error = opened.error;
      return;
    }
    const bool ok = BindSymbol(lib.handle, "nvrtcGetErrorString", &lib.GetErrorString) &&
                    BindSymbol(lib.handle, "nvrtcVersion", &lib.Version) &&
                    BindSymbol(lib.handle, "nvrtcCreateProgram", &lib.CreateProgram) &&
                    BindSymbol(lib.handle, "nvrtcCompileProgram", &lib.CompileProgram) &&
                    BindSymbol(lib.handle, "nvrtcDestroyProgram", &lib.DestroyProgram) &&
                    BindSymbol(lib.handle, "nvrtcGetProgramLogSize", &lib.GetProgramLogSize) &&
                    BindSymbol(lib.handle, "nvrtcGetProgramLog", &lib.GetProgramLog) &&
                    BindSymbol(lib.handle, "nvrtcGetPTXSize", &lib.GetPTXSize) &&
                    BindSymbol(lib.handle, "nvrtcGetPTX", &lib.GetPTX) &&
                    BindSymbol(lib.handle, "nvrtcGetCUBINSize", &lib.GetCUBINSize) &&
                    BindSymbol(lib.handle, "nvrtcGetCUBIN", &lib.GetCUBIN) &&
                    BindSymbol(lib.handle, "nvrtcGetNumSupportedArchs", &lib.GetNumSupportedArchs) &&
                    BindSymbol(lib.handle, "nvrtcGetSupportedArchs", &lib.GetSupportedArchs);
    if (!ok) {
      lib.error = "cuda: " + lib.path + " lacks an NVRTC entry point";
      dlclose(lib.handle);
      lib.handle = nullptr;
      return;
    }
    lib.Version(&lib.major, &lib.minor);
  });
  return lib;
}

std::string CacheDir() { return KilnCacheDir("cuda", "KILN_CUDA_CACHE_DIR", "KILN_CUDA_CACHE"); }

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream s;
  s << f.rdbuf();
  *out = s.str();
  return !out->empty();
}

// Best effort: a cache that cannot be written only costs a recompile. Temp + rename: never half a file.
void WriteFileAtomically(const std::string& dir, const std::string& path, const std::string& data) {
  MakeDirectories(dir);
  const std::string temp = path + ".tmp." + std::to_string(getpid());
  {
    std::ofstream f(temp, std::ios::binary | std::ios::trunc);
    if (!f) return;
    f.write(data.data(), data.size());
    if (!f.good()) {
      f.close();
      unlink(temp.c_str());
      return;
    }
  }
  if (rename(temp.c_str(), path.c_str()) != 0) unlink(temp.c_str());
}

}  // namespace

StatusOr<std::string> NvrtcDescription() {
  const Nvrtc& lib = Load();
  if (lib.handle == nullptr) return NotFound(lib.error);
  return lib.path + " (NVRTC " + std::to_string(lib.major) + "." + std::to_string(lib.minor) + ")";
}

bool NvrtcSupportsArch(int major, int minor) {
  const Nvrtc& lib = Load();
  if (lib.handle == nullptr) return false;
  int n = 0;
  if (lib.GetNumSupportedArchs(&n) != 0 || n <= 0) return false;
  std::vector<int> archs(n);
  if (lib.GetSupportedArchs(archs.data()) != 0) return false;
  for (int a : archs) {
    if (a == major * 10 + minor) return true;
  }
  return false;
}

StatusOr<NvrtcResult> NvrtcCompile(const std::string& source, const std::string& kernel_name,
                                   const NvrtcTarget& target) {
  const Nvrtc& lib = Load();
  if (lib.handle == nullptr) return NotFound(lib.error);
  const std::string arch = std::string("--gpu-architecture=") + (target.cubin ? "sm_" : "compute_") +
                           std::to_string(target.major * 10 + target.minor);
  const std::vector<const char*> options = {"--std=c++17", "-default-device", arch.c_str()};
  NvrtcResult result;
  result.cubin = target.cubin;
  const std::string dir = CacheDir();
  std::string cache_path;
  if (!dir.empty()) {
    std::string key = source + "\n" + arch + "\nnvrtc " + std::to_string(lib.major) + "." + std::to_string(lib.minor);
    for (const char* o : options) key += std::string("\n") + o;
    char name[64];
    std::snprintf(name, sizeof(name), "/%016llx.%s", static_cast<unsigned long long>(StableHash(key)),
                  target.cubin ? "cubin" : "ptx");
    cache_path = dir + name;
    if (ReadFile(cache_path, &result.image)) {
      result.from_cache = true;
      return result;
    }
  }
  nvrtcProgram prog = nullptr;
  const std::string file = kernel_name + ".cu";
  if (int rc = lib.CreateProgram(&prog, source.c_str(), file.c_str(), 0, nullptr, nullptr); rc != 0) {
    return Internal("cuda: ", kernel_name, ": nvrtcCreateProgram: ", lib.GetErrorString(rc));
  }
  const int rc = lib.CompileProgram(prog, static_cast<int>(options.size()), options.data());
  size_t log_size = 0;
  if (lib.GetProgramLogSize(prog, &log_size) == 0 && log_size > 1) {
    result.log.resize(log_size);
    lib.GetProgramLog(prog, result.log.data());
    result.log.resize(log_size - 1);
  }
  if (rc != 0) {
    lib.DestroyProgram(&prog);
    std::string log = result.log;
    for (char& c : log) {
      if (c == '\n') c = ' ';
    }
    return InvalidArgument("cuda: ", kernel_name, ": NVRTC ", arch, ": ", lib.GetErrorString(rc), ": ", log);
  }
  size_t size = 0;
  const int get_size = target.cubin ? lib.GetCUBINSize(prog, &size) : lib.GetPTXSize(prog, &size);
  if (get_size != 0 || size == 0) {
    lib.DestroyProgram(&prog);
    return Internal("cuda: ", kernel_name, ": NVRTC returned no image");
  }
  result.image.resize(size);
  const int get = target.cubin ? lib.GetCUBIN(prog, result.image.data()) : lib.GetPTX(prog, result.image.data());
  lib.DestroyProgram(&prog);
  if (get != 0) return Internal("cuda: ", kernel_name, ": NVRTC: ", lib.GetErrorString(get));
  if (!target.cubin && !result.image.empty() && result.image.back() == '\0') result.image.pop_back();
  if (!cache_path.empty()) WriteFileAtomically(dir, cache_path, result.image);
  return result;
}

}  // namespace kiln::cuda
