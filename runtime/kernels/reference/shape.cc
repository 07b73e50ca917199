// Reference kernels for shape and data-movement ops. They move elements of any
// dtype by element size and trust the output dims given by shape inference
// (Reshape, Flatten, Squeeze, Unsqueeze and Identity are plain copies).
#include <algorithm>
#include <cstring>

#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/kernels/reference/ref_util.h"

namespace kiln::runtime {

// Cast lives in cast.cc; Constant and ConstantOfShape in constant.cc.
namespace ref {
void RegisterCastKernels(KernelRegistry& r);
}

namespace {

using ref::DispatchBySize;
using ref::HalfMode;
using ref::ReadInts;
using ref::RegisterRef;
using Refs = std::vector<TensorRef>;

Status CheckSameDType(const TensorRef& in, const TensorRef& out) {
  if (in.dtype != out.dtype) {
    return InvalidArgument("output type ", DTypeName(out.dtype), " differs from the input type ", DTypeName(in.dtype));
  }
  return Status::Ok();
}

// Identity, Reshape, Flatten, Squeeze, Unsqueeze: the bytes do not move.
Status CopyKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameDType(in[0], out[0]));
  RETURN_IF_ERROR(ref::CheckSameCount(in[0], out[0]));
  if (out[0].num_bytes() > 0 && out[0].data != in[0].data) std::memcpy(out[0].data, in[0].data, out[0].num_bytes());
  return Status::Ok();
}

// Copies the runs that for_each_run(run) walks (run(i, offset, count, step): out[i + j] =
// in[offset + j * step]) from in to out, elements moved by size; a run contiguous in the
// source is one memcpy: a Concat's gradient slices [B, T, a + b] into [B, T, a] runs, not
// element by element.
template <typename ForEachRun>
Status CopyRuns(const TensorRef& in, const TensorRef& out, ForEachRun&& for_each_run) {
  RETURN_IF_ERROR(CheckSameDType(in, out));
  return DispatchBySize(out.dtype, [&](auto tag) {
    using U = decltype(tag);
    const U* x = in.as<U>();
    U* y = out.as<U>();
    for_each_run([&](int64_t i, int64_t offset, int64_t count, int64_t step) {
      if (step == 1) {
        std::memcpy(y + i, x + offset, count * sizeof(U));
      } else {
        for (int64_t j = 0; j < count; ++j) y[i + j] = x[offset + j * step];
      }
    });
    return Status::Ok();
  });
}
// out[i] = in[base + sum_d index_d(i) * strides[d]] for every output element (Transpose, Expand).
Status StridedCopy(const TensorRef& in, const TensorRef& out, int64_t base, const Dims& strides) {
  return CopyRuns(in, out, [&](auto&& run) { ref::ForEachStridedRun(out.dims, strides, base, run); });
}

Status TransposeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  ASSIGN_OR_RETURN(std::vector<int64_t> perm, ResolvePerm(spec.attrs.GetInts("perm"), x.size()));
  Dims expected(x.size());
  for (size_t i = 0; i < perm.size(); ++i) expected[i] = x[perm[i]];
  if (expected != out[0].dims) {
    return InvalidArgument("output shape ", DimsToString(out[0].dims), " is not the transposed input shape ",
                           DimsToString(expected));
  }
  const Dims strides = RowMajorStrides(x);
  Dims source(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) source[i] = strides[perm[i]];
  return StridedCopy(in[0], out[0], 0, source);
}

// Concat / Split: the tensor is [outer, axis, inner]; each part is a run of axis slices.
struct AxisSplit {
  int64_t outer = 1, inner = 1;
};
AxisSplit SplitAround(const Dims& dims, int64_t axis) {
  AxisSplit s;
  for (int64_t i = 0; i < axis; ++i) s.outer *= dims[i];
  for (size_t i = axis + 1; i < dims.size(); ++i) s.inner *= dims[i];
  return s;
}

bool SameExceptAxis(const Dims& a, const Dims& b, int64_t axis) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (static_cast<int64_t>(i) != axis && a[i] != b[i]) return false;
  }
  return true;
}

