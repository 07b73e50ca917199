// oneDNN kernels split into parts that Kiln's share team runs (runtime/share_team.h).
//
// Debian's oneDNN parallelizes a primitive with an OpenMP parallel region. Between the
// regions of consecutive steps libgomp's threads spin (GOMP_SPINCOUNT) or sleep
// (OMP_WAIT_POLICY=PASSIVE: ~30 us to wake each, more than a ResNet-8 convolution at batch 1
// takes), and on a busy machine a region waits for its slowest thread's time slice. So the
// forward ops whose work divides along the batch are built as `threads` kernels over slices
// of it, each built and run on one thread, and the share team runs them: its helpers spin
// for a fixed ~100 us whatever the environment says, and a share whose helper has not shown
// up is taken by the caller. What is too small for an OpenMP region stays on one thread here
// too (OneDnnKernelRunsOnOneThread): splitting LeNet-5's 10 us convolutions at batch 1 made
// the model twice as slow (each step then reads what the other core wrote). At batch 1 in
// channels-last, convolutions, pooling, Concat and two-input arithmetic split over their
// output rows instead (PlanParts), so the slices are contiguous and a plan's steps run on the
// share team from one end to the other.
//
// The parts share the reordered weights (ExecEnv::reordered_constants), have their own
// stream and their own slice of the session's scratch. KILN_ONEDNN_SPLIT=0 turns the split off (OpenMP regions, as
// before).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>

#include "ir/core/fused_ops.h"
#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

bool SplitEnabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("KILN_ONEDNN_SPLIT");
    return !(v && std::strcmp(v, "0") == 0);
  }();
  return enabled;
}

bool IsProduct(const std::string& op) { return op == "MatMul" || op == "FusedMatMul" || op == "Gemm"; }
bool IsConv(const std::string& op) { return op == "Conv" || op == "FusedConv"; }
bool IsWindowPool(const std::string& op) { return op == "MaxPool" || op == "AveragePool"; }
// Two-input arithmetic whose every output element reads the same position of each input
// (or its broadcast): EfficientNet's squeeze-excitation scale, residual sums.
bool IsElementwiseBinary(const KernelSpec& spec) {
  static const char* const kOps[] = {"Add", "Sub", "Mul", "Div", "Max", "Min"};
  if (spec.inputs.size() != 2 || spec.outputs.size() != 1) return false;
  for (const char* op : kOps) {
    if (spec.op_type == op) return true;
  }
  return false;
}

bool InputsHaveTheOutputsRank(const KernelSpec& spec) {
  for (const TensorRef& t : spec.inputs) {
    if (t.dims.size() != spec.outputs[0].dims.size()) return false;
  }
  return true;
}

// Concat's axis, normalized; -1 when invalid.
int64_t ConcatAxis(const KernelSpec& spec) {
  const int64_t rank = static_cast<int64_t>(spec.outputs[0].dims.size()), axis = spec.attrs.GetInt("axis", 0);
  return axis >= -rank && axis < rank ? (axis + rank) % rank : -1;
}

// Ops whose every output row (leading index) depends on the same row of the per-sample
// inputs alone, as their oneDNN kernels compute them.
bool SplitsAlongBatch(const KernelSpec& spec) {
  const std::string& op = spec.op_type;
  if (IsConv(op)) return true;
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") {
    return spec.outputs.size() == 1;  // MaxPool's indices count across the whole batch
  }
  // Arithmetic: an input of the output's rank is sliced with it, or broadcast. Concat along
  // any axis but the batch: each part joins its samples' slices.
  if (IsElementwiseBinary(spec)) return InputsHaveTheOutputsRank(spec);
  if (op == "Concat") return InputsHaveTheOutputsRank(spec) && ConcatAxis(spec) > 0;
  if (op == "Gemm") return spec.attrs.GetInt("transA", 0) == 0 && spec.inputs[0].dims.size() == 2;
  if (op == "MatMul" || op == "FusedMatMul") {
    return spec.inputs[0].dims.size() >= 2 && spec.inputs[1].dims.size() <= 2;  // weights shared by all rows
  }
  return false;
}

