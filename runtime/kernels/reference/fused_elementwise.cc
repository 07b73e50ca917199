// The reference kernel of FusedElementwise: an interpreter of its program
// (ir/core/fused_program.h). Each instruction is computed in double from float32
// arguments and rounded to float32, exactly as the unfused reference kernels
// compute and store each op, so a fused graph interprets bit-identically to the
// unfused one. It is the oracle for the generated kernels and their fallback.
#include "ir/core/fused_program.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/fused_evaluate.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

class FusedInterpreterKernel : public Kernel {
 public:
  explicit FusedInterpreterKernel(FusedProgram program) : program_(std::move(program)) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    RETURN_IF_ERROR(ref::CheckBuffers(in, out, 1, 1));
    if (static_cast<int>(in.size()) < program_.num_inputs || out.size() != program_.outputs.size()) {
      return InvalidArgument("the program needs ", program_.num_inputs, " inputs and ", program_.outputs.size(),
                             " outputs, got ", in.size(), " and ", out.size());
    }
    std::vector<Dims> input_dims;
    for (size_t k = 0; k < in.size(); ++k) {
      if (in[k].dtype != proto::DT_FLOAT) return InvalidArgument("input ", k, " is not float32");
      input_dims.push_back(in[k].dims);
    }
    for (size_t n = 0; n < out.size(); ++n) {
      if (out[n].dtype != proto::DT_FLOAT || out[n].dims != out[0].dims) {
        return InvalidArgument("output ", n, " is not float32", DimsToString(out[0].dims));
      }
    }
    ASSIGN_OR_RETURN(FusedGeometry g, ComputeFusedGeometry(input_dims, out[0].dims));
    std::vector<float> temps(program_.instrs.size());
    std::vector<const float*> row_in(in.size());
    Dims index(g.outer.size());
    for (int64_t r = 0; r < g.iterations; ++r) {
      const int64_t outer = r / g.chunks, begin = (r % g.chunks) * g.chunk;
      const int64_t end = std::min(begin + g.chunk, g.inner);
      ref::Unflatten(outer, g.outer, &index);
      for (size_t k = 0; k < in.size(); ++k) {
        int64_t offset = 0;
        for (size_t d = 0; d < index.size(); ++d) offset += index[d] * g.outer_strides[k][d];
        row_in[k] = in[k].as<float>() + offset;
      }
      for (int64_t j = begin; j < end; ++j) {
        for (size_t t = 0; t < program_.instrs.size(); ++t) {
          const FusedInstr& instr = program_.instrs[t];
          double args[4];
          for (size_t a = 0; a < instr.args.size(); ++a) {
            const FusedOperand& operand = instr.args[a];
            switch (operand.kind) {
              case FusedOperand::kInput: args[a] = row_in[operand.index][j * g.inner_stride[operand.index]]; break;
              case FusedOperand::kTemp: args[a] = temps[operand.index]; break;
              case FusedOperand::kImmediate: args[a] = operand.value; break;
            }
          }
          temps[t] = static_cast<float>(ref::EvaluateFusedOp(instr.op, args));
        }
        // Every input of element j is read before any output of element j is written: in place is safe.
        for (size_t n = 0; n < out.size(); ++n) out[n].as<float>()[outer * g.inner + j] = temps[program_.outputs[n]];
      }
    }
    return Status::Ok();
  }

 private:
  FusedProgram program_;
};

}  // namespace

void RegisterReferenceFusedElementwiseKernels(KernelRegistry& r) {
  r.Register("ref", "FusedElementwise", [](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    auto program = ParseFusedProgram(spec.attrs.GetString("program", ""));
    if (!program.ok()) return program.status().WithContext(spec.Label());
    return std::unique_ptr<Kernel>(new FusedInterpreterKernel(std::move(program).value()));
  });
}

}  // namespace kiln::runtime
