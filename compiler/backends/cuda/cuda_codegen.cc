// Renders a FusedProgram as CUDA C. The op semantics (NaN propagation of
// Max/Min/Clip/Relu, the stable Sigmoid and Softplus, the gradient formulas)
// follow the reference interpreter, runtime/kernels/reference/fused_elementwise.cc.
#include "compiler/backends/cuda/cuda_codegen.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>

#include "ir/core/file_io.h"

namespace kiln::cuda {
namespace {

// A float32 immediate as a literal that parses back to the same float.
std::string FloatLiteral(float v) {
  if (std::isnan(v)) return "(0.0 / 0.0)";
  if (std::isinf(v)) return v > 0 ? "(1e300 * 1e300)" : "(-1e300 * 1e300)";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.9g", static_cast<double>(v));
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos) s += ".";
  return s + "f";
}

// ir/core/ops/unary.def's math as CUDA C over kiln_acc expressions.
struct SourceMath {
  static std::string C(double v) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), "((kiln_acc)%.17g)", v);
    return buf;
  }
  static std::string Call(const char* f, const std::string& a) { return std::string(f) + "(" + a + ")"; }
  static std::string Op(const std::string& a, const char* op, const std::string& b) { return "(" + a + op + b + ")"; }
  static std::string Add(const std::string& a, const std::string& b) { return Op(a, " + ", b); }
  static std::string Sub(const std::string& a, const std::string& b) { return Op(a, " - ", b); }
  static std::string Mul(const std::string& a, const std::string& b) { return Op(a, " * ", b); }
  static std::string Div(const std::string& a, const std::string& b) { return Op(a, " / ", b); }
  static std::string Pow(const std::string& a, const std::string& b) { return "KILN_POW(" + a + ", " + b + ")"; }
  // NaN-propagating (a + b is NaN when either is), the reference kernel's tie choice.
  static std::string Max(const std::string& a, const std::string& b) {
    return "((" + a + " != " + a + " || " + b + " != " + b + ") ? " + a + " + " + b + " : (" + a + " < " + b + " ? " +
           b + " : " + a + "))";
  }
  static std::string Min(const std::string& a, const std::string& b) {
    return "((" + a + " != " + a + " || " + b + " != " + b + ") ? " + a + " + " + b + " : (" + b + " < " + a + " ? " +
           b + " : " + a + "))";
  }
  static std::string Lt(const std::string& a, const std::string& b) { return Op(a, " < ", b); }
  static std::string Gt(const std::string& a, const std::string& b) { return Op(a, " > ", b); }
  static std::string Ge(const std::string& a, const std::string& b) { return Op(a, " >= ", b); }
  static std::string Select(const std::string& c, const std::string& a, const std::string& b) {
    return "(" + c + " ? " + a + " : " + b + ")";
  }
  static std::string Neg(const std::string& a) { return "(-" + a + ")"; }
  static std::string Abs(const std::string& a) { return Call("KILN_FABS", a); }
  static std::string Exp(const std::string& a) { return Call("KILN_EXP", a); }
  static std::string Expm1(const std::string& a) { return Call("KILN_EXPM1", a); }
  static std::string Log(const std::string& a) { return Call("KILN_LOG", a); }
  static std::string Log1p(const std::string& a) { return Call("KILN_LOG1P", a); }
  static std::string Sqrt(const std::string& a) { return Call("KILN_SQRT", a); }
  static std::string Tanh(const std::string& a) { return Call("KILN_TANH", a); }
  static std::string Erf(const std::string& a) { return Call("KILN_ERF", a); }
  static std::string Sin(const std::string& a) { return Call("KILN_SIN", a); }
  static std::string Cos(const std::string& a) { return Call("KILN_COS", a); }
  static std::string Tan(const std::string& a) { return Call("KILN_TAN", a); }
  static std::string Asin(const std::string& a) { return Call("KILN_ASIN", a); }
  static std::string Acos(const std::string& a) { return Call("KILN_ACOS", a); }
  static std::string Atan(const std::string& a) { return Call("KILN_ATAN", a); }
  static std::string Sinh(const std::string& a) { return Call("KILN_SINH", a); }
  static std::string Cosh(const std::string& a) { return Call("KILN_COSH", a); }
  static std::string Asinh(const std::string& a) { return Call("KILN_ASINH", a); }
  static std::string Acosh(const std::string& a) { return Call("KILN_ACOSH", a); }
  static std::string Atanh(const std::string& a) { return Call("KILN_ATANH", a); }
  static std::string Floor(const std::string& a) { return Call("KILN_FLOOR", a); }
  static std::string Ceil(const std::string& a) { return Call("KILN_CEIL", a); }
  static std::string Round(const std::string& a) { return Call("KILN_RINT", a); }  // half to even
  static std::string Sign(const std::string& a) {
    return "(" + a + " > 0 ? (kiln_acc)1 : " + a + " < 0 ? (kiln_acc)-1 : " + a + ")";
  }
  static std::string Sigmoid(const std::string& a) { return Call("kiln_sigmoid", a); }
};

