// Reference kernels of QuantizeLinear and DequantizeLinear (ir/core/ops/quantize.cc).
// Quantization divides in the input's float type (as ONNX's reference does in float32),
// rounds half to even and saturates to the output type.
#include <cmath>
#include <limits>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using Refs = std::vector<TensorRef>;

// Maps an element of x to its scale / zero-point element: per tensor, per axis or blocked.
struct ScaleIndex {
  int64_t len = 1, inner = 1, block = 0, blocks = 1;
  bool per_tensor = true;
  int64_t operator()(int64_t i) const {
    if (per_tensor) return 0;
    const int64_t o = i / (len * inner), a = (i / inner) % len, in = i % inner;
    return block == 0 ? a : (o * blocks + a / block) * inner + in;
  }
};

StatusOr<ScaleIndex> ResolveScaleIndex(const KernelSpec& spec, const Refs& in) {
  ScaleIndex s;
  const Dims& x = in[0].dims;
  s.block = spec.attrs.GetInt("block_size", 0);
  s.per_tensor = in[1].num_elements() == 1 && in[1].dims.size() <= 1 && s.block == 0;
  if (ref::HasInput(in, 2) && in[2].num_elements() != in[1].num_elements()) {
    return InvalidArgument("zero point and scale differ in size");
  }
  if (s.per_tensor) return s;
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", 1), x.size()));
  for (int64_t d = axis + 1; d < static_cast<int64_t>(x.size()); ++d) s.inner *= x[d];
  s.len = x[axis];
  s.blocks = s.block > 0 ? (s.len + s.block - 1) / s.block : s.len;
  const int64_t expected = s.block > 0 ? in[0].num_elements() / std::max<int64_t>(s.len, 1) * s.blocks : s.len;
  if (in[1].num_elements() != expected)
    return InvalidArgument("scale has ", in[1].num_elements(), " values, needs ", expected);
  return s;
}

// The zero point of element i as double (0 when absent).
double ZeroPoint(const Refs& in, int64_t at) { return ref::HasInput(in, 2) ? ref::ElementAsDouble(in[2], at) : 0.0; }

Status QuantizeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (in[0].num_elements() != out[0].num_elements()) return InvalidArgument("x and y differ in size");
  ASSIGN_OR_RETURN(ScaleIndex at, ResolveScaleIndex(spec, in));
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    if (in[1].dtype != in[0].dtype) return InvalidArgument("x and y_scale must have one float type");
    const T* x = in[0].as<T>();
    const T* scale = in[1].as<T>();
    return ref::DispatchNumeric(out[0].dtype, [&](auto qtag) {
      using Q = decltype(qtag);
      if constexpr (std::is_floating_point_v<Q>) {
        return Unimplemented("quantizing to ", DTypeName(out[0].dtype));
      } else {
        for (int64_t i = 0; i < in[0].num_elements(); ++i) {
          const int64_t s = at(i);
          const double q = std::nearbyint(static_cast<double>(x[i] / scale[s])) + ZeroPoint(in, s);
          out[0].as<Q>()[i] = ref::FromDouble<Q>(q);  // saturates; NaN -> 0
        }
        return Status::Ok();
      }
    });
  });
}

Status DequantizeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  if (in[0].num_elements() != out[0].num_elements()) return InvalidArgument("x and y differ in size");
  ASSIGN_OR_RETURN(ScaleIndex at, ResolveScaleIndex(spec, in));
  return ref::DispatchFloat(in[1].dtype, [&](auto tag) {
    using T = decltype(tag);
    if (out[0].dtype != in[1].dtype) return InvalidArgument("y must have the scale's dtype");
    for (int64_t i = 0; i < in[0].num_elements(); ++i) {
      const int64_t s = at(i);
      const T centered = static_cast<T>(ref::ElementAsDouble(in[0], i) - ZeroPoint(in, s));
      out[0].as<T>()[i] = centered * in[1].as<T>()[s];
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceQuantizeKernels(KernelRegistry& r) {
  ref::RegisterRef(r, "QuantizeLinear", 2, 1, QuantizeKernel);
  ref::RegisterRef(r, "DequantizeLinear", 2, 1, DequantizeKernel);
}

}  // namespace kiln::runtime
