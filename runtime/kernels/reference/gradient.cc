// Reference kernels of the backward ops (docs/training_ops.md): elementwise,
// softmax, batch norm and the data-movement gradients. The window ops (conv, pooling)
// live in gradient_window.cc, DropoutTraining in dropout.cc. Math in double, stored as T.
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/fused_evaluate.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace ref {
void RegisterWindowGradientKernels(KernelRegistry& r);
void RegisterDropoutKernel(KernelRegistry& r);  // dropout.cc
}  // namespace ref

namespace {

using ref::DispatchFloat;
using ref::HasOutput;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

// Every listed tensor has `want`'s dtype and dims.
Status CheckLike(const TensorRef& want, std::initializer_list<std::pair<const TensorRef*, const char*>> refs) {
  for (const auto& [t, name] : refs) {
    if (t->dtype != want.dtype || t->dims != want.dims) {
      return InvalidArgument(name, " is ", DTypeName(t->dtype), DimsToString(t->dims), ", expected ",
                             DTypeName(want.dtype), DimsToString(want.dims));
    }
  }
  return Status::Ok();
}

// Zero-fills an output (the scatter-style gradients accumulate into it).
void Zero(const TensorRef& t) {
  if (t.num_bytes() > 0) std::memset(t.data, 0, t.num_bytes());
}

// f'(.) of `function`, as a function of T (X or Y, see the contract): relu and
// abs here, the ops of ir/core/ops/unary.def with the fused interpreter's scalar math.
StatusOr<std::function<double(double)>> EltwiseDerivative(const std::string& f, const Attrs& attrs) {
  if (f == "relu") return std::function<double(double)>([](double x) { return x > 0 ? 1.0 : 0.0; });
  if (f == "abs") return std::function<double(double)>([](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; });
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, ...)                                 \
  if (f == #fn_name) {                                                                                            \
    const double a0 = nattrs > 0 ? attrs.GetFloat(attr0, default0) : 0.0;                                         \
    const double a1 = nattrs > 1 ? attrs.GetFloat(attr1, default1) : 0.0;                                         \
    return std::function<double(double)>([a0, a1](double t) { return ref::Unary##Name##Derivative(t, a0, a1); }); \
  }
#include "ir/core/ops/unary.def"
#undef UNARY
  return InvalidArgument("unknown function '", f, "'");
}

// dX = dY * f'(T).
Status EltwiseGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckLike(in[0], {{&in[1], "T"}, {&out[0], "dX"}}));
  const std::string f = spec.attrs.GetString("function", "");
  ASSIGN_OR_RETURN(auto deriv, EltwiseDerivative(f, spec.attrs));
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *dy = in[0].as<T>(), *t = in[1].as<T>();
    T* dx = out[0].as<T>();
    for (int64_t i = 0; i < in[0].num_elements(); ++i) dx[i] = static_cast<T>(dy[i] * deriv(t[i]));
    return Status::Ok();
  });
}

// softmax: dX = Y * (dY - sum(dY * Y)); log-softmax: dX = dY - exp(Y) * sum(dY), sums along axis.
Status SoftmaxGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckLike(in[0], {{&in[1], "Y"}, {&out[0], "dX"}}));
  const Dims& dims = in[0].dims;
  if (dims.empty()) return InvalidArgument("dY must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), dims.size()));
  const bool log = spec.attrs.GetInt("log", 0) != 0;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= dims[i];
  for (size_t i = axis + 1; i < dims.size(); ++i) inner *= dims[i];
  const int64_t len = dims[axis];
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *dy = in[0].as<T>(), *y = in[1].as<T>();
    T* dx = out[0].as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t base = o * len * inner + j;
        double sum = 0;
        for (int64_t k = 0; k < len; ++k) {
          const int64_t i = base + k * inner;
          sum += log ? static_cast<double>(dy[i]) : static_cast<double>(dy[i]) * y[i];
        }
        for (int64_t k = 0; k < len; ++k) {
          const int64_t i = base + k * inner;
          dx[i] = static_cast<T>(log ? dy[i] - std::exp(static_cast<double>(y[i])) * sum : y[i] * (dy[i] - sum));
        }
      }
    }
    return Status::Ok();
  });
}

// Per-channel view of an [N, C, ...] tensor.
struct ChannelLayout {
  int64_t batch = 0, channels = 0, inner = 0;
  int64_t count() const { return batch * inner; }  // elements per channel
  int64_t at(int64_t n, int64_t c, int64_t i) const { return (n * channels + c) * inner + i; }
};

