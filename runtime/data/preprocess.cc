// Preprocessing: scaling, standardization, one-hot labels, label checks, splits,
// and the deterministic shuffle they and BatchIterator share.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "runtime/data/dataset.h"

namespace kiln::data {
namespace {

// Tensors share storage when copied, so "in place" writes a fresh tensor:
// out[i, j] = fn(j, in[i, j]) over the flattened feature row.
template <typename Fn>
void MapFeatures(Dataset* ds, Fn fn) {
  const Tensor& in = ds->features;
  Tensor out(proto::DT_FLOAT, in.dims());
  const int64_t n = ds->size(), f = ds->feature_row_elements();
  const float* x = in.data_as<float>();
  float* y = out.mutable_data_as<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < f; ++j) y[i * f + j] = fn(j, x[i * f + j]);
  }
  ds->features = std::move(out);
}

Status CheckFeatures(const Dataset& ds, const char* what) {
  if (ds.features.dtype() != proto::DT_FLOAT || ds.features.dims().empty()) {
    return InvalidArgument(what, ": ", ds.source.empty() ? "data set" : ds.source, " needs float32 [N, ...] features");
  }
  return Status::Ok();
}

Status CheckFitted(const Dataset& ds, const char* what, bool fitted, size_t features) {
  RETURN_IF_ERROR(CheckFeatures(ds, what));
  if (!fitted) return InvalidArgument(what, ": Apply before Fit");
  if (ds.feature_row_elements() != static_cast<int64_t>(features)) {
    return InvalidArgument(what, ": fitted on ", features, " features per sample but ",
                           ds.source.empty() ? "the data set" : ds.source, " has ", ds.feature_row_elements());
  }
  return Status::Ok();
}

}  // namespace

void ScaleTo01(Dataset* ds) {
  MapFeatures(ds, [](int64_t, float x) { return x / 255.0f; });
}

Status MinMaxScaler::Fit(const Dataset& ds) {
  RETURN_IF_ERROR(CheckFeatures(ds, "MinMaxScaler"));
  const int64_t n = ds.size(), f = ds.feature_row_elements();
  if (n == 0) return InvalidArgument("MinMaxScaler: cannot fit on an empty data set");
  const float* x = ds.features.data_as<float>();
  min_.assign(x, x + f);
  max_.assign(x, x + f);
  for (int64_t i = 1; i < n; ++i) {
    for (int64_t j = 0; j < f; ++j) {
      min_[j] = std::min(min_[j], x[i * f + j]);
      max_[j] = std::max(max_[j], x[i * f + j]);
    }
  }
  return Status::Ok();
}

Status MinMaxScaler::Apply(Dataset* ds) const {
  RETURN_IF_ERROR(CheckFitted(*ds, "MinMaxScaler", fitted(), min_.size()));
  MapFeatures(ds, [this](int64_t j, float x) {
    const float range = max_[j] - min_[j];
    return range > 0 ? (x - min_[j]) / range : 0.0f;
  });
  return Status::Ok();
}

Status Standardizer::Fit(const Dataset& ds) {
  RETURN_IF_ERROR(CheckFeatures(ds, "Standardizer"));
  const int64_t n = ds.size(), f = ds.feature_row_elements();
  if (n == 0) return InvalidArgument("Standardizer: cannot fit on an empty data set");
  const float* x = ds.features.data_as<float>();
  std::vector<double> sum(f, 0.0), sq(f, 0.0);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < f; ++j) sum[j] += x[i * f + j];
  }
  mean_.resize(f);
  std_.resize(f);
  for (int64_t j = 0; j < f; ++j) sum[j] /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < f; ++j) {
      const double d = x[i * f + j] - sum[j];
      sq[j] += d * d;
    }
  }
  for (int64_t j = 0; j < f; ++j) {
    mean_[j] = static_cast<float>(sum[j]);
    const double sd = std::sqrt(sq[j] / static_cast<double>(n));
    std_[j] = sd > 0 ? static_cast<float>(sd) : 1.0f;
  }
  return Status::Ok();
}

Status Standardizer::Apply(Dataset* ds) const {
  RETURN_IF_ERROR(CheckFitted(*ds, "Standardizer", fitted(), mean_.size()));
  MapFeatures(ds, [this](int64_t j, float x) { return (x - mean_[j]) / std_[j]; });
  return Status::Ok();
}

