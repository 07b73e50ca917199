// RNN, GRU and LSTM, and their backpropagation-through-time ops RNNGrad, GRUGrad
// and LSTMGrad, on oneDNN's vanilla_rnn / gru / lbr_gru / lstm primitives (one
// layer; left2right, right2left or bidirectional_concat).
//
// Layouts. oneDNN runs on [T, N, C] sequences (tnc) and [1, D, N, H] states
// (ldnc). ONNX layout 0 is already that, except a bidirectional Y [T, 2, N, H],
// which a host copy interleaves; layout 1 ([N, T, ...], [N, D, H]) goes through
// reorders. Weights: ONNX W [D, G*H, I] is oneDNN's ldgoi once the gates are in
// oneDNN's order (LSTM i f c o from ONNX i o f c; GRU u r o = ONNX z r h as is),
// and the two ONNX biases Wb + Rb become one (lbr_gru keeps the candidate's Rb
// apart as a fourth gate). A plan-constant weight is converted once, when the
// kernel is built; any other on every run.
//
// Small batches and weights that fit in L2 run on the vector kernels instead
// (vector_recurrent.h: UseVectorKernel; LSTMGrad there without peepholes, and GRUGrad).
//
// What oneDNN's cells do not compute falls back to the reference kernels (the
// builders return Unimplemented): sequence_lens (oneDNN runs every row for T
// steps; sequence_lens is also int32, which the oneDNN factory declines), clip,
// input_forget, activations other than ONNX's defaults (RNN: Tanh, Relu or
// Sigmoid, the same in both directions).
#include <cstring>
#include <memory>

#include "ir/core/ops/recurrent.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/vector_recurrent.h"

