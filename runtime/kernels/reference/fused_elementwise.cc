// The reference kernel of FusedElementwise: an interpreter of its program
// (ir/fused_program.h). Each instruction is computed in double from float32
// arguments and rounded to float32, exactly as the unfused reference kernels
// compute and store each op, so a fused graph interprets bit-identically to the
// unfused one. It is the oracle for the generated kernels and their fallback.
#include <cmath>
#include <limits>

#include "ir/fused_program.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

double Sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

double MaxOf(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return a < b ? b : a;
}

double MinOf(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return b < a ? b : a;
}

// One instruction on (float32 values widened to) doubles; the semantics of the
// op's own reference kernel (elementwise.cc, gradient.cc).
double Evaluate(FusedOp op, const double* a) {
  switch (op) {
    case FusedOp::kAdd: return a[0] + a[1];
    case FusedOp::kSub: return a[0] - a[1];
    case FusedOp::kMul: return a[0] * a[1];
    case FusedOp::kDiv: return a[0] / a[1];
    case FusedOp::kMax: return MaxOf(a[0], a[1]);
    case FusedOp::kMin: return MinOf(a[0], a[1]);
    case FusedOp::kPow: return std::pow(a[0], a[1]);
    case FusedOp::kRelu: return a[0] < 0 ? 0.0 : a[0];
    case FusedOp::kLeakyRelu: return a[0] >= 0 ? a[0] : a[1] * a[0];
    case FusedOp::kElu: return a[0] >= 0 ? a[0] : a[1] * std::expm1(a[0]);
    case FusedOp::kSelu: return a[0] > 0 ? a[2] * a[0] : a[2] * a[1] * std::expm1(a[0]);
    case FusedOp::kSigmoid: return Sigmoid(a[0]);
    case FusedOp::kTanh: return std::tanh(a[0]);
    case FusedOp::kSoftplus: return a[0] > 0 ? a[0] + std::log1p(std::exp(-a[0])) : std::log1p(std::exp(a[0]));
    case FusedOp::kSoftsign: return a[0] / (1.0 + std::fabs(a[0]));
    case FusedOp::kExp: return std::exp(a[0]);
    case FusedOp::kLog: return std::log(a[0]);
    case FusedOp::kSqrt: return std::sqrt(a[0]);
    case FusedOp::kNeg: return -a[0];
    case FusedOp::kAbs: return a[0] < 0 ? -a[0] : a[0];
    case FusedOp::kClip: {
      // min(max(x, lo), hi) as ONNX writes it: with lo > hi everything becomes hi; NaN passes through.
      const double raised = a[0] < a[1] ? a[1] : a[0];
      return a[2] < raised ? a[2] : raised;
    }
    case FusedOp::kReluGrad: return a[0] * (a[1] > 0 ? 1.0 : 0.0);
    case FusedOp::kLeakyReluGrad: return a[0] * (a[1] > 0 ? 1.0 : a[2]);
    case FusedOp::kEluGrad: return a[0] * (a[1] > 0 ? 1.0 : a[2] * std::exp(a[1]));
    case FusedOp::kSigmoidGrad: return a[0] * (a[1] * (1.0 - a[1]));
    case FusedOp::kTanhGrad: return a[0] * (1.0 - a[1] * a[1]);
    case FusedOp::kExpGrad: return a[0] * a[1];
    case FusedOp::kLogGrad: return a[0] * (1.0 / a[1]);
    case FusedOp::kSqrtGrad: return a[0] * (0.5 / a[1]);
    case FusedOp::kAbsGrad: return a[0] * (a[1] > 0 ? 1.0 : a[1] < 0 ? -1.0 : 0.0);
    case FusedOp::kSoftplusGrad: return a[0] * Sigmoid(a[1]);
    case FusedOp::kSoftsignGrad: {
      const double d = 1.0 + std::fabs(a[1]);
      return a[0] * (1.0 / (d * d));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
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
          temps[t] = static_cast<float>(Evaluate(instr.op, args));
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
