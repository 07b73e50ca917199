#include "runtime/finite_values.h"

#include <cstdint>
#include <cstring>

#include "runtime/kernels/onednn/simd_vec.h"

namespace kiln::runtime {

bool KeepsFiniteValues(const std::string& op, const Attrs& attrs) {
  // Fused ops: their activations that keep finite values finite (FusedActivations).
  static const char* const kActivations[] = {"", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Swish"};
  if (op == "FusedConv" || op == "FusedMatMul") {
    const std::string activation = attrs.GetString("activation", "");
    for (const char* a : kActivations) {
      if (activation == a) return true;
    }
    return false;
  }
  // Sums of products, order-preserving and data-moving ops, and bounded functions. Not
  // here: Div, Log, Sqrt, Pow, Exp, Reciprocal (finite in, non-finite out), normalizations
  // (their variance may be a constant below -epsilon) and generated fused kernels.
  static const char* const kOps[] = {"Conv",
                                     "ConvTranspose",
                                     "MatMul",
                                     "Gemm",
                                     "Relu",
                                     "LeakyRelu",
                                     "Sigmoid",
                                     "Tanh",
                                     "MaxPool",
                                     "AveragePool",
                                     "GlobalAveragePool",
                                     "GlobalMaxPool",
                                     "Add",
                                     "Sub",
                                     "Mul",
                                     "Sum",
                                     "Max",
                                     "Min",
                                     "Clip",
                                     "Concat",
                                     "Flatten",
                                     "Reshape",
                                     "Squeeze",
                                     "Unsqueeze",
                                     "Transpose",
                                     "Identity",
                                     "Dropout",
                                     "Softmax",
                                     "Slice",
                                     "Split",
                                     "Gather"};
  for (const char* o : kOps) {
    if (op == o) return true;
  }
  return false;
}

namespace {

// Whether none of the n floats (as bits) at p is NaN or +-Inf: each one's magnitude bits
// lie below Inf's. Signed compares of the masked bits (all below 2^31) vectorize on any x86.
template <int W>
KILN_INLINE bool FiniteBits(const uint32_t* p, int64_t n) {
  using V = typename onednn::VecTypes<W>::I;
  V bad{};
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    for (int k = 0; k < 4; ++k) bad |= (*reinterpret_cast<const V*>(p + i + k * W) & 0x7fffffff) > 0x7f7fffff;
  }
  int32_t any = 0;
  for (int k = 0; k < W; ++k) any |= bad[k];
  for (; i < n; ++i) any |= (p[i] & 0x7fffffffu) > 0x7f7fffffu;
  return any == 0;
}
__attribute__((target("avx2"))) bool FiniteBitsAvx2(const uint32_t* p, int64_t n) { return FiniteBits<8>(p, n); }
bool FiniteBitsBaseline(const uint32_t* p, int64_t n) { return FiniteBits<4>(p, n); }

}  // namespace

bool FiniteFloats(const void* data, int64_t n) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  const auto* p = static_cast<const uint32_t*>(data);
  return avx2 ? FiniteBitsAvx2(p, n) : FiniteBitsBaseline(p, n);
}

bool HoldsFiniteValues(const TensorRef& t) {
  return t.dtype != proto::DT_FLOAT || !t.data || FiniteFloats(t.data, t.num_elements());
}

FiniteValues::FiniteValues(const std::vector<TensorRef>* buffers, const std::vector<bool>& host_constant)
    : buffers_(buffers), known_(buffers->size(), 0) {
  for (size_t i = 0; i < known_.size(); ++i) {
    if (host_constant[i]) known_[i] = -1;  // scanned when a step first reads it
  }
}

bool FiniteValues::finite(int buffer) {
  // An omitted optional input; or not float32: only float32 values are checked, and the
  // ops of KeepsFiniteValues keep dtypes (what converts to float32, Cast, is not one).
  if (buffer < 0 || (*buffers_)[buffer].dtype != proto::DT_FLOAT) return true;
  signed char& k = known_[buffer];
  if (k < 0) k = HoldsFiniteValues((*buffers_)[buffer]) ? 1 : 0;
  return k == 1;
}

void FiniteValues::Before(const std::vector<int>& inputs, KernelSpec& spec) {
  spec.finite_inputs.assign(inputs.size(), false);
  for (size_t i = 0; i < inputs.size(); ++i) spec.finite_inputs[i] = finite(inputs[i]);
}

void FiniteValues::After(const std::vector<int>& inputs, const std::vector<int>& outputs, const KernelSpec& spec,
                         const Kernel& kernel) {
  const FiniteCheck check = kernel.ChecksFinite();
  bool finite_out = check == FiniteCheck::kOutputs;
  if (!finite_out && KeepsFiniteValues(spec.op_type, spec.attrs)) {
    finite_out = true;
    for (int in : inputs) finite_out &= check == FiniteCheck::kInputs || finite(in);
  }
  for (int out : outputs) {
    if (out >= 0) known_[out] = finite_out ? 1 : 0;
  }
}

}  // namespace kiln::runtime
