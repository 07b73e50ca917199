// `kiln predict DECODER --text`: the seq2seq addition example, trained briefly, writes its
// greedy decoder with the character vocabulary; predict encodes questions with it, prints
// the decoder's answer (the same as running the decoder on the ids by hand), its attention
// weights on request, and one-line errors for text or models it cannot take.
#include <gtest/gtest.h>

#include <sstream>

#include "compiler/compile.h"
#include "frontends/load_model.h"
#include "runtime/data/token_text.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;
Result Kiln(const std::string& args) { return testing::RunKilnInSourceTree(args); }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class PredictTextCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir());
    // One epoch on the 1,000 held-out problems: quick, and answers that are not all right.
    const std::string test =
        "examples/data/seq2seq_addition_test_x.npy.gz,examples/data/seq2seq_addition_test_y.npy.gz";
    Result r =
        Kiln("train examples/seq2seq_addition.kiln.txt --data 'npy:" + test + ";test=" + test +
             "' --epochs 1 --quiet --threads 1 --decoder-out " + *dir_ + "/adder.kiln -o " + *dir_ + "/trained.kiln");
    trained_ = r.code == 0;
    if (!trained_) std::fprintf(stderr, "training failed:\n%s\n", r.output.c_str());
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    if (!trained_) FAIL() << "the suite set-up (training the model) failed; see its message above";
  }
  static std::string Decoder() { return *dir_ + "/adder.kiln"; }

  static std::string* dir_;
  static bool trained_;
};
std::string* PredictTextCliTest::dir_ = nullptr;
bool PredictTextCliTest::trained_ = false;

// The CLI's answers are the decoder's: ids encoded and decoded here by hand, through a session.
TEST_F(PredictTextCliTest, AnswersAreTheDecodersOnePerLine) {
  const std::vector<std::string> questions = {"57+648", "9+1", "999+999", "0+0"};
  std::string args;
  for (const std::string& q : questions) args += " --text " + q;
  Result r = Kiln("predict " + Decoder() + args);
  ASSERT_EQ(r.code, 0) << r.output;
  const std::vector<std::string> lines = Lines(r.output);
  ASSERT_EQ(lines.size(), questions.size()) << r.output;

  auto model = LoadModel(Decoder());
  ASSERT_OK(model.status());
  ASSERT_EQ(model->training.greedy_decoding().tokens_size(), 14);
  ASSERT_EQ(model->graph->outputs().size(), 2u);  // decoded, attention/weights
  EXPECT_EQ(model->graph->outputs()[1]->name(), "attention/weights");
  CompileOptions options;
  options.batch_size = 1;
  auto plan = CompileToPlan(*model->graph, options);
  ASSERT_OK(plan.status());
  auto session = runtime::Session::Create(*plan);
  ASSERT_OK(session.status());
  const std::string digits = "0123456789";
  for (size_t i = 0; i < questions.size(); ++i) {
    std::vector<float> ids(7, 0.0f);  // pad 0, the digits 3-12, '+' 13
    for (size_t j = 0; j < questions[i].size(); ++j) {
      ids[j] = questions[i][j] == '+' ? 13.0f : 3.0f + static_cast<float>(questions[i][j] - '0');
    }
    auto out = testing::RunOnce(**session, {Tensor::FromVector(proto::DT_FLOAT, {1, 7}, ids)});
    ASSERT_OK(out.status());
    std::string answer;
    const float* decoded = (*out)[0].data_as<float>();
    for (int64_t s = 0; s < 5 && decoded[s] != 2.0f; ++s) {
      if (decoded[s] >= 3.0f && decoded[s] <= 12.0f) answer += digits[static_cast<size_t>(decoded[s] - 3.0f)];
    }
    EXPECT_EQ(lines[i], answer) << questions[i];
  }
}

// A row per answer token up to the stop token, a column per question character; the
// padding is masked, so each row's weights over the question sum to 1.
TEST_F(PredictTextCliTest, AttentionRowsSumToOneOverTheQuestion) {
  Result r = Kiln("predict " + Decoder() + " --text 57+648 --attention");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::vector<std::string> lines = Lines(r.output);
  ASSERT_GE(lines.size(), 4u) << r.output;
  EXPECT_EQ(lines[1], "  attention (rows: answer tokens, columns: question characters)");
  EXPECT_EQ(lines[2], "              5     7     +     6     4     8");
  size_t rows = 0;
  for (size_t i = 3; i < lines.size(); ++i, ++rows) {
    std::istringstream row(lines[i]);
    std::string token;
    row >> token;
    double w, sum = 0;
    int columns = 0;
    for (; row >> w; ++columns) sum += w;
    EXPECT_EQ(columns, 6) << lines[i];
    EXPECT_NEAR(sum, 1.0, 0.004) << lines[i];
    if (token == "<stop>") {  // the last row
      EXPECT_EQ(i + 1, lines.size()) << r.output;
    }
  }
  EXPECT_GE(rows, lines[0].size()) << r.output;  // a row per answer character (and the stop token)
  EXPECT_LE(rows, 5u) << r.output;               // the decoder's steps
}

// `kiln compile DECODER` embeds the vocabulary too: the executable's --text answers are
// predict's, over two batches of 2 (the last one partial).
TEST_F(PredictTextCliTest, CompiledDecoderAnswersTextLikePredict) {
  const std::string exe = *dir_ + "/adder";
  Result compiled = Kiln("compile " + Decoder() + " -o " + exe + " --batch 2");
  ASSERT_EQ(compiled.code, 0) << compiled.output;
  const std::string texts = " --text 57+648 --text 9+1 --text 999+999";
  Result predicted = Kiln("predict " + Decoder() + texts);
  ASSERT_EQ(predicted.code, 0) << predicted.output;
  Result ran = testing::RunShell(exe + texts);
  ASSERT_EQ(ran.code, 0) << ran.output;
  EXPECT_EQ(ran.output, predicted.output);
  EXPECT_EQ(Lines(ran.output).size(), 3u) << ran.output;
  Result bad = testing::RunShell(exe + " --text 57*6");
  EXPECT_EQ(bad.code, 1);
  EXPECT_EQ(bad.output, "adder: \"57*6\": character '*' at position 2 is not in the model's vocabulary\n");
}

TEST_F(PredictTextCliTest, TextAndModelsItCannotTakeAreOneLineErrors) {
  const std::string d = Decoder();
  testing::ExpectOneLineError(Kiln("predict " + d + " --text 57*6"), 1,
                              d + ": \"57*6\": character '*' at position 2 is not in the model's vocabulary");
  testing::ExpectOneLineError(Kiln("predict " + d + " --text 1234+5678"), 1,
                              d + ": \"1234+5678\" has 9 characters; the encoder reads at most 7");
  testing::ExpectOneLineError(Kiln("predict " + *dir_ + "/trained.kiln --text 1+2"), 1,
                              "a trained seq2seq model, not its greedy decoder");
  testing::ExpectOneLineError(Kiln("predict examples/iris_mlp.kiln.txt --text 1+2"), 1, "not a greedy decoder");
  EXPECT_EQ(Kiln("predict " + d + " --attention --image x.png").code, 2);
  EXPECT_EQ(Kiln("predict " + d + " --text 1+2 --image x.png").code, 2);
}

}  // namespace
}  // namespace kiln
