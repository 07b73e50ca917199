// RNN, LSTM and GRU (ONNX semantics): the geometry and activation functions that
// shape inference (ir/core/ops/recurrent.cc) and the reference kernels
// (runtime/kernels/reference/recurrent.cc) both read from a node's attributes and
// input shapes, so that the two cannot disagree.
#pragma once

#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln::recurrent {

/// Which recurrent op: fixes the number of gates and of activations per direction.
enum class CellKind { kRnn, kGru, kLstm };

/// Input positions (ONNX order; LSTM alone has initial_c and P).
enum Input { kX = 0, kW, kR, kB, kSequenceLens, kInitialH, kInitialC, kPeepholes };
/// Output positions; kWorkspace is LSTM's training-only output (below).
enum Output { kY = 0, kYH, kYC, kWorkspace };

/// The backward ops RNNGrad, GRUGrad, LSTMGrad take the forward op's inputs (absent
/// ones stay absent) followed by dY, dY_h (and dY_c) from GradInputBase(kind) on, and
/// output dX, dW, dR, dB, d_initial_h (and d_initial_c, dP): output o is the
/// gradient of forward input GradOutputInput(o).
int GradInputBase(CellKind kind);
/// The backward ops' attribute x_gradient (default 1): 0 when autodiff wants no dX (X is
/// data, not computed from a parameter); output 0 is then an empty [0] tensor.
bool ComputesInputGradient(const Attrs& grad_attrs);
int NumGradOutputs(CellKind kind);
int GradOutputInput(int output);

/// LSTM's workspace: an optional output that only autodiff adds, when an LSTMGrad reads
/// it (GradWorkspaceInput) instead of recomputing the forward; inference graphs and ONNX
/// models never carry it. Per direction and row of X (X's own order: [T, N] at layout 0,
/// [N, T] at layout 1), kWorkspaceParts blocks of H floats: the step's gates'
/// pre-activations i, o, f, c (peephole terms added, before clipping), the new cell state
/// and the previous hidden state. Steps past a row's sequence_lens are zeros.
constexpr int kWorkspaceParts = 6;
enum WorkspacePart { kWsGates = 0, kWsCell = 4, kWsPrevH = 5 };
/// LSTMGrad's optional input holding the forward's workspace (after dY, dY_h, dY_c).
int GradWorkspaceInput();

/// Gates per hidden unit in W/R: RNN 1 (i), GRU 3 (z, r, h), LSTM 4 (i, o, f, c).
int NumGates(CellKind kind);
/// Activation functions per direction: RNN 1 (f), GRU 2 (f, g), LSTM 3 (f, g, h).
int NumActivations(CellKind kind);

/// An activation function of the `activations` list with its alpha/beta.
struct Activation {
  enum Kind {
    kRelu,
    kTanh,
    kSigmoid,
    kAffine,
    kLeakyRelu,
    kThresholdedRelu,
    kScaledTanh,
    kHardSigmoid,
    kElu,
    kSoftsign,
    kSoftplus
  };
  Kind kind = kTanh;
  double alpha = 0, beta = 0;

  double Apply(double x) const;
  /// d Apply / dx at x.
  double Derivative(double x) const;
};

/// Everything a recurrent node's shapes and attributes determine.
struct Geometry {
  CellKind kind = CellKind::kRnn;
  int64_t seq_length = 0;               // T
  int64_t batch = 0;                    // N
  int64_t input_size = 0;               // I
  int64_t hidden = 0;                   // H
  int64_t directions = 1;               // D: 2 when bidirectional
  bool reverse = false;                 // direction=reverse (a single direction run from the end)
  bool batch_first = false;             // layout=1: X [N, T, I], Y [N, T, D, H], states [N, D, H]
  float clip = 0;                       // 0: no clipping of the activations' inputs
  bool linear_before_reset = false;     // GRU
  bool input_forget = false;            // LSTM: f = 1 - i
  std::vector<Activation> activations;  // NumActivations(kind) per direction, direction 0 first

  /// The i-th activation (f, g, h) of direction d.
  const Activation& act(int64_t d, int i) const { return activations[d * NumActivations(kind) + i]; }
  /// Shape of Y and of the state outputs Y_h / Y_c (and of initial_h / initial_c).
  Dims OutputDims() const;
  Dims StateDims() const;
  /// Shape of LSTM's workspace: [D, X dim 0, X dim 1, kWorkspaceParts * H].
  Dims WorkspaceDims() const;
};

/// Resolves and checks a node's geometry from its attributes and input shapes
/// (`inputs[i]` null when input i is absent); errors name no node (callers add it).
StatusOr<Geometry> ResolveGeometry(CellKind kind, const Attrs& attrs, const std::vector<const Dims*>& inputs);

/// Checks sequence_lens values: each in [1, T].
Status CheckSequenceLengths(const std::vector<int64_t>& lengths, int64_t seq_length);

}  // namespace kiln::recurrent
