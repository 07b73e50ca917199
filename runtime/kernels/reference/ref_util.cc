#include "runtime/kernels/reference/ref_util.h"

#include <cmath>

#include "ir/core/shape_util.h"

namespace kiln::runtime::ref {

namespace {

bool IsHalf(DType t) {
  const DTypeInfo* row = FindDType(t);
  return row && row->kind == DTypeKind::kHalf;
}

}  // namespace

Status UnsupportedType(DType t, unsigned type_set) {
  std::string supported;
  for (const DTypeInfo& row : DTypeTable()) {
    if (TypeSetOf(row.kind) & type_set) supported += (supported.empty() ? "" : ", ") + std::string(row.name);
  }
  return Unimplemented("input type ", DTypeName(t), " is not supported (supported: ", supported, ")");
}

StatusOr<std::vector<int64_t>> ReadInts(const TensorRef& t, const char* what) {
  std::vector<int64_t> out(static_cast<size_t>(t.num_elements()));
  if (!out.empty() && !t.data) return InvalidArgument(what, " has no data");
  if (!IsIntegerType(t.dtype)) {
    return InvalidArgument(what, " has type ", DTypeName(t.dtype), " but must be an integer type");
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = ElementToInt64(t.dtype, t.data, static_cast<int64_t>(i));
  return out;
}

double ElementAsDouble(const TensorRef& t, int64_t i) { return ElementToDouble(t.dtype, t.data, i); }

StatusOr<double> ReadScalar(const TensorRef& t, const char* what) {
  if (t.num_elements() != 1) {
    return InvalidArgument(what, " must hold one element, got shape ", DimsToString(t.dims));
  }
  if (!t.data) return InvalidArgument(what, " has no data");
  if (t.dtype == proto::DT_UNDEFINED) {
    return InvalidArgument(what, " has unsupported type ", DTypeName(t.dtype));
  }
  return ElementAsDouble(t, 0);
}

Status CheckBroadcastInputs(const std::vector<TensorRef>& in, const TensorRef& out) {
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].dims.size() > out.dims.size()) {
      return InvalidArgument("input ", i, " ", DimsToString(in[i].dims), " has a higher rank than the output ",
                             DimsToString(out.dims));
    }
    Status st = CheckBroadcastsTo(in[i].dims, out.dims);
    if (!st.ok()) return InvalidArgument("input ", i, ": ", st.message());
  }
  return Status::Ok();
}

Status CheckSameCount(const TensorRef& in, const TensorRef& out) {
  if (in.num_bytes() != out.num_bytes()) {
    return Internal("output ", DTypeName(out.dtype), DimsToString(out.dims), " does not hold the input ",
                    DTypeName(in.dtype), DimsToString(in.dims));
  }
  return Status::Ok();
}

Status CheckBuffers(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out, int min_inputs,
                    int min_outputs) {
  if (static_cast<int>(in.size()) < min_inputs) {
    return InvalidArgument("needs at least ", min_inputs, " inputs, got ", in.size());
  }
  if (static_cast<int>(out.size()) < min_outputs) {
    return InvalidArgument("needs at least ", min_outputs, " outputs, got ", out.size());
  }
  for (int i = 0; i < min_inputs; ++i) {
    if (in[i].dtype == proto::DT_UNDEFINED) return InvalidArgument("input ", i, " is missing");
  }
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i].dtype != proto::DT_UNDEFINED && !in[i].data && in[i].num_elements() > 0) {
      return InvalidArgument("input ", i, " has no data");
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i].dtype != proto::DT_UNDEFINED && !out[i].data && out[i].num_elements() > 0) {
      return InvalidArgument("output ", i, " has no buffer");
    }
  }
  return Status::Ok();
}

// Runs `fn` on float32 copies of the float16/bfloat16 inputs and outputs (reference math in float16
// is float math rounded once per op, as onnxruntime's CPU kernels do).
Status RunWidened(const SimpleKernelFn& fn, const KernelSpec& spec, const std::vector<TensorRef>& in,
                  const std::vector<TensorRef>& out) {
  std::vector<std::vector<float>> storage;
  storage.reserve(in.size() + out.size());
  auto widen = [&storage](std::vector<TensorRef> refs, bool copy_values) {
    for (TensorRef& t : refs) {
      if (!IsHalf(t.dtype)) continue;
      storage.emplace_back(static_cast<size_t>(t.num_elements()));
      if (copy_values) {
        for (int64_t i = 0; i < t.num_elements(); ++i) {
          storage.back()[i] = Float16BitsToFloat(t.dtype, t.as<uint16_t>()[i]);
        }
      }
      t.dtype = proto::DT_FLOAT;
      t.data = storage.back().data();
    }
    return refs;
  };
  KernelSpec wide = spec;
  wide.inputs = widen(in, true);
  wide.outputs = widen(out, false);
  RETURN_IF_ERROR(fn(wide, wide.inputs, wide.outputs));
  for (size_t k = 0; k < out.size(); ++k) {
    if (!IsHalf(out[k].dtype)) continue;
    const float* src = wide.outputs[k].as<float>();
    for (int64_t i = 0; i < out[k].num_elements(); ++i) {
      out[k].as<uint16_t>()[i] = FloatToFloat16Bits(out[k].dtype, src[i]);
    }
  }
  return Status::Ok();
}