// Whether input `i` is sliced with the output's rows: a per-sample tensor, not weights.
bool PerSampleInput(const KernelSpec& spec, int i) {
  const TensorRef& t = spec.inputs[i];
  const Dims& y = spec.outputs[0].dims;
  if (!spec.has_input(i) || t.dims.size() != y.size() || t.dims.empty() || t.dims[0] != y[0]) return false;
  if ((IsProduct(spec.op_type) || IsConv(spec.op_type)) && i == 1) return false;  // the weights
  return true;
}

// One part: its spec and, per input and output, whether and where its slice starts.
struct PartShape {
  KernelSpec spec;
  std::vector<int64_t> input_offsets, output_offsets;  // in elements; -1: the whole tensor
  // A plain image input (a model's [1, C, H, W] with C > 1, whose rows are not contiguous):
  // the part copies its rows into channels-last memory of its own before it runs, and
  // input_offsets[0] is where those rows start in the first channel.
  bool relayout_input = false;
};

int64_t RowElements(const Dims& d) { return d.empty() ? 1 : ElementCount(d) / d[0]; }

// Rows [r0, r1) of the batch.
PartShape BatchPart(const KernelSpec& spec, int64_t r0, int64_t r1) {
  PartShape p{spec, {}, {}};
  for (int i = 0; i < static_cast<int>(spec.inputs.size()); ++i) {
    if (!PerSampleInput(spec, i)) {
      p.input_offsets.push_back(-1);
      continue;
    }
    TensorRef& t = p.spec.inputs[i];
    const int64_t offset = r0 * RowElements(t.dims);
    if (t.data) t.data = static_cast<float*>(t.data) + offset;
    t.dims[0] = r1 - r0;
    p.input_offsets.push_back(offset);
  }
  for (TensorRef& t : p.spec.outputs) {
    p.output_offsets.push_back(r0 * RowElements(t.dims));
    t.dims[0] = r1 - r0;
  }
  return p;
}

// Rows [h0, h1) of a value [1, C, H, W] in channels-last: contiguous, from row h0 on.
int64_t TakeRows(TensorRef& t, int64_t h0, int64_t h1) {
  const int64_t offset = h0 * t.dims[3] * t.dims[1];
  t.dims[2] = h1 - h0;
  return offset;
}

// Output rows [h0, h1) of a 2-D convolution or pooling at batch 1 over channels-last tensors.
StatusOr<PartShape> WindowRowsPart(const KernelSpec& spec, const WindowGeometry& g, int64_t h0, int64_t h1) {
  const Dims& x = spec.inputs[0].dims;  // [1, C, H, W]
  const int64_t extent = (g.kernel[0] - 1) * g.dilations[0] + 1;
  const int64_t first = h0 * g.strides[0] - g.pads[0], end = (h1 - 1) * g.strides[0] - g.pads[0] + extent;
  const int64_t in0 = std::max<int64_t>(first, 0);
  int64_t in1 = std::min(end, x[2]);
  // oneDNN's 1x1 kernel runs a strided convolution only where its input has exactly stride x
  // its output's rows (else its generic kernel: ResNet-50's downsampling 512 -> 1024 at
  // batch 1, 2.5 against 1.3 ms): a part reads on to its last output's stride where the
  // image has the rows (rows past the last window add nothing).
  const int64_t stride_end = first + (h1 - h0) * g.strides[0];
  if (first >= 0 && stride_end > in1 && stride_end <= x[2]) in1 = stride_end;
  if (in1 <= in0) return Unimplemented("a part reads no input row");
  PartShape p{spec, std::vector<int64_t>(spec.inputs.size(), -1), {}};
  TensorRef& in = p.spec.inputs[0];
  in.dims[2] = in1 - in0;
  p.relayout_input = in.layout == proto::LAYOUT_PLAIN && x[1] > 1;
  p.input_offsets[0] = in0 * x[3] * (p.relayout_input ? 1 : x[1]);
  if (p.relayout_input) in.layout = proto::LAYOUT_CHANNELS_LAST;
  for (TensorRef& t : p.spec.outputs) p.output_offsets.push_back(TakeRows(t, h0, h1));
  if (spec.op_type == "FusedConv" && spec.has_input(kFusedResidualInput)) {
    p.input_offsets[kFusedResidualInput] = TakeRows(p.spec.inputs[kFusedResidualInput], h0, h1);
  }
  // Explicit pads: the image's own above the first part and below the last, none between. A
  // pooling's last window ends inside the padded image (PlanParts), so ceil_mode changes nothing.
  p.spec.attrs.Erase("auto_pad");
  p.spec.attrs.Erase("ceil_mode");
  p.spec.attrs.SetInts("pads", {in0 - first, g.pads[1], std::max<int64_t>(end - in1, 0), g.pads[3]});
  return p;
}

