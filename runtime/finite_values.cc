#include "runtime/finite_values.h"

#include <cstdint>
#include <cstring>

namespace kiln::runtime {

bool KeepsFiniteValues(const std::string& op, const Attrs& attrs) {
  // Fused ops: their activations that keep finite values finite (FusedActivations).
  static const char* const kActivations[] = {"", "Relu", "LeakyRelu", "Sigmoid", "Tanh"};
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

bool HoldsFiniteValues(const TensorRef& t) {
  if (t.dtype != proto::DT_FLOAT || !t.data) return true;
  const auto* p = static_cast<const uint32_t*>(t.data);
  uint32_t bad = 0;
  for (int64_t i = 0, n = t.num_elements(); i < n; ++i) bad |= (p[i] & 0x7fffffffu) > 0x7f7fffffu;
  return bad == 0;
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
