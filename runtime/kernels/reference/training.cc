// Reference kernels of the losses and their gradients (docs/training_ops.md);
// the optimizer updates are in optimizer.cc. Losses are computed in double
// (log-sum-exp with the row maximum subtracted) and rounded once; a batch with
// no elements has loss 0 rather than 0/0.
#include <algorithm>
#include <cmath>
#include <string>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {

void RegisterReferenceOptimizerKernels(KernelRegistry& r);  // optimizer.cc

namespace {

using ref::DispatchFloat;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

constexpr double kProbMin = 1e-7;  // CrossEntropy / BinaryCrossEntropy clamp

// ---- Shared checks (shape inference has checked a compiled graph; direct callers may not have) ----

// pred and target of a loss (target at `t`), and the output holding `out_count` elements.
Status CheckLoss(const TensorRef& pred, const TensorRef& target, bool class_loss, bool sparse) {
  if (pred.dtype != proto::DT_FLOAT && pred.dtype != proto::DT_DOUBLE) {
    return Unimplemented("input type ", DTypeName(pred.dtype), " is not supported (supported: float32, float64)");
  }
  if (class_loss && pred.dims.size() != 2) {
    return InvalidArgument("prediction must have shape [N, C], got ", DimsToString(pred.dims));
  }
  if (sparse) {
    if (target.dtype != proto::DT_INT64 || target.dims.size() != 1 || target.dims[0] != pred.dims[0]) {
      return InvalidArgument("sparse target must be int64 [", pred.dims[0], "], got ", DTypeName(target.dtype), " ",
                             DimsToString(target.dims));
    }
    return Status::Ok();
  }
  if (target.dtype != pred.dtype || target.dims != pred.dims) {
    return InvalidArgument("target ", DTypeName(target.dtype), " ", DimsToString(target.dims), " differs from ",
                           DTypeName(pred.dtype), " ", DimsToString(pred.dims));
  }
  return Status::Ok();
}

Status CheckOutput(const TensorRef& out, DType dtype, int64_t count) {
  if (out.dtype != dtype || out.num_elements() != count) {
    return InvalidArgument("output ", DTypeName(out.dtype), " ", DimsToString(out.dims), " does not match ",
                           DTypeName(dtype), " with ", count, " elements");
  }
  return Status::Ok();
}

// Every class index in [0, C).
Status CheckLabels(const TensorRef& labels, int64_t classes) {
  const int64_t* y = labels.as<int64_t>();
  for (int64_t n = 0; n < labels.num_elements(); ++n) {
    if (y[n] < 0 || y[n] >= classes) {
      return InvalidArgument("label ", y[n], " of sample ", n, " is out of range [0, ", classes, ")");
    }
  }
  return Status::Ok();
}

// dLoss: a one-element input of pred's dtype.
StatusOr<double> ReadDLoss(const TensorRef& d, DType dtype) {
  if (d.dtype != dtype || d.num_elements() != 1) {
    return InvalidArgument("dLoss must be a ", DTypeName(dtype), " scalar, got ", DTypeName(d.dtype), " ",
                           DimsToString(d.dims));
  }
  return dtype == proto::DT_FLOAT ? static_cast<double>(d.as<float>()[0]) : d.as<double>()[0];
}

// Mean over `count` (0 for an empty batch).
double MeanOf(double sum, int64_t count) { return count == 0 ? 0.0 : sum / static_cast<double>(count); }

// ---- Class losses: pred [N, C], dense target [N, C] or sparse labels [N] --------------------------

// Visits row n of a dense or sparse target: fn(c, t) for every class with t != 0 (sparse: the label, 1).
template <typename T, typename Fn>
void ForTargets(const TensorRef& target, bool sparse, int64_t n, int64_t classes, Fn fn) {
  if (sparse) {
    fn(target.as<int64_t>()[n], 1.0);
    return;
  }
  const T* t = target.as<T>() + n * classes;
  for (int64_t c = 0; c < classes; ++c) {
    if (t[c] != T(0)) fn(c, static_cast<double>(t[c]));
  }
}

// log(sum_c exp(x_c)) of one row, with the maximum subtracted so that no exp overflows.
template <typename T>
double LogSumExp(const T* x, int64_t classes) {
  double max = -INFINITY;
  for (int64_t c = 0; c < classes; ++c) max = std::max(max, static_cast<double>(x[c]));
  if (std::isinf(max)) return max;  // every logit -inf (or one +inf): exp(x - max) would be NaN
  double sum = 0;
  for (int64_t c = 0; c < classes; ++c) sum += std::exp(static_cast<double>(x[c]) - max);
  return max + std::log(sum);
}

// SoftmaxCrossEntropy (softmax=true): -sum_c t * (x_c - lse); CrossEntropy: -sum_c t * log(clamp(p_c)).
template <bool kSoftmax>
Status ClassLoss(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const bool sparse = spec.attrs.GetInt("sparse", 0) != 0;
  RETURN_IF_ERROR(CheckLoss(in[0], in[1], true, sparse));
  RETURN_IF_ERROR(CheckOutput(out[0], in[0].dtype, 1));
  const int64_t batch = in[0].dims[0], classes = in[0].dims[1];
  if (sparse) RETURN_IF_ERROR(CheckLabels(in[1], classes));
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    double total = 0;
    for (int64_t n = 0; n < batch; ++n) {
      const T* x = in[0].as<T>() + n * classes;
      const double lse = kSoftmax ? LogSumExp(x, classes) : 0.0;
      ForTargets<T>(in[1], sparse, n, classes, [&](int64_t c, double t) {
        const double v = static_cast<double>(x[c]);
        total -= t * (kSoftmax ? v - lse : std::log(std::clamp(v, kProbMin, 1.0)));
      });
    }
    out[0].as<T>()[0] = static_cast<T>(MeanOf(total, batch));
    return Status::Ok();
  });
}

