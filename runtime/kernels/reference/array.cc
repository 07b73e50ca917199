// Reference kernels of the array ops (ir/core/ops/array.cc): CumSum, CumProd, Hardmax,
// TopK, OneHot, DepthToSpace, SpaceToDepth, ScatterElements, ScatterND, GatherND.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::HalfMode;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

// outer x len x inner around `axis` of `dims`.
struct AxisSplit {
  int64_t outer = 1, len = 1, inner = 1;
};
AxisSplit SplitAt(const Dims& dims, int64_t axis) {
  AxisSplit s;
  for (int64_t d = 0; d < static_cast<int64_t>(dims.size()); ++d) {
    (d < axis ? s.outer : d == axis ? s.len : s.inner) *= dims[d];
  }
  return s;
}

template <bool kProduct>
Status CumulativeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  ASSIGN_OR_RETURN(std::vector<int64_t> axis_value, ref::ReadInts(in[1], "axis"));
  if (axis_value.size() != 1) return InvalidArgument("axis must be a scalar");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(axis_value[0], in[0].dims.size()));
  const bool exclusive = spec.attrs.GetInt("exclusive", 0) != 0, reverse = spec.attrs.GetInt("reverse", 0) != 0;
  const AxisSplit s = SplitAt(in[0].dims, axis);
  return ref::DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = std::conditional_t<std::is_floating_point_v<T>, double, T>;  // integers wrap in T
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        A acc = kProduct ? A{1} : A{0};
        for (int64_t step = 0; step < s.len; ++step) {
          const int64_t k = reverse ? s.len - 1 - step : step;
          const int64_t at = (o * s.len + k) * s.inner + i;
          if (exclusive) y[at] = static_cast<T>(acc);
          if constexpr (std::is_floating_point_v<T>) {
            acc = kProduct ? acc * x[at] : acc + x[at];
          } else {
            acc = kProduct ? ref::WrapMul(acc, x[at]) : ref::WrapAdd(acc, x[at]);
          }
          if (!exclusive) y[at] = static_cast<T>(acc);
        }
      }
    }
    return Status::Ok();
  });
}

Status HardmaxKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), in[0].dims.size()));
  const AxisSplit s = SplitAt(in[0].dims, axis);
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    std::fill(y, y + out[0].num_elements(), T{0});
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        int64_t best = 0;
        for (int64_t k = 1; k < s.len; ++k) {
          if (x[(o * s.len + k) * s.inner + i] > x[(o * s.len + best) * s.inner + i]) best = k;
        }
        if (s.len > 0) y[(o * s.len + best) * s.inner + i] = T{1};
      }
    }
    return Status::Ok();
  });
}

// Values sorted by value (descending for largest), ties by the lower index: a stable order.
Status TopKKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(std::vector<int64_t> k_value, ref::ReadInts(in[1], "K"));
  const Dims& dims = in[0].dims;
  if (k_value.size() != 1 || dims.empty()) return InvalidArgument("K must be a scalar and X of rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), dims.size()));
  const int64_t k = k_value[0];
  if (k < 0 || k > dims[axis]) return InvalidArgument("K = ", k, " is out of range [0, ", dims[axis], "]");
  const AxisSplit s = SplitAt(dims, axis);
  const int64_t expected = s.outer * k * s.inner;
  if (out[0].num_elements() != expected || (ref::HasOutput(out, 1) && out[1].num_elements() != expected)) {
    return InvalidArgument("outputs must have ", expected, " elements");
  }
  const bool largest = spec.attrs.GetInt("largest", 1) != 0;
  return ref::DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    std::vector<int64_t> order(static_cast<size_t>(s.len));
    for (int64_t o = 0; o < s.outer; ++o) {
      for (int64_t i = 0; i < s.inner; ++i) {
        auto at = [&](int64_t j) { return x[(o * s.len + j) * s.inner + i]; };
        std::iota(order.begin(), order.end(), 0);
        // A strict total order (NaN above every number, ties by the lower index) spelt out for
        // std::sort: std::stable_sort's temporary buffer trips ASan's alloc-dealloc-mismatch
        // check with this libstdc++ (operator new(nothrow) released by free).
        std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
          const T u = at(a), v = at(b);
          const bool u_nan = u != u, v_nan = v != v;  // NOLINT: the NaN test for any T
          if (u_nan != v_nan) return largest ? u_nan : v_nan;
          if (!u_nan && u != v) return largest ? u > v : u < v;
          return a < b;
        });
        for (int64_t j = 0; j < k; ++j) {
          const int64_t dst = (o * k + j) * s.inner + i;
          out[0].as<T>()[dst] = at(order[j]);
          if (ref::HasOutput(out, 1)) out[1].as<int64_t>()[dst] = order[j];
        }
      }
    }
    return Status::Ok();
  });
}

