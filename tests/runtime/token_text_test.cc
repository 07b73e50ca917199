// The character vocabulary of seq2seq decoders (runtime/data/token_text.h): checked
// against the model, text <-> ids, and one-line errors naming the character and position.
#include "runtime/data/token_text.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace kiln::data {
namespace {

proto::GreedyDecoding Addition() {
  proto::GreedyDecoding d;
  d.set_decoder_offset(7);
  d.set_start_token(1);
  d.set_stop_token(2);
  for (const char* t : {"<pad>", "<start>", "<stop>", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "+"}) {
    d.add_tokens(t);
  }
  return d;
}

TEST(CharacterVocabularyTest, EncodesPaddedAndDecodesUpToStop) {
  auto v = CharacterVocabulary::Create(Addition(), 14);
  ASSERT_OK(v.status());
  auto ids = v->Encode("57+6", 7);
  ASSERT_OK(ids.status());
  EXPECT_EQ(*ids, (std::vector<float>{8, 10, 13, 9, 0, 0, 0}));
  const float decoded[] = {10, 3, 8, 2, 0};  // "705", stop, pad
  auto text = v->Decode(decoded, 5);
  ASSERT_OK(text.status());
  EXPECT_EQ(*text, "705");
  const float after_stop[] = {4, 2, 5};  // what follows the stop token is not the answer
  EXPECT_EQ(*v->Decode(after_stop, 3), "1");
  EXPECT_EQ(v->token(2), "<stop>");
}

TEST(CharacterVocabularyTest, TextErrorsNameTheCharacterAndPosition) {
  auto v = CharacterVocabulary::Create(Addition());
  ASSERT_OK(v.status());
  EXPECT_EQ(v->Encode("57*6", 7).status().message(),
            "\"57*6\": character '*' at position 2 is not in the model's vocabulary");
  EXPECT_EQ(v->Encode("5\n", 7).status().message(),
            "\"5\n\": character \\x0a at position 1 is not in the model's vocabulary");
  EXPECT_EQ(v->Encode("1234+5678", 7).status().message(),
            "\"1234+5678\" has 9 characters; the encoder reads at most 7");
  const float bad[] = {3, 14};
  EXPECT_EQ(v->Decode(bad, 2).status().message(), "decoded id 14 at step 1 is not a token id in [0, 14)");
}

TEST(CharacterVocabularyTest, RejectsVocabulariesThatDoNotFit) {
  EXPECT_EQ(CharacterVocabulary::Create(Addition(), 15).status().message(),
            "greedy_decoding lists 14 tokens but the model's output has 15 classes per step");
  proto::GreedyDecoding none = Addition();
  none.clear_tokens();
  EXPECT_FALSE(CharacterVocabulary::Create(none).ok());
  proto::GreedyDecoding long_token = Addition();
  long_token.set_tokens(13, "plus");
  EXPECT_EQ(CharacterVocabulary::Create(long_token).status().message(),
            "greedy_decoding: token 13 \"plus\" is not one character (only pad, start and stop may be longer)");
  proto::GreedyDecoding twice = Addition();
  twice.set_tokens(13, "0");
  EXPECT_EQ(CharacterVocabulary::Create(twice).status().message(), "greedy_decoding: tokens 3 and 13 are both '0'");
  proto::GreedyDecoding stop = Addition();
  stop.set_stop_token(14);
  EXPECT_EQ(CharacterVocabulary::Create(stop).status().message(),
            "greedy_decoding: stop_token 14 is not a token id in [0, 14)");
}

}  // namespace
}  // namespace kiln::data
