// Elementwise ops: numpy-broadcasting arithmetic, activations, unary math.
#include "ir/op_registry.h"
#include "ir/shape_util.h"

namespace kiln {
namespace {

Status InferBroadcast(InferContext& ctx) {
  Dims out = ctx.input_dims(0);
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (ctx.input_dtype(i) != ctx.input_dtype(0)) {
      return ctx.Error("input ", i, " has type ", DTypeName(ctx.input_dtype(i)), " but input 0 has ",
                       DTypeName(ctx.input_dtype(0)));
    }
    auto b = BroadcastDims(out, ctx.input_dims(i));
    if (!b.ok()) return ctx.Error(b.status().message());
    out = *b;
  }
  ctx.set_output(0, ctx.input_dtype(0), out);
  return Status::Ok();
}

Status InferSameAsInput(InferContext& ctx) {
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

}  // namespace

void RegisterElementwiseOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kAdd, .min_inputs = 2, .max_inputs = 2, .infer_shape = InferBroadcast,
         .doc = "A + B with numpy broadcasting"});
  r.Add({.kind = OpKind::kRelu, .infer_shape = InferSameAsInput, .doc = "max(x, 0)"});
}

}  // namespace kiln
