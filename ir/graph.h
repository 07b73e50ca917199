// The in-memory SSA graph: values (each defined once, by a node, a graph input
// or a constant) and nodes kept in topological order.
#pragma once

#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/dtype.h"
#include "ir/core/tensor.h"

namespace kiln {

class Node;
class Graph;
struct OpDef;

/// One read of a value: input `slot` of `node`. Values keep their uses so that
/// use queries and rewiring cost O(uses), not O(graph) (compile time stays near-linear).
struct Use {
  Node* node;
  int slot;
};

class Value {
 public:
  const std::string& name() const { return name_; }
  const TensorType& type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Dims& dims() const { return type_.dims; }
  bool has_type() const { return type_.dtype != proto::DT_UNDEFINED; }
  void set_type(TensorType t) { type_ = std::move(t); }

  /// The node that defines this value; null for graph inputs and constants.
  Node* producer() const { return producer_; }
  int producer_output() const { return producer_output_; }

  /// Constants (initializers, Constant nodes after folding) carry their data.
  bool is_constant() const { return constant_.has_value(); }
  const Tensor& constant() const { return *constant_; }
  void set_constant(Tensor t) {
    type_ = TensorType{t.dtype(), t.dims()};
    constant_ = std::move(t);
  }
  /// Trainable parameters are constants that training may update.
  bool is_parameter() const { return is_parameter_; }
  void set_parameter(bool p) { is_parameter_ = p; }
  /// Persistent state of a training step (see Graph::states()).
  bool is_state() const { return is_state_; }

  /// Symbolic dims as declared by the frontend (index -> symbol), fixed by ResolveSymbolicDims.
  std::vector<std::pair<int, std::string>>& symbolic_dims() { return symbolic_dims_; }
  const std::vector<std::pair<int, std::string>>& symbolic_dims() const { return symbolic_dims_; }
  /// The symbol of dimension `axis` ("?" when it has none).
  std::string DimSymbol(int axis) const;

  /// Node inputs that read this value (unordered).
  const std::vector<Use>& uses() const { return uses_; }

  /// How the value's elements lie in memory (the dims stay logical); plain unless the
  /// assign-layouts pass chose another for a value its producer and consumers all accept.
  Layout layout() const { return layout_; }
  void set_layout(Layout layout) { layout_ = layout; }

 private:
  friend class Graph;
  friend class Node;
  std::vector<Use> uses_;
  int output_uses_ = 0;  // times it is a graph output
  int state_uses_ = 0;   // times it is a state update
  std::string name_;
  TensorType type_;
  Node* producer_ = nullptr;
  int producer_output_ = -1;
  std::optional<Tensor> constant_;
  bool is_parameter_ = false;
  bool is_state_ = false;
  Layout layout_ = proto::LAYOUT_PLAIN;
  std::vector<std::pair<int, std::string>> symbolic_dims_;
};

class Node {
 public:
  const std::string& name() const { return name_; }
  const std::string& op_type() const { return op_type_; }
  /// Registry entry; null for an op the registry does not know (the verifier reports it).
  const OpDef* def() const { return def_; }

  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  /// Null for an omitted optional input.
  Value* input(int i) const { return i < num_inputs() ? inputs_[i] : nullptr; }
  Value* output(int i) const { return outputs_[i]; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  void set_input(int i, Value* v) {
    DropUse(i);
    inputs_[i] = v;
    AddUse(i);
  }

  Attrs& attrs() { return attrs_; }
  const Attrs& attrs() const { return attrs_; }

  /// "conv1 (Conv)" for error messages.
  std::string Label() const { return name_ + " (" + op_type_ + ")"; }

 private:
  friend class Graph;
  // Registers / unregisters input `i` in its value's use list (O(1): swap-remove).
  void AddUse(int i) {
    Value* v = inputs_[i];
    if (!v) return;
    use_index_[i] = static_cast<int>(v->uses_.size());
    v->uses_.push_back(Use{this, i});
  }
  void DropUse(int i) {
    Value* v = inputs_[i];
    if (!v) return;
    const int idx = use_index_[i];
    const Use last = v->uses_.back();
    v->uses_[idx] = last;
    last.node->use_index_[last.slot] = idx;
    v->uses_.pop_back();
  }
  std::string name_;
  std::string op_type_;
  const OpDef* def_ = nullptr;
  std::list<std::unique_ptr<Node>>::iterator self_;  // position in Graph::nodes_
  std::vector<int> use_index_;                       // input i is inputs_[i]->uses_[use_index_[i]]
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  Attrs attrs_;
};

/// Persistent state of a training step: a value that holds `initial` before the
/// first run and, after each run, what `update` computed (parameters, optimizer
/// moments, running statistics, the step counter). Without an update it stays fixed.
struct StateVar {
  Value* value = nullptr;
  Tensor initial;
  Value* update = nullptr;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  /// Creates a value with a unique name derived from `name_hint`.
  Value* AddValue(const std::string& name_hint, TensorType type = {});
  /// Creates a constant value holding `t`.
  Value* AddConstant(const std::string& name_hint, Tensor t);
  /// Appends a graph input.
  Value* AddInput(const std::string& name, TensorType type);
  void AddOutput(Value* v) {
    outputs_.push_back(v);
    ++v->output_uses_;
  }
  void SetOutput(int i, Value* v);
  void SetOutputs(std::vector<Value*> outputs);

