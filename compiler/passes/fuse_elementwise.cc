// fuse-elementwise: walks the nodes in order and grows groups of float32
// elementwise ops (each node joins the group(s) of its producers when its output
// has the group's shape and the merged group can sit at one place in the order),
// then replaces every group of two or more by a FusedElementwise node whose
// program lists the members' instructions. Lone ops keep their own kernels.
// On targets that generate reductions, a Softmax or LogSoftmax over the last axis, or a
// ReduceSum over every axis but one (a bias gradient), whose operand a group computes
// ends that group (even a group of one): the group becomes a FusedReduction, which
// computes the operand and reduces it in the same pass over the data.
#include "compiler/passes/fuse_elementwise.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "compiler/pass.h"
#include "compiler/passes/rewrite.h"
#include "ir/core/fused_program.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

// An instruction argument before the group is known: one of the node's inputs,
// an earlier instruction of the same node (Sum/Max/Min of 3+ inputs chain), or a number.
struct LocalOperand {
  enum Kind { kNodeInput, kLocal, kImmediate } kind;
  int index = 0;
  float value = 0;
};
struct LocalInstr {
  FusedOp op;
  std::vector<LocalOperand> args;
};

LocalOperand In(int i) { return {LocalOperand::kNodeInput, i, 0}; }
LocalOperand Imm(float v) { return {LocalOperand::kImmediate, 0, v}; }

// A 1-element constant's value, when it is exactly a float32.
bool ScalarConstant(const Value* v, float* value) {
  if (!v || !v->is_constant() || v->constant().num_elements() != 1) return false;
  const double d = v->constant().GetAsDouble(0);
  *value = static_cast<float>(d);
  return static_cast<double>(*value) == d || std::isnan(d);
}

// Unary ops without attributes outside unary.def.
const std::map<std::string, FusedOp>& UnaryOps() {
  static const std::map<std::string, FusedOp> ops = {
      {"Relu", FusedOp::kRelu}, {"Neg", FusedOp::kNeg}, {"Abs", FusedOp::kAbs}, {"Sign", FusedOp::kSign}};
  return ops;
}