// The op on kiln_acc arguments a0..a3 (the reference's Evaluate, op for op); empty if unknown.
std::string Expression(FusedOp op) {
  switch (op) {
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, doc, forward, ...) \
  KILN_IF_FUSES(fuse)                                                                          \
  (case FusedOp::k##Name                                                                       \
   : {                                                                                         \
     [[maybe_unused]] SourceMath m;                                                            \
     const std::string a = "a0", b = "a1";                                                     \
     return forward;                                                                           \
   })
#include "ir/core/ops/binary.def"
#undef BINARY
    case FusedOp::kRelu: return "a0 < 0 ? (kiln_acc)0 : a0";
    case FusedOp::kNeg: return "-a0";
    case FusedOp::kAbs: return "a0 < 0 ? -a0 : a0";
    case FusedOp::kSign: return SourceMath::Sign("a0");
    case FusedOp::kClip: return "a2 < (a0 < a1 ? a1 : a0) ? a2 : (a0 < a1 ? a1 : a0)";
    case FusedOp::kReluGrad: return "a0 * (a1 > 0 ? (kiln_acc)1 : (kiln_acc)0)";
    case FusedOp::kAbsGrad: return "a0 * (a1 > 0 ? (kiln_acc)1 : a1 < 0 ? (kiln_acc)-1 : (kiln_acc)0)";
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, since, doc, forward, derivative, ...) \
  case FusedOp::k##Name: {                                                                                         \
    [[maybe_unused]] SourceMath m;                                                                                 \
    [[maybe_unused]] const std::string x = "a0", a0 = "a1", a1 = "a2";                                             \
    return forward;                                                                                                \
  }                                                                                                                \
  case FusedOp::k##Name##Grad: {                                                                                   \
    [[maybe_unused]] SourceMath m;                                                                                 \
    [[maybe_unused]] const std::string t = "a1", a0 = "a2", a1 = "a3";                                             \
    return "a0 * " + std::string(derivative);                                                                      \
  }
#include "ir/core/ops/unary.def"
#undef UNARY
  }
  return "";
}

const char* kDoublePrelude = R"(typedef double kiln_acc;
#define KILN_EXP exp
#define KILN_EXPM1 expm1
#define KILN_LOG log
#define KILN_LOG1P log1p
#define KILN_TANH tanh
#define KILN_ERF erf
#define KILN_SIN sin
#define KILN_COS cos
#define KILN_TAN tan
#define KILN_ASIN asin
#define KILN_ACOS acos
#define KILN_ATAN atan
#define KILN_SINH sinh
#define KILN_COSH cosh
#define KILN_ASINH asinh
#define KILN_ACOSH acosh
#define KILN_ATANH atanh
#define KILN_FLOOR floor
#define KILN_CEIL ceil
#define KILN_RINT rint
#define KILN_SQRT sqrt
#define KILN_POW pow
#define KILN_FABS fabs
)";
const char* kFloatPrelude = R"(typedef float kiln_acc;
#define KILN_EXP expf
#define KILN_EXPM1 expm1f
#define KILN_LOG logf
#define KILN_LOG1P log1pf
#define KILN_TANH tanhf
#define KILN_ERF erff
#define KILN_SIN sinf
#define KILN_COS cosf
#define KILN_TAN tanf
#define KILN_ASIN asinf
#define KILN_ACOS acosf
#define KILN_ATAN atanf
#define KILN_SINH sinhf
#define KILN_COSH coshf
#define KILN_ASINH asinhf
#define KILN_ACOSH acoshf
#define KILN_ATANH atanhf
#define KILN_FLOOR floorf
#define KILN_CEIL ceilf
#define KILN_RINT rintf
#define KILN_SQRT sqrtf
#define KILN_POW powf
#define KILN_FABS fabsf
)";

}  // namespace

