// Kiln proto -> Graph, including the Keras-like layer shorthand.
#include "frontends/load_model.h"

namespace kiln {

StatusOr<Model> ImportKilnModel(const proto::Model& model, const std::string& source) {
  if (model.graph().layer_size() > 0) return Unimplemented(source, ": layer shorthand not implemented yet");
  auto graph = Graph::FromProto(model.graph());
  if (!graph.ok()) return graph.status().WithContext(source);
  Model m;
  m.graph = std::move(graph).value();
  m.training = model.training();
  m.source = source;
  return m;
}

}  // namespace kiln
