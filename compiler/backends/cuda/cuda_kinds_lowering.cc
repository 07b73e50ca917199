#include "compiler/backends/cuda/cuda_kinds_lowering.h"

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

}  // namespace

StatusOr<CudaKernelDesc> CudaKindForOp(const CudaOpView& op) {
  if (op.input_dims.empty() || op.input_dims.size() != op.input_dtypes.size()) {
    return InvalidArgument("cuda: ", op.op_type, ": input dims and dtypes differ in count");
  }
  const std::string& t = op.op_type;
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
  return No(op, "no kernel kind for this op");
}

}  // namespace kiln::cuda