std::string CudaMathPrelude(CudaMath math) {
  return std::string(math == CudaMath::kDouble ? kDoublePrelude : kFloatPrelude) +
         "#ifndef KILN_SIGMOID_DEFINED\n#define KILN_SIGMOID_DEFINED\n"
         "__device__ __forceinline__ kiln_acc kiln_sigmoid(kiln_acc x) {\n"
         "  if (x >= 0) return (kiln_acc)1 / ((kiln_acc)1 + KILN_EXP(-x));\n"
         "  const kiln_acc e = KILN_EXP(x);\n  return e / ((kiln_acc)1 + e);\n}\n#endif\n";
}

StatusOr<std::string> RenderFusedInstructions(const FusedProgram& program, const std::string& indent) {
  std::ostringstream s;
  for (size_t t = 0; t < program.instrs.size(); ++t) {
    const FusedInstr& instr = program.instrs[t];
    const std::string expr = Expression(instr.op);
    if (expr.empty()) return InvalidArgument("unsupported fused op ", int(instr.op));
    s << indent << "float t" << t << ";  // " << GetFusedOpInfo(instr.op).name << "\n" << indent << "{\n";
    for (size_t a = 0; a < instr.args.size(); ++a) {
      const FusedOperand& operand = instr.args[a];
      s << indent << "  const kiln_acc a" << a << " = (kiln_acc)";
      switch (operand.kind) {
        case FusedOperand::kInput: s << "i" << operand.index; break;
        case FusedOperand::kTemp: s << "t" << operand.index; break;
        case FusedOperand::kImmediate: s << "(float)" << FloatLiteral(operand.value); break;
      }
      s << ";\n";
    }
    s << indent << "  t" << t << " = (float)(" << expr << ");\n" << indent << "}\n";
  }
  return s.str();
}

std::string CudaKernelName(const FusedProgram& program, CudaMath math) {
  std::string name = "kiln_fused";
  for (size_t k = 0; k < program.instrs.size() && k < 4; ++k) {
    name += '_';
    for (const char* c = GetFusedOpInfo(program.instrs[k].op).name; *c; ++c) name += std::tolower(*c);
  }
  if (program.instrs.size() > 4) name += "_etc";
  char hash[32];
  std::snprintf(hash, sizeof(hash), "_%08x",
                static_cast<unsigned>(StableHash(FormatFusedProgram(program)) & 0xffffffffu));
  return name + hash + (math == CudaMath::kFloat ? "_f32" : "");
}

