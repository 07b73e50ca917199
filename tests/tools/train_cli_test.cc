// End-to-end tests of `kiln train` and `kiln gradcheck`: the quick examples
// reach their stated results, trained models load and run (.kiln and ONNX),
// training is reproducible and resumable, and every kind of bad input is one
// line "kiln: ...", exit 1 (2 for the command line), and no output file.
#include <dirent.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "frontends/tensor_io.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;

// `kiln ARGS` run in the source tree (the examples name their data relative to it);
// training on one thread, which is fastest for these tiny models on a busy machine.
std::string Command(const std::string& args) {
  const bool train = args.rfind("train ", 0) == 0 && args.find("--help") == std::string::npos;
  return "cd '" + testing::SourcePath("") + "' && " + KILN_TOOL_PATH + " " + args + (train ? " --threads 1" : "");
}

// stdout and stderr together.
Result Kiln(const std::string& args) { return testing::RunShell(Command(args)); }

// Like Kiln, but only stderr: the error line, without the progress output.
Result KilnStderr(const std::string& args) { return testing::RunShell("{ " + Command(args) + " 2>&1 >/dev/null; }"); }

std::string Example(const std::string& file) { return "examples/" + file; }
const std::string kIris = "examples/iris_mlp.kiln.txt";

using testing::CountLines;

using testing::ExpectOneLineError;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Exists(const std::string& path) { return std::ifstream(path).good(); }

// Names in `dir` that start with `prefix` (an output file or its temporary).
std::vector<std::string> FilesStartingWith(const std::string& dir, const std::string& prefix) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      const std::string name = e->d_name;
      if (name.rfind(prefix, 0) == 0) names.push_back(name);
    }
    closedir(d);
  }
  return names;
}

#define EXPECT_NO_OUTPUT(dir) \
  EXPECT_TRUE(FilesStartingWith(dir, "out").empty()) << "left behind: " << FilesStartingWith(dir, "out")[0]

// "Test: loss X, accuracy Y (...)" -> Y; -1 when the line is missing.
double TestAccuracy(const std::string& output) {
  const size_t at = output.find("Test: loss ");
  if (at == std::string::npos) return -1;
  double loss = 0, accuracy = -1;
  if (std::sscanf(output.c_str() + at, "Test: loss %lf, accuracy %lf", &loss, &accuracy) != 2) return -1;
  return accuracy;
}

// The outputs of `kiln run MODEL --input INPUT`, read back from --output-dir.
Tensor RunModel(const std::string& model, const std::string& input, const std::string& dir) {
  Result r = Kiln("run " + model + " --input " + input + " --output-dir " + dir);
  EXPECT_EQ(r.code, 0) << r.output;
  auto t = ReadTensorFile(dir + "/probs.npy");
  EXPECT_TRUE(t.ok()) << t.status().message();
  return t.ok() ? *t : Tensor();
}

