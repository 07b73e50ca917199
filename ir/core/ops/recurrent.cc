// Recurrent ops with ONNX semantics: RNN, GRU, LSTM (every attribute of opsets
// 7-22: direction, layout, activations with alpha/beta, clip, linear_before_reset,
// input_forget; optional B, sequence_lens, initial states and peepholes).
#include "ir/core/ops/recurrent.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"

namespace kiln {
namespace recurrent {
namespace {

struct ActivationInfo {
  const char* name;  // as ONNX spells it; matched case-insensitively (as ONNX Runtime does)
  Activation::Kind kind;
  bool uses_alpha, uses_beta;
  double default_alpha, default_beta;  // those of the ONNX op of the same name
};

constexpr ActivationInfo kActivations[] = {
    {"Relu", Activation::kRelu, false, false, 0, 0},
    {"Tanh", Activation::kTanh, false, false, 0, 0},
    {"Sigmoid", Activation::kSigmoid, false, false, 0, 0},
    {"Affine", Activation::kAffine, true, true, 1.0, 0.0},
    {"LeakyRelu", Activation::kLeakyRelu, true, false, 0.01, 0},
    {"ThresholdedRelu", Activation::kThresholdedRelu, true, false, 1.0, 0},
    {"ScaledTanh", Activation::kScaledTanh, true, true, 1.0, 1.0},
    {"HardSigmoid", Activation::kHardSigmoid, true, true, 0.2, 0.5},
    {"Elu", Activation::kElu, true, false, 1.0, 0},
    {"Softsign", Activation::kSoftsign, false, false, 0, 0},
    {"Softplus", Activation::kSoftplus, false, false, 0, 0},
};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

const char* DirectionName(const Geometry& g) {
  return g.directions == 2 ? "bidirectional" : g.reverse ? "reverse" : "forward";
}

// The ONNX defaults: RNN (Tanh), GRU (Sigmoid, Tanh), LSTM (Sigmoid, Tanh, Tanh), per direction.
std::vector<std::string> DefaultActivations(CellKind kind, int64_t directions) {
  std::vector<std::string> one;
  switch (kind) {
    case CellKind::kRnn: one = {"Tanh"}; break;
    case CellKind::kGru: one = {"Sigmoid", "Tanh"}; break;
    case CellKind::kLstm: one = {"Sigmoid", "Tanh", "Tanh"}; break;
  }
  std::vector<std::string> all;
  for (int64_t d = 0; d < directions; ++d) all.insert(all.end(), one.begin(), one.end());
  return all;
}

// activations / activation_alpha / activation_beta: alpha and beta values are
// consumed in list order by the functions that take them.
Status ResolveActivations(const Attrs& attrs, Geometry& g) {
  const size_t per_direction = NumActivations(g.kind);
  const size_t expected = per_direction * g.directions;
  std::vector<std::string> names = attrs.GetStrings("activations", DefaultActivations(g.kind, g.directions));
  // ONNX's own RNN default lists two (forward and backward) even for one direction.
  if (names.size() == 2 * per_direction && g.directions == 1) names.resize(per_direction);
  if (names.size() != expected) {
    return InvalidArgument("activations has ", names.size(), " functions but direction=", DirectionName(g), " needs ",
                           expected, " (", per_direction, " per direction)");
  }
  const std::vector<float> alphas = attrs.GetFloats("activation_alpha");
  const std::vector<float> betas = attrs.GetFloats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  for (const std::string& name : names) {
    const ActivationInfo* info = nullptr;
    for (const ActivationInfo& a : kActivations) {
      if (Lower(a.name) == Lower(name)) info = &a;
    }
    if (!info) {
      return InvalidArgument("unknown activation '", name,
                             "' (supported: Relu, Tanh, Sigmoid, Affine, LeakyRelu, ThresholdedRelu, ScaledTanh, "
                             "HardSigmoid, Elu, Softsign, Softplus)");
    }
    Activation act{info->kind, info->default_alpha, info->default_beta};
    if (info->uses_alpha && next_alpha < alphas.size()) act.alpha = alphas[next_alpha++];
    if (info->uses_beta && next_beta < betas.size()) act.beta = betas[next_beta++];
    g.activations.push_back(act);
  }
  if (next_alpha < alphas.size() || next_beta < betas.size()) {
    return InvalidArgument("activation_alpha/activation_beta have ", alphas.size(), "/", betas.size(),
                           " values but the activations take ", next_alpha, "/", next_beta);
  }
  return Status::Ok();
}

Status ExpectDims(const std::vector<const Dims*>& inputs, int i, const char* name, const Dims& expected,
                  const char* meaning) {
  if (i >= static_cast<int>(inputs.size()) || !inputs[i]) return Status::Ok();
  if (*inputs[i] != expected) {
    return InvalidArgument(name, " has shape ", DimsToString(*inputs[i]), " but must be ", meaning, " = ",
                           DimsToString(expected));
  }
  return Status::Ok();
}

}  // namespace

int NumGates(CellKind kind) { return kind == CellKind::kRnn ? 1 : kind == CellKind::kGru ? 3 : 4; }
int NumActivations(CellKind kind) { return kind == CellKind::kRnn ? 1 : kind == CellKind::kGru ? 2 : 3; }

double Activation::Apply(double x) const {
  switch (kind) {
    case kRelu: return x > 0 ? x : 0;
    case kTanh: return std::tanh(x);
    case kSigmoid: return 1 / (1 + std::exp(-x));
    case kAffine: return alpha * x + beta;
    case kLeakyRelu: return x >= 0 ? x : alpha * x;
    case kThresholdedRelu: return x > alpha ? x : 0;
    case kScaledTanh: return alpha * std::tanh(beta * x);
    case kHardSigmoid: return std::max(0.0, std::min(1.0, alpha * x + beta));
    case kElu: return x >= 0 ? x : alpha * (std::exp(x) - 1);
    case kSoftsign: return x / (1 + std::fabs(x));
    case kSoftplus: return x > 30 ? x : std::log1p(std::exp(x));
  }
  return x;
}

double Activation::Derivative(double x) const {
  switch (kind) {
    case kRelu: return x > 0 ? 1 : 0;
    case kTanh: {
      const double t = std::tanh(x);
      return 1 - t * t;
    }
    case kSigmoid: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 - s);
    }
    case kAffine: return alpha;
    case kLeakyRelu: return x >= 0 ? 1 : alpha;
    case kThresholdedRelu: return x > alpha ? 1 : 0;
    case kScaledTanh: {
      const double t = std::tanh(beta * x);
      return alpha * beta * (1 - t * t);
    }
    case kHardSigmoid: {
      const double v = alpha * x + beta;
      return v > 0 && v < 1 ? alpha : 0;
    }
    case kElu: return x >= 0 ? 1 : alpha * std::exp(x);
    case kSoftsign: return 1 / ((1 + std::fabs(x)) * (1 + std::fabs(x)));
    case kSoftplus: return 1 / (1 + std::exp(-x));
  }
  return 1;
}

