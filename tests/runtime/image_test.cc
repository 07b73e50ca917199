// runtime/data/image.h: PNG (written here with libpng in every colour type) and PNM
// decoding, bad files as errors, and the image -> model input steps.
#include "runtime/data/image.h"

#include <gtest/gtest.h>
#include <png.h>
#include <zlib.h>

#include <cmath>
#include <fstream>

#include "tests/test_util.h"

namespace kiln::runtime {
namespace {

using testing::PngSpec;

std::string WritePng(const PngSpec& s, const std::vector<std::vector<uint8_t>>& rows) {
  const std::string png = testing::EncodePng(s, rows);
  EXPECT_FALSE(png.empty()) << "libpng write failed";
  return png;
}

void ExpectPixels(const Image& img, int channels, const std::vector<float>& want) {
  ASSERT_EQ(img.channels, channels);
  ASSERT_EQ(img.pixels.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) EXPECT_NEAR(img.pixels[i], want[i], 1e-3) << "sample " << i;
}

TEST(ImageDecodeTest, Gray8AndInterlaced) {
  for (bool interlace : {false, true}) {
    PngSpec s;
    s.interlace = interlace;
    auto img = DecodeImage(WritePng(s, {{0, 128, 255}, {10, 20, 30}}), "g.png");
    ASSERT_TRUE(img.ok()) << img.status().message();
    EXPECT_EQ(img->width, 3);
    EXPECT_EQ(img->height, 2);
    ExpectPixels(*img, 1, {0, 128, 255, 10, 20, 30});
  }
}

TEST(ImageDecodeTest, Gray1And16Bit) {
  PngSpec s;
  s.bit_depth = 1;
  s.width = 8;
  s.height = 1;
  auto bits = DecodeImage(WritePng(s, {{0b10100000}}), "b.png");
  ASSERT_TRUE(bits.ok()) << bits.status().message();
  ExpectPixels(*bits, 1, {255, 0, 255, 0, 0, 0, 0, 0});
  s.bit_depth = 16;
  s.width = 2;
  auto deep = DecodeImage(WritePng(s, {{0xFF, 0xFF, 0x80, 0x80}}), "d.png");
  ASSERT_TRUE(deep.ok()) << deep.status().message();
  ExpectPixels(*deep, 1, {255, 128});  // 0x8080 / 65535 * 255 = 128: no gamma conversion
}

TEST(ImageDecodeTest, RgbRgbaAndGrayAlphaCompositeOverWhite) {
  PngSpec s;
  s.width = 2;
  s.height = 1;
  s.color_type = PNG_COLOR_TYPE_RGB;
  auto rgb = DecodeImage(WritePng(s, {{255, 0, 0, 1, 2, 3}}), "rgb.png");
  ASSERT_TRUE(rgb.ok()) << rgb.status().message();
  ExpectPixels(*rgb, 3, {255, 0, 0, 1, 2, 3});
  s.color_type = PNG_COLOR_TYPE_RGB_ALPHA;
  auto rgba = DecodeImage(WritePng(s, {{0, 0, 0, 255, 0, 0, 0, 0}}), "rgba.png");
  ASSERT_TRUE(rgba.ok()) << rgba.status().message();
  ExpectPixels(*rgba, 3, {0, 0, 0, 255, 255, 255});  // opaque black, transparent -> white
  s.color_type = PNG_COLOR_TYPE_GRAY_ALPHA;
  s.bit_depth = 16;
  auto ga = DecodeImage(WritePng(s, {{0, 0, 0xFF, 0xFF, 0, 0, 0x80, 0x00}}), "ga.png");
  ASSERT_TRUE(ga.ok()) << ga.status().message();
  ExpectPixels(*ga, 1, {0, 255 * (1 - 0x8000 / 65535.0)});
}

TEST(ImageDecodeTest, PaletteWithTransparency) {
  PngSpec s;
  s.width = 3;
  s.height = 1;
  s.color_type = PNG_COLOR_TYPE_PALETTE;
  s.bit_depth = 4;
  s.palette = {10, 20, 30, 200, 100, 0, 0, 0, 0};
  s.trns = {255, 255, 0};  // entry 2 fully transparent
  auto img = DecodeImage(WritePng(s, {{0x01, 0x20}}), "p.png");
  ASSERT_TRUE(img.ok()) << img.status().message();
  ExpectPixels(*img, 3, {10, 20, 30, 200, 100, 0, 255, 255, 255});
}

TEST(ImageDecodeTest, Pnm) {
  auto p5 = DecodeImage(std::string("P5\n# comment\n2 1\n255\n") + '\x00' + '\xff', "a.pgm");
  ASSERT_TRUE(p5.ok()) << p5.status().message();
  ExpectPixels(*p5, 1, {0, 255});
  auto p2 = DecodeImage("P2 2 2 15\n0 15\n# c\n5 10\n", "b.pgm");
  ASSERT_TRUE(p2.ok()) << p2.status().message();
  ExpectPixels(*p2, 1, {0, 255, 85, 170});
  auto p3 = DecodeImage("P3 1 1 255 1 2 3", "c.ppm");
  ASSERT_TRUE(p3.ok()) << p3.status().message();
  ExpectPixels(*p3, 3, {1, 2, 3});
  auto p6 = DecodeImage(std::string("P6 1 1 65535\n") + std::string("\x80\x80\x00\x00\xff\xff", 6), "d.ppm");
  ASSERT_TRUE(p6.ok()) << p6.status().message();
  ExpectPixels(*p6, 3, {128, 0, 255});
}

void ExpectError(const std::string& bytes, const std::string& name, const std::string& fragment) {
  auto img = DecodeImage(bytes, name);
  ASSERT_FALSE(img.ok()) << name;
  EXPECT_EQ(img.status().message().rfind(name + ": ", 0), 0u) << img.status().message();
  EXPECT_NE(img.status().message().find(fragment), std::string::npos) << img.status().message();
}

TEST(ImageDecodeTest, BadFilesAreErrorsNamingTheFile) {
  PngSpec s;
  s.width = s.height = 64;
  std::vector<std::vector<uint8_t>> rows(64, std::vector<uint8_t>(64));
  for (int y = 0; y < 64; ++y) {
    for (int x = 0; x < 64; ++x) rows[y][x] = static_cast<uint8_t>((x * 37 + y * 11) & 0xFF);
  }
  const std::string png = WritePng(s, rows);
  for (size_t cut : {size_t{10}, size_t{40}, png.size() / 2, png.size() - 5}) {
    ExpectError(png.substr(0, cut), "cut.png", "truncated");
  }
  std::string corrupt = png;
  corrupt[png.size() / 2] ^= 0x55;  // an IDAT byte: CRC error
  ExpectError(corrupt, "crc.png", "corrupt PNG");
  ExpectError("", "empty.png", "empty");
  ExpectError("hello world", "text.png", "not a PNG, PGM or PPM");
  ExpectError("\xFF\xD8\xFF\xE0", "photo.jpg", "JPEG");
  ExpectError("P5\n2 2\n255\n\x01", "short.pgm", "truncated PNM");
  ExpectError("P2 2 1 255 1", "short2.pgm", "truncated PNM");
  ExpectError("P2 2 1 9 1 10", "over.pgm", "above maxval");
  ExpectError("P5 x 1 255 ", "bad.pgm", "expected the width");
  ExpectError("P4 1 1 ", "bits.pbm", "unsupported Netpbm type P4");
  // Absurd sizes are rejected before any allocation.
  ExpectError("P5 100000 100000 255\n", "huge.pgm", "too large");
  std::string big = WritePng(PngSpec{}, {{0, 0, 0}, {0, 0, 0}});
  big[16] = 0x00, big[17] = 0x01, big[18] = 0x00, big[19] = 0x00;  // IHDR width 65536
  const uLong crc = crc32(0, reinterpret_cast<const Bytef*>(big.data() + 12), 17);
  for (int i = 0; i < 4; ++i) big[29 + i] = static_cast<char>(crc >> (24 - 8 * i));
  ExpectError(big, "wide.png", "too large (65536x2");
  auto missing = ReadImageFile("/nonexistent/digit.png");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(), "/nonexistent/digit.png: no such file");
}

// Mutated PNG and PNM bytes decode or fail with a message naming the file: never a
// crash (libpng's longjmp errors), never a hang or a huge allocation.
TEST(ImageDecodeTest, MutatedFilesNeverCrash) {
  PngSpec s;
  s.width = s.height = 16;
  s.color_type = 6;  // RGBA
  std::vector<std::vector<uint8_t>> rows(16, std::vector<uint8_t>(64));
  for (int y = 0; y < 16; ++y) {
    for (int x = 0; x < 64; ++x) rows[y][x] = static_cast<uint8_t>(x * 7 + y * 3);
  }
  std::string pnm = "P6\n16 16\n255\n";
  for (int i = 0; i < 16 * 16 * 3; ++i) pnm += static_cast<char>(i);
  uint32_t state = 12345;
  auto next = [&]() { return state = state * 1664525u + 1013904223u; };
  for (const std::string& original : {WritePng(s, rows), pnm}) {
    for (int trial = 0; trial < 300; ++trial) {
      std::string bytes = original;
      const int edits = 1 + next() % 4;
      for (int e = 0; e < edits; ++e) bytes[next() % bytes.size()] = static_cast<char>(next() >> 24);
      if (next() % 4 == 0) bytes.resize(next() % bytes.size());
      auto img = DecodeImage(bytes, "m.png");
      if (img.ok()) {
        EXPECT_EQ(img->pixels.size(), static_cast<size_t>(img->width * img->height * img->channels));
      } else {
        EXPECT_EQ(img.status().message().rfind("m.png: ", 0), 0u) << img.status().message();
      }
    }
  }
}

Image Gray(int64_t w, int64_t h, float fill) {
  Image img;
  img.width = w, img.height = h, img.channels = 1;
  img.pixels.assign(static_cast<size_t>(w * h), fill);
  return img;
}

TEST(ImageInputTest, LightBackgroundIsInverted) {
  Image paper = Gray(10, 10, 240);
  paper.pixels[55] = 0;
  EXPECT_TRUE(HasLightBackground(paper));
  EXPECT_FALSE(HasLightBackground(Invert(paper)));
  proto::InputPreprocessing none;
  ImageInputOptions resize;
  resize.fit = ImageFit::kResize;
  auto t = ImageToInput(paper, {-1, 10, 10}, none, resize);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_FLOAT_EQ(t->data_as<float>()[55], 255.0f);
  EXPECT_FLOAT_EQ(t->data_as<float>()[0], 15.0f);
  resize.invert = ImageInputOptions::Invert::kNo;
  EXPECT_FLOAT_EQ(ImageToInput(paper, {-1, 10, 10}, none, resize)->data_as<float>()[0], 240.0f);
}

TEST(ImageInputTest, MnistFitCentresTheInkByMass) {
  // A 30x60 bar of ink in the corner of a 200x100 canvas.
  Image img = Gray(200, 100, 0);
  for (int64_t y = 5; y < 65; ++y) {
    for (int64_t x = 2; x < 32; ++x) img.pixels[y * 200 + x] = 200;
  }
  const Image fit = FitInk(img, 28, 20, true);
  int64_t x0 = 28, x1 = -1, y0 = 28, y1 = -1;
  double mass = 0, mx = 0, my = 0;
  for (int64_t y = 0; y < 28; ++y) {
    for (int64_t x = 0; x < 28; ++x) {
      const float v = fit.at(y, x);
      if (v > 0) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
      mass += v, mx += v * x, my += v * y;
    }
  }
  EXPECT_EQ(y1 - y0 + 1, 20);  // the longer side is 20 px
  EXPECT_EQ(x1 - x0 + 1, 10);
  EXPECT_NEAR(mx / mass, 13.5, 0.51);
  EXPECT_NEAR(my / mass, 13.5, 0.51);
  EXPECT_NEAR(fit.at(14, 14), 255.0f, 1e-3);  // the ink is stretched to full intensity
  const Image fashion = FitInk(img, 28, 28, false);
  EXPECT_NEAR(fashion.at(0, 14), 255.0f, 1e-3);  // longest side fills the frame
}

TEST(ImageInputTest, ResizeAveragesAreasAndRoundTrips) {
  Image img = Gray(4, 2, 0);
  img.pixels = {0, 10, 20, 30, 40, 50, 60, 70};
  const Image half = Resize(img, 2, 1);
  ExpectPixels(half, 1, {25, 45});
  // x5 up (bilinear) and back (area): close to the original (bilinear blurs by at
  // most a neighbour step, here 10 or 40) with the same mean.
  const Image back = Resize(Resize(img, 20, 10), 4, 2);
  double mean = 0, back_mean = 0;
  for (size_t i = 0; i < img.pixels.size(); ++i) {
    EXPECT_NEAR(back.pixels[i], img.pixels[i], 0.2 * 40) << i;
    mean += img.pixels[i], back_mean += back.pixels[i];
  }
  EXPECT_NEAR(back_mean, mean, 1e-3);
}

TEST(ImageInputTest, LayoutsAndPreprocessing) {
  Image rgb;
  rgb.width = rgb.height = 2, rgb.channels = 3;
  rgb.pixels = {255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255};
  proto::InputPreprocessing pre;
  pre.add_offset(0), pre.add_divisor(255);
  auto nchw = ImageToInput(rgb, {-1, 3, 2, 2}, pre);
  ASSERT_TRUE(nchw.ok()) << nchw.status().message();
  EXPECT_EQ(nchw->dims(), (Dims{1, 3, 2, 2}));
  const float* p = nchw->data_as<float>();
  EXPECT_EQ(std::vector<float>(p, p + 12), (std::vector<float>{1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 1}));
  auto nhwc = ImageToInput(rgb, {1, 2, 2, 3}, pre);
  ASSERT_TRUE(nhwc.ok());
  EXPECT_FLOAT_EQ(nhwc->data_as<float>()[1], 0.0f);
  EXPECT_FLOAT_EQ(nhwc->data_as<float>()[4], 1.0f);
  EXPECT_FALSE(ImageToInput(rgb, {-1, 5}, pre).ok());           // 5 is not a square
  EXPECT_FALSE(ImageToInput(rgb, {-1, 2, 2, 2, 2}, pre).ok());  // rank 5
  auto flat = ImageLayoutOf({-1, 784});
  ASSERT_TRUE(flat.ok());
  EXPECT_EQ(flat->width, 28);

  proto::InputPreprocessing standardize;
  standardize.set_method("standardize");
  for (int i = 0; i < 4; ++i) standardize.add_offset(10.0f * i), standardize.add_divisor(2.0f);
  float sample[4] = {10, 10, 30, 50};
  ASSERT_OK(ApplyInputPreprocessing(standardize, sample, 4));
  EXPECT_EQ(std::vector<float>(sample, sample + 4), (std::vector<float>{5, 0, 5, 10}));
  EXPECT_FALSE(ApplyInputPreprocessing(standardize, sample, 3).ok());

  proto::TrainingSpec spec;
  EXPECT_EQ(InputPreprocessingOf(spec).divisor(0), 255.0f);  // default: [0, 1]
  spec.set_preprocess("none");
  EXPECT_EQ(InputPreprocessingOf(spec).divisor_size(), 0);
  spec.set_preprocess("minmax");
  std::string warning;
  EXPECT_EQ(InputPreprocessingOf(spec, &warning).method(), "scale");
  EXPECT_NE(warning.find("minmax"), std::string::npos);
  *spec.mutable_input_preprocessing() = standardize;
  EXPECT_EQ(InputPreprocessingOf(spec).method(), "standardize");
}

TEST(ImageOutputTest, TopKAppliesSoftmaxToLogitsOnly) {
  const float probs[4] = {0.1f, 0.6f, 0.2f, 0.1f};
  auto top = TopK(probs, 4, 3);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 1);
  EXPECT_FLOAT_EQ(top[0].probability, 0.6f);
  EXPECT_EQ(top[1].index, 2);
  EXPECT_EQ(top[2].index, 0);  // ties: the lower index first
  const float logits[3] = {0.0f, std::log(3.0f), 0.0f};
  top = TopK(logits, 3, 5);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].index, 1);
  EXPECT_NEAR(top[0].probability, 0.6f, 1e-6);
  EXPECT_EQ(KnownClassNames("fashion-mnist")[9], "Ankle boot");
}

}  // namespace
}  // namespace kiln::runtime