// A trained recurrent model exports with ONNX's own RNN/LSTM/GRU nodes (batch-first:
// `layout` 1, so opset 14), passes ONNX's checker and runs as the .kiln model does.
TEST(TrainCliTest, ExportsRecurrentModelsAsOnnxThatRunTheSame) {
  const std::string dir = testing::MakeTempDir();
  const std::string model = dir + "/rec.kiln.txt";
  std::ofstream(model) << R"(graph {
    name: "rec"
    input { name: "seq" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 6 } dims { size: 3 } }
    layer { name: "bi" bidirectional { lstm { units: 5 return_sequences: true } } }
    layer { name: "gru" gru { units: 4 return_sequences: true go_backwards: true } }
    layer { name: "rnn" simple_rnn { units: 3 } }
    layer { name: "probs" dense { units: 2 activation: "softmax" } }
  }
  training { optimizer: "adam" batch_size: 8 })";
  const Tensor x = testing::RandomTensor({32, 6, 3}, 7);
  Tensor y(proto::DT_INT64, {32});
  for (int64_t i = 0; i < 32; ++i) y.mutable_data_as<int64_t>()[i] = x.data_as<float>()[i * 18] > 0 ? 1 : 0;
  ASSERT_OK(WriteTensorFile(dir + "/x.npy", x));
  ASSERT_OK(WriteTensorFile(dir + "/y.npy", y));
  Result r = Kiln("train " + model + " --quiet --epochs 2 --data npy:" + dir + "/x.npy," + dir + "/y.npy -o " + dir +
                  "/rec.kiln --export-onnx " + dir + "/rec.onnx");
  ASSERT_EQ(r.code, 0) << r.output;
  Tensor from_kiln = RunModel(dir + "/rec.kiln", dir + "/x.npy", dir + "/kiln_out");
  Tensor from_onnx = RunModel(dir + "/rec.onnx", dir + "/x.npy", dir + "/onnx_out");
  ASSERT_EQ(from_kiln.dims(), (Dims{32, 2}));
  EXPECT_EQ(testing::CompareTensors(from_onnx, from_kiln, 1e-6, 0), "");
  Result dump = Kiln("dump " + dir + "/rec.onnx");
  ASSERT_EQ(dump.code, 0) << dump.output;
  for (const char* op : {"LSTM", "GRU", "RNN"}) EXPECT_NE(dump.output.find(op), std::string::npos) << dump.output;
}

// Iris with batch norm and dropout (state and a step-seeded RNG), trained by Adam.
std::string WriteDropoutModel(const std::string& dir) {
  const std::string path = dir + "/iris_dropout.kiln.txt";
  std::ofstream(path) << R"(graph {
    name: "iris_dropout"
    input { name: "features" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 4 } }
    layer { name: "dense1" dense { units: 16 activation: "relu" } }
    layer { name: "bn1" batch_norm {} }
    layer { name: "drop" dropout { rate: 0.3 } }
    layer { name: "probs" dense { units: 3 activation: "softmax" } }
  }
  training { data: "csv:examples/data/iris.csv" test_split: 0.5 preprocess: "minmax" optimizer: "adam" batch_size: 8 })";
  return path;
}

TEST(TrainCliTest, HelpExitsZero) {
  for (const char* cmd : {"train --help", "gradcheck --help", "train -h"}) {
    Result r = Kiln(cmd);
    EXPECT_EQ(r.code, 0) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("Usage: kiln "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("Examples:"), std::string::npos) << r.output;
  }
  EXPECT_NE(Kiln("train --help").output.find("csv:PATH"), std::string::npos);
}

TEST(TrainCliTest, ExamplesReachTheirStatedAccuracy) {
  const std::pair<const char*, double> examples[] = {
      {"perceptron_and.kiln.txt", 1.0}, {"perceptron_or.kiln.txt", 1.0}, {"perceptron_nand.kiln.txt", 1.0},
      {"xor_mlp.kiln.txt", 1.0},        {"and_221.kiln.txt", 1.0},       {"iris_mlp.kiln.txt", 0.9},
  };
  for (const auto& [file, want] : examples) {
    Result r = Kiln("train " + Example(file) + " --quiet");
    ASSERT_EQ(r.code, 0) << file << ": " << r.output;
    EXPECT_GE(TestAccuracy(r.output), want) << file << ": " << r.output;
    EXPECT_EQ(CountLines(r.output), 1) << file << " printed more than the test line with --quiet: " << r.output;
  }
}

