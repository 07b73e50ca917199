// Reference kernels of ONNX's class losses (ir/core/ops/loss.cc): NegativeLogLikelihoodLoss,
// SoftmaxCrossEntropyLoss and NegativeLogLikelihoodLossGrad. Sums in double. A mean over
// weights that sum to 0 (every target ignored, or an empty batch) is 0/0 = NaN, as in ONNX's
// reference and PyTorch.
#include <cmath>
#include <string>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::DispatchFloat;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

enum class Reduction { kNone, kSum, kMean };

// The geometry of input [N, C, d...] and target [N, d...]: element e = n * D + d of the
// target selects input offset (n * C + class) * D + d; ignored targets have weight 0.
struct ClassLoss {
  int64_t classes = 0, inner = 1;  // C, D = product of d...
  Reduction reduction = Reduction::kMean;
  std::vector<int64_t> target;  // per element: its class, -1 when ignored
  std::vector<double> weight;   // per element: weight[class] (1 without weights), 0 when ignored
  double weight_sum = 0;

  int64_t elements() const { return static_cast<int64_t>(target.size()); }
  int64_t Offset(int64_t e) const { return ((e / inner) * classes + target[e]) * inner + e % inner; }
  // The factor of element e's loss in the reduced loss.
  double Scale() const { return reduction == Reduction::kMean ? 1.0 / weight_sum : 1.0; }
};

// `x` = index of the input in `in`; the target follows it, then the optional weights.
StatusOr<ClassLoss> ResolveClassLoss(const KernelSpec& spec, const Refs& in, int x) {
  const Dims& dims = in[x].dims;
  if (dims.size() < 2) return InvalidArgument("input must have shape [N, C, d1..dk], got ", DimsToString(dims));
  ClassLoss loss;
  loss.classes = dims[1];
  for (size_t d = 2; d < dims.size(); ++d) loss.inner *= dims[d];
  if (in[x + 1].num_elements() != dims[0] * loss.inner) {
    return InvalidArgument("target ", DimsToString(in[x + 1].dims), " does not match input ", DimsToString(dims));
  }
  const std::string reduction = spec.attrs.GetString("reduction", "mean");
  if (reduction == "none") {
    loss.reduction = Reduction::kNone;
  } else if (reduction == "sum") {
    loss.reduction = Reduction::kSum;
  } else if (reduction != "mean") {
    return InvalidArgument("reduction must be none, sum or mean, got ", reduction);
  }
  const bool weighted = ref::HasInput(in, x + 2);
  if (weighted && (in[x + 2].num_elements() != loss.classes || in[x + 2].dtype != in[x].dtype)) {
    return InvalidArgument("weight must have shape [", loss.classes, "] and the input's dtype");
  }
  ASSIGN_OR_RETURN(loss.target, ref::ReadInts(in[x + 1], "target"));
  const int64_t ignore = spec.attrs.GetInt("ignore_index", 0);
  const bool has_ignore = spec.attrs.Has("ignore_index");
  loss.weight.resize(loss.target.size());
  for (size_t e = 0; e < loss.target.size(); ++e) {
    int64_t& t = loss.target[e];
    if (has_ignore && t == ignore) {
      t = -1;
      loss.weight[e] = 0;
      continue;
    }
    if (t < 0 || t >= loss.classes) {
      return InvalidArgument("label ", t, " of target element ", e, " is out of range [0, ", loss.classes, ")");
    }
    loss.weight[e] = weighted ? ref::ElementAsDouble(in[x + 2], t) : 1.0;
    loss.weight_sum += loss.weight[e];
  }
  return loss;
}