// Output rows [h0, h1) of a Concat along channels or columns or of arithmetic: the inputs
// `sliced` says give their rows [h0, h1) too, the others are read whole (a broadcast).
PartShape RowsPart(const KernelSpec& spec, const std::vector<bool>& sliced, int64_t h0, int64_t h1) {
  PartShape p{spec, {}, {}};
  for (size_t i = 0; i < sliced.size(); ++i) {
    p.input_offsets.push_back(sliced[i] ? TakeRows(p.spec.inputs[i], h0, h1) : -1);
  }
  p.output_offsets.push_back(TakeRows(p.spec.outputs[0], h0, h1));
  return p;
}

// The window of a convolution or pooling at batch 1 whose output rows can be split: 2-D, and
// (pooling) no window past the padded image, where ceil_mode would matter.
StatusOr<WindowGeometry> SplittableWindow(const KernelSpec& spec) {
  const Dims& x = spec.inputs[0].dims;
  const Dims spatial(x.begin() + 2, x.end());
  if (IsConv(spec.op_type)) {
    return ComputeWindowGeometry(spatial, Dims(spec.inputs[1].dims.begin() + 2, spec.inputs[1].dims.end()), spec.attrs);
  }
  ASSIGN_OR_RETURN(WindowGeometry g, ComputePoolGeometry(spatial, spec.attrs.GetInts("kernel_shape"), spec.attrs));
  for (size_t d = 0; d < spatial.size(); ++d) {
    const int64_t extent = (g.kernel[d] - 1) * g.dilations[d] + 1;
    if ((g.output[d] - 1) * g.strides[d] + extent > spatial[d] + g.pads[d] + g.pads[d + spatial.size()]) {
      return Unimplemented("a window past the padded image");
    }
  }
  return g;
}

