// Errors are values: Status / StatusOr<T> and the RETURN_IF_ERROR /
// ASSIGN_OR_RETURN macros. No exceptions cross a library API.
#pragma once

#include <optional>
#include <sstream>
#include <string>
#include <utility>

namespace kiln {

enum class StatusCode { kOk = 0, kInvalidArgument, kNotFound, kUnimplemented, kInternal, kOutOfRange };

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  /// Returns a copy whose message is prefixed with `context: `.
  Status WithContext(const std::string& context) const {
    if (ok()) return *this;
    return Status(code_, context + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

/// Builds a message from streamable pieces: Error(StatusCode::kInvalidArgument, "x is ", 3).
template <typename... Args>
Status MakeError(StatusCode code, const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return Status(code, os.str());
}
template <typename... Args>
Status InvalidArgument(const Args&... args) {
  return MakeError(StatusCode::kInvalidArgument, args...);
}
template <typename... Args>
Status Unimplemented(const Args&... args) {
  return MakeError(StatusCode::kUnimplemented, args...);
}
template <typename... Args>
Status NotFound(const Args&... args) {
  return MakeError(StatusCode::kNotFound, args...);
}
template <typename... Args>
Status Internal(const Args&... args) {
  return MakeError(StatusCode::kInternal, args...);
}

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : status_(status) {}        // NOLINT: implicit by design
  StatusOr(Status&& status) : status_(std::move(status)) {}  // NOLINT
  StatusOr(const T& value) : value_(value) {}                // NOLINT
  StatusOr(T&& value) : value_(std::move(value)) {}          // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() & { return *value_; }
  const T& operator*() const& { return *value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace kiln

#define KILN_CONCAT_INNER(a, b) a##b
#define KILN_CONCAT(a, b) KILN_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                    \
  do {                                           \
    ::kiln::Status _kiln_status = (expr);        \
    if (!_kiln_status.ok()) return _kiln_status; \
  } while (0)

#define ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                          \
  if (!tmp.ok()) return tmp.status();         \
  lhs = std::move(tmp).value()

#define ASSIGN_OR_RETURN(lhs, expr) ASSIGN_OR_RETURN_IMPL(KILN_CONCAT(_kiln_or_, __LINE__), lhs, expr)
