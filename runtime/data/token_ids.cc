// Token-id data for embedding models: features that hold ids, checked against the
// vocabulary before training, so that an id outside it is an error naming the
// sample rather than a wrapped (negative) or failing lookup mid-epoch.
#include <cmath>

#include "runtime/data/dataset.h"

namespace kiln::data {

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
