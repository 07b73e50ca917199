// Data loaders under the resource policy: gzip bombs (IDX, NPY, CSV) are refused while
// decompressing, at max_decompressed_bytes, naming the limit.
#include <gtest/gtest.h>
#include <zlib.h>

#include <string>

#include "ir/core/resource_limits.h"
#include "runtime/data/dataset.h"
#include "tests/test_util.h"

namespace kiln::data {
namespace {

// `header` followed by `zeros` MiB of zero bytes, gzip-compressed (~1 KiB per MiB).
std::string WriteGzip(const std::string& name, const std::string& header, int zeros) {
  const std::string path = testing::MakeTempDir() + "/" + name;
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, header.data(), static_cast<unsigned>(header.size()));
  const std::string mib(1 << 20, '\0');
  for (int i = 0; i < zeros; ++i) gzwrite(f, mib.data(), static_cast<unsigned>(mib.size()));
  gzclose(f);
  return path;
}

class DataLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { SetLimit(Limit::kDecompressedBytes, int64_t{8} << 20); }
  void TearDown() override { SetLimit(Limit::kDecompressedBytes, -1); }
};

void ExpectLimit(const Status& s) {
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("max_decompressed_bytes"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find('\n'), std::string::npos);
}

TEST_F(DataLimitsTest, IdxBomb) {
  // Declares 64 x 1024 x 1024 bytes; really holds them, compressed to ~64 KiB.
  const std::string images = WriteGzip("x.gz", std::string("\0\0\x08\x03\0\0\0\x40\0\0\x04\0\0\0\x04\0", 16), 64);
  const std::string labels = WriteGzip("y.gz", std::string("\0\0\x08\x01\0\0\0\x40", 8), 0);
  ExpectLimit(LoadIdx(images, labels).status());
}

TEST_F(DataLimitsTest, NpyBomb) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4194304, 4), }";
  header.append(118 - header.size(), ' ');
  header += '\n';
  const std::string npy = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header;
  const std::string x = WriteGzip("x.npy", npy, 64);
  ExpectLimit(LoadNpy(x, x).status());
}

TEST_F(DataLimitsTest, CsvBomb) { ExpectLimit(LoadCsv(WriteGzip("d.csv", "a,b\n", 16)).status()); }

TEST_F(DataLimitsTest, SmallGzipFilesStillLoad) {
  const std::string csv = WriteGzip("ok.csv", "1,0\n2,1\n", 0);
  auto ds = LoadCsv(csv);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
}

}  // namespace
}  // namespace kiln::data