// The ops of ir/core/ops/unary.def: their forward and gradient instructions, by op
// type and by EltwiseGrad function.
struct TableOp {
  FusedOp forward, grad;
  const char* attr_names[2];
  float attr_defaults[2];
  int num_attrs;
};
const std::map<std::string, TableOp>& TableOpsBy(bool function) {
  static const auto build = [](bool by_function) {
    std::map<std::string, TableOp> ops;
#define UNARY(Name, fn_name, from, nattrs, attr0, default0, attr1, default1, ...) \
  ops[by_function ? #fn_name : #Name] = {                                         \
      FusedOp::k##Name, FusedOp::k##Name##Grad, {attr0, attr1}, {default0, default1}, nattrs};
#include "ir/core/ops/unary.def"
#undef UNARY
    return ops;
  };
  static const std::map<std::string, TableOp> by_name = build(false), by_function = build(true);
  return function ? by_function : by_name;
}

// The op's float attributes as immediates, in the table's order.
void AppendAttrImmediates(const TableOp& op, const Attrs& a, std::vector<LocalOperand>* args) {
  for (int i = 0; i < op.num_attrs; ++i) args->push_back(Imm(a.GetFloat(op.attr_names[i], op.attr_defaults[i])));
}

// The instructions that compute `node`, or the reason it cannot be fused (empty `instrs`).
std::string DescribeNode(const Node& node, std::vector<LocalInstr>* instrs) {
  const std::string& op = node.op_type();
  const Attrs& a = node.attrs();
  // ir/core/ops/binary.def's fusing rows (Sum is a variadic Add).
  static const std::map<std::string, FusedOp> kBinary = [] {
    std::map<std::string, FusedOp> out = {{"Sum", FusedOp::kAdd}};
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, ...) \
  KILN_IF_FUSES(fuse)(if (BinaryFuse::fuse == BinaryFuse::kFuse) out[#Name] = FusedOp::k##Name;)
#include "ir/core/ops/binary.def"
#undef BINARY
    return out;
  }();
  static const std::map<std::string, FusedOp> kBinaryConstantB = [] {
    std::map<std::string, FusedOp> out;
#define BINARY(Name, since, types, result, arity, attr, attr_default, fuse, ...) \
  KILN_IF_FUSES(fuse)(if (BinaryFuse::fuse == BinaryFuse::kFuseConstantB) out[#Name] = FusedOp::k##Name;)
#include "ir/core/ops/binary.def"
#undef BINARY
    return out;
  }();
  if (op == "FusedElementwise") return "already fused";
  if (auto it = kBinary.find(op); it != kBinary.end()) {
    if (node.num_inputs() < 2) return "a single-input " + op + " is a copy";
    instrs->push_back({it->second, {In(0), In(1)}});
    for (int i = 2; i < node.num_inputs(); ++i) {
      instrs->push_back({it->second, {{LocalOperand::kLocal, static_cast<int>(instrs->size()) - 1, 0}, In(i)}});
    }
  } else if (auto it = UnaryOps().find(op); it != UnaryOps().end()) {
    instrs->push_back({it->second, {In(0)}});
  } else if (auto row = TableOpsBy(false).find(op); row != TableOpsBy(false).end()) {
    std::vector<LocalOperand> args = {In(0)};
    AppendAttrImmediates(row->second, a, &args);
    instrs->push_back({row->second.forward, args});
  } else if (auto it = kBinaryConstantB.find(op); it != kBinaryConstantB.end()) {
    float b = 0;
    if (!ScalarConstant(node.input(1), &b)) return "input 1 is not a constant scalar";
    instrs->push_back({it->second, {In(0), Imm(b)}});
  } else if (op == "Clip") {
    float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
    if (node.input(1) && !ScalarConstant(node.input(1), &lo)) return "the Clip bounds are not constants";
    if (node.input(2) && !ScalarConstant(node.input(2), &hi)) return "the Clip bounds are not constants";
    instrs->push_back({FusedOp::kClip, {In(0), Imm(lo), Imm(hi)}});
  } else if (op == "EltwiseGrad") {
    const std::string f = a.GetString("function", "");
    std::vector<LocalOperand> args = {In(0), In(1)};
    if (f == "relu" || f == "abs") {
      instrs->push_back({f == "relu" ? FusedOp::kReluGrad : FusedOp::kAbsGrad, args});
    } else if (auto row = TableOpsBy(true).find(f); row != TableOpsBy(true).end()) {
      AppendAttrImmediates(row->second, a, &args);
      instrs->push_back({row->second.grad, args});
    } else {
      return "EltwiseGrad of '" + f + "' has no fused form";
    }
  } else if (op == "FusedSoftmaxCrossEntropy") {
    return "already one generated kernel: a loss, its gradient and its bias gradient (fuse-losses)";
  } else {
    return "not an elementwise op";
  }
  for (int i = 0; i < node.num_inputs(); ++i) {
    const Value* v = node.input(i);
    if (v && v->dtype() != proto::DT_FLOAT && !(kBinaryConstantB.count(op) && i == 1)) {
      instrs->clear();
      return "input " + std::to_string(i) + " is " + DTypeName(v->dtype()) + ": only float32 fuses";
    }
  }
  return "";
}

// A reduction that ends a group: its node and the FusedReduction attributes it gives.
struct Tail {
  Node* node = nullptr;
  FusedReduceKind kind = FusedReduceKind::kSum;
  int64_t axis = -1, keepdims = 0;
};

// Whether `node` is a reduction a group can end with (`tail` filled), "" for other ops, or
// why this one cannot.
std::string DescribeTail(Node& node, Tail* tail, bool* candidate) {
  const std::string& op = node.op_type();
  *candidate = op == "Softmax" || op == "LogSoftmax" || op == "ReduceSum";
  if (!*candidate) return "";
  const Value* x = node.input(0);
  if (!x || x->dtype() != proto::DT_FLOAT || node.output(0)->dtype() != proto::DT_FLOAT) {
    return "only float32 reductions fuse";
  }
  const Dims& s = x->dims();
  const int64_t rank = static_cast<int64_t>(s.size());
  if (rank == 0) return "a scalar operand";
  tail->node = &node;
  if (op != "ReduceSum") {
    auto axis = NormalizeAxis(node.attrs().GetInt("axis", -1), rank);
    if (!axis.ok() || *axis != rank - 1) return op + " over an axis other than the last";
    tail->kind = op == "Softmax" ? FusedReduceKind::kSoftmax : FusedReduceKind::kLogSoftmax;
    return "";
  }
  const auto raw = ReductionAxes(node);
  if (!raw || raw->empty()) return "ReduceSum's axes are not a non-empty constant";
  auto axes = NormalizeAxes(*raw, rank);
  if (!axes.ok()) return "ReduceSum's axes are invalid";
  std::vector<bool> reduced(rank, false);
  for (int64_t a : *axes) reduced[a] = true;
  for (int64_t d = 0; d < rank; ++d) {
    if (reduced[d] || s[d] == 1) continue;
    if (tail->axis >= 0) return "ReduceSum keeps more than one axis";
    tail->axis = d;
  }
  if (tail->axis < 0) return "ReduceSum reduces everything (no bias gradient)";
  Dims kept(rank, 1), flat = {s[tail->axis]};
  kept[tail->axis] = s[tail->axis];
  const Dims& y = node.output(0)->dims();
  if (y != kept && y != flat) return "ReduceSum's output " + DimsToString(y) + " keeps extent-1 axes";
  tail->keepdims = y == kept && y != flat ? 1 : 0;
  return "";
}

// The most ops one FusedElementwise kernel holds. Without a cap a chain of N
// elementwise ops becomes one kernel of N instructions: LLVM code generation and
// the per-node grouping work below would grow with N (a 1M-op Relu chain would
// not compile). Past a few dozen ops a longer kernel saves no memory traffic.
constexpr size_t kMaxGroupSize = 64;

struct Group {
  std::vector<Node*> members;  // in graph order
  Dims shape;
  bool alive = true;
};

class FuseElementwisePass : public Pass {
 public:
  std::string name() const override { return "fuse-elementwise"; }

  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    nodes_ = graph.NodeList();
    for (size_t i = 0; i < nodes_.size(); ++i) position_[nodes_[i]] = static_cast<int>(i);
    for (Node* n : nodes_) {
      for (Value* v : n->inputs()) {
        if (v) users_[v].push_back(n);
      }
    }
    std::set<const Value*> state_updates;
    for (const StateVar& st : graph.states()) {
      if (st.update) state_updates.insert(st.update);
    }

    std::vector<std::string> reasons(nodes_.size());
    for (Node* n : nodes_) {
      const int at = position_[n];
      std::vector<LocalInstr> instrs;
      std::string reason = DescribeNode(*n, &instrs);
      if (reason.empty() && n->output(0)->dtype() != proto::DT_FLOAT) reason = "the output is not float32";
      if (reason.empty() && state_updates.count(n->output(0))) {
        reason = "produces a state update (the memory planner may update that state in place)";
      }
      if (!reason.empty()) {
        reasons[at] = reason;
        continue;
      }
      instrs_[n] = std::move(instrs);
      reasons[at] = Place(n);
    }

    if (options.target->FusesReductions()) {
      for (Node* n : nodes_) {
        bool candidate = false;
        const std::string why = AttachTail(*n, state_updates.count(n->output(0)) > 0, &candidate);
        if (candidate) reasons[position_[n]] = why.empty() ? "" : "reduction not fused: " + why;
      }
    }

    bool changed = false;
    std::map<const Node*, std::string> fused_into;
    min_group_ = options.target->FusesSingleElementwiseOps() ? 1 : 2;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      Group& g = groups_[gi];
      const auto tail = tails_.find(static_cast<int>(gi));
      if (!g.alive || (g.members.size() < min_group_ && tail == tails_.end())) continue;
      auto fused = Replace(graph, g, tail == tails_.end() ? nullptr : &tail->second);
      if (!fused.ok()) return fused.status();
      if (fused->empty()) continue;  // Replace recorded why in reasons_by_node_
      for (Node* m : g.members) fused_into[m] = *fused;
      if (tail != tails_.end() && tail->second.node) fused_into[tail->second.node] = *fused;
      changed = true;
    }
    if (changed) graph.RemoveDeadValues();  // once, not per group: it walks the whole graph

    if (options.fusion_decisions) {
      for (size_t i = 0; i < nodes_.size(); ++i) {
        FusionDecision d;
        // Fused members are gone from the graph: their names were kept for this record.
        d.node = names_.count(nodes_[i]) ? names_[nodes_[i]] : nodes_[i]->name();
        d.op = ops_.count(nodes_[i]) ? ops_[nodes_[i]] : nodes_[i]->op_type();
        auto it = fused_into.find(nodes_[i]);
        if (it != fused_into.end()) {
          d.group = it->second;
          d.reason = "fused with " + std::to_string(group_size_[it->second] - 1) + " other op(s)";
        } else if (auto late = late_reasons_.find(nodes_[i]); late != late_reasons_.end()) {
          d.reason = late->second;
        } else {
          const int g = group_of_.count(nodes_[i]) ? group_of_[nodes_[i]] : -1;
          d.reason = g >= 0 && groups_[g].members.size() == 1
                         ? "single op: " + (reasons[i].empty() ? "no fusable neighbour" : reasons[i]) +
                               " (keeps its own kernel)"
                         : reasons[i];
        }
        options.fusion_decisions->push_back(std::move(d));
      }
    }
    return changed;
  }

 private:
  // Values the groups `gs` produce that some node outside them (and other than `n`)
  // reads before `n`: the merged group could not be computed in one place at `n`.
  // Membership is looked up through group_of_: no per-call set (this runs per node).
  const Node* EarlyOutsideUser(const std::vector<int>& gs, const Node* n) {
    const int at = position_[n];
    auto inside = [&](const Node* u) {
      if (u == n) return true;
      auto it = group_of_.find(u);
      return it != group_of_.end() && std::find(gs.begin(), gs.end(), it->second) != gs.end();
    };
    for (int g : gs) {
      for (Node* m : groups_[g].members) {
        for (Value* out : m->outputs()) {
          for (Node* u : users_[out]) {
            if (position_[u] < at && !inside(u)) return u;
          }
        }
      }
    }
    return nullptr;
  }

  // Makes `n` the tail of the group that computes its operand; returns why not ("" when it
  // is; `candidate`: whether `n` is a reduction at all). `state_update`: n's output updates a state.
  std::string AttachTail(Node& n, bool state_update, bool* candidate) {
    Tail tail;
    std::string why = DescribeTail(n, &tail, candidate);
    if (!*candidate || !why.empty()) return why;
    if (state_update) return "it produces a state update (such nodes stay nodes of their own)";
    const Node* p = n.input(0)->producer();
    auto it = p ? group_of_.find(p) : group_of_.end();
    if (it == group_of_.end()) return "its operand is not computed by fusable elementwise ops";
    const int g = it->second;
    if (tails_.count(g)) return "its operand's group already ends in a reduction";
    if (groups_[g].members.size() + 1 > kMaxGroupSize) return "its operand's group is full";
    for (const Node* m : groups_[g].members) {
      if (position_[m] > position_[&n]) return "a member of its operand's group comes after it";
    }
    if (const Node* u = EarlyOutsideUser({g}, &n)) {
      return "computing its operand's group at it would move values past their reader " + u->Label();
    }
    tails_[g] = tail;
    return "";
  }

  // Puts a fusable node into a group: merged with all its producers' groups when
  // possible, else with the first that fits, else alone. Returns why it did not join.
  std::string Place(Node* n) {
    const Dims& shape = n->output(0)->dims();
    std::vector<int> producers;
    std::string why_not;
    for (Value* v : n->inputs()) {
      const Node* p = v ? v->producer() : nullptr;
      if (!p || !group_of_.count(p)) continue;
      const int g = group_of_[p];
      if (std::find(producers.begin(), producers.end(), g) != producers.end()) continue;
      if (groups_[g].shape != shape) {
        why_not = "its shape " + DimsToString(shape) + " differs from its producer " + p->name() + "'s group " +
                  DimsToString(groups_[g].shape);
        continue;
      }
      producers.push_back(g);
    }
    auto try_join = [&](const std::vector<int>& gs) {
      size_t size = 1;
      for (int g : gs) size += groups_[g].members.size();
      if (size > kMaxGroupSize) {
        why_not = "its producers' group is full (" + std::to_string(kMaxGroupSize) + " ops per fused kernel)";
        return false;
      }
      if (const Node* u = EarlyOutsideUser(gs, n)) {
        why_not = "joining its producers' group would move values past their reader " + u->Label();
        return false;
      }
      const int target = gs[0];
      for (size_t i = 1; i < gs.size(); ++i) {
        for (Node* m : groups_[gs[i]].members) group_of_[m] = target;
        groups_[target].members.insert(groups_[target].members.end(), groups_[gs[i]].members.begin(),
                                       groups_[gs[i]].members.end());
        groups_[gs[i]].alive = false;
      }
      groups_[target].members.push_back(n);  // n comes after every member: sorted unless merged
      if (gs.size() > 1) {
        std::sort(groups_[target].members.begin(), groups_[target].members.end(),
                  [&](Node* a, Node* b) { return position_[a] < position_[b]; });
      }
      group_of_[n] = target;
      return true;
    };
    if (!producers.empty() && try_join(producers)) return "";
    for (size_t i = 0; producers.size() > 1 && i < producers.size(); ++i) {
      if (try_join({producers[i]})) return "";
    }
    groups_.push_back(Group{{n}, shape, true});
    group_of_[n] = static_cast<int>(groups_.size()) - 1;
    return why_not;
  }

  // Replaces the group (and its `tail`, if any) by one FusedElementwise (FusedReduction)
  // node; returns its name, or "" when the group cannot be expressed (its inputs do not
  // determine its shape). A tail whose inputs cannot walk the reduction's view stays
  // apart (tail->node cleared) and the group is replaced alone, if it is big enough.
  StatusOr<std::string> Replace(Graph& graph, const Group& g, Tail* tail) {
    const std::set<Node*> members(g.members.begin(), g.members.end());
    FusedProgram program;
    std::vector<Value*> inputs;
    std::unordered_map<const Value*, int> temp_of;  // member output -> temporary
    const int rank = static_cast<int>(g.shape.size());
    for (Node* m : g.members) {
      const std::vector<LocalInstr>& local = instrs_[m];
      const int first = static_cast<int>(program.instrs.size());
      for (const LocalInstr& li : local) {
        FusedInstr instr{li.op, {}};
        for (const LocalOperand& lo : li.args) {
          FusedOperand operand;
          if (lo.kind == LocalOperand::kImmediate) {
            operand.kind = FusedOperand::kImmediate;
            operand.value = lo.value;
          } else if (lo.kind == LocalOperand::kLocal) {
            operand.kind = FusedOperand::kTemp;
            operand.index = first + lo.index;
          } else {
            Value* v = m->input(lo.index);
            float scalar = 0;
            if (auto it = temp_of.find(v); it != temp_of.end()) {
              operand.kind = FusedOperand::kTemp;
              operand.index = it->second;
            } else if (v->dtype() == proto::DT_FLOAT && static_cast<int>(v->dims().size()) <= rank &&
                       ScalarConstant(v, &scalar)) {
              operand.kind = FusedOperand::kImmediate;  // a 1-element constant that does not widen the shape
              operand.value = scalar;
            } else {
              auto pos = std::find(inputs.begin(), inputs.end(), v);
              operand.kind = FusedOperand::kInput;
              operand.index = static_cast<int>(pos - inputs.begin());
              if (pos == inputs.end()) inputs.push_back(v);
            }
          }
          instr.args.push_back(operand);
        }
        program.instrs.push_back(std::move(instr));
      }
      temp_of[m->output(0)] = static_cast<int>(program.instrs.size()) - 1;
    }
    program.num_inputs = static_cast<int>(inputs.size());
    Dims iteration;
    for (Value* v : inputs) {
      auto b = BroadcastDims(iteration, v->dims());
      if (!b.ok()) return Internal(g.members[0]->Label(), ": fused inputs do not broadcast: ", b.status().message());
      iteration = *b;
    }
    if (inputs.empty() || iteration != g.shape) {
      for (Node* m : g.members) {
        late_reasons_[m] = "not fused: the group's inputs do not span its shape " + DimsToString(g.shape);
      }
      return std::string();
    }
    // Outputs: member values read outside the group (the tail absorbed) or by the caller.
    std::vector<Value*> outputs;
    for (Node* m : g.members) {
      Value* v = m->output(0);
      bool outside = graph.IsGraphOutput(v);
      for (Node* u : users_[v]) outside = outside || (!members.count(u) && !(tail && u == tail->node));
      if (!outside) continue;
      program.outputs.push_back(temp_of[v]);
      outputs.push_back(v);
    }
    Attrs attrs;
    attrs.SetString("program", FormatFusedProgram(program));
    std::optional<FusedReductionGeometry> reduction;
    if (tail && tail->node) {
      attrs.SetString("reduce", FusedReduceKindName(tail->kind));
      attrs.SetInt("operand", temp_of[tail->node->input(0)]);
      if (tail->kind == FusedReduceKind::kSum) {
        attrs.SetInt("axis", tail->axis);
        attrs.SetInt("keepdims", tail->keepdims);
      }
      std::vector<Dims> input_dims;
      for (const Value* v : inputs) input_dims.push_back(v->dims());
      auto geometry = ComputeFusedReductionGeometry(attrs, program, input_dims);
      if (geometry.ok()) {
        reduction = *geometry;
      } else {
        late_reasons_[tail->node] = "reduction not fused: " + geometry.status().message();
        tail->node = nullptr;
        for (const char* name : {"reduce", "operand", "axis", "keepdims"}) attrs.Erase(name);
        if (g.members.size() < min_group_) return std::string();
        // The tail's operand is now read outside the group.
        return Replace(graph, g, nullptr);
      }
    }
    if (outputs.empty() && !reduction) return std::string();  // dead group: dce removes it
    Node* last = reduction ? tail->node : g.members.back();
    const int num_outputs = static_cast<int>(outputs.size()) + (reduction ? 1 : 0);
    Node* fused = graph.InsertNodeBefore(last, reduction ? "FusedReduction" : "FusedElementwise",
                                         "fused/" + g.members[0]->name(), inputs, num_outputs, attrs);
    for (size_t i = 0; i < outputs.size(); ++i) {
      fused->output(i)->set_type(TensorType{proto::DT_FLOAT, g.shape});
      graph.ReplaceAllUsesWith(outputs[i], fused->output(i));
    }
    if (reduction) {
      Value* reduced = tail->node->output(0);
      fused->output(num_outputs - 1)->set_type(TensorType{proto::DT_FLOAT, reduction->output});
      graph.ReplaceAllUsesWith(reduced, fused->output(num_outputs - 1));
      outputs.push_back(reduced);
    }
    std::vector<std::string> output_names;
    for (Value* v : outputs) output_names.push_back(v->name());
    if (reduction) {
      names_[tail->node] = tail->node->name();
      ops_[tail->node] = tail->node->op_type();
      graph.RemoveNode(tail->node);
    }
    for (auto it = g.members.rbegin(); it != g.members.rend(); ++it) {
      names_[*it] = (*it)->name();
      ops_[*it] = (*it)->op_type();
      graph.RemoveNode(*it);
    }
    // Values keep their names (graph outputs are found by name).
    for (size_t i = 0; i < outputs.size(); ++i) graph.RenameValue(fused->output(i), output_names[i]);
    group_size_[fused->name()] = static_cast<int>(g.members.size()) + (reduction ? 1 : 0);
    return fused->name();
  }

  std::vector<Node*> nodes_;
  std::unordered_map<const Node*, int> position_;
  std::unordered_map<const Value*, std::vector<Node*>> users_;
  std::unordered_map<const Node*, std::vector<LocalInstr>> instrs_;
  std::unordered_map<const Node*, int> group_of_;
  std::vector<Group> groups_;
  std::unordered_map<int, Tail> tails_;  // group -> the reduction that ends it
  size_t min_group_ = 2;                 // the fewest members a group without a tail is replaced with
  std::unordered_map<const Node*, std::string> late_reasons_;
  std::unordered_map<const Node*, std::string> names_, ops_;
  std::unordered_map<std::string, int> group_size_;
};

}  // namespace

std::string FormatFusionDecisions(const std::vector<FusionDecision>& decisions) {
  std::string out;
  std::set<std::string> groups;
  int fused = 0;
  for (const FusionDecision& d : decisions) {
    out += d.node + " (" + d.op + "): ";
    if (d.group.empty()) {
      out += "not fused: " + d.reason + "\n";
    } else {
      out += "fused into " + d.group + ", " + d.reason + "\n";
      groups.insert(d.group);
      ++fused;
    }
  }
  out += "Fusion: " + std::to_string(fused) + " of " + std::to_string(decisions.size()) + " nodes in " +
         std::to_string(groups.size()) + " fused group(s)\n";
  return out;
}

std::unique_ptr<Pass> CreateFuseElementwisePass() { return std::make_unique<FuseElementwisePass>(); }

}  // namespace kiln
