// The op registry: one definition per op (signature, attribute schema, shape
// inference). The verifier, the shape inference pass, the backends and the
// runtime's plan validation all call the same InferShape. This file and ir/core/ops/
// are part of the runtime library, which has no graphs; gradient rules are the IR
// library's (ir/gradient.h, ir/gradients/*_grad.cc).
#pragma once

#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/status.h"
#include "ir/core/tensor.h"

namespace kiln {

enum class OpKind {
#define OP(name) k##name,
#include "ir/core/ops.def"
#undef OP
  kNumOps
};

enum class AttrType { kInt, kFloat, kString, kInts, kFloats, kStrings, kTensor };

/// "int", "floats", ... (messages, docs/ops.md).
const char* AttrTypeName(AttrType type);

struct AttrSpec {
  std::string name;
  AttrType type;
  bool required = false;
};

/// One input as seen by shape inference: its type and, when known at compile
/// time (a constant or a folded value), its contents.
struct ShapeInput {
  bool present = false;
  TensorType type;
  const Tensor* value = nullptr;
};

/// What an InferShape function reads and writes. Pure: no graph access.
class InferContext {
 public:
  InferContext(std::string label, const Attrs& attrs, std::vector<ShapeInput> inputs, int num_outputs)
      : label_(std::move(label)), attrs_(attrs), inputs_(std::move(inputs)), outputs_(num_outputs) {}

  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  bool has_input(int i) const { return i < num_inputs() && inputs_[i].present; }
  const TensorType& input_type(int i) const { return inputs_[i].type; }
  const Dims& input_dims(int i) const { return inputs_[i].type.dims; }
  DType input_dtype(int i) const { return inputs_[i].type.dtype; }
  int input_rank(int i) const { return static_cast<int>(inputs_[i].type.dims.size()); }
  /// Contents of input i when known at compile time, else null.
  const Tensor* input_value(int i) const { return has_input(i) ? inputs_[i].value : nullptr; }
  const Attrs& attrs() const { return attrs_; }
  const std::string& label() const { return label_; }

  void set_output(int i, TensorType t) { outputs_[i] = std::move(t); }
  void set_output(int i, DType dtype, Dims dims) { outputs_[i] = TensorType{dtype, std::move(dims)}; }
  std::vector<TensorType>& outputs() { return outputs_; }

  /// An InvalidArgument status prefixed with the node label: "conv1 (Conv): ...".
  template <typename... Args>
  Status Error(const Args&... args) const {
    return InvalidArgument(label_, ": ", args...);
  }
  /// An Unimplemented status prefixed with the node label: valid ONNX the IR lacks.
  template <typename... Args>
  Status Unsupported(const Args&... args) const {
    return Unimplemented(label_, ": ", args...);
  }

 private:
  std::string label_;
  const Attrs& attrs_;
  std::vector<ShapeInput> inputs_;
  std::vector<TensorType> outputs_;
};

using InferShapeFn = Status (*)(InferContext& ctx);

/// Appends the gradient computation of one node (ir/gradient.h).
struct GradientContext;
using GradientFn = Status (*)(GradientContext& ctx);

struct OpDef {
  OpKind kind;
  std::string name = {};  // filled in by OpRegistry::Add
  int min_inputs = 1;
  int max_inputs = 1;
  int min_outputs = 1;
  int max_outputs = 1;
  std::vector<AttrSpec> attrs = {};
  InferShapeFn infer_shape = nullptr;
  std::string doc = {};  // one line, shown by `kiln dump --ops`
};

/// The registry entry for `op_type`, or null.
const OpDef* FindOpDef(const std::string& op_type);
const OpDef& GetOpDef(OpKind kind);
std::vector<const OpDef*> AllOpDefs();
const char* OpKindName(OpKind kind);

/// Checks arity and attributes (required present, types match, none unknown).
Status ValidateNode(const OpDef& def, const std::string& label, int num_inputs, int num_outputs, const Attrs& attrs);

/// ValidateNode, then the op's shape inference on `inputs` (a missing required
/// input is an error; `label` starts every message). Outputs left DT_UNDEFINED
/// are optional ones the op does not define.
StatusOr<std::vector<TensorType>> InferOpTypes(const OpDef& def, const std::string& label, const Attrs& attrs,
                                               std::vector<ShapeInput> inputs, int num_outputs);

/// Registration hooks, one per family file in ir/core/ops/ (called once by the registry).
class OpRegistry;
void RegisterElementwiseOps(OpRegistry& r);
void RegisterLinalgOps(OpRegistry& r);
void RegisterNnOps(OpRegistry& r);
void RegisterShapeOps(OpRegistry& r);
void RegisterReductionOps(OpRegistry& r);
void RegisterLogicalOps(OpRegistry& r);
void RegisterSignalOps(OpRegistry& r);
void RegisterIndexingOps(OpRegistry& r);
void RegisterArrayOps(OpRegistry& r);             // CumSum, TopK, OneHot, ... (ir/core/ops/array.cc)
void RegisterResizeOps(OpRegistry& r);            // ir/core/ops/resize.cc
void RegisterQuantizeOps(OpRegistry& r);          // ir/core/ops/quantize.cc
void RegisterAttentionOps(OpRegistry& r);         // ir/core/ops/attention.cc
void RegisterLossOps(OpRegistry& r);              // ONNX's class losses (ir/core/ops/loss.cc)
void RegisterRecurrentOps(OpRegistry& r);         // RNN, GRU, LSTM (ir/core/ops/recurrent.cc)
void RegisterGradientOps(OpRegistry& r);          // backward ops (ir/core/ops/backward.cc)
void RegisterTrainingOps(OpRegistry& r);          // losses and optimizer updates (ir/core/ops/training.cc)
void RegisterFusedOps(OpRegistry& r);             // FusedConv, FusedMatMul (ir/core/ops/fused.cc)
void RegisterFusedElementwiseOps(OpRegistry& r);  // FusedElementwise (ir/core/ops/fused_elementwise.cc)
void RegisterBitwiseOps(OpRegistry& r);           // BitShift, BitwiseNot (ir/core/ops/bitwise.cc)
void RegisterEinsumOps(OpRegistry& r);            // ir/core/ops/einsum.cc
void RegisterNormalizationOps(OpRegistry& r);     // LpNormalization, MVN, ReverseSequence, Det, GroupNorm
void RegisterValueShapedOps(OpRegistry& r);       // CenterCropPad, Compress, Unique (value_shaped.cc)

class OpRegistry {
 public:
  void Add(OpDef def);
  const OpDef* Find(const std::string& name) const;
  std::vector<const OpDef*> All() const;

 private:
  friend const OpDef& GetOpDef(OpKind kind);
  std::vector<OpDef> defs_;
};

}  // namespace kiln
