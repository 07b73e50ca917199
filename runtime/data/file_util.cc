#include "runtime/data/file_util.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

namespace kiln::data::internal {

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

StatusOr<std::string> ReadDataFile(const std::string& path, int64_t max_bytes) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFound(path, ": no such file");
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path, ": is a directory, not a file");
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) return NotFound(path, ": cannot open file (", std::strerror(errno), ")");
  gzbuffer(file, 1 << 17);
  std::string out;
  // An uncompressed file's size is known and bounded by the disk; reserve it.
  // A compressed one grows as data arrives (capacity doubles), up to max_bytes.
  if (gzdirect(file) && st.st_size <= max_bytes) out.reserve(static_cast<size_t>(st.st_size));
  constexpr size_t kChunk = size_t{1} << 20;
  Status error;
  while (true) {
    const size_t old = out.size();
    out.resize(old + kChunk);
    const int n = gzread(file, &out[old], static_cast<unsigned>(kChunk));
    if (n < 0) {
      int errnum = 0;
      const char* message = gzerror(file, &errnum);
      error = InvalidArgument(path, errnum == Z_ERRNO ? ": read error: " : ": corrupt gzip data: ",
                              errnum == Z_ERRNO ? std::strerror(errno) : message);
      break;
    }
    out.resize(old + static_cast<size_t>(n));
    if (static_cast<int64_t>(out.size()) > max_bytes) {
      error = InvalidArgument(path, ": larger than ", max_bytes, " bytes", gzdirect(file) ? "" : " (decompressed)");
      break;
    }
    if (n == 0) break;
  }
  if (error.ok()) {
    // gzread stops at a truncated stream with Z_BUF_ERROR ("unexpected end of file").
    int errnum = 0;
    const char* message = gzerror(file, &errnum);
    if (errnum == Z_BUF_ERROR) {
      error = InvalidArgument(path, ": truncated gzip data (", message, ")");
    } else if (errnum != Z_OK) {
      error = InvalidArgument(path, ": corrupt gzip data: ", message);
    }
  }
  gzclose(file);
  if (!error.ok()) return error;
  return out;
}

}  // namespace kiln::data::internal
