// IDX (MNIST) and .npy loaders, and the Dataset invariants.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "ir/core/npy.h"
#include "ir/core/resource_limits.h"
#include "runtime/data/dataset.h"
#include "runtime/data/file_util.h"

namespace kiln::data {

int64_t Dataset::feature_row_elements() const {
  int64_t n = 1;
  for (size_t i = 1; i < features.dims().size(); ++i) n *= features.dims()[i];
  return n;
}

int64_t Dataset::label_row_elements() const {
  int64_t n = 1;
  for (size_t i = 1; i < labels.dims().size(); ++i) n *= labels.dims()[i];
  return n;
}

Status Dataset::Validate() const {
  const std::string where = source.empty() ? "data set" : source;
  if (features.dtype() != proto::DT_FLOAT || features.dims().empty()) {
    return InvalidArgument(where, ": features must be float32 [N, ...], not ", DTypeName(features.dtype()), " ",
                           DimsToString(features.dims()));
  }
  if (labels.dtype() == proto::DT_INT64) {
    if (labels.dims().size() != 1) {
      return InvalidArgument(where, ": int64 labels must be [N], not ", DimsToString(labels.dims()));
    }
  } else if (labels.dtype() == proto::DT_FLOAT) {
    if (labels.dims().size() != 2) {
      return InvalidArgument(where, ": float32 labels must be [N, k], not ", DimsToString(labels.dims()));
    }
  } else {
    return InvalidArgument(where, ": labels must be int64 [N] or float32 [N, k], not ", DTypeName(labels.dtype()));
  }
  if (labels.dims()[0] != features.dims()[0]) {
    return InvalidArgument(where, ": ", features.dims()[0], " feature rows but ", labels.dims()[0], " labels");
  }
  return Status::Ok();
}

namespace {

struct IdxFile {
  Dims dims;
  std::string data;  // the payload, exactly ElementCount(dims) bytes
};

std::string Hex(uint32_t v, int digits) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "0x%0*x", digits, v);
  return buf;
}

// Reads an IDX file, checking its header against the bytes present: the payload
// buffer grows only with data actually read (and a raw file's size is checked first).
StatusOr<IdxFile> ReadIdx(const std::string& path) {
  ASSIGN_OR_RETURN(internal::DataFile file, internal::DataFile::Open(path));
  std::string header;
  ASSIGN_OR_RETURN(int64_t got, file.Read(4, &header));
  if (got < 4) return InvalidArgument(path, ": truncated IDX header (", got, " bytes)");
  const auto* u = reinterpret_cast<const uint8_t*>(header.data());
  const uint32_t magic = (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
  const int type = u[2], rank = u[3];
  if (u[0] != 0 || u[1] != 0 || rank == 0 || rank > 8) {
    return InvalidArgument(path, ": bad magic ", Hex(magic, 8), " (not an IDX file; expected 0x000008NN)");
  }
  if (type != 0x08) {
    return Unimplemented(path, ": IDX element type ", Hex(type, 2), " is not supported (only unsigned byte, 0x08)");
  }
  ASSIGN_OR_RETURN(got, file.Read(4 * rank, &header));
  if (got < 4 * rank) {
    return InvalidArgument(path, ": truncated IDX header (", rank, " dimensions need ", 4 + 4 * rank,
                           " bytes, the file has ", header.size(), ")");
  }
  IdxFile idx;
  for (int i = 0; i < rank; ++i) {
    const auto* d = reinterpret_cast<const uint8_t*>(header.data()) + 4 + 4 * i;
    idx.dims.push_back((int64_t{d[0]} << 24) | (int64_t{d[1]} << 16) | (int64_t{d[2]} << 8) | d[3]);
  }
  auto count = CheckedElementCount(idx.dims);
  if (!count.ok()) {
    return InvalidArgument(path, ": IDX header declares ", DimsToString(idx.dims), ": ", count.status().message());
  }
  auto mismatch = [&](const std::string& have) {
    return InvalidArgument(path, ": IDX header declares ", DimsToString(idx.dims), " (", *count,
                           " bytes of data) but the file has ", have);
  };
  const int64_t raw_data = file.size() - static_cast<int64_t>(header.size());
  if (file.raw() && raw_data != *count) {
    return mismatch(std::to_string(raw_data) + (raw_data < *count ? " (truncated)" : " (trailing bytes; wrong file?)"));
  }
  if (file.raw()) idx.data.reserve(static_cast<size_t>(*count));
  // A gzip bomb is stopped while decompressing, at max_decompressed_bytes.
  const int64_t cap = file.raw() ? *count : std::min(*count, GetLimit(Limit::kDecompressedBytes));
  ASSIGN_OR_RETURN(int64_t have, file.Read(cap + 1, &idx.data));
  if (have > cap && cap < *count) return CheckLimit(Limit::kDecompressedBytes, have, path, "decompressed IDX data");
  if (have < *count) return mismatch(std::to_string(have) + " (truncated)");
  if (have > *count) return mismatch("more (trailing bytes; wrong file?)");
  // Before the float32 tensor it becomes (4 bytes per byte read).
  RETURN_IF_ERROR(CheckTensorSize(proto::DT_FLOAT, idx.dims, path));
  return idx;
}

}  // namespace

