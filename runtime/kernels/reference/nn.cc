// Reference kernels for pooling and normalization (NCHW...): MaxPool,
// AveragePool, GlobalAveragePool, BatchNormalization (inference), LRN.
// Conv and ConvTranspose live in conv.cc.
#include <algorithm>
#include <cmath>
#include <limits>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"
#include "runtime/kernels/reference/window.h"

namespace kiln::runtime {
namespace ref {
void RegisterConvKernels(KernelRegistry& r);
void RegisterRecurrentKernels(KernelRegistry& r);  // RNN, GRU, LSTM (recurrent.cc)
}  // namespace ref

namespace {

using ref::DispatchFloat;
using ref::HasInput;
using ref::HasOutput;
using ref::RegisterRef;
using ref::Window;
using ref::WindowWalker;
using Refs = std::vector<TensorRef>;

Dims Spatial(const Dims& d) { return Dims(d.begin() + 2, d.end()); }

struct PoolSetup {
  int64_t planes = 0;  // N * C
  int64_t in_size = 0, out_size = 0;
  Dims out_spatial;
  WindowGeometry g;
};

Status SetUpPool(const KernelSpec& spec, const Refs& in, const Refs& out, PoolSetup* p) {
  const Dims& x = in[0].dims;
  if (x.size() < 3) return InvalidArgument("input ", DimsToString(x), " must have rank >= 3");
  if (out[0].dtype != in[0].dtype) return InvalidArgument("output type differs from the input's");
  if (!spec.attrs.Has("kernel_shape")) return InvalidArgument("kernel_shape is required");
  ASSIGN_OR_RETURN(p->g, ComputeWindowGeometry(Spatial(x), spec.attrs.GetInts("kernel_shape"), spec.attrs));
  Dims expected = {x[0], x[1]};
  expected.insert(expected.end(), p->g.output.begin(), p->g.output.end());
  if (expected != out[0].dims) {
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " is not ", DimsToString(expected));
  }
  p->planes = x[0] * x[1];
  p->in_size = ElementCount(Spatial(x));
  p->out_spatial = p->g.output;
  p->out_size = ElementCount(p->out_spatial);
  return Status::Ok();
}

// MaxPool: padded cells are ignored; optional int64 Indices into the flattened input.
Status MaxPoolKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  PoolSetup p;
  RETURN_IF_ERROR(SetUpPool(spec, in, out, &p));
  const bool column_major = spec.attrs.GetInt("storage_order", 0) == 1;
  const bool want_indices = HasOutput(out, 1);
  if (want_indices && (out[1].dtype != proto::DT_INT64 || out[1].dims != out[0].dims)) {
    return InvalidArgument("Indices output must be int64 with the output's shape");
  }
  WindowWalker walker(Spatial(in[0].dims), p.g);
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    Window w;
    Dims o;
    for (int64_t i = 0; i < p.out_size; ++i) {
      ref::Unflatten(i, p.out_spatial, &o);
      walker.Collect(o, &w);
      for (int64_t plane = 0; plane < p.planes; ++plane) {
        const T* xp = x + plane * p.in_size;
        T best = std::numeric_limits<T>::lowest();
        int64_t best_at = -1;
        for (int64_t offset : w.offsets) {
          if (best_at < 0 || xp[offset] > best) {
            best = xp[offset];
            best_at = offset;
          }
        }
        y[plane * p.out_size + i] = best;
        if (want_indices) {
          const int64_t local = best_at < 0 ? 0 : (column_major ? walker.ColumnMajor(best_at) : best_at);
          out[1].as<int64_t>()[plane * p.out_size + i] = plane * p.in_size + local;
        }
      }
    }
    return Status::Ok();
  };
  switch (in[0].dtype) {
    case proto::DT_FLOAT: return run(float{});
    case proto::DT_DOUBLE: return run(double{});
    case proto::DT_INT8: return run(int8_t{});
    case proto::DT_UINT8: return run(uint8_t{});
    default:
      return Unimplemented("input type ", DTypeName(in[0].dtype),
                           " is not supported (supported: float32, float64, int8, uint8)");
  }
}

