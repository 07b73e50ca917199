// Deterministic weight initializers for the layer shorthand: the same model
// file loads to the same weights on every machine and every run.
#pragma once

#include <cstdint>
#include <string>

#include "ir/status.h"
#include "ir/tensor.h"

namespace kiln::text {

/// How a weight's values are drawn (Keras names).
enum class InitKind { kZeros, kOnes, kGlorotUniform, kGlorotNormal, kHeUniform, kHeNormal };

/// Parses a Keras initializer name ("" means glorot_uniform); errors list the known names.
StatusOr<InitKind> ParseInitKind(const std::string& name);

/// A float32 tensor of `dims` drawn with `kind`. The generator is seeded from
/// `seed_name` (e.g. "dense1/kernel") and uses only std::mt19937's bit stream,
/// whose output the C++ standard fixes, so values do not depend on the library.
/// Normal variants are truncated at two standard deviations, as in Keras.
Tensor MakeInitializedTensor(InitKind kind, const Dims& dims, int64_t fan_in, int64_t fan_out,
                             const std::string& seed_name);

}  // namespace kiln::text
