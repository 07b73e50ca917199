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

/// Expands layers one at a time onto a graph whose values already carry types
/// (symbolic dims replaced by 1 for sizing). Each layer starts from `current()`
/// and leaves its output there; its last value is named after the layer.
class LayerExpander {
 public:
  LayerExpander(Graph& graph, Value* start) : graph_(graph), current_(start) {}

  /// Expands `layer` (named `name`); errors read "layer 'dense1' (Dense): ...".
  Status Expand(const proto::Layer& layer, const std::string& name);
  Value* current() const { return current_; }

 private:
  Graph& graph_;
  Value* current_;
  std::set<std::string> names_;
};

}  // namespace kiln::text
