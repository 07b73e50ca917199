// The one atomic writer (ir/core/file_io.h): unique exclusive temporaries that never follow
// a planted symlink, no temporary left behind on errors or signals, stale temporaries of
// dead processes removed, non-regular targets refused unless forced, and the checks the
// commands run before any long work (distinct paths, writable directories, model formats).
#include "ir/core/file_io.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/test_util.h"

namespace kiln {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void Spit(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  while (const dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool HasTemporary(const std::string& dir) {
  for (const std::string& n : Entries(dir)) {
    if (n.find(".tmp.") != std::string::npos) return true;
  }
  return false;
}

// A pid that no longer exists: a child that has exited and been reaped.
pid_t DeadPid() {
  const pid_t child = fork();
  if (child == 0) _exit(0);
  waitpid(child, nullptr, 0);
  return child;
}

TEST(FileIoTest, WritesAndReplacesWithoutLeavingTemporaries) {
  const std::string dir = testing::MakeTempDir(), path = dir + "/out.txt";
  ASSERT_OK(WriteFileAtomically(path, "first"));
  ASSERT_OK(WriteFileAtomically(path, "second"));
  EXPECT_EQ(Slurp(path), "second");
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"out.txt"});
}

TEST(FileIoTest, ExecutableModeIsApplied) {
  const std::string dir = testing::MakeTempDir(), path = dir + "/prog";
  ASSERT_OK(WriteFileAtomically(path, "#!/bin/sh\n", WriteOptions{false, 0777}));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
}

// The old predictable temporary name PATH.tmp.<pid>, planted as a symlink to another
// file, must neither be followed nor replaced.
TEST(FileIoTest, PlantedSymlinkAtPredictableTemporaryIsNotFollowed) {
  const std::string dir = testing::MakeTempDir(), path = dir + "/dump.txt", victim = dir + "/victim";
  Spit(victim, "precious");
  const std::string planted = path + ".tmp." + std::to_string(getpid());
  ASSERT_EQ(symlink(victim.c_str(), planted.c_str()), 0);
  ASSERT_OK(WriteFileAtomically(path, "dump"));
  EXPECT_EQ(Slurp(victim), "precious");
  EXPECT_EQ(Slurp(path), "dump");
  struct stat st;
  ASSERT_EQ(lstat(planted.c_str(), &st), 0);  // our own pid: left alone, and not written through
  EXPECT_TRUE(S_ISLNK(st.st_mode));
}

// A symlink at the output itself is replaced by the new file, never written through.
TEST(FileIoTest, OutputSymlinkIsReplacedNotFollowed) {
  const std::string dir = testing::MakeTempDir(), path = dir + "/out", victim = dir + "/victim";
  Spit(victim, "precious");
  ASSERT_EQ(symlink(victim.c_str(), path.c_str()), 0);
  ASSERT_OK(WriteFileAtomically(path, "new"));
  EXPECT_EQ(Slurp(victim), "precious");
  struct stat st;
  ASSERT_EQ(lstat(path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(Slurp(path), "new");
}

TEST(FileIoTest, NonRegularTargetsAreRefusedUnlessForced) {
  const std::string dir = testing::MakeTempDir(), fifo = dir + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  Status st = WriteFileAtomically(fifo, "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("FIFO"), std::string::npos) << st.message();
  EXPECT_FALSE(CheckOutputPath(fifo).ok());
  st = WriteFileAtomically("/dev/null", "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("character device"), std::string::npos) << st.message();
  EXPECT_OK(WriteFileAtomically("/dev/null", "x", WriteOptions{true}));
  EXPECT_OK(CheckOutputPath("/dev/null", true));
  // A directory is never a file, forced or not.
  EXPECT_FALSE(WriteFileAtomically(dir, "x", WriteOptions{true}).ok());
  EXPECT_FALSE(HasTemporary(dir));
}

TEST(FileIoTest, ErrorsLeaveNoTemporary) {
  const std::string dir = testing::MakeTempDir();
  mkdir((dir + "/sub").c_str(), 0755);
  EXPECT_FALSE(WriteFileAtomically(dir + "/sub", "x").ok());  // a directory
  EXPECT_FALSE(WriteFileAtomically(dir + "/missing/x", "x").ok());
  EXPECT_FALSE(HasTemporary(dir));
  EXPECT_EQ(Entries(dir), std::vector<std::string>{"sub"});
}

TEST(FileIoTest, StaleTemporariesOfDeadProcessesAreRemoved) {
  const std::string dir = testing::MakeTempDir(), path = dir + "/model.kiln";
  const std::string dead = std::to_string(DeadPid());
  const std::string live = std::to_string(getppid());
  for (const std::string& n :
       {"model.kiln.tmp." + dead + ".Ab12Cd34", "model.kiln.tmp." + dead, "model.kiln.tmp." + live + ".Zz99Yy88",
        "other.kiln.tmp." + dead + ".x", std::string("model.kiln.tmp.notapid")}) {
    Spit(dir + "/" + n, "partial");
  }
  ASSERT_OK(WriteFileAtomically(path, "model"));
  EXPECT_EQ(Entries(dir), (std::vector<std::string>{"model.kiln", "model.kiln.tmp." + live + ".Zz99Yy88",
                                                    "model.kiln.tmp.notapid", "other.kiln.tmp." + dead + ".x"}));
  // The pre-flight check cleans up too (a `kill -9` during the last write).
  Spit(dir + "/model.kiln.tmp." + dead + ".Qq", "partial");
  ASSERT_OK(CheckOutputPath(path));
  EXPECT_EQ(RemoveStaleTemporaries(path), 0);
}

// SIGTERM in the middle of large writes: the process dies of the signal, and neither a
// temporary nor a partial output remains.
TEST(FileIoTest, SignalRemovesTheTemporary) {
  const std::string dir = testing::MakeTempDir(), path = dir + "/big.bin";
  const std::string big(64 << 20, 'k');
  const pid_t child = fork();
  if (child == 0) {
    for (;;) (void)WriteFileAtomically(path, big);
  }
  // Wait until the child is writing (a temporary exists), then stop it.
  bool writing = false;
  for (int i = 0; i < 2000 && !(writing = HasTemporary(dir)); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  kill(child, SIGTERM);
  EXPECT_TRUE(writing) << "the child never started a write";
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status));
  EXPECT_EQ(WTERMSIG(status), SIGTERM);
  EXPECT_FALSE(HasTemporary(dir));
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    EXPECT_EQ(st.st_size, static_cast<off_t>(big.size()));
  }
}

TEST(FileIoTest, DistinctPathsSeeThroughSpellingsAndLinks) {
  const std::string dir = testing::MakeTempDir(), model = dir + "/m.kiln";
  Spit(model, "model");
  mkdir((dir + "/sub").c_str(), 0755);
  ASSERT_EQ(symlink(model.c_str(), (dir + "/soft").c_str()), 0);
  ASSERT_EQ(link(model.c_str(), (dir + "/hard").c_str()), 0);
  for (const std::string& same : {model, dir + "/./m.kiln", dir + "/sub/../m.kiln", dir + "/soft", dir + "/hard"}) {
    Status st = CheckDistinctPaths({{"model", model}}, {{"-o", same}});
    ASSERT_FALSE(st.ok()) << same;
    EXPECT_NE(st.message().find("same file as the model"), std::string::npos) << st.message();
  }
  // Two outputs that do not exist yet, spelled differently.
  Status st = CheckDistinctPaths({}, {{"-o", dir + "/new.kiln"}, {"--export-onnx", dir + "/sub/../new.kiln"}});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("name the same file"), std::string::npos) << st.message();
  EXPECT_OK(CheckDistinctPaths({{"model", model}}, {{"-o", dir + "/a.kiln"}, {"--export-onnx", dir + "/a.onnx"}}));
}

TEST(FileIoTest, OutputPathChecks) {
  const std::string dir = testing::MakeTempDir();
  EXPECT_OK(CheckOutputPath(dir + "/new.kiln"));
  Status st = CheckOutputPath(dir + "/missing/new.kiln");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not exist"), std::string::npos);
  EXPECT_FALSE(CheckOutputPath(dir).ok());        // a directory
  EXPECT_FALSE(CheckOutputPath(dir + "/").ok());  // no file name
  EXPECT_FALSE(CheckOutputPath("").ok());
  Spit(dir + "/file", "x");
  EXPECT_FALSE(CheckOutputPath(dir + "/file/child").ok());  // parent is a file
}

TEST(FileIoTest, ModelFormatComesFromTheExtension) {
  EXPECT_EQ(*ModelFormatForOutput("m.kiln"), ModelFormat::kKilnBinary);
  EXPECT_EQ(*ModelFormatForOutput("dir/m.kiln.txt"), ModelFormat::kKilnText);
  EXPECT_EQ(*ModelFormatForOutput("m.onnx"), ModelFormat::kOnnx);
  for (const char* bad : {"m.bin", "m.txt", "m", "m.kiln.bak", "m.ONNX", ".kiln", "m.pbtxt"}) {
    auto f = ModelFormatForOutput(bad);
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_NE(f.status().message().find(".kiln.txt"), std::string::npos);
  }
}

}  // namespace
}  // namespace kiln
