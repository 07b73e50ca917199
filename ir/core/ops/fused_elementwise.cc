// FusedElementwise: a group of float32 elementwise ops the fuse-elementwise pass
// merged into one node (compiler-internal, not ONNX). Its `program` attribute
// (ir/core/fused_program.h) says what each output computes from the inputs.
// FusedReduction: such a group with the softmax, log-softmax or sum that reads one of
// its values (the pass's reduction tails; ir/core/fused_program.h).
#include "ir/core/fused_program.h"
#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

// The program, checked against the node: float32 inputs it may read, `extra` outputs past its own.
StatusOr<FusedProgram> CheckedProgram(InferContext& ctx, int extra) {
  auto program = ParseFusedProgram(ctx.attrs().GetString("program", ""));
  if (!program.ok()) return ctx.Error(program.status().message());
  if (program->num_inputs > ctx.num_inputs()) {
    return ctx.Error("the program reads i", program->num_inputs - 1, " but the node has ", ctx.num_inputs(), " inputs");
  }
  if (program->outputs.empty() && extra == 0) return ctx.Error("fused program has no outputs (o0=...)");
  if (static_cast<int>(program->outputs.size()) + extra != ctx.num_outputs()) {
    return ctx.Error("the program has ", program->outputs.size(), " outputs", extra ? " (and the reduction 1)" : "",
                     " but the node has ", ctx.num_outputs());
  }
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Error("input ", i, " is missing");
    if (ctx.input_dtype(i) != proto::DT_FLOAT) {
      return ctx.Error("input ", i, " has type ", DTypeName(ctx.input_dtype(i)), " but fused kernels are float32");
    }
  }
  return program;
}

// Inputs broadcast to the iteration shape; every output has it.
Status InferFusedElementwise(InferContext& ctx) {
  ASSIGN_OR_RETURN(FusedProgram program, CheckedProgram(ctx, 0));
  Dims iteration;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    ASSIGN_OR_RETURN_CTX(ctx, iteration, BroadcastDims(iteration, ctx.input_dims(i)));
  }
  for (int i = 0; i < ctx.num_outputs(); ++i) ctx.set_output(i, proto::DT_FLOAT, iteration);
  return Status::Ok();
}

// The program's outputs have the iteration shape; the reduction's follows them.
Status InferFusedReduction(InferContext& ctx) {
  ASSIGN_OR_RETURN(FusedProgram program, CheckedProgram(ctx, 1));
  std::vector<Dims> inputs;
  for (int i = 0; i < ctx.num_inputs(); ++i) inputs.push_back(ctx.input_dims(i));
  auto g = ComputeFusedReductionGeometry(ctx.attrs(), program, inputs);
  if (!g.ok()) return ctx.Error(g.status().message());
  const int elementwise = ctx.num_outputs() - 1;
  for (int i = 0; i < elementwise; ++i) ctx.set_output(i, proto::DT_FLOAT, g->iteration);
  ctx.set_output(elementwise, proto::DT_FLOAT, g->output);
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
  r.Add({.kind = OpKind::kFusedReduction,
         .max_inputs = ops::kVariadic,
         .max_outputs = ops::kVariadic,
         .attrs = {{"program", AttrType::kString, true},
                   {"reduce", AttrType::kString, true},
                   {"operand", AttrType::kInt, true},
                   {"axis", AttrType::kInt},
                   {"keepdims", AttrType::kInt}},
         .infer_shape = InferFusedReduction,
         .doc = "a FusedElementwise program and the softmax, log_softmax (last axis) or sum (all axes but `axis`) "
                "of its temporary `operand`, the last output"});
}

}  // namespace kiln
