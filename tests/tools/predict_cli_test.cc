// End-to-end tests of `kiln predict --image`: a Fashion-MNIST MLP trained here for
// one epoch classifies test items redrawn as PNG/PGM at other sizes, colours and
// polarities the same as `kiln run` classifies the original 28x28 tensor; the
// trained model records its preprocessing; bad images are one-line errors, exit 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "frontends/tensor_io.h"
#include "ir/model_io.h"
#include "runtime/data/dataset.h"
#include "runtime/data/image.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

using Result = testing::KilnResult;
Result Kiln(const std::string& args) { return testing::RunKilnInSourceTree(args); }

void WriteFile(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

// The top class of `kiln predict` output for one image: "(class N)" of the first line after the file's.
int64_t TopClass(const std::string& output) {
  const size_t at = output.find("(class ");
  return at == std::string::npos ? -1 : std::stoll(output.substr(at + 7));
}

class PredictCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::MakeTempDir());
    model_ = new std::string(*dir_ + "/fmnist.kiln");
    Result r = Kiln(
        "train examples/fashion_mnist_mlp.kiln.txt --epochs 1 --validation-split 0 --quiet --threads 1 -o " + *model_);
    ASSERT_EQ(r.code, 0) << r.output;
    auto test = data::LoadDataSpec("fashion-mnist");
    ASSERT_TRUE(test.ok() && test->test) << test.status().message();
    test_ = new data::Dataset(std::move(*test->test));
  }
  static void TearDownTestSuite() {
    delete test_;
    delete model_;
    delete dir_;
  }
  void SetUp() override {
    if (!test_) FAIL() << "the suite set-up (training the model) failed; see its message above";
  }

  // Raw 0..255 pixels of test item i.
  static std::vector<float> Item(int64_t i) {
    const float* p = test_->features.data_as<float>() + i * 784;
    return std::vector<float>(p, p + 784);
  }
  // `kiln run` on item i scaled to [0, 1] (the training preprocessing): its class.
  static int64_t RunClass(int64_t i) {
    Tensor x(proto::DT_FLOAT, {1, 784});
    const std::vector<float> item = Item(i);
    for (int j = 0; j < 784; ++j) x.mutable_data_as<float>()[j] = item[j] / 255.0f;
    const std::string path = *dir_ + "/item" + std::to_string(i) + ".npy";
    EXPECT_OK(WriteTensorFile(path, x));
    const std::string out = *dir_ + "/out" + std::to_string(i);
    Result r = Kiln("run " + *model_ + " --input " + path + " --output-dir " + out);
    EXPECT_EQ(r.code, 0) << r.output;
    auto probs = ReadTensorFile(out + "/probs.npy");
    if (!probs.ok()) return -1;
    const float* p = probs->data_as<float>();
    return std::max_element(p, p + 10) - p;
  }

  static std::string* dir_;
  static std::string* model_;
  static data::Dataset* test_;
};
std::string* PredictCliTest::dir_ = nullptr;
std::string* PredictCliTest::model_ = nullptr;
data::Dataset* PredictCliTest::test_ = nullptr;