StatusOr<ChannelLayout> ChannelsOf(const TensorRef& x, const Refs& vectors, const Refs& outs) {
  if (x.dims.size() < 2) return InvalidArgument("X ", DimsToString(x.dims), " must have rank >= 2");
  ChannelLayout l{x.dims[0], x.dims[1], ElementCount(Dims(x.dims.begin() + 2, x.dims.end()))};
  for (const TensorRef& v : vectors) {
    if (v.dtype != x.dtype || v.dims != Dims{l.channels}) {
      return InvalidArgument("per-channel tensor ", DTypeName(v.dtype), DimsToString(v.dims), " is not ",
                             DTypeName(x.dtype), "[", l.channels, "]");
    }
  }
  for (size_t i = 0; i < outs.size(); ++i) {
    if (outs[i].dtype == proto::DT_UNDEFINED) continue;
    const Dims want = i == 0 ? x.dims : Dims{l.channels};
    if (outs[i].dtype != x.dtype || outs[i].dims != want) {
      return InvalidArgument("output ", i, " is ", DTypeName(outs[i].dtype), DimsToString(outs[i].dims), ", expected ",
                             DTypeName(x.dtype), DimsToString(want));
    }
  }
  return l;
}

// Batch statistics (biased variance) over every axis but 1, then the inference formula
// and the running-statistics update; outputs past Y are optional.
Status BatchNormTrainingKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(ChannelLayout l, ChannelsOf(in[0], {in[1], in[2], in[3], in[4]}, out));
  if (l.count() == 0 && l.channels > 0) return InvalidArgument("batch statistics of an empty batch");
  const double epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  const double momentum = spec.attrs.GetFloat("momentum", 0.9f);
  const bool relu = spec.attrs.GetInt("relu", 0) != 0;  // fuse-postops' Relu: Y = max(0, BN(X))
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *x = in[0].as<T>(), *scale = in[1].as<T>(), *bias = in[2].as<T>();
    const T *running_mean = in[3].as<T>(), *running_var = in[4].as<T>();
    for (int64_t c = 0; c < l.channels; ++c) {
      double sum = 0;
      for (int64_t n = 0; n < l.batch; ++n) {
        for (int64_t i = 0; i < l.inner; ++i) sum += x[l.at(n, c, i)];
      }
      const double mean = sum / l.count();
      double sq = 0;
      for (int64_t n = 0; n < l.batch; ++n) {
        for (int64_t i = 0; i < l.inner; ++i) sq += (x[l.at(n, c, i)] - mean) * (x[l.at(n, c, i)] - mean);
      }
      const double var = sq / l.count();
      const double inv_std = 1.0 / std::sqrt(var + epsilon);
      for (int64_t n = 0; n < l.batch; ++n) {
        for (int64_t i = 0; i < l.inner; ++i) {
          const int64_t k = l.at(n, c, i);
          const T y = static_cast<T>((x[k] - mean) * inv_std * scale[c] + bias[c]);
          out[0].as<T>()[k] = relu && y < 0 ? T{0} : y;  // as the Relu kernel
        }
      }
      // Read the running values first: new_running_* may share their buffers.
      const double rm = running_mean[c], rv = running_var[c];
      if (HasOutput(out, 1)) out[1].as<T>()[c] = static_cast<T>(rm * momentum + mean * (1 - momentum));
      if (HasOutput(out, 2)) out[2].as<T>()[c] = static_cast<T>(rv * momentum + var * (1 - momentum));
      if (HasOutput(out, 3)) out[3].as<T>()[c] = static_cast<T>(mean);
      if (HasOutput(out, 4)) out[4].as<T>()[c] = static_cast<T>(var);
    }
    return Status::Ok();
  });
}

// With xhat = (x - mean) * inv_std over M = N * spatial elements per channel:
// dB = sum dY, dScale = sum dY * xhat, dX = scale * inv_std / M * (M * dY - dB - xhat * dScale).
Status BatchNormGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckLike(in[1], {{&in[0], "dY"}}));
  ASSIGN_OR_RETURN(ChannelLayout l, ChannelsOf(in[1], {in[2], in[3], in[4]}, out));
  const double epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *dy = in[0].as<T>(), *x = in[1].as<T>(), *scale = in[2].as<T>();
    const T *mean = in[3].as<T>(), *var = in[4].as<T>();
    const double m = static_cast<double>(l.count());
    for (int64_t c = 0; c < l.channels; ++c) {
      const double inv_std = 1.0 / std::sqrt(static_cast<double>(var[c]) + epsilon);
      double d_bias = 0, d_scale = 0;
      for (int64_t n = 0; n < l.batch; ++n) {
        for (int64_t i = 0; i < l.inner; ++i) {
          const int64_t k = l.at(n, c, i);
          d_bias += dy[k];
          d_scale += dy[k] * (x[k] - static_cast<double>(mean[c])) * inv_std;
        }
      }
      for (int64_t n = 0; n < l.batch; ++n) {
        for (int64_t i = 0; i < l.inner; ++i) {
          const int64_t k = l.at(n, c, i);
          const double xhat = (x[k] - static_cast<double>(mean[c])) * inv_std;
          out[0].as<T>()[k] = static_cast<T>(scale[c] * inv_std / m * (m * dy[k] - d_bias - xhat * d_scale));
        }
      }
      if (HasOutput(out, 1)) out[1].as<T>()[c] = static_cast<T>(d_scale);
      if (HasOutput(out, 2)) out[2].as<T>()[c] = static_cast<T>(d_bias);
    }
    return Status::Ok();
  });
}

