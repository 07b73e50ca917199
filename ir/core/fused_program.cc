#include "ir/core/fused_program.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "ir/core/shape_util.h"

namespace kiln {

const std::vector<FusedOpInfo>& FusedOps() {
  static const std::vector<FusedOpInfo> ops = {
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, ...) \
  KILN_IF_FUSES(fuse)                                                            \
  ({FusedOp::k##Name, #Name, BinaryFuse::fuse == BinaryFuse::kFuse ? 2 : 1,      \
    BinaryFuse::fuse == BinaryFuse::kFuse ? 0 : 1}, )
#include "ir/core/ops/binary.def"
#undef BINARY
      {FusedOp::kRelu, "Relu", 1, 0},       {FusedOp::kNeg, "Neg", 1, 0},   {FusedOp::kAbs, "Abs", 1, 0},
      {FusedOp::kSign, "Sign", 1, 0},       {FusedOp::kClip, "Clip", 1, 2}, {FusedOp::kReluGrad, "ReluGrad", 2, 0},
      {FusedOp::kAbsGrad, "AbsGrad", 2, 0},
#define UNARY(Name, fn_name, from, nattrs, ...) \
  {FusedOp::k##Name, #Name, 1, nattrs}, {FusedOp::k##Name##Grad, #Name "Grad", 2, nattrs},
#include "ir/core/ops/unary.def"
#undef UNARY
  };
  return ops;
}

const FusedOpInfo& GetFusedOpInfo(FusedOp op) { return FusedOps()[static_cast<int>(op)]; }

namespace {

// A cursor over the program text; every error names the statement it is in.
class Parser {
 public:
  explicit Parser(const std::string& text) : text_(text) {}