TEST(TrainCliTest, WritesKilnAndOnnxModelsThatRun) {
  const std::string dir = testing::MakeTempDir();
  Result r = Kiln("train " + kIris + " --quiet --epochs 20 -o " + dir + "/m.kiln --export-onnx " + dir + "/m.onnx");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Wrote " + dir + "/m.kiln"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Wrote " + dir + "/m.onnx"), std::string::npos) << r.output;
  EXPECT_TRUE(FilesStartingWith(dir, "m.kiln.tmp").empty());

  Tensor from_kiln = RunModel(dir + "/m.kiln", Example("iris_sample.npy"), dir + "/kiln_out");
  Tensor from_onnx = RunModel(dir + "/m.onnx", Example("iris_sample.npy"), dir + "/onnx_out");
  ASSERT_EQ(from_kiln.dims(), (Dims{3, 3}));
  EXPECT_EQ(testing::CompareTensors(from_onnx, from_kiln, 1e-5, 0), "");
  // Probabilities, and not those of the untrained model.
  const float* p = from_kiln.data_as<float>();
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(p[3 * i] + p[3 * i + 1] + p[3 * i + 2], 1.0f, 1e-5f);
  Tensor untrained = RunModel(kIris, Example("iris_sample.npy"), dir + "/untrained_out");
  EXPECT_NE(testing::CompareTensors(from_kiln, untrained, 1e-4, 0), "");

  // The trained .kiln keeps the training block: it trains again.
  EXPECT_EQ(Kiln("train " + dir + "/m.kiln --quiet --epochs 1").code, 0);
}

TEST(TrainCliTest, SameSeedGivesIdenticalModels) {
  const std::string dir = testing::MakeTempDir();
  for (const char* name : {"a", "b"}) {
    ASSERT_EQ(Kiln("train " + kIris + " --quiet --epochs 3 --seed 7 -o " + dir + "/" + name + ".kiln").code, 0);
  }
  ASSERT_EQ(Kiln("train " + kIris + " --quiet --epochs 3 --seed 8 -o " + dir + "/c.kiln").code, 0);
  const std::string a = ReadBytes(dir + "/a.kiln");
  EXPECT_FALSE(a.empty());
  EXPECT_TRUE(a == ReadBytes(dir + "/b.kiln")) << "same seed, different models";
  EXPECT_FALSE(a == ReadBytes(dir + "/c.kiln")) << "the seed has no effect";
}

// Training 4 epochs straight and 2 + --resume to 4 give the same model, bit for bit:
// parameters, optimizer moments, the step counter (dropout masks) and BN statistics
// are all checkpoint state, and each epoch's order depends only on the seed and epoch.
TEST(TrainCliTest, ResumeMatchesStraightRun) {
  const std::string dir = testing::MakeTempDir();
  const std::string dropout = WriteDropoutModel(dir);
  for (const std::string& model : {kIris, dropout}) {
    const std::string ckpt = dir + "/ckpt";
    std::remove(ckpt.c_str());
    ASSERT_EQ(Kiln("train " + model + " --quiet --epochs 4 -o " + dir + "/straight.kiln").code, 0);
    Result first = Kiln("train " + model + " --quiet --epochs 2 --checkpoint " + ckpt);
    ASSERT_EQ(first.code, 0) << first.output;
    ASSERT_TRUE(Exists(ckpt));
    Result resumed =
        Kiln("train " + model + " --epochs 4 --checkpoint " + ckpt + " --resume -o " + dir + "/resumed.kiln");
    ASSERT_EQ(resumed.code, 0) << resumed.output;
    EXPECT_NE(resumed.output.find("Resuming from " + ckpt + " after epoch 2"), std::string::npos) << resumed.output;
    EXPECT_EQ(resumed.output.find("Epoch 1/4"), std::string::npos) << resumed.output;
    EXPECT_NE(resumed.output.find("Epoch 3/4"), std::string::npos) << resumed.output;
    EXPECT_TRUE(ReadBytes(dir + "/straight.kiln") == ReadBytes(dir + "/resumed.kiln")) << model;
  }
}

