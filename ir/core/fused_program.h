// The program of a FusedElementwise node: a straight-line list of float32
// elementwise instructions over the node's inputs, in a readable text form
//   t0=Add(i0,i1); t1=Relu(t0); t2=Mul(t1,0.5); o0=t1; o1=t2
// (iN: input N, broadcast to the iteration shape; tN: the result of instruction
// N; a number: a float32 immediate; oN = tM: output N). Parsed by the shape
// inference, the reference interpreter and the LLVM code generator alike, so they
// cannot disagree on what a program means. Part of kiln_core: the runtime reads it.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/dtype.h"
#include "ir/core/ops/binary_table.h"
#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln {

/// The instructions a fused program may use: the fusable IR ops plus the
/// EltwiseGrad functions (named <Op>Grad, arguments dY, T). The fusing rows of
/// ir/core/ops/binary.def come first (kName (a, b); kFuseConstantB rows: b an immediate),
/// the ops of ir/core/ops/unary.def come with both: kName (x, attributes...) and kNameGrad
/// (dy, T, attributes...), T being X or Y as the row says.
enum class FusedOp {
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, ...) KILN_IF_FUSES(fuse)(k##Name, )
#include "ir/core/ops/binary.def"
#undef BINARY
  kRelu,
  kNeg,
  kAbs,
  kSign,
  kClip,  // (x, lo, hi): immediates; an absent bound is float's lowest / max
  kReluGrad,
  kAbsGrad,  // (dy, x)
#define UNARY(Name, ...) k##Name, k##Name##Grad,
#include "ir/core/ops/unary.def"
#undef UNARY
};

struct FusedOpInfo {
  FusedOp op;
  const char* name;
  int tensor_args;     // leading arguments that may be inputs or temporaries
  int immediate_args;  // trailing arguments that must be immediates (attributes)
};
/// Every instruction, in FusedOp order.
const std::vector<FusedOpInfo>& FusedOps();
const FusedOpInfo& GetFusedOpInfo(FusedOp op);

struct FusedOperand {
  enum Kind { kInput, kTemp, kImmediate };
  Kind kind = kImmediate;
  int index = 0;    // kInput / kTemp
  float value = 0;  // kImmediate
};

struct FusedInstr {
  FusedOp op;
  std::vector<FusedOperand> args;
};

struct FusedProgram {
  std::vector<FusedInstr> instrs;  // instruction k defines temporary tk
  std::vector<int> outputs;        // output n = temporary outputs[n]
  int num_inputs = 0;              // 1 + the highest input index used
};

/// Parses and checks the text form (arity, immediates where attributes belong,
/// temporaries defined before use, outputs o0..oN-1 each assigned once; a FusedReduction's
/// program may have none).
StatusOr<FusedProgram> ParseFusedProgram(const std::string& text);
/// The text form; ParseFusedProgram(FormatFusedProgram(p)) == p (immediates round-trip).
std::string FormatFusedProgram(const FusedProgram& program);

/// How a fused kernel walks its iteration shape: dims of extent 1 dropped,
/// adjacent dims merged where every input broadcasts alike, then split into
/// [outer rows x inner contiguous run]; a long run is cut into chunks so that
/// large tensors still give every thread rows. Row r covers collapsed outer index
/// r / chunks and inner elements [(r % chunks) * chunk, min(+chunk, inner)).
/// Shared by the CPU lowering (which records `iterations`) and the code generator.
struct FusedGeometry {
  Dims outer;                                       // collapsed outer dims (may be empty)
  int64_t inner = 1;                                // length of the contiguous inner run
  int64_t chunk = 1;                                // inner elements per row
  int64_t chunks = 1;                               // rows per outer index
  int64_t iterations = 0;                           // rows: product(outer) * chunks (0 for an empty tensor)
  std::vector<std::vector<int64_t>> outer_strides;  // per input, element stride per outer dim (0: broadcast)
  std::vector<int64_t> inner_stride;                // per input: 1, or 0 when broadcast along the inner run
};
/// `inputs` must broadcast to `iteration` (numpy rules, rank <= iteration's).
StatusOr<FusedGeometry> ComputeFusedGeometry(const std::vector<Dims>& inputs, const Dims& iteration);

