// Reference reductions: every reduction reads the optional 'axes' input (opset 18)
// with noop_with_empty_axes; the others than ReduceSum (Mean, Max, Min, Prod, SumSquare,
// L1, L2, LogSum, LogSumExp) also their opset-13 'axes' attribute.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::Acc;
using Refs = std::vector<TensorRef>;

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kSumSquare, kL1, kL2, kLogSum, kLogSumExp };

// The reduction's geometry for one (input shape, axes): computed on the first run
// and again only when the axes change, so steady-state runs allocate nothing.
struct ReduceGeometry {
  std::vector<int64_t> raw_axes;  // as read from the 'axes' input or attribute
  bool noop = false;
  Dims kept;  // the input shape with reduced axes set to 1
  int64_t n_out = 0, n_in = 0, count = 0;
  bool contiguous = false;  // the reduced axes form one block: x as [outer, reduced, inner]
  int64_t outer = 1, reduced = 1, inner = 1;
};

StatusOr<ReduceGeometry> ResolveReduce(const KernelSpec& spec, const Refs& in, const Refs& out, Reduce kind,
                                       std::vector<int64_t> raw_axes) {
  const Dims& x = in[0].dims;
  ReduceGeometry g;
  g.noop = raw_axes.empty() && spec.attrs.GetInt("noop_with_empty_axes", 0) != 0;
  g.raw_axes = std::move(raw_axes);
  if (g.noop) return g;
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, NormalizeAxes(g.raw_axes, x.size()));
  const bool keepdims = spec.attrs.GetInt("keepdims", 1) != 0;
  const Dims expected = ReducedDims(x, axes, keepdims);
  if (expected != out[0].dims) {
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " is not ", DimsToString(expected));
  }
  // Each input element lands on the output element of the same index with the
  // reduced axes set to 0: a broadcast of the keepdims shape onto the input.
  g.kept = ReducedDims(x, axes, true);
  g.n_out = ElementCount(g.kept);
  g.n_in = in[0].num_elements();
  g.count = g.n_out == 0 ? 0 : g.n_in / g.n_out;
  // Sums and means over one contiguous block of axes take a direct loop.
  std::vector<bool> is_reduced(x.size(), false);
  for (int64_t a : axes) is_reduced[a] = true;
  const auto first = std::find(is_reduced.begin(), is_reduced.end(), true);
  const auto last = std::find(is_reduced.rbegin(), is_reduced.rend(), true).base();
  g.contiguous = first != is_reduced.end() && std::all_of(first, last, [](bool b) { return b; });
  const size_t first_axis = first - is_reduced.begin();
  for (size_t d = 0; d < x.size(); ++d) {
    if (d < first_axis) {
      g.outer *= x[d];
    } else if (is_reduced[d]) {
      g.reduced *= x[d];
    } else {
      g.inner *= x[d];
    }
  }
  return g;
}

class ReduceKernel : public Kernel {
 public:
  ReduceKernel(const KernelSpec& spec, Reduce kind) : spec_(spec), kind_(kind) {}

