// Deterministic weight initializers for the layer shorthand and graph
// parameters: the same model file loads to the same weights on every machine
// and every run.
#pragma once

#include <cstdint>
#include <string>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "ir/kiln.pb.h"

namespace kiln::text {

/// How a weight's values are drawn (Keras names).
enum class InitKind {
  kZeros,
  kOnes,
  kGlorotUniform,
  kGlorotNormal,
  kHeUniform,
  kHeNormal,
  kTruncatedNormal,
  kNormal,
  kUniform,
  kConstant,
};

/// A resolved initializer: its kind and parameters, Keras defaults filled in.
struct InitSpec {
  InitKind kind = InitKind::kGlorotUniform;
  double mean = 0.0;      // normal, truncated_normal
  double stddev = 0.05;   // normal, truncated_normal
  double minval = -0.05;  // uniform
  double maxval = 0.05;   // uniform
  double value = 0.0;     // constant
  uint64_t seed = 0;      // 0: seeded from the weight's name
};

/// Parses an initializer name (Keras spelling; case and '_' are ignored, so
/// "HeNormal" works too). "" gives `default_kind`. Errors read
/// "unknown <what> 'x' (expected ...)".
StatusOr<InitKind> ParseInitKind(const std::string& name, InitKind default_kind = InitKind::kGlorotUniform,
                                 const std::string& what = "kernel_initializer");

/// Validates `init` and fills in defaults; an empty kind is `default_kind`.
/// `what` ("kernel_init", "init") prefixes error messages.
StatusOr<InitSpec> ResolveInitializer(const proto::Initializer& init, InitKind default_kind, const std::string& what);

/// A float32 tensor of `dims` drawn with `spec`. The generator is std::mt19937
/// seeded from spec.seed, or when 0 from `seed_name` (e.g. "dense1/kernel");
/// only its bit stream, which the C++ standard fixes, is used, so values do not
/// depend on the library. glorot/he normals are truncated at two standard
/// deviations and rescaled to keep the target variance, as in Keras.
Tensor MakeInitializedTensor(const InitSpec& spec, const Dims& dims, int64_t fan_in, int64_t fan_out,
                             const std::string& seed_name);
inline Tensor MakeInitializedTensor(InitKind kind, const Dims& dims, int64_t fan_in, int64_t fan_out,
                                    const std::string& seed_name) {
  InitSpec spec;
  spec.kind = kind;
  return MakeInitializedTensor(spec, dims, fan_in, fan_out, seed_name);
}

/// Turns `graph.parameter` entries into `out.initializer` tensors so that
/// nodes can consume them by name. An initializer of the same name already in
/// `out` wins (a trained file keeps its weights) once its type is checked.
/// Errors name the parameter: "parameter 'w1': ...".
Status MaterializeParameters(const proto::Graph& graph, proto::Graph& out);

}  // namespace kiln::text
