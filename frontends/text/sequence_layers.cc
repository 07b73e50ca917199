// The sequence layers of the shorthand: embedding, simple_rnn / lstm / gru and
// the bidirectional wrapper, expanded Keras-style onto the ONNX ops (Gather; RNN,
// LSTM, GRU with layout 1, so [batch, time, features] needs no transpose).
//
// Weights are stored in the ONNX op's layout, one tensor per Keras weight, so that
// `kiln dump` counts parameters as Keras does:
//   kernel [D, G*H, I], recurrent_kernel [D, G*H, H] and bias [D, G*H], padded
//   with zeros for the recurrent half of ONNX's B; a reset_after GRU (Keras 2's
//   default) has two biases, bias [D, 2*G*H], which is ONNX's B as it is
//   (linear_before_reset=1). D is 2 for bidirectional, G the gates per unit.
#include <algorithm>
#include <cstdint>
#include <limits>

#include "frontends/text/layer_builder.h"
#include "ir/core/ops/recurrent.h"

namespace kiln::text {
namespace {

constexpr int64_t kOnnxInt64 = 7;  // TensorProto.INT64, Cast's `to`

Tensor Int64s(const Dims& dims, std::vector<int64_t> values) {
  return Tensor::FromVector(proto::DT_INT64, dims, std::move(values));
}

// A Keras activation name -> the ONNX recurrent activation name.
StatusOr<std::string> RecurrentActivation(const std::string& keras, const std::string& fallback, const char* field) {
  std::string f = Lower(keras);
  f.erase(std::remove(f.begin(), f.end(), '_'), f.end());
  if (f.empty()) return fallback;
  static const std::pair<const char*, const char*> kNames[] = {
      {"tanh", "Tanh"},         {"sigmoid", "Sigmoid"},   {"relu", "Relu"}, {"hardsigmoid", "HardSigmoid"},
      {"softsign", "Softsign"}, {"softplus", "Softplus"}, {"elu", "Elu"},   {"linear", "Affine"}};
  for (const auto& [name, onnx] : kNames) {
    if (f == name) return std::string(onnx);
  }
  return InvalidArgument("unknown ", field, " '", keras,
                         "' (expected tanh, sigmoid, relu, hard_sigmoid, softsign, softplus, elu or linear)");
}

// How the two directions of a bidirectional layer are merged.
enum class Merge { kConcat, kSum, kAverage };

// Reshapes [N, ..., D, H] to [N, ..., D*H] (the last two axes joined).
StatusOr<Value*> JoinLastTwo(Builder& b, Value* v, const std::string& suffix, bool last) {
  const size_t rank = v->dims().size();
  std::vector<int64_t> shape(rank - 1, 0);  // 0 copies the input's dimension
  shape.back() = -1;
  Value* s = b.Constant(suffix + "_shape", Int64s({static_cast<int64_t>(shape.size())}, shape));
  return b.Emit("Reshape", suffix, {v, s}, {}, last);
}

// [N, ..., D, H] -> [N, ..., H] or [N, ..., D*H] as `merge` says (D = 1: a reshape).
StatusOr<Value*> MergeDirections(Builder& b, Value* v, Merge merge, int64_t directions, const std::string& suffix,
                                 bool last) {
  const int64_t axis = static_cast<int64_t>(v->dims().size()) - 2;
  if (directions == 1 || merge == Merge::kConcat) return JoinLastTwo(b, v, suffix, last);
  Attrs attrs;
  attrs.SetInt("keepdims", 0);
  if (merge == Merge::kAverage) {
    attrs.SetInts("axes", {axis});
    return b.Emit("ReduceMean", suffix, {v}, attrs, last);
  }
  Value* axes = b.Constant(suffix + "_axes", Int64s({1}, {axis}));
  return b.Emit("ReduceSum", suffix, {v, axes}, attrs, last);
}

// Reverses axis 1 (time) of a [N, T, F] value.
StatusOr<Value*> ReverseTime(Builder& b, Value* v, bool last) {
  Value* starts = b.Constant("reverse_starts", Int64s({1}, {-1}));
  Value* ends = b.Constant("reverse_ends", Int64s({1}, {std::numeric_limits<int64_t>::min()}));
  Value* axes = b.Constant("reverse_axes", Int64s({1}, {1}));
  Value* steps = b.Constant("reverse_steps", Int64s({1}, {-1}));
  return b.Emit("Slice", "ReverseTime", {v, starts, ends, axes, steps}, {}, last);
}

// An initial state [batch, units] as the op's [batch, 1, units] (layout 1, one direction).
StatusOr<Value*> InitialState(Builder& b, Value* state, int64_t batch, int64_t units, const char* what) {
  if (state->dtype() != proto::DT_FLOAT || state->dims() != Dims{batch, units}) {
    return b.Error("initial state ", what, " '", state->name(), "' must be float32[", batch, ", ", units, "], got ",
                   state->type().ToString());
  }
  Value* shape = b.Constant(std::string("initial_") + what + "_shape", Int64s({3}, {0, 1, units}));
  return b.Emit("Reshape", std::string("Initial_") + what, {state, shape}, {}, false);
}

StatusOr<Value*> ExpandCell(Builder& b, proto::Layer::KindCase kind_case, const proto::Recurrent& r, Value* x,
                            bool bidirectional, Merge merge, const std::vector<Value*>& initial_state = {}) {
  using recurrent::CellKind;
  const CellKind kind = kind_case == proto::Layer::kLstm  ? CellKind::kLstm
                        : kind_case == proto::Layer::kGru ? CellKind::kGru
                                                          : CellKind::kRnn;
  if (r.units() <= 0) return b.Error("units must be positive, got ", r.units());
  if (x->dims().size() != 3 || x->dtype() != proto::DT_FLOAT) {
    return b.Error("needs a float32 [batch, time, features] input, got ", x->type().ToString());
  }
  if (x->dims()[1] < 1) return b.Error("needs at least one time step, got ", x->type().ToString());
  if (r.recurrent_dropout() != 0.0f) return b.Error("recurrent_dropout is not supported (only 0)");
  if (!(r.dropout() >= 0.0f && r.dropout() < 1.0f)) return b.Error("dropout must be in [0, 1), got ", r.dropout());
  if (kind != CellKind::kGru && r.has_reset_after()) return b.Error("reset_after applies to gru only");
  if (kind != CellKind::kLstm && r.has_unit_forget_bias()) return b.Error("unit_forget_bias applies to lstm only");
  if (kind == CellKind::kRnn && !r.recurrent_activation().empty()) {
    return b.Error("recurrent_activation applies to lstm and gru only");
  }
  if (bidirectional && r.go_backwards()) return b.Error("go_backwards cannot be set inside bidirectional");

  auto act = RecurrentActivation(r.activation(), "Tanh", "activation");
  if (!act.ok()) return b.Wrap(act.status());
  auto gate_act = RecurrentActivation(r.recurrent_activation(), "Sigmoid", "recurrent_activation");
  if (!gate_act.ok()) return b.Wrap(gate_act.status());
  auto kernel_init = ResolveInitializer(r.kernel_init(), InitKind::kGlorotUniform, "kernel_init");
  if (!kernel_init.ok()) return b.Wrap(kernel_init.status());
  auto recurrent_init = ResolveInitializer(r.recurrent_init(), InitKind::kGlorotUniform, "recurrent_init");
  if (!recurrent_init.ok()) return b.Wrap(recurrent_init.status());
  auto bias_init = ResolveInitializer(r.bias_init(), InitKind::kZeros, "bias_init");
  if (!bias_init.ok()) return b.Wrap(bias_init.status());

  if (r.dropout() > 0.0f) {
    Value* ratio =
        b.Constant("dropout_ratio", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{r.dropout()}));
    ASSIGN_OR_RETURN(x, b.Emit("Dropout", "Dropout", {x, ratio}, {}, false));
  }