TEST_F(PredictCliTest, HelpAndUsage) {
  Result help = Kiln("predict --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("kiln predict fmnist.kiln --image examples/images/ankle_boot.png"), std::string::npos);
  EXPECT_NE(Kiln("--help").output.find("predict"), std::string::npos);
  EXPECT_EQ(Kiln("predict " + *model_).code, 2);  // no --image
  EXPECT_EQ(Kiln("predict " + *model_ + " --image x.png --top 0").code, 2);
  EXPECT_EQ(Kiln("predict " + *model_ + " --image x.png --fit square").code, 2);
}

TEST_F(PredictCliTest, TrainedModelRecordsItsPreprocessing) {
  auto m = ReadModelProto(*model_);
  ASSERT_TRUE(m.ok()) << m.status().message();
  const proto::InputPreprocessing& pre = m->training().input_preprocessing();
  EXPECT_EQ(pre.method(), "scale");
  ASSERT_EQ(pre.divisor_size(), 1);
  EXPECT_EQ(pre.divisor(0), 255.0f);

  // Standardization's statistics are recorded per feature and applied by predict.
  const std::string std_model = *dir_ + "/std.kiln";
  Result r = Kiln(
      "train examples/fashion_mnist_mlp.kiln.txt --epochs 1 --validation-split 0 --quiet --threads 1 "
      "--preprocess standardize -o " +
      std_model);
  ASSERT_EQ(r.code, 0) << r.output;
  auto sm = ReadModelProto(std_model);
  ASSERT_TRUE(sm.ok());
  const proto::InputPreprocessing& sp = sm->training().input_preprocessing();
  ASSERT_EQ(sp.method(), "standardize");
  ASSERT_EQ(sp.offset_size(), 784);
  ASSERT_EQ(sp.divisor_size(), 784);
  // The raw 28x28 item as a PGM, light on dark, resized 1:1: the input is (x - mean) / std.
  const std::vector<float> item = Item(0);
  std::string pgm = "P5 28 28 255\n";
  for (float v : item) pgm += static_cast<char>(static_cast<uint8_t>(v));
  WriteFile(*dir_ + "/item0.pgm", pgm);
  r = Kiln("predict " + std_model + " --image " + *dir_ + "/item0.pgm --fit resize --save-input " + *dir_ +
           "/std_in.npy");
  ASSERT_EQ(r.code, 0) << r.output;
  auto x = ReadTensorFile(*dir_ + "/std_in.npy");
  ASSERT_TRUE(x.ok());
  ASSERT_EQ(x->dims(), (Dims{1, 784}));
  for (int j = 0; j < 784; ++j) {
    ASSERT_NEAR(x->data_as<float>()[j], (item[j] - sp.offset(j)) / sp.divisor(j), 1e-4) << j;
  }
}

TEST_F(PredictCliTest, SampleImagesGetTheClassOfTheirOriginal) {
  // scripts/make_sample_images.py: test items 0, 2, 18, 9 redrawn.
  const std::vector<std::pair<std::string, int64_t>> samples = {
      {"ankle_boot.png", 0}, {"trouser.pgm", 2}, {"bag_transparent.png", 18}, {"sneaker_16bit.png", 9}};
  for (const auto& [file, item] : samples) {
    Result r = Kiln("predict " + *model_ + " --image examples/images/" + file);
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(TopClass(r.output), RunClass(item)) << file << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '%'), 3) << r.output;  // top 3
  }
  // A directory: every image, in name order, one batch.
  Result all = Kiln("predict " + *model_ + " --image examples/images --top 1 --batch 3");
  ASSERT_EQ(all.code, 0) << all.output;
  EXPECT_NE(all.output.find("examples/images/ankle_boot.png\n"), std::string::npos);
  EXPECT_NE(all.output.find("examples/images/trouser.pgm\n"), std::string::npos);
  EXPECT_EQ(std::count(all.output.begin(), all.output.end(), '%'), 4) << all.output;
}

// A compiled classifier's --image prints exactly what kiln predict prints (same conversion,
// same plan, same top 3), and refuses an image alongside --input.
TEST_F(PredictCliTest, CompiledExecutableImageMatchesPredict) {
  const std::string exe = *dir_ + "/classify";
  Result compiled = Kiln("compile " + *model_ + " -o " + exe + " --emit exe");
  ASSERT_EQ(compiled.code, 0) << compiled.output;
  for (const char* file : {"ankle_boot.png", "trouser.pgm", "bag_transparent.png", "sneaker_16bit.png"}) {
    const std::string image = std::string("examples/images/") + file;
    Result predicted = Kiln("predict " + *model_ + " --image " + image);
    ASSERT_EQ(predicted.code, 0) << predicted.output;
    std::string output;
    ASSERT_EQ(testing::RunCommand("cd '" + testing::SourcePath("") + "' && " + exe + " --image " + image, &output), 0)
        << output;
    EXPECT_EQ(output, predicted.output) << file;
  }
  std::string output;
  EXPECT_NE(testing::RunCommand(exe + " --image " + testing::SourcePath("examples/images/missing.png"), &output), 0);
  EXPECT_NE(output.find("missing.png"), std::string::npos) << output;
  EXPECT_NE(testing::RunCommand(exe + " --image a.png --input b.npy", &output), 0);
  EXPECT_NE(output.find("--image takes the place of --input"), std::string::npos) << output;
}