namespace kiln::runtime::onednn {
namespace {

using dnnl::algorithm;
using dnnl::prop_kind;
using recurrent::Activation;
using recurrent::CellKind;
using recurrent::Geometry;
using tag = memory::format_tag;

// How a node maps onto one oneDNN RNN primitive.
struct Cell {
  Geometry g;
  algorithm alg = algorithm::vanilla_rnn;          // vanilla_rnn, vanilla_lstm, vanilla_gru, lbr_gru
  algorithm activation = algorithm::eltwise_tanh;  // vanilla_rnn only
  dnnl::rnn_direction direction = dnnl::rnn_direction::unidirectional_left2right;
  std::vector<int> gate_of;  // oneDNN gate k is ONNX gate gate_of[k]
  int64_t bias_gates = 0;    // gates in oneDNN's bias: G, or G + 1 for lbr_gru
  int64_t gates() const { return static_cast<int64_t>(gate_of.size()); }
};

// Peepholes: oneDNN i f o from ONNX P's i o f.
const std::vector<int> kPeepholeOf = {0, 2, 1};

bool Is(const Activation& a, Activation::Kind kind) { return a.kind == kind; }

// The node's geometry from its first `num_forward_inputs` inputs, and whether
// oneDNN's cell computes what ONNX asks for.
StatusOr<Cell> ResolveCell(CellKind kind, const KernelSpec& spec, int num_forward_inputs) {
  std::vector<const Dims*> dims(num_forward_inputs, nullptr);
  for (int i = 0; i < num_forward_inputs && i < static_cast<int>(spec.inputs.size()); ++i) {
    if (spec.has_input(i)) dims[i] = &spec.inputs[i].dims;
  }
  Cell c;
  ASSIGN_OR_RETURN(c.g, recurrent::ResolveGeometry(kind, spec.attrs, dims));
  const Geometry& g = c.g;
  if (spec.has_input(recurrent::kSequenceLens)) return Unimplemented("sequence_lens (oneDNN runs all T steps)");
  if (g.clip > 0) return Unimplemented("clip (oneDNN's cells do not clip)");
  if (g.input_forget) return Unimplemented("input_forget (no coupled-gate LSTM in oneDNN)");
  for (int64_t d = 0; d < g.directions; ++d) {
    switch (kind) {
      case CellKind::kRnn: {
        const Activation& f = g.act(d, 0);
        if (f.kind != g.act(0, 0).kind) return Unimplemented("the directions' activations differ");
        if (Is(f, Activation::kTanh)) {
          c.activation = algorithm::eltwise_tanh;
        } else if (Is(f, Activation::kRelu)) {
          c.activation = algorithm::eltwise_relu;
        } else if (Is(f, Activation::kSigmoid)) {
          c.activation = algorithm::eltwise_logistic;
        } else {
          return Unimplemented("RNN activation other than Tanh, Relu, Sigmoid");
        }
        break;
      }
      case CellKind::kGru:
        if (!Is(g.act(d, 0), Activation::kSigmoid) || !Is(g.act(d, 1), Activation::kTanh)) {
          return Unimplemented("GRU activations other than Sigmoid, Tanh");
        }
        break;
      case CellKind::kLstm:
        if (!Is(g.act(d, 0), Activation::kSigmoid) || !Is(g.act(d, 1), Activation::kTanh) ||
            !Is(g.act(d, 2), Activation::kTanh)) {
          return Unimplemented("LSTM activations other than Sigmoid, Tanh, Tanh");
        }
        break;
    }
  }
  switch (kind) {
    case CellKind::kRnn: c.alg = algorithm::vanilla_rnn, c.gate_of = {0}; break;
    case CellKind::kGru:
      c.alg = g.linear_before_reset ? algorithm::lbr_gru : algorithm::vanilla_gru;
      c.gate_of = {0, 1, 2};
      break;
    case CellKind::kLstm: c.alg = algorithm::vanilla_lstm, c.gate_of = {0, 2, 3, 1}; break;
  }
  c.bias_gates = c.gates() + (c.alg == algorithm::lbr_gru ? 1 : 0);
  c.direction = g.directions == 2 ? dnnl::rnn_direction::bidirectional_concat
                : g.reverse       ? dnnl::rnn_direction::unidirectional_right2left
                                  : dnnl::rnn_direction::unidirectional_left2right;
  return c;
}

// The memory descriptors of one RNN primitive (zero descriptors for what it does not use).
struct RnnDescs {
  memory::desc src_layer, src_iter, src_iter_c, weights_layer, weights_iter, weights_peephole, bias, dst_layer,
      dst_iter, dst_iter_c;
};

memory::desc Sequence(const Geometry& g, int64_t channels) { return PlainDesc({g.seq_length, g.batch, channels}); }
memory::desc State(const Geometry& g) { return PlainDesc({1, g.directions, g.batch, g.hidden}); }
// weights_layer / weights_iter with `rows` input channels, in layout `t`.
memory::desc Weights(const Cell& c, int64_t rows, tag t) {
  return memory::desc({1, c.g.directions, rows, c.gates(), c.g.hidden}, memory::data_type::f32, t);
}
memory::desc Bias(const Cell& c) { return PlainDesc({1, c.g.directions, c.bias_gates, c.g.hidden}); }
memory::desc Peephole(const Cell& c) { return PlainDesc({1, c.g.directions, 3, c.g.hidden}); }

void Check(dnnl_status_t status) { dnnl::error::wrap_c_api(status, "could not create an RNN descriptor"); }

dnnl_rnn_desc_t ForwardDesc(const Cell& c, prop_kind prop, const RnnDescs& m) {
  dnnl_rnn_desc_t d;
  const dnnl_prop_kind_t p = dnnl::convert_to_c(prop);
  const dnnl_rnn_direction_t dir = dnnl::convert_to_c(c.direction);
  const memory::desc none;
  switch (c.alg) {
    case algorithm::vanilla_lstm:
      Check(dnnl_lstm_forward_desc_init_v3(&d, p, dir, &m.src_layer.data, &m.src_iter.data, &m.src_iter_c.data,
                                           &m.weights_layer.data, &m.weights_iter.data, &m.weights_peephole.data,
                                           &none.data, &m.bias.data, &m.dst_layer.data, &m.dst_iter.data,
                                           &m.dst_iter_c.data, 0));
      break;
    case algorithm::vanilla_gru:
    case algorithm::lbr_gru:
      Check((c.alg == algorithm::lbr_gru ? dnnl_lbr_gru_forward_desc_init : dnnl_gru_forward_desc_init)(
          &d, p, dir, &m.src_layer.data, &m.src_iter.data, &m.weights_layer.data, &m.weights_iter.data, &m.bias.data,
          &m.dst_layer.data, &m.dst_iter.data, 0));
      break;
    default:
      Check(dnnl_vanilla_rnn_forward_desc_init(&d, p, dnnl::convert_to_c(c.activation), dir, &m.src_layer.data,
                                               &m.src_iter.data, &m.weights_layer.data, &m.weights_iter.data,
                                               &m.bias.data, &m.dst_layer.data, &m.dst_iter.data, 0, 0.0f, 0.0f));
  }
  return d;
}

dnnl_rnn_desc_t BackwardDesc(const Cell& c, const RnnDescs& m, const RnnDescs& diff) {
  dnnl_rnn_desc_t d;
  const dnnl_prop_kind_t p = dnnl::convert_to_c(prop_kind::backward);
  const dnnl_rnn_direction_t dir = dnnl::convert_to_c(c.direction);
  const memory::desc none;
  switch (c.alg) {
    case algorithm::vanilla_lstm:
      Check(dnnl_lstm_backward_desc_init_v3(
          &d, p, dir, &m.src_layer.data, &m.src_iter.data, &m.src_iter_c.data, &m.weights_layer.data,
          &m.weights_iter.data, &m.weights_peephole.data, &none.data, &m.bias.data, &m.dst_layer.data, &m.dst_iter.data,
          &m.dst_iter_c.data, &diff.src_layer.data, &diff.src_iter.data, &diff.src_iter_c.data,
          &diff.weights_layer.data, &diff.weights_iter.data, &diff.weights_peephole.data, &none.data, &diff.bias.data,
          &diff.dst_layer.data, &diff.dst_iter.data, &diff.dst_iter_c.data, 0));
      break;
    case algorithm::vanilla_gru:
    case algorithm::lbr_gru:
      Check((c.alg == algorithm::lbr_gru ? dnnl_lbr_gru_backward_desc_init : dnnl_gru_backward_desc_init)(
          &d, p, dir, &m.src_layer.data, &m.src_iter.data, &m.weights_layer.data, &m.weights_iter.data, &m.bias.data,
          &m.dst_layer.data, &m.dst_iter.data, &diff.src_layer.data, &diff.src_iter.data, &diff.weights_layer.data,
          &diff.weights_iter.data, &diff.bias.data, &diff.dst_layer.data, &diff.dst_iter.data, 0));
      break;
    default:
      Check(dnnl_vanilla_rnn_backward_desc_init(
          &d, p, dnnl::convert_to_c(c.activation), dir, &m.src_layer.data, &m.src_iter.data, &m.weights_layer.data,
          &m.weights_iter.data, &m.bias.data, &m.dst_layer.data, &m.dst_iter.data, &diff.src_layer.data,
          &diff.src_iter.data, &diff.weights_layer.data, &diff.weights_iter.data, &diff.bias.data, &diff.dst_layer.data,
          &diff.dst_iter.data, 0, 0.0f, 0.0f));
  }
  return d;
}

memory::desc Md(const dnnl::primitive_desc& pd, int arg) { return pd.query_md(dnnl::query::exec_arg_md, arg); }

float* Floats(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

// ---- Host conversions between ONNX's and oneDNN's weight layouts ----

// [D, G, block] with gates in ONNX order -> oneDNN order (`to_onednn`) or back.
void PermuteGates(const float* from, float* to, int64_t directions, const std::vector<int>& gate_of, int64_t block,
                  bool to_onednn) {
  const int64_t gates = static_cast<int64_t>(gate_of.size());
  for (int64_t d = 0; d < directions; ++d) {
    for (int64_t k = 0; k < gates; ++k) {
      const int64_t onednn = (d * gates + k) * block, onnx = (d * gates + gate_of[k]) * block;
      std::memcpy(to + (to_onednn ? onednn : onnx), from + (to_onednn ? onnx : onednn), block * sizeof(float));
    }
  }
}

// ONNX B [D, 2*G*H] (Wb then Rb; null: no bias) -> oneDNN bias [1, D, bias_gates, H].
void FuseBias(const Cell& c, const float* b, float* to) {
  const int64_t H = c.g.hidden, G = c.gates();
  for (int64_t d = 0; d < c.g.directions; ++d) {
    const float* wb = b ? b + d * 2 * G * H : nullptr;
    const float* rb = wb ? wb + G * H : nullptr;
    float* out = to + d * c.bias_gates * H;
    for (int64_t k = 0; k < G; ++k) {
      const int64_t from = c.gate_of[k] * H;
      // lbr_gru's candidate (k = 2) takes Wb alone; its Rb is gate 3, inside r * (R h + Rb).
      const bool split = c.alg == algorithm::lbr_gru && k == 2;
      for (int64_t j = 0; j < H; ++j) out[k * H + j] = wb ? wb[from + j] + (split ? 0.0f : rb[from + j]) : 0.0f;
    }
    if (c.alg == algorithm::lbr_gru) {
      for (int64_t j = 0; j < H; ++j) out[3 * H + j] = rb ? rb[2 * H + j] : 0.0f;
    }
  }
}

// oneDNN diff_bias -> ONNX dB [D, 2*G*H]: both halves get the fused bias's gradient.
void SplitBiasGrad(const Cell& c, const float* db, float* to) {
  const int64_t H = c.g.hidden, G = c.gates();
  for (int64_t d = 0; d < c.g.directions; ++d) {
    const float* in = db + d * c.bias_gates * H;
    float* wb = to + d * 2 * G * H;
    float* rb = wb + G * H;
    for (int64_t k = 0; k < G; ++k) {
      const int64_t onnx = c.gate_of[k] * H;
      const bool split = c.alg == algorithm::lbr_gru && k == 2;
      for (int64_t j = 0; j < H; ++j) {
        wb[onnx + j] = in[k * H + j];
        rb[onnx + j] = split ? in[3 * H + j] : in[k * H + j];
      }
    }
  }
}

// ---- Binding tensors to the primitives' canonical layouts ----

// Y-shaped tensors (Y, dY) are [T, D, N, H] (layout 0) or [N, T, D, H]; X-shaped [T, N, I] or [N, T, I].
// The oneDNN side is tnc [T, N, channels].
memory::desc UserSequence(const Geometry& g, int64_t channels) {
  const int64_t T = g.seq_length, N = g.batch;
  return g.batch_first ? StridedDesc({T, N, channels}, {channels, T * channels, 1}) : Sequence(g, channels);
}

// Layout 0, two directions: [T, 2, N, H] <-> [T, N, 2H].
void InterleaveDirections(const Geometry& g, const float* from, float* to, bool to_tnc) {
  const int64_t T = g.seq_length, N = g.batch, H = g.hidden;
  for (int64_t t = 0; t < T; ++t) {
    for (int64_t d = 0; d < 2; ++d) {
      for (int64_t n = 0; n < N; ++n) {
        const int64_t onnx = ((t * 2 + d) * N + n) * H, tnc = ((t * N + n) * 2 + d) * H;
        std::memcpy(to + (to_tnc ? tnc : onnx), from + (to_tnc ? onnx : tnc), H * sizeof(float));
      }
    }
  }
}

void ZeroFill(PrimitiveKernel& k, memory m) {
  k.AddHostStep([m] { std::memset(m.get_data_handle(), 0, m.get_desc().get_size()); });
}

// Input `index` (a sequence of `channels` per step; `per_direction`: Y-shaped) in tnc;
// zeros when absent.
memory SequenceIn(PrimitiveKernel& k, const KernelSpec& spec, const Geometry& g, int index, int64_t channels,
                  bool per_direction) {
  const memory::desc md = Sequence(g, channels);
  if (!spec.has_input(index)) {
    memory zeros = k.Scratch(md);
    ZeroFill(k, zeros);
    return zeros;
  }
  if (per_direction && g.directions == 2 && !g.batch_first) {
    memory user = k.Input(index, PlainDesc(spec.inputs[index].dims)), tnc = k.Scratch(md);
    k.AddHostStep([g, user, tnc] { InterleaveDirections(g, Floats(user), Floats(tnc), true); });
    return tnc;
  }
  return ReorderTo(k, k.Input(index, UserSequence(g, channels)), md);
}

// What the primitive writes output `index` (tnc) through; `finish` adds the copy
// to the tensor, after the primitive. An absent output is scratch.
struct OutputBinding {
  memory prim, user;
  bool interleave = false;
};
OutputBinding SequenceOut(PrimitiveKernel& k, const KernelSpec& spec, const Geometry& g, int index, int64_t channels,
                          bool per_direction) {
  const memory::desc md = Sequence(g, channels);
  if (index >= static_cast<int>(spec.outputs.size()) || spec.outputs[index].dtype == proto::DT_UNDEFINED) {
    return {k.Scratch(md), {}};
  }
  if (per_direction && g.directions == 2 && !g.batch_first) {
    return {k.Scratch(md), k.Output(index, PlainDesc(spec.outputs[index].dims)), true};
  }
  memory user = k.Output(index, UserSequence(g, channels));
  return {WriteVia(k, user, md), user};
}
void Finish(PrimitiveKernel& k, const Geometry& g, const OutputBinding& b) {
  if (!b.user) return;
  if (b.interleave) {
    k.AddHostStep([g, prim = b.prim, user = b.user] { InterleaveDirections(g, Floats(prim), Floats(user), false); });
  } else {
    CopyBack(k, b.prim, b.user);
  }
}

// States: [D, N, H] (layout 0, oneDNN's ldnc) or [N, D, H].
memory::desc UserState(const Geometry& g) {
  const int64_t D = g.directions, N = g.batch, H = g.hidden;
  return g.batch_first ? StridedDesc({1, D, N, H}, {D * N * H, H, D * H, 1}) : State(g);
}
memory StateIn(PrimitiveKernel& k, const KernelSpec& spec, const Geometry& g, int index) {
  if (!spec.has_input(index)) {
    memory zeros = k.Scratch(State(g));
    ZeroFill(k, zeros);
    return zeros;
  }
  return ReorderTo(k, k.Input(index, UserState(g)), State(g));
}
OutputBinding StateOut(PrimitiveKernel& k, const KernelSpec& spec, const Geometry& g, int index) {
  if (index >= static_cast<int>(spec.outputs.size()) || spec.outputs[index].dtype == proto::DT_UNDEFINED) {
    return {k.Scratch(State(g)), {}};
  }
  memory user = k.Output(index, UserState(g));
  return {WriteVia(k, user, State(g)), user};
}

// A weight input after a host conversion into `staged_md`: converted once, now, when
// it is a plan constant (or absent: `convert` gets null), else by a host step on every run.
struct StagedWeight {
  memory staged;
  bool constant = false;
};
StagedWeight Stage(PrimitiveKernel& k, const KernelSpec& spec, int index, const memory::desc& staged_md,
                   std::function<void(const float*, float*)> convert) {
  if (!spec.has_input(index) || spec.is_constant_input(index)) {
    memory owned = OwnedBuffer(spec, staged_md);
    convert(spec.has_input(index) ? static_cast<const float*>(spec.inputs[index].data) : nullptr, Floats(owned));
    return {owned, true};
  }
  memory user = k.Input(index, PlainDesc(spec.inputs[index].dims)), staged = k.Scratch(staged_md);
  k.AddHostStep([user, staged, convert] { convert(Floats(user), Floats(staged)); });
  return {staged, false};
}
// The staged weight in the primitive's layout `md` (reordered once when constant).
memory InLayout(PrimitiveKernel& k, const KernelSpec& spec, const StagedWeight& w, const memory::desc& md) {
  if (w.staged.get_desc() == md) return w.staged;
  if (!w.constant) return ReorderTo(k, w.staged, md);
  memory from = w.staged, to = OwnedBuffer(spec, md);
  dnnl::reorder(from, to).execute(*spec.env->stream, from, to);
  spec.env->stream->wait();
  return to;
}

// The forward inputs every kernel stages: W, R, B (zeros when absent: oneDNN's CPU
// cells want a bias), P.
struct StagedWeights {
  StagedWeight w, r, b, p;
  bool has_p = false;
};
StagedWeights StageWeights(PrimitiveKernel& k, const KernelSpec& spec, const Cell& c) {
  const Geometry& g = c.g;
  const int64_t H = g.hidden, I = g.input_size, D = g.directions;
  StagedWeights w;
  w.w = Stage(k, spec, recurrent::kW, Weights(c, I, tag::ldgoi),
              [c, D, H, I](const float* from, float* to) { PermuteGates(from, to, D, c.gate_of, H * I, true); });
  w.r = Stage(k, spec, recurrent::kR, Weights(c, H, tag::ldgoi),
              [c, D, H](const float* from, float* to) { PermuteGates(from, to, D, c.gate_of, H * H, true); });
  w.b = Stage(k, spec, recurrent::kB, Bias(c), [c](const float* from, float* to) { FuseBias(c, from, to); });
  w.has_p = c.alg == algorithm::vanilla_lstm && spec.has_input(recurrent::kPeepholes);
  if (w.has_p) {
    w.p = Stage(k, spec, recurrent::kPeepholes, Peephole(c),
                [D, H](const float* from, float* to) { PermuteGates(from, to, D, kPeepholeOf, H, true); });
  }
  return w;
}

// The primitive-side descriptors of a node: weights in `any` layout.
RnnDescs PrimitiveDescs(const Cell& c, bool with_states, bool with_peephole) {
  const Geometry& g = c.g;
  const bool lstm = c.alg == algorithm::vanilla_lstm;
  RnnDescs m;
  m.src_layer = Sequence(g, g.input_size);
  m.dst_layer = Sequence(g, g.directions * g.hidden);
  if (with_states) {
    m.src_iter = m.dst_iter = State(g);
    if (lstm) m.src_iter_c = m.dst_iter_c = State(g);
  }
  m.weights_layer = Weights(c, g.input_size, tag::any);
  m.weights_iter = Weights(c, g.hidden, tag::any);
  m.bias = Bias(c);
  if (with_peephole) m.weights_peephole = Peephole(c);
  return m;
}

// ---- RNN / GRU / LSTM ----

StatusOr<std::unique_ptr<Kernel>> BuildForward(CellKind kind, const KernelSpec& spec) {
  ASSIGN_OR_RETURN(Cell c, ResolveCell(kind, spec, static_cast<int>(spec.inputs.size())));
  const Geometry& g = c.g;
  const bool lstm = kind == CellKind::kLstm;
  auto has_output = [&](int i) {
    return i < static_cast<int>(spec.outputs.size()) && spec.outputs[i].dtype != proto::DT_UNDEFINED;
  };
  // LSTM's workspace (recurrent.h) is the vector kernel's: oneDNN's is opaque, and sparing
  // LSTMGrad a second forward is worth more than oneDNN's edge at R over 1 MiB (~4%).
  if (UseVectorKernel(g) || (lstm && has_output(recurrent::kWorkspace))) {
    return BuildVectorRecurrent(g, spec, BestSimdLevel());
  }
  const bool states = spec.has_input(recurrent::kInitialH) || (lstm && spec.has_input(recurrent::kInitialC)) ||
                      has_output(recurrent::kYH) || (lstm && has_output(recurrent::kYC));
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  PrimitiveKernel& k = *kernel;
  const StagedWeights w = StageWeights(k, spec, c);
  const RnnDescs m = PrimitiveDescs(c, states, w.has_p);
  const dnnl_rnn_desc_t desc = ForwardDesc(c, prop_kind::forward_inference, m);
  dnnl::primitive_desc pd(&desc, nullptr, *spec.env->engine, nullptr);

  std::unordered_map<int, memory> args;
  args[DNNL_ARG_SRC_LAYER] = SequenceIn(k, spec, g, recurrent::kX, g.input_size, false);
  args[DNNL_ARG_WEIGHTS_LAYER] = InLayout(k, spec, w.w, Md(pd, DNNL_ARG_WEIGHTS_LAYER));
  args[DNNL_ARG_WEIGHTS_ITER] = InLayout(k, spec, w.r, Md(pd, DNNL_ARG_WEIGHTS_ITER));
  args[DNNL_ARG_BIAS] = w.b.staged;
  if (w.has_p) args[DNNL_ARG_WEIGHTS_PEEPHOLE] = w.p.staged;
  const OutputBinding y = SequenceOut(k, spec, g, recurrent::kY, g.directions * g.hidden, true);
  args[DNNL_ARG_DST_LAYER] = y.prim;
  OutputBinding yh, yc;
  if (states) {
    args[DNNL_ARG_SRC_ITER] = StateIn(k, spec, g, recurrent::kInitialH);
    yh = StateOut(k, spec, g, recurrent::kYH);
    args[DNNL_ARG_DST_ITER] = yh.prim;
    if (lstm) {
      args[DNNL_ARG_SRC_ITER_C] = StateIn(k, spec, g, recurrent::kInitialC);
      yc = StateOut(k, spec, g, recurrent::kYC);
      args[DNNL_ARG_DST_ITER_C] = yc.prim;
    }
  }
  const memory::desc scratchpad = Md(pd, DNNL_ARG_SCRATCHPAD);
  if (scratchpad.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = k.Scratch(scratchpad);
  // Small batches and L2-sized weights never get here (vector_recurrent.h): what does is
  // worth splitting over the threads.
  k.AddStep(dnnl::primitive(pd), std::move(args));
  Finish(k, g, y);
  if (states) {
    Finish(k, g, yh);
    if (lstm) Finish(k, g, yc);
  }
  return std::unique_ptr<Kernel>(std::move(kernel));
}

// ---- RNNGrad / GRUGrad / LSTMGrad: a forward_training run (for the workspace) then the backward ----

StatusOr<std::unique_ptr<Kernel>> BuildBackward(CellKind kind, const KernelSpec& spec) {
  const int base = recurrent::GradInputBase(kind);
  ASSIGN_OR_RETURN(Cell c, ResolveCell(kind, spec, base));
  const Geometry& g = c.g;
  const bool lstm = kind == CellKind::kLstm;
  const int64_t H = g.hidden, I = g.input_size, D = g.directions;
  const bool has_workspace = lstm && spec.has_input(recurrent::GradWorkspaceInput());
  for (int i = base; i < static_cast<int>(spec.inputs.size()); ++i) {
    if (has_workspace && i == recurrent::GradWorkspaceInput()) {
      if (spec.inputs[i].dims != g.WorkspaceDims()) return Unimplemented("the workspace is not shaped as LSTM's");
      continue;
    }
    if (spec.has_input(i) && spec.inputs[i].dims != (i == base ? g.OutputDims() : g.StateDims())) {
      return Unimplemented("input ", i, " is not shaped as the forward output it is the gradient of");
    }
  }
  // With the forward's workspace the vector kernel runs no forward at all (oneDNN's primitive,
  // for peepholes, recomputes it and leaves the workspace unread).
  if ((lstm && !spec.has_input(recurrent::kPeepholes) && (UseVectorKernel(g) || has_workspace)) ||
      (kind == CellKind::kGru && UseVectorKernel(g))) {
    return BuildVectorRecurrentGrad(g, spec, BestSimdLevel());
  }
  auto kernel = std::make_unique<PrimitiveKernel>(spec);
  PrimitiveKernel& k = *kernel;
  // Backward always runs with states (zeros when the node has none): their gradients
  // are computed whether or not the node outputs them.
  const StagedWeights w = StageWeights(k, spec, c);
  const RnnDescs m = PrimitiveDescs(c, true, w.has_p);
  const dnnl_rnn_desc_t fwd_desc = ForwardDesc(c, prop_kind::forward_training, m);
  dnnl::primitive_desc fwd_pd(&fwd_desc, nullptr, *spec.env->engine, nullptr);
  RnnDescs diff = m;
  diff.weights_layer = Weights(c, I, tag::any);
  diff.weights_iter = Weights(c, H, tag::any);
  const dnnl_rnn_desc_t bwd_desc = BackwardDesc(c, PrimitiveDescs(c, true, w.has_p), diff);
  dnnl::primitive_desc bwd_pd(&bwd_desc, nullptr, *spec.env->engine, fwd_pd.get());

  // Forward (training): what the backward reads.
  const memory src_layer = SequenceIn(k, spec, g, recurrent::kX, I, false);
  const memory src_iter = StateIn(k, spec, g, recurrent::kInitialH);
  const memory src_iter_c = lstm ? StateIn(k, spec, g, recurrent::kInitialC) : memory();
  const memory dst_layer = k.Scratch(m.dst_layer), dst_iter = k.Scratch(m.dst_iter);
  const memory dst_iter_c = lstm ? k.Scratch(m.dst_iter_c) : memory();
  const memory workspace = k.Scratch(Md(fwd_pd, DNNL_ARG_WORKSPACE));
  std::unordered_map<int, memory> fwd{
      {DNNL_ARG_SRC_LAYER, src_layer},
      {DNNL_ARG_SRC_ITER, src_iter},
      {DNNL_ARG_WEIGHTS_LAYER, InLayout(k, spec, w.w, Md(fwd_pd, DNNL_ARG_WEIGHTS_LAYER))},
      {DNNL_ARG_WEIGHTS_ITER, InLayout(k, spec, w.r, Md(fwd_pd, DNNL_ARG_WEIGHTS_ITER))},
      {DNNL_ARG_BIAS, w.b.staged},
      {DNNL_ARG_DST_LAYER, dst_layer},
      {DNNL_ARG_DST_ITER, dst_iter},
      {DNNL_ARG_WORKSPACE, workspace}};
  if (lstm) {
    fwd[DNNL_ARG_SRC_ITER_C] = src_iter_c;
    fwd[DNNL_ARG_DST_ITER_C] = dst_iter_c;
  }
  if (w.has_p) fwd[DNNL_ARG_WEIGHTS_PEEPHOLE] = w.p.staged;
  const memory::desc fwd_scratchpad = Md(fwd_pd, DNNL_ARG_SCRATCHPAD);
  if (fwd_scratchpad.get_size() > 0) fwd[DNNL_ARG_SCRATCHPAD] = k.Scratch(fwd_scratchpad);
  std::unordered_map<int, memory> bwd = fwd;
  bwd.erase(DNNL_ARG_SCRATCHPAD);
  k.AddStep(dnnl::primitive(fwd_pd), std::move(fwd));

  // Backward.
  bwd[DNNL_ARG_WEIGHTS_LAYER] = InLayout(k, spec, w.w, Md(bwd_pd, DNNL_ARG_WEIGHTS_LAYER));
  bwd[DNNL_ARG_WEIGHTS_ITER] = InLayout(k, spec, w.r, Md(bwd_pd, DNNL_ARG_WEIGHTS_ITER));
  bwd[DNNL_ARG_DIFF_DST_LAYER] = SequenceIn(k, spec, g, base, D * H, true);
  bwd[DNNL_ARG_DIFF_DST_ITER] = StateIn(k, spec, g, base + 1);
  if (lstm) bwd[DNNL_ARG_DIFF_DST_ITER_C] = StateIn(k, spec, g, base + 2);
  // Outputs: dX, dW, dR, dB, d_initial_h (, d_initial_c, dP).
  // x_gradient=0: the primitive still computes dX, into scratch.
  const OutputBinding dx = recurrent::ComputesInputGradient(spec.attrs) ? SequenceOut(k, spec, g, 0, I, false)
                                                                        : OutputBinding{k.Scratch(Sequence(g, I)), {}};
  const OutputBinding dh0 = StateOut(k, spec, g, 4);
  const OutputBinding dc0 = lstm ? StateOut(k, spec, g, 5) : OutputBinding{};
  bwd[DNNL_ARG_DIFF_SRC_LAYER] = dx.prim;
  bwd[DNNL_ARG_DIFF_SRC_ITER] = dh0.prim;
  if (lstm) bwd[DNNL_ARG_DIFF_SRC_ITER_C] = dc0.prim;
  // The weight gradients are accumulated by oneDNN: zeroed first.
  const memory dw = k.Scratch(Md(bwd_pd, DNNL_ARG_DIFF_WEIGHTS_LAYER));
  const memory dr = k.Scratch(Md(bwd_pd, DNNL_ARG_DIFF_WEIGHTS_ITER));
  const memory db = k.Scratch(Bias(c));
  const memory dp = w.has_p ? k.Scratch(Peephole(c)) : memory();
  for (const memory& acc : {dw, dr, db, dp}) {
    if (acc) ZeroFill(k, acc);
  }
  bwd[DNNL_ARG_DIFF_WEIGHTS_LAYER] = dw;
  bwd[DNNL_ARG_DIFF_WEIGHTS_ITER] = dr;
  bwd[DNNL_ARG_DIFF_BIAS] = db;
  if (w.has_p) bwd[DNNL_ARG_DIFF_WEIGHTS_PEEPHOLE] = dp;
  const memory::desc bwd_scratchpad = Md(bwd_pd, DNNL_ARG_SCRATCHPAD);
  if (bwd_scratchpad.get_size() > 0) bwd[DNNL_ARG_SCRATCHPAD] = k.Scratch(bwd_scratchpad);
  k.AddStep(dnnl::primitive(bwd_pd), std::move(bwd));

  Finish(k, g, dx);
  Finish(k, g, dh0);
  if (lstm) Finish(k, g, dc0);
  auto has_output = [&](int i) {
    return i < static_cast<int>(spec.outputs.size()) && spec.outputs[i].dtype != proto::DT_UNDEFINED;
  };
  // dW, dR: oneDNN's layout -> ldgoi -> ONNX gate order.
  const std::pair<int, memory> weight_grads[] = {{1, dw}, {2, dr}};
  for (const auto& [o, acc] : weight_grads) {
    if (!has_output(o)) continue;
    const int64_t rows = o == 1 ? I : H;
    memory staged = ReorderTo(k, acc, Weights(c, rows, tag::ldgoi));
    memory user = k.Output(o, PlainDesc(spec.outputs[o].dims));
    k.AddHostStep(
        [staged, user, c, D, H, rows] { PermuteGates(Floats(staged), Floats(user), D, c.gate_of, H * rows, false); });
  }
  if (has_output(3)) {
    memory user = k.Output(3, PlainDesc(spec.outputs[3].dims));
    k.AddHostStep([db, user, c] { SplitBiasGrad(c, Floats(db), Floats(user)); });
  }
  if (lstm && has_output(6) && w.has_p) {
    memory user = k.Output(6, PlainDesc(spec.outputs[6].dims));
    k.AddHostStep([dp, user, D, H] { PermuteGates(Floats(dp), Floats(user), D, kPeepholeOf, H, false); });
  }
  return std::unique_ptr<Kernel>(std::move(kernel));
}

}  // namespace

void RegisterRecurrentKernels(KernelRegistry& r) {
  const std::pair<const char*, CellKind> cells[] = {
      {"RNN", CellKind::kRnn}, {"GRU", CellKind::kGru}, {"LSTM", CellKind::kLstm}};
  for (const auto& [op, kind] : cells) {
    RegisterOp(r, op, [kind = kind](const KernelSpec& spec) { return BuildForward(kind, spec); });
    // dX is empty at x_gradient=0.
    RegisterOp(
        r, std::string(op) + "Grad", [kind = kind](const KernelSpec& spec) { return BuildBackward(kind, spec); },
        Layouts::kPlainOnly, EmptyOutputs::kAccept);
  }
}

}  // namespace kiln::runtime::onednn
