// Training data: loaders (IDX / MNIST, CSV, NPY), data specs (`kiln train
// --data SPEC`), preprocessing and mini-batch iteration. Part of the runtime:
// depends only on kiln_core (tensors, status) and zlib.
//
// Loaders never trust a file's header: declared sizes are checked against the
// bytes actually present before anything is allocated from them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "ir/kiln.pb.h"

namespace kiln::data {

/// A labelled data set held in memory.
struct Dataset {
  /// float32 [N, ...sample dims].
  Tensor features;
  /// int64 [N] class indices, or float32 [N, k] targets (regression / one-hot).
  Tensor labels;
  /// Number of classes for int64 labels; 0 for float targets.
  int64_t num_classes = 0;
  /// Where it came from (file paths or a spec), for messages.
  std::string source;

  /// N, the number of samples.
  int64_t size() const { return features.dims().empty() ? 0 : features.dims()[0]; }
  /// Elements of one sample's features / labels.
  int64_t feature_row_elements() const;
  int64_t label_row_elements() const;
  /// True for int64 class-index labels.
  bool has_class_labels() const { return labels.dtype() == proto::DT_INT64; }
  /// Checks the invariants above (dtypes, ranks, matching N).
  Status Validate() const;
};

/// A training set and an optional held-out test set.
struct DataSplits {
  Dataset train;
  std::optional<Dataset> test;
};

/// Where Debian's dataset-fashion-mnist package puts the files.
constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";
constexpr char kDefaultMnistDir[] = "/usr/share/datasets/mnist";

// ---- Loaders -------------------------------------------------------------------

/// IDX files (the MNIST / Fashion-MNIST format), raw or gzip-compressed.
/// Images: unsigned-byte [N, rows, cols] -> features float32 [N, 1, rows, cols]
/// holding the raw 0..255 values (see ScaleTo01); [N, F] -> [N, F].
/// Labels: unsigned-byte [N] -> int64 [N]; num_classes = max(10, max label + 1).
StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path);

struct CsvOptions {
  /// Column holding the label; negative counts from the end (-1: the last).
  int64_t label_column = -1;
  enum class Header { kAuto, kPresent, kAbsent };
  /// kAuto: the first row is a header when one of its feature fields is not a number.
  Header header = Header::kAuto;
  /// Labels that are all non-negative integers become class indices (num_classes =
  /// max + 1); any non-numeric label maps every label, as a string, to a class index
  /// in order of first appearance; other numbers become float32 [N, 1] targets.
  /// `regression` forces float32 [N, 1] targets (every label must be a number).
  bool regression = false;
  char delimiter = ',';
};
/// A CSV file of numeric features and one label column -> features float32 [N, F].
/// Class names (string labels, in class-index order) are returned in `class_names`
/// when it is not null.
StatusOr<Dataset> LoadCsv(const std::string& path, const CsvOptions& options = {},
                          std::vector<std::string>* class_names = nullptr);

/// Two .npy files (raw or gzip). Features: float32 / float64 / uint8 / int8 /
/// int32 / int64 [N, ...] -> float32 (rank 1 becomes [N, 1]). Labels: int64 /
/// int32 / uint8 / int8 [N] (or [N, 1]) -> int64 class indices (num_classes =
/// max + 1); float32 / float64 [N] or [N, k] -> float32 [N, k] targets.
/// Sequences are features like any other: [N, T, F] steps, or [N, T] token ids (whole
/// numbers, checked against a model's vocabulary by CheckTokenIds).
StatusOr<Dataset> LoadNpy(const std::string& features_path, const std::string& labels_path);
/// The same conversion from tensors already in memory (the Python package's fit(x, y));
/// the names stand for the files in messages.
StatusOr<Dataset> DatasetFromTensors(Tensor x, Tensor y, const std::string& features_path,
                                     const std::string& labels_path);

// ---- Data specs ----------------------------------------------------------------

/// The data spec grammar (what `kiln train --data SPEC` takes):
///   fashion-mnist[:DIR]   MNIST file names in DIR (default kDefaultFashionMnistDir):
///   mnist[:DIR]           train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz],
///                         and optionally t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]
///   idx:IMAGES,LABELS[;test=IMAGES,LABELS]
///   csv:PATH[,label=COL][,header=yes|no|auto][,regression][;test=PATH]
///   npy:X,Y[;test=X,Y]
///   skipgram:TEXT[,OPTION=VALUE...], cbow:TEXT[,...]   word2vec samples (runtime/data/text.h)
///   PATH.csv              same as csv:PATH
StatusOr<DataSplits> LoadDataSpec(const std::string& spec);
/// The grammar above as help text (one form a line).
std::string DataSpecHelp();

// ---- Preprocessing (in place; fit on the training set, apply to the others) ----

/// `how`: scale, minmax, standardize or none/"": fitted on `train`, applied to it and `others`.
Status Preprocess(const std::string& how, Dataset* train, const std::vector<Dataset*>& others);

/// The data of a training run as a model's training block describes it: `data` (and
/// `validation_data`) loaded, `test_split`/`validation_split` applied with the spec's seed,
/// the sets checked against each other and preprocessed with the training set's statistics.
/// Shared by `kiln train` and compiled trainers (kiln compile --train).
struct TrainingData {
  Dataset train;
  std::optional<Dataset> validation, test;
  proto::InputPreprocessing preprocessing;  // what was applied, with the training set's statistics
};
StatusOr<TrainingData> LoadTrainingData(const proto::TrainingSpec& spec);

