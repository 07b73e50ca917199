// Signal processing with ONNX semantics: the cosine-sum windows (HannWindow,
// HammingWindow, BlackmanWindow), the discrete Fourier transform (DFT) and rotary
// position embeddings (RotaryEmbedding). Reference kernels in
// runtime/kernels/reference/signal.cc.
#include <string>

#include "ir/core/op_registry.h"
#include "ir/core/ops/infer_helpers.h"
#include "ir/core/shape_util.h"

namespace kiln {
namespace {

using ops::CheckDType;
using ops::CheckRank;
using ops::TypeClass;

Status CheckFlag(const InferContext& ctx, const char* name, int64_t fallback) {
  const int64_t v = ctx.attrs().GetInt(name, fallback);
  if (v != 0 && v != 1) return ctx.Error(name, " must be 0 or 1, got ", v);
  return Status::Ok();
}

// The value of a constant integer scalar input (shape [] or [1]).
StatusOr<int64_t> ConstantScalar(const InferContext& ctx, int i, const char* name) {
  ASSIGN_OR_RETURN(std::vector<int64_t> v, ops::ConstantInts(ctx, i, name));
  if (v.size() != 1) return ctx.Error("'", name, "' must be a scalar, got ", v.size(), " values");
  return v[0];
}

// HannWindow / HammingWindow / BlackmanWindow(size): [size] of output_datatype (float32).
Status InferWindow(InferContext& ctx) {
  ASSIGN_OR_RETURN(int64_t size, ConstantScalar(ctx, 0, "size"));
  if (size < 0 || size > kMaxTensorElements) return ctx.Error("size ", size, " is out of range");
  RETURN_IF_ERROR(CheckFlag(ctx, "periodic", 1));
  auto dtype = DTypeFromOnnx(ctx.attrs().GetInt("output_datatype", 1));
  if (!dtype.ok()) return ctx.Unsupported("output_datatype: ", dtype.status().message());
  if (*dtype == proto::DT_BOOL) return ctx.Error("output_datatype must be numeric, got bool");
  ctx.set_output(0, *dtype, {size});
  return Status::Ok();
}

// DFT(input, dft_length?, axis?): input [..., signal..., 1 (real) | 2 (complex)], transformed
// along `axis` (ONNX 17's attribute, default 1; DFT 20's constant axis input is imported
// into it, a computed one stays the third input and must fold to a constant).
// Forward: complex out, onesided keeps bins 0..n/2. Inverse: complex out, or with
// onesided (numpy's irfft) the real signal of length n (default 2 * (bins - 1)).
Status InferDft(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 2, ops::kVariadic, "input"));
  RETURN_IF_ERROR(CheckFlag(ctx, "inverse", 0));
  RETURN_IF_ERROR(CheckFlag(ctx, "onesided", 0));
  Dims dims = ctx.input_dims(0);
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (dims.back() != 1 && dims.back() != 2) {
    return ctx.Error("the last dimension of input must be 1 (real) or 2 (complex), got ", DimsToString(dims));
  }
  int64_t axis = ctx.attrs().GetInt("axis", 1);
  if (ctx.has_input(2)) {
    ASSIGN_OR_RETURN(axis, ConstantScalar(ctx, 2, "axis"));
  }
  const int64_t given = axis;
  if (axis < 0) axis += rank;
  if (axis < 0 || axis > rank - 2) return ctx.Error("axis ", given, " is not a signal axis of ", DimsToString(dims));
  const bool inverse = ctx.attrs().GetInt("inverse", 0) != 0, onesided = ctx.attrs().GetInt("onesided", 0) != 0;
  int64_t n = inverse && onesided ? 2 * (dims[axis] - 1) : dims[axis];
  if (ctx.has_input(1)) {
    ASSIGN_OR_RETURN(n, ConstantScalar(ctx, 1, "dft_length"));
  }
  if (n < 1 || n > kMaxTensorElements) return ctx.Error("dft_length ", n, " must be positive");
  dims[axis] = !inverse && onesided ? n / 2 + 1 : n;
  dims.back() = inverse && onesided ? 1 : 2;
  ctx.set_output(0, ctx.input_dtype(0), dims);
  return Status::Ok();
}

