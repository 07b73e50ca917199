// runtime/data loaders and data specs: IDX (raw and gzip), CSV, NPY, the real
// Fashion-MNIST files, and every bad-input error.
#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

#include "ir/core/npy.h"
#include "runtime/data/dataset.h"
#include "tests/test_util.h"

namespace kiln::data {
namespace {

// EXPECT_HAS(text, needle) without gmock.
::testing::AssertionResult Contains(const std::string& text, const std::string& needle) {
  if (text.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << text << "' does not contain '" << needle << "'";
}
#define EXPECT_HAS(text, needle) EXPECT_TRUE(Contains(text, needle))

std::string WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

std::string Gzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// An IDX file: magic 0x000008NN, big-endian dims, then the bytes.
std::string Idx(const std::vector<uint32_t>& dims, const std::string& data, int type = 0x08) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int s = 24; s >= 0; s -= 8) out += static_cast<char>((d >> s) & 0xff);
  }
  return out + data;
}

std::string Bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s += static_cast<char>(v);
  return s;
}

std::string Message(const Status& s) { return s.message(); }

// Three 2x3 images with pixel (i, r, c) = 40 * i + 3 * r + c, and labels 0, 2, 1.
struct TinyIdx {
  std::string images, labels;
};
TinyIdx WriteTinyIdx(const std::string& dir, bool gzip) {
  std::string pixels;
  for (int i = 0; i < 3; ++i) {
    for (int p = 0; p < 6; ++p) pixels += static_cast<char>(40 * i + p + (i == 2 && p == 5 ? 170 : 0));
  }
  std::string images = Idx({3, 2, 3}, pixels), labels = Idx({3}, Bytes({0, 2, 1}));
  const std::string suffix = gzip ? ".gz" : "";
  if (gzip) return {Gzip(dir + "/img" + suffix, images), Gzip(dir + "/lbl" + suffix, labels)};
  return {WriteBytes(dir + "/img", images), WriteBytes(dir + "/lbl", labels)};
}

TEST(DataIdx, LoadsRawAndGzipAlike) {
  const std::string dir = testing::MakeTempDir();
  for (bool gzip : {false, true}) {
    TinyIdx files = WriteTinyIdx(dir, gzip);
    auto ds = LoadIdx(files.images, files.labels);
    ASSERT_OK(ds.status());
    EXPECT_OK(ds->Validate());
    EXPECT_EQ(ds->size(), 3);
    EXPECT_EQ(ds->features.dims(), (Dims{3, 1, 2, 3}));
    EXPECT_EQ(ds->features.dtype(), proto::DT_FLOAT);
    const float* f = ds->features.data_as<float>();
    EXPECT_EQ(f[0], 0.0f);
    EXPECT_EQ(f[6 + 4], 44.0f);
    EXPECT_EQ(f[17], 255.0f);  // raw values, not scaled
    EXPECT_EQ(ds->labels.dtype(), proto::DT_INT64);
    EXPECT_EQ(ds->labels.ToInt64Vector(), (std::vector<int64_t>{0, 2, 1}));
    EXPECT_EQ(ds->num_classes, 10);
    EXPECT_EQ(ds->feature_row_elements(), 6);
    EXPECT_EQ(ds->label_row_elements(), 1);
  }
}

TEST(DataIdx, TwoDimensionalImagesAndManyClasses) {
  const std::string dir = testing::MakeTempDir();
  auto ds = LoadIdx(WriteBytes(dir + "/x", Idx({2, 2}, Bytes({1, 2, 3, 4}))),
                    WriteBytes(dir + "/y", Idx({2}, Bytes({3, 11}))));
  ASSERT_OK(ds.status());
  EXPECT_EQ(ds->features.dims(), (Dims{2, 2}));
  EXPECT_EQ(ds->num_classes, 12);
}

