#include "compiler/codegen/fused_elementwise.h"

#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/Intrinsics.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "ir/core/attrs.h"

namespace kiln::codegen {
namespace {

using llvm::Value;

// Emits float32 math at the builder's position. No fast-math flags: NaN, infinity
// and signed zeros behave like the reference kernels.
class MathEmitter {
 public:
  explicit MathEmitter(llvm::IRBuilder<>& b) : b_(b), f32_(b.getFloatTy()), i32_(b.getInt32Ty()) {}

  Value* F(double v) { return llvm::ConstantFP::get(f32_, v); }
  Value* I(int32_t v) { return llvm::ConstantInt::get(i32_, v); }
  Value* Add(Value* a, Value* c) { return b_.CreateFAdd(a, c); }
  Value* Sub(Value* a, Value* c) { return b_.CreateFSub(a, c); }
  Value* Mul(Value* a, Value* c) { return b_.CreateFMul(a, c); }
  Value* Div(Value* a, Value* c) { return b_.CreateFDiv(a, c); }
  Value* Select(Value* cond, Value* a, Value* c) { return b_.CreateSelect(cond, a, c); }
  Value* Lt(Value* a, Value* c) { return b_.CreateFCmpOLT(a, c); }
  Value* Gt(Value* a, Value* c) { return b_.CreateFCmpOGT(a, c); }
  Value* Ge(Value* a, Value* c) { return b_.CreateFCmpOGE(a, c); }
  Value* IsNan(Value* a) { return b_.CreateFCmpUNO(a, a); }
  // The names ir/core/ops/unary.def's math is written in.
  Value* C(double v) { return F(v); }
  Value* Neg(Value* a) { return b_.CreateFNeg(a); }
  Value* Abs(Value* a) { return Fabs(a); }
  Value* Fabs(Value* a) { return b_.CreateUnaryIntrinsic(llvm::Intrinsic::fabs, a); }
  Value* Sqrt(Value* a) { return b_.CreateUnaryIntrinsic(llvm::Intrinsic::sqrt, a); }
  Value* Floor(Value* a) { return b_.CreateUnaryIntrinsic(llvm::Intrinsic::floor, a); }
  Value* MaxNum(Value* a, Value* c) { return b_.CreateBinaryIntrinsic(llvm::Intrinsic::maxnum, a, c); }
  Value* MinNum(Value* a, Value* c) { return b_.CreateBinaryIntrinsic(llvm::Intrinsic::minnum, a, c); }
  Value* CopySign(Value* a, Value* c) { return b_.CreateBinaryIntrinsic(llvm::Intrinsic::copysign, a, c); }

  // The reductions' two exceptions to "no fast-math flags". A sum that may reassociate lets
  // LLVM vectorize it (partial sums per lane): the order of the terms changes, not what NaN
  // or infinity do.
  Value* SumInAnyOrder(Value* acc, Value* x) {
    auto* add = llvm::cast<llvm::Instruction>(Add(acc, x));
    llvm::FastMathFlags reassoc;
    reassoc.setAllowReassoc();
    add->setFastMathFlags(reassoc);
    return add;
  }
  // A running maximum that NaN skips (as the reference's max does): NaN becomes -inf, so the
  // maxnum's arguments are never NaN, and +-0 as the maximum give the same shifted values.
  Value* MaxSkippingNan(Value* acc, Value* x) {
    Value* finite_or_inf = Select(IsNan(x), F(-std::numeric_limits<double>::infinity()), x);
    auto* next = llvm::cast<llvm::Instruction>(MaxNum(acc, finite_or_inf));
    llvm::FastMathFlags no_nan;
    no_nan.setNoNaNs();
    no_nan.setNoSignedZeros();
    next->setFastMathFlags(no_nan);
    return next;
  }

  // c[0] + x * (c[1] + x * (...)), Horner from the highest coefficient down.
  Value* Poly(Value* x, std::initializer_list<double> highest_first) {
    Value* acc = nullptr;
    for (double c : highest_first) acc = acc ? Add(Mul(acc, x), F(c)) : F(c);
    return acc;
  }

  // 2^n for an i32 n in [-150, 129] as two factors whose exponents stay normal,
  // so overflow reaches infinity and underflow goes gradually to zero.
  Value* ScaleByPowerOfTwo(Value* y, Value* n) {
    Value* n1 = b_.CreateAShr(n, 1);
    Value* n2 = b_.CreateSub(n, n1);
    auto pow2 = [&](Value* e) { return b_.CreateBitCast(b_.CreateShl(b_.CreateAdd(e, I(127)), 23), f32_); };
    return Mul(Mul(y, pow2(n1)), pow2(n2));
  }

  // Cephes expf: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-6 polynomial (~1 ulp).
  // Below -104 the result rounds to zero, and it is set so: those lanes compute e^0 instead,
  // because an underflowing product costs a microcode assist per element (~100 cycles), which
  // made a causal-masked softmax, whose -inf scores all land there, 3x slower.
  Value* Exp(Value* x) {
    Value* zero = Lt(x, F(-104.0));
    Value* xc = Select(zero, F(0.0), MinNum(MaxNum(x, F(-104.0)), F(89.0)));  // NaN: restored below
    Value* fx = Floor(Add(Mul(xc, F(1.44269504088896341)), F(0.5)));
    Value* r = Sub(xc, Mul(fx, F(0.693359375)));
    r = Sub(r, Mul(fx, F(-2.12194440e-4)));
    Value* p =
        Poly(r, {1.9875691500E-4, 1.3981999507E-3, 8.3334519073E-3, 4.1665795894E-2, 1.6666665459E-1, 5.0000001201E-1});
    Value* y = Add(Add(Mul(p, Mul(r, r)), r), F(1.0));
    Value* result = Select(zero, F(0.0), ScaleByPowerOfTwo(y, b_.CreateFPToSI(fx, i32_)));
    return Select(IsNan(x), x, result);
  }