// RotaryEmbedding(input, cos_cache, sin_cache, position_ids?): input [B, H, S, D] or
// [B, S, H*D] (num_heads given); caches [max_position, R/2] indexed by position_ids [B, S],
// or [B, S, R/2] without them; the first R = rotary_embedding_dim (default D) elements of
// each head rotate, in halves or interleaved pairs.
Status InferRotaryEmbedding(InferContext& ctx) {
  RETURN_IF_ERROR(CheckDType(ctx, 0, TypeClass::kFloat));
  RETURN_IF_ERROR(CheckRank(ctx, 0, 3, 4, "input"));
  RETURN_IF_ERROR(ops::CheckSameDType(ctx, 1, 0));
  RETURN_IF_ERROR(ops::CheckSameDType(ctx, 2, 0));
  RETURN_IF_ERROR(CheckFlag(ctx, "interleaved", 0));
  const Dims& x = ctx.input_dims(0);
  const int64_t heads_attr = ctx.attrs().GetInt("num_heads", 0);
  int64_t batch = x[0], seq = 0, head_size = 0;
  if (x.size() == 4) {
    seq = x[2];
    head_size = x[3];
  } else {
    if (heads_attr <= 0 || x[2] % heads_attr != 0) {
      return ctx.Error("a 3-D input [batch, sequence, hidden] needs num_heads dividing hidden ", x[2], ", got ",
                       heads_attr);
    }
    seq = x[1];
    head_size = x[2] / heads_attr;
  }
  const int64_t rotary =
      ctx.attrs().GetInt("rotary_embedding_dim", 0) ? ctx.attrs().GetInt("rotary_embedding_dim", 0) : head_size;
  if (rotary < 2 || rotary % 2 || rotary > head_size) {
    return ctx.Error("rotary_embedding_dim ", rotary, " must be even and within the head size ", head_size);
  }
  const Dims want = ctx.has_input(3) ? Dims{-1, rotary / 2} : Dims{batch, seq, rotary / 2};
  for (int i : {1, 2}) {
    const Dims& cache = ctx.input_dims(i);
    bool ok = cache.size() == want.size();
    for (size_t d = 0; ok && d < want.size(); ++d) ok = want[d] < 0 || cache[d] == want[d];
    if (!ok) {
      return ctx.Error(i == 1 ? "cos_cache " : "sin_cache ", DimsToString(cache), " must be ",
                       ctx.has_input(3) ? "[max_position, " : "[batch, sequence, ", rotary / 2, "]");
    }
  }
  if (ctx.has_input(3)) {
    RETURN_IF_ERROR(CheckDType(ctx, 3, TypeClass::kInteger, "position_ids"));
    if (ctx.input_dims(3) != Dims{batch, seq}) {
      return ctx.Error("position_ids ", DimsToString(ctx.input_dims(3)), " must be [", batch, ", ", seq, "]");
    }
  }
  ctx.set_output(0, ctx.input_type(0));
  return Status::Ok();
}

}  // namespace

void RegisterSignalOps(OpRegistry& r) {
  const std::vector<AttrSpec> window_attrs = {{"output_datatype", AttrType::kInt}, {"periodic", AttrType::kInt}};
  r.Add({.kind = OpKind::kHannWindow,
         .attrs = window_attrs,
         .infer_shape = InferWindow,
         .doc = "0.5 - 0.5 cos(2 pi n / N), N = size (periodic) or size - 1"});
  r.Add({.kind = OpKind::kHammingWindow,
         .attrs = window_attrs,
         .infer_shape = InferWindow,
         .doc = "25/46 - 21/46 cos(2 pi n / N), N = size (periodic) or size - 1"});
  r.Add({.kind = OpKind::kBlackmanWindow,
         .attrs = window_attrs,
         .infer_shape = InferWindow,
         .doc = "0.42 - 0.5 cos(2 pi n / N) + 0.08 cos(4 pi n / N), N = size (periodic) or size - 1"});
  r.Add({.kind = OpKind::kDFT,
         .max_inputs = 3,
         .attrs = {{"axis", AttrType::kInt}, {"inverse", AttrType::kInt}, {"onesided", AttrType::kInt}},
         .infer_shape = InferDft,
         .doc = "discrete Fourier transform along axis (1): real [..., 1] or complex [..., 2] in; inverse, "
                "onesided (rfft / irfft), dft_length pads or truncates"});
  r.Add({.kind = OpKind::kRotaryEmbedding,
         .min_inputs = 3,
         .max_inputs = 4,
         .attrs = {{"interleaved", AttrType::kInt},
                   {"rotary_embedding_dim", AttrType::kInt},
                   {"num_heads", AttrType::kInt}},
         .infer_shape = InferRotaryEmbedding,
         .doc = "rotates each head's first rotary_embedding_dim elements by the cached angles of its position"});
}

}  // namespace kiln
