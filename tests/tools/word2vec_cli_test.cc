// word2vec end to end: the skip-gram and CBOW example models, shrunk to a toy corpus of
// two topics, train with `kiln train` on `skipgram:` / `cbow:` data; `kiln embeddings`
// then finds each word's neighbours inside its own topic, ranks related pairs and writes
// the vectors in word2vec's text format. Bad uses are one-line errors.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tests/test_util.h"

namespace kiln {
namespace {

using testing::KilnResult;

const char* const kAnimals[] = {"cat", "dog", "horse", "cow", "sheep", "goat"};
const char* const kMachines[] = {"cpu", "disk", "ram", "bus", "cache", "chip"};

// 600 lines of 8 words, each line from one topic (a fixed LCG picks the words).
std::string WriteTopicCorpus(const std::string& dir) {
  uint32_t state = 12345;
  auto next = [&state] { return (state = state * 1664525u + 1013904223u) >> 16; };
  std::ostringstream text;
  for (int line = 0; line < 600; ++line) {
    const char* const* topic = line % 2 ? kAnimals : kMachines;
    for (int i = 0; i < 8; ++i) text << (i ? " " : "") << topic[next() % 6];
    text << "\n%\n";  // one document per line, as fortune's files
  }
  const std::string path = dir + "/topics.txt";
  std::ofstream(path) << text.str();
  return path;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Replace(std::string& s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

// The example model with a 12-word, 8-dimensional table trained on `corpus`.
std::string ShrinkExample(const std::string& example, const std::string& corpus, const std::string& dir) {
  std::string model = ReadAll(testing::SourcePath("examples/" + example + ".kiln.txt"));
  Replace(model, "[8000, 64]", "[12, 8]");
  Replace(model, "[-1, 64, 1]", "[-1, 8, 1]");
  Replace(model, "/usr/share/games/fortunes", corpus);
  Replace(model, "min_count=5", "min_count=1,sample=0");  // no subsampling of 12 equally common words
  Replace(model, "learning_rate: 0.002", "learning_rate: 0.02");
  const std::string path = dir + "/" + example + ".kiln.txt";
  std::ofstream(path) << model;
  return path;
}

bool SameTopic(const std::string& a, const std::string& b) {
  auto topic = [](const std::string& w) {
    for (const char* x : kAnimals) {
      if (w == x) return 0;
    }
    return 1;
  };
  return topic(a) == topic(b);
}

class Word2VecCliTest : public ::testing::TestWithParam<std::string> {};

TEST_P(Word2VecCliTest, LearnsTopicsAndWritesWord2VecText) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = ShrinkExample(GetParam(), WriteTopicCorpus(dir), dir);
  KilnResult r = testing::RunKiln("train " + model + " --quiet --threads 1 --epochs 6 -o " + dir + "/w.kiln");
  ASSERT_EQ(r.code, 0) << r.output;
  r = testing::RunKiln("embeddings " + dir + "/w.kiln --nearest cat,cpu --top 3 --pairs cat:dog,ram:bus,goat:chip -o " +
                       dir + "/vectors.txt");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("12 words, 8-dimensional vectors ('word_vectors')"), std::string::npos) << r.output;
  // Each word's 3 nearest neighbours share its topic.
  for (const std::string query : {"cat", "cpu"}) {
    const size_t at = r.output.find("\n" + query + ":");
    ASSERT_NE(at, std::string::npos) << r.output;
    std::istringstream line(
        r.output.substr(at + query.size() + 3, r.output.find('\n', at + 1) - at - query.size() - 3));
    std::string word, similarity;
    for (int i = 0; i < 3 && line >> word >> similarity; ++i) EXPECT_TRUE(SameTopic(query, word)) << r.output;
  }
  // Related pairs rank within their topic (1-5 of 11); an unrelated one beyond it.
  int rank = 0, of = 0;
  ASSERT_EQ(std::sscanf(r.output.c_str() + r.output.find("cat ~ dog"), "cat ~ dog: rank %d of %d", &rank, &of), 2);
  EXPECT_LE(rank, 5);
  EXPECT_EQ(of, 11);
  ASSERT_EQ(std::sscanf(r.output.c_str() + r.output.find("goat ~ chip"), "goat ~ chip: rank %d", &rank), 1);
  EXPECT_GT(rank, 5) << r.output;
  EXPECT_NE(r.output.find("Pairs: 3, median rank "), std::string::npos) << r.output;
  // word2vec's text format: "V D", then a word and D numbers per line.
  std::istringstream vectors(ReadAll(dir + "/vectors.txt"));
  int64_t v = 0, d = 0;
  vectors >> v >> d;
  EXPECT_EQ(v, 12);
  EXPECT_EQ(d, 8);
  std::string line;
  std::getline(vectors, line);
  int rows = 0;
  while (std::getline(vectors, line)) {
    std::istringstream fields(line);
    std::string word;
    double x;
    int n = 0;
    fields >> word;
    while (fields >> x) ++n;
    EXPECT_EQ(n, 8) << line;
    ++rows;
  }
  EXPECT_EQ(rows, 12);
}

INSTANTIATE_TEST_SUITE_P(Examples, Word2VecCliTest, ::testing::Values("word2vec_skipgram", "word2vec_cbow"));

TEST(Word2VecCliErrors, OneLineErrors) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = ShrinkExample("word2vec_skipgram", WriteTopicCorpus(dir), dir);
  testing::ExpectOneLineError(testing::RunKilnInSourceTree("embeddings examples/iris_mlp.kiln.txt"), 1,
                              "is not a word2vec spec");
  testing::ExpectOneLineError(testing::RunKiln("embeddings " + model + " --table nope"), 1,
                              "'nope' is not a [V, D] float initializer");
  testing::ExpectOneLineError(testing::RunKiln("embeddings " + model + " --pairs cat-dog"), 2,
                              "--pairs: 'cat-dog' is not A:B");
  testing::ExpectOneLineError(testing::RunKiln("embeddings " + model + " --top 0"), 2, "--top");
  testing::ExpectOneLineError(testing::RunKiln("embeddings " + model + " -o " + model), 1, "");
  testing::ExpectOneLineError(testing::RunKiln("embeddings"), 2, "expected one MODEL");
  // The untrained model's table has 12 rows; a spec with a larger vocabulary does not fit.
  std::string big;
  for (int i = 0; i < 30; ++i) big += "w" + std::string(1, static_cast<char>('a' + i % 26)) + std::to_string(i) + " ";
  std::ofstream(dir + "/big.txt") << big << "\n";
  testing::ExpectOneLineError(
      testing::RunKiln("embeddings " + model + " --data skipgram:" + dir + "/big.txt,min_count=1"), 1,
      "has 12 rows but the vocabulary");
}

}  // namespace
}  // namespace kiln