int GradInputBase(CellKind kind) { return kind == CellKind::kLstm ? 8 : 6; }
int NumGradOutputs(CellKind kind) { return kind == CellKind::kLstm ? 7 : 5; }
int GradOutputInput(int output) { return output < 4 ? output : output + 1; }
bool ComputesInputGradient(const Attrs& grad_attrs) { return grad_attrs.GetInt("x_gradient", 1) != 0; }
int GradWorkspaceInput() { return GradInputBase(CellKind::kLstm) + 3; }

Dims Geometry::OutputDims() const {
  return batch_first ? Dims{batch, seq_length, directions, hidden} : Dims{seq_length, directions, batch, hidden};
}

Dims Geometry::StateDims() const {
  return batch_first ? Dims{batch, directions, hidden} : Dims{directions, batch, hidden};
}

Dims Geometry::WorkspaceDims() const {
  return batch_first ? Dims{directions, batch, seq_length, kWorkspaceParts * hidden}
                     : Dims{directions, seq_length, batch, kWorkspaceParts * hidden};
}

StatusOr<Geometry> ResolveGeometry(CellKind kind, const Attrs& attrs, const std::vector<const Dims*>& inputs) {
  Geometry g;
  g.kind = kind;
  const std::string direction = attrs.GetString("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional") {
    return InvalidArgument("direction must be forward, reverse or bidirectional, got '", direction, "'");
  }
  g.directions = direction == "bidirectional" ? 2 : 1;
  g.reverse = direction == "reverse";
  const int64_t layout = attrs.GetInt("layout", 0);
  if (layout != 0 && layout != 1) return InvalidArgument("layout must be 0 or 1, got ", layout);
  g.batch_first = layout == 1;
  if (attrs.Has("clip")) {
    g.clip = attrs.GetFloat("clip", 0);
    if (!(g.clip > 0)) return InvalidArgument("clip must be positive, got ", g.clip);
  }
  const int64_t lbr = attrs.GetInt("linear_before_reset", 0);
  if (lbr != 0 && lbr != 1) return InvalidArgument("linear_before_reset must be 0 or 1, got ", lbr);
  g.linear_before_reset = lbr == 1;
  const int64_t input_forget = attrs.GetInt("input_forget", 0);
  if (input_forget != 0 && input_forget != 1) return InvalidArgument("input_forget must be 0 or 1, got ", input_forget);
  g.input_forget = input_forget == 1;

  const Dims& x = *inputs[kX];
  const Dims& w = *inputs[kW];
  const Dims& r = *inputs[kR];
  if (x.size() != 3) {
    return InvalidArgument("X must have rank 3 (", g.batch_first ? "[batch, seq, input]" : "[seq, batch, input]",
                           "), got shape ", DimsToString(x));
  }
  if (w.size() != 3) return InvalidArgument("W must have rank 3, got shape ", DimsToString(w));
  if (r.size() != 3) return InvalidArgument("R must have rank 3, got shape ", DimsToString(r));
  g.seq_length = g.batch_first ? x[1] : x[0];
  g.batch = g.batch_first ? x[0] : x[1];
  g.input_size = x[2];
  if (g.seq_length == 0) return InvalidArgument("X ", DimsToString(x), " holds empty sequences (length 0)");
  g.hidden = r[2];
  if (attrs.Has("hidden_size") && attrs.GetInt("hidden_size", 0) != g.hidden) {
    return InvalidArgument("hidden_size ", attrs.GetInt("hidden_size", 0), " does not match R ", DimsToString(r),
                           " (hidden size ", g.hidden, ")");
  }
  if (g.hidden < 1) return InvalidArgument("hidden size must be >= 1, got R ", DimsToString(r));
  const int64_t gates = NumGates(kind) * g.hidden;
  const std::string gate_dim = std::to_string(NumGates(kind)) + "*hidden_size";
  if (w[0] != g.directions || r[0] != g.directions) {
    return InvalidArgument("W ", DimsToString(w), " and R ", DimsToString(r), " must have ", g.directions,
                           " direction(s) in dim 0 for direction=", direction);
  }
  RETURN_IF_ERROR(ExpectDims(inputs, kW, "W", {g.directions, gates, g.input_size},
                             ("[num_directions, " + gate_dim + ", input_size]").c_str()));
  RETURN_IF_ERROR(ExpectDims(inputs, kR, "R", {g.directions, gates, g.hidden},
                             ("[num_directions, " + gate_dim + ", hidden_size]").c_str()));
  RETURN_IF_ERROR(
      ExpectDims(inputs, kB, "B", {g.directions, 2 * gates}, ("[num_directions, 2*" + gate_dim + "]").c_str()));
  RETURN_IF_ERROR(ExpectDims(inputs, kSequenceLens, "sequence_lens", {g.batch}, "[batch_size]"));
  const char* state =
      g.batch_first ? "[batch_size, num_directions, hidden_size]" : "[num_directions, batch_size, hidden_size]";
  RETURN_IF_ERROR(ExpectDims(inputs, kInitialH, "initial_h", g.StateDims(), state));
  if (kind == CellKind::kLstm) {
    RETURN_IF_ERROR(ExpectDims(inputs, kInitialC, "initial_c", g.StateDims(), state));
    RETURN_IF_ERROR(
        ExpectDims(inputs, kPeepholes, "P", {g.directions, 3 * g.hidden}, "[num_directions, 3*hidden_size]"));
  }
  RETURN_IF_ERROR(ResolveActivations(attrs, g));
  return g;
}

