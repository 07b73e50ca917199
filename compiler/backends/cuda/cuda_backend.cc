#include "compiler/backends/cuda/cuda_backend.h"

#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>

#include "compiler/backend.h"
#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/backends/cuda/cuda_codegen.h"
#include "compiler/backends/cuda/cuda_kinds_lowering.h"
#include "compiler/memory_planner.h"
#include "ir/core/fused_program.h"
#include "ir/core/resource_limits.h"

namespace kiln {
namespace {

// Why the ops that have no CUDA lowering yet have none (issue 15's plan for them).
const std::map<std::string, std::string>& NotBuiltYet() {
  static const std::map<std::string, std::string> reasons = {
      {"ConvTranspose", "no generated ConvTranspose kernel yet"},
  };
  return reasons;
}

std::string FusedElementwiseUnsupportedReason(const Node& node) {
  for (const Value* v : node.inputs()) {
    if (!v) return "an omitted input";
    if (v->dtype() != proto::DT_FLOAT) return "CUDA elementwise kernels are float32 only";
  }
  for (const Value* v : node.outputs()) {
    if (v->dtype() != proto::DT_FLOAT) return "CUDA elementwise kernels are float32 only";
  }
  return "";
}

// What a generated kernel kind (cuda_kinds_lowering.h) needs to know of a node: its op,
// attributes, input shapes and the values of its constant integer inputs (axes, starts).
cuda::CudaOpView NodeView(const Node& node) {
  cuda::CudaOpView v;
  v.op_type = node.op_type();
  v.attrs = node.attrs();
  v.num_outputs = static_cast<int>(node.outputs().size());
  for (const Value* out : node.outputs()) v.output_dims.push_back(out->has_type() ? out->dims() : Dims{});
  for (const Value* in : node.inputs()) {
    std::optional<std::vector<int64_t>> ints;
    if (!in || !in->has_type()) {
      v.input_dims.emplace_back();
      v.input_dtypes.push_back(proto::DT_UNDEFINED);
      v.constant_ints.push_back(ints);
      continue;
    }
    v.input_dims.push_back(in->dims());
    v.input_dtypes.push_back(in->dtype());
    const bool int64 = in->dtype() == proto::DT_INT64;
    if (in->is_constant() && (int64 || in->dtype() == proto::DT_INT32)) {
      const int64_t n = ElementCount(in->dims());
      const char* data = static_cast<const char*>(in->constant().data());
      ints.emplace();
      for (int64_t i = 0; i < n; ++i) {
        if (int64) {
          int64_t x;
          std::memcpy(&x, data + 8 * i, 8);
          ints->push_back(x);
        } else {
          int32_t x;
          std::memcpy(&x, data + 4 * i, 4);
          ints->push_back(x);
        }
      }
    }
    v.constant_ints.push_back(ints);
  }
  return v;
}

// The CUDA target: post-op fusion where the generated GEMM / convolution kinds take the
// fused node (their epilogue adds the bias and residual and applies the activation), plain
// layouts only.
class CudaTarget final : public Target {
 public:
  const char* name() const override { return "cuda"; }
  std::string PostOpFusionUnsupportedReason(const Node& fused) const override {
    auto desc = cuda::CudaKindForOp(NodeView(fused));
    if (!desc.ok()) return desc.status().message();
    auto kernel = cuda::RenderCudaKind(*desc);
    return kernel.ok() ? "" : kernel.status().message();
  }
  Layout RegionLayout() const override { return proto::LAYOUT_PLAIN; }
  bool FusesSingleElementwiseOps() const override { return true; }  // generated kernels are its only ones
  std::string LayoutUnsupportedReason(const Node&, const std::vector<Layout>& inputs,
                                      const std::vector<Layout>& outputs) const override {
    for (const auto* list : {&inputs, &outputs}) {
      for (Layout l : *list) {
        if (l != proto::LAYOUT_PLAIN) return "cuda: kernels take plain layouts";
      }
    }
    return "";
  }
};

// Builds the plan. Every value has a home: the host for graph inputs and what host steps
// (the CPU fallback) produce, the device for what device steps produce; a step that reads
// it in the other space gets a copy made just before it (to_device / to_host, kernel
// "cuda"), graph outputs a copy to the host at the end. Every buffer, in either arena,
// sits at the memory planner's offset of its value: a copy lives within its value's
// lifetime, so buffers live at the same time never share bytes. Constants are host or
// device constants by the space of the steps that read them.
class CudaLowering {
 public:
  CudaLowering(const Graph& graph, const LowerOptions& options)
      : graph_(graph), options_(options), memory_(PlanMemory(graph)) {}

