// Reference kernels of the optimizer updates and ClipByGlobalNorm
// (docs/training_ops.md). They run every training step over every parameter,
// so unlike the other reference kernels they are written for speed: hyperparameters
// are parsed when the kernel is created, per-run constants (Adam's bias
// corrections) are hoisted, and the loops are plain contiguous loops in the
// parameter's own type that the compiler vectorizes (this file is built with
// -fno-math-errno so that sqrt vectorizes; its arguments are never negative).
//
// In place: the runtime may give p' the buffer of p, m' that of m, ... Every loop
// reads element i of every input before writing element i of any output, which
// makes exact aliasing correct. Three versions of each loop are instantiated: one
// in place and one for fully distinct buffers (both with __restrict pointers, so
// they vectorize without run-time alias checks; a mix of in-place and fresh outputs
// copies the fresh ones' inputs first and runs in place), and a plain one for any
// other exact aliasing.
#include "ir/core/optimizer.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <type_traits>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using Refs = std::vector<TensorRef>;

// ---- Loop drivers -------------------------------------------------------------------------------
// A step maps (p, g, s1, s2) to p' and updates the kStates state values (s1, s2) in place;
// unused states are dummies the compiler removes.
//
// A state that decays without gradient (Adam's and momentum's first moment: x0.9 per step)
// reaches the subnormal range after ~700 steps, and x86 computes on subnormals through
// microcode assists, ~100x slower: the Fashion-MNIST MLP's Adam update went from 0.14 to
// 1.04 ms per step in its second epoch (docs/benchmarks.md). So the states keep no
// subnormals: below FLT_MIN (DBL_MIN) they become 0, as XLA and TensorFlow run with FTZ/DAZ.
// The parameter update they would have made is below 1e-30.
template <typename T>
inline T NoSubnormal(T x) {
  return std::fabs(x) < std::numeric_limits<T>::min() ? T(0) : x;
}

template <int kStates, typename T, typename Step>
void LoopInPlace(int64_t n, T* __restrict p, const T* __restrict g, T* __restrict s1, T* __restrict s2,
                 const Step& step) {
  for (int64_t i = 0; i < n; ++i) {
    T a = T(0), b = T(0);
    if constexpr (kStates >= 1) a = s1[i];
    if constexpr (kStates >= 2) b = s2[i];
    p[i] = step(p[i], g[i], a, b);
    if constexpr (kStates >= 1) s1[i] = NoSubnormal(a);
    if constexpr (kStates >= 2) s2[i] = NoSubnormal(b);
  }
}

template <int kStates, typename T, typename Step>
void LoopDistinct(int64_t n, const T* __restrict p, const T* __restrict g, const T* __restrict s1,
                  const T* __restrict s2, T* __restrict po, T* __restrict s1o, T* __restrict s2o, const Step& step) {
  for (int64_t i = 0; i < n; ++i) {
    T a = T(0), b = T(0);
    if constexpr (kStates >= 1) a = s1[i];
    if constexpr (kStates >= 2) b = s2[i];
    po[i] = step(p[i], g[i], a, b);
    if constexpr (kStates >= 1) s1o[i] = NoSubnormal(a);
    if constexpr (kStates >= 2) s2o[i] = NoSubnormal(b);
  }
}

// Any exact aliasing: every input of element i is loaded before the first store.
template <int kStates, typename T, typename Step>
void LoopGeneral(int64_t n, const T* p, const T* g, const T* s1, const T* s2, T* po, T* s1o, T* s2o, const Step& step) {
  for (int64_t i = 0; i < n; ++i) {
    const T pi = p[i], gi = g[i];
    T a = T(0), b = T(0);
    if constexpr (kStates >= 1) a = s1[i];
    if constexpr (kStates >= 2) b = s2[i];
    const T np = step(pi, gi, a, b);
    po[i] = np;
    if constexpr (kStates >= 1) s1o[i] = NoSubnormal(a);
    if constexpr (kStates >= 2) s2o[i] = NoSubnormal(b);
  }
}

// Large parameters are split over the session's threads (the loops are elementwise, so
// chunks are independent); small ones are not worth a parallel region.
template <typename Body>
void ForChunks(int64_t n, const Body& body) {
  constexpr int64_t kChunk = 16384;
  if (n < 2 * kChunk || omp_get_max_threads() == 1) {
    body(0, n);
    return;
  }
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < chunks; ++c) body(c * kChunk, std::min(n, (c + 1) * kChunk));
}

template <typename T>
T* Offset(T* p, int64_t at) {
  return p ? p + at : nullptr;
}

