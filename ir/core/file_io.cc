#include "ir/core/file_io.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>

namespace kiln {
namespace {

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string BaseOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string Errno() { return std::strerror(errno); }

// ---- Temporaries removed on SIGINT/SIGTERM/SIGHUP ---------------------------------
// A fixed table the handler can read without allocating or locking.
constexpr int kSlots = 32;
struct TempSlot {
  std::atomic<int> used{0};  // 0 free, 1 claimed (path being set), 2 live
  char path[PATH_MAX];
};
TempSlot g_temps[kSlots];
struct sigaction g_previous[3];
constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};

void OnSignal(int sig) {
  for (TempSlot& s : g_temps) {
    if (s.used.load() == 2) ::unlink(s.path);
  }
  for (int i = 0; i < 3; ++i) {
    if (kSignals[i] != sig) continue;
    sigaction(sig, &g_previous[i], nullptr);  // the previous disposition (usually: terminate)
    raise(sig);
  }
}

void InstallHandlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int i = 0; i < 3; ++i) {
      struct sigaction now {};
      if (sigaction(kSignals[i], nullptr, &now) != 0) continue;
      // Ignored signals stay ignored (nohup); an application's own handler stays too.
      if (now.sa_handler != SIG_DFL) continue;
      g_previous[i] = now;
      struct sigaction sa {};
      sa.sa_handler = OnSignal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = SA_RESETHAND;
      sigaction(kSignals[i], &sa, nullptr);
    }
  });
}

// Registers a temporary for removal on a signal; -1 when the table is full (the
// file is still removed on every error path, only not on a signal).
int RegisterTemp(const std::string& path) {
  if (path.size() >= PATH_MAX) return -1;
  for (int i = 0; i < kSlots; ++i) {
    int expected = 0;
    if (!g_temps[i].used.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(g_temps[i].path, path.c_str(), path.size() + 1);
    g_temps[i].used.store(2);
    return i;
  }
  return -1;
}

void ReleaseTemp(int slot) {
  if (slot >= 0) g_temps[slot].used.store(0);
}

// A temporary beside `path`, exclusively created (never through a planted symlink).
struct TempFile {
  std::string path;
  int fd = -1;
  int slot = -1;

  ~TempFile() { Discard(); }
  void Discard() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    if (!path.empty()) ::unlink(path.c_str());
    ReleaseTemp(slot);
    slot = -1;
    path.clear();
  }
  // The file is now the target: nothing to remove.
  void Keep() {
    ReleaseTemp(slot);
    slot = -1;
    path.clear();
  }
};

Status CreateTemp(const std::string& target, mode_t mode, TempFile* t) {
  InstallHandlers();
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  static std::mutex rng_mutex;
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string suffix(8, 'x');
    {
      std::lock_guard<std::mutex> lock(rng_mutex);
      for (char& c : suffix) c = kChars[rng() % (sizeof kChars - 1)];
    }
    const std::string name = target + ".tmp." + std::to_string(::getpid()) + "." + suffix;
    // Claim the slot first, so a signal between open and registration cannot leak the file.
    t->slot = RegisterTemp(name);
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd >= 0) {
      t->fd = fd;
      t->path = name;
      return Status::Ok();
    }
    const int err = errno;
    ReleaseTemp(t->slot);
    t->slot = -1;
    if (err != EEXIST) {
      return InvalidArgument(target, ": cannot write (", std::strerror(err), ")");
    }
  }
  return Internal(target, ": cannot create a unique temporary file");
}

Status WriteAll(int fd, const std::string& contents, const std::string& path) {
  size_t done = 0;
  while (done < contents.size()) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Internal(path, ": write failed (", n < 0 ? Errno() : "no progress", ")");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

void SyncDirectory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);  // best effort: some file systems refuse fsync on directories
  ::close(fd);
}

// Forced write into a device or FIFO: no temporary, no rename.
Status WriteInPlace(const std::string& path, const std::string& contents) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return InvalidArgument(path, ": cannot write (", Errno(), ")");
  Status st = WriteAll(fd, contents, path);
  ::close(fd);
  return st;
}