  // e^x - 1 without cancellation near 0 (Elu, Selu): Taylor series for |x| < 0.5.
  Value* Expm1(Value* x) {
    Value* p = Poly(x, {1.0 / 40320, 1.0 / 5040, 1.0 / 720, 1.0 / 120, 1.0 / 24, 1.0 / 6, 0.5});
    Value* small = Add(x, Mul(Mul(x, x), p));
    return Select(Lt(Fabs(x), F(0.5)), small, Sub(Exp(x), F(1.0)));
  }

  // Cephes logf: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log(m) by a degree-9 polynomial.
  Value* Log(Value* x) {
    Value* denormal = Lt(x, F(1.17549435e-38));
    Value* xs = Select(denormal, Mul(x, F(8388608.0)), x);
    Value* bits = b_.CreateBitCast(xs, i32_);
    Value* e = b_.CreateSub(b_.CreateAnd(b_.CreateLShr(bits, 23), I(0xff)), I(126));
    e = b_.CreateAdd(e, Select(denormal, I(-23), I(0)));
    Value* m = b_.CreateBitCast(b_.CreateOr(b_.CreateAnd(bits, I(0x007fffff)), I(0x3f000000)), f32_);
    Value* below = Lt(m, F(0.707106781186547524));
    Value* ef = b_.CreateSIToFP(b_.CreateSub(e, Select(below, I(1), I(0))), f32_);
    m = Sub(Select(below, Add(m, m), m), F(1.0));
    Value* z = Mul(m, m);
    Value* y = Mul(Mul(Poly(m, {7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
                                -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1}),
                       m),
                   z);
    y = Add(y, Mul(ef, F(-2.12194440e-4)));
    y = Sub(y, Mul(z, F(0.5)));
    Value* result = Add(Add(m, y), Mul(ef, F(0.693359375)));
    const double inf = std::numeric_limits<double>::infinity();
    result = Select(b_.CreateFCmpOEQ(x, F(inf)), F(inf), result);
    result = Select(b_.CreateFCmpOEQ(x, F(0.0)), F(-inf), result);
    result = Select(Lt(x, F(0.0)), F(std::numeric_limits<double>::quiet_NaN()), result);
    return Select(IsNan(x), x, result);
  }

  // log(1 + u) for u >= 0 with the rounding of 1 + u compensated (Goldberg).
  Value* Log1p(Value* u) {
    Value* w = Add(u, F(1.0));
    Value* scaled = Div(Mul(Log(w), u), Sub(w, F(1.0)));
    return Select(b_.CreateFCmpOEQ(w, F(1.0)), u, scaled);
  }

  // Cephes tanhf: an odd polynomial below 0.625, else 1 - 2 / (e^2|x| + 1) with x's sign.
  Value* Tanh(Value* x) {
    Value* a = Fabs(x);
    Value* z = Mul(x, x);
    Value* p = Poly(z, {-5.70498872745E-3, 2.06390887954E-2, -5.37397155531E-2, 1.33314422036E-1, -3.33332819422E-1});
    Value* small = Add(Mul(Mul(p, z), x), x);
    Value* large = Sub(F(1.0), Div(F(2.0), Add(Exp(Add(a, a)), F(1.0))));
    return Select(Lt(a, F(0.625)), small, CopySign(large, x));
  }

  // erf: x P(x^2) below 1 (Cephes erff), else 1 - erfc with erfc = e^-x^2 Q(1/x) on [1, 2)
  // (a degree-7 fit, relative error 8e-9) and e^-x^2 R(1/x^2) / x above 2 (Cephes); odd.
  Value* Erf(Value* x) {
    Value* a = Fabs(x);
    Value* z = Mul(x, x);
    Value* small =
        Mul(x, Poly(z, {7.853861353153693E-5, -8.010193625184903E-4, 5.188327685732524E-3, -2.685381193529856E-2,
                        1.128358514861418E-1, -3.761262582423300E-1, 1.128379165726710E+0}));
    Value* inv = Div(F(1.0), a);
    Value* mid = Poly(inv, {-0.018093559280831138, 0.12008002490376685, -0.34879309942611281, 0.56437069063398182,
                            -0.49438729603705506, 0.044777898704244104, 0.55947515933654057, 0.00015375401390232968});
    Value* far = Mul(inv, Poly(Mul(inv, inv), {-1.047766399936249E+1, 1.297719955372516E+1, -7.495518717768503E+0,
                                               2.921019019210786E+0, -1.015265279202700E+0, 4.218463358204948E-1,
                                               -2.820767439740514E-1, 5.641895067754075E-1}));
    Value* erfc = Mul(Exp(b_.CreateFNeg(z)), Select(Lt(a, F(2.0)), mid, far));
    return Select(Lt(a, F(1.0)), small, CopySign(Sub(F(1.0), erfc), x));
  }

  Value* Sigmoid(Value* x) { return Div(F(1.0), Add(F(1.0), Exp(b_.CreateFNeg(x)))); }

