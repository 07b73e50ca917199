/* Embeds a model compiled with `kiln compile MODEL -o model --emit lib` (model.h,
 * libmodel.a or libmodel.so): runs it on a few inputs through the typed entry points,
 * then lists its inputs and outputs through the generic kiln_* C API.
 *
 *   cc -std=c99 classify.c -I. libmodel.a $(pkg-config --cflags --libs kiln) -o classify
 *
 * The model here is examples/iris_mlp.kiln.txt: features float32[1, 4] -> probabilities [1, 3]. */
#include <stdio.h>

#include "model.h"

static const char* const kSpecies[3] = {"setosa", "versicolor", "virginica"};

int main(void) {
  /* Sepal length, sepal width, petal length, petal width (cm). */
  static const float samples[3][1][4] = {
      {{5.1f, 3.5f, 1.4f, 0.2f}}, {{6.2f, 2.9f, 4.3f, 1.3f}}, {{7.7f, 3.0f, 6.1f, 2.3f}}};
  model_context* ctx = model_create(1);
  if (!ctx) {
    fprintf(stderr, "classify: %s\n", kiln_last_error());
    return 1;
  }
  for (int i = 0; i < 3; ++i) {
    float probs[1][3];
    int best = 0;
    if (model_run_ctx(ctx, samples[i], probs) != KILN_OK) {
      fprintf(stderr, "classify: %s\n", kiln_last_error());
      model_destroy(ctx);
      return 1;
    }
    for (int k = 1; k < 3; ++k) best = probs[0][k] > probs[0][best] ? k : best;
    printf("sample %d: %s (p=%.4f) [%.6f %.6f %.6f]\n", i, kSpecies[best], probs[0][best], probs[0][0], probs[0][1],
           probs[0][2]);
  }
  /* The same session through the generic API. */
  kiln_session* session = model_session(ctx);
  int inputs = 0, outputs = 0;
  kiln_session_num_inputs(session, &inputs);
  kiln_session_num_outputs(session, &outputs);
  for (int i = 0; i < inputs; ++i) {
    kiln_tensor_info info;
    kiln_session_input_info(session, i, &info);
    printf("input %s: %s, %zu bytes\n", info.name, kiln_dtype_name(info.dtype), info.size_bytes);
  }
  for (int i = 0; i < outputs; ++i) {
    kiln_tensor_info info;
    kiln_session_output_info(session, i, &info);
    printf("output %s: %s, %zu bytes\n", info.name, kiln_dtype_name(info.dtype), info.size_bytes);
  }
  model_destroy(ctx);
  return 0;
}
