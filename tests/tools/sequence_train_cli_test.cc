// `kiln train` on sequence models: the quick sequence examples reach their
// promises (binary addition with a simple RNN, noisy sine forecasts with LSTM and
// GRU), an embedding model trains on token ids, and sequence data that does not fit
// (ids outside the vocabulary, [T, F] samples of the wrong structure) is one line.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "frontends/tensor_io.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

struct Result {
  int code;
  std::string output;
};

// `kiln ARGS` in the source tree (the examples name their data relative to it), one thread.
Result Kiln(const std::string& args, bool stderr_only = false) {
  std::string command = "cd '" + testing::SourcePath("") + "' && " + KILN_TOOL_PATH + " " + args +
                        (args.rfind("train ", 0) == 0 ? " --threads 1" : "");
  if (stderr_only) command = "{ " + command + " 2>&1 >/dev/null; }";
  Result r;
  r.code = testing::RunCommand(command, &r.output);
  return r;
}

// "Test: loss X[, accuracy Y ...]" -> {X, Y}; -1 for what is missing.
std::pair<double, double> TestResult(const std::string& output) {
  const size_t at = output.find("Test: loss ");
  double loss = -1, accuracy = -1;
  if (at != std::string::npos) std::sscanf(output.c_str() + at, "Test: loss %lf, accuracy %lf", &loss, &accuracy);
  return {loss, accuracy};
}

TEST(SequenceTrainCliTest, BinaryAdditionGetsEveryHeldOutBitRight) {
  Result r = Kiln("train examples/binary_addition.kiln.txt --quiet");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(TestResult(r.output).second, 1.0) << r.output;
}

// Test MSE against the clean signal below the noise variance (one test each: ~30-45 s).
void ExpectSineForecastBeatsTheNoise(const std::string& example) {
  Result r = Kiln("train examples/" + example + ".kiln.txt --quiet --predict 2");
  ASSERT_EQ(r.code, 0) << example << ": " << r.output;
  // The forecasts as values next to the truth (not as classes).
  float predicted = 0, truth = 0;
  const size_t at = r.output.find("  #1     predicted ");
  ASSERT_NE(at, std::string::npos) << r.output;
  ASSERT_EQ(std::sscanf(r.output.c_str() + at, "  #1 predicted %f true %f", &predicted, &truth), 2) << r.output;
  EXPECT_LT(std::abs(predicted - truth), 0.3) << r.output;
  const double mse = TestResult(r.output).first;
  EXPECT_GE(mse, 0.0) << example << ": " << r.output;
  EXPECT_LT(mse, 0.01) << example << ": " << r.output;  // the noise variance
}
TEST(SequenceTrainCliTest, SineLstmBeatsTheNoiseVariance) { ExpectSineForecastBeatsTheNoise("sine_lstm"); }
TEST(SequenceTrainCliTest, SineGruBeatsTheNoiseVariance) { ExpectSineForecastBeatsTheNoise("sine_gru"); }

// Token ids [N, 6] -> embedding -> GRU -> whether id 3 occurs (learnable in a few epochs).
struct TokenData {
  std::string dir, model, x, y;
};
TokenData WriteTokenData(int64_t bad_id = -1) {
  TokenData d;
  d.dir = testing::MakeTempDir();
  d.model = d.dir + "/tokens.kiln.txt";
  d.x = d.dir + "/ids.npy";
  d.y = d.dir + "/labels.npy";
  std::ofstream(d.model) << R"(graph {
    input { name: "ids" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 6 } }
    layer { name: "emb" embedding { input_dim: 8 output_dim: 4 } }
    layer { name: "gru" gru { units: 8 } }
    layer { name: "has3" dense { units: 1 activation: "sigmoid" } }
  }
  training { loss: "binary_crossentropy" optimizer: "adam" learning_rate: 0.02 batch_size: 16 epochs: 15
             metrics: "accuracy" })";
  const int64_t n = 400;
  std::vector<int64_t> ids(n * 6), labels(n);
  uint32_t state = 12345;
  for (int64_t i = 0; i < n; ++i) {
    bool has3 = false;
    for (int t = 0; t < 6; ++t) {
      state = state * 1664525u + 1013904223u;
      ids[i * 6 + t] = (state >> 16) % 8;
      has3 = has3 || ids[i * 6 + t] == 3;
    }
    labels[i] = has3;
  }
  if (bad_id != -1) ids[5 * 6 + 2] = bad_id;
  EXPECT_OK(WriteTensorFile(d.x, Tensor::FromVector(proto::DT_INT64, {n, 6}, ids)));
  EXPECT_OK(WriteTensorFile(d.y, Tensor::FromVector(proto::DT_INT64, {n}, labels)));
  return d;
}

TEST(SequenceTrainCliTest, EmbeddingModelTrainsOnTokenIds) {
  TokenData d = WriteTokenData();
  Result r = Kiln("train " + d.model + " --quiet --test-split 0.25 --data npy:" + d.x + "," + d.y);
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_GE(TestResult(r.output).second, 0.9) << r.output;
}