  // The trigonometric and hyperbolic functions call libm's float versions (correctly rounded or
  // within an ulp in glibc; the JIT resolves them in the process, AOT executables link -lm).
  Value* CallLibm(const char* name, Value* a) {
    llvm::Module* module = b_.GetInsertBlock()->getModule();
    return b_.CreateCall(module->getOrInsertFunction(name, llvm::FunctionType::get(f32_, {f32_}, false)), {a});
  }
  Value* Sin(Value* a) { return CallLibm("sinf", a); }
  Value* Cos(Value* a) { return CallLibm("cosf", a); }
  Value* Tan(Value* a) { return CallLibm("tanf", a); }
  Value* Asin(Value* a) { return CallLibm("asinf", a); }
  Value* Acos(Value* a) { return CallLibm("acosf", a); }
  Value* Atan(Value* a) { return CallLibm("atanf", a); }
  Value* Sinh(Value* a) { return CallLibm("sinhf", a); }
  Value* Cosh(Value* a) { return CallLibm("coshf", a); }
  Value* Asinh(Value* a) { return CallLibm("asinhf", a); }
  Value* Acosh(Value* a) { return CallLibm("acoshf", a); }
  Value* Atanh(Value* a) { return CallLibm("atanhf", a); }
  Value* Ceil(Value* a) { return b_.CreateUnaryIntrinsic(llvm::Intrinsic::ceil, a); }
  Value* Round(Value* a) { return b_.CreateUnaryIntrinsic(llvm::Intrinsic::roundeven, a); }  // half to even
  // 1, -1, or x itself for +-0 and NaN.
  Value* Sign(Value* a) { return Select(Gt(a, F(0.0)), F(1.0), Select(Lt(a, F(0.0)), F(-1.0), a)); }

  // binary.def's Pow: the fused program's exponent is an immediate (a constant).
  Value* Pow(Value* x, Value* c) {
    if (auto* k = llvm::dyn_cast<llvm::ConstantFP>(c)) return Pow(x, k->getValueAPF().convertToFloat());
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x, c);
  }

  // Pow with a constant exponent: small integer powers and square roots inline, else powf.
  Value* Pow(Value* x, float c) {
    if (c == 1.0f) return x;
    if (c == 2.0f) return Mul(x, x);
    if (c == 3.0f) return Mul(Mul(x, x), x);
    if (c == 0.5f) {  // pow(-0, .5) = +0 and pow(-inf, .5) = +inf, unlike sqrt
      Value* root = Add(Sqrt(x), F(0.0));
      return Select(b_.CreateFCmpOEQ(x, F(-std::numeric_limits<double>::infinity())),
                    F(std::numeric_limits<double>::infinity()), root);
    }
    return b_.CreateBinaryIntrinsic(llvm::Intrinsic::pow, x, F(c));
  }

  // NaN-propagating max/min with the reference kernel's choice on ties (a < b ? b : a).
  Value* Max(Value* a, Value* c) {
    Value* nan = b_.CreateFCmpUNO(a, c);
    return Select(nan, F(std::numeric_limits<double>::quiet_NaN()), Select(Lt(a, c), c, a));
  }
  Value* Min(Value* a, Value* c) {
    Value* nan = b_.CreateFCmpUNO(a, c);
    return Select(nan, F(std::numeric_limits<double>::quiet_NaN()), Select(Lt(c, a), c, a));
  }

  // One instruction; `a` holds its arguments (immediates as constants).
  Value* Emit(FusedOp op, const std::vector<Value*>& a) {
    switch (op) {
      // ir/core/ops/binary.def's fusing rows: a and b are a[0] and a[1] (an immediate's constant).
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, doc, forward, ...) \
  KILN_IF_FUSES(fuse)                                                                          \
  (case FusedOp::k##Name                                                                       \
   : {                                                                                         \
     MathEmitter& m = *this;                                                                   \
     Value* const lhs = a[0];                                                                  \
     Value* const b = a[1];                                                                    \
     return [&m, b](Value* a) { return forward; }(lhs);                                        \
   })
#include "ir/core/ops/binary.def"
#undef BINARY
      case FusedOp::kRelu: return Select(Lt(a[0], F(0.0)), F(0.0), a[0]);
      case FusedOp::kNeg: return b_.CreateFNeg(a[0]);
      case FusedOp::kAbs: return Select(Lt(a[0], F(0.0)), b_.CreateFNeg(a[0]), a[0]);
      case FusedOp::kSign: return Sign(a[0]);
      case FusedOp::kClip: {
        Value* raised = Select(Lt(a[0], a[1]), a[1], a[0]);
        return Select(Lt(a[2], raised), a[2], raised);
      }
      case FusedOp::kReluGrad: return Mul(a[0], Select(Gt(a[1], F(0.0)), F(1.0), F(0.0)));
      case FusedOp::kAbsGrad:
        return Mul(a[0], Select(Gt(a[1], F(0.0)), F(1.0), Select(Lt(a[1], F(0.0)), F(-1.0), F(0.0))));
        // ir/core/ops/unary.def: x or t is a[0] or a[1], the attributes follow.
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, since, doc, forward, derivative, ...) \
  case FusedOp::k##Name: {                                                                                         \
    [[maybe_unused]] MathEmitter& m = *this;                                                                       \
    [[maybe_unused]] Value* x = a[0];                                                                              \
    [[maybe_unused]] Value* a0 = nattrs > 0 ? a[1] : nullptr;                                                      \
    [[maybe_unused]] Value* a1 = nattrs > 1 ? a[2] : nullptr;                                                      \
    return forward;                                                                                                \
  }                                                                                                                \
  case FusedOp::k##Name##Grad: {                                                                                   \
    [[maybe_unused]] MathEmitter& m = *this;                                                                       \
    [[maybe_unused]] Value* t = a[1];                                                                              \
    [[maybe_unused]] Value* a0 = nattrs > 0 ? a[2] : nullptr;                                                      \
    [[maybe_unused]] Value* a1 = nattrs > 1 ? a[3] : nullptr;                                                      \
    return Mul(a[0], derivative);                                                                                  \
  }