// Inputs: p, g, then the states; outputs: p', then the states, state k at input 2 + k and output 1 + k.
template <int kStates, typename T, typename Step>
void RunLoop(const Refs& in, const Refs& out, const Step& step) {
  const int64_t n = in[0].num_elements();
  if (n == 0) return;
  auto ptr = [](const TensorRef& t) { return t.as<T>(); };
  T* s1 = kStates >= 1 ? ptr(in[2]) : nullptr;
  T* s2 = kStates >= 2 ? ptr(in[3]) : nullptr;
  T* s1o = kStates >= 1 ? ptr(out[1]) : nullptr;
  T* s2o = kStates >= 2 ? ptr(out[2]) : nullptr;
  // distinct: no output overlaps an input or another output. updatable: every output either is
  // its own input's buffer or overlaps nothing, the outputs are mutually disjoint and g overlaps
  // none of them; then copying the other inputs into their outputs makes the update in place.
  bool distinct = true, updatable = true;
  for (int k = 0; k <= kStates; ++k) {
    const TensorRef& o = out[k];
    const int own = k == 0 ? 0 : 1 + k;  // the input it replaces
    for (int j = 0; j < 2 + kStates; ++j) {
      const bool overlap = ref::Overlap(o, in[j]);
      distinct = distinct && !overlap;
      updatable = updatable && (!overlap || (j == own && o.data == in[own].data));
    }
    for (int j = 0; j < k; ++j) {
      distinct = distinct && !ref::Overlap(o, out[j]);
      updatable = updatable && !ref::Overlap(o, out[j]);
    }
  }
  T* p = ptr(in[0]);
  T* g = ptr(in[1]);
  T* po = ptr(out[0]);
  if (distinct) {
    ForChunks(n, [&](int64_t b, int64_t e) {
      LoopDistinct<kStates>(e - b, p + b, g + b, Offset(s1, b), Offset(s2, b), po + b, Offset(s1o, b), Offset(s2o, b),
                            step);
    });
  } else if (updatable) {
    for (int k = 0; k <= kStates; ++k) {
      const TensorRef& i = in[k == 0 ? 0 : 1 + k];
      if (out[k].data != i.data) std::memcpy(out[k].data, i.data, n * sizeof(T));
    }
    ForChunks(n, [&](int64_t b, int64_t e) {
      LoopInPlace<kStates>(e - b, po + b, g + b, Offset(s1o, b), Offset(s2o, b), step);
    });
  } else {
    ForChunks(n, [&](int64_t b, int64_t e) {
      LoopGeneral<kStates>(e - b, p + b, g + b, Offset(s1, b), Offset(s2, b), po + b, Offset(s1o, b), Offset(s2o, b),
                           step);
    });
  }
}

// ---- The updates --------------------------------------------------------------------------------
// Each has a step functor per element type T; hyperparameters (read with the optimizer
// table's defaults, ir/core/optimizer.h) are converted to T once.
// Decay: with weight_decay 0 the gradient is used as is (no 0 * inf = NaN).

using Hyper = OptimizerHyperparams;

template <typename T, bool kDecay>
T Decayed(T p, T g, T wd) {
  if constexpr (kDecay) return g + wd * p;
  return g;
}

struct SGD {
  static constexpr int kInputs = 2, kStates = 0;
  template <typename T, bool kDecay>
  struct Step {
    T lr, wd;
    T operator()(T p, T g, T&, T&) const { return p - lr * Decayed<T, kDecay>(p, g, wd); }
  };
  template <typename T, bool kDecay>
  static Step<T, kDecay> Make(const Hyper& h, const Refs&) {
    return {T(h.lr), T(h.weight_decay)};
  }
};

struct Momentum {
  static constexpr int kInputs = 3, kStates = 1;
  template <typename T, bool kDecay>
  struct Step {
    T lr, wd, mu;
    bool nesterov;  // loop-invariant: the compiler unswitches it
    T operator()(T p, T g, T& v, T&) const {
      g = Decayed<T, kDecay>(p, g, wd);
      v = mu * v + g;
      return p - lr * (nesterov ? g + mu * v : v);
    }
  };
  template <typename T, bool kDecay>
  static Step<T, kDecay> Make(const Hyper& h, const Refs&) {
    return {T(h.lr), T(h.weight_decay), T(h.momentum), h.nesterov};
  }
};

struct Adagrad {
  static constexpr int kInputs = 3, kStates = 1;
  template <typename T, bool kDecay>
  struct Step {
    T lr, wd, eps;
    T operator()(T p, T g, T& s, T&) const {
      g = Decayed<T, kDecay>(p, g, wd);
      s = s + g * g;
      return p - lr * g / (std::sqrt(s) + eps);
    }
  };
  template <typename T, bool kDecay>
  static Step<T, kDecay> Make(const Hyper& h, const Refs&) {
    return {T(h.lr), T(h.weight_decay), T(h.epsilon)};
  }
};