TEST(TrainCliTest, EarlyStopping) {
  // With --min-delta 10 no epoch improves on the first, so patience 1 stops at epoch 2.
  const std::string flags = " --validation-split 0.3 --epochs 20 --min-delta 10";
  Result stopped = Kiln("train " + kIris + flags + " --patience 1");
  ASSERT_EQ(stopped.code, 0) << stopped.output;
  EXPECT_NE(stopped.output.find("Epoch 2: early stopping (val_loss did not improve for 1 epochs; best "),
            std::string::npos)
      << stopped.output;
  EXPECT_NE(stopped.output.find("Restoring the weights of the best epoch (1)"), std::string::npos) << stopped.output;
  EXPECT_EQ(stopped.output.find("Epoch 3/20"), std::string::npos) << stopped.output;
  EXPECT_NE(stopped.output.find("Trained 2 epoch(s)"), std::string::npos) << stopped.output;
  EXPECT_GE(TestAccuracy(stopped.output), 0.0) << stopped.output;

  Result full = Kiln("train " + kIris + flags);
  ASSERT_EQ(full.code, 0) << full.output;
  EXPECT_EQ(full.output.find("early stopping"), std::string::npos) << full.output;
  EXPECT_NE(full.output.find("Trained 20 epoch(s)"), std::string::npos) << full.output;
}