Status ConcatKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& y = out[0].dims;
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), y.size()));
  int64_t total = 0;
  for (size_t k = 0; k < in.size(); ++k) {
    RETURN_IF_ERROR(CheckSameDType(in[k], out[0]));
    if (!SameExceptAxis(in[k].dims, y, axis)) {
      return InvalidArgument("input ", k, " ", DimsToString(in[k].dims), " does not match the output ", DimsToString(y),
                             " outside axis ", axis);
    }
    total += in[k].dims[axis];
  }
  if (total != y[axis]) return InvalidArgument("inputs sum to ", total, " along axis ", axis, ", output has ", y[axis]);
  const AxisSplit s = SplitAround(y, axis);
  const int64_t es = DTypeSize(out[0].dtype);
  auto* dst = static_cast<uint8_t*>(out[0].data);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (const TensorRef& t : in) {
      const int64_t chunk = t.dims[axis] * s.inner * es;
      if (chunk == 0) continue;
      std::memcpy(dst, static_cast<const uint8_t*>(t.data) + o * chunk, chunk);
      dst += chunk;
    }
  }
  return Status::Ok();
}

// Split (opset 13): sizes come from the output dims (shape inference read the 'split' input).
Status SplitKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const Dims& x = in[0].dims;
  ASSIGN_OR_RETURN(int64_t axis, NormalizeAxis(spec.attrs.GetInt("axis", 0), x.size()));
  int64_t total = 0;
  for (size_t k = 0; k < out.size(); ++k) {
    RETURN_IF_ERROR(CheckSameDType(in[0], out[k]));
    if (!SameExceptAxis(out[k].dims, x, axis)) {
      return InvalidArgument("output ", k, " ", DimsToString(out[k].dims), " does not match the input ",
                             DimsToString(x), " outside axis ", axis);
    }
    total += out[k].dims[axis];
  }
  if (total != x[axis]) return InvalidArgument("outputs sum to ", total, " along axis ", axis, ", input has ", x[axis]);
  if (ref::HasInput(in, 1)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> split, ReadInts(in[1], "split"));
    for (size_t k = 0; k < out.size() && k < split.size(); ++k) {
      if (split.size() != out.size() || split[k] != out[k].dims[axis]) {
        return InvalidArgument("split ", DimsToString(split), " does not match the output shapes");
      }
    }
  }
  const AxisSplit s = SplitAround(x, axis);
  const int64_t es = DTypeSize(in[0].dtype);
  const auto* src = static_cast<const uint8_t*>(in[0].data);
  for (int64_t o = 0; o < s.outer; ++o) {
    for (const TensorRef& t : out) {
      const int64_t chunk = t.dims[axis] * s.inner * es;
      if (chunk == 0) continue;
      std::memcpy(static_cast<uint8_t*>(t.data) + o * chunk, src, chunk);
      src += chunk;
    }
  }
  return Status::Ok();
}

// Slice (opset 13): starts, ends, optional axes and steps inputs; the walk kept between runs.
class SliceKernel final : public Kernel {
 public:
  Status Run(const Refs& in, const Refs& out) override {
    RETURN_IF_ERROR(ref::CheckBuffers(in, out, 3, 1));
    RETURN_IF_ERROR(walk_.Update(in[0].dims, in));
    if (walk_.output() != out[0].dims) {
      return InvalidArgument("output shape ", DimsToString(out[0].dims), " does not match the slice ",
                             DimsToString(walk_.output()));
    }
    return CopyRuns(in[0], out[0], [&](auto&& run) { walk_.ForEach(run); });
  }

 private:
  ref::SliceWalk walk_;
};

