// Reference kernels for elementwise ops: Sum, PRelu, activations, unary math, Clip and
// the softmax family (the binary ops are binary.cc's). Plain loops, obviously right;
// transcendental math is computed in double and rounded once.
#include <algorithm>
#include <cmath>
#include <memory>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/fused_evaluate.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::DispatchFloat;
using ref::DispatchNumeric;
using ref::DispatchSigned;
using ref::RegisterRef;

using Refs = std::vector<TensorRef>;

Status CheckSameDTypes(const Refs& in, const TensorRef& out) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].dtype != out.dtype) {
      return InvalidArgument("input ", i, " has type ", DTypeName(in[i].dtype), " but the output has ",
                             DTypeName(out.dtype));
    }
  }
  return Status::Ok();
}

// out[i] = fn(in_0[...], in_1[...], ...) folded left to right, every input broadcast to out.
template <typename T, typename Fn>
void BroadcastFold(const Refs& in, const TensorRef& out, Fn fn) {
  T* y = out.as<T>();
  const int64_t n = out.num_elements();
  if (in.size() == 2) {  // the common case, without heap allocations
    BroadcastIndexer ia(in[0].dims, out.dims), ib(in[1].dims, out.dims);
    const T* a = in[0].as<T>();
    const T* b = in[1].as<T>();
    if (ia.identity() && ib.identity()) {
      for (int64_t i = 0; i < n; ++i) y[i] = fn(a[i], b[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) y[i] = fn(a[ia(i)], b[ib(i)]);
    }
    return;
  }
  std::vector<std::unique_ptr<BroadcastIndexer>> index;
  for (const TensorRef& t : in) index.push_back(std::make_unique<BroadcastIndexer>(t.dims, out.dims));
  for (int64_t i = 0; i < n; ++i) {
    T acc = in[0].as<T>()[(*index[0])(i)];
    for (size_t k = 1; k < in.size(); ++k) acc = fn(acc, in[k].as<T>()[(*index[k])(i)]);
    y[i] = acc;
  }
}

// Sum over numeric types with numpy broadcasting.
template <typename MakeFn>
SimpleKernelFn Variadic(MakeFn make_fn) {
  return [make_fn](const KernelSpec&, const Refs& in, const Refs& out) -> Status {
    RETURN_IF_ERROR(CheckSameDTypes(in, out[0]));
    RETURN_IF_ERROR(ref::CheckBroadcastInputs(in, out[0]));
    return DispatchNumeric(out[0].dtype, [&](auto tag) {
      using T = decltype(tag);
      BroadcastFold<T>(in, out[0], make_fn(tag));
      return Status::Ok();
    });
  };
}

// Mean: the inputs summed in order (as Sum), then divided by their count.
Status MeanKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameDTypes(in, out[0]));
  RETURN_IF_ERROR(ref::CheckBroadcastInputs(in, out[0]));
  return DispatchFloat(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    BroadcastFold<T>(in, out[0], [](T a, T b) { return a + b; });
    const T count = static_cast<T>(in.size());
    for (int64_t i = 0; i < out[0].num_elements(); ++i) out[0].as<T>()[i] /= count;
    return Status::Ok();
  });
}

// y = fn(x) for float32/float64, computed in double.
template <typename Fn>
Status UnaryFloat(const TensorRef& x, const TensorRef& y, Fn fn) {
  if (x.dtype != y.dtype) return InvalidArgument("output type ", DTypeName(y.dtype), " differs from the input's");
  RETURN_IF_ERROR(ref::CheckSameCount(x, y));
  return DispatchFloat(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = x.num_elements();
    for (int64_t i = 0; i < n; ++i) y.as<T>()[i] = static_cast<T>(fn(static_cast<double>(x.as<T>()[i])));
    return Status::Ok();
  });
}

// Registers a float-only unary op whose function reads the node attributes.
template <typename MakeFn>
void RegisterUnaryFloat(KernelRegistry& r, const char* op, MakeFn make_fn) {
  RegisterRef(r, op, 1, 1, [make_fn](const KernelSpec& spec, const Refs& in, const Refs& out) {
    return UnaryFloat(in[0], out[0], make_fn(spec.attrs));
  });
}

// y = fn(x) in the input's own type (Relu, Neg, Abs work on integers too).
template <typename Dispatch, typename Fn>
Status UnaryTyped(const TensorRef& x, const TensorRef& y, Dispatch dispatch, Fn fn) {
  if (x.dtype != y.dtype) return InvalidArgument("output type ", DTypeName(y.dtype), " differs from the input's");
  RETURN_IF_ERROR(ref::CheckSameCount(x, y));
  return dispatch(x.dtype, [&](auto tag) {
    using T = decltype(tag);
    const int64_t n = x.num_elements();
    for (int64_t i = 0; i < n; ++i) y.as<T>()[i] = fn(x.as<T>()[i]);
    return Status::Ok();
  });
}

// PRelu: slope broadcast (unidirectionally) to x.
Status PReluKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameDTypes({in[0], in[1]}, out[0]));
  if (in[0].dims != out[0].dims) return InvalidArgument("output shape differs from the input's");
  RETURN_IF_ERROR(ref::CheckBroadcastInputs({in[1]}, out[0]));
  return DispatchSigned(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    BroadcastFold<T>({in[0], in[1]}, out[0], [](T x, T slope) { return x < 0 ? ref::WrapMul(x, slope) : x; });
    return Status::Ok();
  });
}

