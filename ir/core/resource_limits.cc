#include "ir/core/resource_limits.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace kiln {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

const LimitInfo kLimits[] = {
    {Limit::kFileBytes, "max_file_bytes", "KILN_MAX_FILE_BYTES", kGiB},
    {Limit::kDecompressedBytes, "max_decompressed_bytes", "KILN_MAX_DECOMPRESSED_BYTES", kGiB / 2},
    {Limit::kTensorBytes, "max_tensor_bytes", "KILN_MAX_TENSOR_BYTES", kGiB / 2},
    {Limit::kArenaBytes, "max_arena_bytes", "KILN_MAX_ARENA_BYTES", 2 * kGiB},
};
constexpr int kNumLimits = sizeof(kLimits) / sizeof(kLimits[0]);

// -1: not set on the command line.
std::atomic<int64_t> g_overrides[kNumLimits] = {{-1}, {-1}, {-1}, {-1}};

const LimitInfo& Info(Limit limit) { return kLimits[static_cast<int>(limit)]; }

// Bytes with an optional K/M/G/T suffix; -1 when malformed or overflowing.
int64_t ParseBytes(const std::string& text) {
  if (text.empty()) return -1;
  size_t i = 0;
  int64_t value = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i) {
    if (value > (INT64_MAX - 9) / 10) return -1;
    value = value * 10 + (text[i] - '0');
  }
  if (i == 0) return -1;
  int shift = 0;
  if (i < text.size()) {
    switch (text[i]) {
      case 'K':
      case 'k': shift = 10; break;
      case 'M':
      case 'm': shift = 20; break;
      case 'G':
      case 'g': shift = 30; break;
      case 'T':
      case 't': shift = 40; break;
      default: return -1;
    }
    ++i;
    if (i < text.size() && (text[i] == 'B' || text[i] == 'b' || text[i] == 'i')) ++i;
    if (i < text.size() && (text[i] == 'B' || text[i] == 'b')) ++i;
    if (i != text.size()) return -1;
  }
  if (value > (INT64_MAX >> shift)) return -1;
  return value << shift;
}

}  // namespace

const LimitInfo* LimitTable(int* count) {
  *count = kNumLimits;
  return kLimits;
}

int64_t GetLimit(Limit limit) {
  const int index = static_cast<int>(limit);
  const int64_t set = g_overrides[index].load();
  if (set >= 0) return set;
  const char* env = std::getenv(kLimits[index].env_var);
  if (env && *env) {
    const int64_t value = ParseBytes(env);
    if (value >= 0) return value;  // a malformed variable keeps the default (reported by kiln --limit parsing)
  }
  return kLimits[index].default_value;
}

void SetLimit(Limit limit, int64_t value) { g_overrides[static_cast<int>(limit)].store(value); }

Status SetLimitFromSpec(const std::string& spec) {
  const size_t eq = spec.find('=');
  std::string names;
  for (const LimitInfo& info : kLimits) names += std::string(names.empty() ? "" : ", ") + info.name;
  if (eq == std::string::npos)
    return InvalidArgument("--limit: expected NAME=VALUE, got '", spec, "' (names: ", names, ")");
  const std::string name = spec.substr(0, eq);
  for (const LimitInfo& info : kLimits) {
    if (name != info.name) continue;
    const int64_t value = ParseBytes(spec.substr(eq + 1));
    if (value < 0)
      return InvalidArgument("--limit ", name, ": not a byte count: '", spec.substr(eq + 1), "' (e.g. 8G)");
    SetLimit(info.limit, value);
    return Status();
  }
  return InvalidArgument("--limit: unknown limit '", name, "' (names: ", names, ")");
}

Status CheckLimit(Limit limit, int64_t value, const std::string& what, const std::string& description) {
  const int64_t max = GetLimit(limit);
  if (value >= 0 && value <= max) return Status();
  const LimitInfo& info = Info(limit);
  return InvalidArgument(what, ": ", description, " of ",
                         value < 0 ? std::string("more than 2^63") : std::to_string(value), " bytes exceeds limit ",
                         info.name, " (", max, " bytes); raise it with --limit ", info.name, "=N or ", info.env_var,
                         "=N");
}

Status CheckTensorSize(DType dtype, const Dims& dims, const std::string& what) {
  auto count = CheckedElementCount(dims);
  if (!count.ok()) return InvalidArgument(what, ": ", count.status().message());
  // count <= 2^34 and element sizes <= 16, so the product cannot overflow.
  return CheckLimit(Limit::kTensorBytes, *count * DTypeSize(dtype), what,
                    "tensor " + DTypeName(dtype) + DimsToString(dims));
}

StatusOr<std::string> ReadFileBounded(const std::string& path) {
  const bool is_stdin = path == "-";
  const std::string what = is_stdin ? std::string("<stdin>") : path;
  int fd = 0;
  if (!is_stdin) {
    struct stat st;
    if (stat(path.c_str(), &st) != 0) return NotFound(path, ": no such file");
    if (S_ISDIR(st.st_mode)) return InvalidArgument(path, ": is a directory, not a file");
    if (S_ISREG(st.st_mode)) RETURN_IF_ERROR(CheckLimit(Limit::kFileBytes, st.st_size, path, "file"));
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NotFound(path, ": cannot open file (", std::strerror(errno), ")");
  }
  const int64_t max = GetLimit(Limit::kFileBytes);
  // Fixed-size chunks, joined at the end: memory never exceeds the bytes read (plus a
  // chunk), and an endless input is refused at the limit without reallocation copies.
  constexpr size_t kChunk = size_t{1} << 20;
  std::vector<std::string> chunks;
  int64_t total = 0;
  Status status;
  while (true) {
    if (chunks.empty() || chunks.back().size() == kChunk) chunks.emplace_back().reserve(kChunk);
    std::string& chunk = chunks.back();
    const size_t old = chunk.size();
    chunk.resize(kChunk);
    const ssize_t got = read(fd, &chunk[old], kChunk - old);
    chunk.resize(old + static_cast<size_t>(std::max<ssize_t>(got, 0)));
    if (got < 0) {
      if (errno == EINTR) continue;
      status = InvalidArgument(what, ": read error: ", std::strerror(errno));
      break;
    }
    if (got == 0) break;
    total += got;
    if (total > max) {
      status = CheckLimit(Limit::kFileBytes, total, what, "input");
      break;
    }
  }
  if (!is_stdin) close(fd);
  if (!status.ok()) return status;
  std::string out;
  out.reserve(static_cast<size_t>(total));
  for (std::string& chunk : chunks) {
    out += chunk;
    std::string().swap(chunk);  // freed as copied
  }
  return out;
}

std::string OutOfMemoryMessage(const std::string& where) {
  return where +
         ": out of memory (an allocation failed; a size in the input is too large for this machine, "
         "or a limit was raised too far: see docs/reliability.md, Resource limits)";
}

}  // namespace kiln
