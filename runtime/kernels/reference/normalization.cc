// Reference kernels of ir/core/ops/normalization.cc: LpNormalization, MeanVarianceNormalization,
// ReverseSequence, Det. Statistics in double.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::DispatchFloat;
using ref::HalfMode;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

Status CheckSameShapeOut(const Refs& in, const Refs& out) {
  if (out[0].dims != in[0].dims || out[0].dtype != in[0].dtype) {
    return InvalidArgument("output ", DimsToString(out[0].dims), " differs from the input's");
  }
  return Status::Ok();
}

// x as [outer, axis, inner]: each (outer, inner) line divided by its p-norm.
Status LpNormalizationKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameShapeOut(in, out));
  const Dims& x = in[0].dims;
  if (x.empty()) return InvalidArgument("input must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), x.size()));
  const int64_t p = spec.attrs.GetInt("p", 2);
  if (p != 1 && p != 2) return InvalidArgument("p must be 1 or 2, got ", p);
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x[d];
  for (size_t d = axis + 1; d < x.size(); ++d) inner *= x[d];
  const int64_t n = x[axis];
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in[0].as<T>();
    T* y = out[0].as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t base = o * n * inner + j;
        double norm = 0;
        for (int64_t k = 0; k < n; ++k) {
          const double v = xp[base + k * inner];
          norm += p == 1 ? std::fabs(v) : v * v;
        }
        if (p == 2) norm = std::sqrt(norm);
        for (int64_t k = 0; k < n; ++k) {
          y[base + k * inner] = static_cast<T>(norm == 0 ? 0.0 : xp[base + k * inner] / norm);
        }
      }
    }
    return Status::Ok();
  });
}

// Statistics per group of the elements that agree on every dim outside `axes`.
Status MvnKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameShapeOut(in, out));
  const Dims& x = in[0].dims;
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, NormalizeAxes(spec.attrs.GetInts("axes", {0, 2, 3}), x.size()));
  Dims kept = x;  // x's dims with the normalized axes set to 1: the groups
  for (int64_t a : axes) kept[a] = 1;
  const int64_t groups = ElementCount(kept), total = ElementCount(x);
  const double count = groups > 0 ? static_cast<double>(total) / static_cast<double>(groups) : 0;
  std::vector<int64_t> group_of(total);
  Dims index;
  for (int64_t i = 0; i < total; ++i) {
    ref::Unflatten(i, x, &index);
    int64_t g = 0;
    for (size_t d = 0; d < x.size(); ++d) g = g * kept[d] + (kept[d] == 1 ? 0 : index[d]);
    group_of[i] = g;
  }
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in[0].as<T>();
    std::vector<double> mean(groups, 0), square(groups, 0);
    for (int64_t i = 0; i < total; ++i) {
      mean[group_of[i]] += xp[i];
      square[group_of[i]] += static_cast<double>(xp[i]) * xp[i];
    }
    for (int64_t g = 0; g < groups; ++g) {
      mean[g] /= count;
      square[g] = std::sqrt(std::max(0.0, square[g] / count - mean[g] * mean[g])) + 1e-9;  // std + epsilon
    }
    for (int64_t i = 0; i < total; ++i)
      out[0].as<T>()[i] = static_cast<T>((xp[i] - mean[group_of[i]]) / square[group_of[i]]);
    return Status::Ok();
  });
}

// Elements moved by size: every dtype.
Status ReverseSequenceKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameShapeOut(in, out));
  const Dims& x = in[0].dims;
  const int64_t batch_axis = spec.attrs.GetInt("batch_axis", 1), time_axis = spec.attrs.GetInt("time_axis", 0);
  if (x.size() < 2 || batch_axis + time_axis != 1 || batch_axis * time_axis != 0) {
    return InvalidArgument("batch_axis and time_axis must be 0 and 1 of an input of rank >= 2");
  }
  ASSIGN_OR_RETURN(std::vector<int64_t> lens, ref::ReadInts(in[1], "sequence_lens"));
  if (static_cast<int64_t>(lens.size()) != x[batch_axis])
    return InvalidArgument("sequence_lens must have batch values");
  const int64_t inner = ElementCount(Dims(x.begin() + 2, x.end())) * static_cast<int64_t>(DTypeSize(in[0].dtype));
  const auto* src = static_cast<const uint8_t*>(in[0].data);
  auto* dst = static_cast<uint8_t*>(out[0].data);
  for (int64_t b = 0; b < x[batch_axis]; ++b) {
    if (lens[b] < 0 || lens[b] > x[time_axis]) {
      return InvalidArgument("sequence_lens[", b, "] = ", lens[b], " is outside [0, ", x[time_axis], "]");
    }
    for (int64_t t = 0; t < x[time_axis]; ++t) {
      const int64_t from = t < lens[b] ? lens[b] - 1 - t : t;
      auto row = [&](int64_t time) { return (batch_axis == 0 ? b * x[1] + time : time * x[1] + b) * inner; };
      if (inner > 0) std::memcpy(dst + row(t), src + row(from), inner);
    }
  }
  return Status::Ok();
}

