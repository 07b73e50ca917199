// Text for word vectors: a corpus read from text files, tokenized into lower-case
// words, a vocabulary by frequency, and word2vec's training samples (skip-gram and
// CBOW with negative sampling) as a Dataset of token ids. The data specs
// `skipgram:PATH,...` and `cbow:PATH,...` (runtime/data/data_spec.cc) read through here.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ir/core/status.h"
#include "runtime/data/dataset.h"

namespace kiln::data {

/// Lower-case words: maximal runs of ASCII letters, with apostrophes inside a word
/// kept ("don't"); everything else (digits, punctuation, non-ASCII bytes) separates.
std::vector<std::string> TokenizeWords(std::string_view text);

/// Documents of words. A line without letters (a blank line, fortune's "%") ends a
/// document; word2vec's windows never cross one.
struct TextCorpus {
  std::vector<std::vector<std::string>> documents;
  std::vector<std::string> files;  // what was read, in order
  int64_t words = 0;
};
/// PATH: a text file (raw or gzip), or a directory whose regular files (symlinks are
/// skipped: they repeat files) are read in name order, binary files (a NUL byte) skipped.
StatusOr<TextCorpus> ReadTextCorpus(const std::string& path);

/// Word ids by frequency: the most frequent word is 0; ties in byte order.
struct Vocabulary {
  std::vector<std::string> words;
  std::vector<int64_t> counts;
  std::unordered_map<std::string, int64_t> ids;
  int64_t size() const { return static_cast<int64_t>(words.size()); }
  /// -1 for a word outside the vocabulary.
  int64_t Id(const std::string& word) const;
};
/// The words occurring at least `min_count` times, at most the `max_size` most frequent.
Vocabulary BuildVocabulary(const TextCorpus& corpus, int64_t min_count, int64_t max_size);

struct Word2VecOptions {
  bool cbow = false;           // false: skip-gram
  int64_t window = 5;          // skip-gram: up to `window` words each side (drawn per word, as word2vec);
                               // CBOW: exactly `window` each side
  int64_t negatives = 5;       // K noise words per sample, from the unigram distribution ^ 0.75
  int64_t min_count = 5;       // rarer words are dropped before windowing
  int64_t vocabulary = 10000;  // at most this many words (the most frequent)
  double sample = 1e-3;        // word2vec's subsampling of frequent words; 0: off
  uint64_t seed = 1;
};

/// "PATH[,window=N][,negatives=N][,min_count=N][,vocab=N][,sample=X][,seed=N]" after
/// "skipgram:" / "cbow:"; errors name the spec.
StatusOr<std::pair<std::string, Word2VecOptions>> ParseWord2VecSpec(bool cbow, const std::string& rest,
                                                                    const std::string& spec);

/// word2vec's samples as token ids (float32, like other id data):
///   skip-gram: features [N, 2 + K] = (center, context, K noise words)
///   CBOW:      features [N, 2W + 1 + K] = (2W context words, center, K noise words),
///              for the centers with a full window inside their document
///   labels float32 [N, 1 + K] = (1, 0, ..., 0): the true pair, then the noise.
/// Deterministic for a given seed. Refused when it would pass max_tensor_bytes.
StatusOr<Dataset> Word2VecSamples(const TextCorpus& corpus, const Vocabulary& vocabulary,
                                  const Word2VecOptions& options, const std::string& source);

/// The vocabulary a `skipgram:` / `cbow:` data spec trains with (what `kiln embeddings`
/// labels a trained table's rows with).
StatusOr<Vocabulary> Word2VecVocabulary(const std::string& spec);

/// The data spec `skipgram:...` / `cbow:...` (no test set: word vectors are judged by
/// their neighbours).
StatusOr<DataSplits> LoadWord2VecSpec(bool cbow, const std::string& rest, const std::string& spec);

}  // namespace kiln::data
