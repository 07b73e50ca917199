// Reference kernels of the window backward ops: ConvGradInput, ConvGradWeight,
// MaxPoolGrad, AveragePoolGrad. They walk the windows exactly as the forward
// kernels (conv.cc, nn.cc; shared helpers in window.h) and scatter instead of gather.
#include <vector>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"
#include "runtime/kernels/reference/window.h"

namespace kiln::runtime::ref {
namespace {

using Refs = std::vector<TensorRef>;

Dims Spatial(const Dims& d) { return Dims(d.begin() + 2, d.end()); }

// The forward Conv's shapes: X [N, C, D...], W [M, C/group, k...], Y [N, M, O...].
struct ConvGeometry {
  Dims x, w, y;
  int64_t group = 1;
  WindowGeometry g;
};

Status SetUpConv(const KernelSpec& spec, const Dims& x, const Dims& w, const Dims& y, ConvGeometry* c) {
  if (x.size() < 3 || w.size() != x.size()) {
    return InvalidArgument("input ", DimsToString(x), " and weight ", DimsToString(w), " must have the same rank >= 3");
  }
  c->x = x;
  c->w = w;
  c->y = y;
  c->group = spec.attrs.GetInt("group", 1);
  if (c->group < 1 || x[1] != w[1] * c->group || w[0] % c->group != 0) {
    return InvalidArgument("input channels ", x[1], " and weight ", DimsToString(w), " do not fit group ", c->group);
  }
  ASSIGN_OR_RETURN(c->g, ComputeWindowGeometry(Spatial(x), Spatial(w), spec.attrs));
  Dims expected = {x[0], w[0]};
  expected.insert(expected.end(), c->g.output.begin(), c->g.output.end());
  if (expected != y)
    return InvalidArgument("dY shape ", DimsToString(y), " is not the Conv output ", DimsToString(expected));
  return Status::Ok();
}

// Calls fn(x_index, w_index, y_index) for every product x * w that the forward
// Conv adds into y (padding taps skipped), in a fixed order.
template <typename Fn>
void ForEachConvTap(const ConvGeometry& c, Fn fn) {
  const Dims in_spatial = Spatial(c.x), kernel = Spatial(c.w), out_spatial = Spatial(c.y);
  const size_t nd = in_spatial.size();
  const std::vector<Dims> taps = AllIndices(kernel);
  const std::vector<Dims> positions = AllIndices(out_spatial);
  const int64_t in_size = ElementCount(in_spatial), k_size = ElementCount(kernel), out_size = ElementCount(out_spatial);
  const int64_t in_channels = c.x[1], out_channels = c.w[0];
  const int64_t cg = in_channels / c.group, mg = out_channels / c.group;
  Dims pos(nd);
  for (int64_t n = 0; n < c.x[0]; ++n) {
    for (int64_t m = 0; m < out_channels; ++m) {
      const int64_t c0 = (m / mg) * cg;
      for (int64_t o = 0; o < out_size; ++o) {
        const int64_t y_index = (n * out_channels + m) * out_size + o;
        for (int64_t t = 0; t < k_size; ++t) {
          for (size_t i = 0; i < nd; ++i) {
            pos[i] = positions[o][i] * c.g.strides[i] - c.g.pads[i] + taps[t][i] * c.g.dilations[i];
          }
          const int64_t offset = SpatialOffset(pos, in_spatial);
          if (offset < 0) continue;
          for (int64_t k = 0; k < cg; ++k) {
            fn((n * in_channels + c0 + k) * in_size + offset, (m * cg + k) * k_size + t, y_index);
          }
        }
      }
    }
  }
}

// dX[x] += dY[y] * W[w] over every tap.
Status ConvGradInputKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ConvGeometry c;
  RETURN_IF_ERROR(SetUpConv(spec, out[0].dims, in[1].dims, in[0].dims, &c));
  if (in[1].dtype != in[0].dtype || out[0].dtype != in[0].dtype) return InvalidArgument("dY, W and dX types differ");
  if (spec.attrs.Has("input_shape") && spec.attrs.GetInts("input_shape") != out[0].dims) {
    return InvalidArgument("dX shape ", DimsToString(out[0].dims), " is not input_shape");
  }
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *dy = in[0].as<T>(), *w = in[1].as<T>();
    std::vector<double> acc(static_cast<size_t>(out[0].num_elements()), 0.0);
    ForEachConvTap(c, [&](int64_t xi, int64_t wi, int64_t yi) { acc[xi] += static_cast<double>(dy[yi]) * w[wi]; });
    for (size_t i = 0; i < acc.size(); ++i) out[0].as<T>()[i] = static_cast<T>(acc[i]);
    return Status::Ok();
  });
}

// dW[w] += dY[y] * X[x] over every tap; dB[m] = sum of dY over N and spatial.
Status ConvGradWeightKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ConvGeometry c;
  RETURN_IF_ERROR(SetUpConv(spec, in[1].dims, out[0].dims, in[0].dims, &c));
  if (in[1].dtype != in[0].dtype || out[0].dtype != in[0].dtype) return InvalidArgument("dY, X and dW types differ");
  if (spec.attrs.Has("weight_shape") && spec.attrs.GetInts("weight_shape") != out[0].dims) {
    return InvalidArgument("dW shape ", DimsToString(out[0].dims), " is not weight_shape");
  }
  const bool want_bias = HasOutput(out, 1);
  if (want_bias && (out[1].dtype != in[0].dtype || out[1].dims != Dims{c.w[0]})) {
    return InvalidArgument("dB must be ", DTypeName(in[0].dtype), "[", c.w[0], "], got ", DimsToString(out[1].dims));
  }
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *dy = in[0].as<T>(), *x = in[1].as<T>();
    std::vector<double> acc(static_cast<size_t>(out[0].num_elements()), 0.0);
    ForEachConvTap(c, [&](int64_t xi, int64_t wi, int64_t yi) { acc[wi] += static_cast<double>(dy[yi]) * x[xi]; });
    for (size_t i = 0; i < acc.size(); ++i) out[0].as<T>()[i] = static_cast<T>(acc[i]);
    if (want_bias) {
      const int64_t batch = c.y[0], channels = c.y[1], size = ElementCount(Spatial(c.y));
      for (int64_t m = 0; m < channels; ++m) {
        double sum = 0;
        for (int64_t n = 0; n < batch; ++n) {
          for (int64_t i = 0; i < size; ++i) sum += dy[(n * channels + m) * size + i];
        }
        out[1].as<T>()[m] = static_cast<T>(sum);
      }
    }
    return Status::Ok();
  });
}