// Per (n, group): statistics over the group's channels and spatial dims, then the per-channel
// (or per-group) affine.
Status GroupNormalizationKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameShapeOut(in, out));
  const Dims& x = in[0].dims;
  const int64_t groups = spec.attrs.GetInt("num_groups", 0);
  if (x.size() < 2 || groups < 1 || x[1] % groups != 0) return InvalidArgument("num_groups must divide C");
  const int64_t channels = x[1], per_group = channels / groups;
  const bool scale_per_group = spec.attrs.GetInt("scale_per_group", 0) != 0;
  for (int i = 1; i < 3; ++i) {
    if (in[i].dtype != in[0].dtype || in[i].num_elements() != (scale_per_group ? groups : channels)) {
      return InvalidArgument("scale/bias do not match");
    }
  }
  const double epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  const int64_t spatial = ElementCount(Dims(x.begin() + 2, x.end())), size = per_group * spatial;
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    auto affine = [&](int i, int64_t c) {
      return static_cast<double>(in[i].as<T>()[scale_per_group ? c / per_group : c]);
    };
    for (int64_t block = 0; block < x[0] * groups; ++block) {
      const T* xp = in[0].as<T>() + block * size;
      T* y = out[0].as<T>() + block * size;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < size; ++j) mean += xp[j];
      mean /= static_cast<double>(size);
      for (int64_t j = 0; j < size; ++j) var += (xp[j] - mean) * (xp[j] - mean);
      var /= static_cast<double>(size);
      const double inv = 1.0 / std::sqrt(var + epsilon);
      for (int64_t j = 0; j < size; ++j) {
        const int64_t c = (block % groups) * per_group + j / spatial;
        y[j] = static_cast<T>((xp[j] - mean) * inv * affine(1, c) + affine(2, c));
      }
    }
    return Status::Ok();
  });
}

// LU decomposition with partial pivoting, in double, per matrix.
Status DetKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.size() < 2 || x[x.size() - 1] != x[x.size() - 2] || out[0].dims != Dims(x.begin(), x.end() - 2) ||
      out[0].dtype != in[0].dtype) {
    return InvalidArgument("input ", DimsToString(x), " and output ", DimsToString(out[0].dims), " do not match");
  }
  const int64_t m = x.back(), count = out[0].num_elements();
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    std::vector<double> a(static_cast<size_t>(m * m));
    for (int64_t k = 0; k < count; ++k) {
      const T* src = in[0].as<T>() + k * m * m;
      for (int64_t i = 0; i < m * m; ++i) a[i] = src[i];
      double det = 1;
      for (int64_t c = 0; c < m && det != 0; ++c) {
        int64_t pivot = c;
        for (int64_t r = c + 1; r < m; ++r) {
          if (std::fabs(a[r * m + c]) > std::fabs(a[pivot * m + c])) pivot = r;
        }
        if (a[pivot * m + c] == 0) {
          det = 0;
          break;
        }
        if (pivot != c) {
          for (int64_t j = 0; j < m; ++j) std::swap(a[c * m + j], a[pivot * m + j]);
          det = -det;
        }
        det *= a[c * m + c];
        for (int64_t r = c + 1; r < m; ++r) {
          const double f = a[r * m + c] / a[c * m + c];
          for (int64_t j = c; j < m; ++j) a[r * m + j] -= f * a[c * m + j];
        }
      }
      out[0].as<T>()[k] = static_cast<T>(det);
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceNormalizationKernels(KernelRegistry& r) {
  RegisterRef(r, "LpNormalization", 1, 1, LpNormalizationKernel);
  RegisterRef(r, "MeanVarianceNormalization", 1, 1, MvnKernel);
  RegisterRef(r, "ReverseSequence", 2, 1, ReverseSequenceKernel, HalfMode::kNative);
  RegisterRef(r, "Det", 1, 1, DetKernel);
  RegisterRef(r, "GroupNormalization", 3, 1, GroupNormalizationKernel);
}

}  // namespace kiln::runtime