// With --reduce-lr-min-delta 10 no epoch improves on the first: from epoch 2 on, patience 1
// halves the learning rate after every epoch, down to --reduce-lr-min.
TEST(TrainCliTest, ReduceLROnPlateau) {
  const std::string dir = testing::MakeTempDir();
  Result r = Kiln("train " + kIris +
                  " --epochs 5 --lr 0.01 --reduce-lr-patience 1 --reduce-lr-factor 0.5 --reduce-lr-min 0.002"
                  " --reduce-lr-min-delta 10 --report-json " +
                  dir + "/r.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Epoch 2: reducing the learning rate to 0.005 (loss did not improve for 1 epochs)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Epoch 3: reducing the learning rate to 0.0025"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Epoch 4: reducing the learning rate to 0.002 "), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Epoch 5: reducing"), std::string::npos) << r.output;  // at the floor
  // The report holds each epoch's rate (read from the step's state): 0.01 twice (and the
  // run's at the top), then 0.005, 0.0025 and 0.002.
  const std::string json = ReadBytes(dir + "/r.json");
  auto count = [&](const std::string& lr) {
    int n = 0;
    for (size_t at = json.find(lr); at != std::string::npos; at = json.find(lr, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("\"learning_rate\": 0.01\n"), 2) << json;  // epochs' last field: no comma
  EXPECT_EQ(count("\"learning_rate\": 0.01,"), 1) << json;   // the run's
  EXPECT_EQ(count("\"learning_rate\": 0.005\n"), 1) << json;
  EXPECT_EQ(count("\"learning_rate\": 0.0025\n"), 1) << json;
  EXPECT_EQ(count("\"learning_rate\": 0.002\n"), 1) << json;
  ExpectOneLineError(KilnStderr("train " + kIris + " --reduce-lr-factor 1.5"), 2,
                     "reduce_lr_on_plateau.factor (--reduce-lr-factor) must be in (0, 1), got 1.5");
}

TEST(TrainCliTest, BadDataIsOneLineAndWritesNothing) {
  const std::string dir = testing::MakeTempDir();
  const std::string out = " --quiet -o " + dir + "/out.kiln --export-onnx " + dir + "/out.onnx";

  // Labels 0..5 for a 3-class model.
  const std::string labels = dir + "/labels06.csv";
  {
    std::ofstream f(labels);
    for (int i = 0; i < 60; ++i) f << i * 0.1 << ",1,2,3," << i % 6 << "\n";
  }
  ExpectOneLineError(KilnStderr("train " + kIris + " --data " + labels + out), 1, "out of range [0, 3)");
  EXPECT_NO_OUTPUT(dir);

  // A bad test set is found before training, not after.
  Result bad_test = Kiln("train " + kIris + " --data 'csv:examples/data/iris.csv;test=" + labels + "'" + out);
  EXPECT_EQ(bad_test.code, 1) << bad_test.output;
  EXPECT_NE(bad_test.output.find("kiln: " + kIris + ": test data (" + labels + "): label 3 of sample"),
            std::string::npos)
      << bad_test.output;
  EXPECT_NO_OUTPUT(dir);

  // Iris (4 features) for a model with 784 inputs.
  const std::string wide = dir + "/wide.kiln.txt";
  {
    std::ifstream in(testing::SourcePath(kIris));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    text.replace(text.find("dims { size: 4 }"), 16, "dims { size: 784 }");
    std::ofstream(wide) << text;
  }
  ExpectOneLineError(KilnStderr("train " + wide + out), 1,
                     "training data (examples/data/iris.csv): samples have 4 features");
  EXPECT_NO_OUTPUT(dir);

  // Validation data with a different feature size: the message names the validation data.
  const std::string three = dir + "/three_features.csv";
  {
    std::ofstream f(three);
    for (int i = 0; i < 20; ++i) f << i << ",1,2," << i % 3 << "\n";
  }
  for (const char* preprocess : {"minmax", "standardize", "none"}) {
    Result r = KilnStderr("train " + kIris + " --validation-data " + three + " --preprocess " + preprocess + out);
    ExpectOneLineError(r, 1, "validation data (" + three + ")");
    EXPECT_NE(r.output.find("3 features"), std::string::npos) << r.output;
  }
  EXPECT_NO_OUTPUT(dir);

  // Missing files.
  ExpectOneLineError(KilnStderr("train " + kIris + " --data csv:" + dir + "/nope.csv" + out), 1,
                     dir + "/nope.csv: no such file");
  ExpectOneLineError(KilnStderr("train " + kIris + " --data npy:" + dir + "/x.npy," + dir + "/y.npy" + out), 1,
                     dir + "/x.npy: no such file");
  ExpectOneLineError(KilnStderr("train " + kIris + " --validation-data " + dir + "/nope.csv" + out), 1,
                     dir + "/nope.csv: no such file");
  ExpectOneLineError(KilnStderr("train " + dir + "/nope.kiln.txt" + out), 1, dir + "/nope.kiln.txt");

  // A truncated IDX file: the header declares 10 images of 2x2, the file has 3.
  const std::string images = dir + "/images.idx", idx_labels = dir + "/labels.idx";
  std::ofstream(images, std::ios::binary)
      << std::string("\0\0\x08\x03\0\0\0\x0a\0\0\0\x02\0\0\0\x02", 16) << std::string(12, '\x10');
  std::ofstream(idx_labels, std::ios::binary) << std::string("\0\0\x08\x01\0\0\0\x0a", 8) << std::string(10, '\1');
  ExpectOneLineError(KilnStderr("train " + kIris + " --data idx:" + images + "," + idx_labels + out), 1,
                     images + ": IDX header declares [10, 2, 2] (40 bytes of data) but the file has 12 (truncated)");
  // A header cut short.
  std::ofstream(images, std::ios::binary | std::ios::trunc) << std::string("\0\0\x08\x03\0\0\0\x0a\0\0", 10);
  ExpectOneLineError(KilnStderr("train " + kIris + " --data idx:" + images + "," + idx_labels + out), 1,
                     images + ": truncated IDX header");
  EXPECT_NO_OUTPUT(dir);

  // Corrupt gzip: a gzip header, then a deflate block of an invalid type.
  const std::string gz = dir + "/corrupt.csv.gz";
  std::ofstream(gz, std::ios::binary) << std::string("\x1f\x8b\x08\0\0\0\0\0\0\x03", 10)
                                      << std::string("\xff\xff\xff\xffgarbage", 11);
  ExpectOneLineError(KilnStderr("train " + kIris + " --data " + gz + out), 1, gz + ": corrupt gzip data");
  EXPECT_NO_OUTPUT(dir);
}

TEST(TrainCliTest, BadOptionsAreUsageErrors) {
  const std::string dir = testing::MakeTempDir();
  const std::string out = " -o " + dir + "/out.kiln";
  ExpectOneLineError(KilnStderr("train"), 2, "train: missing MODEL");
  ExpectOneLineError(KilnStderr("train " + kIris + " --frob"), 2, "unknown option '--frob'");
  ExpectOneLineError(KilnStderr("train " + kIris + " --loss foo" + out), 2, "unknown loss 'foo'");
  ExpectOneLineError(KilnStderr("train " + kIris + " --optimizer foo" + out), 2, "unknown optimizer 'foo'");
  ExpectOneLineError(KilnStderr("train " + kIris + " --preprocess foo" + out), 2, "unknown preprocessing 'foo'");
  ExpectOneLineError(KilnStderr("train " + kIris + " --monitor foo --patience 2" + out), 2, "unknown monitor 'foo'");
  ExpectOneLineError(KilnStderr("train " + kIris + " --epochs 0" + out), 2, "'--epochs' needs a positive integer");
  ExpectOneLineError(KilnStderr("train " + kIris + " --epochs -3" + out), 2, "'--epochs' needs a positive integer");
  ExpectOneLineError(KilnStderr("train " + kIris + " --batch 1.5" + out), 2, "'--batch' needs a positive integer");
  ExpectOneLineError(KilnStderr("train " + kIris + " --lr fast" + out), 2, "'--lr' needs a number");
  ExpectOneLineError(KilnStderr("train " + kIris + " --validation-split 1.5" + out), 2, "[0, 1)");
  ExpectOneLineError(KilnStderr("train " + kIris + " --resume" + out), 2, "--resume needs --checkpoint");
  EXPECT_NO_OUTPUT(dir);

  // The same mistakes in the model's training block are errors in that file.
  const std::string model = dir + "/bad_loss.kiln.txt";
  std::ofstream(model) << R"(graph {
    name: "p"
    input { name: "x" dtype: DT_FLOAT dims { symbol: "batch" } dims { size: 2 } }
    layer { name: "out" dense { units: 1 activation: "sigmoid" } }
  }
  training { data: "csv:examples/data/and.csv" loss: "hinge" })";
  ExpectOneLineError(KilnStderr("train " + model + out), 1, model + ": unknown loss 'hinge'");
  EXPECT_NO_OUTPUT(dir);
}

