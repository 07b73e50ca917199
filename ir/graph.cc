#include "ir/graph.h"

#include <algorithm>
#include <set>
#include <unordered_set>

#include "ir/core/op_registry.h"

namespace kiln {

std::string Graph::UniqueName(const std::string& hint) {
  std::string base = hint.empty() ? "v" : hint;
  if (!value_by_name_.count(base) && !node_names_.count(base)) return base;
  int& counter = name_counter_[base];
  std::string candidate;
  do {
    candidate = base + "_" + std::to_string(++counter);
  } while (value_by_name_.count(candidate) || node_names_.count(candidate));
  return candidate;
}

Value* Graph::AddValue(const std::string& name_hint, TensorType type) {
  auto v = std::make_unique<Value>();
  std::string base = name_hint.empty() ? "v" : name_hint;
  v->name_ = value_by_name_.count(base) ? UniqueName(base) : base;
  v->type_ = std::move(type);
  Value* raw = v.get();
  value_by_name_[raw->name_] = raw;
  values_.push_back(std::move(v));
  return raw;
}

Value* Graph::AddConstant(const std::string& name_hint, Tensor t) {
  Value* v = AddValue(name_hint);
  v->set_constant(std::move(t));
  return v;
}

Value* Graph::AddInput(const std::string& name, TensorType type) {
  Value* v = AddValue(name, std::move(type));
  inputs_.push_back(v);
  return v;
}

Node* Graph::AddNode(const std::string& op_type, const std::string& name_hint, const std::vector<Value*>& inputs,
                     int num_outputs, Attrs attrs, const std::vector<std::string>& output_names) {
  auto n = std::make_unique<Node>();
  std::string base = name_hint.empty() ? op_type : name_hint;
  n->name_ = node_names_.count(base) ? UniqueName(base) : base;
  node_names_[n->name_] = n.get();
  n->op_type_ = op_type;
  n->def_ = FindOpDef(op_type);
  n->inputs_ = inputs;
  n->use_index_.assign(inputs.size(), -1);
  for (int i = 0; i < static_cast<int>(inputs.size()); ++i) n->AddUse(i);
  n->attrs_ = std::move(attrs);
  for (int i = 0; i < num_outputs; ++i) {
    std::string out_name = i < static_cast<int>(output_names.size()) ? output_names[i]
                           : num_outputs == 1                        ? n->name_
                                                                     : n->name_ + ":" + std::to_string(i);
    Value* v = AddValue(out_name);
    v->producer_ = n.get();
    v->producer_output_ = i;
    n->outputs_.push_back(v);
  }
  Node* raw = n.get();
  nodes_.push_back(std::move(n));
  raw->self_ = std::prev(nodes_.end());
  return raw;
}

Node* Graph::InsertNodeBefore(Node* before, const std::string& op_type, const std::string& name_hint,
                              const std::vector<Value*>& inputs, int num_outputs, Attrs attrs) {
  Node* n = AddNode(op_type, name_hint, inputs, num_outputs, std::move(attrs));
  nodes_.splice(before->self_, nodes_, n->self_);  // list iterators stay valid
  return n;
}

void Graph::ExtendOutputs(Node* node, int num_outputs) {
  for (int i = node->num_outputs(); i < num_outputs; ++i) {
    Value* v = AddValue(node->name_ + ":" + std::to_string(i));
    v->producer_ = node;
    v->producer_output_ = i;
    node->outputs_.push_back(v);
  }
}

Value* Graph::AddState(const std::string& name_hint, Tensor initial) {
  Value* v = AddValue(name_hint, TensorType{initial.dtype(), initial.dims()});
  v->is_state_ = true;
  state_index_[v] = states_.size();
  states_.push_back(StateVar{v, std::move(initial), nullptr});
  return v;
}

void Graph::PromoteToState(Value* constant) {
  Tensor initial = constant->constant();
  constant->constant_.reset();
  constant->is_state_ = true;
  state_index_[constant] = states_.size();
  states_.push_back(StateVar{constant, std::move(initial), nullptr});
}

void Graph::DemoteToConstant(Value* state) {
  auto it = std::find_if(states_.begin(), states_.end(), [&](const StateVar& s) { return s.value == state; });
  if (it == states_.end()) return;
  state->is_state_ = false;
  state->set_constant(std::move(it->initial));
  if (it->update) --it->update->state_uses_;
  states_.erase(it);
  state_index_.clear();  // indices shifted (demotion is rare)
  for (size_t i = 0; i < states_.size(); ++i) state_index_[states_[i].value] = i;
}

void Graph::SetStateUpdate(Value* state, Value* update) {
  auto it = state_index_.find(state);
  if (it == state_index_.end()) return;
  StateVar& s = states_[it->second];
  if (s.update) --s.update->state_uses_;
  s.update = update;
  if (update) ++update->state_uses_;
}

void Graph::SetOutput(int i, Value* v) {
  --outputs_[i]->output_uses_;
  outputs_[i] = v;
  ++v->output_uses_;
}

void Graph::SetOutputs(std::vector<Value*> outputs) {
  for (Value* v : outputs_) --v->output_uses_;
  outputs_ = std::move(outputs);
  for (Value* v : outputs_) ++v->output_uses_;
}

const StateVar* Graph::FindState(const Value* v) const {
  if (!v || !v->is_state_) return nullptr;
  auto it = state_index_.find(v);
  return it == state_index_.end() ? nullptr : &states_[it->second];
}

void Graph::RemoveNode(Node* node) {
  for (Value* out : node->outputs_) {
    out->producer_ = nullptr;
    out->producer_output_ = -1;
  }
  for (int i = 0; i < node->num_inputs(); ++i) node->DropUse(i);
  node_names_.erase(node->name_);
  nodes_.erase(node->self_);
}

void Graph::ReplaceAllUsesWith(Value* from, Value* to) {
  if (from == to) return;
  while (!from->uses_.empty()) {
    const Use u = from->uses_.back();
    u.node->set_input(u.slot, to);
  }
  // Graph outputs and state updates are scanned only for a value that is one.
  if (from->output_uses_ > 0) {
    for (auto& out : outputs_) {
      if (out == from) out = to;
    }
    if (to) to->output_uses_ += from->output_uses_;
    from->output_uses_ = 0;
  }
  if (from->state_uses_ > 0) {
    for (StateVar& s : states_) {
      if (s.update == from) s.update = to;
    }
    if (to) to->state_uses_ += from->state_uses_;
    from->state_uses_ = 0;
  }
}

void Graph::RenameValue(Value* v, const std::string& name) {
  if (v->name_ == name) return;
  if (Value* holder = FindValue(name)) {
    const std::string fresh = UniqueName(name);
    value_by_name_.erase(name);
    holder->name_ = fresh;
    value_by_name_[fresh] = holder;
  }
  value_by_name_.erase(v->name_);
  v->name_ = name;
  value_by_name_[name] = v;
}

void Graph::RemoveDeadValues() {
  std::unordered_set<const Value*> live(inputs_.begin(), inputs_.end());
  live.insert(outputs_.begin(), outputs_.end());
  for (const StateVar& s : states_) live.insert({s.value, s.update});
  for (auto& n : nodes_) {
    live.insert(n->inputs_.begin(), n->inputs_.end());
    live.insert(n->outputs_.begin(), n->outputs_.end());
  }
  std::vector<std::unique_ptr<Value>> kept;
  for (auto& v : values_) {
    if (live.count(v.get())) {
      kept.push_back(std::move(v));
    } else {
      value_by_name_.erase(v->name_);
    }
  }
  values_ = std::move(kept);
}

Value* Graph::FindValue(const std::string& name) const {
  auto it = value_by_name_.find(name);
  return it == value_by_name_.end() ? nullptr : it->second;
}

Node* Graph::FindNode(const std::string& name) const {
  auto it = node_names_.find(name);
  return it == node_names_.end() ? nullptr : it->second;
}

std::vector<Node*> Graph::Users(const Value* v) const {
  std::vector<Node*> users;
  for (const Use& u : v->uses_) users.push_back(u.node);
  return users;
}

int Graph::NumUses(const Value* v) const {
  return static_cast<int>(v->uses_.size()) + v->output_uses_ + v->state_uses_;
}

bool Graph::IsGraphOutput(const Value* v) const { return v->output_uses_ > 0; }

std::vector<Node*> Graph::NodeList() const {
  std::vector<Node*> out;
  for (auto& n : nodes_) out.push_back(n.get());
  return out;
}

std::vector<Value*> Graph::values() const {
  std::vector<Value*> out;
  for (auto& v : values_) out.push_back(v.get());
  return out;
}

std::vector<Value*> Graph::constants() const {
  std::vector<Value*> out;
  for (auto& v : values_) {
    if (v->is_constant()) out.push_back(v.get());
  }
  return out;
}

std::unique_ptr<Graph> Graph::Clone() const {
  auto g = std::make_unique<Graph>();
  g->name_ = name_;
  std::unordered_map<const Value*, Value*> map;
  for (auto& v : values_) {
    if (v->producer_) continue;
    Value* c = g->AddValue(v->name_, v->type_);
    c->constant_ = v->constant_;
    c->is_parameter_ = v->is_parameter_;
    c->is_state_ = v->is_state_;
    c->symbolic_dims_ = v->symbolic_dims_;
    c->layout_ = v->layout_;
    map[v.get()] = c;
  }
  for (Value* in : inputs_) g->inputs_.push_back(map[in]);
  for (auto& n : nodes_) {
    std::vector<Value*> ins;
    for (Value* in : n->inputs_) ins.push_back(in ? map[in] : nullptr);
    std::vector<std::string> out_names;
    for (Value* out : n->outputs_) out_names.push_back(out->name_);
    Node* c = g->AddNode(n->op_type_, n->name_, ins, n->num_outputs(), n->attrs_, out_names);
    for (int i = 0; i < n->num_outputs(); ++i) {
      c->outputs_[i]->type_ = n->outputs_[i]->type_;
      c->outputs_[i]->constant_ = n->outputs_[i]->constant_;
      c->outputs_[i]->layout_ = n->outputs_[i]->layout_;
      map[n->outputs_[i]] = c->outputs_[i];
    }
  }
  for (Value* out : outputs_) g->AddOutput(map[out]);
  for (const StateVar& s : states_) {
    g->state_index_[map[s.value]] = g->states_.size();
    g->states_.push_back(StateVar{map[s.value], s.initial, nullptr});
    g->SetStateUpdate(map[s.value], s.update ? map[s.update] : nullptr);
  }
  return g;
}

static void ValueInfoToType(const proto::ValueInfo& info, Value* v) {
  TensorType t;
  t.dtype = info.dtype();
  for (int i = 0; i < info.dims_size(); ++i) {
    const auto& d = info.dims(i);
    if (d.value_case() == proto::Dim::kSymbol) {
      v->symbolic_dims().push_back({i, d.symbol()});
      t.dims.push_back(-1);
    } else {
      t.dims.push_back(d.size());
    }
  }
  v->set_type(t);
}

StatusOr<std::unique_ptr<Graph>> Graph::FromProto(const proto::Graph& p) {
  auto g = std::make_unique<Graph>();
  if (!p.name().empty()) g->name_ = p.name();
  std::vector<std::string> errors;
  for (const auto& t : p.initializer()) {
    auto tensor = Tensor::FromProto(t);
    if (!tensor.ok()) {
      errors.push_back("initializer '" + t.name() + "': " + tensor.status().message());
      continue;
    }
    if (g->FindValue(t.name())) {
      errors.push_back("initializer '" + t.name() + "' is defined twice");
      continue;
    }
    Value* v = g->AddConstant(t.name(), std::move(tensor).value());
    v->set_parameter(true);
  }
  for (const auto& info : p.input()) {
    if (Value* existing = g->FindValue(info.name())) {
      (void)existing;  // an input with an initializer default: the initializer wins (ONNX IR < 4 style)
      continue;
    }
    Value* v = g->AddValue(info.name());
    ValueInfoToType(info, v);
    g->inputs_.push_back(v);
  }
  for (const auto& np : p.node()) {
    std::vector<Value*> ins;
    for (const auto& name : np.input()) {
      if (name.empty()) {
        ins.push_back(nullptr);
        continue;
      }
      Value* v = g->FindValue(name);
      if (!v)
        errors.push_back("node '" + np.name() + "' (" + np.op_type() + "): input '" + name +
                         "' is not defined before it (graph inputs, initializers or earlier nodes)");
      ins.push_back(v);
    }
    std::vector<std::string> outs(np.output().begin(), np.output().end());
    for (const auto& name : outs) {
      if (g->FindValue(name)) errors.push_back("node '" + np.name() + "': output '" + name + "' is defined twice");
    }
    std::string node_name = np.name().empty() ? (outs.empty() ? np.op_type() : outs[0]) : np.name();
    Node* n = g->AddNode(np.op_type(), node_name, ins, static_cast<int>(outs.size()), Attrs(np.attribute()), outs);
    (void)n;
  }
  for (const auto& info : p.output()) {
    Value* v = g->FindValue(info.name());
    if (!v) {
      errors.push_back("graph output '" + info.name() + "' is not defined");
      continue;
    }
    g->AddOutput(v);
  }
  if (!errors.empty()) {
    std::string msg;
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "\n" : "") + errors[i];
    return InvalidArgument(msg);
  }
  return g;
}