// Writes the loss from the log-probabilities `lp` (the input of NLL, the log_softmax of SCE).
template <typename T, typename LogProb>
Status WriteLoss(const ClassLoss& loss, LogProb lp, const TensorRef& out) {
  const int64_t count = loss.reduction == Reduction::kNone ? loss.elements() : 1;
  if (out.num_elements() != count) return InvalidArgument("loss must have ", count, " elements");
  T* y = out.as<T>();
  double sum = 0;
  for (int64_t e = 0; e < loss.elements(); ++e) {
    const double v = loss.target[e] < 0 ? 0.0 : -lp(loss.Offset(e)) * loss.weight[e];
    if (loss.reduction == Reduction::kNone) {
      y[e] = static_cast<T>(v);
    } else {
      sum += v;
    }
  }
  if (loss.reduction != Reduction::kNone) y[0] = static_cast<T>(sum * loss.Scale());
  return Status::Ok();
}

Status NllKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(ClassLoss loss, ResolveClassLoss(spec, in, 0));
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    return WriteLoss<T>(
        loss, [x](int64_t i) { return static_cast<double>(x[i]); }, out[0]);
  });
}

// log_prob = log_softmax over axis 1 (max subtracted), then NLL.
Status SoftmaxCrossEntropyLossKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(ClassLoss loss, ResolveClassLoss(spec, in, 0));
  const int64_t total = in[0].num_elements();
  if (ref::HasOutput(out, 1) && out[1].num_elements() != total) return InvalidArgument("log_prob must match scores");
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    std::vector<double> lp(static_cast<size_t>(total));
    const int64_t outer = loss.inner == 0 || loss.classes == 0 ? 0 : total / (loss.classes * loss.inner);
    for (int64_t n = 0; n < outer; ++n) {
      for (int64_t d = 0; d < loss.inner; ++d) {
        const int64_t base = n * loss.classes * loss.inner + d;
        double max = -INFINITY, sum = 0;
        for (int64_t c = 0; c < loss.classes; ++c) max = std::fmax(max, static_cast<double>(x[base + c * loss.inner]));
        for (int64_t c = 0; c < loss.classes; ++c) sum += std::exp(x[base + c * loss.inner] - max);
        const double log_sum = max + std::log(sum);
        for (int64_t c = 0; c < loss.classes; ++c) lp[base + c * loss.inner] = x[base + c * loss.inner] - log_sum;
      }
    }
    if (ref::HasOutput(out, 1)) {
      for (int64_t i = 0; i < total; ++i) out[1].as<T>()[i] = static_cast<T>(lp[i]);
    }
    return WriteLoss<T>(
        loss, [&lp](int64_t i) { return lp[i]; }, out[0]);
  });
}

// dInput = -dLoss[e] * weight[e] * scale at each element's target class, 0 elsewhere.
Status NllGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(ClassLoss loss, ResolveClassLoss(spec, in, 1));
  const int64_t dy_count = loss.reduction == Reduction::kNone ? loss.elements() : 1;
  if (in[0].num_elements() != dy_count || in[0].dtype != in[1].dtype) {
    return InvalidArgument("dLoss must have ", dy_count, " elements of the input's dtype");
  }
  if (out[0].num_elements() != in[1].num_elements()) return InvalidArgument("dInput must match input");
  return DispatchFloat(in[1].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* dy = in[0].as<T>();
    T* dx = out[0].as<T>();
    std::fill(dx, dx + out[0].num_elements(), T{0});
    const double scale = loss.Scale();
    for (int64_t e = 0; e < loss.elements(); ++e) {
      if (loss.target[e] < 0) continue;
      const double g = loss.reduction == Reduction::kNone ? dy[e] : dy[0] * scale;
      dx[loss.Offset(e)] = static_cast<T>(-g * loss.weight[e]);
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceLossKernels(KernelRegistry& r) {
  RegisterRef(r, "NegativeLogLikelihoodLoss", 2, 1, NllKernel);
  RegisterRef(r, "SoftmaxCrossEntropyLoss", 2, 1, SoftmaxCrossEntropyLossKernel);
  RegisterRef(r, "NegativeLogLikelihoodLossGrad", 3, 1, NllGradKernel);
}

}  // namespace kiln::runtime
