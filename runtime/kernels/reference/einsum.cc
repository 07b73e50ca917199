// Reference kernel of Einsum (ir/core/ops/einsum.h): one loop over every index of the
// contraction (output indices outermost), each operand read through per-index strides
// (a repeated index adds its strides: a diagonal; a broadcast ellipsis dim has stride 0).
#include "ir/core/ops/einsum.h"

#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using Refs = std::vector<TensorRef>;

Status EinsumKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  std::vector<Dims> dims;
  for (const TensorRef& t : in) {
    if (t.dtype != in[0].dtype) return InvalidArgument("the operands must share one dtype");
    dims.push_back(t.dims);
  }
  ASSIGN_OR_RETURN(einsum::Plan plan, einsum::Resolve(spec.attrs.GetString("equation", ""), dims));
  if (out[0].dims != plan.output_dims() || out[0].dtype != in[0].dtype) {
    return InvalidArgument("output ", DimsToString(out[0].dims), " is not ", DimsToString(plan.output_dims()));
  }
  const size_t num_indices = plan.sizes.size();
  // strides[t][k]: how far operand t's offset moves when index k steps by one.
  std::vector<std::vector<int64_t>> strides(in.size(), std::vector<int64_t>(num_indices, 0));
  for (size_t t = 0; t < in.size(); ++t) {
    int64_t stride = 1;
    for (size_t d = dims[t].size(); d-- > 0;) {
      if (dims[t][d] != 1 || plan.sizes[plan.operand[t][d]] == 1) strides[t][plan.operand[t][d]] += stride;
      stride *= dims[t][d];
    }
  }
  const int64_t out_size = ElementCount(plan.output_dims());
  const int64_t summed_size = ElementCount(Dims(plan.sizes.begin() + plan.num_output, plan.sizes.end()));
  return ref::DispatchNumeric(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = ref::Acc<T>;
    T* y = out[0].as<T>();
    Dims index(num_indices, 0);
    std::vector<int64_t> offset(in.size(), 0);
    for (int64_t o = 0; o < out_size; ++o) {
      A acc = 0;
      for (int64_t s = 0; s < summed_size; ++s) {
        // index is the row-major multi-index of o * summed_size + s; offsets follow it.
        A product = 1;
        for (size_t t = 0; t < in.size(); ++t)
          product = ref::WrapMul<A>(product, static_cast<A>(in[t].as<T>()[offset[t]]));
        acc = ref::WrapAdd<A>(acc, product);
        for (size_t k = num_indices; k-- > 0;) {  // step the multi-index, carrying
          for (size_t t = 0; t < in.size(); ++t) offset[t] += strides[t][k];
          if (++index[k] < plan.sizes[k]) break;
          for (size_t t = 0; t < in.size(); ++t) offset[t] -= strides[t][k] * plan.sizes[k];
          index[k] = 0;
        }
      }
      y[o] = static_cast<T>(acc);
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceEinsumKernels(KernelRegistry& r) { ref::RegisterRef(r, "Einsum", 1, 1, EinsumKernel); }

}  // namespace kiln::runtime