TEST(DataIdx, BadInputErrors) {
  const std::string dir = testing::MakeTempDir();
  TinyIdx good = WriteTinyIdx(dir, false);
  auto expect_error = [&](const std::string& images, const std::string& labels, const std::string& needle1,
                          const std::string& needle2) {
    auto ds = LoadIdx(images, labels);
    ASSERT_FALSE(ds.ok()) << needle1;
    EXPECT_HAS(Message(ds.status()), needle1);
    EXPECT_HAS(Message(ds.status()), needle2);
  };
  // Missing file.
  auto missing = LoadIdx(dir + "/nope", good.labels);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_HAS(Message(missing.status()), dir + "/nope: no such file");
  expect_error(dir, good.labels, dir, "directory");
  // Truncated data and header.
  std::string truncated = WriteBytes(dir + "/trunc", Idx({3, 2, 3}, std::string(17, 'x')));
  expect_error(truncated, good.labels, truncated, "truncated");
  expect_error(WriteBytes(dir + "/hdr", Idx({3, 2, 3}, "").substr(0, 9)), good.labels, "/hdr", "truncated IDX header");
  expect_error(WriteBytes(dir + "/tiny", "\0\0"), good.labels, "/tiny", "truncated");
  expect_error(WriteBytes(dir + "/long", Idx({3, 2, 3}, std::string(19, 'x'))), good.labels, "/long", "trailing");
  // Bad magic, unsupported element type, wrong ranks.
  expect_error(WriteBytes(dir + "/magic", "PK\3\4garbage-not-idx"), good.labels, "/magic", "bad magic 0x504b0304");
  expect_error(WriteBytes(dir + "/float", Idx({1}, std::string(4, '\0'), 0x0D)), good.labels, "/float",
               "element type 0x0d");
  expect_error(WriteBytes(dir + "/rank1", Idx({3}, "abc")), good.labels, "/rank1", "[N, rows, cols]");
  expect_error(good.images, good.images, good.images, "one-dimensional");
  // Images/labels count mismatch names both files.
  std::string two_labels = WriteBytes(dir + "/two", Idx({2}, Bytes({1, 1})));
  expect_error(good.images, two_labels, "has 3 images", "/two has 2 labels");
  // A header claiming 2^40 elements is an error, not an allocation; so is one claiming
  // more bytes than the file holds.
  expect_error(WriteBytes(dir + "/huge", Idx({1u << 20, 1u << 10, 1u << 10}, "xyz")), good.labels, "/huge",
               "[1048576, 1024, 1024]");
  expect_error(WriteBytes(dir + "/lying", Idx({1u << 24, 28, 28}, "xyz")), good.labels, "/lying", "truncated");
  expect_error(Gzip(dir + "/lying24.gz", Idx({1u << 24, 28, 28}, "xyz")), good.labels, "/lying24.gz",
               "but the file has 3 (truncated)");
  expect_error(Gzip(dir + "/long.gz", Idx({3, 2, 3}, std::string(19, 'x'))), good.labels, "/long.gz", "trailing");
  expect_error(Gzip(dir + "/lying.gz", Idx({0xffffffffu, 0xffffffffu, 0xffffffffu}, "")), good.labels, "/lying.gz",
               "IDX header declares");
  // Corrupt and truncated gzip.
  std::string gz = ReadAll(Gzip(dir + "/ok.gz", Idx({3, 2, 3}, std::string(18, 'a'))));
  std::string corrupt = gz;
  for (size_t i = 12; i < corrupt.size() - 8; ++i) corrupt[i] ^= 0x5a;
  expect_error(WriteBytes(dir + "/corrupt.gz", corrupt), good.labels, "/corrupt.gz", "gzip");
  expect_error(WriteBytes(dir + "/cut.gz", gz.substr(0, gz.size() / 2)), good.labels, "/cut.gz", "truncated");
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] ^= 1;
  expect_error(WriteBytes(dir + "/crc.gz", bad_crc), good.labels, "/crc.gz", "corrupt gzip");
}