TEST(TrainCliTest, DivergingLossNamesEpochStepAndLastCheckpoint) {
  const std::string dir = testing::MakeTempDir();
  const std::string out = " -o " + dir + "/out.kiln --export-onnx " + dir + "/out.onnx";
  for (const char* flags : {" --loss mse", " --optimizer sgd --momentum 0"}) {
    Result r = KilnStderr("train " + kIris + " --quiet --lr 1e30" + flags + out);
    ExpectOneLineError(r, 1, kIris + ": the loss became ");
    EXPECT_NE(r.output.find("at epoch 1, step "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("last good checkpoint: none"), std::string::npos) << r.output;
    EXPECT_NO_OUTPUT(dir);
  }

  // Two good epochs with a checkpoint, then a learning rate that diverges in epoch 3.
  const std::string ckpt = dir + "/ckpt";
  ASSERT_EQ(Kiln("train " + kIris + " --quiet --epochs 2 --checkpoint " + ckpt).code, 0);
  const std::string good = ReadBytes(ckpt);
  Result r = KilnStderr("train " + kIris + " --quiet --epochs 4 --lr 1e30 --checkpoint " + ckpt + " --resume" + out);
  ExpectOneLineError(r, 1, "at epoch 3, step ");
  EXPECT_NE(r.output.find("last good checkpoint: " + ckpt + " (epoch 2)"), std::string::npos) << r.output;
  EXPECT_NO_OUTPUT(dir);
  EXPECT_TRUE(FilesStartingWith(dir, "ckpt.tmp").empty());
  EXPECT_TRUE(good == ReadBytes(ckpt)) << "the last good checkpoint was overwritten";

  // Divergence within a run that writes checkpoints: the last one written is named.
  std::remove(ckpt.c_str());
  Result fresh = KilnStderr("train " + kIris + " --quiet --epochs 4 --lr 1e30 --checkpoint " + ckpt + out);
  ExpectOneLineError(fresh, 1, "at epoch 1, step ");
  EXPECT_NO_OUTPUT(dir);
  EXPECT_FALSE(Exists(ckpt)) << "a checkpoint of diverged weights was written";

  // Resuming from the good checkpoint with a sane learning rate works, and matches a straight run.
  std::ofstream(ckpt, std::ios::binary) << good;
  Result resumed =
      Kiln("train " + kIris + " --quiet --epochs 4 --checkpoint " + ckpt + " --resume -o " + dir + "/resumed.kiln");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  ASSERT_EQ(Kiln("train " + kIris + " --quiet --epochs 4 -o " + dir + "/straight.kiln").code, 0);
  EXPECT_TRUE(ReadBytes(dir + "/straight.kiln") == ReadBytes(dir + "/resumed.kiln"));
}

TEST(TrainCliTest, BadCheckpointIsAnError) {
  const std::string dir = testing::MakeTempDir();
  const std::string ckpt = dir + "/ckpt";
  std::ofstream(ckpt, std::ios::binary) << "not a checkpoint \xff\xff\xff";
  ExpectOneLineError(
      KilnStderr("train " + kIris + " --quiet --checkpoint " + ckpt + " --resume -o " + dir + "/out.kiln"), 1,
      ckpt + ": not a Kiln checkpoint");
  EXPECT_NO_OUTPUT(dir);
  // A checkpoint of another model.
  ASSERT_EQ(Kiln("train " + Example("xor_mlp.kiln.txt") + " --quiet --epochs 1 --checkpoint " + ckpt).code, 0);
  ExpectOneLineError(
      KilnStderr("train " + kIris + " --quiet --checkpoint " + ckpt + " --resume -o " + dir + "/out.kiln"), 1, ckpt);
  EXPECT_NO_OUTPUT(dir);
}

TEST(TrainCliTest, Gradcheck) {
  Result r = Kiln("gradcheck " + kIris + " --loss sparse_categorical_crossentropy");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("dense1/kernel"), std::string::npos) << r.output;
  EXPECT_GE(CountLines(r.output), 6) << r.output;
  EXPECT_EQ(r.output.find("FAIL"), std::string::npos) << r.output;
  int ok_lines = 0;
  std::istringstream lines(r.output);
  for (std::string line; std::getline(lines, line);)
    ok_lines += line.size() > 2 && line.substr(line.size() - 2) == "ok";
  EXPECT_EQ(ok_lines, 4) << r.output;
  EXPECT_NE(r.output.find("4 parameter tensors, 0 above tolerance"), std::string::npos) << r.output;

  Result rules = Kiln("gradcheck --list-rules");
  ASSERT_EQ(rules.code, 0) << rules.output;
  for (const char* op : {"Conv", "Relu", "Gemm", "MatMul", "Softmax"}) {
    EXPECT_NE(rules.output.find(std::string("\n") + op + "\n"), std::string::npos) << op << " in:\n" << rules.output;
  }
  ExpectOneLineError(KilnStderr("gradcheck"), 2, "expected one MODEL");
  ExpectOneLineError(KilnStderr("gradcheck " + kIris + " --loss hinge"), 1, "unknown loss 'hinge'");
}

}  // namespace
TEST(TrainCliTest, DumpTrainShowsTheBackwardPassAndOptimizer) {
  Result r = Kiln("dump " + kIris + " --train --batch 32");
  ASSERT_EQ(r.code, 0) << r.output;
  for (const char* want :
       {"state:", "%dense1/kernel: float32[4, 64] <- %dense1/kernel/update:0", "SoftmaxCrossEntropyGrad", "EltwiseGrad",
        "MomentumUpdate", "%target: float32[32, 3]", "Plan:"}) {
    EXPECT_NE(r.output.find(want), std::string::npos) << want << " in:\n" << r.output;
  }
  Result dot = Kiln("dump " + kIris + " --train --format dot");
  ASSERT_EQ(dot.code, 0) << dot.output;
  EXPECT_EQ(dot.output.rfind("digraph", 0), 0u) << dot.output.substr(0, 200);
}

}  // namespace kiln
