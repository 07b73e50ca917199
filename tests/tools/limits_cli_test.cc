// Resource limits at the command line (ir/core/resource_limits.h): huge declared sizes,
// endless inputs and memory bombs are one-line errors naming the limit, never
// bad_alloc; --limit and KILN_MAX_* raise or lower them.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "tests/test_util.h"

namespace kiln {
namespace {

using testing::RunKilnInSourceTree;

void ExpectError(const std::string& args, int code, const std::string& needle) {
  const testing::KilnResult r = RunKilnInSourceTree(args);
  testing::ExpectOneLineError(r.code, r.output, code, "kiln: ", needle);
}

std::string WriteModel(const std::string& graph_body) {
  const std::string path = testing::MakeTempDir() + "/m.kiln.txt";
  std::ofstream(path) << "graph {\n  name: \"m\"\n" << graph_body << "}\n";
  return path;
}

const char kVectorInput[] = "  input { name: \"x\" dtype: DT_FLOAT dims { size: 1 } dims { size: 4 } }\n";
const char kImageInput[] =
    "  input { name: \"x\" dtype: DT_FLOAT dims { size: 1 } dims { size: 1 } dims { size: 8 } dims { size: 8 } }\n";

TEST(LimitsCli, HugeDenseUnits) {
  const std::string m = WriteModel(std::string(kVectorInput) + "  layer { name: \"d\" dense { units: 2000000000 } }\n");
  for (const char* cmd : {"dump", "run", "train", "compile"})
    ExpectError(std::string(cmd) + " " + m + (std::string(cmd) == "compile" ? " -o /tmp/never" : ""), 1,
                "max_tensor_bytes");
}

TEST(LimitsCli, HugeConvFilters) {
  const std::string m = WriteModel(std::string(kImageInput) +
                                   "  layer { name: \"c\" conv2d { filters: 1000000000 kernel_size: [3, 3] } }\n");
  ExpectError("dump " + m, 1, "max_tensor_bytes");
}

TEST(LimitsCli, HugeParameterDims) {
  const std::string m =
      WriteModel(std::string(kVectorInput) +
                 "  parameter { name: \"w\" dims: [4, 1000000000] }\n"
                 "  node { name: \"mm\" op_type: \"MatMul\" input: \"x\" input: \"w\" output: \"y\" }\n"
                 "  output { name: \"y\" }\n");
  ExpectError("dump " + m, 1, "parameter 'w': tensor float32[4, 1000000000] of 16000000000 bytes");
  // Raising the limit is how a user allows it; lowering applies to small models too.
  ExpectError("dump --limit max_tensor_bytes=1000 examples/iris_mlp.kiln.txt", 1, "max_tensor_bytes (1000 bytes)");
}

TEST(LimitsCli, ArenaAndMaterializedTensors) {
  // ConstantOfShape [2^30] -> ReduceSum: a few bytes of model, 4 GiB of tensor.
  const std::string m = WriteModel(
      "  input { name: \"x\" dtype: DT_FLOAT dims { size: 1 } }\n"
      "  initializer { name: \"shape\" dtype: DT_INT64 dims: [1] int64_data: [1073741824] }\n"
      "  node { name: \"c\" op_type: \"ConstantOfShape\" input: \"shape\" output: \"big\" }\n"
      "  node { name: \"s\" op_type: \"ReduceSum\" input: \"big\" output: \"sum\" }\n"
      "  node { name: \"a\" op_type: \"Add\" input: \"x\" input: \"sum\" output: \"y\" }\n"
      "  output { name: \"y\" }\n");
  const std::string out = testing::MakeTempDir() + "/p";
  ExpectError("compile " + m + " -o " + out + " --emit plan", 1, "max_");
  ExpectError("compile " + m + " -o " + out + " --emit plan --limit max_arena_bytes=64G", 1, "max_tensor_bytes");
  // An input too large for the arena.
  const std::string wide = WriteModel(
      "  input { name: \"x\" dtype: DT_FLOAT dims { size: 1 } dims { size: 100000000 } }\n"
      "  node { name: \"r\" op_type: \"Relu\" input: \"x\" output: \"y\" }\n  output { name: \"y\" }\n");
  ExpectError("compile " + wide + " -o " + out + " --emit plan --limit max_arena_bytes=100M", 1, "memory arena of");
}

TEST(LimitsCli, EndlessInputs) {
  ExpectError("run examples/iris_mlp.kiln.txt --input /dev/zero --limit max_file_bytes=4M", 1, "/dev/zero: input of ");
  ExpectError("train examples/iris_mlp.kiln.txt --data csv:/dev/zero --epochs 1 --limit max_file_bytes=4M", 1,
              "max_file_bytes");
  ExpectError("dump /dev/zero.kiln --limit max_file_bytes=4M", 1, "");  // no such file: still one line
}

TEST(LimitsCli, GzippedNpyBombIsRefusedByItsDecompressedSize) {
  // 64 MiB of zeros compress to ~64 KiB.
  const std::string dir = testing::MakeTempDir();
  const std::string path = dir + "/x.npy";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4194304, 4), }";
  header.append(118 - header.size(), ' ');
  header += '\n';
  std::string npy = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header;
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, npy.data(), static_cast<unsigned>(npy.size()));
  const std::string zeros(1 << 20, '\0');
  for (int i = 0; i < 64; ++i) gzwrite(f, zeros.data(), static_cast<unsigned>(zeros.size()));
  gzclose(f);
  ExpectError("train examples/iris_mlp.kiln.txt --data npy:" + path + "," + path +
                  " --epochs 1 --limit max_decompressed_bytes=16M",
              1, "max_decompressed_bytes");
}

TEST(LimitsCli, BadLimitFlagIsUsageError) {
  ExpectError("dump examples/iris_mlp.kiln.txt --limit", 2, "--limit needs NAME=VALUE");
  ExpectError("dump examples/iris_mlp.kiln.txt --limit max_foo=1", 2, "unknown limit 'max_foo'");
  ExpectError("dump examples/iris_mlp.kiln.txt --limit max_tensor_bytes=lots", 2, "not a byte count");
  const testing::KilnResult ok = RunKilnInSourceTree("--limit max_tensor_bytes=1G dump examples/iris_mlp.kiln.txt");
  EXPECT_EQ(ok.code, 0) << ok.output;
}

}  // namespace
}  // namespace kiln
