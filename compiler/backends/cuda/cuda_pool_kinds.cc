// Generated 2-D pooling over NCHW (floor output sizes, explicit pads, no dilation):
// max and average forward, a thread per output element, and max-pool backward, a
// thread per input element that gathers from the windows covering it (no atomics,
// deterministic). Window order, ties and empty windows follow the reference
// (runtime/kernels/reference/nn.cc, gradient_window.cc).
#include <algorithm>

#include "compiler/backends/cuda/cuda_kinds.h"

namespace kiln::cuda {
using namespace kinds_internal;

namespace {

struct Pool2d {
  int64_t planes, h, w, kh, kw, sh, sw, pt, pl, oh, ow;
};

StatusOr<Pool2d> ResolvePool(const CudaKernelDesc& desc, const Dims& x) {
  if (x.size() != 4) return InvalidArgument("x ", DimsToString(x), " is not NCHW");
  if (desc.kernel.size() != 2) return InvalidArgument("kernel needs 2 entries");
  const std::vector<int64_t> strides = desc.strides.empty() ? std::vector<int64_t>{1, 1} : desc.strides;
  const std::vector<int64_t> pads = desc.pads.empty() ? std::vector<int64_t>{0, 0, 0, 0} : desc.pads;
  if (strides.size() != 2 || pads.size() != 4) return InvalidArgument("strides need 2 entries, pads 4");
  Pool2d p{x[0] * x[1], x[2], x[3], desc.kernel[0], desc.kernel[1], strides[0], strides[1], pads[0], pads[1], 0, 0};
  if (p.kh < 1 || p.kw < 1 || p.sh < 1 || p.sw < 1) return InvalidArgument("kernel and strides must be >= 1");
  for (int64_t v : pads) {
    if (v < 0) return InvalidArgument("pads must be >= 0");
  }
  const int64_t span_h = p.h + pads[0] + pads[2] - p.kh, span_w = p.w + pads[1] + pads[3] - p.kw;
  if (span_h < 0 || span_w < 0) return InvalidArgument("the kernel is larger than the padded input");
  p.oh = span_h / p.sh + 1;
  p.ow = span_w / p.sw + 1;
  return p;
}

// Code: the first maximal cell (row-major window order, padding skipped) of window
// (oh, ow) of plane `xp` into `best` / `best_at` (-1 when the window has no cell).
std::string ArgMaxCode(const Pool2d& p) {
  return "      float best = -3.40282347e+38f;\n      long long best_at = -1;\n      for (int i = 0; i < " +
         std::to_string(p.kh) + "; ++i) {\n        const long long ih = oh * " + Int(p.sh) + " - " + Int(p.pt) +
         " + i;\n        if (ih < 0 || ih >= " + Int(p.h) + ") continue;\n        for (int j = 0; j < " +
         std::to_string(p.kw) + "; ++j) {\n          const long long iw = ow * " + Int(p.sw) + " - " + Int(p.pl) +
         " + j;\n          if (iw < 0 || iw >= " + Int(p.w) + ") continue;\n          const float v = xp[ih * " +
         Int(p.w) +
         " + iw];\n          if (best_at < 0 || v > best) {\n            best = v;\n            best_at = ih * " +
         Int(p.w) + " + iw;\n          }\n        }\n      }\n";
}

}  // namespace

StatusOr<GeneratedCudaKernel> RenderPoolKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 1) return InvalidArgument("needs 1 input");
  ASSIGN_OR_RETURN(Pool2d p, ResolvePool(desc, desc.inputs[0]));
  const Dims y = {desc.inputs[0][0], desc.inputs[0][1], p.oh, p.ow};
  const int64_t total = ElementCount(y);
  const std::string name = KernelName(desc);
  std::string s = Signature(name, 1, 1, Describe(desc));
  s += ElementLoop(total) + "    const long long plane = e / " + Int(std::max<int64_t>(1, p.oh * p.ow)) +
       ", oh = (e / " + Int(std::max<int64_t>(1, p.ow)) + ") % " + Int(std::max<int64_t>(1, p.oh)) + ", ow = e % " +
       Int(std::max<int64_t>(1, p.ow)) + ";\n    const float* xp = (const float*)a.in0 + plane * " + Int(p.h * p.w) +
       ";\n    {\n";
  if (desc.kind == CudaKind::kMaxPool) {
    s += ArgMaxCode(p) + "      a.out0[e] = best;\n";
  } else {
    // Sum in window order; the divisor: the window's cells inside the input, or all
    // of them with count_include_pad (floor sizes: every cell lies in the padded input).
    s += "      float sum = 0.f;\n      int cells = 0;\n      for (int i = 0; i < " + std::to_string(p.kh) +
         "; ++i) {\n        const long long ih = oh * " + Int(p.sh) + " - " + Int(p.pt) + " + i;\n" +
         "        if (ih < 0 || ih >= " + Int(p.h) + ") continue;\n        for (int j = 0; j < " +
         std::to_string(p.kw) + "; ++j) {\n          const long long iw = ow * " + Int(p.sw) + " - " + Int(p.pl) +
         " + j;\n          if (iw < 0 || iw >= " + Int(p.w) + ") continue;\n          sum += xp[ih * " + Int(p.w) +
         " + iw];\n          ++cells;\n        }\n      }\n";
    s += desc.count_include_pad ? "      a.out0[e] = sum / " + std::to_string(p.kh * p.kw) + ".f;\n"
                                : "      a.out0[e] = cells > 0 ? sum / (float)cells : kiln_nan();\n";
  }
  s += "    }\n  }\n}\n";
  return Finish(name, s, 1, {y}, ElementwiseLaunch(total));
}

