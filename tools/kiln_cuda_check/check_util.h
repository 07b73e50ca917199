// Shared by kiln_cuda_check's fused-program checks (main.cc) and kernel-kind checks (kinds.cc).
#pragma once

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::cuda {

// Within tol absolute + tol relative; NaN only where the reference has NaN; infinities exactly.
inline std::string Compare(const std::vector<float>& got, const std::vector<float>& want, double tol) {
  if (got.size() != want.size()) return "size " + std::to_string(got.size()) + ", want " + std::to_string(want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const float g = got[i], w = want[i];
    bool ok;
    if (std::isnan(w) || std::isnan(g))
      ok = std::isnan(w) && std::isnan(g);
    else if (std::isinf(w) || std::isinf(g))
      ok = g == w;
    else
      ok = std::fabs(double(g) - w) <= tol + tol * std::fabs(double(w));
    if (!ok) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "element %zu: got %.9g, want %.9g", i, g, w);
      return buf;
    }
  }
  return "";
}

// Writes `source` to base.cc, compiles it with the host compiler ($CXX, else c++) into
// base.so and loads it; null after printing "FAIL <what>: ..." when that fails.
inline void* HostCompileAndLoad(const std::string& source, const std::string& base, const char* what) {
  std::ofstream(base + ".cc") << source;
  const char* cxx = std::getenv("CXX") ? std::getenv("CXX") : "c++";
  const std::string cmd =
      std::string(cxx) + " -std=c++17 -O1 -shared -fPIC -w -o " + base + ".so " + base + ".cc 2> " + base + ".log";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(base + ".log");
    std::stringstream s;
    s << log.rdbuf();
    std::printf("FAIL %s: host compile failed: %s\n%s\n", what, cmd.c_str(), s.str().substr(0, 3000).c_str());
    return nullptr;
  }
  void* so = dlopen((base + ".so").c_str(), RTLD_NOW | RTLD_LOCAL);
  if (so == nullptr) std::printf("FAIL %s: dlopen: %s\n", what, dlerror());
  return so;
}

}  // namespace kiln::cuda