bool AnyHalf(const std::vector<TensorRef>& refs) {
  for (const TensorRef& t : refs) {
    if (IsHalf(t.dtype)) return true;
  }
  return false;
}

void RegisterRef(KernelRegistry& r, const char* op, int min_inputs, int min_outputs, SimpleKernelFn fn, HalfMode half) {
  r.Register(
      "ref", op,
      MakeSimpleKernel([min_inputs, min_outputs, fn, half](const KernelSpec& spec, const std::vector<TensorRef>& in,
                                                           const std::vector<TensorRef>& out) -> Status {
        RETURN_IF_ERROR(CheckBuffers(in, out, min_inputs, min_outputs));
        if (half == HalfMode::kWidenToFloat && (AnyHalf(in) || AnyHalf(out))) {
          return RunWidened(fn, spec, in, out);
        }
        return fn(spec, in, out);
      }));
}

bool SameInts(const TensorRef& t, const std::vector<int64_t>& values) {
  if (t.dtype != proto::DT_INT64 && t.dtype != proto::DT_INT32) return false;
  if (t.num_elements() != static_cast<int64_t>(values.size())) return false;
  for (size_t i = 0; i < values.size(); ++i) {
    if (IntAt(t, static_cast<int64_t>(i)) != values[i]) return false;
  }
  return true;
}

Status SliceWalk::Update(const Dims& data, const std::vector<TensorRef>& in) {
  bool same = valid_ && data == data_;
  for (int k = 0; k < kInputs && same; ++k) {
    const bool present = HasInput(in, k + 1);
    same = present == present_[k] && (!present || SameInts(in[k + 1], values_[k]));
  }
  if (same) return Status::Ok();
  valid_ = false;
  static const char* const kNames[kInputs] = {"starts", "ends", "axes", "steps"};
  for (int k = 0; k < kInputs; ++k) {
    present_[k] = HasInput(in, k + 1);
    values_[k].clear();
    if (present_[k]) {
      ASSIGN_OR_RETURN(values_[k], ReadInts(in[k + 1], kNames[k]));
    }
  }
  ASSIGN_OR_RETURN(SliceRange range, ResolveSlice(data, values_[0], values_[1], values_[2], values_[3]));
  const Dims strides = RowMajorStrides(data);
  Dims walk(strides.size());
  base_ = 0;
  for (size_t d = 0; d < strides.size(); ++d) {
    base_ += range.starts[d] * strides[d];
    walk[d] = range.steps[d] * strides[d];
  }
  runs_ = MergeStridedRuns(range.output, walk);
  output_ = std::move(range.output);
  index_.assign(runs_.extent.size(), 0);
  data_ = data;
  valid_ = true;
  return Status::Ok();
}

StatusOr<GatherGeometry> ResolveGather(const Dims& data, const TensorRef& indices, int64_t axis, const Dims& gathered,
                                       const char* what) {
  if (data.empty()) return InvalidArgument("data must have rank >= 1");
  if (indices.dtype != proto::DT_INT64 && indices.dtype != proto::DT_INT32) {
    return InvalidArgument("indices must be int32 or int64, got ", DTypeName(indices.dtype));
  }
  GatherGeometry g;
  ASSIGN_OR_RETURN(g.axis, NormalizeAxis(axis, static_cast<int64_t>(data.size())));
  // data[:axis] + indices' dims + data[axis + 1:], compared without building it.
  const size_t rank = data.size() - 1 + indices.dims.size();
  bool shaped = gathered.size() == rank;
  for (size_t d = 0; d < rank && shaped; ++d) {
    const size_t axis_end = g.axis + indices.dims.size();
    const int64_t want = d < static_cast<size_t>(g.axis) ? data[d]
                         : d < axis_end                  ? indices.dims[d - g.axis]
                                                         : data[d - indices.dims.size() + 1];
    shaped = gathered[d] == want;
  }
  if (!shaped) {
    Dims want(data.begin(), data.begin() + g.axis);
    want.insert(want.end(), indices.dims.begin(), indices.dims.end());
    want.insert(want.end(), data.begin() + g.axis + 1, data.end());
    return InvalidArgument(what, " shape ", DimsToString(gathered), " is not ", DimsToString(want));
  }
  g.size = data[g.axis];
  for (int64_t d = 0; d < g.axis; ++d) g.outer *= data[d];
  for (size_t d = g.axis + 1; d < data.size(); ++d) g.inner *= data[d];
  g.indices = &indices;
  g.count = indices.num_elements();
  for (int64_t q = 0; q < g.count; ++q) {
    const int64_t v = IntAt(indices, q);
    if (v < -g.size || v >= g.size) return InvalidArgument("index ", v, " out of range for axis of size ", g.size);
  }
  return g;
}

}  // namespace kiln::runtime::ref
