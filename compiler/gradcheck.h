// Gradient checking: autodiff's gradients against central finite differences,
// with the whole model converted to float64 and run on the reference kernels.
#pragma once

#include <string>
#include <vector>

#include "compiler/training.h"
#include "ir/graph.h"

namespace kiln {

struct GradcheckOptions {
  std::string loss = "mse";  // see TrainingConfig::loss
  int64_t batch_size = 2;
  uint64_t seed = 0;
  double step = 1e-4;         // h of (L(p + h) - L(p - h)) / 2h
  int64_t max_elements = 64;  // elements checked per parameter (a seeded sample when larger)
  bool training_mode = true;  // false: BatchNormalization and Dropout in inference mode
};

struct TensorGradcheck {
  std::string parameter;
  Dims dims;
  int64_t checked = 0;
  double max_rel_error = 0;  // |analytic - numeric| / max(|analytic|, |numeric|, 1e-6)
  double max_abs_error = 0;
};

/// Builds the loss graph of `model` in float64 with random (seeded) inputs and
/// targets, then compares dLoss/dp for every parameter with finite differences.
StatusOr<std::vector<TensorGradcheck>> RunGradcheck(const Graph& model, const GradcheckOptions& options);

/// Converts every float32 value, constant and attribute of `graph` to float64.
void ConvertToFloat64(Graph& graph);

}  // namespace kiln
