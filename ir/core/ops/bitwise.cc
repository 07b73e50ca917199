// Integer bit ops outside the binary table: BitShift (its direction is a string attribute,
// which binary.def's int attribute column cannot carry) and BitwiseNot (unary).
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckSameDType;
using ops::TypeClass;

// BitShift(X, Y): integers of one dtype, numpy broadcasting; direction LEFT or RIGHT.
Status InferBitShift(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kInteger));
  RETURN_IF_ERROR(CheckSameDType(ctx, 1, 0));
  const std::string direction = ctx.attrs().GetString("direction", "");
  if (direction != "LEFT" && direction != "RIGHT") {
    return ctx.Error("direction must be LEFT or RIGHT, got '", direction, "'");
  }
  auto out = BroadcastDims(ctx.input_dims(0), ctx.input_dims(1));
  if (!out.ok()) return ctx.Error(out.status().message());
  ctx.set_output(0, ctx.input_dtype(0), *out);
  return Status::Ok();
}

Status InferBitwiseNot(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kInteger));
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

}  // namespace

void RegisterBitwiseOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kBitShift,
         .min_inputs = 2,
         .max_inputs = 2,
         .attrs = {{"direction", AttrType::kString, true}},
         .infer_shape = InferBitShift,
         .doc = "X << Y or X >> Y (direction LEFT/RIGHT; integers, numpy broadcasting); a right shift of a "
                "signed X is arithmetic; a shift by a negative amount or by the width or more gives 0 (-1 for a "
                "negative X shifted right)"});
  r.Add({.kind = OpKind::kBitwiseNot,
         .min_inputs = 1,
         .max_inputs = 1,
         .infer_shape = InferBitwiseNot,
         .doc = "~X (integers)"});
}

}  // namespace kiln