#include "ir/core/ops/unary.def"
#undef UNARY
    }
    return F(std::numeric_limits<double>::quiet_NaN());
  }

 private:
  llvm::IRBuilder<>& b_;
  llvm::Type* f32_;
  llvm::Type* i32_;
};

// The program's temporaries at one element whose input values are `input`.
std::vector<Value*> EmitProgram(MathEmitter& math, const FusedProgram& program, const std::vector<Value*>& input) {
  std::vector<Value*> temps;
  for (const FusedInstr& instr : program.instrs) {
    std::vector<Value*> args;
    for (const FusedOperand& operand : instr.args) {
      switch (operand.kind) {
        case FusedOperand::kInput: args.push_back(input[operand.index]); break;
        case FusedOperand::kTemp: args.push_back(temps[operand.index]); break;
        case FusedOperand::kImmediate: args.push_back(math.F(operand.value)); break;
      }
    }
    temps.push_back(math.Emit(instr.op, args));
  }
  return temps;
}

// A counted loop `for (i = lo; i < hi; ++i)` at the builder's position, its body from
// `body(i, carried)` returning the next values of `carried` (phis starting at `init`);
// leaves the builder after the loop and returns the carried values' final ones.
using LoopBody = std::function<std::vector<Value*>(Value* i, const std::vector<Value*>& carried)>;
std::vector<Value*> EmitLoop(llvm::IRBuilder<>& b, Value* lo, Value* hi, const std::vector<Value*>& init,
                             const LoopBody& body, const std::string& name, bool predicated = false) {
  llvm::Function* fn = b.GetInsertBlock()->getParent();
  llvm::LLVMContext& ctx = fn->getContext();
  llvm::BasicBlock* pre = b.GetInsertBlock();
  auto* head = llvm::BasicBlock::Create(ctx, name, fn);
  auto* loop = llvm::BasicBlock::Create(ctx, name + ".body", fn);
  auto* done = llvm::BasicBlock::Create(ctx, name + ".done", fn);
  b.CreateBr(head);
  b.SetInsertPoint(head);
  llvm::PHINode* i = b.CreatePHI(lo->getType(), 2, name + ".i");
  i->addIncoming(lo, pre);
  std::vector<llvm::PHINode*> phis;
  std::vector<Value*> carried;
  for (Value* v : init) {
    phis.push_back(b.CreatePHI(v->getType(), 2));
    phis.back()->addIncoming(v, pre);
    carried.push_back(phis.back());
  }
  b.CreateCondBr(b.CreateICmpSLT(i, hi), loop, done);
  b.SetInsertPoint(loop);
  const std::vector<Value*> next = body(i, carried);
  llvm::BasicBlock* latch = b.GetInsertBlock();
  i->addIncoming(b.CreateAdd(i, llvm::ConstantInt::get(lo->getType(), 1), "", /*HasNUW=*/true, /*HasNSW=*/true), latch);
  for (size_t k = 0; k < phis.size(); ++k) phis[k]->addIncoming(next[k], latch);
  llvm::BranchInst* back = b.CreateBr(head);
  if (predicated) {
    // A short loop (a few classes per row) is vectorized whole, its tail by masked lanes.
    llvm::Metadata* hints[] = {
        nullptr,
        llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.vectorize.enable"),
                                llvm::ConstantAsMetadata::get(llvm::ConstantInt::getTrue(ctx))}),
        llvm::MDNode::get(ctx, {llvm::MDString::get(ctx, "llvm.loop.vectorize.predicate.enable"),
                                llvm::ConstantAsMetadata::get(llvm::ConstantInt::getTrue(ctx))})};
    llvm::MDNode* loop_id = llvm::MDNode::getDistinct(ctx, hints);
    loop_id->replaceOperandWith(0, loop_id);
    back->setMetadata(llvm::LLVMContext::MD_loop, loop_id);
  }
  b.SetInsertPoint(done);
  return carried;
}

// The function `symbol`(buffers, begin, end) of a kernel whose step has `num_inputs` inputs.
StatusOr<llvm::Function*> CreateKernelFunction(const FusedProgram& program, int num_inputs, const std::string& symbol,
                                               llvm::Module& module) {
  if (program.num_inputs > num_inputs) {
    return InvalidArgument(symbol, ": the program reads ", program.num_inputs, " inputs but the step has ", num_inputs);
  }
  if (module.getFunction(symbol)) return InvalidArgument(symbol, ": the module already defines it");
  llvm::LLVMContext& ctx = module.getContext();
  llvm::Type* i64 = llvm::Type::getInt64Ty(ctx);
  llvm::Type* ptr = llvm::PointerType::get(ctx, 0);
  auto* fn = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), {ptr, i64, i64}, false),
                                    llvm::Function::ExternalLinkage, symbol, module);
  fn->setDoesNotThrow();
  return fn;
}

}  // namespace

