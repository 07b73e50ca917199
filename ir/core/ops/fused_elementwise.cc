// FusedElementwise: a group of float32 elementwise ops the fuse-elementwise pass
// merged into one node (compiler-internal, not ONNX). Its `program` attribute
// (ir/core/fused_program.h) says what each output computes from the inputs.
#include "ir/core/fused_program.h"
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

// Inputs broadcast to the iteration shape; every output has it.
Status InferFusedElementwise(InferContext& ctx) {
  auto program = ParseFusedProgram(ctx.attrs().GetString("program", ""));
  if (!program.ok()) return ctx.Error(program.status().message());
  if (program->num_inputs > ctx.num_inputs()) {
    return ctx.Error("the program reads i", program->num_inputs - 1, " but the node has ", ctx.num_inputs(), " inputs");
  }
  if (static_cast<int>(program->outputs.size()) != ctx.num_outputs()) {
    return ctx.Error("the program has ", program->outputs.size(), " outputs but the node has ", ctx.num_outputs());
  }
  Dims iteration;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input ", i, " is missing");
    if (ctx.input_dtype(i) != proto::DT_FLOAT) {
      return ctx.Error("input ", i, " has type ", DTypeName(ctx.input_dtype(i)), " but fused kernels are float32");
    }
    ASSIGN_OR_RETURN_CTX(ctx, iteration, BroadcastDims(iteration, ctx.input_dims(i)));
  }
  for (int i = 0; i < ctx.num_outputs(); ++i) ctx.set_output(i, proto::DT_FLOAT, iteration);
  return Status::Ok();
}

}  // namespace

void RegisterFusedElementwiseOps(OpRegistry& r) {
  r.Add({.kind = OpKind::kFusedElementwise,
         .max_inputs = ops::kVariadic,
         .max_outputs = ops::kVariadic,
         .attrs = {{"program", AttrType::kString, true}},
         .infer_shape = InferFusedElementwise,
         .doc = "float32 elementwise ops fused by fuse-elementwise; `program` says what each output computes"});
}

}  // namespace kiln
