// Gradient rules of RNN, GRU and LSTM: backpropagation through time as one
// backward op each (RNNGrad, GRUGrad, LSTMGrad; docs/training_ops.md), which
// recomputes the forward steps it needs instead of keeping them in the graph.
#include "ir/core/ops/recurrent.h"
#include "ir/gradient.h"

namespace kiln {
namespace {

using recurrent::CellKind;

template <CellKind kKind, OpKind kGradOp>
Status RecurrentGrad(GradientContext& c) {
  const int base = recurrent::GradInputBase(kKind);
  std::vector<Value*> inputs(base, nullptr);
  for (int i = 0; i < c.node.num_inputs() && i < base; ++i) inputs[i] = c.X(i);
  for (int o = 0; o < c.node.num_outputs(); ++o) inputs.push_back(c.dY(o));
  while (!inputs.empty() && !inputs.back()) inputs.pop_back();
  int num_outputs = 0;
  for (int o = 0; o < recurrent::NumGradOutputs(kKind); ++o) {
    const int i = recurrent::GradOutputInput(o);
    if (i < c.node.num_inputs() && c.X(i) && c.wants(i)) num_outputs = o + 1;
  }
  if (num_outputs == 0) return Status::Ok();
  ASSIGN_OR_RETURN(std::vector<Value*> grads, c.Emit(OpKindName(kGradOp), inputs, c.node.attrs(), num_outputs));
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
