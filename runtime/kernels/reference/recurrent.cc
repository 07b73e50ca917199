// Reference kernels for RNN, GRU and LSTM (ONNX semantics, the equations of the
// ONNX operator docs written out one batch row and one step at a time). The
// geometry and activations come from ir/core/ops/recurrent.h, as in shape inference.
#include "ir/core/ops/recurrent.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace ref {
namespace {

using recurrent::CellKind;
using recurrent::Geometry;
using Refs = std::vector<TensorRef>;

// Flat offsets of X [T, N, I], Y [T, D, N, H] and states [D, N, H] (layout 0) or
// X [N, T, I], Y [N, T, D, H], states [N, D, H] (layout 1).
struct Layout {
  const Geometry& g;
  int64_t X(int64_t t, int64_t n) const {
    return (g.batch_first ? n * g.seq_length + t : t * g.batch + n) * g.input_size;
  }
  int64_t Y(int64_t t, int64_t d, int64_t n) const {
    return (g.batch_first ? (n * g.seq_length + t) * g.directions + d : (t * g.directions + d) * g.batch + n) *
           g.hidden;
  }
  int64_t State(int64_t d, int64_t n) const {
    return (g.batch_first ? n * g.directions + d : d * g.batch + n) * g.hidden;
  }
  // LSTM's workspace [D, rows of X, kWorkspaceParts * H].
  int64_t Workspace(int64_t t, int64_t d, int64_t n) const {
    return (d * g.seq_length * g.batch + (g.batch_first ? n * g.seq_length + t : t * g.batch + n)) *
           recurrent::kWorkspaceParts * g.hidden;
  }
};

template <typename T>
double Dot(const T* a, const T* b, int64_t size) {
  double sum = 0;
  for (int64_t i = 0; i < size; ++i) sum += static_cast<double>(a[i]) * static_cast<double>(b[i]);
  return sum;
}

template <typename T>
double Dot(const std::vector<double>& a, const T* b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * static_cast<double>(b[i]);
  return sum;
}

template <typename T>
struct Buffers {
  const T *x, *w, *r, *b, *h0, *c0, *p;
  T *y, *yh, *yc;
  T* workspace;  // LSTM's training-only output (null when absent)
};

// What one step computed, kept by the backward pass: the previous states, the
// gates' pre-activations (before clipping) and activations, and for GRU the
// reset-gated state (or, linear_before_reset, R_h h + Rb_h).
struct StepRecord {
  int64_t t = 0;
  std::vector<double> h_prev, c_prev, pre, act, cell, gated;
};

// One direction `d` of one batch row `n` of a node: Step() advances the state by
// one time step, recording what backpropagation needs when `record` is set.
template <typename T>
class Cell {
 public:
  Cell(const Geometry& g, const Buffers<T>& io, int64_t d, int64_t n)
      : g_(g), io_(io), d_(d), n_(n), H_(g.hidden), I_(g.input_size), gates_(recurrent::NumGates(g.kind) * H_) {
    w_ = io.w + d * gates_ * I_;
    r_ = io.r + d * gates_ * H_;
    wb_ = io.b ? io.b + d * 2 * gates_ : nullptr;
    rb_ = io.b ? wb_ + gates_ : nullptr;
    p_ = io.p ? io.p + d * 3 * H_ : nullptr;
    h_.assign(H_, 0.0);
    c_.assign(H_, 0.0);
    const Layout at{g};
    for (int64_t j = 0; j < H_; ++j) {
      if (io.h0) h_[j] = io.h0[at.State(d, n) + j];
      if (io.c0) c_[j] = io.c0[at.State(d, n) + j];
    }
  }

  const std::vector<double>& h() const { return h_; }
  const std::vector<double>& c() const { return c_; }
  double clip(double v) const {
    return g_.clip > 0 ? std::clamp(v, -static_cast<double>(g_.clip), static_cast<double>(g_.clip)) : v;
  }
  // Activation i of this direction at pre-activation v (clipped first), and its derivative.
  double Act(int i, double v) const { return g_.act(d_, i).Apply(clip(v)); }
  double DAct(int i, double v) const {
    if (g_.clip > 0 && std::fabs(v) > g_.clip) return 0;
    return g_.act(d_, i).Derivative(v);
  }
  double Wb(int64_t k) const { return wb_ ? static_cast<double>(wb_[k]) : 0.0; }
  double Rb(int64_t k) const { return rb_ ? static_cast<double>(rb_[k]) : 0.0; }
  double P(int64_t k) const { return p_ ? static_cast<double>(p_[k]) : 0.0; }
  const T* W(int64_t k) const { return w_ + k * I_; }
  const T* R(int64_t k) const { return r_ + k * H_; }