  const int64_t D = bidirectional ? 2 : 1, H = r.units(), I = x->dims()[2];
  const int64_t G = recurrent::NumGates(kind);
  const bool two_biases = kind == CellKind::kGru && (!r.has_reset_after() || r.reset_after());
  ASSIGN_OR_RETURN(Value * kernel, b.Weight("kernel", {D, G * H, I}, *kernel_init, I, G * H));
  ASSIGN_OR_RETURN(Value * recurrent_kernel, b.Weight("recurrent_kernel", {D, G * H, H}, *recurrent_init, H, G * H));
  // Keras starts the LSTM forget gate's bias at 1 (ONNX gate order i, o, f, c: rows [2H, 3H)).
  std::function<void(Tensor&)> forget_bias;
  if (kind == CellKind::kLstm && (!r.has_unit_forget_bias() || r.unit_forget_bias())) {
    forget_bias = [=](Tensor& t) {
      float* p = t.mutable_data_as<float>();
      for (int64_t d = 0; d < D; ++d) std::fill(p + d * G * H + 2 * H, p + d * G * H + 3 * H, 1.0f);
    };
  }
  const int64_t bias_width = two_biases ? 2 * G * H : G * H;
  ASSIGN_OR_RETURN(Value * bias,
                   b.Weight("bias", {D, bias_width}, *bias_init, bias_width, bias_width, true, forget_bias));
  Value* onnx_bias = bias;
  if (!two_biases) {
    // ONNX's B is [Wb, Rb]: Rb as zero padding, so no float constant adds to the parameter count.
    Value* pads = b.Constant("bias_pads", Int64s({4}, {0, 0, 0, G * H}));
    ASSIGN_OR_RETURN(onnx_bias, b.Emit("Pad", "Bias", {bias, pads}, {}, false));
  }