// AveragePool and LpPool: y = pool(window, x of one plane) over every output position and plane
// (float types), `pool` returning double.
template <typename Pool>
Status PoolFloat(const KernelSpec& spec, const Refs& in, const Refs& out, Pool pool) {
  PoolSetup p;
  RETURN_IF_ERROR(SetUpPool(spec, in, out, &p));
  WindowWalker walker(Spatial(in[0].dims), p.g);
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    Window w;
    Dims o;
    for (int64_t i = 0; i < p.out_size; ++i) {
      ref::Unflatten(i, p.out_spatial, &o);
      walker.Collect(o, &w);
      for (int64_t plane = 0; plane < p.planes; ++plane) {
        y[plane * p.out_size + i] = static_cast<T>(pool(w, x + plane * p.in_size));
      }
    }
    return Status::Ok();
  });
}

// LpPool: (sum of |x|^p over the window's cells)^(1/p); padded cells add nothing.
Status LpPoolKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const int64_t p = spec.attrs.GetInt("p", 2);
  if (p < 1) return InvalidArgument("p must be >= 1, got ", p);
  const double exponent = static_cast<double>(p);
  return PoolFloat(spec, in, out, [exponent](const Window& w, const auto* x) {
    double sum = 0;
    for (int64_t offset : w.offsets) sum += std::pow(std::fabs(static_cast<double>(x[offset])), exponent);
    return std::pow(sum, 1.0 / exponent);
  });
}

// AveragePool: mean of the window; count_include_pad=1 divides by the cells of the padded input.
Status AveragePoolKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const bool count_pad = spec.attrs.GetInt("count_include_pad", 0) != 0;
  return PoolFloat(spec, in, out, [count_pad](const Window& w, const auto* x) {
    const int64_t divisor = count_pad ? w.padded_count : static_cast<int64_t>(w.offsets.size());
    double sum = 0;
    for (int64_t offset : w.offsets) sum += x[offset];
    return divisor > 0 ? sum / divisor : std::numeric_limits<double>::quiet_NaN();
  });
}

// GlobalAveragePool (kMax false) and GlobalMaxPool: one value per (n, c) plane.
template <bool kMax>
Status GlobalPoolKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.size() < 3) return InvalidArgument("input ", DimsToString(x), " must have rank >= 3");
  Dims expected = x;
  for (size_t i = 2; i < expected.size(); ++i) expected[i] = 1;
  if (out[0].dims != expected || out[0].dtype != in[0].dtype) {
    return InvalidArgument("output ", DimsToString(out[0].dims), " is not ", DimsToString(expected));
  }
  const int64_t planes = x[0] * x[1], size = ElementCount(Spatial(x));
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (int64_t p = 0; p < planes; ++p) {
      const T* plane = in[0].as<T>() + p * size;
      double r = kMax ? -std::numeric_limits<double>::infinity() : 0.0;
      for (int64_t i = 0; i < size; ++i) {
        if constexpr (kMax) {
          r = std::isnan(r) || std::isnan(static_cast<double>(plane[i])) ? nan : std::max<double>(r, plane[i]);
        } else {
          r += plane[i];
        }
      }
      if (!kMax) r = size > 0 ? r / size : nan;
      out[0].as<T>()[p] = static_cast<T>(r);
    }
    return Status::Ok();
  });
}

