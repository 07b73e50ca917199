// The one resource policy: every size check against untrusted input (files, streams,
// declared tensor shapes, the arena) goes through here, so that a small or endless
// input can never cause a large allocation. Defaults fit a laptop; raise them with
// `kiln --limit NAME=VALUE` or the KILN_MAX_* environment variables (docs/reliability.md).
#pragma once

#include <cstdint>
#include <string>

#include "ir/core/dtype.h"
#include "ir/core/status.h"

namespace kiln {

enum class Limit {
  kFileBytes,          // bytes read from one file or stream (models, tensors, plans, data, images)
  kDecompressedBytes,  // bytes after decompressing one gzip input
  kTensorBytes,        // bytes of one tensor (parameter, constant, input, folded value)
  kArenaBytes,         // bytes of a plan's memory arena
};

struct LimitInfo {
  Limit limit;
  const char* name;     // for --limit NAME=VALUE and in error messages
  const char* env_var;  // KILN_MAX_...
  int64_t default_value;
};

/// The table of limits (one fact in one place: names, variables, defaults).
const LimitInfo* LimitTable(int* count);

/// The current value: a --limit setting, else the environment variable, else the default.
int64_t GetLimit(Limit limit);

/// Parses "NAME=VALUE" (VALUE: bytes, with an optional K, M, G or T suffix, powers of 1024).
Status SetLimitFromSpec(const std::string& spec);
void SetLimit(Limit limit, int64_t value);

/// Ok when value <= the limit; otherwise "<what>: <description> of <value> bytes exceeds
/// limit <name> (<limit> bytes); raise it with --limit <name>=N or <ENV>=N".
Status CheckLimit(Limit limit, int64_t value, const std::string& what, const std::string& description);

/// CheckLimit(kTensorBytes) for a tensor of `dtype` and `dims` (dims validated first,
/// without overflow): call before allocating any tensor whose shape came from input.
Status CheckTensorSize(DType dtype, const Dims& dims, const std::string& what);

/// The whole contents of a file or stream (`-` is stdin; FIFOs, character devices and
/// endless files read alike), read in chunks and refused as soon as it passes
/// max_file_bytes: memory grows with the bytes actually read, never beyond the limit.
StatusOr<std::string> ReadFileBounded(const std::string& path);

/// Message for a std::bad_alloc caught at a command boundary (the last resort).
std::string OutOfMemoryMessage(const std::string& where);

}  // namespace kiln