  Attrs attrs;
  attrs.SetInt("hidden_size", H);
  attrs.SetInt("layout", 1);
  attrs.SetString("direction", bidirectional ? "bidirectional" : r.go_backwards() ? "reverse" : "forward");
  std::vector<std::string> per_direction = {*act};
  if (kind == CellKind::kGru) per_direction = {*gate_act, *act};
  if (kind == CellKind::kLstm) per_direction = {*gate_act, *act, *act};
  std::vector<std::string> activations;
  for (int64_t d = 0; d < D; ++d) activations.insert(activations.end(), per_direction.begin(), per_direction.end());
  attrs.SetStrings("activations", activations);
  if (kind == CellKind::kGru) attrs.SetInt("linear_before_reset", two_biases ? 1 : 0);
  std::vector<Value*> op_inputs = {x, kernel, recurrent_kernel, onnx_bias};
  if (!initial_state.empty()) {
    const size_t states = kind == CellKind::kLstm ? 2 : 1;
    if (initial_state.size() != states) {
      return b.Error("initial_state takes ", states == 2 ? "[h, c]" : "[h]", ", got ", initial_state.size(), " value",
                     initial_state.size() == 1 ? "" : "s");
    }
    op_inputs.push_back(nullptr);  // sequence_lens
    ASSIGN_OR_RETURN(Value * h, InitialState(b, initial_state[0], x->dims()[0], H, "h"));
    op_inputs.push_back(h);
    if (states == 2) {
      ASSIGN_OR_RETURN(Value * c, InitialState(b, initial_state[1], x->dims()[0], H, "c"));
      op_inputs.push_back(c);
    }
  }
  const std::string op = kind == CellKind::kLstm ? "LSTM" : kind == CellKind::kGru ? "GRU" : "RNN";
  const bool cell_state = kind == CellKind::kLstm && r.return_state();
  std::vector<std::string> outs = {"", ""};
  if (cell_state) outs.push_back("");
  ASSIGN_OR_RETURN(std::vector<Value*> y, b.EmitNamed(op, op, op_inputs, attrs, outs));

