// libFuzzer target: the PNG/PGM/PPM decoder (runtime/data/image.cc). A small file must not
// cause a large allocation (libpng chunk and size limits, PNM header checks).
#include <cstdint>
#include <string>

#include "runtime/data/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  (void)kiln::runtime::DecodeImage(bytes, "fuzz.img");
  return 0;
}