// Pooling over X [N, C, D...] with dY [N, C, O...].
struct PoolGeometry {
  int64_t planes = 0, in_size = 0, out_size = 0;
  Dims in_spatial, out_spatial;
  WindowGeometry g;
};

Status SetUpPool(const KernelSpec& spec, const Dims& x, const Dims& y, PoolGeometry* p) {
  if (x.size() < 3) return InvalidArgument("input ", DimsToString(x), " must have rank >= 3");
  if (!spec.attrs.Has("kernel_shape")) return InvalidArgument("kernel_shape is required");
  ASSIGN_OR_RETURN(p->g, ComputeWindowGeometry(Spatial(x), spec.attrs.GetInts("kernel_shape"), spec.attrs));
  Dims expected = {x[0], x[1]};
  expected.insert(expected.end(), p->g.output.begin(), p->g.output.end());
  if (expected != y) {
    return InvalidArgument("dY shape ", DimsToString(y), " is not the pooling output ", DimsToString(expected));
  }
  p->planes = x[0] * x[1];
  p->in_spatial = Spatial(x);
  p->out_spatial = p->g.output;
  p->in_size = ElementCount(p->in_spatial);
  p->out_size = ElementCount(p->out_spatial);
  return Status::Ok();
}

// Each window's dY goes to its first maximal X element (the one MaxPool reports).
Status MaxPoolGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  PoolGeometry p;
  RETURN_IF_ERROR(SetUpPool(spec, in[1].dims, in[0].dims, &p));
  if (in[1].dtype != in[0].dtype || out[0].dtype != in[0].dtype || out[0].dims != in[1].dims) {
    return InvalidArgument("dX must have X's type and shape, and dY X's type");
  }
  WindowWalker walker(p.in_spatial, p.g);
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T *dy = in[0].as<T>(), *x = in[1].as<T>();
    std::vector<double> acc(static_cast<size_t>(out[0].num_elements()), 0.0);
    Window w;
    Dims o;
    for (int64_t i = 0; i < p.out_size; ++i) {
      Unflatten(i, p.out_spatial, &o);
      walker.Collect(o, &w);
      for (int64_t plane = 0; plane < p.planes; ++plane) {
        const T* xp = x + plane * p.in_size;
        int64_t best_at = -1;
        for (int64_t offset : w.offsets) {
          if (best_at < 0 || xp[offset] > xp[best_at]) best_at = offset;
        }
        if (best_at >= 0) acc[plane * p.in_size + best_at] += dy[plane * p.out_size + i];
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) out[0].as<T>()[i] = static_cast<T>(acc[i]);
    return Status::Ok();
  });
}

// The adjoint of AveragePool: each window's dY / divisor goes to every cell it averaged.
Status AveragePoolGradKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  PoolGeometry p;
  RETURN_IF_ERROR(SetUpPool(spec, out[0].dims, in[0].dims, &p));
  if (out[0].dtype != in[0].dtype) return InvalidArgument("dX type differs from dY's");
  if (spec.attrs.Has("input_shape") && spec.attrs.GetInts("input_shape") != out[0].dims) {
    return InvalidArgument("dX shape ", DimsToString(out[0].dims), " is not input_shape");
  }
  const bool count_pad = spec.attrs.GetInt("count_include_pad", 0) != 0;
  WindowWalker walker(p.in_spatial, p.g);
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* dy = in[0].as<T>();
    std::vector<double> acc(static_cast<size_t>(out[0].num_elements()), 0.0);
    Window w;
    Dims o;
    for (int64_t i = 0; i < p.out_size; ++i) {
      Unflatten(i, p.out_spatial, &o);
      walker.Collect(o, &w);
      const int64_t divisor = count_pad ? w.padded_count : static_cast<int64_t>(w.offsets.size());
      if (divisor == 0) continue;  // an all-padding window averaged nothing
      for (int64_t plane = 0; plane < p.planes; ++plane) {
        const double share = static_cast<double>(dy[plane * p.out_size + i]) / divisor;
        for (int64_t offset : w.offsets) acc[plane * p.in_size + offset] += share;
      }
    }
    for (size_t i = 0; i < acc.size(); ++i) out[0].as<T>()[i] = static_cast<T>(acc[i]);
    return Status::Ok();
  });
}

}  // namespace

void RegisterWindowGradientKernels(KernelRegistry& r) {
  RegisterRef(r, "ConvGradInput", 2, 1, ConvGradInputKernel);
  RegisterRef(r, "ConvGradWeight", 2, 1, ConvGradWeightKernel);
  RegisterRef(r, "MaxPoolGrad", 2, 1, MaxPoolGradKernel);
  RegisterRef(r, "AveragePoolGrad", 1, 1, AveragePoolGradKernel);
}

}  // namespace kiln::runtime::ref