  // LSTM: the record of step t from the workspace the forward wrote (`row` is the
  // step's), as Step would have recorded it; the steps come in the order Step ran them.
  void Restore(int64_t t, const T* row, StepRecord* record) {
    using recurrent::kWsCell, recurrent::kWsPrevH;
    record->t = t;
    record->pre.assign(row, row + gates_);
    record->act.resize(gates_);
    for (int64_t j = 0; j < H_; ++j) {
      record->act[j] = Act(0, record->pre[j]);
      record->act[H_ + j] = Act(0, record->pre[H_ + j]);
      record->act[2 * H_ + j] = g_.input_forget ? 1 - record->act[j] : Act(0, record->pre[2 * H_ + j]);
      record->act[3 * H_ + j] = Act(1, record->pre[3 * H_ + j]);
    }
    record->cell.assign(row + kWsCell * H_, row + (kWsCell + 1) * H_);
    record->h_prev.assign(row + kWsPrevH * H_, row + (kWsPrevH + 1) * H_);
    record->c_prev = c_;
    c_ = record->cell;
  }

  void Step(int64_t t, StepRecord* record) {
    const T* x = io_.x + Layout{g_}.X(t, n_);
    std::vector<double> pre(gates_), act(gates_), gated(H_), next_h(H_), cell(H_);
    // X W^T + Wb + Rb, plus H R^T for every gate but GRU's candidate.
    for (int64_t k = 0; k < gates_; ++k) {
      pre[k] = Dot(x, W(k), I_) + Wb(k) + Rb(k);
      if (g_.kind != CellKind::kGru || k < 2 * H_) pre[k] += Dot(h_, R(k));
    }
    switch (g_.kind) {
      case CellKind::kRnn:
        for (int64_t j = 0; j < H_; ++j) next_h[j] = act[j] = Act(0, pre[j]);
        break;
      case CellKind::kGru:  // gates z, r, h
        for (int64_t j = 0; j < 2 * H_; ++j) act[j] = Act(0, pre[j]);
        for (int64_t j = 0; j < H_; ++j) gated[j] = act[H_ + j] * h_[j];
        for (int64_t j = 0; j < H_; ++j) {
          const int64_t k = 2 * H_ + j;
          if (g_.linear_before_reset) {
            const double linear = Dot(h_, R(k)) + Rb(k);
            pre[k] += act[H_ + j] * linear - Rb(k);
            cell[j] = linear;
          } else {
            pre[k] += Dot(gated, R(k));
          }
          act[k] = Act(1, pre[k]);
          const double z = act[j];
          next_h[j] = (1 - z) * act[k] + z * h_[j];
        }
        break;
      case CellKind::kLstm:  // gates i, o, f, c; peepholes i, o, f
        for (int64_t j = 0; j < H_; ++j) {
          pre[j] += P(j) * c_[j];
          act[j] = Act(0, pre[j]);
          pre[2 * H_ + j] += P(2 * H_ + j) * c_[j];
          act[2 * H_ + j] = g_.input_forget ? 1 - act[j] : Act(0, pre[2 * H_ + j]);
          act[3 * H_ + j] = Act(1, pre[3 * H_ + j]);
          cell[j] = act[2 * H_ + j] * c_[j] + act[j] * act[3 * H_ + j];
          pre[H_ + j] += P(H_ + j) * cell[j];
          act[H_ + j] = Act(0, pre[H_ + j]);
          next_h[j] = act[H_ + j] * Act(2, cell[j]);
        }
        break;
    }
    if (record) {
      record->t = t;
      record->h_prev = h_;
      record->c_prev = c_;
      record->pre = std::move(pre);
      record->act = std::move(act);
      record->cell = cell;
      record->gated = std::move(gated);
    }
    h_ = std::move(next_h);
    if (g_.kind == CellKind::kLstm) c_ = std::move(cell);
  }

