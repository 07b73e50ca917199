// Text corpora, vocabularies and word2vec's samples (skip-gram and CBOW with negative
// sampling, after Mikolov et al. 2013 and the reference word2vec.c: dynamic windows,
// subsampling of frequent words, noise from the unigram distribution raised to 0.75).
#include "runtime/data/text.h"

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "ir/core/resource_limits.h"
#include "runtime/data/file_util.h"

namespace kiln::data {
namespace {

bool IsLetter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// The files a corpus path names: the file itself, or a directory's regular files.
StatusOr<std::vector<std::string>> CorpusFiles(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return NotFound(path, ": no such file or directory");
  if (!S_ISDIR(st.st_mode)) return std::vector<std::string>{path};
  DIR* dir = opendir(path.c_str());
  if (!dir) return InvalidArgument(path, ": cannot list the directory: ", std::strerror(errno));
  std::vector<std::string> files;
  while (const dirent* e = readdir(dir)) {
    const std::string file = path + "/" + e->d_name;
    struct stat fst;
    if (lstat(file.c_str(), &fst) == 0 && S_ISREG(fst.st_mode)) files.push_back(file);
  }
  closedir(dir);
  std::sort(files.begin(), files.end());
  if (files.empty()) return InvalidArgument(path, ": the directory holds no regular files");
  return files;
}

template <typename T>
Status ParseNumber(const std::string& value, const std::string& name, const std::string& spec, T* out) {
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), *out);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size()) {
    return InvalidArgument("data spec '", spec, "': ", name, "= needs a number, not '", value, "'");
  }
  return Status::Ok();
}

// Draws noise words from the unigram distribution raised to 0.75.
class NoiseSampler {
 public:
  explicit NoiseSampler(const Vocabulary& vocabulary) {
    double total = 0;
    for (int64_t c : vocabulary.counts) cumulative_.push_back(total += std::pow(static_cast<double>(c), 0.75));
  }
  int64_t Draw(SplitMix64& rng) const {
    const double u = static_cast<double>(rng.Next() >> 11) * 0x1.0p-53 * cumulative_.back();
    const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
    return std::min<int64_t>(it - cumulative_.begin(), static_cast<int64_t>(cumulative_.size()) - 1);
  }

 private:
  std::vector<double> cumulative_;
};

}  // namespace

std::vector<std::string> TokenizeWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  auto flush = [&] {
    while (!word.empty() && word.back() == '\'') word.pop_back();
    if (!word.empty()) words.push_back(word);
    word.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (IsLetter(c)) {
      word += static_cast<char>(c | 0x20);  // ASCII lower case
    } else if (c == '\'' && !word.empty() && i + 1 < text.size() && IsLetter(text[i + 1])) {
      word += c;
    } else {
      flush();
    }
  }
  flush();
  return words;
}

StatusOr<TextCorpus> ReadTextCorpus(const std::string& path) {
  ASSIGN_OR_RETURN(std::vector<std::string> files, CorpusFiles(path));
  TextCorpus corpus;
  for (const std::string& file : files) {
    ASSIGN_OR_RETURN(std::string text, internal::ReadDataFile(file));
    if (std::memchr(text.data(), '\0', text.size())) continue;  // binary (fortune's .dat index files)
    corpus.files.push_back(file);
    std::vector<std::string> document;
    size_t start = 0;
    while (start <= text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::vector<std::string> words = TokenizeWords(std::string_view(text).substr(start, end - start));
      if (words.empty()) {
        if (!document.empty()) corpus.documents.push_back(std::move(document));
        document.clear();
      } else {
        corpus.words += static_cast<int64_t>(words.size());
        document.insert(document.end(), words.begin(), words.end());
      }
      start = end + 1;
    }
    if (!document.empty()) corpus.documents.push_back(std::move(document));
  }
  if (corpus.words == 0)
    return InvalidArgument(path, ": no words (ASCII letters) in ", corpus.files.size(), " text file(s)");
  return corpus;
}

int64_t Vocabulary::Id(const std::string& word) const {
  const auto it = ids.find(word);
  return it == ids.end() ? -1 : it->second;
}

