// libFuzzer target: the training-data loaders (runtime/data): the same bytes as a CSV
// file, as IDX images/labels, as .npy features/labels (raw or gzip, detected from
// the content) and as a word2vec text corpus (skip-gram and CBOW samples). Declared sizes must be checked against the bytes actually present.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "runtime/data/dataset.h"
#include "runtime/data/text.h"

namespace {

std::string Write(const std::string& leaf, const uint8_t* data, size_t size) {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/kiln_fuzz_data_XXXXXX";
    const char* made = mkdtemp(tmpl);
    return std::string(made ? made : "/tmp");
  }();
  const std::string path = dir + "/" + leaf;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return path;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = Write("d", data, size);
  (void)kiln::data::LoadCsv(path);
  // Split the input in two for the loaders that take a pair of files.
  const size_t half = size / 2;
  const std::string a = Write("a", data, half), b = Write("b", data + half, size - half);
  (void)kiln::data::LoadIdx(a, b);
  (void)kiln::data::LoadNpy(a, b);
  (void)kiln::data::LoadNpy(path, path);
  (void)kiln::data::LoadDataSpec("skipgram:" + path + ",min_count=1,window=3,negatives=2");
  (void)kiln::data::LoadDataSpec("cbow:" + path + ",min_count=1,window=1,negatives=2,sample=0");
  return 0;
}