 private:
  const Geometry& g_;
  const Buffers<T>& io_;
  int64_t d_, n_, H_, I_, gates_;
  const T *w_, *r_, *wb_, *rb_, *p_;
  std::vector<double> h_, c_;
};

bool Backward(const Geometry& g, int64_t d) { return d == 1 || g.reverse; }

// One direction `d` of one batch row `n` over its `length` steps.
template <typename T>
void RunSequence(const Geometry& g, const Buffers<T>& io, int64_t d, int64_t n, int64_t length) {
  const Layout at{g};
  Cell<T> cell(g, io, d, n);
  StepRecord record;
  for (int64_t step = 0; step < length; ++step) {
    const int64_t t = Backward(g, d) ? length - 1 - step : step;
    cell.Step(t, io.workspace ? &record : nullptr);
    if (io.workspace) {  // pre-activations, new cell state, previous h
      const int64_t H = g.hidden;
      T* row = io.workspace + at.Workspace(t, d, n);
      for (int64_t k = 0; k < 4 * H; ++k) row[k] = static_cast<T>(record.pre[k]);
      for (int64_t j = 0; j < H; ++j) {
        row[recurrent::kWsCell * H + j] = static_cast<T>(record.cell[j]);
        row[recurrent::kWsPrevH * H + j] = static_cast<T>(record.h_prev[j]);
      }
    }
    if (io.y) {
      for (int64_t j = 0; j < g.hidden; ++j) io.y[at.Y(t, d, n) + j] = static_cast<T>(cell.h()[j]);
    }
  }
  for (int64_t j = 0; j < g.hidden; ++j) {
    if (io.yh) io.yh[at.State(d, n) + j] = static_cast<T>(cell.h()[j]);
    if (io.yc) io.yc[at.State(d, n) + j] = static_cast<T>(cell.c()[j]);
  }
}

// The checks shared by the forward and backward kernels: the forward inputs'
// geometry, one float dtype, valid sequence_lens (all T when absent).
Status SetUp(CellKind kind, const KernelSpec& spec, const Refs& in, int num_forward_inputs, Geometry* g,
             std::vector<int64_t>* lengths) {
  std::vector<const Dims*> dims(num_forward_inputs, nullptr);
  for (size_t i = 0; i < in.size(); ++i) {
    if (!HasInput(in, static_cast<int>(i))) continue;
    if (static_cast<int>(i) < num_forward_inputs) dims[i] = &in[i].dims;
    if (static_cast<int>(i) != recurrent::kSequenceLens && in[i].dtype != in[0].dtype) {
      return InvalidArgument("input ", i, " has type ", DTypeName(in[i].dtype), " but X has ", DTypeName(in[0].dtype));
    }
  }
  ASSIGN_OR_RETURN(*g, recurrent::ResolveGeometry(kind, spec.attrs, dims));
  lengths->assign(g->batch, g->seq_length);
  if (HasInput(in, recurrent::kSequenceLens)) {
    ASSIGN_OR_RETURN(*lengths, ReadInts(in[recurrent::kSequenceLens], "sequence_lens"));
    RETURN_IF_ERROR(recurrent::CheckSequenceLengths(*lengths, g->seq_length));
  }
  return Status::Ok();
}

Status CheckShape(const Refs& refs, int i, DType dtype, const Dims& expected, const char* what) {
  if (refs[i].dims != expected || refs[i].dtype != dtype) {
    return InvalidArgument(what, " ", i, " is ", DTypeName(refs[i].dtype), DimsToString(refs[i].dims), ", expected ",
                           DTypeName(dtype), DimsToString(expected));
  }
  return Status::Ok();
}

template <typename T>
Buffers<T> ForwardInputs(const Refs& in) {
  auto input = [&](int i) { return HasInput(in, i) ? in[i].as<T>() : nullptr; };
  return {input(recurrent::kX),
          input(recurrent::kW),
          input(recurrent::kR),
          input(recurrent::kB),
          input(recurrent::kInitialH),
          input(recurrent::kInitialC),
          input(recurrent::kPeepholes),
          nullptr,
          nullptr,
          nullptr,
          nullptr};
}

Status RecurrentKernel(CellKind kind, const KernelSpec& spec, const Refs& in, const Refs& out) {
  Geometry g;
  std::vector<int64_t> lengths;
  RETURN_IF_ERROR(SetUp(kind, spec, in, static_cast<int>(in.size()), &g, &lengths));
  for (int i = 0; i < static_cast<int>(out.size()); ++i) {
    if (!HasOutput(out, i)) continue;
    const Dims expected = i == recurrent::kY           ? g.OutputDims()
                          : i == recurrent::kWorkspace ? g.WorkspaceDims()
                                                       : g.StateDims();
    RETURN_IF_ERROR(CheckShape(out, i, in[0].dtype, expected, "output"));
  }
  return DispatchFloat(in[0].dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    auto output = [&](int i) { return HasOutput(out, i) ? out[i].as<T>() : nullptr; };
    Buffers<T> io = ForwardInputs<T>(in);
    io.y = output(recurrent::kY);
    io.yh = output(recurrent::kYH);
    io.yc = output(recurrent::kYC);
    io.workspace = kind == CellKind::kLstm ? output(recurrent::kWorkspace) : nullptr;
    // Steps past a row's sequence_lens leave Y (and the workspace) at zero (ONNX).
    if (io.y) std::fill(io.y, io.y + ElementCount(g.OutputDims()), T{0});
    if (io.workspace) std::fill(io.workspace, io.workspace + ElementCount(g.WorkspaceDims()), T{0});
    for (int64_t d = 0; d < g.directions; ++d) {
      for (int64_t n = 0; n < g.batch; ++n) RunSequence(g, io, d, n, lengths[n]);
    }
    return Status::Ok();
  });
}