  StatusOr<proto::Plan> Run(const std::vector<bool>& on_host) {
    RETURN_IF_ERROR(
        CheckLimit(Limit::kArenaBytes, memory_.arena_size, "graph '" + graph_.name() + "'", "device memory arena"));
    plan_.set_device("cuda");
    for (const Value* in : graph_.inputs()) {
      ASSIGN_OR_RETURN(int host, NewArenaBuffer(in, proto::MEM_HOST, in->name()));
      plan_.add_input(host);
      buffers_[{in, proto::MEM_HOST}] = host;
    }
    // Training steps: every state (parameters, optimizer slots, the step counter) lives in
    // device memory for the session's life; the session uploads it once and downloads it
    // only when the caller reads the states (runtime/session.h).
    for (const StateVar& st : graph_.states()) {
      ASSIGN_OR_RETURN(int idx, NewArenaBuffer(st.value, proto::MEM_DEVICE, st.value->name()));
      proto::Buffer* b = plan_.mutable_buffer(idx);
      b->set_kind(proto::BUF_STATE);
      b->set_init_offset(AppendConstant(st.initial));
      plan_.add_state(idx);
      buffers_[{st.value, proto::MEM_DEVICE}] = idx;
    }
    size_t i = 0;
    for (const auto& node : graph_.nodes()) RETURN_IF_ERROR(LowerNode(*node, on_host[i++]));
    for (const Value* out : graph_.outputs()) {
      ASSIGN_OR_RETURN(int host, BufferIn(out, proto::MEM_HOST));
      plan_.add_output(host);
    }
    // An update the CPU fallback computed is copied to the device first; the session then
    // moves each update into its state on the device (none where the planner put the update
    // in the state's bytes: the optimizer updates run in place).
    for (const StateVar& st : graph_.states()) {
      if (!st.update) continue;
      ASSIGN_OR_RETURN(int update, BufferIn(st.update, proto::MEM_DEVICE));
      proto::StateUpdate* su = plan_.add_state_update();
      su->set_state(buffers_.at({st.value, proto::MEM_DEVICE}));
      su->set_update(update);
    }
    plan_.set_arena_size(arena_end_[proto::MEM_HOST]);
    plan_.set_device_arena_size(arena_end_[proto::MEM_DEVICE]);
    plan_.set_constants(std::move(constants_));
    return std::move(plan_);
  }

 private:
  static const char* SpaceSuffix(proto::MemorySpace space) { return space == proto::MEM_DEVICE ? ":device" : ":host"; }