TEST(DataFashionMnist, RealFiles) {
  // scripts/setup.sh installs the data set; the examples and the predict tests need it too.
  auto splits = LoadDataSpec("fashion-mnist");
  ASSERT_OK(splits.status());
  const Dataset& train = splits->train;
  ASSERT_TRUE(splits->test.has_value());
  const Dataset& test = *splits->test;
  EXPECT_EQ(train.features.dims(), (Dims{60000, 1, 28, 28}));
  EXPECT_EQ(test.features.dims(), (Dims{10000, 1, 28, 28}));
  EXPECT_EQ(train.num_classes, 10);
  EXPECT_EQ(test.num_classes, 10);
  EXPECT_OK(CheckLabels(train, 10));
  EXPECT_OK(CheckLabels(test, 10));
  // Fashion-MNIST is balanced: 6000 / 1000 samples of every class.
  for (const auto& [ds, per_class] : {std::make_pair(&train, 6000), std::make_pair(&test, 1000)}) {
    std::vector<int> counts(10);
    for (int64_t l : ds->labels.ToInt64Vector()) counts[l]++;
    EXPECT_EQ(counts, std::vector<int>(10, per_class));
  }
  float lo = 255, hi = 0;
  for (int64_t i = 0; i < train.features.num_elements(); ++i) {
    lo = std::min(lo, train.features.data_as<float>()[i]);
    hi = std::max(hi, train.features.data_as<float>()[i]);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 255.0f);
  EXPECT_HAS(train.source, "fashion-mnist train");
  // The explicit directory form reads the same files.
  auto again = LoadDataSpec(std::string("fashion-mnist:") + kDefaultFashionMnistDir + "/");
  ASSERT_OK(again.status());
  EXPECT_EQ(again->train.labels.ToInt64Vector(), train.labels.ToInt64Vector());
}

TEST(DataCsv, HeaderAndStringLabelsInOrderOfFirstAppearance) {
  const std::string dir = testing::MakeTempDir();
  std::string path = WriteBytes(dir + "/a.csv",
                                "x,y,kind\r\n"
                                "1.5,2,cat\r\n"
                                " -3e1 , +4 ,dog\r\n"
                                "\n"
                                "0.25,\"5\",cat\n"
                                "7,8,bird\n");
  std::vector<std::string> names;
  auto ds = LoadCsv(path, {}, &names);
  ASSERT_OK(ds.status());
  EXPECT_OK(ds->Validate());
  EXPECT_EQ(ds->features.dims(), (Dims{4, 2}));
  const float* f = ds->features.data_as<float>();
  EXPECT_EQ(std::vector<float>(f, f + 8), (std::vector<float>{1.5f, 2, -30, 4, 0.25f, 5, 7, 8}));
  EXPECT_EQ(ds->labels.ToInt64Vector(), (std::vector<int64_t>{0, 1, 0, 2}));
  EXPECT_EQ(ds->num_classes, 3);
  EXPECT_EQ(names, (std::vector<std::string>{"cat", "dog", "bird"}));
  EXPECT_EQ(ds->source, path);
}

TEST(DataCsv, NumericLabelsLabelColumnAndTargets) {
  const std::string dir = testing::MakeTempDir();
  // No header, integer labels in column 0 -> classes 0..max.
  CsvOptions first;
  first.label_column = 0;
  auto ds = LoadCsv(WriteBytes(dir + "/n.csv", "2,0.5,1\n0,1.5,2\n4,2.5,3\n"), first);
  ASSERT_OK(ds.status());
  EXPECT_EQ(ds->features.dims(), (Dims{3, 2}));
  EXPECT_EQ(ds->features.data_as<float>()[2], 1.5f);
  EXPECT_EQ(ds->labels.ToInt64Vector(), (std::vector<int64_t>{2, 0, 4}));
  EXPECT_EQ(ds->num_classes, 5);
  // Fractional (or negative) labels are regression targets [N, 1].
  auto reg = LoadCsv(WriteBytes(dir + "/r.csv", "a,b,t\n1,2,0.5\n3,4,-2\n"));
  ASSERT_OK(reg.status());
  EXPECT_EQ(reg->labels.dtype(), proto::DT_FLOAT);
  EXPECT_EQ(reg->labels.dims(), (Dims{2, 1}));
  EXPECT_EQ(reg->labels.data_as<float>()[1], -2.0f);
  EXPECT_EQ(reg->num_classes, 0);
  // regression forces targets even for integral labels.
  CsvOptions r;
  r.regression = true;
  auto forced = LoadCsv(WriteBytes(dir + "/i.csv", "1,2,3\n4,5,6\n"), r);
  ASSERT_OK(forced.status());
  EXPECT_EQ(forced->labels.dims(), (Dims{2, 1}));
  EXPECT_EQ(forced->labels.data_as<float>()[1], 6.0f);
  EXPECT_FALSE(LoadCsv(WriteBytes(dir + "/s.csv", "1,2,a\n"), r).ok());
  // A forced header skips a numeric first row.
  CsvOptions h;
  h.header = CsvOptions::Header::kPresent;
  auto skipped = LoadCsv(WriteBytes(dir + "/h.csv", "1,2,3\n4,5,6\n"), h);
  ASSERT_OK(skipped.status());
  EXPECT_EQ(skipped->size(), 1);
}

