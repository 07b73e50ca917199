#include "frontends/tensor_io.h"

#include <gtest/gtest.h>

#include <fstream>

#include "frontends/onnx/onnx_tensor.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

std::string WriteBytes(const std::string& dir, const std::string& leaf, const std::string& bytes) {
  std::string path = dir + "/" + leaf;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

// A .npy file with a hand-written header (format `major`.0).
std::string Npy(const std::string& header_dict, const std::string& data, int major = 1) {
  std::string header = header_dict + "\n";
  std::string out = std::string("\x93NUMPY", 6) + static_cast<char>(major) + '\0';
  if (major == 1) {
    out += static_cast<char>(header.size() & 0xff);
    out += static_cast<char>(header.size() >> 8);
  } else {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return out + header + data;
}

TEST(TensorIo, NpyRoundTripForEveryDtype) {
  std::string dir = testing::MakeTempDir();
  Tensor f = testing::RandomTensor({2, 3}, 1);
  ASSERT_OK(WriteTensorFile(dir + "/f.npy", f));
  auto back = ReadTensorFile(dir + "/f.npy");
  ASSERT_OK(back.status());
  EXPECT_EQ(testing::CompareTensors(*back, f, 0, 0), "");

  for (DType dtype :
       {proto::DT_DOUBLE, proto::DT_INT64, proto::DT_INT32, proto::DT_UINT8, proto::DT_INT8, proto::DT_BOOL}) {
    Tensor t(dtype, {3});
    auto* bytes = static_cast<uint8_t*>(t.MutableData());
    for (int64_t i = 0; i < t.num_bytes(); ++i) bytes[i] = static_cast<uint8_t>(i % 2);
    ASSERT_OK(WriteTensorFile(dir + "/t.npy", t));
    auto r = ReadTensorFile(dir + "/t.npy");
    ASSERT_OK(r.status());
    EXPECT_EQ(r->dtype(), dtype);
    EXPECT_EQ(r->dims(), (Dims{3}));
    EXPECT_EQ(std::memcmp(r->data(), t.data(), t.num_bytes()), 0) << DTypeName(dtype);
  }
  // Scalars have shape ().
  ASSERT_OK(WriteTensorFile(dir + "/s.npy", Tensor::FromVector<float>(proto::DT_FLOAT, {}, {2.5f})));
  auto s = ReadTensorFile(dir + "/s.npy");
  ASSERT_OK(s.status());
  EXPECT_TRUE(s->dims().empty());
  EXPECT_EQ(s->data_as<float>()[0], 2.5f);
}

TEST(TensorIo, NpyHeaderVersionsAndErrors) {
  std::string dir = testing::MakeTempDir();
  std::string two_ints(16, '\0');
  two_ints[0] = 7;
  auto v2 = ReadTensorFile(
      WriteBytes(dir, "v2.npy", Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", two_ints, 2)));
  ASSERT_OK(v2.status());
  EXPECT_EQ(v2->ToInt64Vector(), (std::vector<int64_t>{7, 0}));

  auto fortran = ReadTensorFile(WriteBytes(
      dir, "f.npy", Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0'))));
  ASSERT_FALSE(fortran.ok());
  EXPECT_NE(fortran.status().message().find("Fortran"), std::string::npos);

  // 2^40 elements declared, 16 bytes present: an error, never an allocation.
  auto huge = ReadTensorFile(WriteBytes(
      dir, "h.npy",
      Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }", std::string(16, '\0'))));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("h.npy"), std::string::npos) << huge.status().message();

  auto truncated = ReadTensorFile(WriteBytes(
      dir, "t.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", std::string(12, '\0'))));
  ASSERT_FALSE(truncated.ok());
  EXPECT_NE(truncated.status().message().find("truncated"), std::string::npos) << truncated.status().message();

  EXPECT_FALSE(
      ReadTensorFile(WriteBytes(dir, "be.npy",
                                Npy("{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", std::string(4, '\0'))))
          .ok());
  EXPECT_FALSE(ReadTensorFile(WriteBytes(dir, "magic.npy", "NOTNUMPY")).ok());
  EXPECT_FALSE(ReadTensorFile(WriteBytes(dir, "hdr.npy", Npy("{'descr': '<f4', 'shape': (1,", ""))).ok());
  EXPECT_EQ(ReadTensorFile(dir + "/missing.npy").status().code(), StatusCode::kNotFound);
}

TEST(TensorIo, OnnxTensorProtoRawAndTypedFields) {
  std::string dir = testing::MakeTempDir();
  Tensor t = testing::RandomTensor({3, 2}, 7);
  ASSERT_OK(WriteTensorFile(dir + "/t.pb", t));
  auto back = ReadTensorFile(dir + "/t.pb");
  ASSERT_OK(back.status());
  EXPECT_EQ(testing::CompareTensors(*back, t, 0, 0), "");

  onnx::TensorProto p;
  p.set_data_type(onnx::TensorProto::INT64);
  p.add_dims(3);
  for (int64_t v : {5, -6, 7}) p.add_int64_data(v);
  auto typed = ReadTensorFile(WriteBytes(dir, "i.pb", p.SerializeAsString()));
  ASSERT_OK(typed.status());
  EXPECT_EQ(typed->ToInt64Vector(), (std::vector<int64_t>{5, -6, 7}));

  p.add_dims(int64_t{1} << 40);  // 3 * 2^40 elements declared
  auto huge = ReadTensorFile(WriteBytes(dir, "h.pb", p.SerializeAsString()));
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("h.pb"), std::string::npos);

  onnx::TensorProto wrong_count;
  wrong_count.set_data_type(onnx::TensorProto::FLOAT);
  wrong_count.add_dims(4);
  wrong_count.add_float_data(1.0f);
  auto short_data = ReadTensorFile(WriteBytes(dir, "w.pb", wrong_count.SerializeAsString()));
  ASSERT_FALSE(short_data.ok());
  EXPECT_NE(short_data.status().message().find("float_data holds 1 values"), std::string::npos)
      << short_data.status().message();

  // A few bytes claiming a 16 GiB bool tensor with no data: refused before allocating (found by
  // fuzz_model_loaders: the narrowed fields were counted after the tensor was made).
  onnx::TensorProto claims_huge;
  claims_huge.set_data_type(onnx::TensorProto::BOOL);
  claims_huge.add_dims(int64_t{1} << 17);
  claims_huge.add_dims(int64_t{1} << 17);
  auto empty_bools = ReadTensorFile(WriteBytes(dir, "b.pb", claims_huge.SerializeAsString()));
  ASSERT_FALSE(empty_bools.ok());
  EXPECT_NE(empty_bools.status().message().find("int32_data holds 0 values"), std::string::npos)
      << empty_bools.status().message();

  std::string bytes = t.num_bytes() ? std::string(static_cast<const char*>(t.data()), 10) : "";
  EXPECT_FALSE(ReadTensorFile(WriteBytes(dir, "c.pb", "\x0a\xff\xff\xff\x0f" + bytes)).ok());
}

// .pb files go through the wire-format reader (ir/core/onnx_tensor.h), parsed models through
// libonnx's messages: both end in TensorFromOnnxFields and must agree on every typed field.
TEST(TensorIo, WireReaderAgreesWithTheParsedMessageForEveryTypedField) {
  const std::string dir = testing::MakeTempDir();
  struct Case {
    int type;
    std::vector<int32_t> int32;
  };
  const Case cases[] = {
      {onnx::TensorProto::INT32, {-5, 0, 70000}},        {onnx::TensorProto::INT8, {-128, 0, 127}},
      {onnx::TensorProto::UINT8, {0, 200, 255}},         {onnx::TensorProto::BOOL, {0, 2, 1}},
      {onnx::TensorProto::FLOAT16, {0x3c00, 0xbc00, 0}}, {onnx::TensorProto::BFLOAT16, {0x3f80, 0xbf80, 0}},
      {onnx::TensorProto::INT16, {-32768, 0, 32767}},    {onnx::TensorProto::UINT16, {0, 40000, 65535}}};
  for (const Case& c : cases) {
    onnx::TensorProto p;
    p.set_data_type(c.type);
    p.add_dims(3);
    for (int32_t v : c.int32) p.add_int32_data(v);
    auto from_message = onnx_import::TensorFromOnnx(p, "message");
    ASSERT_OK(from_message.status());
    auto from_file = ReadTensorFile(WriteBytes(dir, "t" + std::to_string(c.type) + ".pb", p.SerializeAsString()));
    ASSERT_OK(from_file.status());
    EXPECT_EQ(from_file->dtype(), from_message->dtype()) << c.type;
    EXPECT_EQ(testing::CompareTensors(*from_file, *from_message, 0, 0), "") << c.type;
  }
  for (int type : {onnx::TensorProto::UINT32, onnx::TensorProto::UINT64}) {  // uint64_data
    onnx::TensorProto u;
    u.set_data_type(type);
    u.add_dims(2);
    u.add_uint64_data(7);
    u.add_uint64_data(4000000000u);
    auto from_message = onnx_import::TensorFromOnnx(u, "message");
    ASSERT_OK(from_message.status());
    auto from_file = ReadTensorFile(WriteBytes(dir, "u" + std::to_string(type) + ".pb", u.SerializeAsString()));
    ASSERT_OK(from_file.status());
    EXPECT_EQ(testing::CompareTensors(*from_file, *from_message, 0, 0), "") << type;
    EXPECT_EQ(from_file->GetAsInt64(1), 4000000000) << type;
  }
  onnx::TensorProto d;
  d.set_data_type(onnx::TensorProto::DOUBLE);
  d.add_dims(2);
  d.add_double_data(-1.5);
  d.add_double_data(1e300);
  auto doubles = ReadTensorFile(WriteBytes(dir, "d.pb", d.SerializeAsString()));
  ASSERT_OK(doubles.status());
  EXPECT_EQ(doubles->data_as<double>()[1], 1e300);

  onnx::TensorProto external;
  external.set_data_type(onnx::TensorProto::FLOAT);
  external.add_dims(1);
  external.set_data_location(onnx::TensorProto::EXTERNAL);
  auto ext = ReadTensorFile(WriteBytes(dir, "e.pb", external.SerializeAsString()));
  ASSERT_FALSE(ext.ok());
  EXPECT_NE(ext.status().message().find("external tensor data is not supported"), std::string::npos)
      << ext.status().message();
}

}  // namespace
}  // namespace kiln
