// libFuzzer target: bytes as a plan through the C API (include/kiln/runtime.h), the
// path a compiled model's plan or a plan file takes. A plan that loads and makes a
// session is run once on its zero-filled inputs: whatever passes validation must
// run without a crash (errors are fine). Seeds (tests/fuzz/seeds/plan_loader): `kiln compile
// --emit plan` of examples/perceptron_and, xor_mlp, iris_mlp and of a tiny CNN (8x8 input,
// Conv-BatchNorm-ReLU-MaxPool-Dense), and xor_mlp training steps (Adam, SGD) from
// testing::CompileTrainingStep; PlanValidationTest.FuzzSeedsAreValidPlans keeps them loadable.
#include <cstdint>
#include <cstring>
#include <string>

#include "google/protobuf/stubs/logging.h"
#include "kiln/runtime.h"

// Protobuf logs every malformed string field; the fuzzer makes millions of them.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler([](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln_plan* plan = nullptr;
  if (kiln_plan_load_memory(data, size, &plan) != KILN_OK) return 0;
  kiln_session_options options;
  kiln_session_options_init(&options);
  options.num_threads = 1;
  kiln_session* session = nullptr;
  const kiln_status st = kiln_session_create(plan, &options, &session);
  kiln_plan_free(plan);
  if (st != KILN_OK) return 0;
  int inputs = 0;
  kiln_session_num_inputs(session, &inputs);
  for (int i = 0; i < inputs; ++i) {
    void* buffer = nullptr;
    size_t bytes = 0;
    if (kiln_session_input_buffer(session, i, &buffer, &bytes) == KILN_OK && bytes) std::memset(buffer, 0, bytes);
  }
  (void)kiln_session_run(session);
  kiln_session_free(session);
  return 0;
}