  StatusOr<FusedProgram> Parse() {
    FusedProgram program;
    std::vector<bool> assigned;
    int statement = 0;
    while (true) {
      SkipSpace();
      if (AtEnd()) break;
      ++statement;
      const size_t start = pos_;
      Status st = ParseStatement(program, assigned);
      if (!st.ok()) {
        const size_t end = text_.find(';', start);
        return InvalidArgument("fused program statement ", statement, " '",
                               text_.substr(start, end == std::string::npos ? std::string::npos : end - start),
                               "': ", st.message());
      }
      SkipSpace();
      if (AtEnd()) break;
      if (text_[pos_] != ';') return InvalidArgument("fused program: expected ';' at offset ", pos_);
      ++pos_;
    }
    for (size_t n = 0; n < assigned.size(); ++n) {
      if (!assigned[n]) return InvalidArgument("fused program never assigns output o", n);
    }
    return program;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  void SkipSpace() {
    while (!AtEnd() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (AtEnd() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }
  std::string Identifier() {
    SkipSpace();
    const size_t start = pos_;
    while (!AtEnd() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '_')) ++pos_;
    return text_.substr(start, pos_ - start);
  }
  // "t12" -> 12 for prefix 't'; -1 when `id` is not of that form.
  static int IndexOf(const std::string& id, char prefix) {
    if (id.size() < 2 || id[0] != prefix) return -1;
    for (size_t i = 1; i < id.size(); ++i) {
      if (!std::isdigit(static_cast<unsigned char>(id[i]))) return -1;
    }
    if (id.size() > 7) return -1;
    return std::atoi(id.c_str() + 1);
  }

  StatusOr<FusedOperand> Operand(int defined) {
    SkipSpace();
    FusedOperand operand;
    if (!AtEnd() &&
        (std::isdigit(static_cast<unsigned char>(text_[pos_])) || text_[pos_] == '-' || text_[pos_] == '+' ||
         text_[pos_] == '.' || text_[pos_] == 'n' || text_[pos_] == 'N' || text_[pos_] == 'I')) {
      const char* begin = text_.c_str() + pos_;
      char* end = nullptr;
      const float value = std::strtof(begin, &end);
      if (end == begin) return InvalidArgument("expected an operand at offset ", pos_);
      pos_ += end - begin;
      operand.kind = FusedOperand::kImmediate;
      operand.value = value;
      return operand;
    }
    const std::string id = Identifier();
    if (int i = IndexOf(id, 'i'); i >= 0) {
      operand.kind = FusedOperand::kInput;
      operand.index = i;
      return operand;
    }
    if (int t = IndexOf(id, 't'); t >= 0) {
      if (t >= defined) return InvalidArgument("t", t, " is used before it is defined");
      operand.kind = FusedOperand::kTemp;
      operand.index = t;
      return operand;
    }
    return InvalidArgument("expected an input (iN), a temporary (tN) or a number, got '", id, "'");
  }

  Status ParseStatement(FusedProgram& program, std::vector<bool>& assigned) {
    const std::string target = Identifier();
    if (!Consume('=')) return InvalidArgument("expected '=' after '", target, "'");
    const int defined = static_cast<int>(program.instrs.size());
    if (int o = IndexOf(target, 'o'); o >= 0) {
      const std::string source = Identifier();
      const int t = IndexOf(source, 't');
      if (t < 0 || t >= defined) return InvalidArgument("an output must be a defined temporary, got '", source, "'");
      if (o >= static_cast<int>(assigned.size())) {
        assigned.resize(o + 1, false);
        program.outputs.resize(o + 1, -1);
      }
      if (assigned[o]) return InvalidArgument("o", o, " is assigned twice");
      assigned[o] = true;
      program.outputs[o] = t;
      return Status::Ok();
    }
    const int t = IndexOf(target, 't');
    if (t != defined) return InvalidArgument("expected t", defined, " or an output as the target, got '", target, "'");
    const std::string op_name = Identifier();
    const FusedOpInfo* info = nullptr;
    for (const FusedOpInfo& candidate : FusedOps()) {
      if (op_name == candidate.name) info = &candidate;
    }
    if (!info) return InvalidArgument("unknown instruction '", op_name, "'");
    if (!Consume('(')) return InvalidArgument("expected '(' after ", op_name);
    FusedInstr instr{info->op, {}};
    const int arity = info->tensor_args + info->immediate_args;
    for (int a = 0; a < arity; ++a) {
      if (a > 0 && !Consume(',')) return InvalidArgument(op_name, " takes ", arity, " arguments");
      ASSIGN_OR_RETURN(FusedOperand operand, Operand(defined));
      if (a >= info->tensor_args && operand.kind != FusedOperand::kImmediate) {
        return InvalidArgument(op_name, " argument ", a + 1, " must be a number");
      }
      if (operand.kind == FusedOperand::kInput) program.num_inputs = std::max(program.num_inputs, operand.index + 1);
      instr.args.push_back(operand);
    }
    if (!Consume(')')) return InvalidArgument(op_name, " takes ", arity, " arguments");
    program.instrs.push_back(std::move(instr));
    return Status::Ok();
  }

  const std::string& text_;
  size_t pos_ = 0;
};

}  // namespace

StatusOr<FusedProgram> ParseFusedProgram(const std::string& text) { return Parser(text).Parse(); }

std::string FormatFusedProgram(const FusedProgram& program) {
  std::string out;
  char number[32];
  for (size_t k = 0; k < program.instrs.size(); ++k) {
    const FusedInstr& instr = program.instrs[k];
    out += (k ? "; t" : "t") + std::to_string(k) + "=" + GetFusedOpInfo(instr.op).name + "(";
    for (size_t a = 0; a < instr.args.size(); ++a) {
      const FusedOperand& operand = instr.args[a];
      if (a) out += ",";
      switch (operand.kind) {
        case FusedOperand::kInput: out += "i" + std::to_string(operand.index); break;
        case FusedOperand::kTemp: out += "t" + std::to_string(operand.index); break;
        case FusedOperand::kImmediate:
          std::snprintf(number, sizeof(number), "%.9g", static_cast<double>(operand.value));  // round-trips a float
          out += number;
          break;
      }
    }
    out += ")";
  }
  for (size_t n = 0; n < program.outputs.size(); ++n) {
    out += "; o" + std::to_string(n) + "=t" + std::to_string(program.outputs[n]);
  }
  return out;
}

StatusOr<FusedGeometry> ComputeFusedGeometry(const std::vector<Dims>& inputs, const Dims& iteration) {
  const size_t rank = iteration.size();
  FusedGeometry g;
  g.outer_strides.assign(inputs.size(), {});
  g.inner_stride.assign(inputs.size(), 1);
  // Per kept (extent > 1) dim: its extent and, per input, whether the input broadcasts along it.
  std::vector<int64_t> extents;
  std::vector<std::vector<bool>> broadcast;
  for (size_t d = 0; d < rank; ++d) {
    if (iteration[d] == 0) return g;  // nothing to compute: zero iterations
  }
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k].size() > rank) {
      return InvalidArgument("input ", k, " ", DimsToString(inputs[k]), " has a higher rank than ",
                             DimsToString(iteration));
    }
    for (size_t i = 0; i < inputs[k].size(); ++i) {
      const int64_t e = inputs[k][i], d = iteration[rank - inputs[k].size() + i];
      if (e != 1 && e != d) {
        return InvalidArgument("input ", k, " ", DimsToString(inputs[k]), " does not broadcast to ",
                               DimsToString(iteration));
      }
    }
  }
  for (size_t d = 0; d < rank; ++d) {
    if (iteration[d] == 1) continue;
    std::vector<bool> flags(inputs.size());
    for (size_t k = 0; k < inputs.size(); ++k) {
      const size_t offset = rank - inputs[k].size();
      flags[k] = d < offset || inputs[k][d - offset] == 1;
    }
    if (!extents.empty() && broadcast.back() == flags) {
      extents.back() *= iteration[d];  // merge: every input walks both dims alike
    } else {
      extents.push_back(iteration[d]);
      broadcast.push_back(flags);
    }
  }
  if (extents.empty()) {  // a single element
    extents.push_back(1);
    broadcast.push_back(std::vector<bool>(inputs.size(), false));
  }
  const size_t m = extents.size();
  g.inner = extents.back();
  g.outer.assign(extents.begin(), extents.end() - 1);
  for (size_t k = 0; k < inputs.size(); ++k) {
    std::vector<int64_t> strides(m, 0);
    int64_t stride = 1;
    for (size_t j = m; j-- > 0;) {
      if (broadcast[j][k]) continue;
      strides[j] = stride;
      stride *= extents[j];
    }
    g.inner_stride[k] = strides.back();
    g.outer_strides[k].assign(strides.begin(), strides.end() - 1);
  }
  // Long runs are cut so that one big tensor still spreads over the threads.
  constexpr int64_t kMaxChunk = 8192;
  g.chunk = std::min(g.inner, kMaxChunk);
  g.chunks = (g.inner + g.chunk - 1) / g.chunk;
  g.iterations = ElementCount(g.outer) * g.chunks;
  return g;
}