struct Adadelta {
  static constexpr int kInputs = 4, kStates = 2;
  template <typename T, bool kDecay>
  struct Step {
    T lr, wd, rho, one_minus_rho, eps;
    T operator()(T p, T g, T& s, T& d) const {
      g = Decayed<T, kDecay>(p, g, wd);
      s = rho * s + one_minus_rho * g * g;
      const T delta = std::sqrt(d + eps) / std::sqrt(s + eps) * g;
      d = rho * d + one_minus_rho * delta * delta;
      return p - lr * delta;
    }
  };
  template <typename T, bool kDecay>
  static Step<T, kDecay> Make(const Hyper& h, const Refs&) {
    return {T(h.lr), T(h.weight_decay), T(h.rho), T(1) - T(h.rho), T(h.epsilon)};
  }
};

struct RMSprop {
  static constexpr int kInputs = 3, kStates = 1;
  template <typename T, bool kDecay>
  struct Step {
    T lr, wd, rho, one_minus_rho, eps;
    T operator()(T p, T g, T& s, T&) const {
      g = Decayed<T, kDecay>(p, g, wd);
      s = rho * s + one_minus_rho * g * g;
      return p - lr * g / (std::sqrt(s) + eps);
    }
  };
  template <typename T, bool kDecay>
  static Step<T, kDecay> Make(const Hyper& h, const Refs&) {
    return {T(h.lr), T(h.weight_decay), T(h.rho), T(1) - T(h.rho), T(h.epsilon)};
  }
};

struct Adam {
  static constexpr int kInputs = 5, kStates = 2;
  // p' = p - (lr / bc1) * m' / (sqrt(v') / sqrt(bc2) + eps), as torch.optim.Adam computes it.
  template <typename T, bool kDecay>
  struct Step {
    T wd, beta1, one_minus_beta1, beta2, one_minus_beta2, step_size, inv_sqrt_bc2, eps;
    T operator()(T p, T g, T& m, T& v) const {
      g = Decayed<T, kDecay>(p, g, wd);
      m = beta1 * m + one_minus_beta1 * g;
      v = beta2 * v + one_minus_beta2 * g * g;
      return p - step_size * m / (std::sqrt(v) * inv_sqrt_bc2 + eps);
    }
  };
  // The bias corrections depend on the step input, read once per run (t = step + 1).
  template <typename T, bool kDecay>
  static Step<T, kDecay> Make(const Hyper& h, const Refs& in) {
    const double t = static_cast<double>(in[4].as<int64_t>()[0]) + 1;
    const double bc1 = 1 - std::pow(static_cast<double>(h.beta1), t);
    const double bc2 = 1 - std::pow(static_cast<double>(h.beta2), t);
    return {T(h.weight_decay), T(h.beta1),    T(1) - T(h.beta1),     T(h.beta2),
            T(1) - T(h.beta2), T(h.lr / bc1), T(1 / std::sqrt(bc2)), T(h.epsilon)};
  }
};

Status CheckUpdateBuffers(int num_inputs, int num_states, const Refs& in, const Refs& out) {
  const TensorRef& p = in[0];
  if (p.dtype != proto::DT_FLOAT && p.dtype != proto::DT_DOUBLE) {
    return Unimplemented("param type ", DTypeName(p.dtype), " is not supported (supported: float32, float64)");
  }
  for (int i = 1; i < 2 + num_states; ++i) {
    if (in[i].dtype != p.dtype || in[i].num_elements() != p.num_elements()) {
      return InvalidArgument("input ", i, " (", DTypeName(in[i].dtype), " ", DimsToString(in[i].dims),
                             ") does not match the param (", DTypeName(p.dtype), " ", DimsToString(p.dims), ")");
    }
  }
  for (int k = 0; k <= num_states; ++k) {
    if (out[k].dtype != p.dtype || out[k].num_elements() != p.num_elements()) {
      return InvalidArgument("output ", k, " (", DTypeName(out[k].dtype), " ", DimsToString(out[k].dims),
                             ") does not match the param (", DTypeName(p.dtype), " ", DimsToString(p.dims), ")");
    }
  }
  if (num_inputs == 5) {  // Adam's step
    const TensorRef& step = in[4];
    if (step.dtype != proto::DT_INT64 || step.num_elements() != 1) {
      return InvalidArgument("step must be an int64 scalar, got ", DTypeName(step.dtype), " ", DimsToString(step.dims));
    }
    if (step.as<int64_t>()[0] < 0) return InvalidArgument("step ", step.as<int64_t>()[0], " is negative");
  }
  return Status::Ok();
}

