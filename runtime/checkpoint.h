// The checkpoint file format, shared by the trainer (`kiln train --checkpoint`,
// compiled trainers) and the C API (kiln_session_save/load_checkpoint):
//
//   "KILNCKPT" | u32 version | u32 CRC-32 of the payload | u64 payload size | payload
//
// (integers little-endian; the payload is a serialized kiln.proto.Checkpoint). A
// checkpoint is only ever applied after it matches the compiled step it is loaded
// into: every state once, with the same dtype and shape, finite values, sane counters.
#pragma once

#include <string>
#include <vector>

#include "ir/core/status.h"
#include "runtime/plan.pb.h"

namespace kiln::runtime {

class Session;

constexpr char kCheckpointMagic[8] = {'K', 'I', 'L', 'N', 'C', 'K', 'P', 'T'};
constexpr uint32_t kCheckpointVersion = 1;
constexpr size_t kCheckpointHeaderSize = 24;

/// The header and payload of `ckpt`.
StatusOr<std::string> EncodeCheckpoint(const proto::Checkpoint& ckpt);
/// Checks the magic, version, size and checksum, then parses the payload. Errors name `path`.
StatusOr<proto::Checkpoint> DecodeCheckpoint(const std::string& bytes, const std::string& path);

/// The persistent states a checkpoint must hold: the session's state descriptors.
std::vector<proto::Buffer> CheckpointStates(const Session& session);
/// Every state of `expected` exactly once in `state` (and in `best_state` when it is
/// not empty) with the same dtype, shape and byte size, no other state, finite float
/// values; epoch >= 0, best_epoch -1 or in [1, epoch], 0 <= epochs_without_improvement <= epoch.
Status ValidateCheckpoint(const proto::Checkpoint& ckpt, const std::vector<proto::Buffer>& expected,
                          const std::string& path);

/// Encodes and writes atomically.
Status WriteCheckpoint(const std::string& path, const proto::Checkpoint& ckpt);
/// Reads, decodes and validates against `expected`.
StatusOr<proto::Checkpoint> ReadCheckpoint(const std::string& path, const std::vector<proto::Buffer>& expected);

/// A checkpoint of the session's current states (no early-stopping data).
proto::Checkpoint SessionCheckpoint(const Session& session);
/// Copies the states of a validated checkpoint into the session.
Status RestoreStates(Session& session, const google::protobuf::RepeatedPtrField<proto::Tensor>& states);

}  // namespace kiln::runtime