Vocabulary BuildVocabulary(const TextCorpus& corpus, int64_t min_count, int64_t max_size) {
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& document : corpus.documents) {
    for (const std::string& w : document) ++counts[w];
  }
  std::vector<std::pair<std::string, int64_t>> kept;
  for (auto& [word, count] : counts) {
    if (count >= min_count) kept.emplace_back(word, count);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (static_cast<int64_t>(kept.size()) > max_size) kept.resize(static_cast<size_t>(max_size));
  Vocabulary v;
  for (auto& [word, count] : kept) {
    v.ids.emplace(word, v.size());
    v.words.push_back(word);
    v.counts.push_back(count);
  }
  return v;
}

StatusOr<std::pair<std::string, Word2VecOptions>> ParseWord2VecSpec(bool cbow, const std::string& rest,
                                                                    const std::string& spec) {
  Word2VecOptions options;
  options.cbow = cbow;
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t comma = rest.find(',', start);
    parts.push_back(rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (parts[0].empty())
    return InvalidArgument("data spec '", spec, "': expected ", cbow ? "cbow" : "skipgram", ":PATH");
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    const std::string name = parts[i].substr(0, eq);
    const std::string value = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    if (name == "window") {
      RETURN_IF_ERROR(ParseNumber(value, name, spec, &options.window));
    } else if (name == "negatives") {
      RETURN_IF_ERROR(ParseNumber(value, name, spec, &options.negatives));
    } else if (name == "min_count") {
      RETURN_IF_ERROR(ParseNumber(value, name, spec, &options.min_count));
    } else if (name == "vocab") {
      RETURN_IF_ERROR(ParseNumber(value, name, spec, &options.vocabulary));
    } else if (name == "sample") {
      RETURN_IF_ERROR(ParseNumber(value, name, spec, &options.sample));
    } else if (name == "seed") {
      RETURN_IF_ERROR(ParseNumber(value, name, spec, &options.seed));
    } else {
      return InvalidArgument("data spec '", spec, "': unknown option '", parts[i],
                             "' (window=N, negatives=N, min_count=N, vocab=N, sample=X, seed=N)");
    }
  }
  if (options.window < 1 || options.window > 100) {
    return InvalidArgument("data spec '", spec, "': window=", options.window, " is outside [1, 100]");
  }
  if (options.negatives < 1 || options.negatives > 100) {
    return InvalidArgument("data spec '", spec, "': negatives=", options.negatives, " is outside [1, 100]");
  }
  if (options.min_count < 1) return InvalidArgument("data spec '", spec, "': min_count must be at least 1");
  if (options.vocabulary < 2) return InvalidArgument("data spec '", spec, "': vocab must be at least 2");
  if (!(options.sample >= 0 && options.sample < 1)) {
    return InvalidArgument("data spec '", spec, "': sample=", options.sample, " is outside [0, 1)");
  }
  return std::make_pair(parts[0], options);
}

