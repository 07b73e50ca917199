// Loads a plan file from `kiln compile MODEL -o model.plan --emit plan` with the C++
// wrapper (kiln/runtime.hpp), runs it on an input and prints every output.
//
//   ./run_plan model.plan 5.1 3.5 1.4 0.2      (the input's values, float32)
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "kiln/runtime.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PLAN [VALUE ...]\n", argv[0]);
    return 2;
  }
  try {
    kiln::Session session(kiln::Plan::FromFile(argv[1]), /*num_threads=*/1);
    const kiln::TensorInfo in = session.input_info(0);
    if (in.dtype != KILN_DTYPE_FLOAT32 || in.num_elements != static_cast<size_t>(argc - 2)) {
      std::fprintf(stderr, "run_plan: input '%s' takes %zu float32 values, got %d\n", in.name.c_str(), in.num_elements,
                   argc - 2);
      return 2;
    }
    std::vector<float> values;
    for (int i = 2; i < argc; ++i) values.push_back(std::strtof(argv[i], nullptr));
    session.SetInput(0, values);
    session.Run();
    for (int i = 0; i < session.num_outputs(); ++i) {
      const kiln::TensorInfo out = session.output_info(i);
      std::printf("%s:", out.name.c_str());
      for (float v : session.OutputVector<float>(i)) std::printf(" %.6f", v);
      std::printf("\n");
    }
  } catch (const kiln::Error& e) {
    std::fprintf(stderr, "run_plan: %s\n", e.what());
    return 1;
  }
  return 0;
}
