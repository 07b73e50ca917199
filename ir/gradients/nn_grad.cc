// Gradient rules of convolution, pooling, normalization, dropout and the
// reductions. Window ops pass their own attributes on to the backward op, so
// both compute the same geometry (ir/core/shape_util.h), with auto_pad resolved into
// explicit pads (the backward ops take explicit pads only).
#include "ir/core/shape_util.h"
#include "ir/gradient.h"

namespace kiln {
namespace {

using Ctx = GradientContext;

Attrs WithShape(const Attrs& attrs, const char* name, const Dims& dims) {
  Attrs a = attrs;
  a.SetInts(name, std::vector<int64_t>(dims.begin(), dims.end()));
  return a;
}

Dims SpatialOf(const Value* v) {
  const Dims& d = v->dims();
  return d.size() > 2 ? Dims(d.begin() + 2, d.end()) : Dims{};
}

// The node's attributes with auto_pad resolved into explicit pads: the backward
// ops take explicit pads only. `kernel` is the window's spatial size.
StatusOr<Attrs> ExplicitPads(const Ctx& c, const Dims& kernel, bool transpose = false) {
  Attrs a = c.node.attrs();
  if (!a.Has("auto_pad")) return a;
  const Dims x = SpatialOf(c.X(0));
  auto geometry = transpose ? ComputeConvTransposeGeometry(x, kernel, a) : ComputeWindowGeometry(x, kernel, a);
  if (!geometry.ok()) return geometry.status().WithContext("gradient of " + c.node.Label());
  a.Erase("auto_pad");
  a.SetInts("pads", geometry->pads);
  return a;
}

// Y = Conv(X, W, B).
Status ConvGrad(Ctx& c) {
  ASSIGN_OR_RETURN(Attrs attrs, ExplicitPads(c, SpatialOf(c.X(1))));
  if (c.wants(0)) {
    ASSIGN_OR_RETURN(Value * g,
                     c.Emit1("ConvGradInput", {c.dY(), c.X(1)}, WithShape(attrs, "input_shape", c.X(0)->dims())));
    c.set_grad(0, g);
  }
  const bool bias = c.node.num_inputs() > 2 && c.X(2) && c.wants(2);
  if (c.wants(1) || bias) {
    ASSIGN_OR_RETURN(std::vector<Value*> g,
                     c.Emit("ConvGradWeight", {c.dY(), c.X(0)}, WithShape(attrs, "weight_shape", c.X(1)->dims()), 2));
    if (c.wants(1)) c.set_grad(1, g[0]);
    if (bias) c.set_grad(2, g[1]);
  }
  return Status::Ok();
}

// Sum of dY over every axis but the channel axis 1: the bias gradient.
StatusOr<Value*> ChannelSum(Ctx& c, Value* dy) {
  std::vector<int64_t> axes = {0};
  for (int i = 2; i < static_cast<int>(dy->dims().size()); ++i) axes.push_back(i);
  Attrs a;
  a.SetInt("keepdims", 0);
  return c.Emit1("ReduceSum", {dy, c.Ints(axes)}, a);
}

// Y = ConvTranspose(X, W, B) is the adjoint of Conv(., W): dX = Conv(dY, W) and
// dW comes from ConvGradWeight with the roles of input and output swapped.
Status ConvTransposeGrad(Ctx& c) {
  for (int64_t p : c.node.attrs().GetInts("output_padding")) {
    if (p != 0) return c.Unsupported("output_padding");
  }
  if (c.node.attrs().Has("output_shape")) return c.Unsupported("output_shape");
  ASSIGN_OR_RETURN(Attrs conv, ExplicitPads(c, SpatialOf(c.X(1)), /*transpose=*/true));
  conv.Erase("output_padding");
  conv.Erase("output_shape");
  if (c.wants(0)) {
    ASSIGN_OR_RETURN(Value * g, c.Emit1("Conv", {c.dY(), c.X(1)}, conv));
    c.set_grad(0, g);
  }
  if (c.wants(1)) {
    ASSIGN_OR_RETURN(std::vector<Value*> g,
                     c.Emit("ConvGradWeight", {c.X(0), c.dY()}, WithShape(conv, "weight_shape", c.X(1)->dims()), 1));
    c.set_grad(1, g[0]);
  }
  if (c.node.num_inputs() > 2 && c.X(2) && c.wants(2)) {
    ASSIGN_OR_RETURN(Value * g, ChannelSum(c, c.dY()));
    c.set_grad(2, g);
  }
  return Status::Ok();
}

Status MaxPoolGrad(Ctx& c) {
  if (c.node.num_outputs() > 1 && c.output_grads.size() > 1 && c.output_grads[1]) {
    return c.Unsupported("the Indices output");
  }
  ASSIGN_OR_RETURN(Attrs attrs, ExplicitPads(c, c.node.attrs().GetInts("kernel_shape")));
  ASSIGN_OR_RETURN(Value * g, c.Emit1("MaxPoolGrad", {c.dY(), c.X(0)}, attrs));
  c.set_grad(0, g);
  return Status::Ok();
}

Status AveragePoolGrad(Ctx& c) {
  ASSIGN_OR_RETURN(Attrs attrs, ExplicitPads(c, c.node.attrs().GetInts("kernel_shape")));
  ASSIGN_OR_RETURN(Value * g, c.Emit1("AveragePoolGrad", {c.dY()}, WithShape(attrs, "input_shape", c.X(0)->dims())));
  c.set_grad(0, g);
  return Status::Ok();
}

// GlobalAveragePool: every element of a channel gets dY / (spatial size).
Status GlobalAveragePoolGrad(Ctx& c) {
  const Dims& x = c.X(0)->dims();
  const int64_t spatial = ElementCount(Dims(x.begin() + 2, x.end()));
  ASSIGN_OR_RETURN(Value * g, c.Emit1("Mul", {c.dY(), c.Scalar(1.0 / static_cast<double>(spatial), c.dY()->dtype())}));
  ASSIGN_OR_RETURN(g, c.Emit1("Expand", {g, c.Ints(std::vector<int64_t>(x.begin(), x.end()))}));
  c.set_grad(0, g);
  return Status::Ok();
}

// Training-mode batch norm: only Y carries a gradient (the statistics outputs feed state).
Status BatchNormTrainingGrad(Ctx& c) {
  if (!c.dY(0)) return Status::Ok();
  Attrs a;
  a.SetFloat("epsilon", c.node.attrs().GetFloat("epsilon", 1e-5f));
  ASSIGN_OR_RETURN(std::vector<Value*> g, c.Emit("BatchNormGrad", {c.dY(), c.X(0), c.X(1), c.Y(3), c.Y(4)}, a, 3));
  for (int i = 0; i < 3; ++i) {
    if (c.wants(i)) c.set_grad(i, g[i]);
  }
  return Status::Ok();
}

// Inference-mode batch norm (frozen statistics): an affine map per channel.
Status BatchNormInferenceGrad(Ctx& c) {
  if (c.wants(3) || c.wants(4)) return c.Unsupported("the running statistics (train in training mode)");
  const Dims& x = c.X(0)->dims();
  const int64_t channels = x.size() > 1 ? x[1] : 1;
  Dims per_channel(x.size(), 1);
  if (x.size() > 1) per_channel[1] = channels;
  const DType t = c.X(0)->dtype();
  ASSIGN_OR_RETURN(Value * var_eps, c.Emit1("Add", {c.X(4), c.Scalar(c.node.attrs().GetFloat("epsilon", 1e-5f), t)}));
  ASSIGN_OR_RETURN(Value * inv_std, c.Emit1("Sqrt", {var_eps}));
  ASSIGN_OR_RETURN(inv_std, c.Emit1("Div", {c.Scalar(1.0, t), inv_std}));
  if (c.wants(0)) {
    ASSIGN_OR_RETURN(Value * s, c.Emit1("Mul", {c.X(1), inv_std}));
    ASSIGN_OR_RETURN(s, c.ReshapeTo(s, per_channel));
    ASSIGN_OR_RETURN(Value * g, c.Emit1("Mul", {c.dY(), s}));
    c.set_grad(0, g);
  }
  if (c.wants(1)) {
    ASSIGN_OR_RETURN(Value * mean, c.ReshapeTo(c.X(3), per_channel));
    ASSIGN_OR_RETURN(Value * is, c.ReshapeTo(inv_std, per_channel));
    ASSIGN_OR_RETURN(Value * xhat, c.Emit1("Sub", {c.X(0), mean}));
    ASSIGN_OR_RETURN(xhat, c.Emit1("Mul", {xhat, is}));
    ASSIGN_OR_RETURN(Value * g, c.Emit1("Mul", {c.dY(), xhat}));
    ASSIGN_OR_RETURN(g, ChannelSum(c, g));
    c.set_grad(1, g);
  }
  if (c.wants(2)) {
    ASSIGN_OR_RETURN(Value * g, ChannelSum(c, c.dY()));
    c.set_grad(2, g);
  }
  return Status::Ok();
}

// LayerNormalization over the dims from `axis` on (n elements each): with
// xhat = (x - mean) * inv_std, dX = inv_std * (g - mean(g) - xhat * mean(g * xhat))
// where g = dY * Scale. The statistics are recomputed in X's dtype (the op's own
// Mean/InvStdDev outputs are float32), so float64 gradcheck stays exact.
Status LayerNormGrad(Ctx& c) {
  if (!c.dY(0)) return Status::Ok();
  const Dims& x = c.X(0)->dims();
  const int rank = static_cast<int>(x.size());
  int64_t axis = c.node.attrs().GetInt("axis", -1);
  if (axis < 0) axis += rank;
  std::vector<int64_t> axes;
  for (int64_t d = axis; d < rank; ++d) axes.push_back(d);
  Attrs mean_attrs;
  mean_attrs.SetInts("axes", axes);
  mean_attrs.SetInt("keepdims", 1);
  auto mean = [&](Value* v) { return c.Emit1("ReduceMean", {v}, mean_attrs); };
  const DType t = c.X(0)->dtype();
  ASSIGN_OR_RETURN(Value * mu, mean(c.X(0)));
  ASSIGN_OR_RETURN(Value * centered, c.Emit1("Sub", {c.X(0), mu}));
  ASSIGN_OR_RETURN(Value * squares, c.Emit1("Mul", {centered, centered}));
  ASSIGN_OR_RETURN(Value * var, mean(squares));
  ASSIGN_OR_RETURN(var, c.Emit1("Add", {var, c.Scalar(c.node.attrs().GetFloat("epsilon", 1e-5f), t)}));
  ASSIGN_OR_RETURN(Value * std_dev, c.Emit1("Sqrt", {var}));
  ASSIGN_OR_RETURN(Value * inv_std, c.Emit1("Div", {c.Scalar(1.0, t), std_dev}));
  ASSIGN_OR_RETURN(Value * xhat, c.Emit1("Mul", {centered, inv_std}));
  if (c.wants(2)) {
    ASSIGN_OR_RETURN(Value * g, c.ReduceTo(c.dY(), c.X(2)->dims()));
    c.set_grad(2, g);
  }
  if (c.wants(1)) {
    ASSIGN_OR_RETURN(Value * g, c.Emit1("Mul", {c.dY(), xhat}));
    ASSIGN_OR_RETURN(g, c.ReduceTo(g, c.X(1)->dims()));
    c.set_grad(1, g);
  }
  if (c.wants(0)) {
    ASSIGN_OR_RETURN(Value * g, c.Emit1("Mul", {c.dY(), c.X(1)}));
    ASSIGN_OR_RETURN(Value * g_mean, mean(g));
    ASSIGN_OR_RETURN(Value * gx, c.Emit1("Mul", {g, xhat}));
    ASSIGN_OR_RETURN(Value * gx_mean, mean(gx));
    ASSIGN_OR_RETURN(Value * correction, c.Emit1("Mul", {xhat, gx_mean}));
    ASSIGN_OR_RETURN(Value * dx, c.Emit1("Sub", {g, g_mean}));
    ASSIGN_OR_RETURN(dx, c.Emit1("Sub", {dx, correction}));
    ASSIGN_OR_RETURN(dx, c.Emit1("Mul", {dx, inv_std}));
    c.set_grad(0, dx);
  }
  return Status::Ok();
}

Status DropoutTrainingGrad(Ctx& c) {
  ASSIGN_OR_RETURN(Value * g, c.Emit1("Mul", {c.dY(), c.Y(1)}));
  c.set_grad(0, g);
  return Status::Ok();
}

// Inference-mode Dropout is the identity.
Status DropoutGrad(Ctx& c) {
  c.set_grad(0, c.dY());
  return Status::Ok();
}

// The keepdims shape of a reduction over `axes` (all axes when empty).
Dims KeptDims(const Dims& x, std::vector<int64_t> axes) {
  Dims kept = x;
  const int rank = static_cast<int>(x.size());
  if (axes.empty()) {
    for (int i = 0; i < rank; ++i) axes.push_back(i);
  }
  for (int64_t a : axes) kept[a < 0 ? a + rank : a] = 1;
  return kept;
}

// The reduced axes of a reduction: its 'axes' attribute or constant 'axes' input (opset 18).
StatusOr<std::vector<int64_t>> ReducedAxes(const Ctx& c) {
  if (c.node.num_inputs() > 1 && c.X(1)) {
    if (!c.X(1)->is_constant()) return c.Unsupported("axes computed at run time");
    return c.X(1)->constant().ToInt64Vector();
  }
  return c.node.attrs().GetInts("axes");
}

// No axes with noop_with_empty_axes: the reduction is the identity.
bool IsNoopReduce(const Ctx& c, const std::vector<int64_t>& axes) {
  return axes.empty() && c.node.attrs().GetInt("noop_with_empty_axes", 0) != 0;
}

// ReduceSum / ReduceMean: dY broadcast back over the reduced axes.
template <bool kMean>
Status ReduceSumMeanGrad(Ctx& c) {
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReducedAxes(c));
  if (IsNoopReduce(c, axes)) {
    c.set_grad(0, c.dY());
    return Status::Ok();
  }
  const Dims& x = c.X(0)->dims();
  const Dims kept = KeptDims(x, axes);
  ASSIGN_OR_RETURN(Value * g, c.ReshapeTo(c.dY(), kept));
  if (kMean) {
    const double count =
        static_cast<double>(ElementCount(x)) / static_cast<double>(std::max<int64_t>(1, ElementCount(kept)));
    ASSIGN_OR_RETURN(g, c.Emit1("Mul", {g, c.Scalar(1.0 / count, g->dtype())}));
  }
  ASSIGN_OR_RETURN(g, c.Emit1("Expand", {g, c.Ints(std::vector<int64_t>(x.begin(), x.end()))}));
  c.set_grad(0, g);
  return Status::Ok();
}

Status ReduceMaxGrad(Ctx& c) {
  ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReducedAxes(c));
  if (IsNoopReduce(c, axes)) {
    c.set_grad(0, c.dY());
    return Status::Ok();
  }
  Attrs a;
  if (!axes.empty()) a.SetInts("axes", axes);
  a.SetInt("keepdims", c.node.attrs().GetInt("keepdims", 1));
  ASSIGN_OR_RETURN(Value * g, c.Emit1("ReduceMaxGrad", {c.dY(), c.X(0)}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

}  // namespace

void RegisterNnGradients(GradientRules& r) {
  r.SetGradient(OpKind::kConv, ConvGrad);
  r.SetGradient(OpKind::kConvTranspose, ConvTransposeGrad);
  r.SetGradient(OpKind::kMaxPool, MaxPoolGrad);
  r.SetGradient(OpKind::kAveragePool, AveragePoolGrad);
  r.SetGradient(OpKind::kGlobalAveragePool, GlobalAveragePoolGrad);
  r.SetGradient(OpKind::kBatchNormTraining, BatchNormTrainingGrad);
  r.SetGradient(OpKind::kBatchNormalization, BatchNormInferenceGrad);
  r.SetGradient(OpKind::kLayerNormalization, LayerNormGrad);
  r.SetGradient(OpKind::kDropoutTraining, DropoutTrainingGrad);
  r.SetGradient(OpKind::kDropout, DropoutGrad);
  r.SetGradient(OpKind::kReduceSum, ReduceSumMeanGrad<false>);
  r.SetGradient(OpKind::kReduceMean, ReduceSumMeanGrad<true>);
  r.SetGradient(OpKind::kReduceMax, ReduceMaxGrad);
}

}  // namespace kiln
