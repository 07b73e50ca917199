// Reference kernels of GatherElements, Trilu and LayerNormalization (ir/core/ops/indexing.cc).
#include <cmath>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/broadcast.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {
namespace {

using ref::DispatchBySize;
using ref::HalfMode;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

Status GatherElementsKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& data = in[0].dims;
  if (data.empty() || in[1].dims.size() != data.size() || out[0].dims != in[1].dims || out[0].dtype != in[0].dtype) {
    return InvalidArgument("data, indices and output do not match");
  }
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), data.size()));
  ASSIGN_OR_RETURN(std::vector<int64_t> indices, ref::ReadInts(in[1], "indices"));
  const Dims strides = RowMajorStrides(data);
  return DispatchBySize(in[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    Dims index;
    for (int64_t i = 0; i < out[0].num_elements(); ++i) {
      ref::Unflatten(i, out[0].dims, &index);
      int64_t at = indices[i] < 0 ? indices[i] + data[axis] : indices[i];
      if (at < 0 || at >= data[axis]) {
        return InvalidArgument("index ", indices[i], " is out of range for axis ", axis, " of size ", data[axis]);
      }
      int64_t offset = 0;
      for (size_t d = 0; d < data.size(); ++d) {
        offset += (static_cast<int64_t>(d) == axis ? at : index[d]) * strides[d];
      }
      out[0].as<U>()[i] = in[0].as<U>()[offset];
    }
    return Status::Ok();
  });
}

Status TriluKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.size() < 2 || out[0].dims != x || out[0].dtype != in[0].dtype) {
    return InvalidArgument("input and output do not match");
  }
  int64_t k = 0;
  if (ref::HasInput(in, 1)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> ks, ref::ReadInts(in[1], "k"));
    if (ks.size() != 1) return InvalidArgument("k must be a scalar");
    k = ks[0];
  }
  const bool upper = spec.attrs.GetInt("upper", 1) != 0;
  const int64_t rows = x[x.size() - 2], cols = x.back();
  return DispatchBySize(in[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    for (int64_t i = 0; i < out[0].num_elements(); ++i) {
      const int64_t col = i % cols, row = (i / cols) % rows;
      // Compared in int64 without overflow: |row|, |col| < 2^34 and k is clamped.
      const int64_t diagonal = std::max<int64_t>(std::min<int64_t>(k, rows + cols), -(rows + cols));
      const bool keep = upper ? col - row >= diagonal : col - row <= diagonal;
      out[0].as<U>()[i] = keep ? in[0].as<U>()[i] : U{0};
    }
    return Status::Ok();
  });
}

// Statistics in double; Mean and InvStdDev (optional outputs) are float32.
Status LayerNormKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.empty() || out[0].dims != x || out[0].dtype != in[0].dtype) return InvalidArgument("X and Y do not match");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), x.size()));
  const double epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  const Dims normalized(x.begin() + axis, x.end());
  const int64_t inner = ElementCount(normalized);
  const int64_t outer = ElementCount(Dims(x.begin(), x.begin() + axis));
  for (int i = 1; i < 3; ++i) {
    if (ref::HasInput(in, i) && (in[i].dtype != in[0].dtype || !CheckBroadcastsTo(in[i].dims, normalized).ok())) {
      return InvalidArgument(i == 1 ? "Scale" : "B", " does not broadcast to ", DimsToString(normalized));
    }
  }
  for (int i = 1; i < 3; ++i) {
    if (ref::HasOutput(out, i) && (out[i].dtype != proto::DT_FLOAT || out[i].num_elements() != outer)) {
      return InvalidArgument("output ", i, " must be float32 with one value per normalized row");
    }
  }
  BroadcastIndexer scale_at(in[1].dims, normalized);
  BroadcastIndexer bias_at(ref::HasInput(in, 2) ? in[2].dims : Dims{}, normalized);
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* xp = in[0].as<T>();
    T* y = out[0].as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = xp + o * inner;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < inner; ++j) mean += row[j];
      mean /= static_cast<double>(inner);
      for (int64_t j = 0; j < inner; ++j) var += (row[j] - mean) * (row[j] - mean);
      var /= static_cast<double>(inner);
      const double inv = 1.0 / std::sqrt(var + epsilon);
      for (int64_t j = 0; j < inner; ++j) {
        const double b = ref::HasInput(in, 2) ? static_cast<double>(in[2].as<T>()[bias_at(j)]) : 0.0;
        y[o * inner + j] = static_cast<T>((row[j] - mean) * inv * in[1].as<T>()[scale_at(j)] + b);
      }
      if (ref::HasOutput(out, 1)) out[1].as<float>()[o] = static_cast<float>(mean);
      if (ref::HasOutput(out, 2)) out[2].as<float>()[o] = static_cast<float>(inv);
    }
    return Status::Ok();
  });
}

