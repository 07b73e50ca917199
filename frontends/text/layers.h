// The Keras-like layer shorthand of ir/kiln.proto (`layer { dense { units: 64 } }`)
// expanded into IR nodes. Internal to the text frontend.
#pragma once

#include <set>
#include <string>

#include "ir/core/status.h"
#include "ir/graph.h"
#include "ir/kiln.pb.h"

namespace kiln::text {

/// "Dense", "Conv2D", ... for a layer's kind; "" when no kind is set.
std::string LayerKindName(const proto::Layer& layer);

class Builder;  // layer_builder.h

/// Expands layers one at a time onto a graph whose values already carry types
/// (symbolic dims replaced by 1 for sizing). A layer consumes the values its
/// `inputs` name, or else `current()` (the previous layer's output), and leaves
/// its output there; its last value is named after the layer.
class LayerExpander {
 public:
  /// `all_layers`: every layer's name in the file, so that naming a later layer
  /// (a cycle or a misordering) is told apart from an unknown name.
  LayerExpander(Graph& graph, Value* start, std::set<std::string> all_layers = {})
      : graph_(graph), current_(start), all_layers_(std::move(all_layers)) {}

  /// Expands `layer` (named `name`); errors read "layer 'dense1' (Dense): ...".
  Status Expand(const proto::Layer& layer, const std::string& name);
  Value* current() const { return current_; }

 private:
  /// A value a layer names as an input: an error naming the layer when it is unknown,
  /// the layer itself or a later layer's.
  StatusOr<Value*> Resolve(const Builder& b, const std::string& name) const;

  Graph& graph_;
  Value* current_;
  std::set<std::string> names_;  // layers expanded so far
  std::set<std::string> all_layers_;
};

}  // namespace kiln::text
