// File safety of every command that writes (dump, compile, train, run): an output that
// is an input (any spelling, symlink or hard link) or another output is refused before any
// work; output locations are checked before training; model formats follow the extension;
// devices are refused unless --force; bad hyperparameters and checkpoints are one line.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <tuple>

#include "tests/test_util.h"

namespace kiln {
namespace {

using testing::RunKilnInSourceTree;

const std::string kIris = "examples/iris_mlp.kiln.txt";

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

void ExpectError(const std::string& args, int code, const std::string& needle) {
  const testing::KilnResult r = RunKilnInSourceTree(args);
  testing::ExpectOneLineError(r.code, r.output, code, "kiln: ", needle);
}

// The iris model with one line of its text replaced.
std::string IrisWith(const std::string& dir, const std::string& from, const std::string& to) {
  std::string text = ReadBytes(testing::SourcePath(kIris));
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  const std::string path = dir + "/model_" + std::to_string(std::hash<std::string>()(to) % 100000) + ".kiln.txt";
  WriteBytes(path, text);
  return path;
}

TEST(FileSafetyCliTest, OutputThatIsTheInputIsRefused) {
  const std::string dir = testing::MakeTempDir(), model = dir + "/m.kiln.txt";
  const std::string original = ReadBytes(testing::SourcePath(kIris));
  WriteBytes(model, original);
  ASSERT_EQ(symlink(model.c_str(), (dir + "/soft").c_str()), 0);
  ASSERT_EQ(link(model.c_str(), (dir + "/hard.kiln.txt").c_str()), 0);
  ASSERT_EQ(mkdir((dir + "/sub").c_str(), 0755), 0);
  for (const std::string& out :
       {model, dir + "/./m.kiln.txt", dir + "/sub/../m.kiln.txt", dir + "/soft", dir + "/hard.kiln.txt"}) {
    ExpectError("dump " + model + " -o " + out, 2, "the same file as the model");
    if (out != dir + "/soft") {  // (plan names without an extension get .plan)
      ExpectError("compile " + model + " -o " + out + " --emit plan", 2, "the same file as the model");
    }
    ExpectError("compile " + model + " -o " + out + " --emit exe", 2, "the same file as the model");
    ExpectError("train " + model + " --epochs 1 -o " + (out == dir + "/soft" ? model : out), 2,
                "the same file as the model");
    ExpectError("train " + model + " --epochs 1 --checkpoint " + out, 2, "the same file as the model");
    ExpectError("train " + model + " --epochs 1 --report-json " + out, 2, "the same file as the model");
  }
  EXPECT_EQ(ReadBytes(model), original);
  // Two outputs of one command naming one file.
  ExpectError("train " + model + " --epochs 1 -o " + dir + "/t.onnx --export-onnx " + dir + "/./t.onnx", 2,
              "name the same file");
  ExpectError("train " + model + " --epochs 1 -o " + dir + "/t.kiln --checkpoint " + dir + "/sub/../t.kiln", 2,
              "name the same file");
  EXPECT_FALSE(Exists(dir + "/t.onnx"));
  EXPECT_FALSE(Exists(dir + "/t.kiln"));
}

TEST(FileSafetyCliTest, RunOutputsNeverOverwriteInputs) {
  const std::string dir = testing::MakeTempDir();
  const std::string sample = ReadBytes(testing::SourcePath("examples/iris_sample.npy"));
  WriteBytes(dir + "/probs.npy", sample);  // the model's output is named "probs"
  ExpectError("run " + kIris + " --input " + dir + "/probs.npy --output-dir " + dir, 1,
              "output 'probs' is the same file as the input");
  EXPECT_EQ(ReadBytes(dir + "/probs.npy"), sample);
  ExpectError("run " + kIris + " --input examples/iris_sample.npy --output-dir " + dir + "/missing/out", 1,
              "does not exist");
  ExpectError("run " + kIris + " --input examples/iris_sample.npy --output-dir " + dir + "/probs.npy", 1,
              "not a directory");
  const testing::KilnResult ok =
      RunKilnInSourceTree("run " + kIris + " --input examples/iris_sample.npy --output-dir " + dir + "/new");
  EXPECT_EQ(ok.code, 0) << ok.output;
  EXPECT_TRUE(Exists(dir + "/new/probs.npy"));
}

// Every output location is checked before the first epoch: nothing is trained (no
// "Epoch" line) and nothing is written when one of them cannot be written.
TEST(FileSafetyCliTest, OutputLocationsAreCheckedBeforeTraining) {
  const std::string dir = testing::MakeTempDir(), missing = dir + "/missing/";
  for (const std::string& opt : {"-o " + missing + "m.kiln", "--export-onnx " + missing + "m.onnx",
                                 "--report-json " + missing + "r.json", "--checkpoint " + missing + "ck"}) {
    const testing::KilnResult r = RunKilnInSourceTree("train " + kIris + " --epochs 2 -o " + dir + "/ok.kiln " + opt);
    testing::ExpectOneLineError(r.code, r.output, 1, "kiln: ", "directory " + dir + "/missing does not exist");
    EXPECT_EQ(r.output.find("Epoch"), std::string::npos) << r.output;
  }
  ExpectError("train " + kIris + " --epochs 1 --report-json " + dir, 1, "is a directory");
  ExpectError("dump " + kIris + " -o " + missing + "d.txt", 1, "does not exist");
  ExpectError("compile " + kIris + " -o " + missing + "m --emit lib", 1, "does not exist");
  ExpectError("compile " + kIris + " -o " + missing + "m --emit plan", 1, "does not exist");
  EXPECT_FALSE(Exists(dir + "/ok.kiln"));
}

TEST(FileSafetyCliTest, ModelFormatFollowsTheExtension) {
  const std::string dir = testing::MakeTempDir();
  const testing::KilnResult r = RunKilnInSourceTree("train " + kIris + " --epochs 1 --quiet -o " + dir + "/m.onnx");
  ASSERT_EQ(r.code, 0) << r.output;
  // ONNX bytes (the exporter's), which the ONNX importer loads.
  const testing::KilnResult dumped = RunKilnInSourceTree("dump " + dir + "/m.onnx");
  EXPECT_EQ(dumped.code, 0) << dumped.output;
  ASSERT_EQ(RunKilnInSourceTree("train " + kIris + " --epochs 1 --quiet -o " + dir + "/m.kiln.txt").code, 0);
  EXPECT_EQ(ReadBytes(dir + "/m.kiln.txt").rfind("ir_version", 0), 0u);  // protobuf text
  ASSERT_EQ(RunKilnInSourceTree("train " + kIris + " --epochs 1 --quiet -o " + dir + "/m.kiln").code, 0);
  EXPECT_EQ(RunKilnInSourceTree("dump " + dir + "/m.kiln").code, 0);
  for (const char* bad : {"m.bin", "m.txt", "m", "m.kiln.bak"}) {
    ExpectError("train " + kIris + " --epochs 1 -o " + dir + "/" + bad, 2, "unknown model format");
    EXPECT_FALSE(Exists(dir + "/" + bad));
  }
  ExpectError("train " + kIris + " --epochs 1 --export-onnx " + dir + "/e.kiln", 2, "must end in .onnx");
  // A model ONNX cannot hold is refused for an ONNX output before anything is compiled
  // (here before autodiff, which would refuse this op too, but later).
  std::string text = ReadBytes(testing::SourcePath("examples/iris_params.kiln.txt"));
  const std::string out = "  output { name: \"probs\" }";
  ASSERT_NE(text.find(out), std::string::npos);
  text.replace(text.find(out), out.size(),
               "  node { name: \"ko\" op_type: \"EltwiseGrad\" input: \"probs\" input: \"probs\" output: \"y\" "
               "attribute { name: \"function\" s: \"relu\" } }\n  output { name: \"y\" }");
  WriteBytes(dir + "/kiln_only.kiln.txt", text);
  ExpectError("train " + dir + "/kiln_only.kiln.txt --epochs 1 --data csv:examples/data/iris.csv --export-onnx " + dir +
                  "/k.onnx",
              1, "cannot export Kiln-only ops to ONNX: ko (EltwiseGrad)");
}

TEST(FileSafetyCliTest, DevicesAndFifosAreRefusedUnlessForced) {
  const std::string dir = testing::MakeTempDir();
  ExpectError("dump " + kIris + " -o /dev/null", 1, "/dev/null: is a character device");
  EXPECT_EQ(RunKilnInSourceTree("dump " + kIris + " -o /dev/null --force").code, 0);
  ASSERT_EQ(mkfifo((dir + "/fifo").c_str(), 0600), 0);
  ExpectError("dump " + kIris + " -o " + dir + "/fifo", 1, "is a FIFO");
  ASSERT_EQ(mkfifo((dir + "/fifo.plan").c_str(), 0600), 0);
  ExpectError("compile " + kIris + " -o " + dir + "/fifo.plan --emit plan", 1, "is a FIFO");
  ExpectError("compile " + kIris + " -o " + dir + "/fifo --emit exe", 1, "is a FIFO");
  ExpectError("train " + kIris + " --epochs 1 --report-json " + dir + "/fifo", 1, "is a FIFO");
  ExpectError("train " + kIris + " --epochs 1 --report-json /dev/null", 1, "character device");
  struct stat st;
  ASSERT_EQ(lstat((dir + "/fifo").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(FileSafetyCliTest, EmptyModelFilesAreErrors) {
  const std::string dir = testing::MakeTempDir();
  WriteBytes(dir + "/empty.kiln", "");
  ExpectError("compile " + dir + "/empty.kiln -o " + dir + "/e --emit plan", 1, "empty file, not a Kiln model");
  EXPECT_FALSE(Exists(dir + "/e.plan"));
  ExpectError("dump " + dir + "/empty.kiln", 1, "empty file");
  WriteBytes(dir + "/empty.kiln.txt", "# no graph\n");
  ExpectError("compile " + dir + "/empty.kiln.txt -o " + dir + "/e --emit plan", 1, "has no outputs");
  ExpectError("train " + dir + "/empty.kiln.txt --epochs 1 --data csv:examples/data/iris.csv", 1, "has no outputs");
}

TEST(FileSafetyCliTest, InvalidHyperparametersAreRefused) {
  // From the command line: usage errors.
  for (const auto& [flag, needle] : std::vector<std::pair<std::string, std::string>>{
           {"--lr -0.5", "learning_rate (--lr) must be > 0, got -0.5"},
           {"--lr 0", "learning_rate (--lr) must be > 0"},
           {"--lr nan", "'--lr' needs a number"},
           {"--momentum 1", "momentum (--momentum) must be in [0, 1)"},
           {"--beta2 1.5", "beta2 (--beta2)"},
           {"--epsilon 0", "epsilon (--epsilon) must be > 0"},
           {"--rho -1", "rho (--rho)"},
           {"--weight-decay -1", "weight_decay (--weight-decay)"},
           {"--clip-norm -1", "clip_norm (--clip-norm)"},
           {"--validation-split 1", "validation_split (--validation-split)"},
           {"--min-delta -1", "min_delta (--min-delta)"},
           {"--epochs -5", "'--epochs' needs a positive integer"},
           {"--batch 0", "'--batch' needs a positive integer"}}) {
    ExpectError("train " + kIris + " " + flag, 2, needle);
  }
  // From the model file's training block: errors of the file.
  const std::string dir = testing::MakeTempDir();
  for (const auto& [from, to, needle] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {"epochs: 150", "epochs: -5", "epochs (--epochs) must be in [1,"},
           {"epochs: 150", "epochs: 0", "epochs (--epochs)"},
           {"learning_rate: 0.01", "learning_rate: -0.5", "learning_rate (--lr) must be > 0, got -0.5"},
           {"learning_rate: 0.01", "learning_rate: nan", "learning_rate (--lr) must be > 0, got nan"},
           {"learning_rate: 0.01", "learning_rate: 0", "learning_rate (--lr) must be > 0, got 0"},
           {"momentum: 0.9", "momentum: -0.9", "momentum (--momentum)"},
           {"batch_size: 32", "batch_size: -1", "batch_size (--batch)"},
           {"test_split: 0.5", "test_split: 1.5", "test_split (--test-split)"},
           {"metrics: \"accuracy\"", "metrics: \"accuracy\" early_stopping { patience: -2 }",
            "early_stopping.patience (--patience)"},
           {"units: 64 activation: \"relu\" } }",
            "units: 64 activation: \"relu\" } }\n  layer { name: \"bn\" batch_norm { epsilon: 0 } }",
            "layer 'bn' (BatchNorm): epsilon must be > 0"}}) {
    const std::string model = IrisWith(dir, from, to);
    ExpectError("train " + model + " --epochs 1", 1, needle);
    ExpectError("train " + model, 1, needle);
  }
  // The file is checked on its own: a flag that would override the bad value does not hide it.
  const std::string lr = IrisWith(dir, "learning_rate: 0.01", "learning_rate: -1");
  ExpectError("train " + lr + " --epochs 1 --lr 0.05", 1, "learning_rate (--lr) must be > 0, got -1");
  ExpectError("dump " + lr + " --train", 1, "learning_rate (--lr) must be > 0, got -1");
}

// --resume accepts only a checkpoint of this training step; everything else is one line
// and trains nothing.
TEST(FileSafetyCliTest, ResumeRejectsAnythingButAMatchingCheckpoint) {
  const std::string dir = testing::MakeTempDir(), ck = dir + "/ck";
  const std::string train = "train " + kIris + " --epochs 2 --quiet --checkpoint " + ck + " --resume";
  WriteBytes(ck, "");
  ExpectError(train, 1, "empty file, not a Kiln checkpoint");
  WriteBytes(ck, std::string("\x10\x05", 2));  // a valid protobuf Checkpoint {epoch: 5}
  ExpectError(train, 1, "no KILNCKPT header");
  // A real checkpoint of another model (64 -> 32 hidden units).
  const std::string other = IrisWith(dir, "units: 64", "units: 32");
  ASSERT_EQ(RunKilnInSourceTree("train " + other + " --epochs 1 --quiet --checkpoint " + dir + "/other.ck").code, 0);
  const std::string other_ck = ReadBytes(dir + "/other.ck");
  WriteBytes(ck, other_ck);
  ExpectError(train, 1, "but the training step has");
  // A matching checkpoint with one flipped byte.
  ASSERT_EQ(RunKilnInSourceTree("train " + kIris + " --epochs 1 --quiet --checkpoint " + ck).code, 0);
  std::string good = ReadBytes(ck);
  ASSERT_EQ(good.rfind("KILNCKPT", 0), 0u);
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x40;
  WriteBytes(ck, bad);
  ExpectError(train, 1, "checksum mismatch");
  WriteBytes(ck, good.substr(0, good.size() - 7));
  ExpectError(train, 1, "truncated");
  // The good one resumes: one more epoch after the first.
  WriteBytes(ck, good);
  const testing::KilnResult r = RunKilnInSourceTree("train " + kIris + " --epochs 2 --checkpoint " + ck + " --resume");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("Resuming from " + ck + " after epoch 1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Epoch 2/2"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Epoch 1/2"), std::string::npos) << r.output;
}

// Early stopping is part of the checkpoint: a resumed run that had stopped trains no
// further, and restores the best weights the checkpoint kept.
TEST(FileSafetyCliTest, EarlyStoppedCheckpointStaysStopped) {
  const std::string dir = testing::MakeTempDir(), ck = dir + "/ck";
  // min_delta 10: no epoch improves on the first, so training stops after 1 + patience.
  const std::string args =
      "train " + kIris + " --epochs 20 --patience 1 --min-delta 10 --monitor loss --checkpoint " + ck;
  const testing::KilnResult first = RunKilnInSourceTree(args + " -o " + dir + "/a.kiln");
  ASSERT_EQ(first.code, 0) << first.output;
  ASSERT_NE(first.output.find("early stopping"), std::string::npos) << first.output;
  const testing::KilnResult resumed = RunKilnInSourceTree(args + " --resume -o " + dir + "/b.kiln");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  EXPECT_EQ(resumed.output.find("Epoch 3/20"), std::string::npos) << resumed.output;
  EXPECT_EQ(ReadBytes(dir + "/a.kiln"), ReadBytes(dir + "/b.kiln"));  // the same best weights
}

// A final write that fails anyway (here: a disk that is full, /dev/full behind a
// symlink with --force) names the checkpoint, which holds the trained weights:
// --resume then writes exactly the model of the uninterrupted run. A failed report
// costs no model.
TEST(FileSafetyCliTest, LateWriteFailureLosesNoWeights) {
  const std::string dir = testing::MakeTempDir(), ck = dir + "/ck";
  ASSERT_EQ(symlink("/dev/full", (dir + "/full.kiln").c_str()), 0);
  ASSERT_EQ(symlink("/dev/full", (dir + "/full.json").c_str()), 0);
  const std::string args = "train " + kIris + " --epochs 3 --quiet ";
  const testing::KilnResult failed =
      RunKilnInSourceTree(args + "--checkpoint " + ck + " -o " + dir + "/full.kiln --force");
  EXPECT_EQ(failed.code, 1) << failed.output;
  EXPECT_NE(failed.output.find("the trained weights are kept in " + ck), std::string::npos) << failed.output;
  const testing::KilnResult resumed =
      RunKilnInSourceTree(args + "--checkpoint " + ck + " --resume -o " + dir + "/r.kiln");
  ASSERT_EQ(resumed.code, 0) << resumed.output;
  ASSERT_EQ(RunKilnInSourceTree(args + "-o " + dir + "/straight.kiln").code, 0);
  EXPECT_EQ(ReadBytes(dir + "/r.kiln"), ReadBytes(dir + "/straight.kiln"));
  const testing::KilnResult report =
      RunKilnInSourceTree(args + "--report-json " + dir + "/full.json --force -o " + dir + "/with_report.kiln");
  EXPECT_EQ(report.code, 1) << report.output;
  EXPECT_NE(report.output.find("full.json"), std::string::npos) << report.output;
  EXPECT_EQ(ReadBytes(dir + "/with_report.kiln"), ReadBytes(dir + "/straight.kiln"));
}

}  // namespace
}  // namespace kiln