// Scatter-add of dY [data[:axis], indices..., data[axis+1:]] into zeros of data_shape.
Status GatherGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (out[0].dtype != in[0].dtype) return InvalidArgument("dData type differs from dY's");
  ASSIGN_OR_RETURN(ref::GatherGeometry g,
                   ref::ResolveGather(out[0].dims, in[1], spec.attrs.GetInt("axis", 0), in[0].dims, "dY"));
  Zero(out[0]);
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* dy = in[0].as<T>();
    T* dd = out[0].as<T>();
    for (int64_t o = 0; o < g.outer; ++o) {
      for (int64_t q = 0; q < g.count; ++q) {
        const T* src = dy + (o * g.count + q) * g.inner;
        T* dst = dd + (o * g.size + g.index(q)) * g.inner;
        for (int64_t i = 0; i < g.inner; ++i) dst[i] += src[i];
      }
    }
    return Status::Ok();
  });
}

// Zeros of input_shape (the output's dims) with dY written where Slice reads; the walk kept
// between runs. Half types run widened to float.
class SliceGradKernel final : public Kernel {
 public:
  explicit SliceGradKernel(const KernelSpec& spec) : spec_(spec) {}

  Status Run(const Refs& in, const Refs& out) override {
    RETURN_IF_ERROR(ref::CheckBuffers(in, out, 3, 1));
    if (ref::AnyHalf(in) || ref::AnyHalf(out)) {
      return ref::RunWidened([this](const KernelSpec&, const Refs& i, const Refs& o) { return RunFloat(i, o); }, spec_,
                             in, out);
    }
    return RunFloat(in, out);
  }

 private:
  Status RunFloat(const Refs& in, const Refs& out) {
    if (out[0].dtype != in[0].dtype) return InvalidArgument("dX type differs from dY's");
    RETURN_IF_ERROR(walk_.Update(out[0].dims, in));
    if (walk_.output() != in[0].dims) {
      return InvalidArgument("dY shape ", DimsToString(in[0].dims), " does not match the slice ",
                             DimsToString(walk_.output()));
    }
    Zero(out[0]);
    return DispatchFloat(in[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      const T* dy = in[0].as<T>();
      T* dx = out[0].as<T>();
      walk_.ForEach([&](int64_t i, int64_t offset, int64_t count, int64_t step) {
        for (int64_t j = 0; j < count; ++j) dx[offset + j * step] = dy[i + j];
      });
      return Status::Ok();
    });
  }

  KernelSpec spec_;
  ref::SliceWalk walk_;
};

// Each reduced group's dY goes to its first maximal element (its first NaN, if any:
// ReduceMax propagates NaN).
Status ReduceMaxGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[1].dims;
  RETURN_IF_ERROR(CheckLike(in[1], {{&out[0], "dX"}}));
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, NormalizeAxes(spec.attrs.GetInts("axes"), x.size()));
  const bool keepdims = spec.attrs.GetInt("keepdims", 1) != 0;
  if (in[0].dtype != in[1].dtype || in[0].dims != ReducedDims(x, axes, keepdims)) {
    return InvalidArgument("dY ", DimsToString(in[0].dims), " is not the ReduceMax output ",
                           DimsToString(ReducedDims(x, axes, keepdims)));
  }
  const Dims kept = ReducedDims(x, axes, true);
  BroadcastIndexer to_out(kept, x);
  const int64_t n_out = ElementCount(kept), n_in = in[1].num_elements();
  Zero(out[0]);
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in[1].as<T>();
    std::vector<int64_t> best(n_out, -1);
    for (int64_t i = 0; i < n_in; ++i) {
      int64_t& b = best[to_out(i)];
      if (b >= 0 && std::isnan(xp[b])) continue;
      if (b < 0 || std::isnan(xp[i]) || xp[i] > xp[b]) b = i;
    }
    for (int64_t o = 0; o < n_out; ++o) {
      if (best[o] >= 0) out[0].as<T>()[best[o]] = in[0].as<T>()[o];
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceGradientKernels(KernelRegistry& r) {
  RegisterRef(r, "EltwiseGrad", 2, 1, EltwiseGradKernel);
  RegisterRef(r, "SoftmaxGrad", 2, 1, SoftmaxGradKernel);
  RegisterRef(r, "BatchNormTraining", 5, 1, BatchNormTrainingKernel);
  RegisterRef(r, "BatchNormGrad", 5, 1, BatchNormGradKernel);
  RegisterRef(r, "GatherGrad", 2, 1, GatherGradKernel);
  r.Register("ref", "SliceGrad", [](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(new SliceGradKernel(spec));
  });
  RegisterRef(r, "ReduceMaxGrad", 2, 1, ReduceMaxGradKernel);
  ref::RegisterWindowGradientKernels(r);
  ref::RegisterDropoutKernel(r);
}

}  // namespace kiln::runtime