// dX = dLoss * (softmax * sum_c t - t) / N, or for CrossEntropy -dLoss * t / clamp(p) / N.
template <bool kSoftmax>
Status ClassLossGrad(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const bool sparse = spec.attrs.GetInt("sparse", 0) != 0;
  RETURN_IF_ERROR(CheckLoss(in[1], in[2], true, sparse));
  RETURN_IF_ERROR(CheckOutput(out[0], in[1].dtype, in[1].num_elements()));
  ASSIGN_OR_RETURN(double dloss, ReadDLoss(in[0], in[1].dtype));
  const int64_t batch = in[1].dims[0], classes = in[1].dims[1];
  if (sparse) RETURN_IF_ERROR(CheckLabels(in[2], classes));
  const double scale = dloss / static_cast<double>(std::max<int64_t>(batch, 1));
  return DispatchFloat(in[1].dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t n = 0; n < batch; ++n) {
      const T* x = in[1].as<T>() + n * classes;
      T* dx = out[0].as<T>() + n * classes;
      if constexpr (kSoftmax) {
        double target_sum = 0;
        ForTargets<T>(in[2], sparse, n, classes, [&](int64_t, double t) { target_sum += t; });
        const double lse = LogSumExp(x, classes);
        // Row-wise in place: x_c is read before dx_c is written, and the targets are not in dx.
        for (int64_t c = 0; c < classes; ++c) {
          const double t =
              sparse ? (in[2].as<int64_t>()[n] == c ? 1.0 : 0.0) : static_cast<double>(in[2].as<T>()[n * classes + c]);
          dx[c] = static_cast<T>(scale * (std::exp(static_cast<double>(x[c]) - lse) * target_sum - t));
        }
      } else {
        for (int64_t c = 0; c < classes; ++c) {
          const double t =
              sparse ? (in[2].as<int64_t>()[n] == c ? 1.0 : 0.0) : static_cast<double>(in[2].as<T>()[n * classes + c]);
          dx[c] = static_cast<T>(-scale * t / std::clamp(static_cast<double>(x[c]), kProbMin, 1.0));
        }
      }
    }
    return Status::Ok();
  });
}

// FusedSoftmaxCrossEntropy (dLoss, logits, target) -> (loss, dLogits[, dBias]): the two
// kernels above, then dBias[c] = sum over the rows of dLogits[n, c], in double.
Status FusedSoftmaxCE(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(ClassLoss<true>(spec, {in[1], in[2]}, {out[0]}).WithContext("loss"));
  RETURN_IF_ERROR(ClassLossGrad<true>(spec, in, {out[1]}).WithContext("gradient"));
  if (!ref::HasOutput(out, 2)) return Status::Ok();
  const int64_t batch = in[1].dims[0], classes = in[1].dims[1];
  RETURN_IF_ERROR(CheckOutput(out[2], in[1].dtype, classes).WithContext("bias gradient"));
  return DispatchFloat(in[1].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* dx = out[1].as<T>();
    for (int64_t c = 0; c < classes; ++c) {
      double sum = 0;
      for (int64_t n = 0; n < batch; ++n) sum += static_cast<double>(dx[n * classes + c]);
      out[2].as<T>()[c] = static_cast<T>(sum);
    }
    return Status::Ok();
  });
}

