#include "ir/core/op_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace kiln {

static const char* const kOpNames[] = {
#define OP(name) #name,
#include "ir/core/ops.def"
#undef OP
};

const char* OpKindName(OpKind kind) { return kOpNames[static_cast<int>(kind)]; }

void OpRegistry::Add(OpDef def) {
  def.name = OpKindName(def.kind);
  defs_.push_back(std::move(def));
}

const OpDef* OpRegistry::Find(const std::string& name) const {
  for (const auto& d : defs_) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

std::vector<const OpDef*> OpRegistry::All() const {
  std::vector<const OpDef*> out;
  for (const auto& d : defs_) out.push_back(&d);
  std::sort(out.begin(), out.end(), [](const OpDef* a, const OpDef* b) { return a->kind < b->kind; });
  return out;
}

static const OpRegistry& Registry() {
  static const OpRegistry* registry = [] {
    auto* r = new OpRegistry();
    RegisterElementwiseOps(*r);
    RegisterLinalgOps(*r);
    RegisterNnOps(*r);
    RegisterShapeOps(*r);
    RegisterReductionOps(*r);
    RegisterLogicalOps(*r);
    RegisterSignalOps(*r);
    RegisterIndexingOps(*r);
    RegisterLossOps(*r);
    RegisterArrayOps(*r);
    RegisterResizeOps(*r);
    RegisterQuantizeOps(*r);
    RegisterAttentionOps(*r);
    RegisterRecurrentOps(*r);
    RegisterGradientOps(*r);
    RegisterTrainingOps(*r);
    RegisterFusedOps(*r);
    RegisterFusedElementwiseOps(*r);
    RegisterBitwiseOps(*r);
    RegisterEinsumOps(*r);
    RegisterNormalizationOps(*r);
    RegisterValueShapedOps(*r);
    return r;
  }();
  return *registry;
}

const OpDef* FindOpDef(const std::string& op_type) { return Registry().Find(op_type); }

const OpDef& GetOpDef(OpKind kind) {
  const OpDef* def = Registry().Find(OpKindName(kind));
  if (!def) {
    // A programming error (an op in ops.def without a definition), caught by the registry test.
    std::fprintf(stderr, "kiln: op %s has no definition\n", OpKindName(kind));
    std::abort();
  }
  return *def;
}

std::vector<const OpDef*> AllOpDefs() { return Registry().All(); }

static bool AttrMatches(const proto::Attribute& a, AttrType type) {
  switch (type) {
    case AttrType::kInt: return a.value_case() == proto::Attribute::kI;
    case AttrType::kFloat: return a.value_case() == proto::Attribute::kF || a.value_case() == proto::Attribute::kI;
    case AttrType::kString: return a.value_case() == proto::Attribute::kS;
    case AttrType::kInts:
      return a.value_case() == proto::Attribute::kInts || a.value_case() == proto::Attribute::kI ||
             a.value_case() == proto::Attribute::VALUE_NOT_SET;  // an empty list
    case AttrType::kFloats:
      return a.value_case() == proto::Attribute::kFloats || a.value_case() == proto::Attribute::kF ||
             a.value_case() == proto::Attribute::VALUE_NOT_SET;
    case AttrType::kStrings: return a.value_case() == proto::Attribute::kStrings;
    case AttrType::kTensor: return a.value_case() == proto::Attribute::kT;
  }
  return false;
}

const char* AttrTypeName(AttrType type) {
  switch (type) {
    case AttrType::kInt: return "int";
    case AttrType::kFloat: return "float";
    case AttrType::kString: return "string";
    case AttrType::kInts: return "ints";
    case AttrType::kFloats: return "floats";
    case AttrType::kStrings: return "strings";
    case AttrType::kTensor: return "tensor";
  }
  return "?";
}

Status ValidateNode(const OpDef& def, const std::string& label, int num_inputs, int num_outputs, const Attrs& attrs) {
  if (num_inputs < def.min_inputs || num_inputs > def.max_inputs) {
    return InvalidArgument(label, ": takes ", def.min_inputs,
                           def.min_inputs == def.max_inputs ? "" : " to " + std::to_string(def.max_inputs),
                           " inputs, got ", num_inputs);
  }
  if (num_outputs < def.min_outputs || num_outputs > def.max_outputs) {
    return InvalidArgument(label, ": produces ", def.min_outputs,
                           def.min_outputs == def.max_outputs ? "" : " to " + std::to_string(def.max_outputs),
                           " outputs, got ", num_outputs);
  }
  for (const auto& spec : def.attrs) {
    const proto::Attribute* a = attrs.Find(spec.name);
    if (!a) {
      if (spec.required) return InvalidArgument(label, ": missing required attribute '", spec.name, "'");
      continue;
    }
    if (!AttrMatches(*a, spec.type)) {
      return InvalidArgument(label, ": attribute '", spec.name, "' must be of type ", AttrTypeName(spec.type));
    }
  }
  for (const auto& [name, a] : attrs.all()) {
    bool known = std::any_of(def.attrs.begin(), def.attrs.end(),
                             [&attr_name = name](const AttrSpec& s) { return s.name == attr_name; });
    if (!known) return InvalidArgument(label, ": unknown attribute '", name, "'");
  }
  return Status::Ok();
}

StatusOr<std::vector<TensorType>> InferOpTypes(const OpDef& def, const std::string& label, const Attrs& attrs,
                                               std::vector<ShapeInput> inputs, int num_outputs) {
  RETURN_IF_ERROR(ValidateNode(def, label, static_cast<int>(inputs.size()), num_outputs, attrs));
  for (int i = 0; i < def.min_inputs && i < static_cast<int>(inputs.size()); ++i) {
    // ONNX omits only optional inputs, and those all come after the required ones.
    if (!inputs[i].present) return InvalidArgument(label, ": required input ", i, " is missing");
  }
  InferContext ctx(label, attrs, std::move(inputs), num_outputs);
  if (!def.infer_shape) return Unimplemented(label, ": no shape inference");
  RETURN_IF_ERROR(def.infer_shape(ctx));
  for (int i = 0; i < ctx.num_outputs(); ++i) {
    const TensorType& t = ctx.outputs()[i];
    if (t.dtype == proto::DT_UNDEFINED) {
      // Optional outputs (e.g. Dropout's mask) may be left untyped only when unused; the caller decides.
      continue;
    }
    auto count = CheckedElementCount(t.dims);
    if (!count.ok()) return InvalidArgument(label, ": output ", i, " ", count.status().message());
  }
  return std::move(ctx.outputs());
}

}  // namespace kiln
