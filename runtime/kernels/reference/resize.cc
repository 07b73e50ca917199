// Reference kernel of Resize (ir/core/ops/resize.cc), after ONNX's reference
// implementation: each output coordinate maps back to an input coordinate (the
// coordinate_transformation_mode), which gets taps (input indices, edge-clamped)
// and weights per dim; the dims are separable, so an output element is the sum
// over the tensor product of its dims' taps. Computed in double.
#include "ir/core/ops/resize.h"

#include <cmath>
#include <string>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using Refs = std::vector<TensorRef>;

// One output coordinate along one dim: weighted input indices, or the extrapolation value.
struct Taps {
  bool extrapolate = false;
  std::vector<int64_t> index;
  std::vector<double> weight;
};

struct Interpolation {
  std::string mode, transform, nearest_mode;
  double cubic_a = -0.75;
  bool antialias = false, exclude_outside = false;
};

// Weights of the pixels base + start .. base + start + n - 1 around x = base + ratio,
// ratio in (0, 1]; returns start.
int64_t Coefficients(const Interpolation& ip, double ratio, double scale, std::vector<double>& w) {
  w.clear();
  if (ip.mode == "nearest") {
    bool right = true;  // ratio 1: x is the pixel base + 1
    if (ratio != 1.0) {
      if (ip.nearest_mode == "round_prefer_floor") right = ratio > 0.5;
      if (ip.nearest_mode == "round_prefer_ceil") right = ratio >= 0.5;
      if (ip.nearest_mode == "floor") right = false;
      if (ip.nearest_mode == "ceil") right = true;
    }
    w = {right ? 0.0 : 1.0, right ? 1.0 : 0.0};
    return 0;
  }
  const double a = ip.cubic_a;
  auto cubic = [a](double x) {  // Keys' kernel
    x = std::fabs(x);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0.0;
  };
  const bool linear = ip.mode == "linear";
  if (!ip.antialias) {
    if (linear) {
      w = {1 - ratio, ratio};
      return 0;
    }
    w = {cubic(1 + ratio), cubic(ratio), cubic(1 - ratio), cubic(2 - ratio)};
    return -1;
  }
  // Antialias: the kernel stretched by 1 / scale when downsampling, normalized.
  const double s = std::min(scale, 1.0);
  const int64_t start = static_cast<int64_t>(std::floor((linear ? -1.0 : -2.0) / s)) + 1;
  const int64_t n = 2 - 2 * start;
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double arg = s * (static_cast<double>(start + i) - ratio);
    w.push_back(linear ? std::max(0.0, 1 - std::fabs(arg)) : cubic(arg));
    sum += w.back();
  }
  for (double& v : w) v /= sum;
  return start;
}

// The input coordinate of output coordinate x along a dim of `in` values.
double SourceCoordinate(const Interpolation& ip, double x, int64_t in, int64_t out, double scale, double roi_start,
                        double roi_end, bool* outside) {
  const double in_w = static_cast<double>(in), out_w = scale * in_w;
  const std::string& t = ip.transform;
  if (t == "align_corners") return out_w == 1 ? 0.0 : x * (in_w - 1) / (out_w - 1);
  if (t == "asymmetric") return x / scale;
  if (t == "tf_crop_and_resize") {
    double v =
        out_w == 1 ? (roi_end - roi_start) * (in_w - 1) / 2 : x * (roi_end - roi_start) * (in_w - 1) / (out_w - 1);
    v += roi_start * (in_w - 1);
    *outside = v < 0 || v > in_w - 1;
    return v;
  }
  if (t == "pytorch_half_pixel") return out_w == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
  if (t == "half_pixel_symmetric") {
    const double adjustment = static_cast<double>(out) / out_w;
    return in_w / 2 * (1 - adjustment) + (x + 0.5) / scale - 0.5;
  }
  return (x + 0.5) / scale - 0.5;  // half_pixel
}