TEST(DataCsv, Iris) {
  std::vector<std::string> names;
  auto ds = LoadCsv(testing::SourcePath("examples/data/iris.csv"), {}, &names);
  ASSERT_OK(ds.status());
  EXPECT_EQ(ds->features.dims(), (Dims{150, 4}));
  EXPECT_EQ(names, (std::vector<std::string>{"setosa", "versicolor", "virginica"}));
  std::vector<int> counts(3);
  for (int64_t l : ds->labels.ToInt64Vector()) counts[l]++;
  EXPECT_EQ(counts, (std::vector<int>{50, 50, 50}));
  Standardizer s;
  ASSERT_OK(s.Fit(*ds));
  const std::vector<float> means = {5.843f, 3.057f, 3.758f, 1.199f};
  for (int j = 0; j < 4; ++j) EXPECT_NEAR(s.mean()[j], means[j], 0.0005) << j;
}

TEST(DataCsv, BadRowsAndFiles) {
  const std::string dir = testing::MakeTempDir();
  auto error = [&](const std::string& leaf, const std::string& text, CsvOptions options = {}) {
    auto ds = LoadCsv(WriteBytes(dir + "/" + leaf, text), options);
    EXPECT_FALSE(ds.ok()) << leaf;
    return Message(ds.status());
  };
  EXPECT_HAS(error("nn.csv", "a,b,c\n1,2,x\n3,abc,y\n"), "/nn.csv:3:2: feature 'abc' is not a number");
  EXPECT_HAS(error("empty_field.csv", "1,2,x\n1,,x\n"),
             "/empty_field.csv:2:2: feature '' is not a number (empty field)");
  EXPECT_HAS(error("cols.csv", "1,2,x\n3,4,y\n\n5,6\n"), "/cols.csv:4: expected 3 fields (as on line 1) but found 2");
  EXPECT_HAS(error("inf.csv", "1,2,x\n1,inf,x\n"), "/inf.csv:2:2: feature 'inf' is not a number");
  EXPECT_HAS(error("empty.csv", ""), "/empty.csv: no data rows");
  EXPECT_HAS(error("header_only.csv", "a,b,label\n"), "no data rows");
  EXPECT_HAS(error("one_col.csv", "1\n2\n"), "at least two columns");
  EXPECT_HAS(error("nolabel.csv", "1,2,\n"), "/nolabel.csv:1:3: empty label");
  CsvOptions bad_col;
  bad_col.label_column = 3;
  EXPECT_HAS(error("col.csv", "1,2,3\n", bad_col), "label column 3 is out of range for 3 columns");
  CsvOptions absent;
  absent.header = CsvOptions::Header::kAbsent;
  EXPECT_HAS(error("hdr.csv", "a,b,c\n1,2,3\n", absent), "/hdr.csv:1:1: feature 'a'");
  auto missing = LoadCsv(dir + "/missing.csv");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_HAS(Message(missing.status()), "/missing.csv: no such file");
  // gzip-compressed CSV reads like the raw file.
  auto gz = LoadCsv(Gzip(dir + "/z.csv.gz", "1,2,a\n3,4,b\n"));
  ASSERT_OK(gz.status());
  EXPECT_EQ(gz->size(), 2);
}

