// The training step's own kinds: the optimizer updates (in place on the parameter and its
// state slots, as the reference kernels in runtime/kernels/reference/optimizer.cc) and the
// int64 step counter. One thread per element, grid-stride; every input of element e is
// read before any output of element e is written, so exact aliasing (p' in p's bytes, m'
// in m's, ...) is correct, as the reference's loops.
#include <cstdio>
#include <sstream>

#include "compiler/backends/cuda/cuda_kinds.h"

namespace kiln::cuda {
using namespace kinds_internal;
namespace {

// A float literal that NVRTC and the host compiler read back bit-exactly.
std::string HexFloat(float v) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%af", static_cast<double>(v));
  return buf;
}

// Per update op: the state slots it keeps and the element update, in float (the reference's T).
// Inputs in the body: pv, gv (the decayed gradient is `g`), slots s1, s2 (read and written
// as locals); the hyperparameters are literals, `lr` a local (a constant or the input).
struct UpdateRule {
  const char* op;
  int slots;
  bool reads_step;
  std::string (*body)(const OptimizerHyperparams& h);
};

std::string Decay(const OptimizerHyperparams& h) {
  // With weight_decay 0 the gradient is used as is (no 0 * inf = NaN), as the reference.
  return h.weight_decay != 0 ? "    g = g + " + HexFloat(h.weight_decay) + " * pv;\n" : "";
}

const std::vector<UpdateRule>& UpdateRules() {
  static const std::vector<UpdateRule> rules = {
      {"SGDUpdate", 0, false, [](const OptimizerHyperparams& h) { return Decay(h) + "    pv = pv - lr * g;\n"; }},
      {"MomentumUpdate", 1, false,
       [](const OptimizerHyperparams& h) {
         const std::string mu = HexFloat(h.momentum);
         return Decay(h) + "    s1 = " + mu + " * s1 + g;\n    pv = pv - lr * (" +
                (h.nesterov ? "g + " + mu + " * s1" : std::string("s1")) + ");\n";
       }},
      {"AdagradUpdate", 1, false,
       [](const OptimizerHyperparams& h) {
         return Decay(h) + "    s1 = s1 + g * g;\n    pv = pv - lr * g / (sqrtf(s1) + " + HexFloat(h.epsilon) + ");\n";
       }},
      {"AdadeltaUpdate", 2, false,
       [](const OptimizerHyperparams& h) {
         const std::string rho = HexFloat(h.rho), rest = HexFloat(1.f - h.rho), eps = HexFloat(h.epsilon);
         return Decay(h) + "    s1 = " + rho + " * s1 + " + rest + " * g * g;\n    const float delta = sqrtf(s2 + " +
                eps + ") / sqrtf(s1 + " + eps + ") * g;\n    s2 = " + rho + " * s2 + " + rest +
                " * delta * delta;\n    pv = pv - lr * delta;\n";
       }},
      {"RMSpropUpdate", 1, false,
       [](const OptimizerHyperparams& h) {
         return Decay(h) + "    s1 = " + HexFloat(h.rho) + " * s1 + " + HexFloat(1.f - h.rho) +
                " * g * g;\n    pv = pv - lr * g / (sqrtf(s1) + " + HexFloat(h.epsilon) + ");\n";
       }},
      // p' = p - (lr / bc1) * m' / (sqrt(v') / sqrt(bc2) + eps), as torch.optim.Adam and the reference.
      {"AdamUpdate", 2, true,
       [](const OptimizerHyperparams& h) {
         return Decay(h) + "    s1 = " + HexFloat(h.beta1) + " * s1 + " + HexFloat(1.f - h.beta1) +
                " * g;\n    s2 = " + HexFloat(h.beta2) + " * s2 + " + HexFloat(1.f - h.beta2) +
                " * g * g;\n    pv = pv - step_size * s1 / (sqrtf(s2) * inv_sqrt_bc2 + " + HexFloat(h.epsilon) + ");\n";
       }},
  };
  return rules;
}

}  // namespace

