#include "runtime/data/file_util.h"

#include <sys/stat.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "ir/core/resource_limits.h"

namespace kiln::data::internal {

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

StatusOr<DataFile> DataFile::Open(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFound(path, ": no such file");
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path, ": is a directory, not a file");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) return NotFound(path, ": cannot open file (", std::strerror(errno), ")");
  gzbuffer(file, 1 << 17);
  return DataFile(path, file, static_cast<int64_t>(st.st_size));
}

DataFile::~DataFile() {
  if (file_) gzclose(static_cast<gzFile>(file_));
}

bool DataFile::raw() const { return gzdirect(static_cast<gzFile>(file_)) != 0; }

StatusOr<int64_t> DataFile::Read(int64_t n, std::string* out) {
  gzFile file = static_cast<gzFile>(file_);
  constexpr int64_t kChunk = int64_t{1} << 20;
  int64_t total = 0;
  while (total < n) {
    // Grow by at most a chunk ahead of the data read so far (capacity doubles).
    const size_t old = out->size();
    const int64_t want = std::min(kChunk, n - total);
    out->resize(old + static_cast<size_t>(want));
    const int got = gzread(file, &(*out)[old], static_cast<unsigned>(want));
    if (got < 0) {
      out->resize(old);
      int errnum = 0;
      const char* message = gzerror(file, &errnum);
      if (errnum == Z_ERRNO) return InvalidArgument(path_, ": read error: ", std::strerror(errno));
      return InvalidArgument(path_, ": corrupt gzip data: ", message);
    }
    out->resize(old + static_cast<size_t>(got));
    total += got;
    if (got < want) break;
  }
  // gzread stops at a truncated stream with Z_BUF_ERROR ("unexpected end of file").
  int errnum = 0;
  const char* message = gzerror(file, &errnum);
  if (errnum == Z_BUF_ERROR) return InvalidArgument(path_, ": truncated gzip data (", message, ")");
  if (errnum != Z_OK) return InvalidArgument(path_, ": corrupt gzip data: ", message);
  return total;
}

StatusOr<std::string> ReadDataFile(const std::string& path) {
  ASSIGN_OR_RETURN(DataFile file, DataFile::Open(path));
  const Limit limit = file.raw() ? Limit::kFileBytes : Limit::kDecompressedBytes;
  const int64_t max_bytes = GetLimit(limit);
  std::string out;
  if (file.raw() && file.size() <= max_bytes) out.reserve(static_cast<size_t>(file.size()));
  ASSIGN_OR_RETURN(int64_t n, file.Read(max_bytes + 1, &out));
  if (n > max_bytes) return CheckLimit(limit, n, path, file.raw() ? "data" : "decompressed data");
  return out;
}

}  // namespace kiln::data::internal