// Mean square in double, per row of the normalized dims.
Status RmsNormKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.empty() || out[0].dims != x || out[0].dtype != in[0].dtype) return InvalidArgument("X and Y do not match");
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", -1), x.size()));
  const double epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  const Dims normalized(x.begin() + axis, x.end());
  if (in[1].dtype != in[0].dtype || !CheckBroadcastsTo(in[1].dims, normalized).ok()) {
    return InvalidArgument("scale does not broadcast to ", DimsToString(normalized));
  }
  const int64_t inner = ElementCount(normalized);
  const int64_t outer = ElementCount(Dims(x.begin(), x.begin() + axis));
  BroadcastIndexer scale_at(in[1].dims, normalized);
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    const T* scale = in[1].as<T>();
    for (int64_t o = 0; o < outer; ++o) {
      const T* row = in[0].as<T>() + o * inner;
      double square_sum = 0;
      for (int64_t j = 0; j < inner; ++j) square_sum += static_cast<double>(row[j]) * row[j];
      const double inv = 1.0 / std::sqrt(square_sum / static_cast<double>(inner) + epsilon);
      for (int64_t j = 0; j < inner; ++j)
        out[0].as<T>()[o * inner + j] = static_cast<T>(row[j] * inv * scale[scale_at(j)]);
    }
    return Status::Ok();
  });
}

Status InstanceNormKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  if (x.size() < 3 || out[0].dims != x || in[1].num_elements() != x[1] || in[2].num_elements() != x[1] ||
      in[1].dtype != in[0].dtype || in[2].dtype != in[0].dtype) {
    return InvalidArgument("input, scale, B and output do not match");
  }
  const double epsilon = spec.attrs.GetFloat("epsilon", 1e-5f);
  const int64_t channels = x[1], inner = ElementCount(Dims(x.begin() + 2, x.end()));
  return ref::DispatchFloat(in[0].dtype, [&](auto tag) {
    using T = decltype(tag);
    for (int64_t row = 0; row < x[0] * channels; ++row) {
      const T* xr = in[0].as<T>() + row * inner;
      double mean = 0, var = 0;
      for (int64_t j = 0; j < inner; ++j) mean += xr[j];
      mean /= static_cast<double>(inner);
      for (int64_t j = 0; j < inner; ++j) var += (xr[j] - mean) * (xr[j] - mean);
      var /= static_cast<double>(inner);
      const double inv = 1.0 / std::sqrt(var + epsilon);
      const double scale = in[1].as<T>()[row % channels], bias = in[2].as<T>()[row % channels];
      for (int64_t j = 0; j < inner; ++j)
        out[0].as<T>()[row * inner + j] = static_cast<T>((xr[j] - mean) * inv * scale + bias);
    }
    return Status::Ok();
  });
}

}  // namespace

void RegisterReferenceIndexingKernels(KernelRegistry& r) {
  RegisterRef(r, "GatherElements", 2, 1, GatherElementsKernel, HalfMode::kNative);
  RegisterRef(r, "Trilu", 1, 1, TriluKernel, HalfMode::kNative);
  RegisterRef(r, "LayerNormalization", 2, 1, LayerNormKernel);
  RegisterRef(r, "RMSNormalization", 2, 1, RmsNormKernel);
  RegisterRef(r, "InstanceNormalization", 3, 1, InstanceNormKernel);
}

}  // namespace kiln::runtime
