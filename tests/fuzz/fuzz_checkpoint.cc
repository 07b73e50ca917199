// libFuzzer target: the checkpoint reader (runtime/checkpoint.h). Bytes go
// through the header, version, size and checksum checks and the protobuf parse
// (DecodeCheckpoint), then through the validation against a fixed training step
// (ValidateCheckpoint). A second pass re-encodes the input as a valid envelope, so the
// fuzzer also reaches the validation with payloads the checksum would otherwise stop.
// Nothing may crash, hang or allocate without bound; errors are one line.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "google/protobuf/stubs/logging.h"
#include "runtime/checkpoint.h"

namespace {

kiln::proto::Buffer State(const std::string& name, kiln::proto::DataType dtype, std::vector<int64_t> dims) {
  kiln::proto::Buffer b;
  b.set_name(name);
  b.set_dtype(dtype);
  for (int64_t d : dims) b.add_dims(d);
  return b;
}

// The states of a small training step (tests/fuzz/seeds/checkpoint/make_seeds.py matches them).
const std::vector<kiln::proto::Buffer>& Expected() {
  static const std::vector<kiln::proto::Buffer> states = {State("dense/kernel", kiln::proto::DT_FLOAT, {2, 3}),
                                                          State("dense/bias", kiln::proto::DT_FLOAT, {3}),
                                                          State("step", kiln::proto::DT_INT64, {})};
  return states;
}

void Check(const kiln::Status& st) {
  if (!st.ok() && st.message().find('\n') != std::string::npos) std::abort();  // errors are one line
}

void Validate(const std::string& bytes) {
  auto ckpt = kiln::runtime::DecodeCheckpoint(bytes, "fuzz.ckpt");
  Check(ckpt.status());
  if (!ckpt.ok()) return;
  Check(kiln::runtime::ValidateCheckpoint(*ckpt, Expected(), "fuzz.ckpt"));
}

}  // namespace

// Protobuf logs every malformed string field; the fuzzer makes millions of them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  Validate(bytes);
  // The payload behind a correct header: what a well-formed but hostile checkpoint holds.
  kiln::proto::Checkpoint parsed;
  const std::string payload =
      bytes.size() >= kiln::runtime::kCheckpointHeaderSize ? bytes.substr(kiln::runtime::kCheckpointHeaderSize) : bytes;
  if (parsed.ParseFromString(payload)) {
    auto envelope = kiln::runtime::EncodeCheckpoint(parsed);
    if (envelope.ok()) Validate(*envelope);
  }
  return 0;
}
