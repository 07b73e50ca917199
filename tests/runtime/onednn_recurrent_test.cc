// oneDNN kernels of RNN, GRU, LSTM and their Grad ops
// (runtime/kernels/onednn/onednn_recurrent.cc) against the reference kernels on
// random inputs: every cell (vanilla RNN with each activation oneDNN has, GRU,
// linear-before-reset GRU, LSTM with and without peepholes), every direction,
// both layouts, with and without bias and initial states, weights as plan
// constants and as inputs; and the support check declining what oneDNN's cells
// do not compute. The registry's kernels run where vector_recurrent.h's rule sends
// them (the vector kernels for these sizes; oneDNN's primitives for peephole LSTMGrad
// and RNNGrad), the vector kernels are also built directly for every instruction
// set the CPU has (on 3 threads where the batch splits, or at batch 1 the hidden units), and forward nodes, LSTMGrad
// and GRUGrad run once more at a batch and hidden size that oneDNN's primitive computes.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "dnnl.hpp"
#include "ir/core/ops/recurrent.h"
#include "runtime/kernel.h"
#include "runtime/kernels/onednn/vector_recurrent.h"
#include "tests/runtime/simd_levels.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using recurrent::CellKind;
using runtime::ExecEnv;
using runtime::KernelRegistry;
using runtime::KernelSpec;
using runtime::onednn::SimdLevel;
using Factory = std::function<StatusOr<std::unique_ptr<runtime::Kernel>>(const KernelSpec&)>;

struct Case {
  std::string op;  // RNN, GRU, LSTM
  std::string direction = "forward";
  int layout = 0;
  bool bias = true, states = true, peepholes = false, linear_before_reset = false, constant_weights = false;
  bool x_gradient = true;  // the Grad op's attribute: false leaves output 0 (dX) empty
  std::string activation;  // RNN: "" (Tanh), "Relu", "Sigmoid"
  int64_t T = 5, N = 3, I = 4, H = 6;

  CellKind kind() const { return op == "RNN" ? CellKind::kRnn : op == "GRU" ? CellKind::kGru : CellKind::kLstm; }
  int64_t D() const { return direction == "bidirectional" ? 2 : 1; }
  int64_t gates() const { return recurrent::NumGates(kind()); }
  Dims X() const { return layout ? Dims{N, T, I} : Dims{T, N, I}; }
  Dims Y() const { return layout ? Dims{N, T, D(), H} : Dims{T, D(), N, H}; }
  Dims State() const { return layout ? Dims{N, D(), H} : Dims{D(), N, H}; }
  // LSTM's workspace (recurrent.h): rows in X's order.
  Dims Workspace() const {
    return layout ? Dims{D(), N, T, recurrent::kWorkspaceParts * H} : Dims{D(), T, N, recurrent::kWorkspaceParts * H};
  }
  Attrs attrs() const {
    Attrs a;
    a.SetInt("hidden_size", H);
    a.SetString("direction", direction);
    a.SetInt("layout", layout);
    if (linear_before_reset) a.SetInt("linear_before_reset", 1);
    if (!x_gradient) a.SetInt("x_gradient", 0);
    if (!activation.empty()) a.SetStrings("activations", std::vector<std::string>(D(), activation));
    return a;
  }
  std::string Name() const {
    std::string n = op + (linear_before_reset ? "_lbr" : "") + "_" + direction + "_layout" + std::to_string(layout);
    if (!activation.empty()) n += "_" + activation;
    if (!bias) n += "_nobias";
    if (!states) n += "_nostates";
    if (peepholes) n += "_peepholes";
    if (constant_weights) n += "_constweights";
    if (H != 6) n += "_H" + std::to_string(H);
    if (N != 3) n += "_N" + std::to_string(N);
    return n;
  }
  // X, W, R, B, sequence_lens (omitted), initial_h (, initial_c, P); empty Tensors are omitted.
  std::vector<Tensor> ForwardInputs(uint32_t seed) const {
    const bool lstm = kind() == CellKind::kLstm;
    std::vector<Tensor> in = {testing::RandomTensor(X(), seed),
                              testing::RandomTensor({D(), gates() * H, I}, seed + 1),
                              testing::RandomTensor({D(), gates() * H, H}, seed + 2),
                              bias ? testing::RandomTensor({D(), 2 * gates() * H}, seed + 3) : Tensor(),
                              Tensor(),
                              states ? testing::RandomTensor(State(), seed + 4) : Tensor()};
    if (lstm) {
      in.push_back(states ? testing::RandomTensor(State(), seed + 5) : Tensor());
      in.push_back(peepholes ? testing::RandomTensor({D(), 3 * H}, seed + 6) : Tensor());
    }
    while (!in.empty() && in.back().dtype() == proto::DT_UNDEFINED) in.pop_back();
    return in;
  }
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.Name(); }

