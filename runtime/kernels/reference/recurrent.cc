// Reference kernels for RNN, GRU and LSTM (ONNX semantics, the equations of the
// ONNX operator docs written out one batch row and one step at a time). The
// geometry and activations come from ir/ops/recurrent.h, as in shape inference.
#include "ir/ops/recurrent.h"

#include <algorithm>
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
};

// One direction `d` of one batch row `n` over its `length` steps.
template <typename T>
void RunSequence(const Geometry& g, const Buffers<T>& io, int64_t d, int64_t n, int64_t length) {
  const Layout at{g};
  const int64_t H = g.hidden, I = g.input_size, gates = recurrent::NumGates(g.kind) * H;
  const T* w = io.w + d * gates * I;
  const T* r = io.r + d * gates * H;
  const T* wb = io.b ? io.b + d * 2 * gates : nullptr;
  const T* rb = io.b ? wb + gates : nullptr;
  const T* p = io.p ? io.p + d * 3 * H : nullptr;
  auto bias = [&](int64_t k) { return wb ? static_cast<double>(wb[k]) + static_cast<double>(rb[k]) : 0.0; };
  auto act = [&](int i, double v) {
    if (g.clip > 0) v = std::clamp(v, -static_cast<double>(g.clip), static_cast<double>(g.clip));
    return g.act(d, i).Apply(v);
  };
  std::vector<double> h(H, 0.0), c(H, 0.0), next_h(H), gated(H);
  for (int64_t j = 0; j < H; ++j) {
    if (io.h0) h[j] = io.h0[at.State(d, n) + j];
    if (io.c0) c[j] = io.c0[at.State(d, n) + j];
  }
  const bool backward = d == 1 || g.reverse;
  for (int64_t step = 0; step < length; ++step) {
    const int64_t t = backward ? length - 1 - step : step;
    const T* x = io.x + at.X(t, n);
    // Pre-activation of gate row k: X W^T + H R^T + Wb + Rb.
    auto pre = [&](int64_t k) { return Dot(x, w + k * I, I) + Dot(h, r + k * H) + bias(k); };
    switch (g.kind) {
      case CellKind::kRnn:
        for (int64_t j = 0; j < H; ++j) next_h[j] = act(0, pre(j));
        break;
      case CellKind::kGru: {  // gates z, r, h
        std::vector<double> z(H), reset(H);
        for (int64_t j = 0; j < H; ++j) {
          z[j] = act(0, pre(j));
          reset[j] = act(0, pre(H + j));
          gated[j] = reset[j] * h[j];
        }
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = 2 * H + j;
          const double input_part = Dot(x, w + k * I, I) + (wb ? static_cast<double>(wb[k]) : 0.0);
          const double recurrent_bias = rb ? static_cast<double>(rb[k]) : 0.0;
          const double candidate = g.linear_before_reset
                                       ? act(1, input_part + reset[j] * (Dot(h, r + k * H) + recurrent_bias))
                                       : act(1, input_part + Dot(gated, r + k * H) + recurrent_bias);
          next_h[j] = (1 - z[j]) * candidate + z[j] * h[j];
        }
        break;
      }
      case CellKind::kLstm: {  // gates i, o, f, c; peepholes i, o, f
        for (int64_t j = 0; j < H; ++j) {
          const double in_gate = act(0, pre(j) + (p ? p[j] * c[j] : 0.0));
          const double forget = g.input_forget ? 1 - in_gate : act(0, pre(2 * H + j) + (p ? p[2 * H + j] * c[j] : 0.0));
          const double cell = forget * c[j] + in_gate * act(1, pre(3 * H + j));
          const double out_gate = act(0, pre(H + j) + (p ? p[H + j] * cell : 0.0));
          gated[j] = cell;
          next_h[j] = out_gate * act(2, cell);
        }
        c = gated;
        break;
      }
    }
    h = next_h;
    if (io.y) {
      for (int64_t j = 0; j < H; ++j) io.y[at.Y(t, d, n) + j] = static_cast<T>(h[j]);
    }
  }
  for (int64_t j = 0; j < H; ++j) {
    if (io.yh) io.yh[at.State(d, n) + j] = static_cast<T>(h[j]);
    if (io.yc) io.yc[at.State(d, n) + j] = static_cast<T>(c[j]);
  }
}

Status RecurrentKernel(CellKind kind, const KernelSpec& spec, const Refs& in, const Refs& out) {
  std::vector<const Dims*> dims(in.size(), nullptr);
  for (size_t i = 0; i < in.size(); ++i) {
    if (!HasInput(in, static_cast<int>(i))) continue;
    dims[i] = &in[i].dims;
    if (static_cast<int>(i) != recurrent::kSequenceLens && in[i].dtype != in[0].dtype) {
      return InvalidArgument("input ", i, " has type ", DTypeName(in[i].dtype), " but X has ", DTypeName(in[0].dtype));
    }
  }
  ASSIGN_OR_RETURN(Geometry g, recurrent::ResolveGeometry(kind, spec.attrs, dims));
  for (int i = 0; i < static_cast<int>(out.size()); ++i) {
    if (!HasOutput(out, i)) continue;
    const Dims expected = i == recurrent::kY ? g.OutputDims() : g.StateDims();
    if (out[i].dims != expected || out[i].dtype != in[0].dtype) {
      return InvalidArgument("output ", i, " is ", DTypeName(out[i].dtype), DimsToString(out[i].dims), ", expected ",
                             DTypeName(in[0].dtype), DimsToString(expected));
    }
  }
  std::vector<int64_t> lengths(g.batch, g.seq_length);
  if (HasInput(in, recurrent::kSequenceLens)) {
    ASSIGN_OR_RETURN(lengths, ReadInts(in[recurrent::kSequenceLens], "sequence_lens"));
    RETURN_IF_ERROR(recurrent::CheckSequenceLengths(lengths, g.seq_length));
  }
  return DispatchFloat(in[0].dtype, [&](auto tag) -> Status {
    using T = decltype(tag);
    auto input = [&](int i) { return HasInput(in, i) ? in[i].as<T>() : nullptr; };
    auto output = [&](int i) { return HasOutput(out, i) ? out[i].as<T>() : nullptr; };
    const Buffers<T> io{input(recurrent::kX),         input(recurrent::kW),        input(recurrent::kR),
                        input(recurrent::kB),         input(recurrent::kInitialH), input(recurrent::kInitialC),
                        input(recurrent::kPeepholes), output(recurrent::kY),       output(recurrent::kYH),
                        output(recurrent::kYC)};
    // Steps past a row's sequence_lens leave Y at zero (ONNX).
    if (io.y) std::fill(io.y, io.y + ElementCount(g.OutputDims()), T{0});
    for (int64_t d = 0; d < g.directions; ++d) {
      for (int64_t n = 0; n < g.batch; ++n) RunSequence(g, io, d, n, lengths[n]);
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterRecurrentKernels(KernelRegistry& r) {
  RegisterRef(r, "RNN", 3, 1, [](const KernelSpec& s, const Refs& in, const Refs& out) {
    return RecurrentKernel(CellKind::kRnn, s, in, out);
  });
  RegisterRef(r, "GRU", 3, 1, [](const KernelSpec& s, const Refs& in, const Refs& out) {
    return RecurrentKernel(CellKind::kGru, s, in, out);
  });
  RegisterRef(r, "LSTM", 3, 1, [](const KernelSpec& s, const Refs& in, const Refs& out) {
    return RecurrentKernel(CellKind::kLstm, s, in, out);
  });
}

}  // namespace ref
}  // namespace kiln::runtime