const char* KindOf(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

// What exists at `path` (following symlinks): an error for a directory, and for any
// other non-regular file unless forced. `*special` reports a forced non-regular target.
Status CheckTarget(const std::string& path, bool force, bool* special) {
  *special = false;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return Status::Ok();  // absent (or a dangling link: replaced)
  if (S_ISREG(st.st_mode)) return Status::Ok();
  if (S_ISDIR(st.st_mode)) return InvalidArgument(path, ": is a directory");
  if (!force) {
    return InvalidArgument(path, ": is ", KindOf(st.st_mode),
                           ", not a regular file; refusing to replace it (--force writes into it)");
  }
  *special = true;
  return Status::Ok();
}

bool ProcessGone(long pid) { return pid > 0 && ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH; }

}  // namespace

int RemoveStaleTemporaries(const std::string& path) {
  const std::string dir = DirOf(path), prefix = BaseOf(path) + ".tmp.";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    // PATH.tmp.<pid> (older Kiln) or PATH.tmp.<pid>.<random>.
    const std::string rest = name.substr(prefix.size());
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    if (end == rest.c_str() || (*end != '\0' && *end != '.')) continue;
    if (pid == ::getpid() || !ProcessGone(pid)) continue;
    const std::string full = dir + "/" + name;
    struct stat st;
    if (::lstat(full.c_str(), &st) != 0 || !(S_ISREG(st.st_mode) || S_ISLNK(st.st_mode))) continue;
    if (::unlink(full.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

Status CheckOutputPath(const std::string& path, bool force) {
  if (path.empty()) return InvalidArgument("empty output path");
  const std::string base = BaseOf(path);
  if (base.empty() || base == "." || base == "..") return InvalidArgument(path, ": not a file name");
  const std::string dir = DirOf(path);
  struct stat st;
  if (::stat(dir.c_str(), &st) != 0) return NotFound(path, ": directory ", dir, " does not exist");
  if (!S_ISDIR(st.st_mode)) return InvalidArgument(path, ": ", dir, " is not a directory");
  bool special = false;
  RETURN_IF_ERROR(CheckTarget(path, force, &special));
  if (special) {
    if (::access(path.c_str(), W_OK) != 0) return InvalidArgument(path, ": cannot write (", Errno(), ")");
    return Status::Ok();
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    return InvalidArgument(path, ": directory ", dir, " is not writable (", Errno(), ")");
  }
  RemoveStaleTemporaries(path);
  return Status::Ok();
}

std::string KilnCacheDir(const std::string& name, const char* dir_variable, const char* off_variable) {
  if (const char* off = std::getenv(off_variable); off != nullptr && std::string(off) == "0") return "";
  if (const char* dir = std::getenv(dir_variable); dir != nullptr && *dir) return dir;
  const char* home = std::getenv("HOME");
  return home != nullptr && *home ? std::string(home) + "/.cache/kiln/" + name : "";
}

void MakeDirectories(const std::string& dir) {
  for (size_t at = dir.find('/', 1);; at = dir.find('/', at + 1)) {
    ::mkdir(dir.substr(0, at).c_str(), 0755);  // each parent; EEXIST is fine
    if (at == std::string::npos) break;
  }
}

std::vector<std::string> CudaLibraryCandidates(const char* env_variable, const std::vector<std::string>& sonames,
                                               const std::vector<std::string>& wheel_globs) {
  std::vector<std::string> paths;
  if (const char* env = std::getenv(env_variable); env != nullptr && *env) paths.push_back(env);
  for (const std::string& name : sonames) paths.push_back(name);
  for (const std::string& name : sonames) paths.push_back("/usr/local/cuda/lib64/" + name);
  std::vector<std::string> sites = {"/usr/lib/python3*/site-packages", "/usr/lib/python3*/dist-packages",
                                    "/usr/local/lib/python3*/site-packages", "/usr/local/lib/python3*/dist-packages",
                                    "/opt/conda/lib/python3*/site-packages"};
  if (const char* venv = std::getenv("VIRTUAL_ENV")) sites.push_back(std::string(venv) + "/lib/python3*/site-packages");
  if (const char* home = std::getenv("HOME")) sites.push_back(std::string(home) + "/.local/lib/python3*/site-packages");
  for (const std::string& site : sites) {
    for (const std::string& sub : wheel_globs) {
      glob_t g;
      if (glob((site + "/" + sub).c_str(), 0, nullptr, &g) == 0) {
        for (size_t k = 0; k < g.gl_pathc; ++k) {
          const std::string p = g.gl_pathv[k];
          if (p.find("builtins") == std::string::npos && p.find(".alt.") == std::string::npos) paths.push_back(p);
        }
      }
      globfree(&g);
    }
  }
  return paths;
}

OpenedLibrary OpenCudaLibrary(const std::string& what, const char* env_variable,
                              const std::vector<std::string>& sonames, const std::vector<std::string>& wheel_globs) {
  OpenedLibrary lib;
  std::string tried;
  for (const std::string& path : CudaLibraryCandidates(env_variable, sonames, wheel_globs)) {
    lib.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (lib.handle != nullptr) {
      lib.path = path;
      return lib;
    }
    if (tried.empty()) {
      const char* why = dlerror();
      tried = why ? why : path;
    }
  }
  lib.error = "cuda: no " + what + " library found (" + tried + "; set " + env_variable + ")";
  return lib;
}

void* LibrarySymbol(void* handle, const char* name) { return dlsym(handle, name); }

Status WriteFileAtomically(const std::string& path, const std::string& contents, const WriteOptions& options) {
  bool special = false;
  RETURN_IF_ERROR(CheckTarget(path, options.force, &special));
  if (special) return WriteInPlace(path, contents);
  RemoveStaleTemporaries(path);
  TempFile tmp;
  RETURN_IF_ERROR(CreateTemp(path, options.mode, &tmp));
  RETURN_IF_ERROR(WriteAll(tmp.fd, contents, path));
  if (::fsync(tmp.fd) != 0) return Internal(path, ": cannot flush to disk (", Errno(), ")");
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) return Internal(path, ": write failed (", Errno(), ")");
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) {
    return Internal(path, ": cannot rename the temporary file into place (", Errno(), ")");
  }
  tmp.Keep();
  SyncDirectory(DirOf(path));
  return Status::Ok();
}

namespace {

struct Resolved {
  bool exists = false;
  dev_t dev = 0;
  ino_t ino = 0;
  std::string canonical;  // realpath of the directory + base name ("" when unresolvable)
};

Resolved Resolve(const std::string& path) {
  Resolved r;
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    r.exists = true;
    r.dev = st.st_dev;
    r.ino = st.st_ino;
  }
  char buf[PATH_MAX];
  if (::realpath(DirOf(path).c_str(), buf)) r.canonical = std::string(buf) + "/" + BaseOf(path);
  return r;
}

bool Same(const Resolved& a, const Resolved& b) {
  if (a.exists && b.exists) return a.dev == b.dev && a.ino == b.ino;
  return !a.canonical.empty() && a.canonical == b.canonical;
}

}  // namespace

