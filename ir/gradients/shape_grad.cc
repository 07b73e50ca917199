// Gradient rules of the shape and data-movement ops: each moves dY back to
// where the forward op took its elements from.
#include "ir/core/shape_util.h"
#include "ir/gradient.h"

namespace kiln {
namespace {

using Ctx = GradientContext;

// Flatten, Reshape, Squeeze, Unsqueeze: the same elements in another shape.
Status ReshapeGrad(Ctx& c) {
  if (!c.wants(0)) return Status::Ok();
  ASSIGN_OR_RETURN(Value * g, c.ReshapeTo(c.dY(), c.X(0)->dims()));
  c.set_grad(0, g);
  return Status::Ok();
}

Status TransposeGrad(Ctx& c) {
  const int rank = static_cast<int>(c.X(0)->dims().size());
  std::vector<int64_t> perm = c.node.attrs().GetInts("perm");
  if (perm.empty()) {
    for (int i = rank - 1; i >= 0; --i) perm.push_back(i);
  }
  std::vector<int64_t> inverse(rank);
  for (int i = 0; i < rank; ++i) inverse[perm[i]] = i;
  Attrs a;
  a.SetInts("perm", inverse);
  ASSIGN_OR_RETURN(Value * g, c.Emit1("Transpose", {c.dY()}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

// Concat: each input's gradient is its slab of dY.
Status ConcatGrad(Ctx& c) {
  const int rank = static_cast<int>(c.dY()->dims().size());
  int64_t axis = c.node.attrs().GetInt("axis", 0);
  if (axis < 0) axis += rank;
  int64_t offset = 0;
  for (int i = 0; i < c.node.num_inputs(); ++i) {
    const int64_t size = c.X(i)->dims()[axis];
    if (c.wants(i)) {
      ASSIGN_OR_RETURN(Value * g,
                       c.Emit1("Slice", {c.dY(), c.Ints({offset}), c.Ints({offset + size}), c.Ints({axis})}));
      c.set_grad(i, g);
    }
    offset += size;
  }
  return Status::Ok();
}

// Split: dX is the concatenation of the outputs' gradients (zeros for outputs
// that do not reach the loss).
Status SplitGrad(Ctx& c) {
  std::vector<Value*> parts;
  for (int i = 0; i < c.node.num_outputs(); ++i) {
    Value* g = i < static_cast<int>(c.output_grads.size()) ? c.output_grads[i] : nullptr;
    if (!g) g = c.graph.AddConstant(c.node.name() + "/grad/zeros", Tensor(c.Y(i)->dtype(), c.Y(i)->dims()));
    parts.push_back(g);
  }
  Attrs a;
  a.SetInt("axis", c.node.attrs().GetInt("axis", 0));
  ASSIGN_OR_RETURN(Value * g, c.Emit1("Concat", parts, a));
  c.set_grad(0, g);
  return Status::Ok();
}

Attrs ShapeAttr(const char* name, const Dims& dims) {
  Attrs a;
  a.SetInts(name, std::vector<int64_t>(dims.begin(), dims.end()));
  return a;
}

Status SliceGrad(Ctx& c) {
  std::vector<Value*> ins = {c.dY()};
  for (int i = 1; i < c.node.num_inputs(); ++i) ins.push_back(c.X(i));
  ASSIGN_OR_RETURN(Value * g, c.Emit1("SliceGrad", ins, ShapeAttr("input_shape", c.X(0)->dims())));
  c.set_grad(0, g);
  return Status::Ok();
}

Status GatherGrad(Ctx& c) {
  if (!c.wants(0)) return Status::Ok();
  Attrs a = ShapeAttr("data_shape", c.X(0)->dims());
  a.SetInt("axis", c.node.attrs().GetInt("axis", 0));
  ASSIGN_OR_RETURN(Value * g, c.Emit1("GatherGrad", {c.dY(), c.X(1)}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

// Constant-mode Pad: dX is the interior of dY.
Status PadGrad(Ctx& c) {
  const std::string mode = c.node.attrs().GetString("mode", "constant");
  if (mode != "constant") return c.Unsupported("mode '", mode, "' (only constant padding)");
  if (!c.X(1)->is_constant()) return c.Unsupported("pads computed at run time");
  const Dims& x = c.X(0)->dims();
  const size_t rank = x.size();
  std::vector<int64_t> pads = c.X(1)->constant().ToInt64Vector();
  if (c.node.num_inputs() > 3 && c.X(3)) {
    if (!c.X(3)->is_constant()) return c.Unsupported("axes computed at run time");
    ASSIGN_OR_RETURN(pads, ExpandPadAxes(pads, c.X(3)->constant().ToInt64Vector(), static_cast<int64_t>(rank)));
  }
  std::vector<int64_t> starts, ends, axes;
  for (size_t i = 0; i < rank; ++i) {
    if (pads[i] < 0 || pads[i + rank] < 0) return c.Unsupported("negative pads");
    starts.push_back(pads[i]);
    ends.push_back(pads[i] + x[i]);
    axes.push_back(static_cast<int64_t>(i));
  }
  ASSIGN_OR_RETURN(Value * g, c.Emit1("Slice", {c.dY(), c.Ints(starts), c.Ints(ends), c.Ints(axes)}));
  c.set_grad(0, g);
  return Status::Ok();
}

Status ExpandGrad(Ctx& c) {
  ASSIGN_OR_RETURN(Value * g, c.ReduceTo(c.dY(), c.X(0)->dims()));
  c.set_grad(0, g);
  return Status::Ok();
}

// Cast between float types: the gradient is cast back.
Status CastGrad(Ctx& c) {
  if (!IsFloatingType(c.X(0)->dtype()) || !IsFloatingType(c.Y()->dtype())) {
    return c.Unsupported("a cast from or to a non-float type");
  }
  Attrs a;
  const DType from = c.X(0)->dtype();
  a.SetInt("to", from == proto::DT_FLOAT ? 1 : from == proto::DT_DOUBLE ? 11 : 10);  // ONNX type numbers
  ASSIGN_OR_RETURN(Value * g, c.Emit1("Cast", {c.dY()}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

}  // namespace

void RegisterShapeGradients(GradientRules& r) {
  r.SetGradient(OpKind::kFlatten, ReshapeGrad);
  r.SetGradient(OpKind::kReshape, ReshapeGrad);
  r.SetGradient(OpKind::kSqueeze, ReshapeGrad);
  r.SetGradient(OpKind::kUnsqueeze, ReshapeGrad);
  r.SetGradient(OpKind::kTranspose, TransposeGrad);
  r.SetGradient(OpKind::kConcat, ConcatGrad);
  r.SetGradient(OpKind::kSplit, SplitGrad);
  r.SetGradient(OpKind::kSlice, SliceGrad);
  r.SetGradient(OpKind::kGather, GatherGrad);
  r.SetGradient(OpKind::kPad, PadGrad);
  r.SetGradient(OpKind::kExpand, ExpandGrad);
  r.SetGradient(OpKind::kCast, CastGrad);
}

}  // namespace kiln