static void TypeToValueInfo(const Value* v, proto::ValueInfo* info) {
  info->set_name(v->name());
  info->set_dtype(v->dtype());
  for (int64_t d : v->dims()) info->add_dims()->set_size(d);
}

void Graph::ToProto(proto::Graph* p) const {
  p->Clear();
  p->set_name(name_);
  for (auto& v : values_) {
    if (v->is_constant() && !v->producer_) {
      proto::Tensor* t = p->add_initializer();
      v->constant().ToProto(t);
      t->set_name(v->name());
    }
  }
  for (Value* in : inputs_) TypeToValueInfo(in, p->add_input());
  for (auto& n : nodes_) {
    proto::Node* np = p->add_node();
    np->set_name(n->name_);
    np->set_op_type(n->op_type_);
    for (Value* in : n->inputs_) np->add_input(in ? in->name() : "");
    for (Value* out : n->outputs_) np->add_output(out->name());
    n->attrs_.ToProto(np->mutable_attribute());
    for (Value* out : n->outputs_) {
      if (out->has_type()) TypeToValueInfo(out, p->add_value_info());
    }
  }
  for (Value* out : outputs_) TypeToValueInfo(out, p->add_output());
}

std::string Value::DimSymbol(int axis) const {
  for (const auto& [index, symbol] : symbolic_dims_) {
    if (index == axis) return symbol;
  }
  return "?";
}