Status OneHotKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(double depth_value, ref::ReadScalar(in[1], "depth"));
  const int64_t depth = static_cast<int64_t>(depth_value);
  const Dims& indices = in[0].dims;
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), indices.size() + 1));
  if (depth < 1 || in[2].num_elements() != 2 || in[2].dtype != out[0].dtype ||
      out[0].num_elements() != in[0].num_elements() * depth) {
    return InvalidArgument("depth, values and output do not match");
  }
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < static_cast<int64_t>(indices.size()); ++d) (d < axis ? outer : inner) *= indices[d];
  return ref::DispatchBySize(out[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    const U off = in[2].as<U>()[0], on = in[2].as<U>()[1];
    U* y = out[0].as<U>();
    std::fill(y, y + out[0].num_elements(), off);
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        const double v = ref::ElementAsDouble(in[0], o * inner + i);
        if (!(std::fabs(v) < static_cast<double>(depth) + 1)) continue;  // out of range (or NaN): all off
        int64_t index = static_cast<int64_t>(v);
        if (index < 0) index += depth;
        if (index >= 0 && index < depth) y[(o * depth + index) * inner + i] = on;
      }
    }
    return Status::Ok();
  });
}

// Space tensor [N, C, H b, W b] <-> depth tensor [N, C b^2, H, W]: space element (n, c, h b + bh,
// w b + bw) is depth channel (bh b + bw) C + c (DCR) or c b^2 + bh b + bw (CRD).
template <bool kToSpace>
Status DepthSpaceKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  const TensorRef& depth = kToSpace ? in[0] : out[0];
  const TensorRef& space = kToSpace ? out[0] : in[0];
  const int64_t b = spec.attrs.GetInt("blocksize", 0);
  if (depth.dims.size() != 4 || space.dims.size() != 4 || b < 1 || depth.dims[1] != space.dims[1] * b * b ||
      space.dims[2] != depth.dims[2] * b || space.dims[3] != depth.dims[3] * b) {
    return InvalidArgument("input and output do not match blocksize ", b);
  }
  const bool dcr = spec.attrs.GetString("mode", "DCR") == "DCR";
  const int64_t n = space.dims[0], c = space.dims[1], sh = space.dims[2], sw = space.dims[3];
  const int64_t h = depth.dims[2], w = depth.dims[3];
  return ref::DispatchBySize(in[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    U* space_data = space.as<U>();
    U* depth_data = depth.as<U>();
    int64_t at = 0;
    for (int64_t in_ = 0; in_ < n; ++in_) {
      for (int64_t ic = 0; ic < c; ++ic) {
        for (int64_t y = 0; y < sh; ++y) {
          for (int64_t x = 0; x < sw; ++x, ++at) {
            const int64_t bh = y % b, bw = x % b;
            const int64_t ch = dcr ? (bh * b + bw) * c + ic : ic * b * b + bh * b + bw;
            const int64_t d = ((in_ * c * b * b + ch) * h + y / b) * w + x / b;
            if (kToSpace) {
              space_data[at] = depth_data[d];
            } else {
              depth_data[d] = space_data[at];
            }
          }
        }
      }
    }
    return Status::Ok();
  });
}

// ---- Scatter / gather at indices -------------------------------------------------------------