Status CheckDistinctPaths(const NamedPaths& inputs, const NamedPaths& outputs) {
  std::vector<Resolved> in, out;
  for (const auto& p : inputs) in.push_back(Resolve(p.second));
  for (const auto& p : outputs) out.push_back(Resolve(p.second));
  for (size_t i = 0; i < outputs.size(); ++i) {
    for (size_t j = 0; j < inputs.size(); ++j) {
      if (Same(out[i], in[j])) {
        return InvalidArgument(outputs[i].second, ": ", outputs[i].first, " is the same file as the ", inputs[j].first,
                               " (", inputs[j].second, "); refusing to overwrite it");
      }
    }
    for (size_t j = 0; j < i; ++j) {
      if (Same(out[i], out[j])) {
        return InvalidArgument(outputs[i].second, ": ", outputs[i].first, " and ", outputs[j].first,
                               " name the same file");
      }
    }
  }
  return Status::Ok();
}

StatusOr<ModelFormat> ModelFormatForOutput(const std::string& path) {
  auto ends = [&](const std::string& suffix) {
    return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".kiln.txt")) return ModelFormat::kKilnText;
  if (ends(".kiln")) return ModelFormat::kKilnBinary;
  if (ends(".onnx")) return ModelFormat::kOnnx;
  return InvalidArgument(path, ": unknown model format; name the output .kiln (binary), .kiln.txt (text) or .onnx");
}

}  // namespace kiln