// Clip: optional scalar min (input 1) and max (input 2) of the input's type.
Status ClipKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (in[0].dtype != out[0].dtype) return InvalidArgument("output type differs from the input's");
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  for (int i = 1; i <= 2; ++i) {
    if (!ref::HasInput(in, i)) continue;
    if (in[i].dtype != in[0].dtype) {
      return InvalidArgument(i == 1 ? "min" : "max", " has type ", DTypeName(in[i].dtype), " but the input has ",
                             DTypeName(in[0].dtype));
    }
    if (in[i].num_elements() != 1) {
      return InvalidArgument(i == 1 ? "min" : "max", " must be a scalar, got shape ", DimsToString(in[i].dims));
    }
  }
  return DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T lo = ref::HasInput(in, 1) ? in[1].as<T>()[0] : std::numeric_limits<T>::lowest();
    const T hi = ref::HasInput(in, 2) ? in[2].as<T>()[0] : std::numeric_limits<T>::max();
    const int64_t n = in[0].num_elements();
    for (int64_t i = 0; i < n; ++i) {
      // min(max(x, lo), hi) as ONNX writes it: with lo > hi everything becomes hi; NaN passes through.
      const T raised = in[0].as<T>()[i] < lo ? lo : in[0].as<T>()[i];
      out[0].as<T>()[i] = hi < raised ? hi : raised;
    }
    return Status::Ok();
  });
}

// Softmax / LogSoftmax (opset 13) along one axis, max-subtracted for stability.
Status SoftmaxKernel(const KernelSpec& spec, const Refs& in, const Refs& out, bool log) {
  if (in[0].dtype != out[0].dtype || in[0].dims != out[0].dims) {
    return InvalidArgument("output differs from the input in type or shape");
  }
  const Dims& dims = in[0].dims;
  if (dims.empty()) return InvalidArgument("input must have rank >= 1");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), dims.size()));
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < axis; ++i) outer *= dims[i];
  for (size_t i = axis + 1; i < dims.size(); ++i) inner *= dims[i];
  const int64_t len = dims[axis];
  return DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* x = in[0].as<T>();
    T* y = out[0].as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t base = o * len * inner + j;
        double max = -std::numeric_limits<double>::infinity();
        for (int64_t k = 0; k < len; ++k) max = std::max<double>(max, x[base + k * inner]);
        double sum = 0;
        for (int64_t k = 0; k < len; ++k) sum += std::exp(x[base + k * inner] - max);
        for (int64_t k = 0; k < len; ++k) {
          const double shifted = x[base + k * inner] - max;
          y[base + k * inner] = static_cast<T>(log ? shifted - std::log(sum) : std::exp(shifted) / sum);
        }
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceElementwiseKernels(KernelRegistry& r) {
  // Add, Sub, Mul, Div, Pow, Max, Min: ir/core/ops/binary.def (binary.cc).
  RegisterRef(r, "Sum", 1, 1, Variadic([](auto tag) { return ref::WrapAdd<decltype(tag)>; }));
  RegisterRef(r, "Mean", 1, 1, MeanKernel);

  RegisterRef(r, "Relu", 1, 1, [](const KernelSpec&, const Refs& in, const Refs& out) {
    return UnaryTyped(
        in[0], out[0], [](DType t, auto fn) { return DispatchSigned(t, fn); },
        [](auto x) { return x < 0 ? decltype(x){0} : x; });
  });
  RegisterRef(r, "Neg", 1, 1, [](const KernelSpec&, const Refs& in, const Refs& out) {
    return UnaryTyped(
        in[0], out[0], [](DType t, auto fn) { return DispatchSigned(t, fn); }, [](auto x) { return ref::WrapNeg(x); });
  });
  RegisterRef(r, "Abs", 1, 1, [](const KernelSpec&, const Refs& in, const Refs& out) {
    return UnaryTyped(
        in[0], out[0], [](DType t, auto fn) { return DispatchNumeric(t, fn); },
        [](auto x) { return x < 0 ? ref::WrapNeg(x) : x; });
  });
  RegisterRef(r, "Sign", 1, 1, [](const KernelSpec&, const Refs& in, const Refs& out) {
    return UnaryTyped(
        in[0], out[0], [](DType t, auto fn) { return DispatchNumeric(t, fn); },
        [](auto x) {
          using T = decltype(x);
          return x > 0 ? T{1} : x < 0 ? static_cast<T>(-1) : x;  // 0, -0 and NaN stay
        });
  });
  RegisterRef(r, "PRelu", 2, 1, PReluKernel);
  RegisterRef(r, "Clip", 1, 1, ClipKernel);

  // ir/core/ops/unary.def, computed with the fused interpreter's scalar math.
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, ...) \
  RegisterUnaryFloat(r, #Name, [](const Attrs& a) {                               \
    const double a0 = nattrs > 0 ? a.GetFloat(attr0, default0) : 0.0;             \
    const double a1 = nattrs > 1 ? a.GetFloat(attr1, default1) : 0.0;             \
    return [a0, a1](double x) { return ref::Unary##Name(x, a0, a1); };            \
  });
#include "ir/core/ops/unary.def"
#undef UNARY

  RegisterRef(r, "Softmax", 1, 1, [](const KernelSpec& spec, const Refs& in, const Refs& out) {
    return SoftmaxKernel(spec, in, out, false);
  });
  RegisterRef(r, "LogSoftmax", 1, 1, [](const KernelSpec& spec, const Refs& in, const Refs& out) {
    return SoftmaxKernel(spec, in, out, true);
  });
}

}  // namespace kiln::runtime