/// Divides every feature by 255 (for 0..255 pixel data).
void ScaleTo01(Dataset* ds);

/// Per-feature scaling to [0, 1]: (x - min) / (max - min); constant features map to 0.
class MinMaxScaler {
 public:
  Status Fit(const Dataset& ds);
  Status Apply(Dataset* ds) const;
  bool fitted() const { return !min_.empty(); }
  const std::vector<float>& min() const { return min_; }
  const std::vector<float>& max() const { return max_; }

 private:
  std::vector<float> min_, max_;
};

/// Per-feature standardization: (x - mean) / std (population std); zero std -> 1.
class Standardizer {
 public:
  Status Fit(const Dataset& ds);
  Status Apply(Dataset* ds) const;
  bool fitted() const { return !mean_.empty(); }
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& stddev() const { return std_; }

 private:
  std::vector<float> mean_, std_;
};

/// int64 [N] class indices -> float32 [N, num_classes]; an out-of-range label is an
/// error naming the sample.
StatusOr<Tensor> OneHot(const Tensor& labels, int64_t num_classes);
/// Replaces ds->labels by OneHot(ds->labels, ds->num_classes) (num_classes is kept).
Status OneHotLabels(Dataset* ds);
/// Every int64 label in [0, num_classes): "label 12 of sample 5 is out of range [0, 10)".
Status CheckLabels(const Dataset& ds, int64_t num_classes);

/// A model input that holds token ids: the lookup (Gather) tables' smallest row count.
struct TokenIdInput {
  int64_t vocabulary = 0;  // 0: the input holds no token ids
  std::string lookup;      // the Gather node, for messages
};
/// Whether the graph's first input is read as the indices of a Gather along axis 0 from
/// an initializer (directly or through a Cast, as the `embedding` layer does). On the
/// model proto, so that `kiln train` and compiled trainers (which embed it) agree.
TokenIdInput FindTokenIdInput(const proto::Graph& graph);

/// Every feature of `ds` is a token id for the embedding `layer` (named in messages):
/// a whole number in [0, vocabulary), else "token id 1200 of sample 5 (position 3) is
/// outside the vocabulary [0, 1000) of 'emb'".
Status CheckTokenIds(const Dataset& ds, int64_t vocabulary, const std::string& layer);

/// Seeded shuffle, then the first round(fraction * N) samples and the rest.
/// fraction must lie in [0, 1].
StatusOr<std::pair<Dataset, Dataset>> Split(const Dataset& ds, double fraction, uint64_t seed);
/// Rows `indices` of ds, in that order (indices must be in range).
Dataset Gather(const Dataset& ds, const std::vector<int64_t>& indices);

// ---- Deterministic randomness --------------------------------------------------

/// SplitMix64: the same sequence on every platform and standard library.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  /// Uniform in [0, bound) without modulo bias; bound > 0.
  uint64_t Below(uint64_t bound);

 private:
  uint64_t state_;
};
/// Fisher-Yates shuffle of `order[0, n)` driven by SplitMix64(seed).
void Shuffle(int64_t* order, int64_t n, uint64_t seed);

// ---- Mini-batches --------------------------------------------------------------

/// Copies mini-batches of a Dataset into caller-provided buffers. The permutation
/// is allocated once at construction; StartEpoch and Fill never allocate. It keeps
/// a copy of the Dataset taken at construction (tensors share storage, so this is
/// cheap): preprocess first, then build the iterator.
class BatchIterator {
 public:
  /// batch_size must be >= 1 (use Create to have it checked).
  BatchIterator(const Dataset& dataset, int64_t batch_size);
  static StatusOr<BatchIterator> Create(const Dataset& dataset, int64_t batch_size);

  /// The order of this epoch: identity, or a shuffle that depends only on `seed`.
  void StartEpoch(uint64_t seed, bool shuffle);

  int64_t batch_size() const { return batch_size_; }
  int64_t size() const { return static_cast<int64_t>(order_.size()); }
  /// Full batches only (drop_last) or including a final partial one.
  int64_t num_batches(bool drop_last) const;
  /// Valid rows of batch `batch_index` (batch_size except for a final partial batch).
  int64_t rows_in_batch(int64_t batch_index) const;
  /// [batch_size, ...sample dims] of the feature / label buffers.
  Dims feature_batch_dims() const;
  Dims label_batch_dims() const;
  DType label_dtype() const { return dataset_.labels.dtype(); }
  int64_t feature_row_bytes() const { return feature_row_bytes_; }
  int64_t label_row_bytes() const { return label_row_bytes_; }
  /// Sample index of each position in this epoch's order.
  const std::vector<int64_t>& order() const { return order_; }
  const Dataset& dataset() const { return dataset_; }

  /// Copies the batch_size rows of a full batch into features_out (batch_size *
  /// feature_row_bytes) and labels_out (batch_size * label_row_bytes; may be null).
  /// A partial or out-of-range batch is an error (use FillPadded).
  Status Fill(int64_t batch_index, void* features_out, void* labels_out) const;
  /// Like Fill, but a final partial batch is padded to batch_size rows by repeating
  /// its last row; returns the number of valid rows.
  StatusOr<int64_t> FillPadded(int64_t batch_index, void* features_out, void* labels_out) const;

 private:
  void CopyRows(int64_t begin, int64_t valid, void* features_out, void* labels_out) const;

  Dataset dataset_;
  int64_t batch_size_;
  int64_t feature_row_bytes_ = 0, label_row_bytes_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace kiln::data
