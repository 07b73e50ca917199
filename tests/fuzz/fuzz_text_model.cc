// libFuzzer target: the .kiln.txt reader and its layer expansion (frontends/text),
// then the inference passes: declared sizes (units, filters, dims) must be checked
// against ir/core/resource_limits.h before anything is allocated.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "compiler/pass.h"
#include "frontends/load_model.h"
#include "google/protobuf/stubs/logging.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = [] {
    char tmpl[] = "/tmp/kiln_fuzz_text_XXXXXX";
    const char* dir = mkdtemp(tmpl);
    return std::string(dir ? dir : "/tmp") + "/m.kiln.txt";
  }();
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  auto model = kiln::LoadModel(path);
  if (model.ok()) {
    kiln::PassOptions options;
    options.batch_size = 2;
    (void)kiln::PrepareForInference(*model->graph, options);
  }
  return 0;
}