Status EmitFusedKernel(const FusedProgram& program, const FusedGeometry& geometry, const std::string& symbol,
                       llvm::Module& module) {
  const int num_inputs = static_cast<int>(geometry.inner_stride.size());
  ASSIGN_OR_RETURN(llvm::Function * fn, CreateKernelFunction(program, num_inputs, symbol, module));
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* ptr = b.getPtrTy();
  llvm::Value* buffers = fn->getArg(0);
  llvm::Value* begin = fn->getArg(1);
  llvm::Value* end = fn->getArg(2);
  buffers->setName("buffers");
  begin->setName("begin");
  end->setName("end");
  auto* entry = llvm::BasicBlock::Create(ctx, "entry", fn);
  auto* outer_head = llvm::BasicBlock::Create(ctx, "row", fn);
  auto* outer_body = llvm::BasicBlock::Create(ctx, "row.body", fn);
  auto* inner = llvm::BasicBlock::Create(ctx, "element", fn);
  auto* outer_latch = llvm::BasicBlock::Create(ctx, "row.next", fn);
  auto* exit = llvm::BasicBlock::Create(ctx, "exit", fn);
  auto c64 = [&](int64_t v) { return llvm::ConstantInt::get(i64, v); };

  b.SetInsertPoint(entry);
  const int num_buffers = num_inputs + static_cast<int>(program.outputs.size());
  std::vector<llvm::Value*> base(num_buffers);
  for (int k = 0; k < num_buffers; ++k) {
    base[k] = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, buffers, k), "buffer" + std::to_string(k));
  }
  b.CreateBr(outer_head);

  b.SetInsertPoint(outer_head);
  llvm::PHINode* row = b.CreatePHI(i64, 2, "r");
  row->addIncoming(begin, entry);
  b.CreateCondBr(b.CreateICmpSLT(row, end), outer_body, exit);

  // Row r: the outer index and the slice [first, first + count) of the inner run.
  b.SetInsertPoint(outer_body);
  llvm::Value* outer = geometry.chunks == 1 ? row : b.CreateUDiv(row, c64(geometry.chunks));
  llvm::Value* first =
      geometry.chunks == 1 ? c64(0) : b.CreateMul(b.CreateURem(row, c64(geometry.chunks)), c64(geometry.chunk));
  llvm::Value* count = b.CreateSub(
      b.CreateBinaryIntrinsic(llvm::Intrinsic::smin, b.CreateAdd(first, c64(geometry.chunk)), c64(geometry.inner)),
      first);
  std::vector<llvm::Value*> offset(num_inputs, c64(0));
  llvm::Value* rest = outer;
  for (size_t d = geometry.outer.size(); d-- > 0;) {
    llvm::Value* index = d == 0 ? rest : b.CreateURem(rest, c64(geometry.outer[d]));
    if (d > 0) rest = b.CreateUDiv(rest, c64(geometry.outer[d]));
    for (int k = 0; k < num_inputs; ++k) {
      const int64_t stride = geometry.outer_strides[k][d];
      if (stride != 0) offset[k] = b.CreateAdd(offset[k], b.CreateMul(index, c64(stride)));
    }
  }
  // Broadcast inputs are loaded once per row; the others advance with the inner index.
  std::vector<llvm::Value*> row_ptr(num_buffers), row_value(num_inputs, nullptr);
  for (int k = 0; k < num_inputs; ++k) {
    if (geometry.inner_stride[k] == 0) {
      row_value[k] = b.CreateLoad(f32, b.CreateInBoundsGEP(f32, base[k], offset[k]), "in" + std::to_string(k));
    } else {
      row_ptr[k] = b.CreateInBoundsGEP(f32, base[k], b.CreateAdd(offset[k], first));
    }
  }
  llvm::Value* out_offset = b.CreateAdd(b.CreateMul(outer, c64(geometry.inner)), first);
  for (int k = num_inputs; k < num_buffers; ++k) row_ptr[k] = b.CreateInBoundsGEP(f32, base[k], out_offset);
  b.CreateCondBr(b.CreateICmpSGT(count, c64(0)), inner, outer_latch);

  // The element loop: every input is loaded before any output is stored (in place is safe).
  b.SetInsertPoint(inner);
  llvm::PHINode* j = b.CreatePHI(i64, 2, "j");
  j->addIncoming(c64(0), outer_body);
  std::vector<llvm::Value*> input(num_inputs);
  for (int k = 0; k < num_inputs; ++k) {
    input[k] = row_value[k] ? row_value[k] : b.CreateLoad(f32, b.CreateInBoundsGEP(f32, row_ptr[k], j));
  }
  MathEmitter math(b);
  const std::vector<llvm::Value*> temps = EmitProgram(math, program, input);
  for (size_t n = 0; n < program.outputs.size(); ++n) {
    b.CreateStore(temps[program.outputs[n]], b.CreateInBoundsGEP(f32, row_ptr[num_inputs + n], j));
  }
  llvm::Value* next_j = b.CreateAdd(j, c64(1), "j.next", /*HasNUW=*/true, /*HasNSW=*/true);
  j->addIncoming(next_j, inner);
  b.CreateCondBr(b.CreateICmpSLT(next_j, count), inner, outer_latch);

  b.SetInsertPoint(outer_latch);
  llvm::Value* next_row = b.CreateAdd(row, c64(1), "r.next");
  row->addIncoming(next_row, outer_latch);
  b.CreateBr(outer_head);

  b.SetInsertPoint(exit);
  b.CreateRetVoid();
  return Status::Ok();
}

