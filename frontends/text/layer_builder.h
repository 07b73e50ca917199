// The node builder every layer of the shorthand expands with, shared by the
// feed-forward layers (layers.cc) and the sequence layers (sequence_layers.cc).
// Internal to the text frontend.
#pragma once

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "frontends/text/initializers.h"
#include "ir/core/op_registry.h"
#include "ir/core/resource_limits.h"
#include "ir/graph.h"
#include "ir/kiln.pb.h"

namespace kiln::text {

// Builds the nodes of one layer: names them "<layer>/<Op>", infers each node's
// types right away (later layers size their weights from them), and names the
// layer's final value after the layer.
class Builder {
 public:
  Builder(Graph& graph, std::string name, std::string kind)
      : graph_(graph), name_(std::move(name)), kind_(std::move(kind)) {}

  template <typename... Args>
  Status Error(const Args&... args) const {
    return InvalidArgument("layer '", name_, "' (", kind_, "): ", args...);
  }
  Status Wrap(const Status& s) const { return s.ok() ? s : Error(s.message()); }

  /// Appends a node with `out_names.size()` outputs ("" : named after the node); returns them.
  StatusOr<std::vector<Value*>> EmitNamed(const std::string& op, const std::string& suffix,
                                          const std::vector<Value*>& inputs, Attrs attrs,
                                          const std::vector<std::string>& out_names) {
    const bool unnamed = std::all_of(out_names.begin(), out_names.end(), [](const auto& n) { return n.empty(); });
    Node* node = graph_.AddNode(op, name_ + "/" + suffix, inputs, static_cast<int>(out_names.size()), std::move(attrs),
                                unnamed ? std::vector<std::string>{} : out_names);
    auto types = InferNodeTypes(*node);
    if (!types.ok()) return Wrap(types.status());
    for (int i = 0; i < node->num_outputs(); ++i) node->output(i)->set_type((*types)[i]);
    return node->outputs();
  }

  /// Appends a node; `last` names its output after the layer.
  StatusOr<Value*> Emit(const std::string& op, const std::string& suffix, const std::vector<Value*>& inputs,
                        Attrs attrs, bool last) {
    ASSIGN_OR_RETURN(std::vector<Value*> outs,
                     EmitNamed(op, suffix, inputs, std::move(attrs), {last ? name_ : std::string()}));
    return outs[0];
  }

  /// The weight "<layer>/<suffix>": the file's initializer when it has one (its
  /// dtype and shape checked), else drawn with `init` and passed to `adjust`.
  StatusOr<Value*> Weight(const std::string& suffix, const Dims& dims, const InitSpec& init, int64_t fan_in,
                          int64_t fan_out, bool trainable = true,
                          const std::function<void(Tensor&)>& adjust = nullptr) {
    const std::string weight_name = name_ + "/" + suffix;
    if (Value* v = graph_.FindValue(weight_name)) {
      if (!v->is_constant() || v->producer()) {
        return Error("'", weight_name, "' is a graph value, not an initializer");
      }
      if (v->dtype() != proto::DT_FLOAT || v->dims() != dims) {
        return Error("initializer '", weight_name, "' has type ", v->type().ToString(), ", expected ",
                     TensorType{proto::DT_FLOAT, dims}.ToString());
      }
      v->set_parameter(trainable);
      return v;
    }
    // Sizes come from the file (units, filters, ...): checked before allocating.
    auto size = CheckTensorSize(proto::DT_FLOAT, dims, "weight '" + weight_name + "'");
    if (!size.ok()) return Wrap(size);
    Tensor t = MakeInitializedTensor(init, dims, fan_in, fan_out, weight_name);
    if (adjust) adjust(t);
    Value* v = graph_.AddConstant(weight_name, std::move(t));
    v->set_parameter(trainable);
    return v;
  }

  /// A constant that training leaves alone (shapes, ratios, fixed zeros), "<layer>/<suffix>".
  Value* Constant(const std::string& suffix, Tensor t) {
    return graph_.AddConstant(name_ + "/" + suffix, std::move(t));
  }

  /// Appends the activation (if any); returns the layer's output.
  StatusOr<Value*> Activate(Value* x, const std::string& function);

  const std::string& name() const { return name_; }

 private:
  Graph& graph_;
  std::string name_;
  std::string kind_;
};

/// Lower-case copy.
std::string Lower(std::string s);

// The sequence layers (sequence_layers.cc).
StatusOr<Value*> ExpandEmbedding(Builder& b, const proto::Embedding& e, Value* x);
/// simple_rnn / lstm / gru (`kind` is the Layer oneof case), one direction, starting
/// from `initial_state` ([h] or, for lstm, [h, c]; [batch, units] each) when given.
StatusOr<Value*> ExpandRecurrent(Builder& b, proto::Layer::KindCase kind, const proto::Recurrent& r, Value* x,
                                 const std::vector<Value*>& initial_state);
StatusOr<Value*> ExpandBidirectional(Builder& b, const proto::Bidirectional& bi, Value* x);

// The attention layer (attention_layer.cc): inputs [query, value] or [query, value, key].
StatusOr<Value*> ExpandAttention(Builder& b, Graph& graph, const proto::Attention& a,
                                 const std::vector<Value*>& inputs);

}  // namespace kiln::text
