// libFuzzer target: the same bytes go to every loader of untrusted files: the
// ONNX importer (from memory), the Kiln binary and text model readers (through
// a temp file, the path users take) and the tensor readers (.npy and .pb). A
// model that loads also goes through the inference passes (shape inference and
// folding), which must reject hostile shapes with errors, never crash.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "compiler/pass.h"
#include "frontends/load_model.h"
#include "frontends/onnx/onnx_importer.h"
#include "frontends/tensor_io.h"
#include "google/protobuf/stubs/logging.h"
#include "ir/model_io.h"

namespace {

const std::string& ScratchDir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/kiln_fuzz_XXXXXX";
    const char* made = mkdtemp(tmpl);
    return std::string(made ? made : "/tmp");
  }();
  return dir;
}

void PrepareIfLoaded(kiln::StatusOr<kiln::Model>& model) {
  if (!model.ok()) return;
  kiln::PassOptions options;
  options.batch_size = 2;
  (void)kiln::PrepareForInference(*model->graph, options);
}

void LoadThroughFile(const std::string& bytes, const std::string& leaf) {
  const std::string path = ScratchDir() + "/" + leaf;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  auto model = kiln::LoadModel(path);
  PrepareIfLoaded(model);
}

}  // namespace

// Protobuf logs every malformed string field; the fuzzer makes millions of them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto onnx = kiln::ImportOnnxBytes(bytes, "fuzz.onnx");
  PrepareIfLoaded(onnx);
  LoadThroughFile(bytes, "fuzz.kiln");
  LoadThroughFile(bytes, "fuzz.kiln.txt");
  (void)kiln::ParseTensorBytes(bytes, "fuzz.npy");
  (void)kiln::ParseTensorBytes(bytes, "fuzz.pb");
  return 0;
}