Status EmitFusedReductionKernel(const FusedProgram& program, const FusedReductionGeometry& g, const std::string& symbol,
                                llvm::Module& module) {
  const int num_inputs = static_cast<int>(g.strides.size());
  ASSIGN_OR_RETURN(llvm::Function * fn, CreateKernelFunction(program, num_inputs, symbol, module));
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* ptr = b.getPtrTy();
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  Value* begin = fn->getArg(1);
  Value* end = fn->getArg(2);
  auto c64 = [&](int64_t v) { return llvm::ConstantInt::get(i64, v); };
  const int num_elementwise = static_cast<int>(program.outputs.size());
  std::vector<Value*> base(num_inputs + num_elementwise + 1);
  for (size_t k = 0; k < base.size(); ++k) {
    base[k] = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, fn->getArg(0), k));
  }
  Value* y = base.back();
  MathEmitter math(b);
  // Each input's offset of outer index o (its outer dims' strides; once per outer index).
  using Offsets = std::vector<Value*>;
  auto outer_offsets = [&](Value* o) {
    Offsets offsets(num_inputs, c64(0));
    Value* rest = o;
    for (size_t d = g.outer_dims.size(); d-- > 0;) {
      Value* index = d == 0 ? rest : b.CreateURem(rest, c64(g.outer_dims[d]));
      if (d > 0) rest = b.CreateUDiv(rest, c64(g.outer_dims[d]));
      for (int k = 0; k < num_inputs; ++k) {
        const int64_t stride = g.outer_strides[k][d];
        if (stride != 0) offsets[k] = b.CreateAdd(offsets[k], b.CreateMul(index, c64(stride)));
      }
    }
    return offsets;
  };
  // The program at view element (o, m, i): stores the elementwise outputs, returns the operand.
  auto element = [&](Value* o, const Offsets& at_o, Value* m, Value* i) {
    std::vector<Value*> input(num_inputs);
    for (int k = 0; k < num_inputs; ++k) {
      Value* offset = at_o[k];
      Value* index[2] = {m, i};
      for (int part = 0; part < 2; ++part) {
        if (g.strides[k][part] != 0) offset = b.CreateAdd(offset, b.CreateMul(index[part], c64(g.strides[k][part])));
      }
      input[k] = b.CreateLoad(f32, b.CreateInBoundsGEP(f32, base[k], offset));
    }
    const std::vector<Value*> temps = EmitProgram(math, program, input);
    Value* flat = b.CreateAdd(b.CreateMul(b.CreateAdd(b.CreateMul(o, c64(g.middle)), m), c64(g.inner)), i);
    for (int n = 0; n < num_elementwise; ++n) {
      b.CreateStore(temps[program.outputs[n]], b.CreateInBoundsGEP(f32, base[num_inputs + n], flat));
    }
    return temps[g.operand];
  };
  Value* zero = math.F(0.0);
  if (g.kind == FusedReduceKind::kSum) {
    if (g.inner == 1) {
      // [outer, entries]: the entries [begin, end) are columns; each accumulates down the rows
      // in y (vectorized across the columns, each column's terms in row order).
      EmitLoop(
          b, begin, end, {},
          [&](Value* m, const std::vector<Value*>&) {
            b.CreateStore(zero, b.CreateInBoundsGEP(f32, y, m));
            return std::vector<Value*>{};
          },
          "clear");
      EmitLoop(
          b, c64(0), c64(g.outer), {},
          [&](Value* o, const std::vector<Value*>&) {
            const Offsets at_o = outer_offsets(o);
            EmitLoop(
                b, begin, end, {},
                [&](Value* m, const std::vector<Value*>&) {
                  Value* at = b.CreateInBoundsGEP(f32, y, m);
                  b.CreateStore(b.CreateFAdd(b.CreateLoad(f32, at), element(o, at_o, m, c64(0))), at);
                  return std::vector<Value*>{};
                },
                "column");
            return std::vector<Value*>{};
          },
          "row");
    } else {
      // [outer, entries, inner]: each entry sums its inner runs, one per outer index.
      EmitLoop(
          b, begin, end, {},
          [&](Value* m, const std::vector<Value*>&) {
            Value* total = EmitLoop(
                b, c64(0), c64(g.outer), {zero},
                [&](Value* o, const std::vector<Value*>& acc) {
                  const Offsets at_o = outer_offsets(o);
                  Value* run = EmitLoop(
                      b, c64(0), c64(g.inner), {zero},
                      [&](Value* i, const std::vector<Value*>& part) {
                        return std::vector<Value*>{math.SumInAnyOrder(part[0], element(o, at_o, m, i))};
                      },
                      "inner")[0];
                  return std::vector<Value*>{b.CreateFAdd(acc[0], run)};
                },
                "outer")[0];
            b.CreateStore(total, b.CreateInBoundsGEP(f32, y, m));
            return std::vector<Value*>{};
          },
          "entry");
    }
    b.CreateRetVoid();
    return Status::Ok();
  }
  // Softmax rows [begin, end) over the last axis: the operand into y and its maximum, then
  // the exponentials' sum, then y normalized. NaN skips the maximum (as the reference's
  // max does) and reaches every output of its row through the sum.
  const bool log = g.kind == FusedReduceKind::kLogSoftmax;
  const double inf = std::numeric_limits<double>::infinity();
  EmitLoop(
      b, begin, end, {},
      [&](Value* o, const std::vector<Value*>&) {
        Value* row = b.CreateInBoundsGEP(f32, y, b.CreateMul(o, c64(g.middle)));
        const Offsets at_o = outer_offsets(o);
        Value* max = EmitLoop(
            b, c64(0), c64(g.middle), {math.F(-inf)},
            [&](Value* m, const std::vector<Value*>& acc) {
              Value* x = element(o, at_o, m, c64(0));
              b.CreateStore(x, b.CreateInBoundsGEP(f32, row, m));
              return std::vector<Value*>{math.MaxSkippingNan(acc[0], x)};
            },
            "max")[0];
        Value* total = EmitLoop(
            b, c64(0), c64(g.middle), {zero},
            [&](Value* m, const std::vector<Value*>& acc) {
              Value* at = b.CreateInBoundsGEP(f32, row, m);
              Value* e = math.Exp(b.CreateFSub(b.CreateLoad(f32, at), max));
              if (!log) b.CreateStore(e, at);
              return std::vector<Value*>{math.SumInAnyOrder(acc[0], e)};
            },
            "exp")[0];
        Value* log_total = log ? math.Log(total) : nullptr;
        EmitLoop(
            b, c64(0), c64(g.middle), {},
            [&](Value* m, const std::vector<Value*>&) {
              Value* at = b.CreateInBoundsGEP(f32, row, m);
              Value* v = b.CreateLoad(f32, at);
              b.CreateStore(log ? b.CreateFSub(b.CreateFSub(v, max), log_total) : b.CreateFDiv(v, total), at);
              return std::vector<Value*>{};
            },
            "normalize");
        return std::vector<Value*>{};
      },
      "softmax");
  b.CreateRetVoid();
  return Status::Ok();
}

