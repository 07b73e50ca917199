// The checkpoint format (runtime/checkpoint.h): header, version and checksum
// checks, and validation against the training step's states before anything is applied.
#include "runtime/checkpoint.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "kiln/runtime.h"
#include "kiln/runtime.hpp"
#include "tests/test_util.h"

namespace kiln::runtime {
namespace {

proto::Buffer State(const std::string& name, proto::DataType dtype, std::vector<int64_t> dims) {
  proto::Buffer b;
  b.set_name(name);
  b.set_dtype(dtype);
  for (int64_t d : dims) b.add_dims(d);
  return b;
}

const std::vector<proto::Buffer>& Expected() {
  static const std::vector<proto::Buffer> states = {State("dense/kernel", proto::DT_FLOAT, {2, 3}),
                                                    State("dense/bias", proto::DT_FLOAT, {3}),
                                                    State("step", proto::DT_INT64, {})};
  return states;
}

void AddState(const proto::Buffer& b, float fill, google::protobuf::RepeatedPtrField<proto::Tensor>* out) {
  proto::Tensor* t = out->Add();
  t->set_name(b.name());
  t->set_dtype(b.dtype());
  int64_t n = 1;
  for (int64_t d : b.dims()) {
    t->add_dims(d);
    n *= d;
  }
  if (b.dtype() == proto::DT_FLOAT) {
    std::vector<float> v(n, fill);
    t->set_raw_data(v.data(), v.size() * sizeof(float));
  } else {
    std::vector<int64_t> v(n, 7);
    t->set_raw_data(v.data(), v.size() * sizeof(int64_t));
  }
}

proto::Checkpoint Valid() {
  proto::Checkpoint c;
  for (const proto::Buffer& b : Expected()) AddState(b, 0.5f, c.mutable_state());
  c.set_epoch(3);
  c.set_best_epoch(2);
  c.set_best_metric(0.25);
  c.set_epochs_without_improvement(1);
  for (const proto::Buffer& b : Expected()) AddState(b, 0.25f, c.mutable_best_state());
  return c;
}

std::string Encoded(const proto::Checkpoint& c) {
  auto bytes = EncodeCheckpoint(c);
  EXPECT_TRUE(bytes.ok());
  return *bytes;
}

void ExpectDecodeError(const std::string& bytes, const std::string& needle) {
  auto c = DecodeCheckpoint(bytes, "ck");
  ASSERT_FALSE(c.ok()) << needle;
  EXPECT_NE(c.status().message().find(needle), std::string::npos) << c.status().message();
  EXPECT_EQ(c.status().message().find('\n'), std::string::npos);
}

void ExpectInvalid(const proto::Checkpoint& c, const std::string& needle) {
  Status st = ValidateCheckpoint(c, Expected(), "ck");
  ASSERT_FALSE(st.ok()) << needle;
  EXPECT_NE(st.message().find(needle), std::string::npos) << st.message();
  EXPECT_EQ(st.message().rfind("ck: ", 0), 0u) << st.message();
}

TEST(CheckpointTest, RoundTripsAndValidates) {
  auto c = DecodeCheckpoint(Encoded(Valid()), "ck");
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->epoch(), 3);
  EXPECT_EQ(c->best_state_size(), 3);
  EXPECT_OK(ValidateCheckpoint(*c, Expected(), "ck"));
  // No early-stopping data is valid too.
  proto::Checkpoint plain = Valid();
  plain.clear_best_state();
  plain.set_best_epoch(-1);
  EXPECT_OK(ValidateCheckpoint(plain, Expected(), "ck"));
}

TEST(CheckpointTest, RejectsBytesThatAreNotACheckpoint) {
  const std::string good = Encoded(Valid());
  ExpectDecodeError("", "empty file");
  ExpectDecodeError("KILNCKP", "no KILNCKPT header");
  // What protobuf alone would accept: a bare Checkpoint payload, or nothing at all.
  std::string bare;
  ASSERT_TRUE(Valid().SerializeToString(&bare));
  ExpectDecodeError(bare, "no KILNCKPT header");
  ExpectDecodeError(std::string(64, '\0'), "no KILNCKPT header");
  std::string version = good;
  version[8] = 2;
  ExpectDecodeError(version, "version 2");
  ExpectDecodeError(good.substr(0, good.size() - 1), "truncated");
  ExpectDecodeError(good + "x", "trailing");
  ExpectDecodeError(good.substr(0, kCheckpointHeaderSize), "truncated");
  for (size_t at : {kCheckpointHeaderSize, good.size() / 2, good.size() - 1}) {
    std::string flipped = good;
    flipped[at] ^= 0x20;
    ExpectDecodeError(flipped, "checksum");
  }
  std::string crc = good;
  crc[12] ^= 1;
  ExpectDecodeError(crc, "checksum");
}

TEST(CheckpointTest, StatesMustMatchTheStepExactly) {
  proto::Checkpoint c = Valid();
  c.mutable_state()->RemoveLast();
  ExpectInvalid(c, "state 'step' is missing");

  c = Valid();
  AddState(Expected()[0], 0.5f, c.mutable_state());
  ExpectInvalid(c, "appears more than once");

  c = Valid();
  AddState(State("other", proto::DT_FLOAT, {1}), 0.5f, c.mutable_state());
  ExpectInvalid(c, "does not exist in this training step");

  c = Valid();
  c.mutable_state(0)->set_dims(0, 3);
  ExpectInvalid(c, "float32[3, 3]");

  c = Valid();
  c.mutable_state(0)->set_dtype(proto::DT_INT32);
  ExpectInvalid(c, "'dense/kernel' is int32");

  c = Valid();
  c.mutable_state(1)->mutable_raw_data()->append("xxxx");
  ExpectInvalid(c, "has 16 bytes, expected 12");

  c = Valid();
  c.mutable_state(1)->add_float_data(1.0f);
  ExpectInvalid(c, "outside raw_data");

  c = Valid();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(&(*c.mutable_state(1)->mutable_raw_data())[4], &nan, sizeof nan);
  ExpectInvalid(c, "NaN");

  c = Valid();  // names from the file stay on one line (found by fuzz_checkpoint)
  c.mutable_state(0)->set_name("evil\nname\x01" + std::string(300, 'x'));
  ExpectInvalid(c, "'evil\\x0aname\\x01xxx");
  EXPECT_EQ(ValidateCheckpoint(c, Expected(), "ck").message().find('\n'), std::string::npos);
  EXPECT_LT(ValidateCheckpoint(c, Expected(), "ck").message().size(), 300u);

  c = Valid();  // best states are checked the same way
  c.mutable_best_state()->RemoveLast();
  ExpectInvalid(c, "best state 'step' is missing");
}

TEST(CheckpointTest, CountersMustBeConsistent) {
  proto::Checkpoint c = Valid();
  c.set_epoch(-1);
  ExpectInvalid(c, "negative epoch");
  c = Valid();
  c.set_best_epoch(4);
  ExpectInvalid(c, "best epoch 4");
  c = Valid();
  c.set_best_epoch(0);
  ExpectInvalid(c, "best epoch 0");
  c = Valid();
  c.set_epochs_without_improvement(-2);
  ExpectInvalid(c, "epochs without improvement");
  c = Valid();
  c.set_best_metric(std::nan(""));
  ExpectInvalid(c, "best metric");
  c = Valid();
  c.set_best_epoch(-1);
  ExpectInvalid(c, "best states without a best epoch");
}

TEST(CheckpointTest, ReadsFilesWithBoundedMemory) {
  const std::string dir = testing::MakeTempDir();
  ASSERT_OK(WriteCheckpoint(dir + "/ck", Valid()));
  auto c = ReadCheckpoint(dir + "/ck", Expected());
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->epoch(), 3);
  // Far more bytes than three tiny states can take: refused before reading.
  std::ofstream(dir + "/big", std::ios::binary) << std::string(4 << 20, 'x');
  auto big = ReadCheckpoint(dir + "/big", Expected());
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("more than"), std::string::npos) << big.status().message();
  EXPECT_FALSE(ReadCheckpoint(dir + "/missing", Expected()).ok());
  EXPECT_FALSE(ReadCheckpoint(dir, Expected()).ok());
}