  /// Appends a node (nodes must be added in topological order) with fresh output
  /// values named after `output_names` (or after the node when empty).
  Node* AddNode(const std::string& op_type, const std::string& name_hint, const std::vector<Value*>& inputs,
                int num_outputs = 1, Attrs attrs = {}, const std::vector<std::string>& output_names = {});
  /// Inserts a node right before `before` (which must come after the inputs' producers).
  Node* InsertNodeBefore(Node* before, const std::string& op_type, const std::string& name_hint,
                         const std::vector<Value*>& inputs, int num_outputs = 1, Attrs attrs = {});
  /// Gives `node` fresh (untyped) output values up to `num_outputs`, for an optional
  /// output a later consumer asks for (a training-only output that autodiff wires).
  void ExtendOutputs(Node* node, int num_outputs);
  /// Creates a state value holding `initial` before the first run.
  Value* AddState(const std::string& name_hint, Tensor initial);
  /// Turns a constant (typically a parameter) into state initialized with its data.
  void PromoteToState(Value* constant);
  /// Turns a state value without update back into a constant.
  void DemoteToConstant(Value* state);
  /// After each run, `state` takes the value of `update` (same type).
  void SetStateUpdate(Value* state, Value* update);
  const std::vector<StateVar>& states() const { return states_; }
  const StateVar* FindState(const Value* v) const;

  /// Removes a node; its outputs must be unused.
  void RemoveNode(Node* node);
  /// Rewires every use of `from` (node inputs, graph outputs, state updates) to `to`.
  void ReplaceAllUsesWith(Value* from, Value* to);
  /// Gives `v` the name `name`; a value that already has it gets a fresh name.
  void RenameValue(Value* v, const std::string& name);
  /// Removes values that nothing defines and nothing uses.
  void RemoveDeadValues();

  Value* FindValue(const std::string& name) const;
  Node* FindNode(const std::string& name) const;
  /// Nodes that read `v` (a node appears once per use, in no particular order).
  std::vector<Node*> Users(const Value* v) const;
  int NumUses(const Value* v) const;
  bool IsGraphOutput(const Value* v) const;

  const std::list<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  std::vector<Node*> NodeList() const;
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  /// Every value, in creation order.
  std::vector<Value*> values() const;
  std::vector<Value*> constants() const;
  int num_nodes() const { return static_cast<int>(nodes_.size()); }

  /// A fresh name "hint", "hint_1", ...
  std::string UniqueName(const std::string& hint);

  /// Deep copy (constants share their immutable storage).
  std::unique_ptr<Graph> Clone() const;

  /// Proto conversion. FromProto checks SSA form and topological order and
  /// reports every dangling reference; it does not infer shapes.
  static StatusOr<std::unique_ptr<Graph>> FromProto(const proto::Graph& p);
  void ToProto(proto::Graph* p) const;

 private:
  std::string name_ = "main";
  std::vector<std::unique_ptr<Value>> values_;
  std::list<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<StateVar> states_;
  std::unordered_map<const Value*, size_t> state_index_;  // states_[i].value -> i
  std::unordered_map<std::string, Value*> value_by_name_;
  std::unordered_map<std::string, int> name_counter_;
  std::unordered_map<std::string, Node*> node_names_;
};

/// The op's shape inference (InferOpTypes, ir/core/op_registry.h) for `node`, reading its
/// inputs' types and constant values from the graph.
StatusOr<std::vector<TensorType>> InferNodeTypes(const Node& node);

/// Whether dimension `axis` of graph input `input` is the batch (the symbolic size that
/// --batch or the first input tensor fixes): a symbolic dim 0, or any symbolic dim when
/// every symbolic dim of the graph's inputs has the same name -- PyTorch's sequence-first
/// recurrent models are [T, batch, F]. Other symbolic dims cannot be compiled.
bool IsBatchDim(const Graph& graph, const Value& input, int axis);

}  // namespace kiln
