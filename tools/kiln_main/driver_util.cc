#include "tools/kiln_main/driver_util.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "ir/core/resource_limits.h"
#include "runtime/threading.h"

namespace kiln::aot {

int RunGuarded(int (*main_fn)(int, char**), int argc, char** argv, runtime::Workload workload) {
  runtime::ApplyThreadingDefaults(argv, workload);  // may re-execute this program (runtime/threading.h)
  try {
    return main_fn(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "%s: %s\n", argv[0], OutOfMemoryMessage("run").c_str());
    return 1;
  }
}
namespace {
std::string& Program() {
  static std::string name = "model";
  return name;
}
}  // namespace

void SetProgramName(const char* argv0) {
  const char* slash = std::strrchr(argv0, '/');
  Program() = slash ? slash + 1 : argv0;
}

const std::string& ProgramName() { return Program(); }

void Die(const std::string& message, int code) {
  std::string line = message;
  for (char& c : line) c = c == '\n' ? ' ' : c;
  std::fprintf(stderr, "%s: %s\n", Program().c_str(), line.c_str());
  std::exit(code);
}

void Usage(const std::string& message) { Die(message + " (try '" + Program() + " --help')", 2); }

int64_t ParseCount(const std::string& option, const std::string& value, int64_t min, int64_t max) {
  char* end = nullptr;
  const long long v = std::strtoll(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min || v > max) {
    Usage(option + ": expected an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "], got '" +
          value + "'");
  }
  return v;
}

bool ArgReader::Next(std::string* arg) {
  if (++i_ >= argc_) return false;
  arg_ = argv_[i_];
  const size_t eq = arg_.find('=');
  has_inline_ = arg_.rfind("--", 0) == 0 && eq != std::string::npos;
  if (has_inline_) {
    inline_value_ = arg_.substr(eq + 1);
    arg_ = arg_.substr(0, eq);
  }
  *arg = arg_;
  return true;
}

std::string ArgReader::Value() {
  if (has_inline_) return inline_value_;
  if (i_ + 1 >= argc_) Usage(arg_ + " needs a value");
  return argv_[++i_];
}

}  // namespace kiln::aot