// Inference: y = scale * (x - mean) / sqrt(var + epsilon) + B per channel (dim 1).
// Outputs 1 and 2 (running mean / var) pass the statistics through unchanged.
Status BatchNormKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (spec.attrs.GetInt("training_mode", 0) != 0) {
    return Unimplemented("training_mode=1 is not supported (inference only)");
  }
  const Dims& x = in[0].dims;
  if (x.size() < 2) return InvalidArgument("input ", DimsToString(x), " must have rank >= 2");
  const int64_t channels = x[1];
  for (int i = 1; i < 5; ++i) {
    if (in[i].dtype != in[0].dtype || in[i].dims != Dims{channels}) {
      return InvalidArgument("input ", i, " must be ", DTypeName(in[0].dtype), "[", channels, "], got ",
                             DTypeName(in[i].dtype), DimsToString(in[i].dims));
    }
  }
  if (out[0].dims != x || out[0].dtype != in[0].dtype) return InvalidArgument("output differs from the input");
  for (int i = 1; i <= 2; ++i) {
    if (HasOutput(out, i) && (out[i].dims != in[2 + i].dims || out[i].dtype != in[2 + i].dtype)) {
      return InvalidArgument("output ", i, " must match the statistics ", DimsToString(in[2 + i].dims));
    }
  }
  const double epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  const int64_t batch = x[0], size = ElementCount(Spatial(x));
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *scale = in[1].as<T>(), *bias = in[2].as<T>(), *mean = in[3].as<T>(), *var = in[4].as<T>();
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t c = 0; c < channels; ++c) {
        const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[c]) + epsilon);
        for (int64_t i = 0; i < size; ++i) {
          const int64_t idx = (n * channels + c) * size + i;
          out[0].as<T>()[idx] =
              static_cast<T>(scale[c] * (in[0].as<T>()[idx] - static_cast<double>(mean[c])) * inv_std + bias[c]);
        }
      }
    }
    for (int i = 1; i <= 2; ++i) {
      if (HasOutput(out, i)) std::copy_n(in[2 + i].as<T>(), channels, out[i].as<T>());
    }
    return Status::Ok();
  });
}

// LRN (ONNX): square_sum[c] = sum of x^2 over channels [c - floor((size-1)/2), c + ceil((size-1)/2)];
// y = x / (bias + alpha / size * square_sum) ^ beta.
Status LrnKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.size() < 3) return InvalidArgument("input ", DimsToString(x), " must have rank >= 3");
  if (out[0].dims != x || out[0].dtype != in[0].dtype) return InvalidArgument("output differs from the input");
  const int64_t size = spec.attrs.GetInt("size", 0);
  if (size <= 0) return InvalidArgument("size must be positive, got ", size);
  const double alpha = spec.attrs.GetFloat("alpha", 1e-4f), beta = spec.attrs.GetFloat("beta", 0.75f);
  const double bias = spec.attrs.GetFloat("bias", 1.0f);
  const int64_t before = (size - 1) / 2, after = size - 1 - before;
  const int64_t batch = x[0], channels = x[1], inner = ElementCount(Spatial(x));
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in[0].as<T>();
    for (int64_t n = 0; n < batch; ++n) {
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t i = 0; i < inner; ++i) {
          double square_sum = 0;
          for (int64_t k = std::max<int64_t>(0, c - before); k <= std::min(channels - 1, c + after); ++k) {
            const double v = xp[(n * channels + k) * inner + i];
            square_sum += v * v;
          }
          const int64_t idx = (n * channels + c) * inner + i;
          out[0].as<T>()[idx] = static_cast<T>(xp[idx] / std::pow(bias + alpha / size * square_sum, beta));
        }
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceNnKernels(KernelRegistry& r) {
  ref::RegisterConvKernels(r);
  ref::RegisterRecurrentKernels(r);
  RegisterRef(r, "MaxPool", 1, 1, MaxPoolKernel);
  RegisterRef(r, "AveragePool", 1, 1, AveragePoolKernel);
  RegisterRef(r, "GlobalAveragePool", 1, 1, GlobalPoolKernel<false>);
  RegisterRef(r, "GlobalMaxPool", 1, 1, GlobalPoolKernel<true>);
  RegisterRef(r, "LpPool", 1, 1, LpPoolKernel);
  RegisterRef(r, "BatchNormalization", 5, 1, BatchNormKernel);
  RegisterRef(r, "LRN", 1, 1, LrnKernel);
}

}  // namespace kiln::runtime