StatusOr<Dataset> Word2VecSamples(const TextCorpus& corpus, const Vocabulary& vocabulary,
                                  const Word2VecOptions& options, const std::string& source) {
  if (vocabulary.size() < 2) {
    return InvalidArgument(source, ": only ", vocabulary.size(),
                           " word(s) occur at least min_count=", options.min_count,
                           " times; word vectors need at least 2");
  }
  SplitMix64 rng(options.seed);
  auto uniform = [&rng] { return static_cast<double>(rng.Next() >> 11) * 0x1.0p-53; };
  int64_t total = 0;
  for (int64_t c : vocabulary.counts) total += c;
  const double threshold = options.sample * static_cast<double>(total);
  const NoiseSampler noise(vocabulary);
  const int64_t k = options.negatives, w = options.window;
  const int64_t width = (options.cbow ? 2 * w + 1 : 2) + k;
  std::vector<float> features, labels;
  // One sample: its leading ids (context and center, or center and context), then K noise
  // words that differ from the true word.
  auto add = [&](const std::vector<int64_t>& leading, int64_t true_word) -> Status {
    for (int64_t id : leading) features.push_back(static_cast<float>(id));
    for (int64_t j = 0; j < k; ++j) {
      int64_t n = noise.Draw(rng);
      for (int tries = 0; n == true_word && tries < 16; ++tries) n = noise.Draw(rng);
      features.push_back(static_cast<float>(n));
    }
    labels.push_back(1.0f);
    labels.insert(labels.end(), static_cast<size_t>(k), 0.0f);
    const int64_t samples = static_cast<int64_t>(labels.size()) / (1 + k);
    if (samples % 4096) return Status::Ok();
    return CheckTensorSize(proto::DT_FLOAT, {samples, width}, source + " samples");
  };
  std::vector<int64_t> ids;
  for (const auto& document : corpus.documents) {
    ids.clear();
    for (const std::string& word : document) {
      const int64_t id = vocabulary.Id(word);
      if (id < 0) continue;
      if (threshold > 0) {  // word2vec.c: keep with (sqrt(f / t) + 1) * t / f
        const double f = static_cast<double>(vocabulary.counts[static_cast<size_t>(id)]);
        if ((std::sqrt(f / threshold) + 1) * threshold / f < uniform()) continue;
      }
      ids.push_back(id);
    }
    const int64_t n = static_cast<int64_t>(ids.size());
    for (int64_t i = 0; i < n; ++i) {
      if (options.cbow) {
        if (i < w || i + w >= n) continue;
        std::vector<int64_t> leading;
        for (int64_t j = i - w; j <= i + w; ++j) {
          if (j != i) leading.push_back(ids[static_cast<size_t>(j)]);
        }
        leading.push_back(ids[static_cast<size_t>(i)]);
        RETURN_IF_ERROR(add(leading, ids[static_cast<size_t>(i)]));
        continue;
      }
      const int64_t reach = w - static_cast<int64_t>(rng.Below(static_cast<uint64_t>(w)));  // 1..w
      for (int64_t j = std::max<int64_t>(0, i - reach); j <= std::min(n - 1, i + reach); ++j) {
        if (j == i) continue;
        RETURN_IF_ERROR(add({ids[static_cast<size_t>(i)], ids[static_cast<size_t>(j)]}, ids[static_cast<size_t>(j)]));
      }
    }
  }
  const int64_t samples = static_cast<int64_t>(features.size()) / width;
  if (samples == 0) {
    return InvalidArgument(source, ": no training samples (documents shorter than ", options.cbow ? 2 * w + 1 : 2,
                           " words after dropping rare ones)");
  }
  Dataset ds;
  ds.features = Tensor::FromVector(proto::DT_FLOAT, {samples, width}, features);
  ds.labels = Tensor::FromVector(proto::DT_FLOAT, {samples, 1 + k}, labels);
  ds.source = source;
  return ds;
}

StatusOr<Vocabulary> Word2VecVocabulary(const std::string& spec) {
  const size_t colon = spec.find(':');
  const std::string scheme = spec.substr(0, colon);
  if (colon == std::string::npos || (scheme != "skipgram" && scheme != "cbow")) {
    return InvalidArgument("data spec '", spec, "' is not a word2vec spec (skipgram:PATH,... or cbow:PATH,...)");
  }
  ASSIGN_OR_RETURN(auto parsed, ParseWord2VecSpec(scheme == "cbow", spec.substr(colon + 1), spec));
  ASSIGN_OR_RETURN(TextCorpus corpus, ReadTextCorpus(parsed.first));
  return BuildVocabulary(corpus, parsed.second.min_count, parsed.second.vocabulary);
}

StatusOr<DataSplits> LoadWord2VecSpec(bool cbow, const std::string& rest, const std::string& spec) {
  ASSIGN_OR_RETURN(auto parsed, ParseWord2VecSpec(cbow, rest, spec));
  const auto& [path, options] = parsed;
  ASSIGN_OR_RETURN(TextCorpus corpus, ReadTextCorpus(path));
  const Vocabulary vocabulary = BuildVocabulary(corpus, options.min_count, options.vocabulary);
  DataSplits splits;
  ASSIGN_OR_RETURN(splits.train, Word2VecSamples(corpus, vocabulary, options, spec));
  return splits;
}

}  // namespace kiln::data
