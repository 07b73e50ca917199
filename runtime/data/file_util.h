// Internal to runtime/data: whole-file reads (raw or gzip) with a size cap.
#pragma once

#include <string>

#include "ir/status.h"

namespace kiln::data::internal {

/// The (decompressed) contents of `path`; gzip is detected from the content, so
/// raw and .gz files read alike. Memory grows with the bytes actually present,
/// never with anything a header claims. Errors name the file: missing, a
/// directory, corrupt or truncated gzip, larger than `max_bytes`.
StatusOr<std::string> ReadDataFile(const std::string& path, int64_t max_bytes);

/// True when `path` names an existing regular file.
bool IsFile(const std::string& path);

}  // namespace kiln::data::internal