Taps TapsAt(const Interpolation& ip, int64_t x, int64_t in, int64_t out, double scale, double roi_start,
            double roi_end) {
  Taps taps;
  const double src =
      SourceCoordinate(ip, static_cast<double>(x), in, out, scale, roi_start, roi_end, &taps.extrapolate);
  if (taps.extrapolate) return taps;
  const double floor = std::floor(src);
  const double ratio = src == floor ? 1.0 : src - floor;
  const int64_t base = static_cast<int64_t>(src == floor ? floor - 1 : floor);
  std::vector<double> w;
  const int64_t start = Coefficients(ip, ratio, scale, w);
  double kept = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const int64_t at = base + start + static_cast<int64_t>(i);
    if (ip.exclude_outside && (at < 0 || at >= in)) continue;
    kept += w[i];
    if (w[i] == 0) continue;
    taps.index.push_back(std::min(std::max<int64_t>(at, 0), in - 1));  // edge padding
    taps.weight.push_back(w[i]);
  }
  if (ip.exclude_outside && kept != 0) {
    for (double& v : taps.weight) v /= kept;
  }
  return taps;
}

StatusOr<std::vector<double>> ReadFloats(const Refs& in, int i) {
  std::vector<double> out;
  if (!ref::HasInput(in, i)) return out;
  if (in[i].dtype != proto::DT_FLOAT && in[i].dtype != proto::DT_DOUBLE) {
    return InvalidArgument("input ", i, " must be float32 or float64");
  }
  for (int64_t k = 0; k < in[i].num_elements(); ++k) out.push_back(ref::ElementAsDouble(in[i], k));
  return out;
}

Status ResizeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(std::vector<double> roi, ReadFloats(in, 1));
  ASSIGN_OR_RETURN(std::vector<double> scales, ReadFloats(in, 2));
  std::vector<int64_t> sizes;
  if (ref::HasInput(in, 3)) {
    ASSIGN_OR_RETURN(sizes, ref::ReadInts(in[3], "sizes"));
  }
  const Dims& x = in[0].dims;
  ASSIGN_OR_RETURN(resize::Geometry g, resize::ResolveGeometry(x, roi, scales, sizes, spec.attrs));
  if (out[0].dims != g.output || out[0].dtype != in[0].dtype) {
    return InvalidArgument("output ", DimsToString(out[0].dims), " does not match ", DimsToString(g.output));
  }
  Interpolation ip;
  ip.mode = spec.attrs.GetString("mode", "nearest");
  ip.transform = spec.attrs.GetString("coordinate_transformation_mode", "half_pixel");
  ip.nearest_mode = spec.attrs.GetString("nearest_mode", "round_prefer_floor");
  ip.cubic_a = spec.attrs.GetFloat("cubic_coeff_a", -0.75f);
  ip.antialias = spec.attrs.GetInt("antialias", 0) != 0;
  ip.exclude_outside = spec.attrs.GetInt("exclude_outside", 0) != 0;
  const double extrapolation = spec.attrs.GetFloat("extrapolation_value", 0.0f);
  const int rank = static_cast<int>(x.size());
  std::vector<std::vector<Taps>> taps(rank);
  for (int d = 0; d < rank; ++d) {
    for (int64_t o = 0; o < g.output[d]; ++o) {
      taps[d].push_back(TapsAt(ip, o, x[d], g.output[d], g.scales[d], g.roi[d], g.roi[rank + d]));
    }
  }
  const Dims strides = RowMajorStrides(x);
  return ref::DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* src = in[0].as<T>();
    T* dst = out[0].as<T>();
    Dims index;
    std::vector<const Taps*> at(rank);
    std::vector<size_t> pick(rank);
    for (int64_t i = 0; i < out[0].num_elements(); ++i) {
      ref::Unflatten(i, g.output, &index);
      bool extrapolate = false;
      for (int d = 0; d < rank; ++d) {
        at[d] = &taps[d][index[d]];
        extrapolate |= at[d]->extrapolate || at[d]->index.empty();
      }
      if (extrapolate) {
        dst[i] = ref::FromDouble<T>(extrapolation);
        continue;
      }
      // Odometer over the tensor product of the dims' taps.
      std::fill(pick.begin(), pick.end(), 0);
      double sum = 0;
      for (;;) {
        double w = 1;
        int64_t offset = 0;
        for (int d = 0; d < rank; ++d) {
          w *= at[d]->weight[pick[d]];
          offset += at[d]->index[pick[d]] * strides[d];
        }
        sum += w * static_cast<double>(src[offset]);
        int d = rank - 1;
        while (d >= 0 && ++pick[d] == at[d]->index.size()) pick[d--] = 0;
        if (d < 0) break;
      }
      dst[i] = ref::FromDouble<T>(sum);
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceResizeKernels(KernelRegistry& r) { ref::RegisterRef(r, "Resize", 1, 1, ResizeKernel); }

}  // namespace kiln::runtime
