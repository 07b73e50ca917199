#include "compiler/aot/compile_support.h"

#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "compiler/aot/link_config.h"
#include "ir/core/dtype.h"

extern char** environ;

namespace kiln::aot {
namespace {

bool IsFile(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string DirName(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string SelfDir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  return DirName(std::string(buf, static_cast<size_t>(n)));
}

bool HasRuntime(const std::string& dir) {
  return IsFile(dir + "/libkiln_runtime.a") && IsFile(dir + "/libkiln_main.a");
}

std::string ShellQuote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@") ==
                        std::string::npos) {
    return s;
  }
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

StatusOr<KilnLayout> FindKilnLayout() {
  KilnLayout layout;
  if (const char* env = std::getenv("KILN_RUNTIME_DIR"); env && *env) {
    if (!HasRuntime(env)) {
      return NotFound("KILN_RUNTIME_DIR=", env, ": holds no libkiln_runtime.a and libkiln_main.a");
    }
    layout.lib_dir = env;
    layout.include_dir =
        IsFile(DirName(env) + "/include/kiln/runtime.h") ? DirName(env) + "/include" : KILN_SOURCE_INCLUDE_DIR;
    return layout;
  }
  const std::string self = SelfDir();
  if (HasRuntime(self)) {  // the build tree: libraries beside the binary, headers in the sources
    layout.lib_dir = self;
    layout.include_dir = KILN_SOURCE_INCLUDE_DIR;
    return layout;
  }
  const std::string prefix = DirName(self);
  if (HasRuntime(prefix + "/" KILN_INSTALL_LIBDIR)) {  // the install tree: <prefix>/bin/kiln
    layout.lib_dir = prefix + "/" KILN_INSTALL_LIBDIR;
    layout.include_dir = prefix + "/" KILN_INSTALL_INCLUDEDIR;
    return layout;
  }
  return NotFound("cannot find the Kiln runtime libraries (libkiln_runtime.a, libkiln_main.a) beside ", self, " or in ",
                  prefix, "/" KILN_INSTALL_LIBDIR, "; set KILN_RUNTIME_DIR to the directory that holds them");
}

StatusOr<std::string> FindTool(const char* env_var, const std::string& fallback) {
  std::string tool = fallback;
  if (const char* env = std::getenv(env_var); env && *env) tool = env;
  if (tool.find('/') != std::string::npos) {
    if (access(tool.c_str(), X_OK) == 0) return tool;
    return NotFound("$", env_var, "=", tool, ": not an executable program");
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + tool;
    if (IsFile(candidate) && access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return NotFound("cannot find '", tool, "' on PATH (install a C/C++ toolchain, or set $", env_var,
                  " to the program to use)");
}

Status RunTool(const std::vector<std::string>& argv, const std::string& what) {
  TempDir tmp;
  if (!tmp.ok()) return Internal("cannot create a temporary directory");
  const std::string log = tmp.path() + "/output.txt";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawn(&pid, argv[0].c_str(), &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  std::string command;
  for (const std::string& a : argv) command += (command.empty() ? "" : " ") + ShellQuote(a);
  if (err != 0) return Internal(what, ": cannot run ", argv[0], " (", std::strerror(err), ")");
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return Status::Ok();
  std::ifstream in(log);
  std::string output((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  while (!output.empty() && (output.back() == '\n' || output.back() == ' ')) output.pop_back();
  const std::string how = WIFEXITED(status) ? "exited with " + std::to_string(WEXITSTATUS(status)) : "was killed";
  return Internal(what, " failed (", argv[0], " ", how, "): ", output.empty() ? "no output" : output,
                  " [command: ", command, "]");
}

std::vector<std::string> RuntimeDependencyFlags() {
  std::vector<std::string> flags;
  std::stringstream deps(KILN_LINK_DEPS);
  std::string flag;
  while (std::getline(deps, flag, ';')) {
    if (!flag.empty()) flags.push_back(flag);
  }
  return flags;
}

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string templ = std::string(base && *base ? base : "/tmp") + "/kiln-compile-XXXXXX";
  if (mkdtemp(templ.data())) path_ = templ;
}

TempDir::~TempDir() {
  if (path_.empty()) return;
  nftw(
      path_.c_str(), [](const char* p, const struct stat*, int, struct FTW*) { return std::remove(p); }, 16,
      FTW_DEPTH | FTW_PHYS);
}

std::string CIdentifier(const std::string& name) {
  static const std::set<std::string> kReserved = {
      "auto",   "break",    "case",     "char",     "const",    "continue", "default", "do",        "double",
      "else",   "enum",     "extern",   "float",    "for",      "goto",     "if",      "inline",    "int",
      "long",   "register", "restrict", "return",   "short",    "signed",   "sizeof",  "static",    "struct",
      "switch", "typedef",  "union",    "unsigned", "void",     "volatile", "while",   "bool",      "class",
      "delete", "new",      "this",     "template", "operator", "private",  "public",  "namespace", "ctx"};
  std::string out;
  for (char c : name) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  if (out.empty() || std::isdigit(static_cast<unsigned char>(out[0]))) out = "m_" + out;
  if (kReserved.count(out)) out += '_';
  return out;
}

namespace {

// ir/core/dtypes.def's storage type (the 16-bit floats as their bit patterns, bool as uint8_t).
std::string CType(DType dtype) {
  const DTypeInfo* row = FindDType(dtype);
  return row ? row->c_type : "void";
}

struct Param {
  std::string name;  // C identifier
  std::string tensor;
  std::string declaration;  // "const float x[1][4]"
  std::string type;         // "float32[1, 4]"
  int64_t bytes = 0;
};

std::vector<Param> Params(const proto::Plan& plan, const google::protobuf::RepeatedField<int32_t>& indices, bool input,
                          std::set<std::string>* used) {
  std::vector<Param> params;
  for (int idx : indices) {
    const proto::Buffer& b = plan.buffer(idx);
    Param p;
    p.tensor = b.name();
    p.name = CIdentifier(b.name());
    while (used->count(p.name)) p.name += '_';
    used->insert(p.name);
    const std::string ctype = CType(b.dtype());
    std::string dims;
    bool positive = !b.dims().empty();
    int64_t elements = 1;
    p.type = DTypeName(b.dtype()) + "[";
    for (int d = 0; d < b.dims_size(); ++d) {
      dims += "[" + std::to_string(b.dims(d)) + "]";
      positive = positive && b.dims(d) > 0;
      elements *= b.dims(d);
      p.type += (d ? ", " : "") + std::to_string(b.dims(d));
    }
    p.type += "]";
    p.bytes = elements * DTypeSize(b.dtype());
    // Scalars and empty tensors have no C array type: they take a plain pointer.
    p.declaration = std::string(input ? "const " : "") + ctype + (positive ? " " + p.name + dims : "* " + p.name);
    params.push_back(p);
  }
  return params;
}

}  // namespace

LibSources GenerateLibSources(const proto::Plan& plan, const std::string& symbol, const std::string& model_path,
                              int64_t batch, int threads) {
  std::set<std::string> used;
  const std::vector<Param> inputs = Params(plan, plan.input(), true, &used);
  const std::vector<Param> outputs = Params(plan, plan.output(), false, &used);
  std::string params;
  for (const Param& p : inputs) params += (params.empty() ? "" : ", ") + p.declaration;
  for (const Param& p : outputs) params += (params.empty() ? "" : ", ") + p.declaration;
  if (params.empty()) params = "void";
  std::string guard = symbol;
  for (char& c : guard) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::string& s = symbol;
  const std::string sym = "kiln_model_" + s;

  std::ostringstream h;
  h << "/* " << s << ".h: generated by `kiln compile --emit lib` from " << model_path << " (batch " << batch << ").\n"
    << " * Link lib" << s << ".a or lib" << s << ".so, and the Kiln runtime (Kiln::runtime, `pkg-config kiln`).\n"
    << " *\n * Inputs:\n";
  for (const Param& p : inputs) h << " *   " << p.name << ": \"" << p.tensor << "\" " << p.type << "\n";
  h << " * Outputs:\n";
  for (const Param& p : outputs) h << " *   " << p.name << ": \"" << p.tensor << "\" " << p.type << "\n";
  h << " *\n * Every function returning int returns a kiln_status (KILN_OK == 0); on failure\n"
    << " * kiln_last_error() says why. A context is one session: use it from one thread at a time\n"
    << " * (create one per thread to run concurrently).\n */\n"
    << "#ifndef KILN_MODEL_" << guard << "_H_\n#define KILN_MODEL_" << guard << "_H_\n\n"
    << "#include <stddef.h>\n#include <stdint.h>\n\n#include <kiln/runtime.h>\n\n"
    << "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
    << "typedef struct " << s << "_context " << s << "_context;\n\n"
    << "/* A reusable context (the model's weights loaded, its memory allocated). num_threads:\n"
    << " * 0 for the default compiled in (--threads " << threads << "). NULL on failure. */\n"
    << s << "_context* " << s << "_create(int num_threads);\n"
    << "void " << s << "_destroy(" << s << "_context* ctx);\n\n"
    << "/* Copies the inputs in, runs the model, copies the outputs out. */\n"
    << "int " << s << "_run_ctx(" << s << "_context* ctx" << (params == "void" ? "" : ", " + params) << ");\n"
    << "/* One-shot: create, run, destroy (use a context for repeated runs). */\n"
    << "int " << s << "_run(" << params << ");\n\n"
    << "/* The generic API (kiln/runtime.h): the context's session, and the embedded plan. */\n"
    << "kiln_session* " << s << "_session(" << s << "_context* ctx);\n"
    << "const void* " << s << "_plan_data(void);\n"
    << "size_t " << s << "_plan_size(void);\n\n"
    << "#ifdef __cplusplus\n} /* extern \"C\" */\n#endif\n\n#endif /* KILN_MODEL_" << guard << "_H_ */\n";

  std::ostringstream c;
  c << "/* Generated by `kiln compile --emit lib`: the entry points of " << s << ".h. */\n"
    << "#include <string.h>\n\n#include \"" << s << ".h\"\n\n"
    << "extern const unsigned char " << sym << "_plan[];\n"
    << "extern const int64_t " << sym << "_plan_size;\n"
    << "extern const int32_t " << sym << "_num_threads;\n"
    << "extern const kiln_kernel_entry " << sym << "_kernels[];\n"
    << "extern const int64_t " << sym << "_kernels_count;\n\n"
    << "struct " << s << "_context {\n  kiln_session* session;\n};\n\n"
    << "const void* " << s << "_plan_data(void) { return " << sym << "_plan; }\n"
    << "size_t " << s << "_plan_size(void) { return (size_t)" << sym << "_plan_size; }\n\n"
    << s << "_context* " << s << "_create(int num_threads) {\n"
    << "  kiln_plan* plan = NULL;\n  kiln_session_options options;\n  " << s << "_context* ctx;\n"
    << "  if (kiln_plan_load_memory(" << sym << "_plan, (size_t)" << sym
    << "_plan_size, &plan) != KILN_OK) return NULL;\n"
    << "  kiln_session_options_init(&options);\n"
    << "  options.num_threads = num_threads > 0 ? num_threads : " << sym << "_num_threads;\n"
    << "  options.kernels = " << sym << "_kernels;\n"
    << "  options.num_kernels = (size_t)" << sym << "_kernels_count;\n"
    << "  ctx = (" << s << "_context*)malloc(sizeof(*ctx));\n"
    << "  if (!ctx || kiln_session_create(plan, &options, &ctx->session) != KILN_OK) {\n"
    << "    free(ctx);\n    ctx = NULL;\n  }\n"
    << "  kiln_plan_free(plan);\n  return ctx;\n}\n\n"
    << "void " << s << "_destroy(" << s << "_context* ctx) {\n"
    << "  if (!ctx) return;\n  kiln_session_free(ctx->session);\n  free(ctx);\n}\n\n"
    << "kiln_session* " << s << "_session(" << s << "_context* ctx) { return ctx ? ctx->session : NULL; }\n\n"
    << "int " << s << "_run_ctx(" << s << "_context* ctx" << (params == "void" ? "" : ", " + params) << ") {\n"
    << "  int status;\n  const void* data;\n  size_t size;\n"
    << "  if (!ctx) return KILN_ERROR_INVALID_ARGUMENT;\n";
  for (size_t i = 0; i < inputs.size(); ++i) {
    c << "  status = kiln_session_set_input(ctx->session, " << i << ", " << inputs[i].name << ", " << inputs[i].bytes
      << ");\n  if (status != KILN_OK) return status;\n";
  }
  c << "  status = kiln_session_run(ctx->session);\n  if (status != KILN_OK) return status;\n";
  for (size_t i = 0; i < outputs.size(); ++i) {
    c << "  status = kiln_session_output(ctx->session, " << i << ", &data, &size);\n"
      << "  if (status != KILN_OK) return status;\n"
      << "  memcpy(" << outputs[i].name << ", data, size);\n";
  }
  std::string args;
  for (const Param& p : inputs) args += ", " + p.name;
  for (const Param& p : outputs) args += ", " + p.name;
  c << "  (void)data;\n  (void)size;\n  return KILN_OK;\n}\n\n"
    << "int " << s << "_run(" << params << ") {\n"
    << "  int status;\n  " << s << "_context* ctx = " << s << "_create(0);\n"
    << "  if (!ctx) return KILN_ERROR_INTERNAL;\n"
    << "  status = " << s << "_run_ctx(ctx" << args << ");\n"
    << "  " << s << "_destroy(ctx);\n  return status;\n}\n";
  LibSources sources;
  sources.header = h.str();
  sources.source = "#include <stdlib.h>\n" + c.str();
  return sources;
}

}  // namespace kiln::aot
