// Reference kernels for MatMul (numpy matmul) and Gemm: triple loops with
// double accumulation for floats and wrapping int64 accumulation for integers.
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::Acc;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

// float32/64, int32, int64 (ONNX MatMul/Gemm types, float16 aside).
template <typename Fn>
Status DispatchMatMul(DType t, Fn&& fn) {
  switch (t) {
    case proto::DT_FLOAT: return fn(float{});
    case proto::DT_DOUBLE: return fn(double{});
    case proto::DT_INT32: return fn(int32_t{});
    case proto::DT_INT64: return fn(int64_t{});
    default:
      return Unimplemented("input type ", DTypeName(t),
                           " is not supported (supported: float32, float64, int32, int64)");
  }
}

// C[m, n] = sum_k A[m, k] * B[k, n] for one matrix pair, given element strides.
template <typename T>
void MatMulOne(const T* a, int64_t a_row, int64_t a_col, const T* b, int64_t b_row, int64_t b_col, T* c, int64_t m,
               int64_t k, int64_t n, int64_t c_row) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      Acc<T> sum = 0;
      for (int64_t p = 0; p < k; ++p) {
        sum = ref::WrapAdd<Acc<T>>(sum, ref::WrapMul<Acc<T>>(a[i * a_row + p * a_col], b[p * b_row + j * b_col]));
      }
      c[i * c_row + j] = static_cast<T>(sum);
    }
  }
}

Status MatMulKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (in[0].dtype != in[1].dtype || in[0].dtype != out[0].dtype) {
    return InvalidArgument("operand types ", DTypeName(in[0].dtype), ", ", DTypeName(in[1].dtype), " and output ",
                           DTypeName(out[0].dtype), " differ");
  }
  ASSIGN_OR_RETURN(Dims expected, MatMulOutputDims(in[0].dims, in[1].dims));
  if (expected != out[0].dims) {
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " is not ", DimsToString(expected));
  }
  // Promote 1-D operands to matrices; the output has the same element order either way.
  const Dims a = in[0].dims.size() == 1 ? Dims{1, in[0].dims[0]} : in[0].dims;
  const Dims b = in[1].dims.size() == 1 ? Dims{in[1].dims[0], 1} : in[1].dims;
  const int64_t m = a[a.size() - 2], k = a.back(), n = b.back();
  const Dims a_batch(a.begin(), a.end() - 2), b_batch(b.begin(), b.end() - 2);
  ASSIGN_OR_RETURN(Dims batch, BroadcastDims(a_batch, b_batch));
  BroadcastIndexer ia(a_batch, batch), ib(b_batch, batch);
  const int64_t batches = ElementCount(batch);
  return DispatchMatMul(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t i = 0; i < batches; ++i) {
      MatMulOne(in[0].as<T>() + ia(i) * m * k, k, 1, in[1].as<T>() + ib(i) * k * n, n, 1, out[0].as<T>() + i * m * n, m,
                k, n, n);
    }
    return Status::Ok();
  });
}

// Y = alpha * op(A) * op(B) + beta * C, C broadcast to [M, N].
Status GemmKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const bool trans_a = spec.attrs.GetInt("transA", 0) != 0, trans_b = spec.attrs.GetInt("transB", 0) != 0;
  const double alpha = spec.attrs.GetFloat("alpha", 1.0f), beta = spec.attrs.GetFloat("beta", 1.0f);
  const Dims& a = in[0].dims;
  const Dims& b = in[1].dims;
  if (a.size() != 2 || b.size() != 2) {
    return InvalidArgument("A ", DimsToString(a), " and B ", DimsToString(b), " must be 2-D");
  }
  const int64_t m = trans_a ? a[1] : a[0], k = trans_a ? a[0] : a[1];
  const int64_t kb = trans_b ? b[1] : b[0], n = trans_b ? b[0] : b[1];
  if (k != kb) return InvalidArgument("inner dimensions do not match (", k, " vs ", kb, ")");
  if (out[0].dims != Dims{m, n})
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " is not [", m, ", ", n, "]");
  const bool has_c = ref::HasInput(in, 2);
  for (int i = 1; i < (has_c ? 3 : 2); ++i) {
    if (in[i].dtype != in[0].dtype) return InvalidArgument("input ", i, " type differs from A's");
  }
  if (out[0].dtype != in[0].dtype) return InvalidArgument("output type differs from A's");
  if (has_c) RETURN_IF_ERROR(CheckBroadcastsTo(in[2].dims, out[0].dims));
  const Dims c_dims = has_c ? in[2].dims : Dims{};
  BroadcastIndexer ic(c_dims, out[0].dims);
  return DispatchMatMul(out[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* pa = in[0].as<T>();
    const T* pb = in[1].as<T>();
    T* y = out[0].as<T>();
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        Acc<T> sum = 0;
        for (int64_t p = 0; p < k; ++p) {
          const T av = trans_a ? pa[p * m + i] : pa[i * k + p];
          const T bv = trans_b ? pb[j * k + p] : pb[p * n + j];
          sum = ref::WrapAdd<Acc<T>>(sum, ref::WrapMul<Acc<T>>(av, bv));
        }
        const T c = has_c ? in[2].as<T>()[ic(i * n + j)] : T{0};
        if (std::is_integral_v<T> && alpha == 1.0 && beta == 1.0) {
          y[i * n + j] = static_cast<T>(ref::WrapAdd<Acc<T>>(sum, c));  // exact beyond 2^53
        } else {
          y[i * n + j] = ref::FromDouble<T>(alpha * static_cast<double>(sum) + beta * static_cast<double>(c));
        }
      }
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceLinalgKernels(KernelRegistry& r) {
  RegisterRef(r, "MatMul", 2, 1, MatMulKernel);
  RegisterRef(r, "Gemm", 2, 1, GemmKernel);
}

}  // namespace kiln::runtime