Status CheckSequenceLengths(const std::vector<int64_t>& lengths, int64_t seq_length) {
  for (size_t b = 0; b < lengths.size(); ++b) {
    if (lengths[b] < 1 || lengths[b] > seq_length) {
      return InvalidArgument("sequence_lens[", b, "] = ", lengths[b], " is outside [1, ", seq_length,
                             "] (the sequence length of X)");
    }
  }
  return Status::Ok();
}

}  // namespace recurrent

namespace {

using recurrent::CellKind;

// The checks the forward and backward ops share: dtypes, the geometry of the
// forward inputs (the first `num_forward` inputs), constant sequence_lens.
StatusOr<recurrent::Geometry> InferForwardInputs(const InferContext& ctx, CellKind kind, int num_forward) {
  RETURN_IF_ERROR(ops::CheckDType(ctx, recurrent::kX, ops::TypeClass::kFloat));
  std::vector<const Dims*> dims(num_forward, nullptr);
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (i < num_forward) dims[i] = &ctx.input_dims(i);
    if (i == recurrent::kSequenceLens) {
      const DType t = ctx.input_dtype(i);
      if (t != proto::DT_INT32 && t != proto::DT_INT64) {
        return ctx.Error("sequence_lens has type ", DTypeName(t), " but must be int32");
      }
    } else {
      RETURN_IF_ERROR(ops::CheckSameDType(ctx, i, recurrent::kX));
    }
  }
  auto geometry = recurrent::ResolveGeometry(kind, ctx.attrs(), dims);
  if (!geometry.ok()) return ctx.Error(geometry.status().message());
  if (const Tensor* lengths = ctx.input_value(recurrent::kSequenceLens)) {
    Status st = recurrent::CheckSequenceLengths(lengths->ToInt64Vector(), geometry->seq_length);
    if (!st.ok()) return ctx.Error(st.message());
  }
  return geometry;
}

