// Reference Conv and ConvTranspose for any number of spatial dims (NCHW...),
// with group, strides, dilations and pads (auto_pad resolved by the shared
// window helper in ir/core/shape_util.h, the one shape inference uses).
#include <vector>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"
#include "runtime/kernels/reference/window.h"

namespace kiln::runtime::ref {
namespace {

using Refs = std::vector<TensorRef>;

Dims Spatial(const Dims& d) { return Dims(d.begin() + 2, d.end()); }

struct ConvShapes {
  int64_t batch, in_channels, out_channels, group;
  Dims in_spatial, kernel, out_spatial;
  WindowGeometry g;
};

Status CheckConvInputs(const KernelSpec& spec, const Refs& in, const Refs& out, bool transpose, ConvShapes* s) {
  const Dims& x = in[0].dims;
  const Dims& w = in[1].dims;
  if (x.size() < 3 || w.size() != x.size()) {
    return InvalidArgument("input ", DimsToString(x), " and weight ", DimsToString(w), " must have the same rank >= 3");
  }
  for (int i = 1; i < (HasInput(in, 2) ? 3 : 2); ++i) {
    if (in[i].dtype != in[0].dtype) return InvalidArgument("input ", i, " type differs from X's");
  }
  if (out[0].dtype != in[0].dtype) return InvalidArgument("output type differs from X's");
  s->group = spec.attrs.GetInt("group", 1);
  if (s->group < 1) return InvalidArgument("group must be >= 1, got ", s->group);
  s->batch = x[0];
  s->in_channels = x[1];
  s->in_spatial = Spatial(x);
  s->kernel = Spatial(w);
  if (spec.attrs.Has("kernel_shape") && spec.attrs.GetInts("kernel_shape") != s->kernel) {
    return InvalidArgument("kernel_shape ", DimsToString(spec.attrs.GetInts("kernel_shape")),
                           " does not match the weight ", DimsToString(w));
  }
  if (!transpose) {
    s->out_channels = w[0];
    if (x[1] != w[1] * s->group || w[0] % s->group != 0) {
      return InvalidArgument("input channels ", x[1], " and weight ", DimsToString(w), " do not fit group ", s->group);
    }
    ASSIGN_OR_RETURN(s->g, ComputeWindowGeometry(s->in_spatial, s->kernel, spec.attrs));
  } else {
    s->out_channels = w[1] * s->group;
    if (x[1] != w[0] || x[1] % s->group != 0) {
      return InvalidArgument("input channels ", x[1], " and weight ", DimsToString(w), " do not fit group ", s->group);
    }
    ASSIGN_OR_RETURN(s->g, ComputeConvTransposeGeometry(s->in_spatial, s->kernel, spec.attrs));
  }
  Dims expected = {s->batch, s->out_channels};
  expected.insert(expected.end(), s->g.output.begin(), s->g.output.end());
  if (expected != out[0].dims) {
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " is not ", DimsToString(expected));
  }
  s->out_spatial = s->g.output;
  if (HasInput(in, 2) && in[2].dims != Dims{s->out_channels}) {
    return InvalidArgument("bias shape ", DimsToString(in[2].dims), " does not match ", s->out_channels, " channels");
  }
  return Status::Ok();
}

// y[n, m, o] = b[m] + sum_{c in group(m), k} x[n, c, o * s - pad + k * d] * w[m, c - c0, k].
Status ConvKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ConvShapes s;
  RETURN_IF_ERROR(CheckConvInputs(spec, in, out, false, &s));
  const size_t nd = s.in_spatial.size();
  const std::vector<Dims> taps = AllIndices(s.kernel);
  const std::vector<Dims> positions = AllIndices(s.out_spatial);
  const int64_t in_size = ElementCount(s.in_spatial), k_size = ElementCount(s.kernel);
  const int64_t out_size = ElementCount(s.out_spatial);
  const int64_t cg = s.in_channels / s.group, mg = s.out_channels / s.group;
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    const T* w = in[1].as<T>();
    T* y = out[0].as<T>();
    Dims pos(nd);
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t m = 0; m < s.out_channels; ++m) {
        const int64_t c0 = (m / mg) * cg;
        for (int64_t o = 0; o < out_size; ++o) {
          double sum = HasInput(in, 2) ? static_cast<double>(in[2].as<T>()[m]) : 0.0;
          for (int64_t t = 0; t < k_size; ++t) {
            for (size_t i = 0; i < nd; ++i) {
              pos[i] = positions[o][i] * s.g.strides[i] - s.g.pads[i] + taps[t][i] * s.g.dilations[i];
            }
            const int64_t offset = SpatialOffset(pos, s.in_spatial);
            if (offset < 0) continue;  // padding contributes zero
            for (int64_t c = 0; c < cg; ++c) {
              sum += static_cast<double>(x[((n * s.in_channels) + c0 + c) * in_size + offset]) *
                     static_cast<double>(w[(m * cg + c) * k_size + t]);
            }
          }
          y[(n * s.out_channels + m) * out_size + o] = static_cast<T>(sum);
        }
      }
    }
    return Status::Ok();
  });
}

// ConvTranspose scatters: x[n, c, i] * w[c, m - m0, k] lands on y[n, m, i * s - pad + k * d].
Status ConvTransposeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ConvShapes s;
  RETURN_IF_ERROR(CheckConvInputs(spec, in, out, true, &s));
  const size_t nd = s.in_spatial.size();
  const std::vector<Dims> taps = AllIndices(s.kernel);
  const std::vector<Dims> positions = AllIndices(s.in_spatial);
  const int64_t in_size = ElementCount(s.in_spatial), k_size = ElementCount(s.kernel);
  const int64_t out_size = ElementCount(s.out_spatial);
  const int64_t cg = s.in_channels / s.group, mg = s.out_channels / s.group;
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    const T* w = in[1].as<T>();
    std::vector<double> acc(static_cast<size_t>(out[0].num_elements()), 0.0);
    Dims pos(nd);
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t c = 0; c < s.in_channels; ++c) {
        const int64_t m0 = (c / cg) * mg;
        for (int64_t i = 0; i < in_size; ++i) {
          const double xv = x[(n * s.in_channels + c) * in_size + i];
          for (int64_t t = 0; t < k_size; ++t) {
            for (size_t d = 0; d < nd; ++d) {
              pos[d] = positions[i][d] * s.g.strides[d] - s.g.pads[d] + taps[t][d] * s.g.dilations[d];
            }
            const int64_t offset = SpatialOffset(pos, s.out_spatial);
            if (offset < 0) continue;  // cropped by the pads
            for (int64_t m = 0; m < mg; ++m) {
              acc[(n * s.out_channels + m0 + m) * out_size + offset] += xv * w[(c * mg + m) * k_size + t];
            }
          }
        }
      }
    }
    T* y = out[0].as<T>();
    for (int64_t n = 0; n < s.batch; ++n) {
      for (int64_t m = 0; m < s.out_channels; ++m) {
        const double bias = HasInput(in, 2) ? static_cast<double>(in[2].as<T>()[m]) : 0.0;
        for (int64_t o = 0; o < out_size; ++o) {
          const int64_t idx = (n * s.out_channels + m) * out_size + o;
          y[idx] = static_cast<T>(acc[idx] + bias);
        }
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterConvKernels(KernelRegistry& r) {
  RegisterRef(r, "Conv", 2, 1, ConvKernel);
  RegisterRef(r, "ConvTranspose", 2, 1, ConvTransposeKernel);
}

}  // namespace kiln::runtime::ref