// The parts of `spec` for `threads` threads, or none when it is not split.
StatusOr<std::vector<PartShape>> PlanParts(const KernelSpec& spec, int threads) {
  std::vector<PartShape> parts;
  if (threads < 2 || spec.outputs.empty() || spec.inputs.empty() || !SplitsAlongBatch(spec) ||
      OneDnnKernelRunsOnOneThread(spec)) {
    return parts;
  }
  const Dims& y = spec.outputs[0].dims;
  for (const TensorRef& t : spec.outputs) {
    if (t.dims.empty() || t.dims[0] != y[0]) return parts;
  }
  for (const auto* list : {&spec.inputs, &spec.outputs}) {  // the slices are offsets in floats
    for (const TensorRef& t : *list) {
      if (t.dtype != proto::DT_FLOAT && t.dtype != proto::DT_UNDEFINED) return parts;
    }
  }
  if (y[0] >= threads) {
    for (int s = 0; s < threads; ++s) parts.push_back(BatchPart(spec, y[0] * s / threads, y[0] * (s + 1) / threads));
    return parts;
  }
  // At batch 1, rows of channels-last values (contiguous, as in plain with one channel). A
  // part of fewer than 4 output rows reads mostly its neighbours' rows (ResNet-50's 7x7 maps
  // at batch 1 ran 5% slower split): those stay one OpenMP region. Pooling and Concat split
  // like the convolutions around them, so each core keeps reading the rows it wrote (a
  // SqueezeNet fire module's split convolutions ran 2x slower after a Concat on one thread
  // or an OpenMP region).
  // A convolution's plain image input (the first layer's) is copied into channels-last by
  // rows, each part its own (WindowRowsPart): ResNet-50's and SqueezeNet's first convolution
  // otherwise ran as an OpenMP region, after which the share team's next steps waited for
  // the core OpenMP's worker spun on.
  auto rows_readable = [&](const TensorRef& t) {
    return t.layout == proto::LAYOUT_CHANNELS_LAST || (t.dims.size() == 4 && t.dims[1] == 1) ||
           (IsConv(spec.op_type) && t.layout == proto::LAYOUT_PLAIN);
  };
  const std::string& op = spec.op_type;
  if (y.size() != 4 || y[0] != 1 || y[2] < 4 * threads || spec.outputs.size() != 1 ||
      spec.outputs[0].layout != proto::LAYOUT_CHANNELS_LAST) {
    return parts;
  }
  // Which inputs give their rows to a part of Concat or arithmetic: in arithmetic one
  // broadcast over the rows ([1, C, 1, 1]: a channel scale) is read whole by every part.
  std::vector<bool> sliced;
  if (IsElementwiseBinary(spec)) {
    for (const TensorRef& t : spec.inputs) {
      if (t.dims[0] != 1 || (t.dims[2] != 1 && t.dims[2] != y[2])) return parts;
      sliced.push_back(t.dims[2] == y[2]);
      if (sliced.back() && !rows_readable(t)) return parts;
    }
  } else if (op == "Concat") {
    if (ConcatAxis(spec) == 2) return parts;
    for (const TensorRef& t : spec.inputs) {
      if (t.layout != proto::LAYOUT_CHANNELS_LAST) return parts;
    }
    sliced.assign(spec.inputs.size(), true);
  }
  if (!sliced.empty()) {
    for (int s = 0; s < threads; ++s)
      parts.push_back(RowsPart(spec, sliced, y[2] * s / threads, y[2] * (s + 1) / threads));
    return parts;
  }
  const bool residual = op == "FusedConv" && spec.has_input(kFusedResidualInput);
  if (!(IsConv(op) || IsWindowPool(op)) || spec.inputs[0].dims.size() != 4 || !rows_readable(spec.inputs[0]) ||
      (residual && spec.inputs[kFusedResidualInput].layout != proto::LAYOUT_CHANNELS_LAST)) {
    return parts;
  }
  auto window = SplittableWindow(spec);
  if (!window.ok()) return parts;
  for (int s = 0; s < threads; ++s) {
    ASSIGN_OR_RETURN(PartShape p, WindowRowsPart(spec, *window, y[2] * s / threads, y[2] * (s + 1) / threads));
    parts.push_back(std::move(p));
  }
  return parts;
}

class SplitKernel : public Kernel {
 public:
  struct Part {
    std::unique_ptr<dnnl::stream> stream;
    std::unique_ptr<ExecEnv> env;
    std::unique_ptr<Kernel> kernel;
    std::vector<int64_t> input_offsets, output_offsets;
    std::vector<TensorRef> inputs, outputs;  // the slices, re-pointed on every run
    Status status;
    // PartShape::relayout_input: the plain rows (strided view) reordered into `rows`.
    std::optional<dnnl::reorder> relayout;
    dnnl::memory plain_rows, rows;
  };
  SplitKernel(std::string label, std::vector<Part> parts, ExecEnv* env, int64_t scratch_bytes)
      : label_(std::move(label)), parts_(std::move(parts)), env_(env), scratch_bytes_(scratch_bytes) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    // Before the parts run: the region never grows while one of them uses it.
    if (scratch_bytes_ > 0 && !env_->ScratchBase(scratch_bytes_)) {
      return Internal(label_, ": cannot allocate ", scratch_bytes_, " bytes of scratch");
    }
    RunShares(static_cast<int>(parts_.size()), [&](int s) {
      ScopedThreadCount one(1);
      Part& p = parts_[s];
      auto bind = [](const std::vector<TensorRef>& whole, const std::vector<int64_t>& offsets,
                     std::vector<TensorRef>& slices) {
        for (size_t i = 0; i < whole.size(); ++i) {
          slices[i].data = offsets[i] < 0 ? whole[i].data : static_cast<float*>(whole[i].data) + offsets[i];
        }
      };
      bind(in, p.input_offsets, p.inputs);
      bind(out, p.output_offsets, p.outputs);
      if (p.relayout) {
        p.plain_rows.set_data_handle(p.inputs[0].data, *p.stream);
        p.relayout->execute(*p.stream, p.plain_rows, p.rows);
        p.inputs[0].data = p.rows.get_data_handle();
      }
      p.status = p.kernel->Run(p.inputs, p.outputs);
    });
    for (Part& p : parts_) {
      if (!p.status.ok()) return p.status.WithContext(label_);
    }
    return Status::Ok();
  }
  int LayoutConversionsPerRun() const override {
    return parts_[0].kernel->LayoutConversionsPerRun() + (parts_[0].relayout ? 1 : 0);
  }
  int Parts() const override { return static_cast<int>(parts_.size()); }

 private:
  std::string label_;
  std::vector<Part> parts_;
  ExecEnv* env_;  // the session's, whose scratch the parts share
  int64_t scratch_bytes_;
};