// Gather: out[a..., q..., b...] = data[a..., indices[q...], b...]; negative indices count from the end.
Status GatherKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  ASSIGN_OR_RETURN(ref::GatherGeometry g,
                   ref::ResolveGather(in[0].dims, in[1], spec.attrs.GetInt("axis", 0), out[0].dims, "output"));
  const int64_t es = DTypeSize(in[0].dtype);
  if (in[0].dtype != out[0].dtype || es == 0) return InvalidArgument("output type differs from the data type");
  const int64_t chunk = g.inner * es;
  const auto* src = static_cast<const uint8_t*>(in[0].data);
  auto* dst = static_cast<uint8_t*>(out[0].data);
  if (chunk == 0) return Status::Ok();
  for (int64_t o = 0; o < g.outer; ++o) {
    for (int64_t q = 0; q < g.count; ++q) {
      std::memcpy(dst, src + (o * g.size + g.index(q)) * chunk, chunk);
      dst += chunk;
    }
  }
  return Status::Ok();
}

// Pad: pads input [begins..., ends...] (negative crops) over all axes or the
// optional axes input (18), optional scalar constant_value input, mode constant /
// reflect / edge / wrap (19).
Status PadKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  RETURN_IF_ERROR(CheckSameDType(in[0], out[0]));
  const std::string mode = spec.attrs.GetString("mode", "constant");
  if (mode != "constant" && mode != "reflect" && mode != "edge" && mode != "wrap") {
    return InvalidArgument("mode '", mode, "' is not one of constant, reflect, edge, wrap");
  }
  const Dims& x = in[0].dims;
  const size_t rank = x.size();
  ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadInts(in[1], "pads"));
  if (ref::HasInput(in, 3)) {
    ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadInts(in[3], "axes"));
    ASSIGN_OR_RETURN(pads, ExpandPadAxes(pads, axes, static_cast<int64_t>(rank)));
  }
  if (pads.size() != 2 * rank) {
    return InvalidArgument("pads ", DimsToString(pads), " has ", pads.size(), " values, expected ", 2 * rank);
  }
  for (int64_t p : pads) {
    if (p > kMaxTensorElements || p < -kMaxTensorElements)
      return InvalidArgument("pads ", DimsToString(pads), " are out of range");
  }
  for (size_t i = 0; i < rank; ++i) {
    if (x[i] + pads[i] + pads[i + rank] != out[0].dims[i]) {
      return InvalidArgument("output shape ", DimsToString(out[0].dims), " does not match pads ", DimsToString(pads),
                             " on ", DimsToString(x));
    }
    const bool grows = pads[i] > 0 || pads[i + rank] > 0;
    if (grows && x[i] == 0 && mode != "constant") return InvalidArgument(mode, " padding of the empty axis ", i);
    if (mode == "reflect" && grows && (pads[i] >= x[i] || pads[i + rank] >= x[i])) {
      return InvalidArgument("reflect pads on axis ", i, " must be smaller than its size ", x[i]);
    }
  }
  if (ref::HasInput(in, 2)) {
    RETURN_IF_ERROR(CheckSameDType(in[2], out[0]));
    if (in[2].num_elements() != 1) return InvalidArgument("constant_value must be a scalar");
  }
  const Dims strides = RowMajorStrides(x);
  return DispatchBySize(out[0].dtype, [&](auto tag) {
    using U = decltype(tag);
    const U fill = ref::HasInput(in, 2) ? in[2].as<U>()[0] : U{0};  // zero bits are 0 in every dtype
    const U* src = in[0].as<U>();
    U* y = out[0].as<U>();
    Dims index;
    for (int64_t i = 0; i < out[0].num_elements(); ++i) {
      ref::Unflatten(i, out[0].dims, &index);
      int64_t offset = 0;
      bool inside = true;
      for (size_t d = 0; d < rank; ++d) {
        int64_t c = index[d] - pads[d];
        if (c < 0 || c >= x[d]) {
          if (mode == "constant") {
            inside = false;
            break;
          }
          if (mode == "edge") {
            c = std::clamp<int64_t>(c, 0, x[d] - 1);
          } else if (mode == "wrap") {
            c = ((c % x[d]) + x[d]) % x[d];
          } else {  // reflect, without repeating the edge: [1 0 | 0 1 2 | 2 1] -> [2 1 | 0 1 2 | 1 0]
            const int64_t period = 2 * (x[d] - 1);
            if (period == 0) {
              c = 0;
            } else {
              c = ((c % period) + period) % period;
              if (c >= x[d]) c = period - c;
            }
          }
        }
        offset += c * strides[d];
      }
      y[i] = inside ? src[offset] : fill;
    }
    return Status::Ok();
  });
}

