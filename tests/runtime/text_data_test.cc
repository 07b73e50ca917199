// runtime/data/text: tokenizer, corpus reading (files, directories, binary files
// skipped, documents), the vocabulary, word2vec's skip-gram and CBOW samples, the
// `skipgram:` / `cbow:` data specs and their errors.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <set>

#include "runtime/data/text.h"
#include "tests/test_util.h"

namespace kiln::data {
namespace {

std::string Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

TEST(TextData, TokenizerLowercasesAndKeepsInnerApostrophes) {
  EXPECT_EQ(TokenizeWords("Don't PANIC -- it's 42 o'clock, 'quoted' words' end."),
            (std::vector<std::string>{"don't", "panic", "it's", "o'clock", "quoted", "words", "end"}));
  EXPECT_EQ(TokenizeWords("caf\xc3\xa9 na\xc3\xafve"), (std::vector<std::string>{"caf", "na", "ve"}));
  EXPECT_TRUE(TokenizeWords("%\t 123 --").empty());
}

TEST(TextData, CorpusSplitsDocumentsAtLinesWithoutWordsAndSkipsBinaryFilesAndLinks) {
  const std::string dir = testing::MakeTempDir();
  Write(dir + "/a", "One two\nthree.\n%\nFour five\n\nsix\n");
  Write(dir + "/a.dat", std::string("index\0data", 10));
  ASSERT_EQ(symlink((dir + "/a").c_str(), (dir + "/a.u8").c_str()), 0);
  Write(dir + "/b", "seven");
  auto corpus = ReadTextCorpus(dir);
  ASSERT_OK(corpus.status());
  EXPECT_EQ(corpus->files, (std::vector<std::string>{dir + "/a", dir + "/b"}));
  EXPECT_EQ(corpus->words, 7);
  ASSERT_EQ(corpus->documents.size(), 4u);
  EXPECT_EQ(corpus->documents[0], (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(corpus->documents[1], (std::vector<std::string>{"four", "five"}));
  EXPECT_EQ(corpus->documents[3], (std::vector<std::string>{"seven"}));

  EXPECT_EQ(ReadTextCorpus(dir + "/missing").status().message(), dir + "/missing: no such file or directory");
  const std::string empty = Write(dir + "/../" + "no_words.txt", "123 456\n%\n");
  EXPECT_NE(ReadTextCorpus(empty).status().message().find("no words"), std::string::npos);
}

TEST(TextData, VocabularyByFrequencyThenBytesWithMinCountAndCap) {
  TextCorpus corpus;
  corpus.documents = {{"b", "a", "c", "a", "b", "d"}, {"a", "c", "b"}};
  const Vocabulary all = BuildVocabulary(corpus, 1, 100);
  EXPECT_EQ(all.words, (std::vector<std::string>{"a", "b", "c", "d"}));  // a, b: 3 each (a first), c 2, d 1
  EXPECT_EQ(all.counts, (std::vector<int64_t>{3, 3, 2, 1}));
  EXPECT_EQ(all.Id("c"), 2);
  EXPECT_EQ(all.Id("zebra"), -1);
  EXPECT_EQ(BuildVocabulary(corpus, 2, 100).words, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(BuildVocabulary(corpus, 1, 2).words, (std::vector<std::string>{"a", "b"}));
}

TextCorpus Numbers(int documents, int length) {
  TextCorpus corpus;
  const char* words[] = {"zero", "one", "two", "three", "four", "five", "six", "seven"};
  for (int d = 0; d < documents; ++d) {
    corpus.documents.emplace_back();
    for (int i = 0; i < length; ++i) corpus.documents.back().push_back(words[(d + i) % 8]);
  }
  return corpus;
}

TEST(TextData, SkipGramSamplesPairCentersWithTheirWindowAndNoise) {
  const TextCorpus corpus = Numbers(20, 10);
  const Vocabulary vocabulary = BuildVocabulary(corpus, 1, 100);
  Word2VecOptions options;
  options.window = 2;
  options.negatives = 3;
  options.sample = 0;
  auto ds = Word2VecSamples(corpus, vocabulary, options, "test");
  ASSERT_OK(ds.status());
  ASSERT_EQ(ds->features.dims().size(), 2u);
  EXPECT_EQ(ds->features.dims()[1], 2 + 3);
  EXPECT_EQ(ds->labels.dims(), (Dims{ds->size(), 4}));
  const float* f = ds->features.data_as<float>();
  const float* y = ds->labels.data_as<float>();
  // Every (center, context) pair is within 2 positions in a document: in this corpus,
  // word ids follow the cycle, so |position difference| = cyclic distance of the words.
  std::set<std::pair<int, int>> pairs;
  for (int64_t s = 0; s < ds->size(); ++s) {
    const std::string center = vocabulary.words[static_cast<size_t>(f[s * 5])];
    const std::string context = vocabulary.words[static_cast<size_t>(f[s * 5 + 1])];
    pairs.insert({static_cast<int>(f[s * 5]), static_cast<int>(f[s * 5 + 1])});
    EXPECT_NE(center, context);
    for (int j = 2; j < 5; ++j) {
      EXPECT_GE(f[s * 5 + j], 0);
      EXPECT_LT(f[s * 5 + j], vocabulary.size());
      EXPECT_NE(f[s * 5 + j], f[s * 5 + 1]) << "a noise word equals the true context word";
    }
    EXPECT_EQ(y[s * 4], 1.0f);
    EXPECT_EQ(y[s * 4 + 1] + y[s * 4 + 2] + y[s * 4 + 3], 0.0f);
  }
  // Windows of 1..2 each side over 200 words: between 2*(200-20) and 4*200 pairs.
  EXPECT_GE(ds->size(), 2 * 180);
  EXPECT_LE(ds->size(), 4 * 200);
  // The same seed gives the same samples; another seed others.
  auto again = Word2VecSamples(corpus, vocabulary, options, "test");
  ASSERT_OK(again.status());
  EXPECT_EQ(testing::CompareTensors(again->features, ds->features, 0, 0), "");
  options.seed = 2;
  auto other = Word2VecSamples(corpus, vocabulary, options, "test");
  ASSERT_OK(other.status());
  EXPECT_NE(testing::CompareTensors(other->features, ds->features, 0, 0), "");
}

TEST(TextData, CbowSamplesHoldFullWindowsOnly) {
  const TextCorpus corpus = Numbers(3, 9);
  const Vocabulary vocabulary = BuildVocabulary(corpus, 1, 100);
  Word2VecOptions options;
  options.cbow = true;
  options.window = 2;
  options.negatives = 2;
  options.sample = 0;
  auto ds = Word2VecSamples(corpus, vocabulary, options, "test");
  ASSERT_OK(ds.status());
  EXPECT_EQ(ds->features.dims(), (Dims{3 * (9 - 4), 2 * 2 + 1 + 2}));
  const float* f = ds->features.data_as<float>();
  // Document 0, center at position 2 ("two"): context zero, one, three, four.
  auto word = [&](int64_t i) { return vocabulary.words[static_cast<size_t>(f[i])]; };
  EXPECT_EQ(word(0), "zero");
  EXPECT_EQ(word(1), "one");
  EXPECT_EQ(word(2), "three");
  EXPECT_EQ(word(3), "four");
  EXPECT_EQ(word(4), "two");
  options.window = 5;
  EXPECT_NE(Word2VecSamples(corpus, vocabulary, options, "spec").status().message().find("no training samples"),
            std::string::npos);
}

TEST(TextData, SubsamplingDropsFrequentWords) {
  TextCorpus corpus;
  corpus.documents.emplace_back();
  for (int i = 0; i < 2000; ++i) corpus.documents[0].push_back(i % 10 ? "the" : "rare");
  const Vocabulary vocabulary = BuildVocabulary(corpus, 1, 100);
  Word2VecOptions options;
  options.sample = 0;
  auto all = Word2VecSamples(corpus, vocabulary, options, "test");
  options.sample = 1e-3;
  auto sampled = Word2VecSamples(corpus, vocabulary, options, "test");
  ASSERT_OK(all.status());
  ASSERT_OK(sampled.status());
  EXPECT_LT(sampled->size(), all->size() / 5);
}

TEST(TextData, DataSpecsAndTheirErrors) {
  const std::string dir = testing::MakeTempDir();
  std::string text;
  for (int i = 0; i < 50; ++i) text += "the cat sat on the mat and the dog sat on the log\n";
  const std::string path = Write(dir + "/t.txt", text);
  auto splits = LoadDataSpec("skipgram:" + path + ",window=2,negatives=4,min_count=1,seed=3");
  ASSERT_OK(splits.status());
  EXPECT_EQ(splits->train.features.dims()[1], 6);
  EXPECT_FALSE(splits->test.has_value());
  auto cbow = LoadDataSpec("cbow:" + path + ",window=1,negatives=2,min_count=1");
  ASSERT_OK(cbow.status());
  EXPECT_EQ(cbow->train.features.dims()[1], 5);
  auto vocabulary = Word2VecVocabulary("cbow:" + path + ",min_count=1");
  ASSERT_OK(vocabulary.status());
  EXPECT_EQ(vocabulary->words[0], "the");
  EXPECT_EQ(vocabulary->size(), 8);  // the cat sat on mat and dog log

  const std::pair<std::string, std::string> bad[] = {
      {"skipgram:" + path + ",window=0", "window=0 is outside [1, 100]"},
      {"skipgram:" + path + ",negatives=x", "negatives= needs a number, not 'x'"},
      {"skipgram:" + path + ",colour=red", "unknown option 'colour=red'"},
      {"skipgram:" + path + ",sample=1.5", "sample=1.5 is outside [0, 1)"},
      {"cbow:" + path + ",min_count=1000", "word vectors need at least 2"},
      {"skipgram:" + dir + "/none.txt", "none.txt: no such file or directory"},
      {"skipgram:", "nothing after 'skipgram:'"},
  };
  for (const auto& [spec, message] : bad) {
    auto r = LoadDataSpec(spec);
    ASSERT_FALSE(r.ok()) << spec;
    EXPECT_NE(r.status().message().find(message), std::string::npos) << spec << ": " << r.status().message();
  }
  EXPECT_NE(Word2VecVocabulary("npy:a,b").status().message().find("not a word2vec spec"), std::string::npos);
}

}  // namespace
}  // namespace kiln::data
