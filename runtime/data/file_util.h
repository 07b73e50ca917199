// Internal to runtime/data: file reads (raw or gzip) whose memory grows with the
// bytes actually present, never with anything a header claims.
#pragma once

#include <string>

#include "ir/core/status.h"

namespace kiln::data::internal {

/// A file opened for reading; gzip is detected from the content, so raw and .gz
/// files read alike. Errors name the file.
class DataFile {
 public:
  /// Missing file (kNotFound), a directory, or unreadable.
  static StatusOr<DataFile> Open(const std::string& path);
  DataFile(DataFile&& other) noexcept : path_(std::move(other.path_)), file_(other.file_), size_(other.size_) {
    other.file_ = nullptr;
  }
  DataFile& operator=(DataFile&&) = delete;
  ~DataFile();

  /// Appends up to `n` more bytes to *out, fewer at the end of the data; returns
  /// the number appended. Corrupt or truncated gzip data is an error.
  StatusOr<int64_t> Read(int64_t n, std::string* out);
  /// True when the file is not gzip-compressed; then size() bounds what Read returns.
  bool raw() const;
  int64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  DataFile(std::string path, void* file, int64_t size) : path_(std::move(path)), file_(file), size_(size) {}
  std::string path_;
  void* file_;  // gzFile
  int64_t size_;
};

/// The whole (decompressed) contents of `path`, refused while reading as soon as it
/// passes max_file_bytes (raw) or max_decompressed_bytes (gzip), ir/core/resource_limits.h.
StatusOr<std::string> ReadDataFile(const std::string& path);

/// True when `path` names an existing regular file.
bool IsFile(const std::string& path);

}  // namespace kiln::data::internal