  StatusOr<int> NewBuffer(const Value* v, const std::string& name) {
    if (!v->has_type()) return Internal("value '", v->name(), "' has no type (run shape inference first)");
    RETURN_IF_ERROR(CheckTensorSize(v->dtype(), v->dims(), "value '" + v->name() + "'"));
    proto::Buffer* b = plan_.add_buffer();
    b->set_name(name);
    b->set_dtype(v->dtype());
    for (int64_t d : v->dims()) b->add_dims(d);
    return plan_.buffer_size() - 1;
  }
  StatusOr<int> NewArenaBuffer(const Value* v, proto::MemorySpace space, const std::string& name) {
    auto off = memory_.offsets.find(v);
    if (off == memory_.offsets.end()) return Internal("value '", v->name(), "' was not planned");
    ASSIGN_OR_RETURN(int i, NewBuffer(v, name));
    plan_.mutable_buffer(i)->set_space(space);
    plan_.mutable_buffer(i)->set_offset(off->second);
    const int64_t bytes = std::max<int64_t>(DTypeSize(v->dtype()) * ElementCount(v->dims()), 1);
    int64_t& end = arena_end_[space];
    end = std::max(end, (off->second + bytes + 63) / 64 * 64);
    return i;
  }
  int64_t AppendConstant(const Tensor& t) {
    constants_.resize((constants_.size() + 63) / 64 * 64, '\0');
    const int64_t at = static_cast<int64_t>(constants_.size());
    constants_.append(static_cast<const char*>(t.data()), t.num_bytes());
    return at;
  }
  StatusOr<int> ConstantBuffer(const Value* v, proto::MemorySpace space) {
    ASSIGN_OR_RETURN(int i, NewBuffer(v, v->name()));
    proto::Buffer* b = plan_.mutable_buffer(i);
    b->set_kind(proto::BUF_CONSTANT);
    b->set_space(space);
    b->set_offset(AppendConstant(v->constant()));
    return i;
  }
  // The buffer of `v` in `space`: its home, a constant of that space, or a copy made now.
  StatusOr<int> BufferIn(const Value* v, proto::MemorySpace space) {
    auto it = buffers_.find({v, space});
    if (it != buffers_.end()) return it->second;
    int i;
    if (v->is_constant()) {
      ASSIGN_OR_RETURN(i, ConstantBuffer(v, space));
    } else {
      const proto::MemorySpace other = space == proto::MEM_HOST ? proto::MEM_DEVICE : proto::MEM_HOST;
      auto home = buffers_.find({v, other});
      if (home == buffers_.end()) return Internal("value '", v->name(), "' is read before it is written");
      // Graph outputs keep their names on the host (what a caller looks up).
      const bool output = space == proto::MEM_HOST && IsGraphOutput(v);
      ASSIGN_OR_RETURN(i, NewArenaBuffer(v, space, output ? v->name() : v->name() + SpaceSuffix(space)));
      AddCopy(v->name() + (space == proto::MEM_DEVICE ? ":to_device" : ":to_host"),
              space == proto::MEM_DEVICE ? "to_device" : "to_host", home->second, i);
    }
    buffers_[{v, space}] = i;
    return i;
  }
  bool IsGraphOutput(const Value* v) const {
    for (const Value* out : graph_.outputs()) {
      if (out == v) return true;
    }
    return false;
  }
  void AddCopy(const std::string& name, const std::string& direction, int from, int to) {
    proto::Step* step = plan_.add_step();
    step->set_name(name);
    step->set_op_type("Identity");
    step->set_kernel("cuda");
    Attrs attrs;
    attrs.SetString("direction", direction);
    attrs.ToProto(step->mutable_attribute());
    step->add_input(from);
    step->add_output(to);
  }