StatusOr<Tensor> OneHot(const Tensor& labels, int64_t num_classes) {
  if (labels.dtype() != proto::DT_INT64 || labels.dims().size() != 1) {
    return InvalidArgument("OneHot needs int64 [N] class labels, not ", DTypeName(labels.dtype()), " ",
                           DimsToString(labels.dims()));
  }
  if (num_classes < 1) return InvalidArgument("OneHot: num_classes must be positive, not ", num_classes);
  const int64_t n = labels.dims()[0];
  ASSIGN_OR_RETURN(int64_t count, CheckedElementCount({n, num_classes}));
  (void)count;
  const int64_t* l = labels.data_as<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (l[i] < 0 || l[i] >= num_classes) {
      return InvalidArgument("label ", l[i], " of sample ", i, " is out of range [0, ", num_classes, ")");
    }
  }
  Tensor out(proto::DT_FLOAT, {n, num_classes});
  float* y = out.mutable_data_as<float>();
  for (int64_t i = 0; i < n; ++i) y[i * num_classes + l[i]] = 1.0f;
  return out;
}

Status OneHotLabels(Dataset* ds) {
  auto t = OneHot(ds->labels, ds->num_classes);
  if (!t.ok()) return t.status().WithContext(ds->source.empty() ? "data set" : ds->source);
  ds->labels = std::move(t).value();
  return Status::Ok();
}

Status CheckLabels(const Dataset& ds, int64_t num_classes) {
  if (ds.labels.dtype() != proto::DT_INT64) {
    return InvalidArgument(ds.source.empty() ? "data set" : ds.source, ": labels are ", DTypeName(ds.labels.dtype()),
                           " targets, not int64 class indices");
  }
  const int64_t n = ds.labels.num_elements();
  const int64_t* l = ds.labels.data_as<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    if (l[i] < 0 || l[i] >= num_classes) {
      return InvalidArgument("label ", l[i], " of sample ", i, " is out of range [0, ", num_classes, ")");
    }
  }
  return Status::Ok();
}

Dataset Gather(const Dataset& ds, const std::vector<int64_t>& indices) {
  const int64_t m = static_cast<int64_t>(indices.size());
  Dataset out;
  out.num_classes = ds.num_classes;
  out.source = ds.source;
  Dims fdims = ds.features.dims(), ldims = ds.labels.dims();
  fdims[0] = m;
  ldims[0] = m;
  out.features = Tensor(ds.features.dtype(), fdims);
  out.labels = Tensor(ds.labels.dtype(), ldims);
  const int64_t fb = ds.feature_row_elements() * DTypeSize(ds.features.dtype());
  const int64_t lb = ds.label_row_elements() * DTypeSize(ds.labels.dtype());
  const auto* fx = static_cast<const uint8_t*>(ds.features.data());
  const auto* lx = static_cast<const uint8_t*>(ds.labels.data());
  auto* fy = static_cast<uint8_t*>(out.features.MutableData());
  auto* ly = static_cast<uint8_t*>(out.labels.MutableData());
  for (int64_t i = 0; i < m; ++i) {
    if (fb) std::memcpy(fy + i * fb, fx + indices[i] * fb, fb);
    if (lb) std::memcpy(ly + i * lb, lx + indices[i] * lb, lb);
  }
  return out;
}

StatusOr<std::pair<Dataset, Dataset>> Split(const Dataset& ds, double fraction, uint64_t seed) {
  if (!(fraction >= 0.0 && fraction <= 1.0)) return InvalidArgument("Split: fraction ", fraction, " is not in [0, 1]");
  RETURN_IF_ERROR(ds.Validate());
  const int64_t n = ds.size();
  const int64_t first = std::min<int64_t>(n, static_cast<int64_t>(std::llround(fraction * static_cast<double>(n))));
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Shuffle(order.data(), n, seed);
  std::vector<int64_t> a(order.begin(), order.begin() + first), b(order.begin() + first, order.end());
  return std::make_pair(Gather(ds, a), Gather(ds, b));
}

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::Below(uint64_t bound) {
  // Rejects the lowest (2^64 mod bound) values so every residue is equally likely.
  const uint64_t threshold = (0 - bound) % bound;
  while (true) {
    const uint64_t r = Next();
    if (r >= threshold) return r % bound;
  }
}

void Shuffle(int64_t* order, int64_t n, uint64_t seed) {
  SplitMix64 rng(seed);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i) + 1));
    std::swap(order[i], order[j]);
  }
}

}  // namespace kiln::data