StatusOr<GeneratedCudaKernel> RenderOptimizerUpdateKernel(const CudaKernelDesc& desc) {
  const UpdateRule* rule = nullptr;
  for (const UpdateRule& r : UpdateRules()) {
    if (desc.update_op == r.op) rule = &r;
  }
  if (rule == nullptr) return InvalidArgument("no generated update for '", desc.update_op, "'");
  const size_t want = 2 + rule->slots + (rule->reads_step ? 1 : 0) + (desc.lr_input ? 1 : 0);
  if (desc.inputs.size() != want) {
    return InvalidArgument(desc.update_op, " takes ", want, " inputs, got ", desc.inputs.size());
  }
  const Dims& p = desc.inputs[0];
  const int64_t n = ElementCount(p);
  for (int k = 1; k < 2 + rule->slots; ++k) {
    if (ElementCount(desc.inputs[k]) != n) {
      return InvalidArgument("input ", k, " ", DimsToString(desc.inputs[k]), " does not match the param ",
                             DimsToString(p));
    }
  }
  const int step_at = 2 + rule->slots, lr_at = step_at + (rule->reads_step ? 1 : 0);
  for (int k = step_at; k < static_cast<int>(want); ++k) {
    if (ElementCount(desc.inputs[k]) != 1) {
      return InvalidArgument(k == lr_at && desc.lr_input ? "the learning rate" : "the step", " must be a scalar, got ",
                             DimsToString(desc.inputs[k]));
    }
  }
  const std::string name = KernelName(desc);
  const int outputs = 1 + rule->slots;
  std::ostringstream s;
  s << Signature(name, static_cast<int>(want), outputs, Describe(desc));
  s << "  const float* p = (const float*)a.in0;\n  const float* gr = (const float*)a.in1;\n";
  for (int k = 0; k < rule->slots; ++k) s << "  const float* si" << k + 1 << " = (const float*)a.in" << 2 + k << ";\n";
  s << "  const float lr = "
    << (desc.lr_input ? "((const float*)a.in" + std::to_string(lr_at) + ")[0]" : HexFloat(desc.hyper.lr)) << ";\n";
  s << "  (void)lr;\n";
  if (rule->reads_step) {
    // The bias corrections of step t = counter + 1, in double as the reference, once per thread.
    s << "  const double t = (double)((const long long*)a.in" << step_at << ")[0] + 1.0;\n"
      << "  const double bc1 = 1.0 - pow((double)" << HexFloat(desc.hyper.beta1) << ", t);\n"
      << "  const double bc2 = 1.0 - pow((double)" << HexFloat(desc.hyper.beta2) << ", t);\n"
      << "  const float step_size = (float)((double)lr / bc1);\n"
      << "  const float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));\n";
  }
  s << ElementLoop(n);
  s << "    float pv = p[e], g = gr[e];\n";
  for (int k = 1; k <= 2; ++k)
    s << "    float s" << k << " = " << (k <= rule->slots ? "si" + std::to_string(k) + "[e]" : "0.f") << ";\n";
  s << rule->body(desc.hyper);
  s << "    a.out0[e] = pv;\n";
  for (int k = 1; k <= rule->slots; ++k) s << "    a.out" << k << "[e] = s" << k << ";\n";
  s << "    (void)s1; (void)s2;\n  }\n}\n";
  return Finish(name, s.str(), static_cast<int>(want), std::vector<Dims>(outputs, p), ElementwiseLaunch(n));
}

StatusOr<GeneratedCudaKernel> RenderCounterAddKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 1) return InvalidArgument("needs 1 input");
  const Dims& x = desc.inputs[0];
  const int64_t n = ElementCount(x);
  const std::string name = KernelName(desc);
  std::ostringstream s;
  s << Signature(name, 1, 1, Describe(desc));
  s << ElementLoop(n) << "    ((long long*)a.out0)[e] = ((const long long*)a.in0)[e] + " << Int(desc.addend)
    << ";\n  }\n}\n";
  GeneratedCudaKernel k = Finish(name, s.str(), 1, {x}, ElementwiseLaunch(n));
  k.int64_outputs = true;
  return k;
}

// The reference's mask (runtime/kernels/reference/gradient.cc): element e is kept when
// u = (h >> 11) * 2^-53 >= ratio, h = splitmix64(splitmix64(splitmix64(seed) ^ step) ^ e), and
// then scaled by 1 / (1 - ratio) (computed in double, rounded to float).
StatusOr<GeneratedCudaKernel> RenderDropoutKernel(const CudaKernelDesc& desc) {
  if (desc.inputs.size() != 2) return InvalidArgument("needs x and the step");
  if (ElementCount(desc.inputs[1]) != 1) return InvalidArgument("the step must be a scalar");
  const double ratio = desc.dropout_ratio;
  if (!(ratio >= 0.0 && ratio < 1.0)) return InvalidArgument("ratio must be in [0, 1), got ", ratio);
  const Dims& x = desc.inputs[0];
  const int64_t n = ElementCount(x);
  const std::string name = KernelName(desc);
  char ratio_literal[48], scale_literal[48];
  std::snprintf(ratio_literal, sizeof(ratio_literal), "%a", ratio);
  std::snprintf(scale_literal, sizeof(scale_literal), "%af",
                static_cast<double>(static_cast<float>(1.0 / (1.0 - ratio))));
  std::ostringstream s;
  s << "#ifndef KILN_SPLITMIX64\n#define KILN_SPLITMIX64\n"
    << "__device__ __forceinline__ unsigned long long kiln_splitmix64(unsigned long long z) {\n"
    << "  z += 0x9E3779B97F4A7C15ull;\n  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;\n"
    << "  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;\n  return z ^ (z >> 31);\n}\n#endif\n";
  s << Signature(name, 2, 2, Describe(desc));
  s << "  const float* x = (const float*)a.in0;\n"
    << "  const unsigned long long step = (unsigned long long)((const long long*)a.in1)[0];\n"
    << "  const unsigned long long base = kiln_splitmix64(kiln_splitmix64(" << desc.dropout_seed << "ull) ^ step);\n";
  s << ElementLoop(n)
    << "    const double u = (double)(kiln_splitmix64(base ^ (unsigned long long)e) >> 11) * 0x1.0p-53;\n"
    << "    const float mask = u >= " << ratio_literal << " ? " << scale_literal << " : 0.f;\n"
    << "    a.out0[e] = x[e] * mask;\n    a.out1[e] = mask;\n  }\n}\n";
  return Finish(name, s.str(), 2, {x, x}, ElementwiseLaunch(n));
}

}  // namespace kiln::cuda
