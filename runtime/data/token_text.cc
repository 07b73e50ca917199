#include "runtime/data/token_text.h"

#include <cmath>

namespace kiln::data {
namespace {

// A character for an error message: printable as itself, else as \xNN.
std::string Shown(unsigned char c) {
  if (c >= 0x20 && c < 0x7f) return std::string("'") + static_cast<char>(c) + "'";
  char b[8];
  std::snprintf(b, sizeof b, "\\x%02x", c);
  return b;
}

}  // namespace

StatusOr<CharacterVocabulary> CharacterVocabulary::Create(const proto::GreedyDecoding& decoding, int64_t classes) {
  CharacterVocabulary v;
  v.tokens_.assign(decoding.tokens().begin(), decoding.tokens().end());
  const int64_t n = v.size();
  if (n == 0) return InvalidArgument("greedy_decoding has no tokens (the text of each token id)");
  if (classes > 0 && n != classes) {
    return InvalidArgument("greedy_decoding lists ", n, " tokens but the model's output has ", classes,
                           " classes per step");
  }
  v.pad_ = decoding.pad_token();
  v.start_ = decoding.start_token();
  v.stop_ = decoding.stop_token();
  for (const auto& [name, id] :
       {std::pair<const char*, int64_t>{"pad_token", v.pad_}, {"start_token", v.start_}, {"stop_token", v.stop_}}) {
    if (id < 0 || id >= n)
      return InvalidArgument("greedy_decoding: ", name, " ", id, " is not a token id in [0, ", n, ")");
  }
  for (int64_t id = 0; id < n; ++id) {
    if (id == v.pad_ || id == v.start_ || id == v.stop_) continue;
    const std::string& t = v.tokens_[static_cast<size_t>(id)];
    if (t.size() != 1) {
      return InvalidArgument("greedy_decoding: token ", id, " \"", t,
                             "\" is not one character (only pad, start and stop may be longer)");
    }
    const unsigned char c = static_cast<unsigned char>(t[0]);
    if (v.id_of_byte_[c] >= 0) {
      return InvalidArgument("greedy_decoding: tokens ", v.id_of_byte_[c], " and ", id, " are both ", Shown(c));
    }
    v.id_of_byte_[c] = id;
  }
  return v;
}

StatusOr<std::vector<float>> CharacterVocabulary::Encode(const std::string& text, int64_t length) const {
  std::vector<float> ids(static_cast<size_t>(length), static_cast<float>(pad_));
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (id_of_byte_[c] < 0) {
      return InvalidArgument("\"", text, "\": character ", Shown(c), " at position ", i,
                             " is not in the model's vocabulary");
    }
    if (static_cast<int64_t>(i) >= length) {
      return InvalidArgument("\"", text, "\" has ", text.size(), " characters; the encoder reads at most ", length);
    }
    ids[i] = static_cast<float>(id_of_byte_[c]);
  }
  return ids;
}

StatusOr<std::string> CharacterVocabulary::Decode(const float* ids, int64_t n) const {
  std::string text;
  for (int64_t i = 0; i < n; ++i) {
    const float f = ids[i];
    if (!(f >= 0 && f < static_cast<float>(size())) || f != std::floor(f)) {
      return InvalidArgument("decoded id ", f, " at step ", i, " is not a token id in [0, ", size(), ")");
    }
    const int64_t id = static_cast<int64_t>(f);
    if (id == stop_) break;
    if (id == pad_ || id == start_) continue;
    text += tokens_[static_cast<size_t>(id)];
  }
  return text;
}

}  // namespace kiln::data