StatusOr<FusedReduceKind> ParseFusedReduceKind(const std::string& name) {
  for (FusedReduceKind k : {FusedReduceKind::kSoftmax, FusedReduceKind::kLogSoftmax, FusedReduceKind::kSum}) {
    if (name == FusedReduceKindName(k)) return k;
  }
  return InvalidArgument("unknown reduction '", name, "' (softmax, log_softmax, sum)");
}

const char* FusedReduceKindName(FusedReduceKind kind) {
  switch (kind) {
    case FusedReduceKind::kSoftmax: return "softmax";
    case FusedReduceKind::kLogSoftmax: return "log_softmax";
    case FusedReduceKind::kSum: return "sum";
  }
  return "?";
}

StatusOr<FusedReductionGeometry> ComputeFusedReductionGeometry(const Attrs& attrs, const FusedProgram& program,
                                                               const std::vector<Dims>& inputs) {
  FusedReductionGeometry g;
  ASSIGN_OR_RETURN(g.kind, ParseFusedReduceKind(attrs.GetString("reduce", "")));
  g.operand = static_cast<int>(attrs.GetInt("operand", -1));
  if (g.operand < 0 || g.operand >= static_cast<int>(program.instrs.size())) {
    return InvalidArgument("operand t", g.operand, " is not a temporary of the program (", program.instrs.size(),
                           " instructions)");
  }
  if (program.num_inputs > static_cast<int>(inputs.size())) {
    return InvalidArgument("the program reads i", program.num_inputs - 1, " but there are ", inputs.size(), " inputs");
  }
  for (const Dims& d : inputs) {
    auto b = BroadcastDims(g.iteration, d);
    if (!b.ok()) return b.status();
    g.iteration = *b;
  }
  const Dims& s = g.iteration;
  const int rank = static_cast<int>(s.size());
  if (rank == 0) return InvalidArgument("the iteration shape is a scalar: nothing to reduce along");
  // The view's parts as [first, end) ranges of S's axes.
  int split0 = rank - 1, split1 = rank;  // softmaxes: [0, rank-1) | rank-1 | none
  if (g.kind == FusedReduceKind::kSum) {
    const int64_t axis = attrs.GetInt("axis", -1);
    if (axis < 0 || axis >= rank) return InvalidArgument("axis ", axis, " is not an axis of ", DimsToString(s));
    split0 = static_cast<int>(axis);
    split1 = split0 + 1;
    if (attrs.GetInt("keepdims", 0) != 0) {
      g.output.assign(rank, 1);
      g.output[axis] = s[axis];
    } else {
      g.output = {s[axis]};
    }
  } else {
    g.output = s;
  }
  auto extent = [&](const Dims& d, int first, int end) {
    int64_t n = 1;
    for (int i = first; i < end; ++i) n *= d[i];
    return n;
  };
  g.outer = extent(s, 0, split0);
  g.middle = extent(s, split0, split1);
  g.inner = extent(s, split1, rank);
  for (int d = 0; d < split0; ++d) {
    if (s[d] != 1) g.outer_dims.push_back(s[d]);
  }
  for (size_t k = 0; k < inputs.size(); ++k) {
    Dims padded(rank - inputs[k].size(), 1);
    padded.insert(padded.end(), inputs[k].begin(), inputs[k].end());
    std::vector<int64_t> axis_stride(rank, 0);  // the input's element stride along each axis of S (0: broadcast)
    for (int d = rank - 1, stride = 1; d >= 0; stride *= static_cast<int>(padded[d]), --d) {
      axis_stride[d] = padded[d] == 1 ? 0 : stride;
    }
    std::vector<int64_t> outer;
    for (int d = 0; d < split0; ++d) {
      if (s[d] != 1) outer.push_back(axis_stride[d]);
    }
    g.outer_strides.push_back(std::move(outer));
    // The inner part is one contiguous run: whole (its own trailing dims) or broadcast.
    const int64_t own_inner = extent(padded, split1, rank);
    if (own_inner != 1 && own_inner != g.inner) {
      return InvalidArgument("input ", k, " ", DimsToString(inputs[k]), " neither spans nor broadcasts over axes [",
                             split1, ", ", rank, ") of ", DimsToString(s));
    }
    g.strides.push_back({axis_stride[split0], own_inner == 1 ? 0 : 1});
  }
  const bool empty = ElementCount(s) == 0;
  g.iterations = empty ? 0 : g.kind == FusedReduceKind::kSum ? g.middle : g.outer;
  return g;
}