// dX[cell] = the sum of dY over the windows whose first maximal cell it is; the
// windows covering (ih, iw) are oh in [ceil((ih + pt - kh + 1) / sh), (ih + pt) / sh].
StatusOr<GeneratedCudaKernel> RenderMaxPoolGradKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 2) return InvalidArgument("needs dy and x");
  const Dims& x = desc.inputs[1];
  ASSIGN_OR_RETURN(Pool2d p, ResolvePool(desc, x));
  const Dims y = {x[0], x[1], p.oh, p.ow};
  if (desc.inputs[0] != y) return InvalidArgument("dy ", DimsToString(desc.inputs[0]), " is not ", DimsToString(y));
  const int64_t total = ElementCount(x);
  const std::string name = KernelName(desc);
  std::string s = Signature(name, 2, 1, Describe(desc));
  s += ElementLoop(total) + "    const long long plane = e / " + Int(std::max<int64_t>(1, p.h * p.w)) +
       ", cell = e % " + Int(std::max<int64_t>(1, p.h * p.w)) + ", ch = cell / " + Int(std::max<int64_t>(1, p.w)) +
       ", cw = cell % " + Int(std::max<int64_t>(1, p.w)) + ";\n    const float* xp = (const float*)a.in1 + plane * " +
       Int(p.h * p.w) + ";\n    const float* dy = (const float*)a.in0 + plane * " + Int(p.oh * p.ow) +
       ";\n    float acc = 0.f;\n" + "    const long long lo_h = ch + " + Int(p.pt - p.kh + 1) + ", lo_w = cw + " +
       Int(p.pl - p.kw + 1) + ";\n" + "    const long long oh0 = lo_h <= 0 ? 0 : (lo_h + " + Int(p.sh - 1) + ") / " +
       Int(p.sh) + ", ow0 = lo_w <= 0 ? 0 : (lo_w + " + Int(p.sw - 1) + ") / " + Int(p.sw) + ";\n" +
       "    long long oh1 = (ch + " + Int(p.pt) + ") / " + Int(p.sh) + ", ow1 = (cw + " + Int(p.pl) + ") / " +
       Int(p.sw) + ";\n    if (oh1 > " + Int(p.oh - 1) + ") oh1 = " + Int(p.oh - 1) + ";\n    if (ow1 > " +
       Int(p.ow - 1) + ") ow1 = " + Int(p.ow - 1) + ";\n" +
       "    for (long long oh = oh0; oh <= oh1; ++oh) {\n    for (long long ow = ow0; ow <= ow1; ++ow) {\n" +
       ArgMaxCode(p) + "      if (best_at == cell) acc += dy[oh * " + Int(p.ow) + " + ow];\n    }\n    }\n" +
       "    a.out0[e] = acc;\n  }\n}\n";
  return Finish(name, s, 2, {x}, ElementwiseLaunch(total));
}

}  // namespace kiln::cuda
