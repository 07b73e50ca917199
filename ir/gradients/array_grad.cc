// Gradient rules of the array ops (ir/core/ops/array.cc), each written with other
// ops: CumSum runs the other way, DepthToSpace and SpaceToDepth invert each other,
// TopK, GatherND and the scatters move gradients with their index duals, Tile sums its copies.
#include "ir/gradient.h"

namespace kiln {
namespace {

using Ctx = GradientContext;

StatusOr<Value*> ZerosLike(Ctx& c, Value* v) {
  return c.Emit1("Expand",
                 {c.Scalar(0.0, v->dtype()), c.Ints(std::vector<int64_t>(v->dims().begin(), v->dims().end()))});
}

// y_k = sum_{j <= k} x_j (or j < k, exclusive): dx_j = sum_{k >= j} dy_k, the cumulative
// sum the other way with the same exclusivity.
Status CumSumGrad(Ctx& c) {
  if (!c.wants(0)) return Status::Ok();
  Attrs a = c.node.attrs();
  a.SetInt("reverse", a.GetInt("reverse", 0) != 0 ? 0 : 1);
  ASSIGN_OR_RETURN(Value * g, c.Emit1("CumSum", {c.dY(), c.X(1)}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

// DepthToSpace and SpaceToDepth (same blocksize and mode) are inverse permutations.
template <const char* kInverse>
Status DepthSpaceGrad(Ctx& c) {
  if (!c.wants(0)) return Status::Ok();
  ASSIGN_OR_RETURN(Value * g, c.Emit1(kInverse, {c.dY()}, c.node.attrs()));
  c.set_grad(0, g);
  return Status::Ok();
}
constexpr char kDepthToSpace[] = "DepthToSpace", kSpaceToDepth[] = "SpaceToDepth";

// Values = X at Indices along axis: dX is dValues scattered (added) there, 0 elsewhere.
Status TopKGrad(Ctx& c) {
  if (!c.wants(0)) return Status::Ok();
  if (c.node.num_outputs() < 2) return c.Unsupported("a TopK without its Indices output");
  ASSIGN_OR_RETURN(Value * zeros, ZerosLike(c, c.X(0)));
  Attrs a;
  a.SetInt("axis", c.node.attrs().GetInt("axis", -1));
  a.SetString("reduction", "add");
  ASSIGN_OR_RETURN(Value * g, c.Emit1("ScatterElements", {zeros, c.Y(1), c.dY(0)}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

Status GatherNDGrad(Ctx& c) {
  if (!c.wants(0)) return Status::Ok();
  if (c.node.attrs().GetInt("batch_dims", 0) != 0) return c.Unsupported("batch_dims other than 0");
  ASSIGN_OR_RETURN(Value * zeros, ZerosLike(c, c.X(0)));
  Attrs a;
  a.SetString("reduction", "add");
  ASSIGN_OR_RETURN(Value * g, c.Emit1("ScatterND", {zeros, c.X(1), c.dY()}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

// ScatterElements / ScatterND with reduction none or add: the data keeps dY where it was not
// overwritten (everywhere, for add); the updates read dY back at their indices (with
// reduction none, indices must be unique, as ONNX requires).
template <const char* kGather>
Status ScatterGrad(Ctx& c) {
  const std::string reduction = c.node.attrs().GetString("reduction", "none");
  if (reduction != "none" && reduction != "add") return c.Unsupported("reduction ", reduction);
  Attrs axis;
  if (c.node.attrs().Has("axis")) axis.SetInt("axis", c.node.attrs().GetInt("axis", 0));
  if (c.wants(0)) {
    Value* g = c.dY();
    if (reduction == "none") {
      ASSIGN_OR_RETURN(Value * zeros, ZerosLike(c, c.X(2)));
      Attrs a = axis;
      a.SetString("reduction", "none");
      ASSIGN_OR_RETURN(g, c.Emit1(c.node.op_type(), {c.dY(), c.X(1), zeros}, a));
    }
    c.set_grad(0, g);
  }
  if (c.wants(2)) {
    ASSIGN_OR_RETURN(Value * g, c.Emit1(kGather, {c.dY(), c.X(1)}, axis));
    c.set_grad(2, g);
  }
  return Status::Ok();
}
constexpr char kGatherElements[] = "GatherElements", kGatherND[] = "GatherND";

// Y = Tile(X, r): dY seen as [r0, x0, r1, x1, ...] summed over the repeat axes.
Status TileGrad(Ctx& c) {
  if (!c.wants(0)) return Status::Ok();
  if (!c.X(1)->is_constant()) return c.Unsupported("repeats computed at run time");
  const std::vector<int64_t> repeats = c.X(1)->constant().ToInt64Vector();
  const Dims& x = c.X(0)->dims();
  Dims split;
  std::vector<int64_t> axes;
  for (size_t d = 0; d < x.size(); ++d) {
    axes.push_back(static_cast<int64_t>(split.size()));
    split.push_back(repeats[d]);
    split.push_back(x[d]);
  }
  ASSIGN_OR_RETURN(Value * g, c.ReshapeTo(c.dY(), split));
  Attrs a;
  a.SetInt("keepdims", 0);
  ASSIGN_OR_RETURN(g, c.Emit1("ReduceSum", {g, c.Ints(axes)}, a));
  c.set_grad(0, g);
  return Status::Ok();
}

}  // namespace

void RegisterArrayGradients(GradientRules& r) {
  r.SetGradient(OpKind::kCumSum, CumSumGrad);
  r.SetGradient(OpKind::kDepthToSpace, DepthSpaceGrad<kSpaceToDepth>);
  r.SetGradient(OpKind::kSpaceToDepth, DepthSpaceGrad<kDepthToSpace>);
  r.SetGradient(OpKind::kTopK, TopKGrad);
  r.SetGradient(OpKind::kGatherND, GatherNDGrad);
  r.SetGradient(OpKind::kScatterElements, ScatterGrad<kGatherElements>);
  r.SetGradient(OpKind::kScatterND, ScatterGrad<kGatherND>);
  r.SetGradient(OpKind::kTile, TileGrad);
}

}  // namespace kiln
