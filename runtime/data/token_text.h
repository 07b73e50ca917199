// Text <-> token ids for sequence-to-sequence models with a character vocabulary
// (TrainingSpec.greedy_decoding.tokens, written into the model by `kiln train`): how
// `kiln predict --text` turns a question into encoder ids and decoded ids into an answer.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/kiln.pb.h"

namespace kiln::data {

class CharacterVocabulary {
 public:
  /// Checks `decoding.tokens`: one entry per id (`classes` of them when > 0: the model's
  /// output vocabulary), pad/start/stop ids inside it, every other token exactly one
  /// character (byte) and no character twice.
  static StatusOr<CharacterVocabulary> Create(const proto::GreedyDecoding& decoding, int64_t classes = 0);

  /// The ids of `text`, right-padded with the pad id to `length`. Errors name the first
  /// character outside the vocabulary (and its 0-based position) or the excess length.
  StatusOr<std::vector<float>> Encode(const std::string& text, int64_t length) const;
  /// The text of decoded ids up to (without) the stop token; pad and start ids are skipped.
  /// An id outside the vocabulary is an error.
  StatusOr<std::string> Decode(const float* ids, int64_t n) const;
  /// The text of one id ("<stop>" etc. for the special ones, as the model names them).
  const std::string& token(int64_t id) const { return tokens_[static_cast<size_t>(id)]; }
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  int64_t stop() const { return stop_; }

 private:
  std::vector<std::string> tokens_;
  std::vector<int64_t> id_of_byte_ = std::vector<int64_t>(256, -1);
  int64_t pad_ = 0, start_ = 0, stop_ = 0;
};

}  // namespace kiln::data