  Status Run(const Refs& in, const Refs& out) override {
    RETURN_IF_ERROR(ref::CheckBuffers(in, out, 1, 1));
    if (out[0].dtype != in[0].dtype) return InvalidArgument("output type differs from the input's");
    RETURN_IF_ERROR(UpdateGeometry(in, out));
    const ReduceGeometry& g = *geometry_;
    if (g.noop) {
      RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
      if (out[0].num_bytes() > 0) std::memcpy(out[0].data, in[0].data, out[0].num_bytes());
      return Status::Ok();
    }
    if (in[0].dtype == proto::DT_BOOL && (kind_ == Reduce::kMax || kind_ == Reduce::kMin)) {
      // any / all: the bytes' maximum / minimum; an empty reduction's +-infinity made 0 / 1.
      uint8_t* y = out[0].as<uint8_t>();
      Compute<uint8_t>(g, in[0].as<uint8_t>(), y, in[0].dims);
      for (int64_t o = 0; o < g.n_out; ++o) y[o] = y[o] != 0;
      return Status::Ok();
    }
    return ref::DispatchNumeric(in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      Compute<T>(g, in[0].as<T>(), out[0].as<T>(), in[0].dims);
      return Status::Ok();
    });
  }

 private:
  // Recomputes the geometry when the axes differ from the last run's.
  Status UpdateGeometry(const Refs& in, const Refs& out) {
    if (ref::HasInput(in, 1)) {
      const TensorRef& axes = in[1];
      if (axes.dtype != proto::DT_INT64 && axes.dtype != proto::DT_INT32) {
        return InvalidArgument("axes must be int32 or int64, got ", DTypeName(axes.dtype));
      }
      if (geometry_ && ref::SameInts(axes, geometry_->raw_axes)) return Status::Ok();
      ASSIGN_OR_RETURN(std::vector<int64_t> raw_axes, ref::ReadInts(axes, "axes"));
      ASSIGN_OR_RETURN(geometry_, ResolveReduce(spec_, in, out, kind_, std::move(raw_axes)));
    } else if (!geometry_) {
      std::vector<int64_t> raw_axes;
      if (kind_ != Reduce::kSum) raw_axes = spec_.attrs.GetInts("axes");
      ASSIGN_OR_RETURN(geometry_, ResolveReduce(spec_, in, out, kind_, std::move(raw_axes)));
    }
    return Status::Ok();
  }

  // The ONNX-13 family past Sum/Mean/Max, accumulated in double: Min and
  // LogSumExp take a first pass (the minimum / the maximum, for stability).
  template <typename T>
  void ComputeInDouble(const ReduceGeometry& g, const T* xp, T* y, BroadcastIndexer& to_out) {
    double* acc = Scratch<double>(2 * g.n_out);
    double* peak = acc + g.n_out;
    const double inf = std::numeric_limits<double>::infinity();
    const bool product = kind_ == Reduce::kProd;
    std::fill(acc, acc + g.n_out, product ? 1.0 : kind_ == Reduce::kMin ? inf : 0.0);
    std::fill(peak, peak + g.n_out, -inf);
    if (kind_ == Reduce::kLogSumExp) {
      for (int64_t i = 0; i < g.n_in; ++i) peak[to_out(i)] = std::max(peak[to_out(i)], static_cast<double>(xp[i]));
    }
    for (int64_t i = 0; i < g.n_in; ++i) {
      const double v = static_cast<double>(xp[i]);
      double& a = acc[to_out(i)];
      switch (kind_) {
        case Reduce::kMin: a = std::isnan(v) || std::isnan(a) ? v + a : std::min(a, v); break;
        case Reduce::kProd: a *= v; break;
        case Reduce::kSumSquare:
        case Reduce::kL2: a += v * v; break;
        case Reduce::kL1: a += std::fabs(v); break;
        case Reduce::kLogSumExp: {
          const double p = peak[to_out(i)];
          a += std::isinf(p) ? std::exp(v) : std::exp(v - p);
          break;
        }
        default: a += v; break;  // kLogSum
      }
    }
    for (int64_t o = 0; o < g.n_out; ++o) {
      double r = acc[o];
      if (kind_ == Reduce::kL2) r = std::sqrt(r);
      if (kind_ == Reduce::kLogSum) r = std::log(r);
      if (kind_ == Reduce::kLogSumExp) r = std::log(r) + (std::isinf(peak[o]) ? 0.0 : peak[o]);
      y[o] = ref::FromDouble<T>(r);
    }
  }

  template <typename T>
  void Compute(const ReduceGeometry& g, const T* xp, T* y, const Dims& x) {
    BroadcastIndexer to_out(g.kept, x);
    if (kind_ != Reduce::kSum && kind_ != Reduce::kMean && kind_ != Reduce::kMax) {
      ComputeInDouble(g, xp, y, to_out);
      return;
    }
    if (kind_ == Reduce::kMax) {
      T* best = Scratch<T>(g.n_out);
      std::fill(best, best + g.n_out, std::numeric_limits<T>::lowest());
      if constexpr (std::is_floating_point_v<T>) std::fill(best, best + g.n_out, -std::numeric_limits<T>::infinity());
      for (int64_t i = 0; i < g.n_in; ++i) {
        T& b = best[to_out(i)];
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(xp[i]) || std::isnan(b)) {
            b = std::numeric_limits<T>::quiet_NaN();
            continue;
          }
        }
        if (xp[i] > b) b = xp[i];
      }
      std::copy(best, best + g.n_out, y);
      return;
    }
    Acc<T>* sum = Scratch<Acc<T>>(g.n_out);
    std::fill(sum, sum + g.n_out, Acc<T>(0));
    if (g.contiguous) {
      // x as [outer, reduced, inner]: the same additions in the same order, without
      // an index computation per element (bias gradients reduce [N, C] over axis 0).
      for (int64_t o = 0; o < g.outer; ++o) {
        Acc<T>* s = sum + o * g.inner;
        for (int64_t r = 0; r < g.reduced; ++r) {
          const T* row = xp + (o * g.reduced + r) * g.inner;
          for (int64_t j = 0; j < g.inner; ++j) s[j] = ref::WrapAdd<Acc<T>>(s[j], row[j]);
        }
      }
    } else {
      for (int64_t i = 0; i < g.n_in; ++i) sum[to_out(i)] = ref::WrapAdd<Acc<T>>(sum[to_out(i)], xp[i]);
    }
    for (int64_t o = 0; o < g.n_out; ++o) {
      if (kind_ == Reduce::kSum) {
        y[o] = static_cast<T>(sum[o]);
      } else if constexpr (std::is_floating_point_v<T>) {
        y[o] = static_cast<T>(g.count > 0 ? sum[o] / g.count : std::numeric_limits<double>::quiet_NaN());
      } else {
        y[o] = static_cast<T>(g.count > 0 ? sum[o] / g.count : 0);  // integer mean truncates, as onnxruntime
      }
    }
  }

  // Accumulators kept across runs (grown, never shrunk).
  template <typename U>
  U* Scratch(int64_t n) {
    static_assert(alignof(U) <= alignof(std::max_align_t), "scratch alignment");
    const size_t bytes = static_cast<size_t>(n) * sizeof(U);
    if (scratch_.size() < bytes) scratch_.resize(bytes);
    return reinterpret_cast<U*>(scratch_.data());
  }

  KernelSpec spec_;
  Reduce kind_;
  std::optional<ReduceGeometry> geometry_;
  std::vector<unsigned char> scratch_;
};

