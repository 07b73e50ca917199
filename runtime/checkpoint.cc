#include "runtime/checkpoint.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>

#include "ir/core/dtype.h"
#include "ir/core/file_io.h"
#include "ir/core/resource_limits.h"
#include "runtime/session.h"

namespace kiln::runtime {
namespace {

void PutLE(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLE(const std::string& in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

uint32_t Crc32(const std::string& payload) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < payload.size()) {  // zlib takes uInt lengths
    const uInt n = static_cast<uInt>(std::min<size_t>(payload.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(payload.data() + done), n);
    done += n;
  }
  return static_cast<uint32_t>(crc);
}

// A name read from the file, for a one-line message: control and non-ASCII bytes
// escaped, long names cut (fuzz_checkpoint found names with newlines).
std::string Printable(const std::string& name) {
  std::string out;
  for (size_t i = 0; i < name.size() && i < 128; ++i) {
    const unsigned char c = static_cast<unsigned char>(name[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (name.size() > 128) out += "...";
  return out;
}

std::string DimsOf(const google::protobuf::RepeatedField<int64_t>& d) { return DimsToString(Dims(d.begin(), d.end())); }

// One list of states (`state` or `best_state`) against the expected descriptors.
Status ValidateStates(const google::protobuf::RepeatedPtrField<proto::Tensor>& states,
                      const std::vector<proto::Buffer>& expected, const std::string& path, const char* what) {
  std::map<std::string, const proto::Buffer*> by_name;
  for (const proto::Buffer& b : expected) by_name[b.name()] = &b;
  std::map<std::string, int> seen;
  for (const proto::Tensor& t : states) {
    const std::string name = Printable(t.name());
    auto it = by_name.find(t.name());
    if (it == by_name.end()) {
      return InvalidArgument(path, ": ", what, " '", name, "' does not exist in this training step");
    }
    if (++seen[t.name()] > 1) return InvalidArgument(path, ": ", what, " '", name, "' appears more than once");
    const proto::Buffer& b = *it->second;
    if (t.dtype() != b.dtype() || !std::equal(t.dims().begin(), t.dims().end(), b.dims().begin(), b.dims().end())) {
      return InvalidArgument(path, ": ", what, " '", name, "' is ", DTypeName(t.dtype()), DimsOf(t.dims()),
                             " but the training step has ", DTypeName(b.dtype()), DimsOf(b.dims()));
    }
    const int64_t bytes = DTypeSize(b.dtype()) * ElementCount(Dims(b.dims().begin(), b.dims().end()));
    if (static_cast<int64_t>(t.raw_data().size()) != bytes) {
      return InvalidArgument(path, ": ", what, " '", name, "' has ", t.raw_data().size(), " bytes, expected ", bytes);
    }
    if (t.float_data_size() || t.int64_data_size()) {
      return InvalidArgument(path, ": ", what, " '", name, "' has values outside raw_data");
    }
    if (b.dtype() == proto::DT_FLOAT) {
      const size_t n = t.raw_data().size() / sizeof(float);
      for (size_t k = 0; k < n; ++k) {
        float f;
        std::memcpy(&f, t.raw_data().data() + k * sizeof(float), sizeof f);
        if (!std::isfinite(f)) return InvalidArgument(path, ": ", what, " '", name, "' holds NaN or infinity");
      }
    }
  }
  for (const proto::Buffer& b : expected) {
    if (!seen.count(b.name())) return InvalidArgument(path, ": ", what, " '", b.name(), "' is missing");
  }
  return Status::Ok();
}

}  // namespace

StatusOr<std::string> EncodeCheckpoint(const proto::Checkpoint& ckpt) {
  std::string payload;
  if (!ckpt.SerializeToString(&payload)) return Internal("cannot serialize the checkpoint");
  std::string out(kCheckpointMagic, sizeof kCheckpointMagic);
  PutLE(&out, kCheckpointVersion, 4);
  PutLE(&out, Crc32(payload), 4);
  PutLE(&out, payload.size(), 8);
  return out + payload;
}

StatusOr<proto::Checkpoint> DecodeCheckpoint(const std::string& bytes, const std::string& path) {
  if (bytes.empty()) return InvalidArgument(path, ": empty file, not a Kiln checkpoint");
  if (bytes.size() < kCheckpointHeaderSize ||
      std::memcmp(bytes.data(), kCheckpointMagic, sizeof kCheckpointMagic) != 0) {
    return InvalidArgument(path, ": not a Kiln checkpoint (no KILNCKPT header)");
  }
  const uint64_t version = GetLE(bytes, 8, 4);
  if (version != kCheckpointVersion) {
    return InvalidArgument(path, ": checkpoint format version ", version, " is not supported (this Kiln reads ",
                           kCheckpointVersion, ")");
  }
  const uint64_t size = GetLE(bytes, 16, 8);
  if (size != bytes.size() - kCheckpointHeaderSize) {
    return InvalidArgument(path, ": checkpoint is truncated or has trailing bytes (payload ",
                           bytes.size() - kCheckpointHeaderSize, " bytes, header says ", size, ")");
  }
  const std::string payload = bytes.substr(kCheckpointHeaderSize);
  if (Crc32(payload) != GetLE(bytes, 12, 4)) return InvalidArgument(path, ": checkpoint checksum mismatch (corrupt)");
  proto::Checkpoint ckpt;
  if (!ckpt.ParseFromString(payload)) return InvalidArgument(path, ": corrupt checkpoint payload");
  return ckpt;
}

std::vector<proto::Buffer> CheckpointStates(const Session& session) {
  std::vector<proto::Buffer> states;
  for (int i = 0; i < session.num_states(); ++i) states.push_back(session.state_desc(i));
  return states;
}

Status ValidateCheckpoint(const proto::Checkpoint& ckpt, const std::vector<proto::Buffer>& expected,
                          const std::string& path) {
  RETURN_IF_ERROR(ValidateStates(ckpt.state(), expected, path, "state"));
  if (ckpt.best_state_size() > 0) RETURN_IF_ERROR(ValidateStates(ckpt.best_state(), expected, path, "best state"));
  const int64_t epoch = ckpt.epoch();
  if (epoch < 0) return InvalidArgument(path, ": negative epoch ", epoch);
  if (ckpt.best_epoch() != -1 && (ckpt.best_epoch() < 1 || ckpt.best_epoch() > epoch)) {
    return InvalidArgument(path, ": best epoch ", ckpt.best_epoch(), " is not -1 or in [1, ", epoch, "]");
  }
  if (ckpt.epochs_without_improvement() < 0 || ckpt.epochs_without_improvement() > epoch) {
    return InvalidArgument(path, ": epochs without improvement ", ckpt.epochs_without_improvement(), " is not in [0, ",
                           epoch, "]");
  }
  if (ckpt.best_epoch() != -1 && !std::isfinite(ckpt.best_metric())) {
    return InvalidArgument(path, ": best metric is NaN or infinite");
  }
  if (ckpt.best_epoch() == -1 && ckpt.best_state_size() > 0) {
    return InvalidArgument(path, ": best states without a best epoch");
  }
  return Status::Ok();
}

Status WriteCheckpoint(const std::string& path, const proto::Checkpoint& ckpt) {
  auto bytes = EncodeCheckpoint(ckpt);
  if (!bytes.ok()) return bytes.status().WithContext(path);
  return WriteFileAtomically(path, *bytes);
}

StatusOr<proto::Checkpoint> ReadCheckpoint(const std::string& path, const std::vector<proto::Buffer>& expected) {
  // A valid checkpoint holds at most two copies of the states: anything much larger is
  // refused before it is read into memory.
  uint64_t limit = kCheckpointHeaderSize + (1u << 20);
  for (const proto::Buffer& b : expected) {
    limit += 2 * (DTypeSize(b.dtype()) * ElementCount(Dims(b.dims().begin(), b.dims().end())) + b.name().size() + 64);
  }
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return NotFound(path, ": cannot open checkpoint");
  if (!S_ISREG(st.st_mode)) return InvalidArgument(path, ": checkpoint is not a regular file");
  if (static_cast<uint64_t>(st.st_size) > limit) {
    return InvalidArgument(path, ": checkpoint is ", st.st_size,
                           " bytes, more than this training step's states can take (", limit, ")");
  }
  // Read through the bounded reader too: a file that grows after the stat stops at max_file_bytes.
  ASSIGN_OR_RETURN(const std::string bytes, ReadFileBounded(path));
  if (bytes.size() > limit) {
    return InvalidArgument(path, ": checkpoint is ", bytes.size(),
                           " bytes, more than this training step's states can take (", limit, ")");
  }
  ASSIGN_OR_RETURN(proto::Checkpoint ckpt, DecodeCheckpoint(bytes, path));
  RETURN_IF_ERROR(ValidateCheckpoint(ckpt, expected, path));
  return ckpt;
}

proto::Checkpoint SessionCheckpoint(const Session& session) {
  proto::Checkpoint ckpt;
  for (int i = 0; i < session.num_states(); ++i) {
    const proto::Buffer& b = session.state_desc(i);
    proto::Tensor* t = ckpt.add_state();
    t->set_name(b.name());
    t->set_dtype(b.dtype());
    for (int64_t d : b.dims()) t->add_dims(d);
    t->set_raw_data(session.state(i).data, static_cast<size_t>(session.state(i).num_bytes()));
  }
  ckpt.set_best_epoch(-1);
  return ckpt;
}

Status RestoreStates(Session& session, const google::protobuf::RepeatedPtrField<proto::Tensor>& states) {
  for (const proto::Tensor& t : states) {
    const int i = session.FindState(t.name());
    if (i < 0) return InvalidArgument("state '", t.name(), "' does not exist");
    RETURN_IF_ERROR(session.SetState(i, t.raw_data().data(), t.raw_data().size()));
  }
  return Status::Ok();
}

}  // namespace kiln::runtime
