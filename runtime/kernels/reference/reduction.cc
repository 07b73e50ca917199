// Reference reductions (opset 13): ReduceMean / ReduceMax read the 'axes'
// attribute, ReduceSum the optional 'axes' input with noop_with_empty_axes.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "ir/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::Acc;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

enum class Reduce { kSum, kMean, kMax };

Status ReduceKernel(const KernelSpec& spec, const Refs& in, const Refs& out, Reduce kind) {
  const Dims& x = in[0].dims;
  std::vector<int64_t> raw_axes;
  bool noop = false;
  if (kind == Reduce::kSum) {
    if (ref::HasInput(in, 1)) {
      ASSIGN_OR_RETURN(raw_axes, ref::ReadInts(in[1], "axes"));
    }
    noop = raw_axes.empty() && spec.attrs.GetInt("noop_with_empty_axes", 0) != 0;
  } else {
    raw_axes = spec.attrs.GetInts("axes");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, NormalizeAxes(raw_axes, x.size()));
  const bool keepdims = spec.attrs.GetInt("keepdims", 1) != 0;
  if (out[0].dtype != in[0].dtype) return InvalidArgument("output type differs from the input's");
  if (noop) {
    RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
    if (out[0].num_bytes() > 0) std::memcpy(out[0].data, in[0].data, out[0].num_bytes());
    return Status::Ok();
  }
  const Dims expected = ReducedDims(x, axes, keepdims);
  if (expected != out[0].dims) {
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " is not ", DimsToString(expected));
  }
  // Each input element lands on the output element of the same index with the
  // reduced axes set to 0: a broadcast of the keepdims shape onto the input.
  const Dims kept = ReducedDims(x, axes, true);
  BroadcastIndexer to_out(kept, x);
  const int64_t n_out = ElementCount(kept), n_in = in[0].num_elements();
  const int64_t count = n_out == 0 ? 0 : n_in / n_out;
  // Sums and means over one contiguous block of axes take a direct loop.
  std::vector<bool> is_reduced(x.size(), false);
  for (int64_t a : axes) is_reduced[a] = true;
  const auto first = std::find(is_reduced.begin(), is_reduced.end(), true);
  const auto last = std::find(is_reduced.rbegin(), is_reduced.rend(), true).base();
  const bool contiguous = first != is_reduced.end() && std::all_of(first, last, [](bool b) { return b; });
  int64_t outer = 1, reduced = 1, inner = 1;
  const size_t first_axis = first - is_reduced.begin();
  for (size_t d = 0; d < x.size(); ++d) {
    if (d < first_axis) {
      outer *= x[d];
    } else if (is_reduced[d]) {
      reduced *= x[d];
    } else {
      inner *= x[d];
    }
  }
  return ref::DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in[0].as<T>();
    T* y = out[0].as<T>();
    if (kind == Reduce::kMax) {
      std::vector<T> best(n_out, std::numeric_limits<T>::lowest());
      if constexpr (std::is_floating_point_v<T>)
        std::fill(best.begin(), best.end(), -std::numeric_limits<T>::infinity());
      for (int64_t i = 0; i < n_in; ++i) {
        T& b = best[to_out(i)];
        if constexpr (std::is_floating_point_v<T>) {
          if (std::isnan(xp[i]) || std::isnan(b)) {
            b = std::numeric_limits<T>::quiet_NaN();
            continue;
          }
        }
        if (xp[i] > b) b = xp[i];
      }
      std::copy(best.begin(), best.end(), y);
      return Status::Ok();
    }
    std::vector<Acc<T>> sum(n_out, 0);
    if (contiguous) {
      // x as [outer, reduced, inner]: the same additions in the same order, without
      // an index computation per element (bias gradients reduce [N, C] over axis 0).
      for (int64_t o = 0; o < outer; ++o) {
        Acc<T>* s = sum.data() + o * inner;
        for (int64_t r = 0; r < reduced; ++r) {
          const T* row = xp + (o * reduced + r) * inner;
          for (int64_t j = 0; j < inner; ++j) s[j] = ref::WrapAdd<Acc<T>>(s[j], row[j]);
        }
      }
    } else {
      for (int64_t i = 0; i < n_in; ++i) sum[to_out(i)] = ref::WrapAdd<Acc<T>>(sum[to_out(i)], xp[i]);
    }
    for (int64_t o = 0; o < n_out; ++o) {
      if (kind == Reduce::kSum) {
        y[o] = static_cast<T>(sum[o]);
      } else if constexpr (std::is_floating_point_v<T>) {
        y[o] = static_cast<T>(count > 0 ? sum[o] / count : std::numeric_limits<double>::quiet_NaN());
      } else {
        y[o] = static_cast<T>(count > 0 ? sum[o] / count : 0);  // integer mean truncates, as onnxruntime
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceReductionKernels(KernelRegistry& r) {
  RegisterRef(r, "ReduceSum", 1, 1, [](const KernelSpec& spec, const Refs& in, const Refs& out) {
    return ReduceKernel(spec, in, out, Reduce::kSum);
  });
  RegisterRef(r, "ReduceMean", 1, 1, [](const KernelSpec& spec, const Refs& in, const Refs& out) {
    return ReduceKernel(spec, in, out, Reduce::kMean);
  });
  RegisterRef(r, "ReduceMax", 1, 1, [](const KernelSpec& spec, const Refs& in, const Refs& out) {
    return ReduceKernel(spec, in, out, Reduce::kMax);
  });
}

}  // namespace kiln::runtime
