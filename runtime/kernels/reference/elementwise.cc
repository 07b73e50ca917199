// Reference kernels for elementwise ops: plain loops, obviously right.
#include "ir/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/broadcast.h"

namespace kiln::runtime {
namespace {

template <typename Fn>
Status UnaryFloat(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out, Fn fn) {
  if (in[0].dtype != proto::DT_FLOAT) return Unimplemented("reference kernel supports float32 only");
  const float* x = in[0].as<float>();
  float* y = out[0].as<float>();
  const int64_t n = in[0].num_elements();
  for (int64_t i = 0; i < n; ++i) y[i] = fn(x[i]);
  return Status::Ok();
}

}  // namespace

void RegisterReferenceElementwiseKernels(KernelRegistry& r) {
  r.Register("ref", "Relu", MakeSimpleKernel([](const KernelSpec&, const auto& in, const auto& out) {
               return UnaryFloat(in, out, [](float x) { return x > 0 ? x : 0.0f; });
             }));
  r.Register("ref", "Add", MakeSimpleKernel([](const KernelSpec&, const auto& in, const auto& out) {
               return BroadcastBinary(in[0], in[1], out[0], [](auto a, auto b) { return a + b; });
             }));
}

}  // namespace kiln::runtime
