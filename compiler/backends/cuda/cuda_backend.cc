#include "compiler/backends/cuda/cuda_backend.h"

#include <map>
#include <set>
#include <unordered_map>

#include "compiler/backend.h"
#include "compiler/backends/cuda/cuda_codegen.h"
#include "compiler/memory_planner.h"
#include "ir/core/fused_program.h"
#include "ir/core/resource_limits.h"

namespace kiln {
namespace {

// Why the ops that have no CUDA lowering yet have none (issue 15's plan for them).
const std::map<std::string, std::string>& NotBuiltYet() {
  static const std::map<std::string, std::string> reasons = {
      {"MatMul", "cuBLASLt lowering not built"},
      {"Gemm", "cuBLASLt lowering not built"},
      {"FusedMatMul", "cuBLASLt lowering not built"},
      {"Conv", "cuDNN convolution lowering not built"},
      {"FusedConv", "cuDNN convolution lowering not built"},
      {"ConvTranspose", "cuDNN convolution lowering not built"},
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

// The CUDA target: no post-op fusion (no cuBLASLt/cuDNN epilogues yet, so activations stay
// elementwise steps fuse-elementwise can take) and plain layouts only.
class CudaTarget final : public Target {
 public:
  const char* name() const override { return "cuda"; }
  std::string PostOpFusionUnsupportedReason(const Node&) const override {
    return "cuda: no fused GEMM or convolution epilogues yet";
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

// Builds the plan: host buffers for inputs and outputs (a host arena of their own), device
// buffers at the memory planner's offsets for every other value and the inputs' and outputs'
// device copies, device constants for the weights the device steps read.
class CudaLowering {
 public:
  explicit CudaLowering(const Graph& graph) : graph_(graph), memory_(PlanMemory(graph)) {}

  StatusOr<proto::Plan> Run() {
    RETURN_IF_ERROR(
        CheckLimit(Limit::kArenaBytes, memory_.arena_size, "graph '" + graph_.name() + "'", "device memory arena"));
    plan_.set_device("cuda");
    plan_.set_device_arena_size(memory_.arena_size);
    for (const Value* in : graph_.inputs()) {
      ASSIGN_OR_RETURN(int host, HostBuffer(in));
      plan_.add_input(host);
      ASSIGN_OR_RETURN(int device, DeviceBuffer(in, ":device"));
      AddCopy(in->name() + ":to_device", "to_device", host, device);
    }
    for (const auto& node : graph_.nodes()) RETURN_IF_ERROR(LowerNode(*node));
    for (const Value* out : graph_.outputs()) {
      if (out->is_constant()) {
        ASSIGN_OR_RETURN(int constant, ConstantBuffer(out, proto::MEM_HOST));
        plan_.add_output(constant);
        continue;
      }
      auto copied = host_outputs_.find(out);
      if (copied == host_outputs_.end()) {
        ASSIGN_OR_RETURN(int host, HostBuffer(out));
        ASSIGN_OR_RETURN(int device, DeviceBuffer(out, ""));
        AddCopy(out->name() + ":to_host", "to_host", device, host);
        copied = host_outputs_.emplace(out, host).first;
      }
      plan_.add_output(copied->second);
    }
    plan_.set_arena_size(host_arena_);
    plan_.set_constants(std::move(constants_));
    return std::move(plan_);
  }

 private:
  StatusOr<int> NewBuffer(const Value* v, const std::string& name) {
    if (!v->has_type()) return Internal("value '", v->name(), "' has no type (run shape inference first)");
    RETURN_IF_ERROR(CheckTensorSize(v->dtype(), v->dims(), "value '" + v->name() + "'"));
    proto::Buffer* b = plan_.add_buffer();
    b->set_name(name);
    b->set_dtype(v->dtype());
    for (int64_t d : v->dims()) b->add_dims(d);
    return plan_.buffer_size() - 1;
  }
  // Inputs and outputs: one after another in the host arena (they are all live for the whole run).
  StatusOr<int> HostBuffer(const Value* v) {
    ASSIGN_OR_RETURN(int i, NewBuffer(v, v->name()));
    plan_.mutable_buffer(i)->set_offset(host_arena_);
    host_arena_ += (std::max<int64_t>(DTypeSize(v->dtype()) * ElementCount(v->dims()), 1) + 63) / 64 * 64;
    return i;
  }
  StatusOr<int> ConstantBuffer(const Value* v, proto::MemorySpace space) {
    ASSIGN_OR_RETURN(int i, NewBuffer(v, v->name()));
    proto::Buffer* b = plan_.mutable_buffer(i);
    b->set_kind(proto::BUF_CONSTANT);
    b->set_space(space);
    constants_.resize((constants_.size() + 63) / 64 * 64, '\0');
    b->set_offset(static_cast<int64_t>(constants_.size()));
    constants_.append(static_cast<const char*>(v->constant().data()), v->constant().num_bytes());
    return i;
  }
  // The value's device buffer (a device constant for a constant), made on first use.
  StatusOr<int> DeviceBuffer(const Value* v, const std::string& suffix) {
    auto it = device_.find(v);
    if (it != device_.end()) return it->second;
    int i;
    if (v->is_constant()) {
      ASSIGN_OR_RETURN(i, ConstantBuffer(v, proto::MEM_DEVICE));
    } else {
      auto off = memory_.offsets.find(v);
      if (off == memory_.offsets.end()) return Internal("value '", v->name(), "' was not planned");
      ASSIGN_OR_RETURN(i, NewBuffer(v, v->name() + suffix));
      plan_.mutable_buffer(i)->set_space(proto::MEM_DEVICE);
      plan_.mutable_buffer(i)->set_offset(off->second);
    }
    device_[v] = i;
    return i;
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

  Status LowerNode(const Node& node) {
    ASSIGN_OR_RETURN(FusedProgram program, ParseFusedProgram(node.attrs().GetString("program", "")));
    ASSIGN_OR_RETURN(cuda::CudaKernel kernel, cuda::RenderCudaKernel(program, cuda::CudaMath::kDouble));
    if (!images_.count(kernel.name)) {
      ASSIGN_OR_RETURN(cuda::NvrtcResult compiled, cuda::NvrtcCompile(kernel.source, kernel.name, cuda::kPlanTarget));
      proto::KernelImage* image = plan_.add_kernel_image();
      image->set_name(kernel.name);
      image->set_format(compiled.cubin ? "cubin" : "ptx");
      image->set_arch((compiled.cubin ? "sm_" : "compute_") + std::to_string(cuda::kPlanTarget.major) +
                      std::to_string(cuda::kPlanTarget.minor));
      image->set_data(std::move(compiled.image));
      image->set_source(kernel.source);
      images_.insert(kernel.name);
    }
    std::vector<Dims> input_dims;
    for (const Value* in : node.inputs()) input_dims.push_back(in->dims());
    int64_t elements = 0;
    ASSIGN_OR_RETURN(std::vector<uint64_t> args,
                     cuda::PackCudaKernelArgs(program, input_dims, node.output(0)->dims(),
                                              std::vector<uint64_t>(node.inputs().size(), 0),
                                              std::vector<uint64_t>(node.outputs().size(), 0), &elements));
    proto::Step* step = plan_.add_step();
    step->set_name(node.name());
    step->set_op_type(node.op_type());
    step->set_kernel("cuda");
    Attrs attrs = node.attrs();
    attrs.SetString("symbol", kernel.name);
    attrs.SetInts("args", std::vector<int64_t>(args.begin(), args.end()));
    attrs.SetInt("elements", elements);
    attrs.ToProto(step->mutable_attribute());
    for (const Value* in : node.inputs()) {
      ASSIGN_OR_RETURN(int idx, DeviceBuffer(in, ""));
      step->add_input(idx);
    }
    for (const Value* out : node.outputs()) {
      ASSIGN_OR_RETURN(int idx, DeviceBuffer(out, ""));
      step->add_output(idx);
    }
    return Status::Ok();
  }

  const Graph& graph_;
  const MemoryPlan memory_;
  proto::Plan plan_;
  std::string constants_;
  int64_t host_arena_ = 0;
  std::unordered_map<const Value*, int> device_;        // value -> its device buffer
  std::unordered_map<const Value*, int> host_outputs_;  // output value -> its host copy
  std::set<std::string> images_;
};

class CudaBackendImpl final : public Backend {
 public:
  const char* name() const override { return "cuda"; }
  const Target& target() const override { return target_; }
  std::string UnsupportedReason(const Node& node, const LowerOptions&) const override {
    if (node.op_type() == "FusedElementwise") return FusedElementwiseUnsupportedReason(node);
    auto it = NotBuiltYet().find(node.op_type());
    return it != NotBuiltYet().end() ? it->second : "no CUDA kernel for op " + node.op_type() + " yet";
  }
  StatusOr<proto::Plan> Lower(const Graph& graph, const LowerOptions& options) const override {
    // Every node the backend cannot run, one line each, as the CPU's unsupported-ops error;
    // nothing falls back to the CPU silently.
    std::vector<std::string> errors;
    if (!graph.states().empty()) {
      errors.push_back("graph '" + graph.name() + "': state (training steps) on the GPU not built");
    }
    for (const auto& node : graph.nodes()) {
      const std::string why = UnsupportedReason(*node, options);
      if (!why.empty()) errors.push_back(node->Label() + ": " + why);
    }
    if (!errors.empty()) {
      std::string msg = "cuda: " + std::to_string(errors.size()) + (errors.size() == 1 ? " node" : " nodes") +
                        " cannot be lowered yet";
      for (const std::string& e : errors) msg += "\n" + e;
      return Unimplemented(msg);
    }
    return CudaLowering(graph).Run();
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