  // Device: one launch of the node's program. Host (the CPU fallback): the CPU's kernel.
  Status LowerNode(const Node& node, bool on_host) {
    const proto::MemorySpace space = on_host ? proto::MEM_HOST : proto::MEM_DEVICE;
    std::vector<int> inputs;
    for (const Value* in : node.inputs()) {
      if (!in) {
        inputs.push_back(-1);
        continue;
      }
      ASSIGN_OR_RETURN(int idx, BufferIn(in, space));
      inputs.push_back(idx);
    }
    Attrs attrs = node.attrs();
    std::string kernel = "cuda";
    if (on_host) {
      kernel = CpuKernelFor(node, options_);
      if (kernel.empty()) return Unimplemented(node.Label(), ": no CUDA or CPU kernel for op ", node.op_type());
      if (kernel == "jit") kernel = "ref";  // the interpreter: the CPU's generated kernels need its lowering
    } else if (node.op_type() == "FusedElementwise") {
      RETURN_IF_ERROR(AddLaunchAttributes(node, &attrs));
    } else {
      RETURN_IF_ERROR(AddKindLaunchAttributes(node, &attrs));
    }
    proto::Step* step = plan_.add_step();
    step->set_name(node.name());
    step->set_op_type(node.op_type());
    step->set_kernel(kernel);
    attrs.ToProto(step->mutable_attribute());
    for (int idx : inputs) step->add_input(idx);
    for (const Value* out : node.outputs()) {
      const bool output = on_host && IsGraphOutput(out);
      ASSIGN_OR_RETURN(int idx, NewArenaBuffer(out, space, output || !on_host ? out->name() : out->name() + ":host"));
      buffers_[{out, space}] = idx;
      plan_.mutable_step(plan_.step_size() - 1)->add_output(idx);
    }
    return Status::Ok();
  }

  // The kernel's image in the plan, compiled by NVRTC once per kernel name.
  Status AddImage(const cuda::CudaKernel& kernel) {
    if (images_.count(kernel.name)) return Status::Ok();
    ASSIGN_OR_RETURN(cuda::NvrtcResult compiled, cuda::NvrtcCompile(kernel.source, kernel.name, cuda::kPlanTarget));
    proto::KernelImage* image = plan_.add_kernel_image();
    image->set_name(kernel.name);
    image->set_format(compiled.cubin ? "cubin" : "ptx");
    image->set_arch((compiled.cubin ? "sm_" : "compute_") + std::to_string(cuda::kPlanTarget.major) +
                    std::to_string(cuda::kPlanTarget.minor));
    image->set_data(std::move(compiled.image));
    image->set_source(kernel.source);
    images_.insert(kernel.name);
    return Status::Ok();
  }

  // A generated kernel kind (softmax, reductions, pooling, data movement): its image, its
  // launch shape, and the shapes and types it was generated for (its first
  // `kernel_inputs` inputs, then its outputs), which the runtime checks against the
  // step's buffers: the shapes are constants in the kernel's source.
  Status AddKindLaunchAttributes(const Node& node, Attrs* attrs) {
    ASSIGN_OR_RETURN(cuda::CudaKernelDesc desc, cuda::CudaKindForOp(NodeView(node)));
    ASSIGN_OR_RETURN(cuda::GeneratedCudaKernel generated, cuda::RenderCudaKind(desc));
    const cuda::CudaKernel& kernel = generated.kernel;
    if (kernel.num_inputs > static_cast<int>(node.inputs().size()) ||
        kernel.num_outputs != static_cast<int>(node.outputs().size()) ||
        generated.outputs.size() != node.outputs().size()) {
      return Internal(node.Label(), ": the generated kernel ", kernel.name, " takes ", kernel.num_inputs,
                      " inputs and ", kernel.num_outputs, " outputs");
    }
    std::vector<int64_t> shapes, dtypes;
    auto add = [&](const Dims& dims, DType dtype) {
      shapes.push_back(static_cast<int64_t>(dims.size()));
      shapes.insert(shapes.end(), dims.begin(), dims.end());
      dtypes.push_back(dtype);
    };
    for (int k = 0; k < kernel.num_inputs; ++k) {
      if (!node.input(k)) return Internal(node.Label(), ": input ", k, " of the generated kernel is omitted");
      add(node.input(k)->dims(), node.input(k)->dtype());
    }
    for (int k = 0; k < kernel.num_outputs; ++k) {
      if (generated.outputs[k] != node.output(k)->dims()) {
        return Internal(node.Label(), ": the generated kernel ", kernel.name, "'s output ", k, " is ",
                        DimsToString(generated.outputs[k]), ", the node's ", DimsToString(node.output(k)->dims()));
      }
      add(node.output(k)->dims(), node.output(k)->dtype());
    }
    RETURN_IF_ERROR(AddImage(kernel));
    attrs->SetString("symbol", kernel.name);
    attrs->SetInt("launch_grid", generated.launch.grid);
    attrs->SetInt("launch_block", generated.launch.block);
    attrs->SetInt("kernel_inputs", kernel.num_inputs);
    attrs->SetInts("kernel_shapes", shapes);
    attrs->SetInts("kernel_dtypes", dtypes);
    return Status::Ok();
  }

