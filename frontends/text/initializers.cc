#include "frontends/text/initializers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <random>
#include <set>

#include "ir/core/file_io.h"
#include "ir/core/resource_limits.h"
#include "ir/graph.h"

namespace kiln::text {

namespace {

constexpr char kKindNames[] =
    "he_normal, he_uniform, glorot_normal, glorot_uniform, xavier_normal, xavier_uniform, truncated_normal, normal, "
    "uniform, zeros, ones or constant";

// "He_Normal", "HeNormal" and "he_normal" all read "henormal".
std::string Canonical(const std::string& name) {
  std::string s;
  for (unsigned char c : name) {
    if (c != '_') s += static_cast<char>(std::tolower(c));
  }
  return s;
}

const char* KindName(InitKind kind) {
  switch (kind) {
    case InitKind::kZeros: return "zeros";
    case InitKind::kOnes: return "ones";
    case InitKind::kGlorotUniform: return "glorot_uniform";
    case InitKind::kGlorotNormal: return "glorot_normal";
    case InitKind::kHeUniform: return "he_uniform";
    case InitKind::kHeNormal: return "he_normal";
    case InitKind::kTruncatedNormal: return "truncated_normal";
    case InitKind::kNormal: return "normal";
    case InitKind::kUniform: return "uniform";
    case InitKind::kConstant: return "constant";
  }
  return "";
}

// A stable seed from the name (StableHash: std::hash may differ between libraries).
uint32_t SeedFromName(const std::string& name) {
  const uint64_t h = StableHash(name);
  return static_cast<uint32_t>(h ^ (h >> 32));
}

// Name-derived seeds keep their original 32-bit seeding so existing files load
// to the same weights; explicit 64-bit seeds go through std::seed_seq, whose
// algorithm the standard also fixes.
std::mt19937 MakeGenerator(uint64_t seed, const std::string& name) {
  if (seed == 0) return std::mt19937(SeedFromName(name));
  std::seed_seq seq{static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)};
  return std::mt19937(seq);
}

// Uniform in [0, 1) from 24 random bits (std::uniform_real_distribution is
// implementation-defined, so it is not used).
double Uniform01(std::mt19937& rng) { return static_cast<double>(rng() >> 8) * (1.0 / 16777216.0); }

// Standard normal by Box-Muller (std::normal_distribution is implementation-defined).
double StandardNormal(std::mt19937& rng) {
  constexpr double kTwoPi = 6.283185307179586;
  const double u1 = 1.0 - Uniform01(rng);  // (0, 1]
  const double u2 = Uniform01(rng);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

// Standard normal truncated to [-2, 2] by resampling outside (Keras/TF semantics).
double TruncatedNormal(std::mt19937& rng) {
  for (;;) {
    const double z = StandardNormal(rng);
    if (std::fabs(z) <= 2.0) return z;
  }
}

}  // namespace

StatusOr<InitKind> ParseInitKind(const std::string& name, InitKind default_kind, const std::string& what) {
  static const std::map<std::string, InitKind> kKinds = {
      {"henormal", InitKind::kHeNormal},
      {"heuniform", InitKind::kHeUniform},
      {"glorotnormal", InitKind::kGlorotNormal},
      {"glorotuniform", InitKind::kGlorotUniform},
      {"xaviernormal", InitKind::kGlorotNormal},
      {"xavieruniform", InitKind::kGlorotUniform},
      {"truncatednormal", InitKind::kTruncatedNormal},
      {"normal", InitKind::kNormal},
      {"randomnormal", InitKind::kNormal},
      {"uniform", InitKind::kUniform},
      {"randomuniform", InitKind::kUniform},
      {"zeros", InitKind::kZeros},
      {"ones", InitKind::kOnes},
      {"constant", InitKind::kConstant},
  };
  if (name.empty()) return default_kind;
  auto it = kKinds.find(Canonical(name));
  if (it == kKinds.end()) return InvalidArgument("unknown ", what, " '", name, "' (expected ", kKindNames, ")");
  return it->second;
}

StatusOr<InitSpec> ResolveInitializer(const proto::Initializer& init, InitKind default_kind, const std::string& what) {
  InitSpec spec;
  auto kind = ParseInitKind(init.kind(), default_kind, what + " kind");
  if (!kind.ok()) return kind.status();
  spec.kind = *kind;
  spec.seed = init.seed();
  const bool is_normal = spec.kind == InitKind::kNormal || spec.kind == InitKind::kTruncatedNormal;
  // A field the kind ignores is most likely a mistake (e.g. stddev on he_normal, whose stddev comes from the fans).
  struct Field {
    const char* name;
    bool set;
    float value;
    bool applies;
    double* target;
  };
  const Field fields[] = {
      {"mean", init.has_mean(), init.mean(), is_normal, &spec.mean},
      {"stddev", init.has_stddev(), init.stddev(), is_normal, &spec.stddev},
      {"minval", init.has_minval(), init.minval(), spec.kind == InitKind::kUniform, &spec.minval},
      {"maxval", init.has_maxval(), init.maxval(), spec.kind == InitKind::kUniform, &spec.maxval},
      {"value", init.has_value(), init.value(), spec.kind == InitKind::kConstant, &spec.value},
  };
  for (const Field& f : fields) {
    if (!f.set) continue;
    if (!f.applies) return InvalidArgument(what, ": ", f.name, " does not apply to ", KindName(spec.kind));
    if (!std::isfinite(f.value)) return InvalidArgument(what, ": ", f.name, " must be finite, got ", f.value);
    *f.target = f.value;
  }
  if (spec.stddev < 0) return InvalidArgument(what, ": stddev must be non-negative, got ", spec.stddev);
  if (spec.minval > spec.maxval) {
    return InvalidArgument(what, ": minval ", spec.minval, " is greater than maxval ", spec.maxval);
  }
  return spec;
}

Tensor MakeInitializedTensor(const InitSpec& spec, const Dims& dims, int64_t fan_in, int64_t fan_out,
                             const std::string& seed_name) {
  Tensor t(proto::DT_FLOAT, dims);
  float* p = t.mutable_data_as<float>();
  const int64_t n = t.num_elements();
  const double fi = static_cast<double>(std::max<int64_t>(fan_in, 1));
  const double fo = static_cast<double>(std::max<int64_t>(fan_out, 1));
  // Keras divides the stddev of truncated normals by this so the variance stays 2/fan etc.
  constexpr double kTruncatedStddevCorrection = 0.87962566103423978;
  std::mt19937 rng = MakeGenerator(spec.seed, seed_name);
  const InitKind kind = spec.kind;
  switch (kind) {
    case InitKind::kZeros: std::fill(p, p + n, 0.0f); break;
    case InitKind::kOnes: std::fill(p, p + n, 1.0f); break;
    case InitKind::kConstant: std::fill(p, p + n, static_cast<float>(spec.value)); break;
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
    case InitKind::kTruncatedNormal:
      // No variance correction: Keras' TruncatedNormal(stddev) means the pre-truncation stddev.
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(spec.mean + TruncatedNormal(rng) * spec.stddev);
      break;
    case InitKind::kNormal:
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(spec.mean + StandardNormal(rng) * spec.stddev);
      break;
    case InitKind::kUniform: {
      const double range = spec.maxval - spec.minval;
      const float hi = static_cast<float>(spec.maxval);
      for (int64_t i = 0; i < n; ++i) {
        // Rounding to float can reach maxval; keep the range half-open as in Keras.
        const float v = static_cast<float>(spec.minval + Uniform01(rng) * range);
        p[i] = v >= hi && range > 0 ? std::nextafter(hi, -INFINITY) : v;
      }
      break;
    }
  }
  return t;
}

Status MaterializeParameters(const proto::Graph& graph, proto::Graph& out) {
  std::set<std::string> inputs, declared;
  for (const auto& info : graph.input()) inputs.insert(info.name());
  std::map<std::string, const proto::Tensor*> stored;
  for (const auto& t : graph.initializer()) stored.emplace(t.name(), &t);

  for (int i = 0; i < graph.parameter_size(); ++i) {
    const proto::Parameter& param = graph.parameter(i);
    if (param.name().empty()) return InvalidArgument("parameter #", i + 1, ": name is required");
    auto error = [&](const auto&... args) { return InvalidArgument("parameter '", param.name(), "': ", args...); };
    if (!declared.insert(param.name()).second) return error("declared twice");
    if (inputs.count(param.name())) return error("has the name of a graph input");
    if (param.dtype() != proto::DT_UNDEFINED && param.dtype() != proto::DT_FLOAT) {
      return error("dtype must be DT_FLOAT, got ", DTypeName(param.dtype()));
    }
    if (param.dims().empty()) return error("dims is required (e.g. dims: [784, 128])");
    const Dims dims(param.dims().begin(), param.dims().end());
    for (int64_t d : dims) {
      if (d <= 0) return error("dims must be positive, got ", DimsToString(dims));
    }
    RETURN_IF_ERROR(CheckTensorSize(proto::DT_FLOAT, dims, "parameter '" + param.name() + "'"));

    // Fans as Keras computes them, for the ONNX layouts: MatMul [in, out], Conv [M, C, k...].
    int64_t fan_in = dims[0], fan_out = dims[0];
    if (dims.size() >= 2) {
      int64_t receptive = 1;
      for (size_t k = 2; k < dims.size(); ++k) receptive *= dims[k];
      fan_in = dims.size() == 2 ? dims[0] : dims[1] * receptive;
      fan_out = dims.size() == 2 ? dims[1] : dims[0] * receptive;
    }
    if (param.has_fan_in()) {
      if (param.fan_in() <= 0) return error("fan_in must be positive, got ", param.fan_in());
      fan_in = param.fan_in();
    }
    if (param.has_fan_out()) {
      if (param.fan_out() <= 0) return error("fan_out must be positive, got ", param.fan_out());
      fan_out = param.fan_out();
    }
    auto spec = ResolveInitializer(param.init(), InitKind::kGlorotUniform, "init");
    if (!spec.ok()) return error(spec.status().message());

    auto it = stored.find(param.name());
    if (it != stored.end()) {
      const TensorType have{it->second->dtype(), Dims(it->second->dims().begin(), it->second->dims().end())};
      const TensorType want{proto::DT_FLOAT, dims};
      if (have != want) {
        return error("the stored initializer has type ", have.ToString(), ", expected ", want.ToString());
      }
      continue;
    }
    proto::Tensor* t = out.add_initializer();
    MakeInitializedTensor(*spec, dims, fan_in, fan_out, param.name()).ToProto(t);
    t->set_name(param.name());
  }
  return Status::Ok();
}

}  // namespace kiln::text
