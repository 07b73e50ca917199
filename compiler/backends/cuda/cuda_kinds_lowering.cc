#include "compiler/backends/cuda/cuda_kinds_lowering.h"

#include "ir/core/optimizer.h"
#include "ir/core/shape_util.h"

namespace kiln::cuda {
namespace {

Status No(const CudaOpView& op, const std::string& why) {
  return Unimplemented("cuda: no generated kernel for ", op.op_type, ": ", why);
}

bool IsFloat(const CudaOpView& op, size_t i) {
  return i < op.input_dtypes.size() && op.input_dtypes[i] == proto::DT_FLOAT;
}
bool IsInt64(const CudaOpView& op, size_t i) {
  return i < op.input_dtypes.size() && op.input_dtypes[i] == proto::DT_INT64;
}
bool Present(const CudaOpView& op, size_t i) {
  return i < op.input_dtypes.size() && op.input_dtypes[i] != proto::DT_UNDEFINED;
}
// A constant int input's values: nullptr when absent or not constant.
const std::vector<int64_t>* ConstantInts(const CudaOpView& op, size_t i) {
  return i < op.constant_ints.size() && op.constant_ints[i] ? &*op.constant_ints[i] : nullptr;
}

CudaKernelDesc Make(CudaKind kind, const CudaOpView& op, size_t num_inputs) {
  CudaKernelDesc d;
  d.kind = kind;
  d.inputs.assign(op.input_dims.begin(), op.input_dims.begin() + std::min(num_inputs, op.input_dims.size()));
  return d;
}

StatusOr<CudaKernelDesc> Reduce(const CudaOpView& op, CudaKind kind) {
  CudaKernelDesc d = Make(kind, op, 1);
  d.keepdims = op.attrs.GetInt("keepdims", 1) != 0;
  if (Present(op, 1)) {
    const std::vector<int64_t>* axes = ConstantInts(op, 1);
    if (axes == nullptr) return No(op, "the axes input is not a constant");
    d.axes = *axes;
  } else if (kind != CudaKind::kReduceSum) {
    d.axes = op.attrs.GetInts("axes");
  }
  if (d.axes.empty() && op.attrs.GetInt("noop_with_empty_axes", 0) != 0) return No(op, "noop_with_empty_axes");
  ASSIGN_OR_RETURN(d.axes, NormalizeAxes(d.axes, op.input_dims[0].size()));
  return d;
}

StatusOr<CudaKernelDesc> Pool(const CudaOpView& op, CudaKind kind) {
  const size_t x_at = kind == CudaKind::kMaxPoolGrad ? 1 : 0;
  const Dims& x = op.input_dims[x_at];
  if (x.size() != 4) return No(op, "only 2-D pooling (NCHW)");
  if (op.num_outputs > 1) return No(op, "the Indices output");
  ASSIGN_OR_RETURN(WindowGeometry g, ComputePoolGeometry({x[2], x[3]}, op.attrs.GetInts("kernel_shape"), op.attrs));
  for (int64_t dil : g.dilations) {
    if (dil != 1) return No(op, "dilations");
  }
  CudaKernelDesc d = Make(kind, op, x_at + 1);
  d.kernel = g.kernel;
  d.strides = g.strides;
  d.pads = {g.pads[0], g.pads[1], g.pads[2], g.pads[3]};
  d.count_include_pad = op.attrs.GetInt("count_include_pad", 0) != 0;
  // The kind's windows are the floor sizes: ceil_mode's extra window is not generated.
  for (int i = 0; i < 2; ++i) {
    const int64_t floor_size = (x[2 + i] + g.pads[i] + g.pads[2 + i] - g.kernel[i]) / g.strides[i] + 1;
    if (g.output[i] != floor_size) return No(op, "ceil_mode windows past the input");
  }
  return d;
}

// The activation of a fused op, with the parameters its reference kernel uses
// (runtime/kernels/reference/fused.cc: LeakyRelu / Elu take the op's default alpha when
// activation_alpha is absent; Clip's bounds default to 0).
void FusedActivation(const CudaOpView& op, CudaKernelDesc* d) {
  d->activation = op.attrs.GetString("activation", "");
  const float default_alpha = d->activation == "LeakyRelu" ? 0.01f : d->activation == "Elu" ? 1.0f : 0.0f;
  d->activation_alpha = op.attrs.GetFloat("activation_alpha", default_alpha);
  d->activation_beta = op.attrs.GetFloat("activation_beta", 0.0f);
}

// Inputs 2 (bias) and 3 (residual) of the fused ops; the kernel takes them in order, so a
// residual needs the bias (the CUDA target does not fuse the other form).
StatusOr<size_t> ProductInputs(const CudaOpView& op, size_t max_inputs) {
  size_t n = 2;
  for (size_t i = 0; i < op.input_dims.size() && i < max_inputs; ++i) {
    if (!Present(op, i)) {
      if (i < 2) return No(op, "an omitted operand");
      continue;
    }
    if (!IsFloat(op, i)) return No(op, "only float32 data");
    if (n < i) return No(op, "a residual without a bias");
    n = i + 1;
  }
  if (op.input_dims.size() > max_inputs) return No(op, "more than " + std::to_string(max_inputs) + " inputs");
  return n;
}

StatusOr<CudaKernelDesc> Conv(const CudaOpView& op, CudaKind kind) {
  const Dims& x = op.input_dims[0];
  const Dims& w = op.input_dims[1];
  if (x.size() != 4 || w.size() != 4) return No(op, "only 2-D convolutions (NCHW)");
  ASSIGN_OR_RETURN(size_t inputs, ProductInputs(op, kind == CudaKind::kFusedConv ? 4 : 3));
  ASSIGN_OR_RETURN(WindowGeometry g, ComputeWindowGeometry({x[2], x[3]}, {w[2], w[3]}, op.attrs));
  CudaKernelDesc d = Make(kind, op, inputs);
  d.kernel = g.kernel;
  d.strides = g.strides;
  d.dilations = g.dilations;
  d.pads = {g.pads[0], g.pads[1], g.pads[2], g.pads[3]};
  d.group = op.attrs.GetInt("group", 1);
  if (kind == CudaKind::kFusedConv) FusedActivation(op, &d);
  return d;
}

}  // namespace

StatusOr<CudaKernelDesc> CudaKindForOp(const CudaOpView& op) {
  if (op.input_dims.empty() || op.input_dims.size() != op.input_dtypes.size()) {
    return InvalidArgument("cuda: ", op.op_type, ": input dims and dtypes differ in count");
  }
  const std::string& t = op.op_type;
  // Training steps: the optimizer updates and the int64 step counter (`train/step/increment`).
  if (const OptimizerDef* def = FindOptimizerByUpdateOp(t)) {
    const size_t fixed = 2 + def->slots.size() + (def->reads_step ? 1 : 0);
    for (size_t i = 0; i < 2 + def->slots.size(); ++i) {
      if (!IsFloat(op, i)) return No(op, "only float32 parameters, gradients and optimizer state");
    }
    if (def->reads_step && !IsInt64(op, fixed - 1)) return No(op, "the step must be int64");
    const bool lr_input = Present(op, fixed);
    if (lr_input && !IsFloat(op, fixed)) return No(op, "the learning rate input must be float32");
    CudaKernelDesc d = Make(CudaKind::kOptimizerUpdate, op, fixed + (lr_input ? 1 : 0));
    d.update_op = t;
    d.hyper = UpdateHyperparams(*def, op.attrs);
    d.lr_input = lr_input;
    return d;
  }
  if (t == "Add" && IsInt64(op, 0) && IsInt64(op, 1)) {
    // x + a constant scalar: the step counter's increment.
    const std::vector<int64_t>* addend = ConstantInts(op, 1);
    if (addend == nullptr || addend->size() != 1 || !op.input_dims[1].empty()) {
      return No(op, "int64 Add only of a constant scalar (the step counter)");
    }
    CudaKernelDesc d = Make(CudaKind::kCounterAdd, op, 1);
    d.addend = (*addend)[0];
    return d;
  }
  if (t == "DropoutTraining") {
    if (!IsFloat(op, 0) || !IsInt64(op, 1)) return No(op, "only float32 data and an int64 step");
    if (op.num_outputs != 2) return No(op, "without the mask output");
    CudaKernelDesc d = Make(CudaKind::kDropout, op, 2);
    d.dropout_ratio = op.attrs.GetFloat("ratio", 0.5f);
    d.dropout_seed = static_cast<uint64_t>(op.attrs.GetInt("seed", 0));
    return d;
  }
  // Every kind reads float32 data (gather's indices and sparse labels aside).
  const size_t data_at = (t == "SoftmaxCrossEntropyGrad" || t == "MaxPoolGrad") ? 1 : 0;
  if (!IsFloat(op, data_at)) return No(op, "only float32 data");
  if (t == "Softmax" || t == "LogSoftmax") {
    const int64_t rank = op.input_dims[0].size();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.attrs.GetInt("axis", -1), rank));
    if (axis != rank - 1) return No(op, "an axis other than the last");
    return Make(t == "Softmax" ? CudaKind::kSoftmax : CudaKind::kLogSoftmax, op, 1);
  }
  if (t == "SoftmaxGrad") {
    const int64_t rank = op.input_dims[0].size();
    ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(op.attrs.GetInt("axis", -1), rank));
    if (axis != rank - 1) return No(op, "an axis other than the last");
    if (!IsFloat(op, 1)) return No(op, "only float32 data");
    return Make(op.attrs.GetInt("log", 0) != 0 ? CudaKind::kLogSoftmaxGrad : CudaKind::kSoftmaxGrad, op, 2);
  }
  if (t == "ReduceSum") return Reduce(op, CudaKind::kReduceSum);
  if (t == "ReduceMean") return Reduce(op, CudaKind::kReduceMean);
  if (t == "ReduceMax") return Reduce(op, CudaKind::kReduceMax);
  if (t == "SoftmaxCrossEntropy" || t == "SoftmaxCrossEntropyGrad") {
    const bool grad = t == "SoftmaxCrossEntropyGrad";
    CudaKernelDesc d =
        Make(grad ? CudaKind::kSoftmaxCrossEntropyGrad : CudaKind::kSoftmaxCrossEntropy, op, grad ? 3 : 2);
    d.sparse = op.attrs.GetInt("sparse", 0) != 0;
    const size_t target = grad ? 2 : 1;
    if (d.sparse ? !IsInt64(op, target) : !IsFloat(op, target)) return No(op, "targets of another dtype");
    if (grad && !IsFloat(op, 0)) return No(op, "a dLoss of another dtype");
    return d;
  }
  if (t == "GlobalAveragePool") {  // ReduceMean over the spatial axes, kept as 1s
    CudaKernelDesc d = Make(CudaKind::kReduceMean, op, 1);
    for (size_t a = 2; a < op.input_dims[0].size(); ++a) d.axes.push_back(int64_t(a));
    if (d.axes.empty()) return No(op, "an input without spatial axes");
    return d;
  }
  if (t == "MaxPool") return Pool(op, CudaKind::kMaxPool);
  if (t == "AveragePool") return Pool(op, CudaKind::kAveragePool);
  if (t == "MaxPoolGrad") return Pool(op, CudaKind::kMaxPoolGrad);
  if (t == "Transpose") {
    CudaKernelDesc d = Make(CudaKind::kTranspose, op, 1);
    d.axes = op.attrs.GetInts("perm");
    return d;
  }
  if (t == "Concat") {
    for (size_t i = 0; i < op.input_dims.size(); ++i) {
      if (!IsFloat(op, i)) return No(op, "only float32 data");
    }
    CudaKernelDesc d = Make(CudaKind::kConcat, op, op.input_dims.size());
    d.axes = {op.attrs.GetInt("axis", 0)};
    return d;
  }
  if (t == "Slice") {
    std::vector<int64_t> parts[4];  // starts, ends, axes, steps
    for (size_t i = 1; i < 5; ++i) {
      if (!Present(op, i)) continue;
      const std::vector<int64_t>* v = ConstantInts(op, i);
      if (v == nullptr) return No(op, "starts, ends, axes and steps must be constants");
      parts[i - 1] = *v;
    }
    ASSIGN_OR_RETURN(SliceRange range, ResolveSlice(op.input_dims[0], parts[0], parts[1], parts[2], parts[3]));
    CudaKernelDesc d = Make(CudaKind::kSlice, op, 1);
    d.starts = range.starts;
    d.steps = range.steps;
    d.out = range.output;
    return d;
  }
  if (t == "Gather") {
    if (!IsInt64(op, 1)) return No(op, "only int64 indices");
    CudaKernelDesc d = Make(CudaKind::kGather, op, 2);
    d.axes = {op.attrs.GetInt("axis", 0)};
    return d;
  }
  if (t == "MatMul" || t == "FusedMatMul") {
    const bool fused = t == "FusedMatMul";
    ASSIGN_OR_RETURN(size_t inputs, ProductInputs(op, fused ? 4 : 2));
    CudaKernelDesc d = Make(fused ? CudaKind::kFusedMatMul : CudaKind::kMatMul, op, inputs);
    if (fused) FusedActivation(op, &d);
    return d;
  }
  if (t == "Gemm") {
    ASSIGN_OR_RETURN(size_t inputs, ProductInputs(op, 3));
    CudaKernelDesc d = Make(CudaKind::kGemm, op, inputs);
    d.trans_a = op.attrs.GetInt("transA", 0) != 0;
    d.trans_b = op.attrs.GetInt("transB", 0) != 0;
    d.alpha = op.attrs.GetFloat("alpha", 1.0f);
    d.beta = op.attrs.GetFloat("beta", 1.0f);
    return d;
  }
  if (t == "ConvGradInput" || t == "ConvGradWeight") {
    // dY, w -> dX / dY, x -> dW [, dB]: the forward's x and w dims, one of them the output's.
    const bool input = t == "ConvGradInput";
    if (!IsFloat(op, 1) || op.input_dims.size() != 2)
      return No(op, "only float32 dY and " + std::string(input ? "w" : "x"));
    if (op.output_dims.empty()) return No(op, "the output's dims are not known");
    const Dims& x = input ? op.output_dims[0] : op.input_dims[1];
    const Dims& w = input ? op.input_dims[1] : op.output_dims[0];
    if (x.size() != 4 || w.size() != 4) return No(op, "only 2-D convolutions (NCHW)");
    ASSIGN_OR_RETURN(WindowGeometry g, ComputeWindowGeometry({x[2], x[3]}, {w[2], w[3]}, op.attrs));
    CudaKernelDesc d = Make(input ? CudaKind::kConvGradInput : CudaKind::kConvGradWeight, op, 2);
    d.out = op.output_dims[0];
    d.kernel = g.kernel;
    d.strides = g.strides;
    d.dilations = g.dilations;
    d.pads = {g.pads[0], g.pads[1], g.pads[2], g.pads[3]};
    d.group = op.attrs.GetInt("group", 1);
    d.bias_gradient = !input && op.num_outputs > 1;
    return d;
  }
  if (t == "Conv") return Conv(op, CudaKind::kConv);
  if (t == "FusedConv") return Conv(op, CudaKind::kFusedConv);
  // Views: the same elements under the output's dims (the shape inputs are constants the
  // graph already resolved into the output's dims).
  if (t == "Reshape" || t == "Flatten" || t == "Squeeze" || t == "Unsqueeze" || t == "Identity") {
    if (op.output_dims.size() != 1) return No(op, "the output's dims are not known");
    CudaKernelDesc d = Make(CudaKind::kCopy, op, 1);
    d.out = op.output_dims[0];
    return d;
  }
  return No(op, "no kernel kind for this op");
}

}  // namespace kiln::cuda
