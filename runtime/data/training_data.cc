// The data of a training run, as a training block describes it (kiln train and
// compiled trainers share this).
#include "runtime/data/dataset.h"

namespace kiln::data {

// Preprocessing fitted on the training set and applied to every set; `record`
// gets what was applied (with the fitted statistics) for the trained model, so
// `kiln predict` and compiled classifiers normalize new inputs the same way.
Status Preprocess(const std::string& how, Dataset* train, const std::vector<Dataset*>& others,
                  proto::InputPreprocessing* record) {
  record->Clear();
  record->set_method(how.empty() ? "none" : how);
  if (how.empty() || how == "none") return Status::Ok();
  if (how == "scale") {
    ScaleTo01(train);
    for (auto* d : others) ScaleTo01(d);
    record->add_offset(0.0f);
    record->add_divisor(255.0f);
    return Status::Ok();
  }
  if (how == "minmax") {
    MinMaxScaler s;
    RETURN_IF_ERROR(s.Fit(*train));
    RETURN_IF_ERROR(s.Apply(train));
    for (auto* d : others) RETURN_IF_ERROR(s.Apply(d));
    for (size_t j = 0; j < s.min().size(); ++j) {
      record->add_offset(s.min()[j]);
      record->add_divisor(s.max()[j] - s.min()[j]);  // 0 for a constant feature: it maps to 0, as in Apply
    }
    return Status::Ok();
  }
  if (how == "standardize") {
    Standardizer s;
    RETURN_IF_ERROR(s.Fit(*train));
    RETURN_IF_ERROR(s.Apply(train));
    for (auto* d : others) RETURN_IF_ERROR(s.Apply(d));
    for (size_t j = 0; j < s.mean().size(); ++j) {
      record->add_offset(s.mean()[j]);
      record->add_divisor(s.stddev()[j]);
    }
    return Status::Ok();
  }
  return InvalidArgument("unknown preprocessing '", how, "' (expected scale, minmax, standardize or none)");
}

StatusOr<TrainingData> LoadTrainingData(const proto::TrainingSpec& spec) {
  ASSIGN_OR_RETURN(DataSplits splits, LoadDataSpec(spec.data()));
  TrainingData d;
  d.train = std::move(splits.train);
  d.test = std::move(splits.test);
  if (!d.test && spec.test_split() > 0) {
    ASSIGN_OR_RETURN(auto parts, Split(d.train, 1.0 - spec.test_split(), spec.seed() + 1));
    d.train = std::move(parts.first);
    d.test = std::move(parts.second);
  }
  if (!spec.validation_data().empty()) {
    ASSIGN_OR_RETURN(DataSplits v, LoadDataSpec(spec.validation_data()));
    d.validation = std::move(v.train);
  } else if (spec.validation_split() > 0) {
    ASSIGN_OR_RETURN(auto parts, Split(d.train, 1.0 - spec.validation_split(), spec.seed() + 2));
    d.train = std::move(parts.first);
    d.validation = std::move(parts.second);
  }
  std::vector<Dataset*> others;
  if (d.validation) others.push_back(&*d.validation);
  if (d.test) others.push_back(&*d.test);
  // Preprocessing applies the training set's per-feature statistics: the sets must agree first.
  for (const Dataset* o : others) {
    if (o->feature_row_elements() != d.train.feature_row_elements()) {
      return InvalidArgument(d.validation && o == &*d.validation ? "validation" : "test", " data (", o->source,
                             "): samples have ", o->feature_row_elements(), " features but the training data (",
                             d.train.source, ") has ", d.train.feature_row_elements());
    }
  }
  RETURN_IF_ERROR(Preprocess(spec.preprocess(), &d.train, others, &d.preprocessing));
  return d;
}

}  // namespace kiln::data
