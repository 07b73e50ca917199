// Kiln proto -> Graph, including the Keras-like layer shorthand.
#include <cctype>
#include <map>
#include <set>
#include <vector>

#include "frontends/load_model.h"
#include "frontends/text/initializers.h"
#include "frontends/text/layers.h"
#include "ir/core/op_registry.h"

namespace kiln {
namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// "examples/iris_mlp.kiln.txt" -> "iris_mlp": a readable graph name for files that give none.
std::string StemOf(const std::string& path) {
  std::string base = path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  std::string stem = base.substr(0, base.find('.'));
  return stem.empty() ? "main" : stem;
}

// Layers size their weights from the types of the values they consume. Symbolic
// dims are set to 1 while layers expand ("for sizing only") and restored after.
class SizingTypes {
 public:
  explicit SizingTypes(Graph& graph) : graph_(graph) {
    for (Value* in : graph.inputs()) {
      TensorType t = in->type();
      bool symbolic = false;
      for (int64_t& d : t.dims) {
        if (d < 0) {
          d = 1;
          symbolic = true;
        }
      }
      if (symbolic) {
        saved_[in] = in->type();
        in->set_type(t);
      }
    }
  }
  /// Infers the types of the nodes the file declares (the layers start after them).
  Status InferExistingNodes() {
    for (Node* node : graph_.NodeList()) {
      auto types = InferNodeTypes(*node);
      if (!types.ok()) return types.status();
      for (int i = 0; i < node->num_outputs(); ++i) node->output(i)->set_type((*types)[i]);
    }
    return Status::Ok();
  }
  /// Restores symbolic inputs; node types computed with batch 1 would be wrong
  /// for another batch, so they are dropped (the shape pass recomputes them).
  void Restore() {
    if (saved_.empty()) return;
    for (auto& [value, type] : saved_) value->set_type(type);
    for (Node* node : graph_.NodeList()) {
      for (Value* out : node->outputs()) out->set_type({});
    }
  }

 private:
  Graph& graph_;
  std::map<Value*, TensorType> saved_;
};

Status ExpandLayers(const proto::Graph& pg, Graph& graph) {
  SizingTypes sizing(graph);
  RETURN_IF_ERROR(sizing.InferExistingNodes());
  Value* start = graph.num_nodes() > 0    ? graph.nodes().back()->output(0)
                 : graph.inputs().empty() ? nullptr
                                          : graph.inputs().front();
  std::vector<std::string> names;
  std::map<std::string, int> kind_counts;
  for (const proto::Layer& layer : pg.layer()) {
    std::string name = layer.name();
    if (name.empty()) {
      // Keras-style default names: dense_1, dense_2, conv2d_1, ...
      std::string kind = Lower(text::LayerKindName(layer));
      name = (kind.empty() ? "layer" : kind) + "_" + std::to_string(++kind_counts[kind]);
    }
    names.push_back(name);
  }
  text::LayerExpander expander(graph, start, std::set<std::string>(names.begin(), names.end()));
  for (int i = 0; i < pg.layer_size(); ++i) RETURN_IF_ERROR(expander.Expand(pg.layer(i), names[i]));
  if (pg.output_size() == 0) graph.AddOutput(expander.current());
  sizing.Restore();
  return Status::Ok();
}

}  // namespace

StatusOr<Model> ImportKilnModel(const proto::Model& model, const std::string& source) {
  // Declared outputs may name values that only the layers create, so they are
  // resolved after expansion.
  proto::Graph pg = model.graph();
  pg.clear_output();
  pg.clear_layer();
  // Declared parameters become initializers before the nodes that use them are read.
  pg.clear_parameter();
  Status params = text::MaterializeParameters(model.graph(), pg);
  if (!params.ok()) return params.WithContext(source);
  auto graph_or = Graph::FromProto(pg);
  if (!graph_or.ok()) return graph_or.status().WithContext(source);
  std::unique_ptr<Graph> graph = std::move(graph_or).value();
  if (model.graph().name().empty()) graph->set_name(StemOf(source));

  if (model.graph().layer_size() > 0) {
    Status expanded = ExpandLayers(model.graph(), *graph);
    if (!expanded.ok()) return expanded.WithContext(source);
  }
  for (const auto& info : model.graph().output()) {
    Value* v = graph->FindValue(info.name());
    if (!v) return InvalidArgument(source, ": graph output '", info.name(), "' is not defined");
    graph->AddOutput(v);
  }
  if (graph->outputs().empty() && graph->num_nodes() > 0) {
    return InvalidArgument(source, ": the graph declares no outputs");
  }
  Model m;
  m.graph = std::move(graph);
  m.training = model.training();
  m.source = source;
  return m;
}

}  // namespace kiln
