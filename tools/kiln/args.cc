#include "tools/kiln/args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "compiler/backend.h"
#include "runtime/device.h"

namespace kiln::cli {

std::string ParsedArgs::Get(const std::string& option, const std::string& fallback) const {
  std::string value = fallback;
  auto [begin, end] = options.equal_range(option);
  for (auto it = begin; it != end; ++it) value = it->second;
  return value;
}

std::vector<std::string> ParsedArgs::GetAll(const std::string& option) const {
  std::vector<std::string> values;
  auto [begin, end] = options.equal_range(option);
  for (auto it = begin; it != end; ++it) values.push_back(it->second);
  return values;
}

StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args, const ArgSpec& spec) {
  ParsedArgs parsed;
  parsed.command = spec.command;
  parsed.command_line = "kiln " + spec.command;
  for (const std::string& arg : args) parsed.command_line += " " + arg;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      parsed.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    std::string name = arg, value;
    bool has_value = false;
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto alias = spec.aliases.find(name);
    if (alias != spec.aliases.end()) name = alias->second;
    if (spec.flags.count(name)) {
      if (has_value) return InvalidArgument("option '", name, "' takes no value");
      parsed.flags.insert(name);
    } else if (spec.options.count(name)) {
      if (!has_value) {
        if (i + 1 >= args.size()) return InvalidArgument("option '", name, "' needs a value");
        value = args[++i];
      }
      parsed.options.emplace(name, value);
    } else {
      return InvalidArgument("unknown option '", arg, "'");
    }
  }
  return parsed;
}

StatusOr<int64_t> ParsePositiveInt(const std::string& option, const std::string& value) {
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE || v <= 0 || v > (int64_t{1} << 31)) {
    return InvalidArgument("option '", option, "' needs a positive integer, got '", value, "'");
  }
  return static_cast<int64_t>(v);
}

static std::string OneLine(const std::string& message) {
  std::string out;
  for (char c : message) {
    if (c == '\n') {
      out += "; ";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {
thread_local ErrorCapture* current_capture = nullptr;
}  // namespace

ErrorCapture::ErrorCapture() : previous_(current_capture) { current_capture = this; }
ErrorCapture::~ErrorCapture() { current_capture = previous_; }

int ReportError(const Status& status) {
  if (current_capture) {
    current_capture->Set(OneLine(status.message()));
    return kExitError;
  }
  std::fprintf(stderr, "kiln: %s\n", OneLine(status.message()).c_str());
  return kExitError;
}

int ReportUsageError(const std::string& command, const std::string& message) {
  if (current_capture) {
    current_capture->Set(command.empty() ? OneLine(message) : command + ": " + OneLine(message));
    return kExitUsage;
  }
  if (command.empty()) {
    std::fprintf(stderr, "kiln: %s (try 'kiln --help')\n", OneLine(message).c_str());
  } else {
    std::fprintf(stderr, "kiln: %s: %s (try 'kiln %s --help')\n", command.c_str(), OneLine(message).c_str(),
                 command.c_str());
  }
  return kExitUsage;
}

int ResolveDevice(const ParsedArgs& args, bool runs_here, std::string* device) {
  *device = args.Get("--device", "cpu");
  auto backend = FindBackend(*device);
  if (!backend.ok()) return ReportUsageError(args.command, "--device: " + backend.status().message());
  if (args.Has("--cpu-fallback") && *device == "cpu") {
    return ReportUsageError(args.command, "--cpu-fallback goes with a device (--device cuda)");
  }
  if (!runs_here) return kExitOk;
  // Before the model is even read: a machine without the device's driver fails at once.
  Status here = runtime::DeviceAvailable(*device);
  return here.ok() ? kExitOk : ReportError(here);
}

}  // namespace kiln::cli
