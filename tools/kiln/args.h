// A tiny command-line parser shared by the kiln subcommands, and the one way
// they report errors: a single line "kiln: <where>: <reason>" on stderr.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/core/status.h"

namespace kiln::cli {

constexpr int kExitOk = 0;
constexpr int kExitError = 1;  // the model, an input or a file is bad
constexpr int kExitUsage = 2;  // the command line is bad

/// What a subcommand accepts. Options take a value (`--batch 4`, `--batch=4`);
/// flags do not. `aliases` maps short spellings to long ones ("-o" -> "--output").
struct ArgSpec {
  std::string command;  // "run", for messages
  std::set<std::string> flags;
  std::set<std::string> options;
  std::map<std::string, std::string> aliases;
};

struct ParsedArgs {
  bool help = false;
  std::string command;  // "run"
  std::vector<std::string> positional;
  std::set<std::string> flags;
  std::multimap<std::string, std::string> options;  // in command-line order per name
  std::string command_line;                         // "kiln <command> <args...>", for logs and reports

  bool Has(const std::string& flag) const { return flags.count(flag) != 0; }
  /// The last value given for `option`, or `fallback`.
  std::string Get(const std::string& option, const std::string& fallback = "") const;
  std::vector<std::string> GetAll(const std::string& option) const;
};

/// Parses `args` (after the subcommand). Unknown options and missing values are
/// usage errors; "--" ends the options.
StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const ArgSpec& spec);

/// Parses a positive integer option value (`--batch 8`).
StatusOr<int64_t> ParsePositiveInt(const std::string& option, const std::string& value);

/// The --device option (compiler/backend.h's registry; "cpu" when absent) into `device`.
/// Returns kExitOk, or what the command exits with after reporting: a usage error naming the
/// valid devices for an unknown one; with `runs_here` (the command runs the model, not only
/// compiles it), one line such as "kiln: cuda: no CUDA driver found (...)" and kExitError when
/// this machine cannot run the device. --cpu-fallback (a flag of the same commands) needs a
/// device other than cpu.
int ResolveDevice(const ParsedArgs& args, bool runs_here, std::string* device);

/// While alive, ReportError and ReportUsageError on this thread keep their line here instead of
/// printing it: the Python module runs a subcommand and raises the CLI's message as an exception.
class ErrorCapture {
 public:
  ErrorCapture();
  ~ErrorCapture();
  ErrorCapture(const ErrorCapture&) = delete;
  ErrorCapture& operator=(const ErrorCapture&) = delete;
  /// The reported line without the "kiln: " prefix ("" when nothing failed).
  const std::string& message() const { return message_; }
  void Set(std::string message) { message_ = std::move(message); }

 private:
  std::string message_;
  ErrorCapture* previous_;
};

/// Prints "kiln: <message>" as one line (multi-line messages are joined with "; ")
/// and returns kExitError.
int ReportError(const Status& status);
/// Prints "kiln: <command>: <message> (try 'kiln <command> --help')" and returns kExitUsage.
int ReportUsageError(const std::string& command, const std::string& message);

}  // namespace kiln::cli