template <typename Op>
class UpdateKernel final : public Kernel {
 public:
  explicit UpdateKernel(const Hyper& h) : h_(h) {}

  Status Run(const Refs& in, const Refs& out) override {
    RETURN_IF_ERROR(ref::CheckBuffers(in, out, Op::kInputs, Op::kStates + 1));
    RETURN_IF_ERROR(CheckUpdateBuffers(Op::kInputs, Op::kStates, in, out));
    Hyper h = h_;
    if (ref::HasInput(in, Op::kInputs)) {  // the learning rate as an input (a state the trainer lowers)
      const TensorRef& lr = in[Op::kInputs];
      if (lr.dtype != proto::DT_FLOAT || lr.num_elements() != 1) {
        return InvalidArgument("the learning rate input must be a float32 scalar, got ", DTypeName(lr.dtype), " ",
                               DimsToString(lr.dims));
      }
      h.lr = lr.as<float>()[0];
      if (!(h.lr >= 0) || !std::isfinite(h.lr)) return InvalidArgument("the learning rate ", h.lr, " is not >= 0");
    }
    if (in[0].dtype == proto::DT_FLOAT) return Dispatch<float>(h, in, out);
    return Dispatch<double>(h, in, out);
  }

 private:
  template <typename T>
  static Status Dispatch(const Hyper& h, const Refs& in, const Refs& out) {
    if (h.weight_decay != 0) {
      RunLoop<Op::kStates, T>(in, out, Op::template Make<T, true>(h, in));
    } else {
      RunLoop<Op::kStates, T>(in, out, Op::template Make<T, false>(h, in));
    }
    return Status::Ok();
  }

  Hyper h_;
};

template <typename Op>
void RegisterUpdate(KernelRegistry& r, const char* op, bool lr_required) {
  const OptimizerDef* def = FindOptimizerByUpdateOp(op);
  r.Register("ref", op, [lr_required, def](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    if (lr_required && !spec.attrs.Has("lr")) return InvalidArgument(spec.Label(), ": missing required attribute 'lr'");
    return std::unique_ptr<Kernel>(new UpdateKernel<Op>(UpdateHyperparams(*def, spec.attrs)));
  });
}

// ---- ClipByGlobalNorm ---------------------------------------------------------------------------

// Sum of squares in double; four partial sums so that the loop vectorizes without -ffast-math.
template <typename T>
double SumOfSquares(const T* x, int64_t n) {
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    for (int k = 0; k < 4; ++k) acc[k] += static_cast<double>(x[i + k]) * static_cast<double>(x[i + k]);
  }
  for (; i < n; ++i) acc[0] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

Status ClipByGlobalNormKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (in.size() != out.size()) return InvalidArgument("has ", in.size(), " inputs but ", out.size(), " outputs");
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].dtype != in[0].dtype || out[i].dtype != in[0].dtype || out[i].num_elements() != in[i].num_elements()) {
      return InvalidArgument("input ", i, " (", DTypeName(in[i].dtype), " ", DimsToString(in[i].dims), ") and output ",
                             i, " (", DTypeName(out[i].dtype), " ", DimsToString(out[i].dims),
                             ") must match each other and input 0's dtype");
    }
  }
  const double max_norm = spec.attrs.GetFloat("max_norm", 0);
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    // Every input is read for the norm before any output is written.
    double sum = 0;
    for (const TensorRef& g : in) sum += SumOfSquares(g.as<T>(), g.num_elements());
    const double scale = std::min(1.0, max_norm / (std::sqrt(sum) + 1e-6));
    const T s = static_cast<T>(scale);
    for (size_t i = 0; i < in.size(); ++i) {
      const T* x = in[i].as<T>();
      T* y = out[i].as<T>();
      const int64_t n = in[i].num_elements();
      if (scale == 1.0) {
        if (y != x && n > 0) std::memmove(y, x, n * sizeof(T));  // in place: nothing to do
      } else {
        for (int64_t j = 0; j < n; ++j) y[j] = x[j] * s;
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceOptimizerKernels(KernelRegistry& r) {
  RegisterUpdate<SGD>(r, "SGDUpdate", true);
  RegisterUpdate<Momentum>(r, "MomentumUpdate", true);
  RegisterUpdate<Adagrad>(r, "AdagradUpdate", true);
  RegisterUpdate<Adadelta>(r, "AdadeltaUpdate", false);
  RegisterUpdate<RMSprop>(r, "RMSpropUpdate", true);
  RegisterUpdate<Adam>(r, "AdamUpdate", false);
  ref::RegisterRef(r, "ClipByGlobalNorm", 1, 1, ClipByGlobalNormKernel);
}

}  // namespace kiln::runtime
