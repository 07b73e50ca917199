// Token-id data for embedding models: features that hold ids, checked against the
// vocabulary before training, so that an id outside it is an error naming the
// sample rather than a wrapped (negative) or failing lookup mid-epoch.
#include <cmath>
#include <set>
#include <unordered_map>

#include "runtime/data/dataset.h"

namespace kiln::data {

TokenIdInput FindTokenIdInput(const proto::Graph& graph) {
  TokenIdInput found;
  if (graph.input_size() == 0) return found;
  std::unordered_map<std::string, int64_t> rows;  // initializer -> its first dimension
  for (const proto::Tensor& t : graph.initializer()) {
    if (t.dims_size() > 0) rows[t.name()] = t.dims(0);
  }
  std::set<std::string> ids = {graph.input(0).name()};  // the input and its casts
  for (const proto::Node& node : graph.node()) {        // topological order
    // Casts and slices of ids are ids (word2vec models slice one input into its words).
    const bool passes_ids = node.op_type() == "Cast" || node.op_type() == "Slice";
    if (passes_ids && node.input_size() > 0 && node.output_size() > 0 && ids.count(node.input(0))) {
      ids.insert(node.output(0));
    }
    if (node.op_type() != "Gather" || node.input_size() < 2 || !ids.count(node.input(1))) continue;
    int64_t axis = 0;
    for (const proto::Attribute& a : node.attribute()) {
      if (a.name() == "axis") axis = a.i();
    }
    auto table = rows.find(node.input(0));
    if (axis != 0 || table == rows.end()) continue;
    if (found.vocabulary == 0 || table->second < found.vocabulary) found = {table->second, node.name()};
  }
  return found;
}

Status CheckTokenIds(const Dataset& ds, int64_t vocabulary, const std::string& layer) {
  const int64_t n = ds.size(), per_sample = ds.feature_row_elements();
  const float* ids = ds.features.data_as<float>();
  for (int64_t s = 0; s < n; ++s) {
    for (int64_t k = 0; k < per_sample; ++k) {
      const float id = ids[s * per_sample + k];
      if (id >= 0.0f && id < static_cast<float>(vocabulary) && std::floor(id) == id) continue;
      const bool whole = std::isfinite(id) && std::floor(id) == id;
      return InvalidArgument("token id ", id, " of sample ", s, " (position ", k, ") is ",
                             whole ? "outside" : "not a whole number in", " the vocabulary [0, ", vocabulary, ") of '",
                             layer, "'");
    }
  }
  return Status::Ok();
}

}  // namespace kiln::data
