#include "compiler/backends/cpu/cpu_backend.h"

#include <unordered_map>

#include "compiler/backends/cpu/kernel_choice.h"
#include "compiler/memory_planner.h"
#include "ir/core/fused_program.h"
#include "ir/core/resource_limits.h"
#include "runtime/kernel.h"

namespace kiln {

// A "jit" step names its generated function and how many rows it has to compute.
// Steps with the same program and buffer shapes share one function (`symbols`:
// key -> symbol): a long chain capped into many identical groups compiles once,
// so JIT time grows with the number of distinct kernels, not of steps.
static Status AddCompiledStepAttributes(const Node& node, const CpuCompileOptions& options,
                                        std::unordered_map<std::string, std::string>& symbols, proto::Step* step) {
  std::vector<Dims> inputs;
  for (const Value* in : node.inputs()) {
    if (!in) return InvalidArgument(node.Label(), ": fused kernels have no optional inputs");
    inputs.push_back(in->dims());
  }
  Attrs attrs = node.attrs();
  int64_t iterations = 1;  // a fused loss (FusedLossGeometry)
  if (node.op_type() == "FusedSoftmaxCrossEntropy") {
    std::vector<TensorType> input_types, output_types;
    for (const Value* in : node.inputs()) input_types.push_back(in->type());
    for (const Value* out : node.outputs()) output_types.push_back(out->type());
    auto loss = ComputeFusedLossGeometry(attrs, input_types, output_types);
    if (!loss.ok()) return loss.status().WithContext(node.Label());
  } else {
    auto step_rows = ComputeFusedStepRows(node.op_type(), attrs, inputs, node.output(0)->dims());
    if (!step_rows.ok()) return step_rows.status().WithContext(node.Label());
    iterations = step_rows->rows;
  }
  std::string key = node.op_type() + attrs.GetString("program", "") + attrs.GetString("reduce", "") +
                    std::to_string(attrs.GetInt("operand", -1)) + std::to_string(attrs.GetInt("axis", -1)) +
                    std::to_string(attrs.GetInt("sparse", -1)) + std::to_string(node.num_outputs()) +
                    DimsToString(node.output(0)->dims());
  for (const Dims& d : inputs) key += DimsToString(d);
  auto it = symbols.try_emplace(key, options.kernel_symbol_prefix + std::to_string(symbols.size())).first;
  attrs.SetString("symbol", it->second);
  attrs.SetInt("iterations", iterations);
  attrs.ToProto(step->mutable_attribute());
  return Status::Ok();
}

static bool HasNonPlainValue(const Node& node) {
  for (const Value* v : node.inputs()) {
    if (v && v->layout() != proto::LAYOUT_PLAIN) return true;
  }
  for (const Value* v : node.outputs()) {
    if (v->layout() != proto::LAYOUT_PLAIN) return true;
  }
  return false;
}

std::string CpuKernelFor(const Node& node, const CpuCompileOptions& options) {
  const auto& kernels = runtime::KernelRegistry::Global();
  if (kernels.Has("jit", node.op_type())) return "jit";  // generated code when the session has it, else the interpreter
  if (options.use_onednn && kernels.Has("onednn", node.op_type()) && OneDnnUnsupportedReason(node).empty()) {
    return "onednn";
  }
  return kernels.Has("ref", node.op_type()) ? "ref" : "";
}

StatusOr<proto::Plan> CompileForCpu(const Graph& graph, const CpuCompileOptions& options) {
  proto::Plan plan;
  std::unordered_map<const Value*, int> buffer_index;
  std::string constants;
  const MemoryPlan memory = PlanMemory(graph, /*share=*/true);
  // Before anything is materialized: the session allocates the arena whole.
  RETURN_IF_ERROR(CheckLimit(Limit::kArenaBytes, memory.arena_size, "graph '" + graph.name() + "'", "memory arena"));
  plan.set_arena_size(memory.arena_size);

  auto buffer_of = [&](const Value* v) -> StatusOr<int> {
    auto it = buffer_index.find(v);
    if (it != buffer_index.end()) return it->second;
    if (!v->has_type()) return Internal("value '", v->name(), "' has no type (run shape inference first)");
    RETURN_IF_ERROR(CheckTensorSize(v->dtype(), v->dims(), "value '" + v->name() + "'"));
    proto::Buffer* b = plan.add_buffer();
    b->set_name(v->name());
    b->set_dtype(v->dtype());
    for (int64_t d : v->dims()) b->add_dims(d);
    // Layouts are a choice among oneDNN kernels: a reference-only plan keeps every value plain.
    b->set_layout(options.use_onednn ? v->layout() : proto::LAYOUT_PLAIN);
    auto append_constant = [&](const Tensor& t) {
      constants.resize((constants.size() + 63) / 64 * 64, '\0');
      const int64_t at = static_cast<int64_t>(constants.size());
      constants.append(static_cast<const char*>(t.data()), t.num_bytes());
      return at;
    };
    if (v->is_constant()) {
      b->set_kind(proto::BUF_CONSTANT);
      b->set_offset(append_constant(v->constant()));
    } else {
      auto off = memory.offsets.find(v);
      if (off == memory.offsets.end()) return Internal("value '", v->name(), "' was not planned");
      b->set_kind(proto::BUF_ARENA);
      b->set_offset(off->second);
      if (const StateVar* st = graph.FindState(v)) {
        b->set_kind(proto::BUF_STATE);
        b->set_init_offset(append_constant(st->initial));
      }
    }
    int index = plan.buffer_size() - 1;
    buffer_index[v] = index;
    return index;
  };

  for (Value* in : graph.inputs()) {
    ASSIGN_OR_RETURN(int idx, buffer_of(in));
    plan.add_input(idx);
  }
  for (const StateVar& st : graph.states()) {
    ASSIGN_OR_RETURN(int idx, buffer_of(st.value));
    plan.add_state(idx);
  }
  std::vector<std::string> errors;
  std::unordered_map<std::string, std::string> kernel_symbols;  // see AddCompiledStepAttributes
  int64_t constant_bytes = 0;
  for (const Value* c : graph.constants()) constant_bytes += c->constant().num_bytes();
  for (const auto& node_ptr : graph.nodes()) {
    const Node& node = *node_ptr;
    const std::string backend = CpuKernelFor(node, options);
    if (backend.empty()) {
      errors.push_back(node.Label() + ": no CPU kernel for op " + node.op_type());
      continue;
    }
    if (backend != "onednn" && options.use_onednn && HasNonPlainValue(node)) {
      // assign-layouts asked the target (these same kernels); a disagreement is a compiler bug.
      return Internal(node.Label(), ": a value has a non-plain layout but the ", backend, " kernel takes plain ones");
    }
    const KernelChoice choice = ChooseKernel(node, backend, constant_bytes);
    proto::Step* step = plan.add_step();
    step->set_name(node.name());
    step->set_op_type(node.op_type());
    step->set_kernel(choice.kernel);
    if (!choice.reason.empty()) step->set_kernel_reason(choice.reason);
    node.attrs().ToProto(step->mutable_attribute());
    if (backend == "jit") RETURN_IF_ERROR(AddCompiledStepAttributes(node, options, kernel_symbols, step));
    for (Value* in : node.inputs()) {
      if (!in) {
        step->add_input(-1);
        continue;
      }
      ASSIGN_OR_RETURN(int idx, buffer_of(in));
      step->add_input(idx);
    }
    for (Value* out : node.outputs()) {
      if (!out->has_type()) {
        // An unused optional output (e.g. Dropout's mask) still needs a buffer: give it its inferred-less
        // shape as the first input's, which the kernel treats as scratch.
        return Internal(node.Label(), ": output '", out->name(), "' has no type");
      }
      ASSIGN_OR_RETURN(int idx, buffer_of(out));
      step->add_output(idx);
    }
  }
  if (!errors.empty()) {
    std::string msg;
    for (size_t i = 0; i < errors.size(); ++i) msg += (i ? "\n" : "") + errors[i];
    return Unimplemented(msg);
  }
  for (Value* out : graph.outputs()) {
    ASSIGN_OR_RETURN(int idx, buffer_of(out));
    plan.add_output(idx);
  }
  for (const StateVar& st : graph.states()) {
    if (!st.update) continue;
    proto::StateUpdate* su = plan.add_state_update();
    ASSIGN_OR_RETURN(int state_idx, buffer_of(st.value));
    ASSIGN_OR_RETURN(int update_idx, buffer_of(st.update));
    su->set_state(state_idx);
    su->set_update(update_idx);
  }
  plan.set_constants(std::move(constants));
  return plan;
}

namespace {

class CpuBackendImpl final : public Backend {
 public:
  const char* name() const override { return "cpu"; }
  const Target& target() const override { return DefaultTarget(); }
  std::string UnsupportedReason(const Node& node, const LowerOptions& options) const override {
    return CpuKernelFor(node, options).empty() ? "no CPU kernel for op " + node.op_type() : "";
  }
  StatusOr<proto::Plan> Lower(const Graph& graph, const LowerOptions& options) const override {
    return CompileForCpu(graph, options);
  }
};

}  // namespace

const Backend& CpuBackend() {
  static const CpuBackendImpl backend;
  return backend;
}

}  // namespace kiln