  // The kernel image (compiled once per program) and the launch's words.
  Status AddLaunchAttributes(const Node& node, Attrs* attrs) {
    ASSIGN_OR_RETURN(FusedProgram program, ParseFusedProgram(node.attrs().GetString("program", "")));
    ASSIGN_OR_RETURN(cuda::CudaKernel kernel, cuda::RenderCudaKernel(program, cuda::CudaMath::kDouble));
    RETURN_IF_ERROR(AddImage(kernel));
    std::vector<Dims> input_dims;
    for (const Value* in : node.inputs()) input_dims.push_back(in->dims());
    int64_t elements = 0;
    ASSIGN_OR_RETURN(std::vector<uint64_t> args,
                     cuda::PackCudaKernelArgs(program, input_dims, node.output(0)->dims(),
                                              std::vector<uint64_t>(node.inputs().size(), 0),
                                              std::vector<uint64_t>(node.outputs().size(), 0), &elements));
    attrs->SetString("symbol", kernel.name);
    attrs->SetInts("args", std::vector<int64_t>(args.begin(), args.end()));
    attrs->SetInt("elements", elements);
    return Status::Ok();
  }

  const Graph& graph_;
  const LowerOptions& options_;
  const MemoryPlan memory_;
  proto::Plan plan_;
  std::string constants_;
  std::map<proto::MemorySpace, int64_t> arena_end_;                     // per space: what its buffers use
  std::map<std::pair<const Value*, proto::MemorySpace>, int> buffers_;  // a value's buffer per space
  std::set<std::string> images_;
};

class CudaBackendImpl final : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  const Target& target() const override { return target_; }
  std::string UnsupportedReason(const Node& node, const LowerOptions&) const override {
    if (node.op_type() == "FusedElementwise") return FusedElementwiseUnsupportedReason(node);
    auto it = NotBuiltYet().find(node.op_type());
    if (it != NotBuiltYet().end()) return it->second;
    // A generated kernel kind, or why none computes this node.
    auto desc = cuda::CudaKindForOp(NodeView(node));
    return desc.ok() ? "" : desc.status().message();
  }
  StatusOr<proto::Plan> Lower(const Graph& graph, const LowerOptions& options) const override {
    // Every node the backend cannot run, one line each, as the CPU's unsupported-ops error;
    // nothing falls back to the CPU silently.
    // With options.cpu_fallback (the user asked), such nodes run on the host instead.
    std::vector<std::string> errors;
    std::vector<bool> on_host;
    for (const auto& node : graph.nodes()) {
      const std::string why = UnsupportedReason(*node, options);
      on_host.push_back(!why.empty());
      if (!why.empty() && !options.cpu_fallback) errors.push_back(node->Label() + ": " + why);
    }
    if (!errors.empty()) {
      std::string msg = "cuda: " + std::to_string(errors.size()) + (errors.size() == 1 ? " node" : " nodes") +
                        " cannot be lowered yet";
      for (const std::string& e : errors) msg += "\n" + e;
      return Unimplemented(msg);
    }
    return CudaLowering(graph, options).Run(on_host);
  }

 private:
  CudaTarget target_;
};

}  // namespace

const Backend& CudaBackend() {
  static const CudaBackendImpl backend;
  return backend;
}

}  // namespace kiln