class OneDnnRecurrentTest : public ::testing::TestWithParam<Case> {
 protected:
  OneDnnRecurrentTest() {
    env_.engine = &engine_;
    env_.stream = &stream_;
  }

  // Runs the kernel `create` makes for `op` twice; W, R, B, P are plan constants when the case says so.
  StatusOr<std::vector<Tensor>> Run(const Factory& create, const std::string& op, const Case& c,
                                    const std::vector<Tensor>& inputs, const std::vector<Dims>& output_dims) {
    KernelSpec spec;
    spec.name = "n";
    spec.op_type = op;
    spec.attrs = c.attrs();
    spec.env = &env_;
    for (size_t i = 0; i < inputs.size(); ++i) {
      spec.inputs.push_back(inputs[i].ref());
      const bool weight = i == recurrent::kW || i == recurrent::kR || i == recurrent::kB ||
                          (c.kind() == CellKind::kLstm && i == recurrent::kPeepholes);
      spec.constant_inputs.push_back(c.constant_weights && weight);
    }
    std::vector<Tensor> outputs;
    for (const Dims& d : output_dims) {
      outputs.emplace_back(proto::DT_FLOAT, d);
      spec.outputs.push_back(outputs.back().ref());
    }
    ASSIGN_OR_RETURN(auto kernel, create(spec));
    // Twice: the second run must not see what the first left in scratch or accumulators.
    RETURN_IF_ERROR(kernel->Run(spec.inputs, spec.outputs));
    RETURN_IF_ERROR(kernel->Run(spec.inputs, spec.outputs));
    return outputs;
  }
  static Factory Backend(const std::string& backend) {
    return [backend](const KernelSpec& spec) { return KernelRegistry::Global().Create(backend, spec); };
  }
  // The vector kernel (forward, or LSTM's and GRU's backward) for `level`, built directly.
  static Factory Vector(const Case& c, SimdLevel level, bool op_is_grad) {
    return [c, level, op_is_grad](const KernelSpec& spec) -> StatusOr<std::unique_ptr<runtime::Kernel>> {
      std::vector<const Dims*> dims;
      const int forward_inputs = op_is_grad ? recurrent::GradInputBase(c.kind()) : static_cast<int>(spec.inputs.size());
      for (int i = 0; i < forward_inputs && i < static_cast<int>(spec.inputs.size()); ++i) {
        const TensorRef& t = spec.inputs[i];
        dims.push_back(t.dtype == proto::DT_UNDEFINED ? nullptr : &t.dims);
      }
      ASSIGN_OR_RETURN(recurrent::Geometry g, recurrent::ResolveGeometry(c.kind(), spec.attrs, dims));
      return op_is_grad ? runtime::onednn::BuildVectorRecurrentGrad(g, spec, level)
                        : runtime::onednn::BuildVectorRecurrent(g, spec, level);
    };
  }

