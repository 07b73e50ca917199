// Shared by kiln_cuda_check's fused-program checks (main.cc) and kernel-kind checks (kinds.cc).
#pragma once

#include <cmath>
#include <cstdio>
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

}  // namespace kiln::cuda