// An index into a dim of `size`, negative ones counting from the end.
StatusOr<int64_t> ResolveIndex(int64_t v, int64_t size, int64_t dim) {
  const int64_t at = v < 0 ? v + size : v;
  if (at < 0 || at >= size) return InvalidArgument("index ", v, " is out of range for dim ", dim, " of size ", size);
  return at;
}

// Calls fn(U{}, combine) with combine(old, update) per the reduction attribute; "none"
// moves elements by size (any dtype), the reductions need numbers.
template <typename Fn>
Status DispatchScatter(const KernelSpec& spec, DType dtype, Fn&& fn) {
  const std::string r = spec.attrs.GetString("reduction", "none");
  if (r == "none") {
    return ref::DispatchBySize(dtype, [&](auto tag) {
      using U = decltype(tag);
      return fn(U{}, [](U, U u) { return u; });
    });
  }
  return ref::DispatchNumeric(dtype, [&](auto tag) {
    using T = decltype(tag);
    if (r == "add") return fn(T{}, [](T a, T b) { return ref::WrapAdd(a, b); });
    if (r == "mul") return fn(T{}, [](T a, T b) { return ref::WrapMul(a, b); });
    if (r == "max") return fn(T{}, [](T a, T b) { return std::max(a, b); });
    if (r == "min") return fn(T{}, [](T a, T b) { return std::min(a, b); });
    return InvalidArgument("unknown reduction ", r);
  });
}

Status ScatterElementsKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& data = in[0].dims;
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  if (data.empty() || in[1].dims.size() != data.size() || in[2].dims != in[1].dims || in[2].dtype != in[0].dtype) {
    return InvalidArgument("data, indices and updates do not match");
  }
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), data.size()));
  ASSIGN_OR_RETURN(std::vector<int64_t> indices, ref::ReadInts(in[1], "indices"));
  const Dims strides = RowMajorStrides(data);
  std::vector<int64_t> offsets(indices.size());
  Dims index;
  for (size_t i = 0; i < indices.size(); ++i) {
    ref::Unflatten(static_cast<int64_t>(i), in[1].dims, &index);
    ASSIGN_OR_RETURN(index[axis], ResolveIndex(indices[i], data[axis], axis));
    offsets[i] = 0;
    for (size_t d = 0; d < data.size(); ++d) {
      if (index[d] >= data[d]) return InvalidArgument("indices exceed data in dim ", d);
      offsets[i] += index[d] * strides[d];
    }
  }
  return DispatchScatter(spec, in[0].dtype, [&](auto tag, auto combine) {
    using T = decltype(tag);
    T* y = out[0].as<T>();
    std::copy(in[0].as<T>(), in[0].as<T>() + in[0].num_elements(), y);
    for (size_t i = 0; i < offsets.size(); ++i) y[offsets[i]] = combine(y[offsets[i]], in[2].as<T>()[i]);
    return Status::Ok();
  });
}

// The data offsets that the index tuples (the last dim of `indices`) select within dims `data`.
StatusOr<std::vector<int64_t>> TupleOffsets(const TensorRef& indices, const Dims& data) {
  ASSIGN_OR_RETURN(std::vector<int64_t> v, ref::ReadInts(indices, "indices"));
  const int64_t k = indices.dims.back();
  if (k < 1 || k > static_cast<int64_t>(data.size())) return InvalidArgument("index tuples of ", k, " do not fit");
  const Dims strides = RowMajorStrides(data);
  std::vector<int64_t> offsets(v.size() / k);
  for (size_t m = 0; m < offsets.size(); ++m) {
    offsets[m] = 0;
    for (int64_t j = 0; j < k; ++j) {
      ASSIGN_OR_RETURN(int64_t at, ResolveIndex(v[m * k + j], data[j], j));
      offsets[m] += at * strides[j];
    }
  }
  return offsets;
}