// FusedSoftmaxCrossEntropy, one row over every sample n of logits x [N, C]: lse = max +
// log(sum_c exp(x_c - max)) (NaN skips the maximum, an infinite maximum is the lse, as in the
// reference's LogSumExp); loss -= sum_c t_c (x_c - lse) over the targets t_c != 0, in double
// and in sample order; dX_c = dLoss / N * (softmax_c * sum_c t_c - t_c); dBias_c = the sum of
// dX_c down the rows. One exponential per element: dX holds exp(x_c - max) until the
// gradient. A sparse target's labels were checked against [0, C) by the runtime.
Status EmitFusedLossKernel(const FusedLossGeometry& g, const std::string& symbol, llvm::Module& module) {
  ASSIGN_OR_RETURN(llvm::Function * fn, CreateKernelFunction(FusedProgram{}, 3, symbol, module));
  llvm::LLVMContext& ctx = module.getContext();
  llvm::IRBuilder<> b(ctx);
  llvm::Type* f32 = b.getFloatTy();
  llvm::Type* f64 = b.getDoubleTy();
  llvm::Type* i64 = b.getInt64Ty();
  llvm::Type* ptr = b.getPtrTy();
  b.SetInsertPoint(llvm::BasicBlock::Create(ctx, "entry", fn));
  auto c64 = [&](int64_t v) { return llvm::ConstantInt::get(i64, v); };
  std::vector<Value*> base(g.bias ? 6 : 5);
  for (size_t k = 0; k < base.size(); ++k) {
    base[k] = b.CreateLoad(ptr, b.CreateConstInBoundsGEP1_64(ptr, fn->getArg(0), k));
  }
  Value *logits = base[1], *target = base[2], *dx = base[4], *dbias = g.bias ? base[5] : nullptr;
  MathEmitter math(b);
  const double inf = std::numeric_limits<double>::infinity();
  Value* zero = math.F(0.0);
  Value* classes = c64(g.classes);
  auto at = [&](Value* p, Value* i) { return b.CreateInBoundsGEP(f32, p, i); };
  Value* scale =
      b.CreateFPTrunc(b.CreateFDiv(b.CreateFPExt(b.CreateLoad(f32, base[0]), f64),
                                   llvm::ConstantFP::get(f64, static_cast<double>(std::max<int64_t>(g.batch, 1)))),
                      f32);
  auto each_class = [&](const std::vector<Value*>& init, const LoopBody& body, const std::string& name) {
    return EmitLoop(b, c64(0), classes, init, body, name, /*predicated=*/g.classes < 64);
  };
  Value* total = EmitLoop(
      b, c64(0), c64(g.batch), {llvm::ConstantFP::get(f64, 0.0)},
      [&](Value* n, const std::vector<Value*>& loss) {
        Value* first = b.CreateMul(n, classes);
        Value* row = at(logits, first);
        Value* drow = at(dx, first);
        Value* trow = g.sparse ? nullptr : at(target, first);
        Value* max = each_class(
            {math.F(-inf)},
            [&](Value* c, const std::vector<Value*>& acc) {
              return std::vector<Value*>{math.MaxSkippingNan(acc[0], b.CreateLoad(f32, at(row, c)))};
            },
            "max")[0];
        // exp(x_c - max) into dX, and their sum S.
        Value* exps = each_class(
            {zero},
            [&](Value* c, const std::vector<Value*>& acc) {
              Value* e = math.Exp(b.CreateFSub(b.CreateLoad(f32, at(row, c)), max));
              b.CreateStore(e, at(drow, c));
              return std::vector<Value*>{math.SumInAnyOrder(acc[0], e)};
            },
            "exp")[0];
        // softmax_c = exp(x_c - lse) = exp(x_c - max) / S; an infinite maximum is the lse itself.
        Value* infinite = b.CreateFCmpOEQ(math.Fabs(max), math.F(inf));
        Value* lse = b.CreateSelect(infinite, max, b.CreateFAdd(max, math.Log(exps)));
        Value* inverse = b.CreateSelect(infinite, math.F(1.0), b.CreateFDiv(math.F(1.0), exps));
        // The loss of this sample (in double) and its targets' sum.
        Value *label = nullptr, *term = nullptr, *target_sum = math.F(1.0);
        if (g.sparse) {
          label = b.CreateLoad(i64, b.CreateInBoundsGEP(i64, target, n));
          term = b.CreateFPExt(b.CreateFSub(b.CreateLoad(f32, at(row, label)), lse), f64);
        } else {
          const std::vector<Value*> sums = each_class(
              {zero, llvm::ConstantFP::get(f64, 0.0)},
              [&](Value* c, const std::vector<Value*>& acc) {
                Value* t = b.CreateLoad(f32, at(trow, c));
                Value* part = b.CreateFMul(t, b.CreateFSub(b.CreateLoad(f32, at(row, c)), lse));
                part = b.CreateSelect(b.CreateFCmpUNE(t, zero), part, zero);  // as the reference skips t == 0
                return std::vector<Value*>{b.CreateFAdd(acc[0], t), b.CreateFAdd(acc[1], b.CreateFPExt(part, f64))};
              },
              "target");
          target_sum = sums[0];
          term = sums[1];
        }
        each_class(
            {},
            [&](Value* c, const std::vector<Value*>&) {
              Value* t = g.sparse ? b.CreateSelect(b.CreateICmpEQ(c, label), math.F(1.0), zero)
                                  : b.CreateLoad(f32, at(trow, c));
              Value* p = b.CreateFMul(b.CreateLoad(f32, at(drow, c)), inverse);
              Value* d = b.CreateFMul(scale, b.CreateFSub(b.CreateFMul(p, target_sum), t));
              b.CreateStore(d, at(drow, c));
              return std::vector<Value*>{};
            },
            "gradient");
        return std::vector<Value*>{b.CreateFSub(loss[0], term)};
      },
      "sample")[0];
  if (dbias) {
    // dBias: dX's columns added down the rows (from L1; a loop the gradient's stores would
    // otherwise alias).
    each_class(
        {},
        [&](Value* c, const std::vector<Value*>&) {
          b.CreateStore(zero, at(dbias, c));
          return std::vector<Value*>{};
        },
        "clear");
    EmitLoop(
        b, c64(0), c64(g.batch), {},
        [&](Value* n, const std::vector<Value*>&) {
          Value* drow = at(dx, b.CreateMul(n, classes));
          each_class(
              {},
              [&](Value* c, const std::vector<Value*>&) {
                Value* sum_at = at(dbias, c);
                b.CreateStore(b.CreateFAdd(b.CreateLoad(f32, sum_at), b.CreateLoad(f32, at(drow, c))), sum_at);
                return std::vector<Value*>{};
              },
              "column");
          return std::vector<Value*>{};
        },
        "bias");
  }
  Value* mean = g.batch == 0 ? llvm::ConstantFP::get(f64, 0.0)
                             : b.CreateFDiv(total, llvm::ConstantFP::get(f64, static_cast<double>(g.batch)));
  b.CreateStore(b.CreateFPTrunc(mean, f32), base[3]);
  b.CreateRetVoid();
  return Status::Ok();
}

