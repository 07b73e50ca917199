// TensorBoard event files (runtime/training/summary_writer.h): TFRecord framing with
// CRC-32C, the records parse back as the events written; and the SVG training curves.
#include "runtime/training/summary_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "runtime/training/curves_svg.h"
#include "runtime/training/tensorboard.pb.h"

namespace kiln::runtime {
namespace {

namespace fs = std::filesystem;

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(Crc32c("123456789", 9), 0xE3069283u);  // the CRC-32C check value
  EXPECT_EQ(Crc32c("", 0), 0u);
  const std::string zeros(32, '\0');
  EXPECT_EQ(Crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);  // RFC 3720 B.4
}

uint32_t Masked(const char* data, size_t n) {
  const uint32_t c = Crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

// Every record of an event file, its checksums verified.
std::vector<tensorboard::Event> ReadEvents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<tensorboard::Event> events;
  size_t pos = 0;
  while (pos < bytes.size()) {
    EXPECT_GE(bytes.size() - pos, 16u);
    uint64_t len;
    uint32_t len_crc, data_crc;
    std::memcpy(&len, bytes.data() + pos, 8);
    std::memcpy(&len_crc, bytes.data() + pos + 8, 4);
    EXPECT_EQ(len_crc, Masked(bytes.data() + pos, 8));
    std::memcpy(&data_crc, bytes.data() + pos + 12 + len, 4);
    EXPECT_EQ(data_crc, Masked(bytes.data() + pos + 12, len));
    tensorboard::Event e;
    EXPECT_TRUE(e.ParseFromArray(bytes.data() + pos + 12, static_cast<int>(len)));
    events.push_back(e);
    pos += 16 + len;
  }
  return events;
}

std::string TempDir(const char* name) {
  const std::string dir = testing::TempDir() + "/kiln_summary_" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  return dir;
}

TEST(SummaryWriter, WritesScalarsHistogramsAndText) {
  const std::string dir = TempDir("records") + "/nested/run";  // parents are created
  auto writer = SummaryWriter::Open(dir);
  ASSERT_TRUE(writer.ok()) << writer.status().message();
  ASSERT_TRUE((*writer)->AddScalar("loss", 3, 0.25).ok());
  const float values[] = {-1.0f, 0.0f, 0.5f, 1.0f, NAN, 1.0f};
  ASSERT_TRUE((*writer)->AddHistogram("w", 4, values, 6, 4).ok());
  ASSERT_TRUE((*writer)->AddText("command", 0, "kiln train x").ok());
  ASSERT_TRUE((*writer)->Flush().ok());

  const std::vector<tensorboard::Event> events = ReadEvents((*writer)->path());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].file_version(), "brain.Event:2");
  EXPECT_EQ(events[1].step(), 3);
  EXPECT_EQ(events[1].summary().value(0).tag(), "loss");
  EXPECT_FLOAT_EQ(events[1].summary().value(0).simple_value(), 0.25f);
  EXPECT_EQ(events[1].summary().value(0).metadata().plugin_data().plugin_name(), "scalars");
  const tensorboard::HistogramProto& h = events[2].summary().value(0).histo();
  EXPECT_EQ(h.num(), 5);  // the NaN is left out
  EXPECT_EQ(h.min(), -1);
  EXPECT_EQ(h.max(), 1);
  EXPECT_DOUBLE_EQ(h.sum(), 1.5);
  ASSERT_EQ(h.bucket_size(), 4);
  // Buckets (-inf,-0.5], (-0.5,0], (0,0.5], (0.5,1]: -1 | 0 | 0.5 | 1, 1.
  EXPECT_EQ(h.bucket(0), 1);
  EXPECT_EQ(h.bucket(1), 1);
  EXPECT_EQ(h.bucket(2), 1);
  EXPECT_EQ(h.bucket(3), 2);
  EXPECT_EQ(h.bucket_limit(3), 1);
  EXPECT_EQ(events[3].summary().value(0).tensor().string_val(0), "kiln train x");
  EXPECT_EQ(events[3].summary().value(0).metadata().plugin_data().plugin_name(), "text");
}

TEST(SummaryWriter, TwoWritersNeverShareAFile) {
  const std::string dir = TempDir("two");
  auto a = SummaryWriter::Open(dir);
  auto b = SummaryWriter::Open(dir);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE((*a)->path(), (*b)->path());
}

TEST(SummaryWriter, UncreatableDirectoryIsAnError) {
  const std::string dir = TempDir("blocked");
  fs::create_directories(dir);
  std::ofstream(dir + "/file") << "x";
  auto w = SummaryWriter::Open(dir + "/file/run");
  ASSERT_FALSE(w.ok());
  EXPECT_NE(w.status().message().find("cannot create the log directory"), std::string::npos) << w.status().message();
}

TEST(TrainingCurvesSvg, OnePolylinePerSeriesWithAPointPerEpoch) {
  std::vector<EpochStats> history;
  for (int e = 1; e <= 3; ++e) {
    EpochStats s;
    s.epoch = e;
    s.loss = 1.0 / e;
    s.accuracy = 0.5 + 0.1 * e;
    s.val_loss = 1.2 / e;
    history.push_back(s);
  }
  const std::string svg = TrainingCurvesSvg(history, "a <model>");
  EXPECT_NE(svg.find("<title>a &lt;model&gt;</title>"), std::string::npos);
  for (const char* label : {"\"loss\"", "\"val_loss\"", "\"accuracy\""}) {
    EXPECT_NE(svg.find(std::string("data-label=") + label), std::string::npos) << label;
  }
  EXPECT_EQ(svg.find("data-label=\"val_accuracy\""), std::string::npos);  // no validation accuracy: no curve
}

TEST(TrainingCurvesSvg, NoEpochsAndNoAccuracy) {
  EXPECT_NE(TrainingCurvesSvg({}, "m").find("no completed epochs"), std::string::npos);
  EpochStats regression;
  regression.epoch = 1;
  regression.loss = 2;
  const std::string svg = TrainingCurvesSvg({regression}, "m");
  EXPECT_NE(svg.find("data-label=\"loss\""), std::string::npos);
  EXPECT_EQ(svg.find("id=\"accuracy\""), std::string::npos);  // one panel
}

}  // namespace
}  // namespace kiln::runtime