  // Y [N, T, D, H]; Y_h and Y_c [N, D, H].
  if (r.return_state()) {
    RETURN_IF_ERROR(JoinLastTwo(b, y[recurrent::kYH], "state_h", false).status());
    if (cell_state) RETURN_IF_ERROR(JoinLastTwo(b, y[recurrent::kYC], "state_c", false).status());
  }
  if (!r.return_sequences()) return MergeDirections(b, y[recurrent::kYH], merge, D, "Output", true);
  if (!r.go_backwards()) return MergeDirections(b, y[recurrent::kY], merge, D, "Output", true);
  // Keras returns a backward layer's sequence in the order it was computed.
  ASSIGN_OR_RETURN(Value * seq, MergeDirections(b, y[recurrent::kY], merge, D, "Sequence", false));
  return ReverseTime(b, seq, true);
}

}  // namespace

StatusOr<Value*> ExpandEmbedding(Builder& b, const proto::Embedding& e, Value* x) {
  if (e.input_dim() <= 0) return b.Error("input_dim (the vocabulary size) must be positive, got ", e.input_dim());
  if (e.output_dim() <= 0) return b.Error("output_dim must be positive, got ", e.output_dim());
  if (x->dims().empty()) return b.Error("needs token ids of rank >= 1 ([batch, time]), got a scalar");
  const DType t = x->dtype();
  if (t != proto::DT_FLOAT && t != proto::DT_INT64 && t != proto::DT_INT32) {
    return b.Error("token ids must be float32, int32 or int64, got ", x->type().ToString());
  }
  // Keras' default: uniform(-0.05, 0.05).
  auto init = ResolveInitializer(e.embeddings_init(), InitKind::kUniform, "embeddings_init");
  if (!init.ok()) return b.Wrap(init.status());
  ASSIGN_OR_RETURN(Value * table,
                   b.Weight("embeddings", {e.input_dim(), e.output_dim()}, *init, e.input_dim(), e.output_dim()));
  Value* ids = x;
  if (t == proto::DT_FLOAT) {
    // Training data are float32; ids are whole numbers (checked against the vocabulary with the data).
    Attrs cast;
    cast.SetInt("to", kOnnxInt64);
    ASSIGN_OR_RETURN(ids, b.Emit("Cast", "Ids", {x}, cast, false));
  }
  Attrs gather;
  gather.SetInt("axis", 0);
  return b.Emit("Gather", "Gather", {table, ids}, gather, true);
}

StatusOr<Value*> ExpandRecurrent(Builder& b, proto::Layer::KindCase kind, const proto::Recurrent& r, Value* x,
                                 const std::vector<Value*>& initial_state) {
  return ExpandCell(b, kind, r, x, false, Merge::kConcat, initial_state);
}

StatusOr<Value*> ExpandBidirectional(Builder& b, const proto::Bidirectional& bi, Value* x) {
  const std::string mode = Lower(bi.merge_mode());
  Merge merge;
  if (mode.empty() || mode == "concat") {
    merge = Merge::kConcat;
  } else if (mode == "sum") {
    merge = Merge::kSum;
  } else if (mode == "ave" || mode == "mean") {
    merge = Merge::kAverage;
  } else {
    return b.Error("merge_mode must be concat, sum or ave, got '", bi.merge_mode(), "'");
  }
  switch (bi.layer_case()) {
    case proto::Bidirectional::kSimpleRnn:
      return ExpandCell(b, proto::Layer::kSimpleRnn, bi.simple_rnn(), x, true, merge);
    case proto::Bidirectional::kLstm: return ExpandCell(b, proto::Layer::kLstm, bi.lstm(), x, true, merge);
    case proto::Bidirectional::kGru: return ExpandCell(b, proto::Layer::kGru, bi.gru(), x, true, merge);
    case proto::Bidirectional::LAYER_NOT_SET: break;
  }
  return b.Error("needs the layer to wrap: simple_rnn, lstm or gru");
}

}  // namespace kiln::text
