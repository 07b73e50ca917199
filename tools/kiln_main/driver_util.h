// What the drivers of compiled executables and trainers share: the program name,
// one-line errors ("NAME: <reason>"; exit 1, or 2 for command-line mistakes) and a
// small argument reader ("--opt VALUE" and "--opt=VALUE").
#pragma once

#include <cstdint>
#include <string>

#include "runtime/threading.h"

namespace kiln::aot {

/// The program's name for messages: the file name of argv[0].
void SetProgramName(const char* argv0);

/// Runs a driver's `main_fn` (after ApplyThreadingDefaults for `workload`); a std::bad_alloc
/// that escapes it (the last resort: inputs are checked against ir/core/resource_limits.h
/// first) becomes a one-line error and exit 1.
int RunGuarded(int (*main_fn)(int, char**), int argc, char** argv, runtime::Workload workload);
const std::string& ProgramName();

/// Prints "NAME: message" (newlines folded) on stderr and exits with `code`.
[[noreturn]] void Die(const std::string& message, int code = 1);
/// A command-line mistake: "NAME: message (try 'NAME --help')", exit 2.
[[noreturn]] void Usage(const std::string& message);

/// An integer option value in [min, max]; a usage error otherwise.
int64_t ParseCount(const std::string& option, const std::string& value, int64_t min, int64_t max = 1000000);

/// Walks argv: Next() yields each option name (split at '=' for --opt=value), Value() its value.
class ArgReader {
 public:
  ArgReader(int argc, char** argv) : argc_(argc), argv_(argv) {}
  bool Next(std::string* arg);
  /// The current option's value: the part after '=', else the next argument (usage error if none).
  std::string Value();

 private:
  int argc_;
  char** argv_;
  int i_ = 0;
  std::string arg_, inline_value_;
  bool has_inline_ = false;
};

}  // namespace kiln::aot