TEST(SequenceTrainCliTest, TokenIdsOutsideTheVocabularyAreOneLine) {
  for (int64_t bad : {8, 1000}) {
    TokenData d = WriteTokenData(bad);
    Result r = Kiln("train " + d.model + " --quiet -o " + d.dir + "/out.kiln --data npy:" + d.x + "," + d.y, true);
    testing::ExpectOneLineError(r.code, r.output, 1, "kiln: ",
                                d.model + ": training data (" + d.x + "," + d.y + "): token id " + std::to_string(bad) +
                                    " of sample 5 (position 2) is outside the vocabulary [0, 8) of 'emb/Gather'");
    EXPECT_FALSE(std::ifstream(d.dir + "/out.kiln").good());
  }
  // A compiled trainer (which embeds the model) checks the ids the same way.
  {
    TokenData d = WriteTokenData(9);
    Result c = Kiln("compile " + d.model + " -o " + d.dir + "/trainer --train");
    ASSERT_EQ(c.code, 0) << c.output;
    Result r;
    r.code = testing::RunCommand(
        "{ " + d.dir + "/trainer --quiet --data npy:" + d.x + "," + d.y + " 2>&1 >/dev/null; }", &r.output);
    testing::ExpectOneLineError(r.code, r.output, 1, "trainer: ",
                                "training data (" + d.x + "," + d.y +
                                    "): token id 9 of sample 5 (position 2) is outside the vocabulary [0, 8)");
  }
  // Negative ids would wrap around in ONNX's Gather: refused too.
  TokenData negative = WriteTokenData(-2);
  Result r = Kiln("train " + negative.model + " --quiet --data npy:" + negative.x + "," + negative.y, true);
  testing::ExpectOneLineError(r.code, r.output, 1, "kiln: ", "token id -2 of sample 5 (position 2) is outside");
}

TEST(SequenceTrainCliTest, SequencesOfTheWrongStructureAreOneLine) {
  // The sine windows are [24, 1]; a model taking [12, 2] has as many values but other steps.
  const std::string dir = testing::MakeTempDir(), model = dir + "/wide.kiln.txt";
  std::ifstream in(testing::SourcePath("examples/sine_gru.kiln.txt"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  text.replace(text.find("dims { size: 24 } dims { size: 1 }"), 34, "dims { size: 12 } dims { size: 2 }");
  std::ofstream(model) << text;
  Result r = Kiln("train " + model + " --quiet", true);
  testing::ExpectOneLineError(r.code, r.output, 1, "kiln: ",
                              "training data (examples/data/sine_train_x.npy.gz,examples/data/sine_train_y.npy.gz): "
                              "samples have shape [24, 1] but "
                              "model input 'window' takes [12, 2] per sample");
}

// Keras' counts: the seed's SimpleRNN(128) over 2 inputs has 16,768 parameters.
TEST(SequenceTrainCliTest, DumpCountsParametersAsKerasDoes) {
  const std::string dir = testing::MakeTempDir(), model = dir + "/rnn.kiln.txt";
  std::ofstream(model) << R"(graph {
    input { name: "x" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 8 } dims { size: 2 } }
    layer { name: "rnn" simple_rnn { units: 128 } }
  })";
  Result raw = Kiln("dump " + model + " --raw");
  ASSERT_EQ(raw.code, 0) << raw.output;
  EXPECT_NE(raw.output.find("Total params: 16,768 (65.5 KiB)\n"), std::string::npos) << raw.output;
  EXPECT_EQ(raw.output.find("Non-trainable"), std::string::npos) << raw.output;
  // After the passes the bias is folded into the op's B; the model's count is still shown.
  Result compiled = Kiln("dump " + model);
  ASSERT_EQ(compiled.code, 0) << compiled.output;
  EXPECT_NE(compiled.output.find("As loaded: 16,768 params, 16,768 trainable"), std::string::npos) << compiled.output;
}

// The seq2seq example: Keras' count (embeddings 2 x 224, bidirectional LSTM 12,544, LSTM
// 20,736, attention 0, dense 8,256 and 910); the attention mask's two scalars are constants.
TEST(SequenceTrainCliTest, Seq2SeqExampleCountsParametersAsKerasDoes) {
  Result raw = Kiln("dump examples/seq2seq_addition.kiln.txt --raw");
  ASSERT_EQ(raw.code, 0) << raw.output;
  EXPECT_NE(raw.output.find("Trainable params: 42,894 (167.6 KiB)\n"), std::string::npos) << raw.output;
}

TEST(SequenceTrainCliTest, DecoderOutNeedsAGreedyDecodingBlock) {
  const std::string dir = testing::MakeTempDir();
  Result r = Kiln("train examples/binary_addition.kiln.txt --decoder-out " + dir + "/d.kiln", true);
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_EQ(r.output,
            "kiln: examples/binary_addition.kiln.txt: --decoder-out needs a greedy_decoding block in the model's "
            "training block\n");
}

}  // namespace
}  // namespace kiln