// The fuzz seeds (tests/fuzz/seeds/checkpoint/make_seeds.py writes the format
// independently, in Python): the valid ones load, each broken one fails for its reason.
TEST(CheckpointTest, FuzzSeedsMatchTheFormat) {
  const std::string dir = testing::SourcePath("tests/fuzz/seeds/checkpoint/");
  for (const char* good : {"valid.ckpt", "best_stopped.ckpt"}) {
    auto c = ReadCheckpoint(dir + good, Expected());
    EXPECT_TRUE(c.ok()) << good << ": " << c.status().message();
  }
  const std::pair<const char*, const char*> bad[] = {{"missing_state.ckpt", "'step' is missing"},
                                                     {"duplicate_state.ckpt", "more than once"},
                                                     {"negative_epoch.ckpt", "negative epoch"},
                                                     {"wrong_shape.ckpt", "float32[3, 2]"},
                                                     {"nan.ckpt", "NaN"},
                                                     {"bad_crc.ckpt", "checksum"},
                                                     {"version2.ckpt", "version 2"},
                                                     {"truncated.ckpt", "truncated"},
                                                     {"bare_payload.ckpt", "KILNCKPT"},
                                                     {"empty.ckpt", "empty file"}};
  for (const auto& [file, needle] : bad) {
    auto c = ReadCheckpoint(dir + file, Expected());
    ASSERT_FALSE(c.ok()) << file;
    EXPECT_NE(c.status().message().find(needle), std::string::npos) << file << ": " << c.status().message();
  }
}

