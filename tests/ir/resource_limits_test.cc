// The resource policy (ir/core/resource_limits.h): limit parsing, messages that name the
// limit and how to raise it, reads bounded while reading, tensor sizes before allocation.
#include "ir/core/resource_limits.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "tests/test_util.h"

namespace kiln {
namespace {

// Restores a limit's command-line override (-1: none) when a test ends.
class LimitsTest : public ::testing::Test {
 protected:
  void TearDown() override {
    int n = 0;
    const LimitInfo* table = LimitTable(&n);
    for (int i = 0; i < n; ++i) {
      SetLimit(table[i].limit, -1);
      unsetenv(table[i].env_var);
    }
  }
};

TEST_F(LimitsTest, DefaultsFitALaptop) {
  EXPECT_EQ(GetLimit(Limit::kFileBytes), int64_t{1} << 30);
  EXPECT_EQ(GetLimit(Limit::kDecompressedBytes), int64_t{512} << 20);
  EXPECT_EQ(GetLimit(Limit::kTensorBytes), int64_t{512} << 20);
  EXPECT_EQ(GetLimit(Limit::kArenaBytes), int64_t{2} << 30);
}

TEST_F(LimitsTest, SpecsWithSuffixes) {
  ASSERT_OK(SetLimitFromSpec("max_tensor_bytes=8G"));
  EXPECT_EQ(GetLimit(Limit::kTensorBytes), int64_t{8} << 30);
  ASSERT_OK(SetLimitFromSpec("max_file_bytes=4MiB"));
  EXPECT_EQ(GetLimit(Limit::kFileBytes), int64_t{4} << 20);
  ASSERT_OK(SetLimitFromSpec("max_arena_bytes=1000"));
  EXPECT_EQ(GetLimit(Limit::kArenaBytes), 1000);
  ASSERT_OK(SetLimitFromSpec("max_decompressed_bytes=2k"));
  EXPECT_EQ(GetLimit(Limit::kDecompressedBytes), 2048);
}

TEST_F(LimitsTest, BadSpecsAreErrorsThatListTheNames) {
  for (const char* spec : {"max_tensor_bytes", "nope=1", "max_tensor_bytes=", "max_tensor_bytes=-1",
                           "max_tensor_bytes=1X", "max_tensor_bytes=99999999999999999999", "max_file_bytes=9999999T"}) {
    const Status s = SetLimitFromSpec(spec);
    EXPECT_FALSE(s.ok()) << spec;
  }
  EXPECT_NE(SetLimitFromSpec("nope=1").message().find("max_arena_bytes"), std::string::npos);
  EXPECT_EQ(GetLimit(Limit::kTensorBytes), int64_t{512} << 20);  // unchanged
}

TEST_F(LimitsTest, EnvironmentVariableRaisesAndFlagWins) {
  setenv("KILN_MAX_TENSOR_BYTES", "3G", 1);
  EXPECT_EQ(GetLimit(Limit::kTensorBytes), int64_t{3} << 30);
  SetLimit(Limit::kTensorBytes, 5);
  EXPECT_EQ(GetLimit(Limit::kTensorBytes), 5);
}

TEST_F(LimitsTest, MessageNamesLimitValueAndHowToRaise) {
  SetLimit(Limit::kArenaBytes, 100);
  EXPECT_OK(CheckLimit(Limit::kArenaBytes, 100, "g", "arena"));
  const Status s = CheckLimit(Limit::kArenaBytes, 101, "graph 'g'", "memory arena");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(),
            "graph 'g': memory arena of 101 bytes exceeds limit max_arena_bytes (100 bytes); raise it with "
            "--limit max_arena_bytes=N or KILN_MAX_ARENA_BYTES=N");
}

TEST_F(LimitsTest, TensorSizesCheckedWithoutOverflow) {
  EXPECT_OK(CheckTensorSize(proto::DT_FLOAT, {4, 1000}, "p"));
  Status s = CheckTensorSize(proto::DT_FLOAT, {4, 1000000000}, "parameter 'w'");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("parameter 'w': tensor float32[4, 1000000000] of 16000000000 bytes exceeds limit "
                             "max_tensor_bytes"),
            std::string::npos)
      << s.message();
  s = CheckTensorSize(proto::DT_FLOAT, {int64_t{1} << 40, int64_t{1} << 40}, "x");  // product overflows int64
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("more than 2^34 elements"), std::string::npos) << s.message();
  EXPECT_FALSE(CheckTensorSize(proto::DT_FLOAT, {-1}, "x").ok());
  SetLimit(Limit::kTensorBytes, int64_t{64} << 30);
  EXPECT_OK(CheckTensorSize(proto::DT_FLOAT, {4, 1000000000}, "p"));  // raised: allowed (not allocated here)
}

TEST_F(LimitsTest, ReadsRegularFiles) {
  const std::string path = testing::MakeTempDir() + "/f.bin";
  std::ofstream(path, std::ios::binary) << std::string(5000, 'x');
  auto bytes = ReadFileBounded(path);
  ASSERT_TRUE(bytes.ok()) << bytes.status().message();
  EXPECT_EQ(bytes->size(), 5000u);
  SetLimit(Limit::kFileBytes, 4999);
  bytes = ReadFileBounded(path);  // refused from stat, before reading
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("max_file_bytes"), std::string::npos);
  EXPECT_FALSE(ReadFileBounded(path + ".missing").ok());
  EXPECT_FALSE(ReadFileBounded(testing::MakeTempDir()).ok());
}

TEST_F(LimitsTest, EndlessDeviceStopsAtTheLimit) {
  SetLimit(Limit::kFileBytes, int64_t{3} << 20);
  auto bytes = ReadFileBounded("/dev/zero");
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("/dev/zero: input of "), std::string::npos) << bytes.status().message();
  EXPECT_NE(bytes.status().message().find("max_file_bytes"), std::string::npos);
}

TEST_F(LimitsTest, EndlessFifoStopsAtTheLimit) {
  const std::string fifo = testing::MakeTempDir() + "/pipe";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  // A writer that never ends (killed by SIGPIPE when the reader closes).
  std::system(("(cat /dev/zero > " + fifo + " 2>/dev/null &)").c_str());
  SetLimit(Limit::kFileBytes, int64_t{2} << 20);
  auto bytes = ReadFileBounded(fifo);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("max_file_bytes"), std::string::npos);
}

}  // namespace
}  // namespace kiln