// ---- Elementwise losses: pred and target of one shape --------------------------------------------

// Per-element loss term and its derivative with respect to the prediction.
struct SigmoidCE {
  static double Loss(double x, double t) { return std::max(x, 0.0) - x * t + std::log1p(std::exp(-std::abs(x))); }
  static double Grad(double x, double t) {
    const double s = x >= 0 ? 1.0 / (1.0 + std::exp(-x)) : std::exp(x) / (1.0 + std::exp(x));
    return s - t;
  }
};

struct BinaryCE {
  static double Clamp(double p) { return std::clamp(p, kProbMin, 1.0 - kProbMin); }
  static double Loss(double p, double t) {
    p = Clamp(p);
    return -(t * std::log(p) + (1 - t) * std::log(1 - p));
  }
  static double Grad(double p, double t) {
    p = Clamp(p);
    return (p - t) / (p * (1 - p));
  }
};

struct SquaredError {
  static double Loss(double p, double t) { return (p - t) * (p - t); }
  static double Grad(double p, double t) { return 2 * (p - t); }
};

// MeanSquaredError's reduction: "mean" divides by numel; "half_sum" halves the sum instead.
StatusOr<bool> IsHalfSum(const Attrs& attrs) {
  const std::string r = attrs.GetString("reduction", "mean");
  if (r != "mean" && r != "half_sum")
    return InvalidArgument("reduction must be \"mean\" or \"half_sum\", got \"", r, "\"");
  return r == "half_sum";
}

template <typename Term>
Status ElementLoss(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckLoss(in[0], in[1], false, false));
  RETURN_IF_ERROR(CheckOutput(out[0], in[0].dtype, 1));
  ASSIGN_OR_RETURN(bool half_sum, IsHalfSum(spec.attrs));
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* p = in[0].as<T>();
    const T* t = in[1].as<T>();
    const int64_t n = in[0].num_elements();
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += Term::Loss(static_cast<double>(p[i]), static_cast<double>(t[i]));
    out[0].as<T>()[0] = static_cast<T>(half_sum ? 0.5 * total : MeanOf(total, n));
    return Status::Ok();
  });
}

template <typename Term>
Status ElementLossGrad(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckLoss(in[1], in[2], false, false));
  RETURN_IF_ERROR(CheckOutput(out[0], in[1].dtype, in[1].num_elements()));
  ASSIGN_OR_RETURN(double dloss, ReadDLoss(in[0], in[1].dtype));
  ASSIGN_OR_RETURN(bool half_sum, IsHalfSum(spec.attrs));
  const int64_t n = in[1].num_elements();
  // half_sum: d(0.5 * sum (p-t)^2) = (p - t) = Grad / 2.
  const double scale = half_sum ? 0.5 * dloss : dloss / static_cast<double>(std::max<int64_t>(n, 1));
  return DispatchFloat(in[1].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* p = in[1].as<T>();
    const T* t = in[2].as<T>();
    T* dp = out[0].as<T>();
    for (int64_t i = 0; i < n; ++i) {
      dp[i] = static_cast<T>(scale * Term::Grad(static_cast<double>(p[i]), static_cast<double>(t[i])));
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceTrainingKernels(KernelRegistry& r) {
  RegisterRef(r, "SoftmaxCrossEntropy", 2, 1, ClassLoss<true>);
  RegisterRef(r, "SoftmaxCrossEntropyGrad", 3, 1, ClassLossGrad<true>);
  RegisterRef(r, "FusedSoftmaxCrossEntropy", 3, 2, FusedSoftmaxCE);
  RegisterRef(r, "CrossEntropy", 2, 1, ClassLoss<false>);
  RegisterRef(r, "CrossEntropyGrad", 3, 1, ClassLossGrad<false>);
  RegisterRef(r, "SigmoidCrossEntropy", 2, 1, ElementLoss<SigmoidCE>);
  RegisterRef(r, "SigmoidCrossEntropyGrad", 3, 1, ElementLossGrad<SigmoidCE>);
  RegisterRef(r, "BinaryCrossEntropy", 2, 1, ElementLoss<BinaryCE>);
  RegisterRef(r, "BinaryCrossEntropyGrad", 3, 1, ElementLossGrad<BinaryCE>);
  RegisterRef(r, "MeanSquaredError", 2, 1, ElementLoss<SquaredError>);
  RegisterRef(r, "MeanSquaredErrorGrad", 3, 1, ElementLossGrad<SquaredError>);
  RegisterReferenceOptimizerKernels(r);
}

}  // namespace kiln::runtime