/// A FusedReduction node: a fused program whose temporary `operand` (attribute) is also
/// reduced, `reduce` saying how. The node's outputs are the program's outputs (shape: the
/// iteration shape S, the broadcast of the inputs), then the reduction's:
///   "softmax", "log_softmax": over S's last axis, shape S;
///   "sum": over every axis of S but `axis` (a bias gradient), shape [S[axis]] (with
///   `keepdims`: S's rank, extent 1 but at `axis`).
/// The kernels see S as a view [outer, middle, inner]: [rows, last axis, 1] for the
/// softmaxes, [before axis, axis, after axis] for sums. An input walks the outer part by a
/// stride per axis (0 where it broadcasts: an attention mask [1, T, T] over scores
/// [B*H, T, T]) and the middle and inner parts by one stride each, so it must be whole or
/// broadcast over the inner part as a whole.
/// The kernel's rows are the softmax rows (`outer`) or the summed entries (`middle`): the
/// threads split those, and a sum adds its terms in one order whatever the thread count.
enum class FusedReduceKind { kSoftmax, kLogSoftmax, kSum };

struct FusedReductionGeometry {
  FusedReduceKind kind = FusedReduceKind::kSum;
  int operand = 0;  // the program temporary reduced
  Dims iteration;   // S
  int64_t outer = 1, middle = 1, inner = 1;
  Dims outer_dims;                                  // the outer part's axes of extent > 1
  std::vector<std::vector<int64_t>> outer_strides;  // per input: element stride per outer_dims axis (0: broadcast)
  std::vector<std::array<int64_t, 2>> strides;      // per input: element strides of the middle and inner parts
  /// Input `input`'s offset of outer index `o` (row-major over outer_dims).
  int64_t OuterOffset(size_t input, int64_t o) const;
  int64_t iterations = 0;  // the kernel's rows: outer (softmaxes) or middle (sum)
  Dims output;             // the reduction output's shape
};

/// The reduction kinds by attribute value, and back.
StatusOr<FusedReduceKind> ParseFusedReduceKind(const std::string& name);
const char* FusedReduceKindName(FusedReduceKind kind);

/// The geometry of a FusedReduction with attributes `attrs` (reduce, operand, axis) over
/// `inputs` running `program`; an error when an input cannot walk the view by strides.
StatusOr<FusedReductionGeometry> ComputeFusedReductionGeometry(const Attrs& attrs, const FusedProgram& program,
                                                               const std::vector<Dims>& inputs);

/// The rows a generated FusedElementwise or FusedReduction step computes (the lowering's
/// `iterations` attribute, which the runtime checks), from its op, attributes, input shapes
/// and first output's shape; also the program and the step's geometry.
struct FusedStepRows {
  int64_t rows = 0;
  FusedProgram program;
  FusedGeometry elementwise;                        // a FusedElementwise's
  std::optional<FusedReductionGeometry> reduction;  // a FusedReduction's
};
StatusOr<FusedStepRows> ComputeFusedStepRows(const std::string& op_type, const Attrs& attrs,
                                             const std::vector<Dims>& inputs, const Dims& output);

/// A FusedSoftmaxCrossEntropy step (compiler/passes/fuse_losses.cc): inputs dLoss (a float32
/// scalar), logits [N, C] and the target (sparse=1: int64 labels [N], else float32 [N, C]);
/// outputs the loss (a scalar), dLogits [N, C] and, when present, dBias ([C] or [1, C]). Its
/// generated kernel is one row: it walks every sample, adding the loss in sample order.
struct FusedLossGeometry {
  int64_t batch = 0, classes = 0;
  bool sparse = false, bias = false;
};
/// The geometry from the step's buffer types; an error names the buffer that does not fit.
StatusOr<FusedLossGeometry> ComputeFusedLossGeometry(const Attrs& attrs, const std::vector<TensorType>& inputs,
                                                     const std::vector<TensorType>& outputs);

}  // namespace kiln
