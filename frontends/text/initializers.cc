#include "frontends/text/initializers.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace kiln::text {

StatusOr<InitKind> ParseInitKind(const std::string& name) {
  if (name.empty() || name == "glorot_uniform") return InitKind::kGlorotUniform;
  if (name == "glorot_normal") return InitKind::kGlorotNormal;
  if (name == "he_uniform") return InitKind::kHeUniform;
  if (name == "he_normal") return InitKind::kHeNormal;
  if (name == "zeros") return InitKind::kZeros;
  if (name == "ones") return InitKind::kOnes;
  return InvalidArgument("unknown kernel_initializer '", name,
                         "' (expected glorot_uniform, glorot_normal, he_uniform, he_normal, zeros or ones)");
}

namespace {

// FNV-1a: a stable hash of the name (std::hash may differ between libraries).
uint32_t SeedFromName(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// Uniform in [0, 1) from 24 random bits (std::uniform_real_distribution is
// implementation-defined, so it is not used).
double Uniform01(std::mt19937& rng) { return static_cast<double>(rng() >> 8) * (1.0 / 16777216.0); }

// Standard normal truncated to [-2, 2] (Box-Muller, resampling outside).
double TruncatedNormal(std::mt19937& rng) {
  constexpr double kTwoPi = 6.283185307179586;
  for (;;) {
    double u1 = 1.0 - Uniform01(rng);  // (0, 1]
    double u2 = Uniform01(rng);
    double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
    if (std::fabs(z) <= 2.0) return z;
  }
}

}  // namespace

Tensor MakeInitializedTensor(InitKind kind, const Dims& dims, int64_t fan_in, int64_t fan_out,
                             const std::string& seed_name) {
  Tensor t(proto::DT_FLOAT, dims);
  float* p = t.mutable_data_as<float>();
  const int64_t n = t.num_elements();
  const double fi = static_cast<double>(std::max<int64_t>(fan_in, 1));
  const double fo = static_cast<double>(std::max<int64_t>(fan_out, 1));
  // Keras divides the stddev of truncated normals by this so the variance stays 2/fan etc.
  constexpr double kTruncatedStddevCorrection = 0.87962566103423978;
  std::mt19937 rng(SeedFromName(seed_name));
  switch (kind) {
    case InitKind::kZeros: std::fill(p, p + n, 0.0f); break;
    case InitKind::kOnes: std::fill(p, p + n, 1.0f); break;
    case InitKind::kGlorotUniform:
    case InitKind::kHeUniform: {
      const double limit = kind == InitKind::kGlorotUniform ? std::sqrt(6.0 / (fi + fo)) : std::sqrt(6.0 / fi);
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>((2.0 * Uniform01(rng) - 1.0) * limit);
      break;
    }
    case InitKind::kGlorotNormal:
    case InitKind::kHeNormal: {
      const double stddev = (kind == InitKind::kGlorotNormal ? std::sqrt(2.0 / (fi + fo)) : std::sqrt(2.0 / fi)) /
                            kTruncatedStddevCorrection;
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(TruncatedNormal(rng) * stddev);
      break;
    }
  }
  return t;
}

}  // namespace kiln::text