bool IsBatchDim(const Graph& graph, const Value& input, int axis) {
  if (axis < 0 || axis >= static_cast<int>(input.dims().size()) || input.dims()[axis] >= 0) return false;
  if (axis == 0) return true;
  const std::string symbol = input.DimSymbol(axis);
  if (symbol == "?") return false;
  for (const Value* v : graph.inputs()) {
    for (size_t d = 0; d < v->dims().size(); ++d) {
      if (v->dims()[d] < 0 && v->DimSymbol(static_cast<int>(d)) != symbol) return false;
    }
  }
  return true;
}

StatusOr<std::vector<TensorType>> InferNodeTypes(const Node& node) {
  const OpDef* def = node.def();
  if (!def) return Unimplemented(node.Label(), ": unknown op '", node.op_type(), "'");
  // Arity and attributes first: they explain an input without a type better.
  RETURN_IF_ERROR(ValidateNode(*def, node.Label(), node.num_inputs(), node.num_outputs(), node.attrs()));
  std::vector<ShapeInput> inputs;
  for (Value* in : node.inputs()) {
    ShapeInput si;
    if (in) {
      if (!in->has_type()) return InvalidArgument(node.Label(), ": input '", in->name(), "' has no known type");
      si.present = true;
      si.type = in->type();
      si.value = in->is_constant() ? &in->constant() : nullptr;
    }
    inputs.push_back(std::move(si));
  }
  return InferOpTypes(*def, node.Label(), node.attrs(), std::move(inputs), node.num_outputs());
}

}  // namespace kiln