std::string WriteNpy(const std::string& path, const Tensor& t) {
  auto bytes = EncodeNpy(t);
  EXPECT_TRUE(bytes.ok());
  return WriteBytes(path, *bytes);
}

TEST(DataNpy, FeatureAndLabelTypes) {
  const std::string dir = testing::MakeTempDir();
  std::string x32 = WriteNpy(dir + "/x32.npy", Tensor::FromVector<float>(proto::DT_FLOAT, {2, 2}, {1, 2, 3, 4}));
  std::string y64 = WriteNpy(dir + "/y64.npy", Tensor::FromVector<int64_t>(proto::DT_INT64, {2}, {1, 4}));
  auto ds = LoadNpy(x32, y64);
  ASSERT_OK(ds.status());
  EXPECT_OK(ds->Validate());
  EXPECT_EQ(ds->features.dims(), (Dims{2, 2}));
  EXPECT_EQ(ds->features.data_as<float>()[3], 4.0f);
  EXPECT_EQ(ds->labels.ToInt64Vector(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(ds->num_classes, 5);

  std::string x64 = WriteNpy(dir + "/x64.npy", Tensor::FromVector<double>(proto::DT_DOUBLE, {2, 1, 2}, {.5, 1, 2, 3}));
  std::string y32 = WriteNpy(dir + "/y32.npy", Tensor::FromVector<int32_t>(proto::DT_INT32, {2, 1}, {0, 2}));
  ds = LoadNpy(x64, y32);
  ASSERT_OK(ds.status());
  EXPECT_EQ(ds->features.dims(), (Dims{2, 1, 2}));
  EXPECT_EQ(ds->features.data_as<float>()[0], 0.5f);
  EXPECT_EQ(ds->labels.dims(), (Dims{2}));
  EXPECT_EQ(ds->num_classes, 3);

  std::string x8 = WriteNpy(dir + "/x8.npy", Tensor::FromVector<uint8_t>(proto::DT_UINT8, {2}, {7, 255}));
  std::string yf = WriteNpy(dir + "/yf.npy", Tensor::FromVector<float>(proto::DT_FLOAT, {2, 2}, {0, 1, 1, 0}));
  ds = LoadNpy(x8, yf);
  ASSERT_OK(ds.status());
  EXPECT_EQ(ds->features.dims(), (Dims{2, 1}));
  EXPECT_EQ(ds->features.data_as<float>()[1], 255.0f);
  EXPECT_EQ(ds->labels.dtype(), proto::DT_FLOAT);
  EXPECT_EQ(ds->labels.dims(), (Dims{2, 2}));
  EXPECT_EQ(ds->num_classes, 0);
  std::string yd = WriteNpy(dir + "/yd.npy", Tensor::FromVector<double>(proto::DT_DOUBLE, {2}, {0.25, -1}));
  ds = LoadNpy(x8, yd);
  ASSERT_OK(ds.status());
  EXPECT_EQ(ds->labels.dims(), (Dims{2, 1}));
  EXPECT_EQ(ds->labels.data_as<float>()[1], -1.0f);
}

TEST(DataNpy, Errors) {
  const std::string dir = testing::MakeTempDir();
  std::string x = WriteNpy(dir + "/x.npy", Tensor::FromVector<float>(proto::DT_FLOAT, {2, 2}, {1, 2, 3, 4}));
  std::string y = WriteNpy(dir + "/y.npy", Tensor::FromVector<int64_t>(proto::DT_INT64, {2}, {0, 1}));
  auto error = [&](const std::string& xp, const std::string& yp) {
    auto ds = LoadNpy(xp, yp);
    EXPECT_FALSE(ds.ok());
    return Message(ds.status());
  };
  std::string y3 = WriteNpy(dir + "/y3.npy", Tensor::FromVector<int64_t>(proto::DT_INT64, {3}, {0, 1, 1}));
  EXPECT_HAS(error(x, y3), "has 2 samples but " + y3 + " has 3 labels");
  std::string yb = WriteNpy(dir + "/yb.npy", Tensor::FromVector<uint8_t>(proto::DT_BOOL, {2}, {0, 1}));
  EXPECT_HAS(error(x, yb), "yb.npy: labels of type bool");
  std::string y2 = WriteNpy(dir + "/y2.npy", Tensor::FromVector<int64_t>(proto::DT_INT64, {2, 2}, {0, 1, 1, 0}));
  EXPECT_HAS(error(x, y2), "y2.npy: labels must be [N] (or [N, 1])");
  std::string yneg = WriteNpy(dir + "/yn.npy", Tensor::FromVector<int64_t>(proto::DT_INT64, {2}, {0, -3}));
  EXPECT_HAS(error(x, yneg), "label -3 of sample 1 is negative");
  std::string xs = WriteNpy(dir + "/xs.npy", Tensor::FromVector<float>(proto::DT_FLOAT, {}, {1}));
  EXPECT_HAS(error(xs, y), "not a scalar");
  EXPECT_HAS(error(dir + "/none.npy", y), "/none.npy: no such file");
  std::string bytes = ReadAll(x);
  EXPECT_HAS(error(WriteBytes(dir + "/t.npy", bytes.substr(0, bytes.size() - 3)), y), "(truncated)");
  EXPECT_HAS(error(WriteBytes(dir + "/m.npy", "NOTNUMPY-----"), y), "/m.npy: not a .npy file");
  // A header claiming 2^40 elements is rejected before any allocation.
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }\n";
  std::string huge = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(header.size()) + '\0' + header + "abcd";
  EXPECT_HAS(error(WriteBytes(dir + "/huge.npy", huge), y), "/huge.npy");
  // gzip-compressed .npy works too.
  auto gz = LoadNpy(Gzip(dir + "/x.npy.gz", bytes), y);
  EXPECT_OK(gz.status());
}

TEST(DataSpec, IdxCsvNpyAndPaths) {
  const std::string dir = testing::MakeTempDir();
  TinyIdx raw = WriteTinyIdx(dir, false);
  auto idx = LoadDataSpec("idx:" + raw.images + "," + raw.labels + ";test=" + raw.images + "," + raw.labels);
  ASSERT_OK(idx.status());
  EXPECT_EQ(idx->train.size(), 3);
  ASSERT_TRUE(idx->test.has_value());
  EXPECT_EQ(idx->test->size(), 3);
  auto no_test = LoadDataSpec("idx:" + raw.images + "," + raw.labels);
  ASSERT_OK(no_test.status());
  EXPECT_FALSE(no_test->test.has_value());

  std::string train_csv = WriteBytes(dir + "/train.csv", "k,a,b\nred,1,2\nblue,3,4\n");
  std::string test_csv = WriteBytes(dir + "/test.csv", "k,a,b\nblue,5,6\nred,7,8\nblue,9,9\n");
  auto csv = LoadDataSpec("csv:" + train_csv + ",label=0;test=" + test_csv);
  ASSERT_OK(csv.status());
  EXPECT_EQ(csv->train.features.dims(), (Dims{2, 2}));
  EXPECT_EQ(csv->train.labels.ToInt64Vector(), (std::vector<int64_t>{0, 1}));
  // The test file's classes follow the training file's numbering (red = 0, blue = 1).
  EXPECT_EQ(csv->test->labels.ToInt64Vector(), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(csv->test->num_classes, 2);
  std::string green = WriteBytes(dir + "/green.csv", "green,1,1\n");
  EXPECT_HAS(Message(LoadDataSpec("csv:" + train_csv + ",label=0;test=" + green).status()),
             "class 'green' does not occur in the training data");
  auto bare = LoadDataSpec(testing::SourcePath("examples/data/iris.csv"));
  ASSERT_OK(bare.status());
  EXPECT_EQ(bare->train.size(), 150);
  EXPECT_EQ(bare->train.num_classes, 3);

  auto x = EncodeNpy(Tensor::FromVector<float>(proto::DT_FLOAT, {2, 3}, {1, 2, 3, 4, 5, 6}));
  auto y = EncodeNpy(Tensor::FromVector<int64_t>(proto::DT_INT64, {2}, {1, 0}));
  std::string xp = WriteBytes(dir + "/x.npy", *x), yp = WriteBytes(dir + "/y.npy", *y);
  auto npy = LoadDataSpec("npy:" + xp + "," + yp + ";test=" + xp + "," + yp);
  ASSERT_OK(npy.status());
  EXPECT_EQ(npy->train.features.dims(), (Dims{2, 3}));
  EXPECT_EQ(npy->test->num_classes, 2);
}

TEST(DataSpec, MnistDirectoryNaming) {
  const std::string dir = testing::MakeTempDir();
  std::string pixels(2 * 4, '\7');
  WriteBytes(dir + "/train-images-idx3-ubyte", Idx({2, 2, 2}, pixels));
  Gzip(dir + "/train-labels-idx1-ubyte.gz", Idx({2}, Bytes({1, 9})));
  auto only_train = LoadDataSpec("mnist:" + dir);
  ASSERT_OK(only_train.status());
  EXPECT_EQ(only_train->train.features.dims(), (Dims{2, 1, 2, 2}));
  EXPECT_FALSE(only_train->test.has_value());
  EXPECT_EQ(only_train->train.source, "mnist train (" + dir + ")");
  // A test set with only one of its two files is an error naming the missing one.
  WriteBytes(dir + "/t10k-images.idx3-ubyte", Idx({1, 2, 2}, std::string(4, '\1')));
  EXPECT_HAS(Message(LoadDataSpec("mnist:" + dir).status()), dir + ": no t10k-labels-idx1-ubyte[.gz]");
  WriteBytes(dir + "/t10k-labels-idx1-ubyte", Idx({1}, Bytes({4})));
  auto both = LoadDataSpec("fashion-mnist:" + dir);
  ASSERT_OK(both.status());
  ASSERT_TRUE(both->test.has_value());
  EXPECT_EQ(both->test->size(), 1);
  EXPECT_EQ(both->test->labels.ToInt64Vector(), (std::vector<int64_t>{4}));
}

TEST(DataSpec, Errors) {
  const std::string dir = testing::MakeTempDir();
  auto message = [](const std::string& spec) {
    auto s = LoadDataSpec(spec);
    EXPECT_FALSE(s.ok()) << spec;
    return Message(s.status());
  };
  EXPECT_HAS(message("imagenet:/data"), "scheme 'imagenet' is not valid");
  EXPECT_HAS(message("imagenet:/data"), "fashion-mnist[:DIR], mnist[:DIR], idx:");
  EXPECT_HAS(message("foo"), "unknown data spec 'foo'");
  EXPECT_HAS(message(""), "empty data spec");
  EXPECT_HAS(message("idx:"), "nothing after 'idx:'");
  EXPECT_HAS(message("idx:a"), "expected IMAGES,LABELS, got 'a'");
  EXPECT_HAS(message("npy:a,b,c"), "expected X,Y");
  EXPECT_HAS(message("idx:a,b;train=c,d"), "unexpected 'train=c,d'");
  EXPECT_HAS(message("csv:x.csv,labels=2"), "unknown csv option 'labels=2'");
  EXPECT_HAS(message("csv:x.csv,label=two"), "label= needs a column number");
  EXPECT_HAS(message("csv:" + dir + "/missing.csv"), dir + "/missing.csv: no such file");
  EXPECT_HAS(message("mnist:" + dir + "/nowhere"), dir + "/nowhere: no such directory");
  EXPECT_HAS(message("mnist:" + dir), dir + ": no train-images-idx3-ubyte[.gz]");
  EXPECT_HAS(DataSpecHelp(), "csv:PATH[,label=COL]");
}

}  // namespace
}  // namespace kiln::data
