// Memory bombs in images: a few bytes of PNG must not make libpng or the decoder
// allocate what a chunk or the header declares (runtime/data/image.cc, resource policy).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <zlib.h>

#include <string>

#include "runtime/data/image.h"

namespace kiln::runtime {
namespace {

void Put32(std::string* s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s->push_back(static_cast<char>((v >> shift) & 0xff));
}

// A chunk with a correct CRC over `data`, but declaring `length` bytes.
std::string Chunk(const char* type, const std::string& data, uint32_t length) {
  std::string c;
  Put32(&c, length);
  std::string body = std::string(type, 4) + data;
  c += body;
  Put32(&c, static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(body.data()), body.size())));
  return c;
}

std::string Ihdr(uint32_t width, uint32_t height) {
  std::string d;
  Put32(&d, width);
  Put32(&d, height);
  d += std::string("\x08\x00\x00\x00\x00", 5);  // 8-bit gray, no interlace
  return Chunk("IHDR", d, 13);
}

const std::string kSignature("\x89PNG\r\n\x1a\n", 8);

long PeakRssKb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

TEST(ImageLimits, DeclaredHugeAncillaryChunksAreNotAllocated) {
  for (const char* type : {"tEXt", "zTXt", "iTXt", "iCCP", "sPLT", "eXIf", "unKn"}) {
    const std::string png = kSignature + Ihdr(1, 1) + Chunk(type, "", 1u << 30);  // 44 bytes for tEXt
    const long before = PeakRssKb();
    auto image = DecodeImage(png, "bomb.png");
    EXPECT_FALSE(image.ok()) << type;
    EXPECT_LT(PeakRssKb() - before, 100 * 1024) << type << ": peak RSS grew by more than 100 MB";
  }
}

TEST(ImageLimits, DeclaredHugeSidesAreRefusedBeforeRows) {
  for (auto [w, h] : {std::pair<uint32_t, uint32_t>{1000000, 1}, {1, 1000000}, {20000, 20000}, {0x7fffffff, 1}}) {
    const std::string png = kSignature + Ihdr(w, h) + Chunk("IEND", "", 0);
    const long before = PeakRssKb();
    auto image = DecodeImage(png, "wide.png");
    ASSERT_FALSE(image.ok()) << w << "x" << h;
    EXPECT_NE(image.status().message().find("wide.png"), std::string::npos) << image.status().message();
    EXPECT_LT(PeakRssKb() - before, 100 * 1024);
  }
}

TEST(ImageLimits, PnmHeadersDeclaringHugeImagesAreRefused) {
  for (const char* header : {"P5\n100000 100000\n255\n", "P6\n16384 16384\n65535\n", "P5\n4294967297 1\n255\n"}) {
    const long before = PeakRssKb();
    EXPECT_FALSE(DecodeImage(std::string(header) + "xx", "bomb.pgm").ok()) << header;
    EXPECT_LT(PeakRssKb() - before, 100 * 1024);
  }
}

}  // namespace
}  // namespace kiln::runtime