  void ExpectMatchesRef(const Factory& create, const std::string& what, const std::string& op, const Case& c,
                        const std::vector<Tensor>& inputs, const std::vector<Dims>& output_dims, double atol = 2e-5,
                        double rtol = 1e-4) {
    auto got = Run(create, op, c, inputs, output_dims);
    ASSERT_TRUE(got.ok()) << what << ": " << got.status().message();
    auto ref = Run(Backend("ref"), op, c, inputs, output_dims);
    ASSERT_OK(ref.status());
    for (size_t i = 0; i < output_dims.size(); ++i) {
      const std::string diff = testing::CompareTensors((*got)[i], (*ref)[i], atol, rtol);
      EXPECT_TRUE(diff.empty()) << what << ": " << op << " output " << i << ": " << diff;
    }
  }
  // The Grad op of `c` on the registry's kernel and the vector kernels against the reference.
  void ExpectBackwardMatchesReference(const Case& c, double atol = 2e-5, double rtol = 1e-4);
  void ExpectMatchesRef(const std::string& op, const Case& c, const std::vector<Tensor>& inputs,
                        const std::vector<Dims>& output_dims) {
    ExpectMatchesRef(Backend("onednn"), "onednn", op, c, inputs, output_dims);
  }

  dnnl::engine engine_{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream_{engine_};
  ExecEnv env_;
};

// Y, Y_h (, Y_c, and with `workspace` LSTM's training-only output).
std::vector<Dims> ForwardOutputs(const Case& c, bool workspace = false) {
  std::vector<Dims> outputs = {c.Y(), c.State()};
  if (c.kind() == CellKind::kLstm) outputs.push_back(c.State());
  if (c.kind() == CellKind::kLstm && workspace) outputs.push_back(c.Workspace());
  return outputs;
}

// Sets OpenMP's thread count for one scope.
class Threads {
 public:
  explicit Threads(int n) : saved_(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

// The case at the smallest batch and hidden size the vector kernels leave to oneDNN.
Case ForOneDnn(Case c) {
  c.N = runtime::onednn::kSmallBatch + 1;
  recurrent::Geometry g;
  g.kind = c.kind(), g.batch = c.N;
  for (g.hidden = c.H; runtime::onednn::UseVectorKernel(g); ++g.hidden) {
  }
  c.H = g.hidden;
  c.T = 2;
  return c;
}

TEST_P(OneDnnRecurrentTest, ForwardMatchesReference) {
  Case c = GetParam();
  // The registry's choice (the vector kernel at these sizes, oneDNN's primitive above)...
  ExpectMatchesRef(c.op, c, c.ForwardInputs(1), ForwardOutputs(c));
  // Float sums of H + I = 500-odd random terms: a looser tolerance.
  const Case big = ForOneDnn(c);
  ExpectMatchesRef(Backend("onednn"), "onednn", big.op, big, big.ForwardInputs(1), ForwardOutputs(big), 2e-4, 1e-3);
  // LSTM's workspace is the op's (the reference kernel's layout): the vector kernel writes
  // it, at the big size too, where without it oneDNN's primitive runs.
  const bool lstm = c.kind() == CellKind::kLstm;
  if (lstm) {
    ExpectMatchesRef(c.op, c, c.ForwardInputs(1), ForwardOutputs(c, true));
    ExpectMatchesRef(Backend("onednn"), "onednn, workspace", big.op, big, big.ForwardInputs(1),
                     ForwardOutputs(big, true), 2e-4, 1e-3);
  }
  // ...and the vector kernel on every instruction set this CPU has.
  Threads threads(3);
  for (SimdLevel level : testing::CpuSimdLevels()) {
    ExpectMatchesRef(Vector(c, level, false), "vector kernel, level " + std::to_string(static_cast<int>(level)), c.op,
                     c, c.ForwardInputs(1), ForwardOutputs(c, lstm));
    // Without the workspace (inference), where a small batch's steps split their hidden units.
    if (lstm) {
      ExpectMatchesRef(Vector(c, level, false),
                       "vector kernel without workspace, level " + std::to_string(static_cast<int>(level)), c.op, c,
                       c.ForwardInputs(1), ForwardOutputs(c));
    }
  }
}

// The vector kernels' sigmoid and tanh are rational fits on clamped inputs, their results
// clamped too (vector_recurrent.cc): pre-activations far past the clamps (input weights
// in [-12, 12]) still match the reference, and a NaN input stays NaN in its batch row rather
// than being clamped to a number.
TEST_F(OneDnnRecurrentTest, VectorActivationsSaturateAndKeepNaN) {
  for (const char* op : {"LSTM", "GRU", "RNN"}) {
    Case c;
    c.op = op;
    c.H = 16, c.N = 4, c.T = 6;
    std::vector<Tensor> inputs = c.ForwardInputs(7);
    // Large input weights; small recurrent ones, so that rounding differences do not grow
    // from step to step (with R in [-12, 12] two summation orders part by 1e-3 in 6 steps).
    inputs[recurrent::kW] = testing::RandomTensor(inputs[recurrent::kW].dims(), 30, -12, 12);
    inputs[recurrent::kR] = testing::RandomTensor(inputs[recurrent::kR].dims(), 31, -0.1f, 0.1f);
    Tensor with_nan(proto::DT_FLOAT, c.X());  // a fresh tensor: copies share storage
    std::memcpy(with_nan.MutableData(), inputs[recurrent::kX].data(), with_nan.num_bytes());
    with_nan.mutable_data_as<float>()[c.I + 1] = std::numeric_limits<float>::quiet_NaN();  // step 0, batch row 1
    for (SimdLevel level : testing::CpuSimdLevels()) {
      const std::string what = std::string(op) + ", level " + std::to_string(static_cast<int>(level));
      ExpectMatchesRef(Vector(c, level, false), what, c.op, c, inputs, ForwardOutputs(c), 1e-4, 1e-4);
      std::vector<Tensor> nan_inputs = inputs;
      nan_inputs[recurrent::kX] = with_nan;
      ExpectMatchesRef(Vector(c, level, false), what + ", NaN", c.op, c, nan_inputs, ForwardOutputs(c), 1e-4, 1e-4);
      auto got = Run(Vector(c, level, false), c.op, c, nan_inputs, ForwardOutputs(c));
      ASSERT_OK(got.status());
      const float* y = (*got)[0].data_as<float>();  // [T][1][N][H]: the last step's row 1 is NaN, row 0 not
      EXPECT_TRUE(std::isnan(y[((c.T - 1) * c.N + 1) * c.H])) << what;
      EXPECT_FALSE(std::isnan(y[(c.T - 1) * c.N * c.H])) << what;
    }
  }
}

TEST_P(OneDnnRecurrentTest, BackwardMatchesReference) {
  for (bool x_gradient : {true, false}) {
    Case c = GetParam();
    c.x_gradient = x_gradient;
    SCOPED_TRACE(x_gradient ? "with dX" : "x_gradient=0");
    ExpectBackwardMatchesReference(c);
  }
  // Above the vector kernels' sizes oneDNN's primitive computes GRUGrad, and LSTM's workspace
  // still takes LSTMGrad to the vector kernel (oneDNN's primitive without it); float sums of
  // 500-odd terms: a looser tolerance.
  const Case& c = GetParam();
  if ((c.kind() == CellKind::kLstm && !c.peepholes) || c.kind() == CellKind::kGru) {
    SCOPED_TRACE("oneDNN's sizes");
    ExpectBackwardMatchesReference(ForOneDnn(c), 2e-4, 1e-3);
  }
}

void OneDnnRecurrentTest::ExpectBackwardMatchesReference(const Case& c, double atol, double rtol) {
  const bool lstm = c.kind() == CellKind::kLstm;
  std::vector<Tensor> inputs = c.ForwardInputs(11);
  inputs.resize(recurrent::GradInputBase(c.kind()));
  inputs.push_back(testing::RandomTensor(c.Y(), 21));
  inputs.push_back(testing::RandomTensor(c.State(), 22));
  if (lstm) inputs.push_back(testing::RandomTensor(c.State(), 23));
  // dX, dW, dR, dB, d_initial_h (, d_initial_c, dP): those of the inputs the case has.
  std::vector<Dims> outputs = {
      c.x_gradient ? c.X() : Dims{0}, {c.D(), c.gates() * c.H, c.I}, {c.D(), c.gates() * c.H, c.H}};
  if (c.bias || c.states || c.peepholes) outputs.push_back({c.D(), 2 * c.gates() * c.H});
  if (c.states || c.peepholes) outputs.push_back(c.State());
  if (lstm && (c.states || c.peepholes)) outputs.push_back(c.State());
  if (c.peepholes) outputs.push_back({c.D(), 3 * c.H});
  // The registry's choice (LSTM without peepholes and GRU: the vector kernel at the vector
  // kernels' sizes; else oneDNN's primitive)...
  ExpectMatchesRef(Backend("onednn"), "onednn", c.op + "Grad", c, inputs, outputs, atol, rtol);
  if (c.kind() == CellKind::kGru) {  // ...and GRU's vector kernel on every instruction set this CPU has
    Threads threads(3);
    for (SimdLevel level : testing::CpuSimdLevels()) {
      ExpectMatchesRef(Vector(c, level, true), "vector kernel, level " + std::to_string(static_cast<int>(level)),
                       c.op + "Grad", c, inputs, outputs, atol, rtol);
    }
  }
  if (!lstm) return;
  // LSTM with the forward's workspace (the reference kernel's): the reference's backward
  // from it agrees with its recompute, and the registry's kernel with it.
  auto forward = Run(Backend("ref"), c.op, c, c.ForwardInputs(11), ForwardOutputs(c, true));
  ASSERT_OK(forward.status());
  std::vector<Tensor> with_workspace = inputs;
  with_workspace.resize(recurrent::GradWorkspaceInput());
  with_workspace.push_back((*forward)[recurrent::kWorkspace]);
  auto recomputed = Run(Backend("ref"), c.op + "Grad", c, inputs, outputs);
  auto read = Run(Backend("ref"), c.op + "Grad", c, with_workspace, outputs);
  ASSERT_OK(recomputed.status());
  ASSERT_OK(read.status());
  for (size_t i = 0; i < outputs.size(); ++i) {
    const std::string diff = testing::CompareTensors((*read)[i], (*recomputed)[i], atol / 2, rtol / 10);
    EXPECT_TRUE(diff.empty()) << "reference from the workspace: output " << i << ": " << diff;
  }
  ExpectMatchesRef(Backend("onednn"), "onednn, workspace", c.op + "Grad", c, with_workspace, outputs, atol, rtol);
  // ...and the vector kernel on every instruction set this CPU has, with and without it.
  if (c.peepholes) return;
  Threads threads(3);
  for (SimdLevel level : testing::CpuSimdLevels()) {
    const std::string what = "vector kernel, level " + std::to_string(static_cast<int>(level));
    ExpectMatchesRef(Vector(c, level, true), what, c.op + "Grad", c, inputs, outputs, atol, rtol);
    ExpectMatchesRef(Vector(c, level, true), what + ", workspace", c.op + "Grad", c, with_workspace, outputs, atol,
                     rtol);
  }
}

std::vector<Case> Cases() {
  std::vector<Case> cases;
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    for (const char* direction : {"forward", "reverse", "bidirectional"}) {
      for (int layout : {0, 1}) {
        Case c;
        c.op = op;
        c.direction = direction;
        c.layout = layout;
        cases.push_back(c);
        if (c.op == "GRU") {
          c.linear_before_reset = true;
          cases.push_back(c);
        }
        if (c.op == "LSTM") {
          c.peepholes = true;
          cases.push_back(c);
        }
      }
    }
    Case c;
    c.op = op;
    c.direction = "bidirectional";
    c.bias = c.states = false;
    cases.push_back(c);
    c.bias = c.states = true;
    c.constant_weights = true;
    c.peepholes = c.op == "LSTM";
    cases.push_back(c);
  }
  for (const char* activation : {"Relu", "Sigmoid"}) {
    Case c;
    c.op = "RNN";
    c.direction = "bidirectional";
    c.activation = activation;
    cases.push_back(c);
  }
  // Sizes that exercise the vector kernel's blocks: a 4-row block plus one row, gates
  // padded from 20 to 32, column blocks and single vectors, 7 input rows.
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    Case c;
    c.op = op;
    c.T = 7, c.N = 5, c.I = 9, c.H = 20;
    c.direction = "bidirectional";
    c.layout = 1;
    c.peepholes = c.op == "LSTM";
    c.constant_weights = true;
    cases.push_back(c);
    if (c.op == "GRU") {
      c.linear_before_reset = true;
      cases.push_back(c);
    }
  }
  Case lbr;  // a batch the vector kernel splits over threads (17 rows on 3 threads: 5, 6, 6)
  lbr.op = "GRU";
  lbr.linear_before_reset = true;
  lbr.T = 4, lbr.N = 17, lbr.I = 5, lbr.H = 16;
  lbr.direction = "reverse";
  cases.push_back(lbr);
  // Shares of 8 rows and more (24 rows on 3 threads) with a small W: the vector forward's
  // input projection step by step, in both layouts.
  for (const char* op : {"RNN", "GRU", "LSTM"}) {
    for (int layout : {0, 1}) {
      Case c;
      c.op = op;
      c.T = 4, c.N = 24, c.I = 5, c.H = 16;
      c.layout = layout;
      c.direction = "bidirectional";
      cases.push_back(c);
    }
  }
  // Batch 1 and 3, H 130 (padded to 144): too few rows to share, so the threads split each
  // step's hidden units (64 + 80) instead; LSTM with peepholes, both directions. (RNNGrad at
  // this size is oneDNN's primitive, whose sums round past the backward test's tolerance.)
  for (int64_t n : {1, 3}) {
    Case c;
    c.op = "LSTM";
    c.T = 5, c.N = n, c.I = 7, c.H = 130;
    c.layout = n == 3;
    c.direction = "bidirectional";
    c.peepholes = true;
    cases.push_back(c);
  }
  Case whole;  // H a multiple of the padding: LSTM's gates computed in, and read from, the workspace
  whole.op = "LSTM";
  whole.T = 5, whole.N = 6, whole.I = 3, whole.H = 16;
  whole.direction = "reverse";
  whole.layout = 1;
  cases.push_back(whole);
  Case wide;  // sizes at which oneDNN takes its blocked, vectorized paths
  wide.op = "LSTM";
  wide.T = 7, wide.N = 17, wide.I = 28, wide.H = 64;
  wide.direction = "bidirectional";
  cases.push_back(wide);
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cells, OneDnnRecurrentTest, ::testing::ValuesIn(Cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.Name(); });

// ---- What oneDNN's cells cannot compute goes to the reference kernels ----

std::string Reason(const Case& c, const Attrs& extra, bool sequence_lens = false) {
  KernelSpec spec;
  spec.name = "n";
  spec.op_type = c.op;
  spec.attrs = c.attrs();
  for (const auto& [name, attr] : extra.all()) spec.attrs.Set(attr);
  for (const Tensor& t : c.ForwardInputs(1)) spec.inputs.push_back(TensorRef{t.dtype(), t.dims(), nullptr});
  if (sequence_lens) spec.inputs[recurrent::kSequenceLens] = TensorRef{proto::DT_INT32, {c.N}, nullptr};
  spec.outputs.push_back(TensorRef{proto::DT_FLOAT, c.Y(), nullptr});
  return runtime::OneDnnUnsupportedReason(spec);
}

TEST(OneDnnRecurrentSupportTest, DeclinesWhatTheCellsDoNotCompute) {
  Case lstm;
  lstm.op = "LSTM";
  EXPECT_EQ(Reason(lstm, {}), "");
  Attrs clip, input_forget, activations, rnn_affine;
  clip.SetFloat("clip", 1.0f);
  input_forget.SetInt("input_forget", 1);
  activations.SetStrings("activations", {"Sigmoid", "Tanh", "Relu"});
  EXPECT_NE(Reason(lstm, clip).find("clip"), std::string::npos);
  EXPECT_NE(Reason(lstm, input_forget).find("input_forget"), std::string::npos);
  EXPECT_NE(Reason(lstm, activations).find("activations"), std::string::npos);
  EXPECT_NE(Reason(lstm, {}, true), "");
  Case rnn;
  rnn.op = "RNN";
  rnn_affine.SetStrings("activations", {"Affine"});
  EXPECT_NE(Reason(rnn, rnn_affine).find("activation"), std::string::npos);
}

}  // namespace
}  // namespace kiln
