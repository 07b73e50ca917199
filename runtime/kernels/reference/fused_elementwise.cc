// The reference kernel of FusedElementwise: an interpreter of its program
// (ir/core/fused_program.h). Each instruction is computed in double from float32
// arguments and rounded to float32, exactly as the unfused reference kernels
// compute and store each op, so a fused graph interprets bit-identically to the
// unfused one. It is the oracle for the generated kernels and their fallback.
#include <cmath>
#include <limits>

#include "ir/core/fused_program.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/fused_evaluate.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

// Evaluates `program` at one element: input k is read at offset[k]; returns the temporaries.
void EvaluateAt(const FusedProgram& program, const std::vector<const float*>& in, const int64_t* offset,
                std::vector<float>& temps) {
  for (size_t t = 0; t < program.instrs.size(); ++t) {
    const FusedInstr& instr = program.instrs[t];
    double args[4];
    for (size_t a = 0; a < instr.args.size(); ++a) {
      const FusedOperand& operand = instr.args[a];
      switch (operand.kind) {
        case FusedOperand::kInput: args[a] = in[operand.index][offset[operand.index]]; break;
        case FusedOperand::kTemp: args[a] = temps[operand.index]; break;
        case FusedOperand::kImmediate: args[a] = operand.value; break;
      }
    }
    temps[t] = static_cast<float>(ref::EvaluateFusedOp(instr.op, args));
  }
}

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
    std::vector<int64_t> offset(in.size());
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
        for (size_t k = 0; k < in.size(); ++k) offset[k] = j * g.inner_stride[k];
        EvaluateAt(program_, row_in, offset.data(), temps);
        // Every input of element j is read before any output of element j is written: in place is safe.
        for (size_t n = 0; n < out.size(); ++n) out[n].as<float>()[outer * g.inner + j] = temps[program_.outputs[n]];
      }
    }
    return Status::Ok();
  }

 private:
  FusedProgram program_;
};

class FusedReductionInterpreterKernel : public Kernel {
 public:
  FusedReductionInterpreterKernel(FusedProgram program, Attrs attrs)
      : program_(std::move(program)), attrs_(std::move(attrs)) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    RETURN_IF_ERROR(ref::CheckBuffers(in, out, 1, 1));
    std::vector<Dims> input_dims;
    std::vector<const float*> data;
    for (size_t k = 0; k < in.size(); ++k) {
      if (in[k].dtype != proto::DT_FLOAT) return InvalidArgument("input ", k, " is not float32");
      input_dims.push_back(in[k].dims);
      data.push_back(in[k].as<float>());
    }
    ASSIGN_OR_RETURN(FusedReductionGeometry g, ComputeFusedReductionGeometry(attrs_, program_, input_dims));
    const size_t elementwise = program_.outputs.size();
    if (out.size() != elementwise + 1) {
      return InvalidArgument("the program has ", elementwise, " outputs and the reduction 1, got ", out.size());
    }
    for (size_t n = 0; n < out.size(); ++n) {
      const Dims& want = n < elementwise ? g.iteration : g.output;
      if (out[n].dtype != proto::DT_FLOAT || out[n].dims != want) {
        return InvalidArgument("output ", n, " is not float32", DimsToString(want));
      }
    }
    float* y = out[elementwise].as<float>();
    std::vector<float> temps(program_.instrs.size());
    std::vector<int64_t> offset(in.size());
    // The program at view element (o, m, i); its operand, with the elementwise outputs stored.
    auto element = [&](int64_t o, int64_t m, int64_t i) {
      for (size_t k = 0; k < in.size(); ++k)
        offset[k] = g.OuterOffset(k, o) + m * g.strides[k][0] + i * g.strides[k][1];
      EvaluateAt(program_, data, offset.data(), temps);
      const int64_t flat = (o * g.middle + m) * g.inner + i;
      for (size_t n = 0; n < elementwise; ++n) out[n].as<float>()[flat] = temps[program_.outputs[n]];
      return temps[g.operand];
    };
    if (g.kind == FusedReduceKind::kSum) {
      std::vector<double> sums(g.middle, 0.0);
      for (int64_t o = 0; o < g.outer; ++o)
        for (int64_t m = 0; m < g.middle; ++m)
          for (int64_t i = 0; i < g.inner; ++i) sums[m] += element(o, m, i);
      for (int64_t m = 0; m < g.middle; ++m) y[m] = static_cast<float>(sums[m]);
      return Status::Ok();
    }
    // Softmaxes over the middle (last) axis, each row as the Softmax reference computes it.
    const bool log = g.kind == FusedReduceKind::kLogSoftmax;
    std::vector<float> x(g.middle);
    for (int64_t o = 0; o < g.outer; ++o) {
      for (int64_t m = 0; m < g.middle; ++m) x[m] = element(o, m, 0);
      float max = -std::numeric_limits<float>::infinity();
      for (float v : x) max = v > max ? v : max;
      double sum = 0;
      for (float v : x) sum += std::exp(static_cast<double>(v) - max);
      for (int64_t m = 0; m < g.middle; ++m) {
        const double shifted = static_cast<double>(x[m]) - max;
        y[o * g.middle + m] = static_cast<float>(log ? shifted - std::log(sum) : std::exp(shifted) / sum);
      }
    }
    return Status::Ok();
  }

 private:
  FusedProgram program_;
  Attrs attrs_;
};

}  // namespace

void RegisterReferenceFusedElementwiseKernels(KernelRegistry& r) {
  r.Register("ref", "FusedReduction", [](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    auto program = ParseFusedProgram(spec.attrs.GetString("program", ""));
    if (!program.ok()) return program.status().WithContext(spec.Label());
    return std::unique_ptr<Kernel>(new FusedReductionInterpreterKernel(std::move(program).value(), spec.attrs));
  });
  r.Register("ref", "FusedElementwise", [](const KernelSpec& spec) -> StatusOr<std::unique_ptr<Kernel>> {
    auto program = ParseFusedProgram(spec.attrs.GetString("program", ""));
    if (!program.ok()) return program.status().WithContext(spec.Label());
    return std::unique_ptr<Kernel>(new FusedInterpreterKernel(std::move(program).value()));
  });
}

}  // namespace kiln::runtime