// The C API loads through the same reader: a checkpoint missing a state, a corrupt one
// or a bare protobuf is refused and leaves every state as it was.
TEST(CheckpointTest, CApiRefusesBadCheckpointsWithoutChangingStates) {
  auto plan = testing::CompileTrainingStep("tests/data/training/mlp.onnx", 4, "sgd");
  ASSERT_OK(plan.status());
  const std::string bytes = plan->SerializeAsString();
  kiln::Session s(kiln::Plan::FromMemory(bytes.data(), bytes.size()), 1);
  const std::string dir = testing::MakeTempDir();
  s.SaveCheckpoint(dir + "/good");
  const std::string good = [&] {
    std::ifstream in(dir + "/good", std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }();
  ASSERT_EQ(good.rfind("KILNCKPT", 0), 0u);
  auto decoded = DecodeCheckpoint(good, "good");
  ASSERT_OK(decoded.status());
  proto::Checkpoint partial = *decoded;
  partial.mutable_state()->RemoveLast();
  ASSERT_OK(WriteCheckpoint(dir + "/partial", partial));
  std::string bare;
  ASSERT_TRUE(decoded->SerializeToString(&bare));
  std::ofstream(dir + "/bare", std::ios::binary) << bare;
  std::string flipped = good;
  flipped[flipped.size() - 3] ^= 1;
  std::ofstream(dir + "/flipped", std::ios::binary) << flipped;
  void* data = nullptr;
  size_t size = 0;
  ASSERT_EQ(kiln_session_state(s.get(), 0, &data, &size), KILN_OK);
  std::vector<uint8_t> marked(size, 0x3c);
  s.SetState(0, marked.data(), marked.size());
  for (const auto& [file, needle] : std::vector<std::pair<std::string, std::string>>{
           {"partial", "is missing"}, {"bare", "KILNCKPT"}, {"flipped", "checksum"}}) {
    EXPECT_NE(kiln_session_load_checkpoint(s.get(), (dir + "/" + file).c_str()), KILN_OK) << file;
    EXPECT_NE(std::string(kiln_last_error()).find(needle), std::string::npos) << kiln_last_error();
    EXPECT_EQ(std::memcmp(data, marked.data(), size), 0) << file << " changed a state";
  }
  EXPECT_EQ(kiln_session_load_checkpoint(s.get(), (dir + "/good").c_str()), KILN_OK) << kiln_last_error();
  EXPECT_NE(std::memcmp(data, marked.data(), size), 0);
}

}  // namespace
}  // namespace kiln::runtime