// ArgMax / ArgMin: x as [outer, axis, inner]; NaN counts as the extreme, as numpy's.
template <bool kMax>
Status ArgReduceKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.empty()) return InvalidArgument("input must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), x.size()));
  const bool last = spec.attrs.GetInt("select_last_index", 0) != 0;
  if (out[0].dtype != proto::DT_INT64) return InvalidArgument("output must be int64");
  if (x[axis] == 0) return InvalidArgument("axis ", axis, " is empty");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x[d];
  for (size_t d = axis + 1; d < x.size(); ++d) inner *= x[d];
  if (out[0].num_elements() != outer * inner) return InvalidArgument("output has the wrong size");
  return ref::DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in[0].as<T>();
    int64_t* y = out[0].as<int64_t>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const T* base = xp + o * x[axis] * inner + j;
        int64_t best = 0;
        for (int64_t k = 1; k < x[axis]; ++k) {
          const T v = base[k * inner], b = base[best * inner];
          bool better = kMax ? v > b : v < b;
          if constexpr (std::is_floating_point_v<T>) better = better || (std::isnan(v) && !std::isnan(b));
          if (better || (last && v == b)) best = k;
        }
        y[o * inner + j] = best;
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceReductionKernels(KernelRegistry& r) {
  ref::RegisterRef(r, "ArgMax", 1, 1, ArgReduceKernel<true>);
  ref::RegisterRef(r, "ArgMin", 1, 1, ArgReduceKernel<false>);
  for (auto [op, kind] :
       {std::pair{"ReduceSum", Reduce::kSum}, std::pair{"ReduceMean", Reduce::kMean},
        std::pair{"ReduceMax", Reduce::kMax}, std::pair{"ReduceMin", Reduce::kMin},
        std::pair{"ReduceProd", Reduce::kProd}, std::pair{"ReduceSumSquare", Reduce::kSumSquare},
        std::pair{"ReduceL1", Reduce::kL1}, std::pair{"ReduceL2", Reduce::kL2},
        std::pair{"ReduceLogSum", Reduce::kLogSum}, std::pair{"ReduceLogSumExp", Reduce::kLogSumExp}}) {
    r.Register("ref", op, [kind = kind](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
      if (ref::AnyHalf(spec.inputs) || ref::AnyHalf(spec.outputs)) {
        // float16: reduce float32 copies (allocates per run; float16 is not a training type here).
        return MakeSimpleKernel([kind](const KernelSpec& s, const Refs& in, const Refs& out) {
          return ref::RunWidened(
              [kind](const KernelSpec& wide, const Refs& wide_in, const Refs& wide_out) {
                return ReduceKernel(wide, kind).Run(wide_in, wide_out);
              },
              s, in, out);
        })(spec);
      }
      return std::unique_ptr<Kernel>(new ReduceKernel(spec, kind));
    });
  }
}

}  // namespace kiln::runtime
