// BatchIterator: per-epoch order and row copies into caller buffers.
#include <algorithm>
#include <cstring>
#include <numeric>

#include "runtime/data/dataset.h"

namespace kiln::data {

BatchIterator::BatchIterator(const Dataset& dataset, int64_t batch_size)
    : dataset_(dataset), batch_size_(std::max<int64_t>(1, batch_size)) {
  feature_row_bytes_ = dataset_.feature_row_elements() * DTypeSize(dataset_.features.dtype());
  label_row_bytes_ = dataset_.label_row_elements() * DTypeSize(dataset_.labels.dtype());
  order_.resize(static_cast<size_t>(dataset_.size()));
  std::iota(order_.begin(), order_.end(), 0);
}

StatusOr<BatchIterator> BatchIterator::Create(const Dataset& dataset, int64_t batch_size) {
  if (batch_size < 1) return InvalidArgument("batch size must be at least 1, not ", batch_size);
  RETURN_IF_ERROR(dataset.Validate());
  if (dataset.size() == 0) {
    return InvalidArgument(dataset.source.empty() ? "data set" : dataset.source, ": no samples to iterate over");
  }
  return BatchIterator(dataset, batch_size);
}

void BatchIterator::StartEpoch(uint64_t seed, bool shuffle) {
  std::iota(order_.begin(), order_.end(), 0);
  if (shuffle) Shuffle(order_.data(), size(), seed);
}

int64_t BatchIterator::num_batches(bool drop_last) const {
  return drop_last ? size() / batch_size_ : (size() + batch_size_ - 1) / batch_size_;
}

int64_t BatchIterator::rows_in_batch(int64_t batch_index) const {
  if (batch_index < 0 || batch_index >= num_batches(false)) return 0;
  return std::min(batch_size_, size() - batch_index * batch_size_);
}

Dims BatchIterator::feature_batch_dims() const {
  Dims d = dataset_.features.dims();
  if (d.empty()) return {batch_size_};
  d[0] = batch_size_;
  return d;
}

Dims BatchIterator::label_batch_dims() const {
  Dims d = dataset_.labels.dims();
  if (d.empty()) return {batch_size_};
  d[0] = batch_size_;
  return d;
}

void BatchIterator::CopyRows(int64_t begin, int64_t valid, void* features_out, void* labels_out) const {
  const auto* fx = static_cast<const uint8_t*>(dataset_.features.data());
  const auto* lx = static_cast<const uint8_t*>(dataset_.labels.data());
  auto* fy = static_cast<uint8_t*>(features_out);
  auto* ly = static_cast<uint8_t*>(labels_out);
  const int64_t fb = feature_row_bytes_, lb = label_row_bytes_;
  for (int64_t r = 0; r < batch_size_; ++r) {
    // Rows past the valid ones repeat the last valid row.
    const int64_t sample = order_[begin + std::min(r, valid - 1)];
    if (fy && fb) std::memcpy(fy + r * fb, fx + sample * fb, fb);
    if (ly && lb) std::memcpy(ly + r * lb, lx + sample * lb, lb);
  }
}

Status BatchIterator::Fill(int64_t batch_index, void* features_out, void* labels_out) const {
  const int64_t rows = rows_in_batch(batch_index);
  if (rows != batch_size_) {
    if (rows == 0)
      return MakeError(StatusCode::kOutOfRange, "batch ", batch_index, " is out of range [0, ", num_batches(false),
                       ")");
    return InvalidArgument("batch ", batch_index, " has only ", rows, " of ", batch_size_,
                           " rows (use FillPadded for a final partial batch)");
  }
  CopyRows(batch_index * batch_size_, rows, features_out, labels_out);
  return Status::Ok();
}

StatusOr<int64_t> BatchIterator::FillPadded(int64_t batch_index, void* features_out, void* labels_out) const {
  const int64_t rows = rows_in_batch(batch_index);
  if (rows == 0) {
    return MakeError(StatusCode::kOutOfRange, "batch ", batch_index, " is out of range [0, ", num_batches(false), ")");
  }
  CopyRows(batch_index * batch_size_, rows, features_out, labels_out);
  return rows;
}

}  // namespace kiln::data