Status EmitFusedStep(const proto::Plan& plan, const proto::Step& step, llvm::Module& module) {
  const Attrs attrs(step.attribute());
  const std::string label = step.name() + " (" + step.op_type() + ")";
  const std::string symbol = attrs.GetString("symbol", "");
  if (symbol.empty()) return InvalidArgument(label, ": a jit step needs a 'symbol' attribute");
  auto buffer_of = [&](int index) -> StatusOr<const proto::Buffer*> {
    if (index < 0 || index >= plan.buffer_size())
      return InvalidArgument(label, ": buffer ", index, " is not in the plan");
    return &plan.buffer(index);
  };
  if (step.op_type() == "FusedSoftmaxCrossEntropy") {
    auto types_of = [&](const auto& indices) -> StatusOr<std::vector<TensorType>> {
      std::vector<TensorType> types;
      for (int index : indices) {
        ASSIGN_OR_RETURN(const proto::Buffer* buffer, buffer_of(index));
        types.push_back(TensorType{buffer->dtype(), Dims(buffer->dims().begin(), buffer->dims().end())});
      }
      return types;
    };
    ASSIGN_OR_RETURN(std::vector<TensorType> inputs, types_of(step.input()));
    ASSIGN_OR_RETURN(std::vector<TensorType> outputs, types_of(step.output()));
    auto loss = ComputeFusedLossGeometry(attrs, inputs, outputs);
    if (!loss.ok()) return loss.status().WithContext(label);
    if (attrs.GetInt("iterations", -1) != 1) return InvalidArgument(label, ": a fused loss is one row");
    return EmitFusedLossKernel(*loss, symbol, module).WithContext(label);
  }
  auto dims_of = [&](int index) -> StatusOr<Dims> {
    ASSIGN_OR_RETURN(const proto::Buffer* buffer, buffer_of(index));
    if (buffer->dtype() != proto::DT_FLOAT)
      return InvalidArgument(label, ": buffer '", buffer->name(), "' is not float32");
    return Dims(buffer->dims().begin(), buffer->dims().end());
  };
  std::vector<Dims> inputs, outputs;
  for (int index : step.input()) {
    ASSIGN_OR_RETURN(Dims dims, dims_of(index));
    inputs.push_back(std::move(dims));
  }
  for (int index : step.output()) {
    ASSIGN_OR_RETURN(Dims dims, dims_of(index));
    outputs.push_back(std::move(dims));
  }
  if (outputs.empty()) return InvalidArgument(label, ": a jit step needs an output");
  auto fused = ComputeFusedStepRows(step.op_type(), attrs, inputs, outputs[0]);
  if (!fused.ok()) return fused.status().WithContext(label);
  if (fused->rows != attrs.GetInt("iterations", -1)) {
    return InvalidArgument(label, ": 'iterations' is ", attrs.GetInt("iterations", -1), " but the buffers give ",
                           fused->rows);
  }
  const size_t program_outputs = fused->program.outputs.size();
  if (outputs.size() != program_outputs + (fused->reduction ? 1 : 0)) {
    return InvalidArgument(label, ": the program has ", program_outputs, " outputs",
                           fused->reduction ? " and the reduction 1" : "", ", the step ", outputs.size());
  }
  if (fused->reduction) {
    return EmitFusedReductionKernel(fused->program, *fused->reduction, symbol, module).WithContext(label);
  }
  return EmitFusedKernel(fused->program, fused->elementwise, symbol, module).WithContext(label);
}

}  // namespace kiln::codegen