// Gradients accumulated in double, laid out as the tensors they become.
struct GradSums {
  std::vector<double> x, w, r, b, h0, c0, p;
};

// Backpropagation through time of direction `d`, row `n`: the forward steps are
// recomputed with records (or, LSTM, read from its `workspace`), then walked back
// from the last one.
template <typename T>
void BackpropSequence(const Geometry& g, const Buffers<T>& io, const T* dy, const T* dyh, const T* dyc,
                      const T* workspace, int64_t d, int64_t n, int64_t length, GradSums& s) {
  const Layout at{g};
  const int64_t H = g.hidden, I = g.input_size, gates = recurrent::NumGates(g.kind) * H;
  Cell<T> cell(g, io, d, n);
  std::vector<StepRecord> steps(length);
  for (int64_t step = 0; step < length; ++step) {
    const int64_t t = Backward(g, d) ? length - 1 - step : step;
    if (workspace) {
      cell.Restore(t, workspace + at.Workspace(t, d, n), &steps[step]);
    } else {
      cell.Step(t, &steps[step]);
    }
  }
  std::vector<double> dh(H, 0.0), dc(H, 0.0);
  for (int64_t j = 0; j < H; ++j) {
    if (dyh) dh[j] = dyh[at.State(d, n) + j];
    if (dyc) dc[j] = dyc[at.State(d, n) + j];
  }
  double* dw = s.w.data() + d * gates * I;
  double* dr = s.r.data() + d * gates * H;
  double* dwb = s.b.data() + d * 2 * gates;
  double* drb = dwb + gates;
  double* dp = s.p.empty() ? nullptr : s.p.data() + d * 3 * H;
  for (int64_t step = length - 1; step >= 0; --step) {
    const StepRecord& rec = steps[step];
    if (dy) {
      for (int64_t j = 0; j < H; ++j) dh[j] += dy[at.Y(rec.t, d, n) + j];
    }
    std::vector<double> dpre(gates, 0.0), dh_prev(H, 0.0), dc_prev(H, 0.0);
    const std::vector<double>& hp = rec.h_prev;
    switch (g.kind) {
      case CellKind::kRnn:
        for (int64_t j = 0; j < H; ++j) dpre[j] = dh[j] * cell.DAct(0, rec.pre[j]);
        break;
      case CellKind::kGru: {
        std::vector<double> dz(H), dreset(H, 0.0);
        for (int64_t j = 0; j < H; ++j) {
          const double z = rec.act[j], candidate = rec.act[2 * H + j];
          dz[j] = dh[j] * (hp[j] - candidate);
          dh_prev[j] += dh[j] * z;
          dpre[2 * H + j] = dh[j] * (1 - z) * cell.DAct(1, rec.pre[2 * H + j]);
        }
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = 2 * H + j;
          const T* row = cell.R(k);
          if (g.linear_before_reset) {  // pre_h = ... + r (R_h h + Rb_h)
            dreset[j] = dpre[k] * rec.cell[j];
            const double du = dpre[k] * rec.act[H + j];
            for (int64_t m = 0; m < H; ++m) {
              dr[k * H + m] += du * hp[m];
              dh_prev[m] += du * row[m];
            }
            drb[k] += du;
          } else {  // pre_h = ... + R_h (r . h) + Rb_h
            for (int64_t m = 0; m < H; ++m) {
              dr[k * H + m] += dpre[k] * rec.gated[m];
              const double dgated = dpre[k] * row[m];
              dreset[m] += dgated * hp[m];
              dh_prev[m] += dgated * rec.act[H + m];
            }
            drb[k] += dpre[k];
          }
        }
        for (int64_t j = 0; j < H; ++j) {
          dpre[j] = dz[j] * cell.DAct(0, rec.pre[j]);
          dpre[H + j] = dreset[j] * cell.DAct(0, rec.pre[H + j]);
        }
        break;
      }
      case CellKind::kLstm:
        for (int64_t j = 0; j < H; ++j) {
          const double in_gate = rec.act[j], out_gate = rec.act[H + j], forget = rec.act[2 * H + j];
          const double candidate = rec.act[3 * H + j], c = rec.cell[j], cp = rec.c_prev[j];
          dpre[H + j] = dh[j] * cell.Act(2, c) * cell.DAct(0, rec.pre[H + j]);
          const double dcell = dc[j] + dh[j] * out_gate * cell.DAct(2, c) + dpre[H + j] * cell.P(H + j);
          if (dp) dp[H + j] += dpre[H + j] * c;
          double din = dcell * candidate;
          const double dforget = dcell * cp;
          dc_prev[j] = dcell * forget;
          if (g.input_forget) {
            din -= dforget;
          } else {
            dpre[2 * H + j] = dforget * cell.DAct(0, rec.pre[2 * H + j]);
            if (dp) dp[2 * H + j] += dpre[2 * H + j] * cp;
            dc_prev[j] += dpre[2 * H + j] * cell.P(2 * H + j);
          }
          dpre[j] = din * cell.DAct(0, rec.pre[j]);
          if (dp) dp[j] += dpre[j] * cp;
          dc_prev[j] += dpre[j] * cell.P(j);
          dpre[3 * H + j] = dcell * in_gate * cell.DAct(1, rec.pre[3 * H + j]);
        }
        break;
    }
    // The X W^T + Wb part of every gate, and H R^T + Rb of all but GRU's candidate (above).
    const T* x = io.x + at.X(rec.t, n);
    double* dx = s.x.empty() ? nullptr : s.x.data() + at.X(rec.t, n);
    for (int64_t k = 0; k < gates; ++k) {
      if (dpre[k] == 0) continue;
      const T* wrow = cell.W(k);
      for (int64_t i = 0; i < I; ++i) dw[k * I + i] += dpre[k] * x[i];
      if (dx) {
        for (int64_t i = 0; i < I; ++i) dx[i] += dpre[k] * wrow[i];
      }
      dwb[k] += dpre[k];
      if (g.kind == CellKind::kGru && k >= 2 * H) continue;
      const T* rrow = cell.R(k);
      for (int64_t m = 0; m < H; ++m) {
        dr[k * H + m] += dpre[k] * hp[m];
        dh_prev[m] += dpre[k] * rrow[m];
      }
      drb[k] += dpre[k];
    }
    dh = std::move(dh_prev);
    dc = std::move(dc_prev);
  }
  for (int64_t j = 0; j < H; ++j) {
    s.h0[at.State(d, n) + j] += dh[j];
    if (!s.c0.empty()) s.c0[at.State(d, n) + j] += dc[j];
  }
}