int SplitThreads(const KernelSpec& spec) {
  if (!SplitEnabled() || !spec.env || !spec.env->engine || !spec.env->use_share_team) return 1;
  int threads = spec.env->num_threads;
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  if (threads <= 0) threads = omp_get_max_threads();
#endif
  return std::max(threads, 1);
}

}  // namespace

int SplitPartCount(const KernelSpec& spec) {
  auto shapes = PlanParts(spec, SplitThreads(spec));
  return shapes.ok() ? static_cast<int>(shapes->size()) : 0;
}

std::unique_ptr<Kernel> BuildSplitKernel(const KernelSpec& spec, const OneDnnBuilder& build) {
  auto shapes = PlanParts(spec, SplitThreads(spec));
  if (!shapes.ok() || shapes->empty()) return nullptr;
  ScopedThreadCount one(1);  // oneDNN sizes a primitive's parallel work when it is created
  // The parts share one reordering of each constant (the session's, where it keeps one).
  auto constants =
      spec.env->reordered_constants ? spec.env->reordered_constants : std::make_shared<ReorderedConstants>();
  std::vector<SplitKernel::Part> parts;
  for (PartShape& shape : *shapes) {
    SplitKernel::Part p;
    p.stream = std::make_unique<dnnl::stream>(*spec.env->engine);
    p.env = std::make_unique<ExecEnv>();
    p.env->engine = spec.env->engine;
    p.env->stream = p.stream.get();
    p.env->num_threads = 1;
    p.env->compiled_kernels = spec.env->compiled_kernels;
    p.env->reordered_constants = constants;
    shape.spec.env = p.env.get();
    if (shape.relayout_input) {
      const Dims& whole = spec.inputs[0].dims;       // [1, C, H, W], plain
      const TensorRef& rows = shape.spec.inputs[0];  // the part's rows, channels-last
      const Dims strides{whole[1] * whole[2] * whole[3], whole[2] * whole[3], whole[3], 1};
      p.plain_rows = memory(StridedDesc(rows.dims, strides), *spec.env->engine, DNNL_MEMORY_NONE);
      p.rows = memory(LayoutDesc(rows), *spec.env->engine);
      p.relayout.emplace(p.plain_rows, p.rows);
      shape.spec.inputs[0].data = p.rows.get_data_handle();
    }
    auto kernel = build(shape.spec);
    if (!kernel.ok()) return nullptr;
    p.kernel = std::move(*kernel);
    p.input_offsets = std::move(shape.input_offsets);
    p.output_offsets = std::move(shape.output_offsets);
    p.inputs = shape.spec.inputs;
    p.outputs = shape.spec.outputs;
    parts.push_back(std::move(p));
  }
  // Each part's scratch is its own slice of the session's one region.
  constexpr int64_t kAlign = ExecEnv::kScratchAlignment;
  int64_t slice = 0;
  for (const SplitKernel::Part& p : parts)
    slice = std::max(slice, (p.env->scratch_bytes + kAlign - 1) / kAlign * kAlign);
  for (size_t s = 0; s < parts.size(); ++s) {
    parts[s].env->scratch_parent = spec.env;
    parts[s].env->scratch_offset = static_cast<int64_t>(s) * slice;
  }
  const int64_t scratch_bytes = slice * static_cast<int64_t>(parts.size());
  spec.env->scratch_bytes = std::max(spec.env->scratch_bytes, scratch_bytes);
  return std::make_unique<SplitKernel>(spec.Label(), std::move(parts), spec.env, scratch_bytes);
}

}  // namespace kiln::runtime::onednn