Status InferRecurrent(InferContext& ctx, CellKind kind) {
  ASSIGN_OR_RETURN(recurrent::Geometry g, InferForwardInputs(ctx, kind, ctx.num_inputs()));
  const DType t = ctx.input_dtype(recurrent::kX);
  ctx.set_output(recurrent::kY, t, g.OutputDims());
  for (int i = 1; i < ctx.num_outputs(); ++i) {
    ctx.set_output(i, t, i == recurrent::kWorkspace ? g.WorkspaceDims() : g.StateDims());
  }
  return Status::Ok();
}

// RNNGrad / GRUGrad / LSTMGrad: the forward inputs, then dY, dY_h (, dY_c, LSTM's workspace).
// Every output is defined, an absent B / initial state / P being a zero one.
Status InferRecurrentGrad(InferContext& ctx, CellKind kind) {
  const int base = recurrent::GradInputBase(kind);
  ASSIGN_OR_RETURN(recurrent::Geometry g, InferForwardInputs(ctx, kind, base));
  for (int i = base; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    if (kind == CellKind::kLstm && i == recurrent::GradWorkspaceInput()) {
      if (ctx.input_dims(i) != g.WorkspaceDims()) {
        return ctx.Error("the workspace has shape ", DimsToString(ctx.input_dims(i)), " but the forward's is ",
                         DimsToString(g.WorkspaceDims()));
      }
      continue;
    }
    const Dims expected = i == base ? g.OutputDims() : g.StateDims();
    if (ctx.input_dims(i) != expected) {
      return ctx.Error("output gradient ", i - base, " has shape ", DimsToString(ctx.input_dims(i)), " but the ",
                       i == base ? "output Y" : "state output", " is ", DimsToString(expected));
    }
  }
  const int64_t x_gradient = ctx.attrs().GetInt("x_gradient", 1);
  if (x_gradient != 0 && x_gradient != 1) return ctx.Error("x_gradient must be 0 or 1, got ", x_gradient);
  const int64_t gates = recurrent::NumGates(kind) * g.hidden;
  const Dims grad_dims[] = {x_gradient ? ctx.input_dims(recurrent::kX) : Dims{0},
                            {g.directions, gates, g.input_size},
                            {g.directions, gates, g.hidden},
                            {g.directions, 2 * gates},
                            g.StateDims(),
                            g.StateDims(),
                            {g.directions, 3 * g.hidden}};
  for (int o = 0; o < ctx.num_outputs(); ++o) ctx.set_output(o, ctx.input_dtype(recurrent::kX), grad_dims[o]);
  return Status::Ok();
}