TEST_F(PredictCliTest, PngAtAnotherSizeMatchesRunOnTheOriginal) {
  for (int64_t item : {0, 1, 2, 3, 4}) {
    runtime::Image img;
    img.width = img.height = 28;
    img.channels = 1;
    img.pixels = Item(item);
    // x5 larger, dark on light, RGB.
    const runtime::Image big = runtime::Resize(img, 140, 140);
    testing::PngSpec spec;
    spec.width = spec.height = 140;
    spec.color_type = 2;
    std::vector<std::vector<uint8_t>> rows(140);
    for (int y = 0; y < 140; ++y) {
      for (int x = 0; x < 140; ++x) {
        const auto v = static_cast<uint8_t>(std::lround(255 - std::clamp(big.at(y, x), 0.0f, 255.0f)));
        rows[y].insert(rows[y].end(), {v, v, v});
      }
    }
    const std::string path = *dir_ + "/big" + std::to_string(item) + ".png";
    WriteFile(path, testing::EncodePng(spec, rows));
    Result r = Kiln("predict " + *model_ + " --image " + path + " --labels fashion-mnist --top 2");
    ASSERT_EQ(r.code, 0) << r.output;
    EXPECT_EQ(TopClass(r.output), RunClass(item)) << "item " << item << "\n" << r.output;
  }
}

TEST_F(PredictCliTest, LabelsOptions) {
  Result digits = Kiln("predict " + *model_ + " --image examples/images/trouser.pgm --labels digits --top 10");
  ASSERT_EQ(digits.code, 0) << digits.output;
  EXPECT_EQ(std::count(digits.output.begin(), digits.output.end(), '%'), 10);
  EXPECT_EQ(digits.output.find("Trouser"), std::string::npos);
  WriteFile(*dir_ + "/labels.txt", "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n");
  Result file = Kiln("predict " + *model_ + " --image examples/images/trouser.pgm --labels " + *dir_ + "/labels.txt");
  ASSERT_EQ(file.code, 0) << file.output;
  EXPECT_NE(file.output.find("  b "), std::string::npos) << file.output;
}

TEST_F(PredictCliTest, BadImagesAreOneLineErrors) {
  std::ifstream in(testing::SourcePath("examples/images/ankle_boot.png"), std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(png.size(), 1000u);
  WriteFile(*dir_ + "/cut.png", png.substr(0, png.size() / 2));
  WriteFile(*dir_ + "/notes.png", "not an image\n");
  const std::vector<std::pair<std::string, std::string>> cases = {
      {*dir_ + "/missing.png", "kiln: " + *dir_ + "/missing.png: no such file\n"},
      {*dir_ + "/cut.png", "kiln: " + *dir_ + "/cut.png: truncated PNG (the file ends early)\n"},
      {*dir_ + "/notes.png", "kiln: " + *dir_ + "/notes.png: not a PNG, PGM or PPM image\n"},
  };
  for (const auto& [file, message] : cases) {
    Result r = Kiln("predict " + *model_ + " --image " + file);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_EQ(r.output, message);
  }
  // A model that does not take images.
  Result iris = Kiln("predict examples/iris_mlp.kiln.txt --image examples/images/trouser.pgm");
  EXPECT_EQ(iris.code, 1);
  EXPECT_NE(iris.output.find("is not an image input"), std::string::npos) << iris.output;
}

}  // namespace
}  // namespace kiln