// RNNGrad / GRUGrad / LSTMGrad (ir/core/ops/recurrent.h has the input and output positions).
Status RecurrentGradKernel(CellKind kind, const KernelSpec& spec, const Refs& in, const Refs& out) {
  const int base = recurrent::GradInputBase(kind);
  Geometry g;
  std::vector<int64_t> lengths;
  RETURN_IF_ERROR(SetUp(kind, spec, in, base, &g, &lengths));
  const bool has_workspace = kind == CellKind::kLstm && HasInput(in, recurrent::GradWorkspaceInput());
  for (int i = base; i < static_cast<int>(in.size()); ++i) {
    if (!HasInput(in, i)) continue;
    const Dims expected = has_workspace && i == recurrent::GradWorkspaceInput() ? g.WorkspaceDims()
                          : i == base                                           ? g.OutputDims()
                                                                                : g.StateDims();
    RETURN_IF_ERROR(CheckShape(in, i, in[0].dtype, expected, "input"));
  }
  const int64_t gates = recurrent::NumGates(kind) * g.hidden;
  GradSums s;
  // x_gradient=0: output 0 stays empty.
  if (recurrent::ComputesInputGradient(spec.attrs)) s.x.assign(ElementCount(in[recurrent::kX].dims), 0.0);
  s.w.assign(g.directions * gates * g.input_size, 0.0);
  s.r.assign(g.directions * gates * g.hidden, 0.0);
  s.b.assign(g.directions * 2 * gates, 0.0);
  s.h0.assign(ElementCount(g.StateDims()), 0.0);
  if (kind == CellKind::kLstm) {
    s.c0.assign(ElementCount(g.StateDims()), 0.0);
    s.p.assign(g.directions * 3 * g.hidden, 0.0);
  }
  std::vector<double>* sums[] = {&s.x, &s.w, &s.r, &s.b, &s.h0, &s.c0, &s.p};
  for (int o = 0; o < static_cast<int>(out.size()); ++o) {
    if (!HasOutput(out, o)) continue;
    if (o >= recurrent::NumGradOutputs(kind) || out[o].dtype != in[0].dtype ||
        out[o].num_elements() != static_cast<int64_t>(sums[o]->size())) {
      return InvalidArgument("output ", o, " is ", DTypeName(out[o].dtype), DimsToString(out[o].dims),
                             ", which does not match the gradient of input ", recurrent::GradOutputInput(o));
    }
  }
  return DispatchFloat(in[0].dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    auto input = [&](int i) { return HasInput(in, i) ? in[i].as<T>() : nullptr; };
    const Buffers<T> io = ForwardInputs<T>(in);
    const T* dyc = kind == CellKind::kLstm ? input(base + 2) : nullptr;
    const T* workspace = has_workspace ? input(recurrent::GradWorkspaceInput()) : nullptr;
    for (int64_t d = 0; d < g.directions; ++d) {
      for (int64_t n = 0; n < g.batch; ++n) {
        BackpropSequence(g, io, input(base), input(base + 1), dyc, workspace, d, n, lengths[n], s);
      }
    }
    for (int o = 0; o < static_cast<int>(out.size()); ++o) {
      if (!HasOutput(out, o)) continue;
      T* dst = out[o].as<T>();
      for (size_t i = 0; i < sums[o]->size(); ++i) dst[i] = static_cast<T>((*sums[o])[i]);
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterRecurrentKernels(KernelRegistry& r) {
  const std::pair<const char*, CellKind> cells[] = {
      {"RNN", CellKind::kRnn}, {"GRU", CellKind::kGru}, {"LSTM", CellKind::kLstm}};
  for (const auto& [op, kind] : cells) {
    RegisterRef(r, op, 3, 1, [kind = kind](const KernelSpec& s, const Refs& in, const Refs& out) {
      return RecurrentKernel(kind, s, in, out);
    });
    RegisterRef(r, (std::string(op) + "Grad").c_str(), 3, 1,
                [kind = kind](const KernelSpec& s, const Refs& in, const Refs& out) {
                  return RecurrentGradKernel(kind, s, in, out);
                });
  }
}

}  // namespace ref
}  // namespace kiln::runtime