Status InferRnnGrad(InferContext& ctx) { return InferRecurrentGrad(ctx, CellKind::kRnn); }
Status InferGruGrad(InferContext& ctx) { return InferRecurrentGrad(ctx, CellKind::kGru); }
Status InferLstmGrad(InferContext& ctx) { return InferRecurrentGrad(ctx, CellKind::kLstm); }

Status InferRnn(InferContext& ctx) { return InferRecurrent(ctx, CellKind::kRnn); }
Status InferGru(InferContext& ctx) { return InferRecurrent(ctx, CellKind::kGru); }
Status InferLstm(InferContext& ctx) { return InferRecurrent(ctx, CellKind::kLstm); }

std::vector<AttrSpec> RecurrentAttrs(std::vector<AttrSpec> extra) {
  std::vector<AttrSpec> attrs = {{"activation_alpha", AttrType::kFloats},
                                 {"activation_beta", AttrType::kFloats},
                                 {"activations", AttrType::kStrings},
                                 {"clip", AttrType::kFloat},
                                 {"direction", AttrType::kString},
                                 {"hidden_size", AttrType::kInt},
                                 {"layout", AttrType::kInt}};
  attrs.insert(attrs.end(), extra.begin(), extra.end());
  return attrs;
}

// One forward op and its backward op; `extra` is the cell's own attribute.
void AddCell(OpRegistry& r, CellKind kind, OpKind forward, OpKind backward, std::vector<AttrSpec> extra,
             InferShapeFn infer, InferShapeFn infer_grad, const std::string& doc, const std::string& grad_doc) {
  const int forward_inputs = recurrent::GradInputBase(kind);
  const int state_outputs = kind == CellKind::kLstm ? 2 : 1;
  const int workspace = kind == CellKind::kLstm ? 1 : 0;  // the training-only output, an input of the Grad op
  std::vector<AttrSpec> with_x_gradient = extra;
  with_x_gradient.push_back({"x_gradient", AttrType::kInt});
  r.Add({.kind = forward,
         .min_inputs = 3,
         .max_inputs = forward_inputs,
         .max_outputs = 1 + state_outputs + workspace,
         .attrs = RecurrentAttrs(extra),
         .infer_shape = infer,
         .doc = doc});
  r.Add({.kind = backward,
         .min_inputs = 3,
         .max_inputs = forward_inputs + 1 + state_outputs + workspace,
         .max_outputs = recurrent::NumGradOutputs(kind),
         .attrs = RecurrentAttrs(with_x_gradient),
         .infer_shape = infer_grad,
         .doc = grad_doc});
}

}  // namespace

void RegisterRecurrentOps(OpRegistry& r) {
  AddCell(r, CellKind::kRnn, OpKind::kRNN, OpKind::kRNNGrad, {}, InferRnn, InferRnnGrad,
          "Elman RNN over X [T, N, I] (layout 1: [N, T, I]): outputs Y, Y_h (ONNX semantics)",
          "BPTT of RNN: (RNN inputs, dY, dY_h) -> dX, dW, dR, dB, d_initial_h");
  AddCell(r, CellKind::kGru, OpKind::kGRU, OpKind::kGRUGrad, {{"linear_before_reset", AttrType::kInt}}, InferGru,
          InferGruGrad, "GRU (gates z, r, h) over X [T, N, I] (layout 1: [N, T, I]): outputs Y, Y_h (ONNX semantics)",
          "BPTT of GRU: (GRU inputs, dY, dY_h) -> dX, dW, dR, dB, d_initial_h");
  AddCell(r, CellKind::kLstm, OpKind::kLSTM, OpKind::kLSTMGrad, {{"input_forget", AttrType::kInt}}, InferLstm,
          InferLstmGrad,
          "LSTM (gates i, o, f, c; optional peepholes) over X [T, N, I]: outputs Y, Y_h, Y_c (ONNX semantics), "
          "and for LSTMGrad alone the workspace (recurrent.h)",
          "BPTT of LSTM: (LSTM inputs, dY, dY_h, dY_c, optional workspace) -> dX, dW, dR, dB, d_initial_h, "
          "d_initial_c, dP");
}

}  // namespace kiln
