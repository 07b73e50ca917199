// recurrent-batch-first: a batch-first model's recurrent layer as exported (PyTorch's
// nn.LSTM/GRU/RNN with batch_first=True)
//   Transpose{1,0,2}(X [N, T, C]) -> LSTM (layout 0) -> Y [T, 1, N, H] -> Squeeze{1} -> Transpose{1,0,2}
// becomes the op with layout = 1 (ONNX's batch-first layout, which every recurrent kernel runs:
// oneDNN's ntc sequences, the vector kernels' rows, the reference)
//   LSTM (layout 1) over X -> Y [N, T, 1, H] -> Squeeze{2}
// so the two transposes of the whole sequence are gone (the LSTM bench model at batch 64:
// 0.10 of 2.2 ms). One direction only; initial states [1, N, H] become [N, 1, H] (the same
// bytes); Y_h and Y_c must be unused (their layout would change).
#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"

namespace kiln {
namespace {

bool IsSwapOfFirstTwo(const Node* n) {
  return n && n->op_type() == "Transpose" && n->attrs().GetInts("perm") == std::vector<int64_t>{1, 0, 2};
}

// A Squeeze of axis `axis` alone (attribute or constant input).
bool SqueezesAxis(const Node* n, int64_t axis) {
  if (!n || n->op_type() != "Squeeze") return false;
  if (n->num_inputs() >= 2 && n->input(1)) {
    const Value* axes = n->input(1);
    if (!axes->is_constant() || axes->constant().num_elements() != 1) return false;
    const Tensor& t = axes->constant();
    const int64_t a = t.dtype() == proto::DT_INT64 ? t.data_as<int64_t>()[0] : -100;
    return a == axis || a == axis - 4;
  }
  const std::vector<int64_t> axes = n->attrs().GetInts("axes");
  return axes.size() == 1 && (axes[0] == axis || axes[0] == axis - 4);
}

class RecurrentBatchFirstPass : public Pass {
 public:
  std::string name() const override { return "recurrent-batch-first"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions&) override {
    bool changed = false;
    for (Node* rnn : graph.NodeList()) {
      const std::string& op = rnn->op_type();
      if ((op != "LSTM" && op != "GRU" && op != "RNN") || rnn->attrs().GetInt("layout", 0) != 0 ||
          rnn->attrs().GetString("direction", "forward") == "bidirectional" || !rnn->input(0)) {
        continue;
      }
      Value* x = rnn->input(0);
      Node* in_swap = x->producer();
      if (!IsSwapOfFirstTwo(in_swap) || SoleUser(graph, x) != rnn || !x->has_type()) continue;
      Value* y = rnn->output(0);
      Node* squeeze = SoleUser(graph, y);
      if (!SqueezesAxis(squeeze, 1)) continue;
      Node* out_swap = SoleUser(graph, squeeze->output(0));
      if (!IsSwapOfFirstTwo(out_swap) || !y->has_type()) continue;
      bool states_unused = true;
      for (int i = 1; i < rnn->num_outputs(); ++i) {
        states_unused &= graph.NumUses(rnn->output(i)) == 0 && !graph.IsGraphOutput(rnn->output(i));
      }
      if (!states_unused) continue;

      const Dims& ydims = y->dims();  // [T, 1, N, H]
      const int64_t T = ydims[0], N = ydims[2], H = ydims[3];
      std::vector<Value*> inputs = rnn->inputs();
      inputs[0] = in_swap->input(0);
      // Initial states (inputs 5 and, for LSTM, 6): [1, N, H] -> [N, 1, H], the same bytes.
      bool states_ok = true;
      for (int i = 5; i < static_cast<int>(inputs.size()) && i <= 6; ++i) {
        Value* s = inputs[i];
        if (!s) continue;
        if (!s->has_type() || s->dims() != Dims{1, N, H}) {
          states_ok = false;
          break;
        }
        Value* shape = graph.AddConstant(rnn->name() + "_state_shape",
                                         Tensor::FromVector(proto::DT_INT64, {3}, std::vector<int64_t>{N, 1, H}));
        Node* reshape = graph.InsertNodeBefore(rnn, "Reshape", rnn->name() + "_state", {s, shape});
        reshape->output(0)->set_type({s->dtype(), {N, 1, H}});
        inputs[i] = reshape->output(0);
      }
      if (!states_ok) continue;
      Attrs attrs = rnn->attrs();
      attrs.SetInt("layout", 1);
      Node* batch_first = graph.InsertNodeBefore(rnn, op, rnn->name(), inputs, rnn->num_outputs(), attrs);
      batch_first->output(0)->set_type({y->dtype(), {N, T, 1, H}});
      for (int i = 1; i < rnn->num_outputs(); ++i) batch_first->output(i)->set_type({y->dtype(), {N, 1, H}});
      Value* axis = graph.AddConstant(squeeze->name() + "_axes",
                                      Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{2}));
      Node* squeezed = graph.InsertNodeBefore(out_swap, "Squeeze", squeeze->name(), {batch_first->output(0), axis});
      squeezed->output(0)->set_type(out_swap->output(0)->type());
      if (!ReplaceWithNewValue(graph, out_swap->output(0), squeezed->output(0))) {
        graph.RemoveNode(squeezed);
        graph.RemoveNode(batch_first);
        continue;
      }
      changed = true;
    }
    if (changed) RemoveUnusedNodes(graph);
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateRecurrentBatchFirstPass() { return std::make_unique<RecurrentBatchFirstPass>(); }

}  // namespace kiln