Status ScatterNDKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  if (in[1].dims.empty() || in[2].dtype != in[0].dtype) return InvalidArgument("indices and updates do not match");
  ASSIGN_OR_RETURN(std::vector<int64_t> offsets, TupleOffsets(in[1], in[0].dims));
  const int64_t k = in[1].dims.back();
  const int64_t slice = ElementCount(Dims(in[0].dims.begin() + k, in[0].dims.end()));
  if (in[2].num_elements() != static_cast<int64_t>(offsets.size()) * slice) {
    return InvalidArgument("updates do not match indices");
  }
  return DispatchScatter(spec, in[0].dtype, [&](auto tag, auto combine) {
    using T = decltype(tag);
    T* y = out[0].as<T>();
    std::copy(in[0].as<T>(), in[0].as<T>() + in[0].num_elements(), y);
    for (size_t m = 0; m < offsets.size(); ++m) {
      for (int64_t s = 0; s < slice; ++s) {
        y[offsets[m] + s] = combine(y[offsets[m] + s], in[2].as<T>()[m * slice + s]);
      }
    }
    return Status::Ok();
  });
}

Status GatherNDKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& data = in[0].dims;
  const int64_t b = spec.attrs.GetInt("batch_dims", 0);
  if (in[1].dims.empty() || b < 0 || b >= static_cast<int64_t>(std::min(data.size(), in[1].dims.size()))) {
    return InvalidArgument("batch_dims ", b, " does not fit");
  }
  const int64_t batches = ElementCount(Dims(data.begin(), data.begin() + b));
  const Dims per_batch(data.begin() + b, data.end());
  const int64_t k = in[1].dims.back();
  if (k < 1 || k > static_cast<int64_t>(per_batch.size())) return InvalidArgument("index tuples do not fit");
  ASSIGN_OR_RETURN(std::vector<int64_t> offsets, TupleOffsets(in[1], per_batch));
  const int64_t tuples = static_cast<int64_t>(offsets.size()) / std::max<int64_t>(batches, 1);
  const int64_t slice = ElementCount(Dims(per_batch.begin() + k, per_batch.end()));
  const int64_t batch_size = ElementCount(per_batch);
  if (out[0].num_elements() != batches * tuples * slice) return InvalidArgument("output does not match");
  return ref::DispatchBySize(in[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    for (int64_t bi = 0; bi < batches; ++bi) {
      for (int64_t m = 0; m < tuples; ++m) {
        const U* src = in[0].as<U>() + bi * batch_size + offsets[bi * tuples + m];
        std::copy(src, src + slice, out[0].as<U>() + (bi * tuples + m) * slice);
      }
    }
    return Status::Ok();
  });
}

Status TileKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (out[0].dims.size() != x.size() || out[0].dtype != in[0].dtype) return InvalidArgument("output does not match");
  const Dims strides = RowMajorStrides(x);
  return ref::DispatchBySize(in[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    Dims index;
    for (int64_t i = 0; i < out[0].num_elements(); ++i) {
      ref::Unflatten(i, out[0].dims, &index);
      int64_t offset = 0;
      for (size_t d = 0; d < x.size(); ++d) offset += (index[d] % x[d]) * strides[d];
      out[0].as<U>()[i] = in[0].as<U>()[offset];
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceArrayKernels(KernelRegistry& r) {
  RegisterRef(r, "CumSum", 2, 1, CumulativeKernel<false>);
  RegisterRef(r, "CumProd", 2, 1, CumulativeKernel<true>);
  RegisterRef(r, "Hardmax", 1, 1, HardmaxKernel);
  RegisterRef(r, "TopK", 2, 1, TopKKernel);
  RegisterRef(r, "OneHot", 3, 1, OneHotKernel, HalfMode::kNative);
  RegisterRef(r, "DepthToSpace", 1, 1, DepthSpaceKernel<true>, HalfMode::kNative);
  RegisterRef(r, "SpaceToDepth", 1, 1, DepthSpaceKernel<false>, HalfMode::kNative);
  RegisterRef(r, "ScatterElements", 3, 1, ScatterElementsKernel);
  RegisterRef(r, "ScatterND", 3, 1, ScatterNDKernel);
  RegisterRef(r, "GatherND", 2, 1, GatherNDKernel, HalfMode::kNative);
  RegisterRef(r, "Tile", 2, 1, TileKernel, HalfMode::kNative);
}

}  // namespace kiln::runtime