StatusOr<CudaKernel> RenderCudaKernel(const FusedProgram& program, CudaMath math) {
  if (program.outputs.empty()) return InvalidArgument("cuda: a fused program without outputs");
  CudaKernel kernel;
  kernel.name = CudaKernelName(program, math);
  kernel.num_inputs = program.num_inputs;
  kernel.num_outputs = static_cast<int>(program.outputs.size());
  const int nin = std::max(1, program.num_inputs);
  std::ostringstream s;
  s << "// Generated by Kiln from the fused program\n//   " << FormatFusedProgram(program) << "\n";
  s << CudaMathPrelude(math);
  const std::string args = "kiln_args_" + kernel.name;
  s << "struct " << args << " {\n  float* out[" << kernel.num_outputs << "];\n  const float* in[" << nin
    << "];\n  long long total, inner, rank;\n  long long outer[" << kMaxFusedRank << "];\n  long long ostride[" << nin
    << "][" << kMaxFusedRank << "];\n  long long istride[" << nin << "];\n};\n";
  s << "extern \"C\" __global__ void " << kernel.name << "(const " << args << " a) {\n"
    << "  const long long step = (long long)blockDim.x * gridDim.x;\n"
    << "  for (long long e = (long long)blockIdx.x * blockDim.x + threadIdx.x; e < a.total; e += step) {\n"
    << "    long long off[" << nin << "];\n"
    << "    if (a.rank == 0) {\n"
    << "      for (int k = 0; k < " << nin << "; ++k) off[k] = e * a.istride[k];\n"
    << "    } else {\n"
    << "      const long long row = e / a.inner, j = e - row * a.inner;\n"
    << "      for (int k = 0; k < " << nin << "; ++k) off[k] = j * a.istride[k];\n"
    << "      long long rest = row;\n"
    << "      for (int d = (int)a.rank - 1; d >= 0; --d) {\n"
    << "        const long long q = rest % a.outer[d];\n"
    << "        rest /= a.outer[d];\n"
    << "        for (int k = 0; k < " << nin << "; ++k) off[k] += q * a.ostride[k][d];\n"
    << "      }\n    }\n";
  for (int k = 0; k < program.num_inputs; ++k)
    s << "    const float i" << k << " = a.in[" << k << "][off[" << k << "]];\n";
  auto instructions = RenderFusedInstructions(program, "    ");
  if (!instructions.ok()) return InvalidArgument("cuda: ", kernel.name, ": ", instructions.status().message());
  s << *instructions;
  for (size_t n = 0; n < program.outputs.size(); ++n) {
    s << "    a.out[" << n << "][e] = t" << program.outputs[n] << ";\n";
  }
  s << "  }\n}\n";
  // The emulation harness (tests) runs the same source on the host, blocks and threads one after another.
  s << "#ifdef KILN_EMULATION\nextern \"C\" void " << kernel.name
    << "_emulate(const void* args, unsigned grid, unsigned block) {\n"
    << "  gridDim.x = grid;\n  blockDim.x = block;\n"
    << "  for (blockIdx.x = 0; blockIdx.x < grid; ++blockIdx.x)\n"
    << "    for (threadIdx.x = 0; threadIdx.x < block; ++threadIdx.x) " << kernel.name << "(*(const " << args
    << "*)args);\n}\n#endif\n";
  kernel.source = s.str();
  return kernel;
}

StatusOr<std::vector<uint64_t>> PackCudaKernelArgs(const FusedProgram& program, const std::vector<Dims>& input_dims,
                                                   const Dims& output_dims, const std::vector<uint64_t>& inputs,
                                                   const std::vector<uint64_t>& outputs, int64_t* total) {
  const int nin = std::max(1, program.num_inputs);
  if (static_cast<int>(input_dims.size()) != program.num_inputs || inputs.size() != input_dims.size() ||
      outputs.size() != program.outputs.size()) {
    return InvalidArgument("cuda: the program needs ", program.num_inputs, " inputs and ", program.outputs.size(),
                           " outputs, got ", inputs.size(), " and ", outputs.size());
  }
  ASSIGN_OR_RETURN(FusedGeometry g, ComputeFusedGeometry(input_dims, output_dims));
  if (static_cast<int>(g.outer.size()) > kMaxFusedRank) {
    return InvalidArgument("cuda: the iteration shape ", DimsToString(output_dims), " collapses to more than ",
                           kMaxFusedRank, " outer dims");
  }
  int64_t count = g.iterations == 0 ? 0 : g.inner;
  for (int64_t d : g.outer) count *= d;
  *total = count;
  std::vector<uint64_t> w(outputs);
  for (int k = 0; k < nin; ++k) w.push_back(k < program.num_inputs ? inputs[k] : 0);
  w.push_back(count);
  w.push_back(g.inner);
  w.push_back(g.outer.size());
  for (int d = 0; d < kMaxFusedRank; ++d) w.push_back(d < int(g.outer.size()) ? g.outer[d] : 1);
  for (int k = 0; k < nin; ++k) {
    for (int d = 0; d < kMaxFusedRank; ++d) {
      w.push_back(k < program.num_inputs && d < int(g.outer.size()) ? g.outer_strides[k][d] : 0);
    }
  }
  for (int k = 0; k < nin; ++k) w.push_back(k < program.num_inputs ? g.inner_stride[k] : 0);
  // cuLaunchKernel's parameter space is 4 KiB on every architecture the backend targets.
  if (w.size() * sizeof(uint64_t) > 4096) {
    return InvalidArgument("cuda: a fused program with ", program.num_inputs, " inputs and ", outputs.size(),
                           " outputs exceeds the 4 KiB kernel parameter space");
  }
  return w;
}

}  // namespace kiln::cuda