StatusOr<Dataset> LoadIdx(const std::string& images_path, const std::string& labels_path) {
  ASSIGN_OR_RETURN(IdxFile images, ReadIdx(images_path));
  if (images.dims.size() != 3 && images.dims.size() != 2) {
    return InvalidArgument(images_path, ": IDX images must be [N, rows, cols] or [N, features], not ",
                           DimsToString(images.dims));
  }
  ASSIGN_OR_RETURN(IdxFile labels, ReadIdx(labels_path));
  if (labels.dims.size() != 1) {
    return InvalidArgument(labels_path, ": IDX labels must be one-dimensional [N], not ", DimsToString(labels.dims));
  }
  const int64_t n = images.dims[0];
  if (labels.dims[0] != n) {
    return InvalidArgument("images/labels count mismatch: ", images_path, " has ", n, " images but ", labels_path,
                           " has ", labels.dims[0], " labels");
  }
  Dataset ds;
  ds.source = images_path + "," + labels_path;
  Dims dims = images.dims;
  if (dims.size() == 3) dims.insert(dims.begin() + 1, 1);
  ds.features = Tensor(proto::DT_FLOAT, dims);
  float* f = ds.features.mutable_data_as<float>();
  const int64_t total = ds.features.num_elements();
  const auto* pixels = reinterpret_cast<const uint8_t*>(images.data.data());
  for (int64_t i = 0; i < total; ++i) f[i] = static_cast<float>(pixels[i]);
  images.data = std::string();
  ds.labels = Tensor(proto::DT_INT64, {n});
  int64_t* l = ds.labels.mutable_data_as<int64_t>();
  int64_t max_label = -1;
  for (int64_t i = 0; i < n; ++i) {
    l[i] = static_cast<uint8_t>(labels.data[i]);
    max_label = std::max(max_label, l[i]);
  }
  ds.num_classes = std::max<int64_t>(10, max_label + 1);
  return ds;
}

namespace {

StatusOr<Tensor> ReadNpyFile(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, internal::ReadDataFile(path));
  return ParseNpy(bytes, path);
}

template <typename T>
void ConvertTo(const Tensor& in, T* out) {
  const int64_t n = in.num_elements();
  for (int64_t i = 0; i < n; ++i) {
    if constexpr (std::is_integral_v<T>) {
      out[i] = static_cast<T>(ElementToInt64(in.dtype(), in.data(), i));
    } else {
      out[i] = static_cast<T>(ElementToDouble(in.dtype(), in.data(), i));
    }
  }
}

}  // namespace

StatusOr<Dataset> LoadNpy(const std::string& features_path, const std::string& labels_path) {
  ASSIGN_OR_RETURN(Tensor x, ReadNpyFile(features_path));
  ASSIGN_OR_RETURN(Tensor y, ReadNpyFile(labels_path));
  return DatasetFromTensors(std::move(x), std::move(y), features_path, labels_path);
}

StatusOr<Dataset> DatasetFromTensors(Tensor x, Tensor y, const std::string& features_path,
                                     const std::string& labels_path) {
  if (!IsIntegerType(x.dtype()) && !IsFloatingType(x.dtype())) {
    return InvalidArgument(features_path, ": features of type ", DTypeName(x.dtype()),
                           " are not supported (floating-point or integer types)");
  }
  if (x.dims().empty()) return InvalidArgument(features_path, ": features must be [N, ...], not a scalar");
  const bool int_labels = IsIntegerType(y.dtype());
  if (!int_labels && !IsFloatingType(y.dtype())) {
    return InvalidArgument(labels_path, ": labels of type ", DTypeName(y.dtype()),
                           " are not supported (integer classes; floating-point targets)");
  }
  if (y.dims().empty() || y.dims().size() > 2 || (int_labels && y.dims().size() == 2 && y.dims()[1] != 1)) {
    return InvalidArgument(labels_path, ": labels must be ", int_labels ? "[N] (or [N, 1])" : "[N] or [N, k]", ", not ",
                           DimsToString(y.dims()));
  }
  const int64_t n = x.dims()[0];
  if (y.dims()[0] != n) {
    return InvalidArgument("features/labels count mismatch: ", features_path, " has ", n, " samples but ", labels_path,
                           " has ", y.dims()[0], " labels");
  }
  Dataset ds;
  ds.source = features_path + "," + labels_path;
  Dims fdims = x.dims();
  if (fdims.size() == 1) fdims.push_back(1);
  ds.features = Tensor(proto::DT_FLOAT, fdims);
  ConvertTo(x, ds.features.mutable_data_as<float>());
  x = Tensor();
  if (int_labels) {
    ds.labels = Tensor(proto::DT_INT64, {n});
    int64_t* l = ds.labels.mutable_data_as<int64_t>();
    ConvertTo(y, l);
    int64_t max_label = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (l[i] < 0) return InvalidArgument(labels_path, ": label ", l[i], " of sample ", i, " is negative");
      max_label = std::max(max_label, l[i]);
    }
    ds.num_classes = max_label + 1;
  } else {
    const int64_t k = y.dims().size() == 2 ? y.dims()[1] : 1;
    ds.labels = Tensor(proto::DT_FLOAT, {n, k});
    ConvertTo(y, ds.labels.mutable_data_as<float>());
    ds.num_classes = 0;
  }
  return ds;
}

}  // namespace kiln::data
