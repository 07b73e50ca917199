// Gradient rules of RNN, GRU and LSTM: backpropagation through time as one
// backward op each (RNNGrad, GRUGrad, LSTMGrad; docs/training_ops.md), which
// recomputes the forward steps it needs (RNN, GRU) or reads what LSTM's forward kept
// in its training-only workspace output (ir/core/ops/recurrent.h).
#include "ir/core/ops/recurrent.h"
#include "ir/gradient.h"

namespace kiln {
namespace {

using recurrent::CellKind;

template <CellKind kKind, OpKind kGradOp>
Status RecurrentGrad(GradientContext& c) {
  int num_outputs = 0;
  for (int o = 0; o < recurrent::NumGradOutputs(kKind); ++o) {
    const int i = recurrent::GradOutputInput(o);
    if (i < c.node.num_inputs() && c.X(i) && c.wants(i)) num_outputs = o + 1;
  }
  if (num_outputs == 0) return Status::Ok();
  const int base = recurrent::GradInputBase(kKind);
  std::vector<Value*> inputs(base, nullptr);
  for (int i = 0; i < c.node.num_inputs() && i < base; ++i) inputs[i] = c.X(i);
  const int visible_outputs = kKind == CellKind::kLstm ? 3 : 2;  // Y, Y_h (, Y_c)
  for (int o = 0; o < static_cast<int>(c.output_grads.size()) && o < visible_outputs; ++o) inputs.push_back(c.dY(o));
  if constexpr (kKind == CellKind::kLstm) {
    // The forward keeps its gates and states for the backward, which then does not recompute them.
    ASSIGN_OR_RETURN(Value * workspace, c.ForwardOutput(recurrent::kWorkspace));
    inputs.resize(recurrent::GradWorkspaceInput(), nullptr);
    inputs.push_back(workspace);
  }
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();
  Attrs attrs = c.node.attrs();
  // dX is skipped when X is data (~5% of an LSTM training step at batch 64, I 28, H 128).
  if (!c.wants(recurrent::kX)) attrs.SetInt("x_gradient", 0);
  ASSIGN_OR_RETURN(std::vector<Value*> grads, c.Emit(OpKindName(kGradOp), inputs, attrs, num_outputs));
  for (int o = 0; o < num_outputs; ++o) {
    const int i = recurrent::GradOutputInput(o);
    if (i < c.node.num_inputs() && c.X(i) && c.wants(i)) c.set_grad(i, grads[o]);
  }
  return Status::Ok();
}

}  // namespace

void RegisterRecurrentGradients(GradientRules& r) {
  r.SetGradient(OpKind::kRNN, RecurrentGrad<CellKind::kRnn, OpKind::kRNNGrad>);
  r.SetGradient(OpKind::kGRU, RecurrentGrad<CellKind::kGru, OpKind::kGRUGrad>);
  r.SetGradient(OpKind::kLSTM, RecurrentGrad<CellKind::kLstm, OpKind::kLSTMGrad>);
}

}  // namespace kiln