// Expand: numpy broadcast of the input to the output dims.
Status ExpandKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (in[0].dims.size() > out[0].dims.size()) return InvalidArgument("output rank is below the input rank");
  RETURN_IF_ERROR(CheckBroadcastsTo(in[0].dims, out[0].dims));
  // The input's strides right-aligned to the output's axes, 0 where it broadcasts.
  const Dims& x = in[0].dims;
  const Dims x_strides = RowMajorStrides(x);
  const size_t lead = out[0].dims.size() - x.size();
  Dims source(out[0].dims.size(), 0);
  for (size_t d = 0; d < x.size(); ++d) source[lead + d] = x[d] == 1 ? 0 : x_strides[d];
  return StridedCopy(in[0], out[0], 0, source);
}

// Shape: int64 dims[start:end] (start/end attributes from opset 15, clamped).
Status ShapeKernel(const KernelSpec& spec, const Refs& in, const Refs& out) {
  const int64_t rank = static_cast<int64_t>(in[0].dims.size());
  int64_t start = spec.attrs.GetInt("start", 0), end = spec.attrs.GetInt("end", rank);
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  if (out[0].dtype != proto::DT_INT64 || out[0].num_elements() != end - start) {
    return InvalidArgument("output must be int64[", end - start, "], got ", DTypeName(out[0].dtype),
                           DimsToString(out[0].dims));
  }
  for (int64_t i = start; i < end; ++i) out[0].as<int64_t>()[i - start] = in[0].dims[i];
  return Status::Ok();
}

// Dropout at inference is the identity; the optional mask is all true.
Status DropoutKernel(const KernelSpec&, const Refs& in, const Refs& out) {
  if (ref::HasInput(in, 2)) {
    if (in[2].num_elements() != 1 || in[2].dtype != proto::DT_BOOL) {
      return InvalidArgument("training_mode must be a bool scalar");
    }
    double ratio = 0.5;
    if (ref::HasInput(in, 1)) {
      ASSIGN_OR_RETURN(ratio, ref::ReadScalar(in[1], "ratio"));
    }
    if (in[2].as<uint8_t>()[0] != 0 && ratio != 0.0) {
      return Unimplemented("training-mode dropout (random masking) is not supported by the reference kernel");
    }
  }
  RETURN_IF_ERROR(CopyKernel({}, in, out));
  if (ref::HasOutput(out, 1)) {
    if (out[1].dtype != proto::DT_BOOL || out[1].num_elements() != in[0].num_elements()) {
      return InvalidArgument("mask output must be bool with the data's shape");
    }
    std::fill_n(out[1].as<uint8_t>(), out[1].num_elements(), uint8_t{1});
  }
  return Status::Ok();
}

}  // namespace

void RegisterReferenceShapeKernels(KernelRegistry& r) {
  for (const char* op : {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"})
    RegisterRef(r, op, 1, 1, CopyKernel, HalfMode::kNative);
  RegisterRef(r, "Dropout", 1, 1, DropoutKernel);
  RegisterRef(r, "Transpose", 1, 1, TransposeKernel, HalfMode::kNative);
  RegisterRef(r, "Concat", 1, 1, ConcatKernel, HalfMode::kNative);
  RegisterRef(r, "Split", 1, 1, SplitKernel, HalfMode::kNative);
  r.Register("ref", "Slice", [](const KernelSpec&) -> StatusOr<std::unique_ptr<Kernel>> {
    return std::unique_ptr<Kernel>(new SliceKernel());
  });
  RegisterRef(r, "Gather", 2, 1, GatherKernel, HalfMode::kNative);
  RegisterRef(r, "Pad", 2, 1, PadKernel, HalfMode::kNative);
  RegisterRef(r, "Expand", 2, 1, ExpandKernel, HalfMode::kNative);
  RegisterRef(r, "Shape", 1, 1, ShapeKernel, HalfMode::kNative);
  ref::RegisterCastKernels(r);
}

}  // namespace kiln::runtime