StatusOr<FusedStepRows> ComputeFusedStepRows(const std::string& op_type, const Attrs& attrs,
                                             const std::vector<Dims>& inputs, const Dims& output) {
  FusedStepRows step;
  ASSIGN_OR_RETURN(step.program, ParseFusedProgram(attrs.GetString("program", "")));
  if (op_type == "FusedReduction") {
    ASSIGN_OR_RETURN(step.reduction, ComputeFusedReductionGeometry(attrs, step.program, inputs));
    step.rows = step.reduction->iterations;
  } else {
    ASSIGN_OR_RETURN(step.elementwise, ComputeFusedGeometry(inputs, output));
    step.rows = step.elementwise.iterations;
  }
  return step;
}

StatusOr<FusedLossGeometry> ComputeFusedLossGeometry(const Attrs& attrs, const std::vector<TensorType>& inputs,
                                                     const std::vector<TensorType>& outputs) {
  if (inputs.size() != 3 || outputs.size() < 2 || outputs.size() > 3) {
    return InvalidArgument("a fused loss has 3 inputs and 2 or 3 outputs, got ", inputs.size(), " and ",
                           outputs.size());
  }
  FusedLossGeometry g;
  g.sparse = attrs.GetInt("sparse", 0) != 0;
  g.bias = outputs.size() == 3;
  const TensorType& logits = inputs[1];
  if (logits.dtype != proto::DT_FLOAT || logits.dims.size() != 2) {
    return InvalidArgument("logits must be float32 [N, C], got ", DTypeName(logits.dtype), " ",
                           DimsToString(logits.dims));
  }
  g.batch = logits.dims[0];
  g.classes = logits.dims[1];
  auto expect = [](const TensorType& t, DType dtype, int64_t count, const char* what) -> Status {
    if (t.dtype != dtype || ElementCount(t.dims) != count) {
      return InvalidArgument(what, " must be ", DTypeName(dtype), " with ", count, " elements, got ",
                             DTypeName(t.dtype), " ", DimsToString(t.dims));
    }
    return Status::Ok();
  };
  const int64_t elements = g.batch * g.classes;
  RETURN_IF_ERROR(expect(inputs[0], proto::DT_FLOAT, 1, "dLoss"));
  RETURN_IF_ERROR(g.sparse ? expect(inputs[2], proto::DT_INT64, g.batch, "the labels")
                           : expect(inputs[2], proto::DT_FLOAT, elements, "the target"));
  RETURN_IF_ERROR(expect(outputs[0], proto::DT_FLOAT, 1, "the loss"));
  RETURN_IF_ERROR(expect(outputs[1], proto::DT_FLOAT, elements, "dLogits"));
  if (g.bias) RETURN_IF_ERROR(expect(outputs[2], proto::DT_FLOAT, g.classes, "dBias"));
  return g;
}

int64_t FusedReductionGeometry::OuterOffset(size_t input, int64_t o) const {
  int64_t offset = 0;
  for (size_t d = outer_dims.size(); d-- > 0;) {
    offset += (o % outer_dims[d]) * outer_strides[input][d];
    o /= outer_dims[d];
  }
  return offset;
}

}  // namespace kiln
