#include "runtime/plan_validator.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/fused_ops.h"
#include "ir/core/op_registry.h"
#include "ir/core/shape_util.h"
#include "ir/core/tensor.h"
#include "runtime/device.h"
#include "runtime/kernel.h"
#include "runtime/kernel_choice.h"

namespace kiln::runtime {
namespace {

// Largest arena a plan may ask for (the largest tensor of the widest type).
constexpr int64_t kMaxArenaBytes = kMaxTensorElements * 8;

// What the checks learn about each buffer.
struct BufferInfo {
  int64_t bytes = 0;
  bool is_input = false, is_state = false;
  int producer = -2;         // step that writes it; -1 for inputs and states; -2: none
  int first = 0, last = -1;  // steps between which it is live (last < first: never used)
  int last_read = -1;        // last step that reads it
  bool used = false;
};

std::string Name(const proto::Plan& p, int i) {
  return "buffer " + std::to_string(i) + " '" + p.buffer(i).name() + "'";
}

Status CheckBuffers(const proto::Plan& p, std::vector<BufferInfo>* info) {
  const int64_t constants = static_cast<int64_t>(p.constants().size());
  for (int i = 0; i < p.buffer_size(); ++i) {
    const proto::Buffer& b = p.buffer(i);
    if (!proto::BufferKind_IsValid(b.kind()))
      return InvalidArgument("plan: ", Name(p, i), " has unknown kind ", b.kind());
    const int64_t size = DTypeSize(b.dtype());
    if (size == 0) return InvalidArgument("plan: ", Name(p, i), " has no valid data type (", b.dtype(), ")");
    auto count = CheckedElementCount(Dims(b.dims().begin(), b.dims().end()));
    if (!count.ok()) return InvalidArgument("plan: ", Name(p, i), ": ", count.status().message());
    const int64_t bytes = *count * size;
    (*info)[i].bytes = bytes;
    if (!proto::MemorySpace_IsValid(b.space()))
      return InvalidArgument("plan: ", Name(p, i), " has unknown memory space ", b.space());
    if (b.space() == proto::MEM_DEVICE && !PlanUsesDevice(p))
      return InvalidArgument("plan: ", Name(p, i), " is in device memory but the plan names no device");
    const bool on_device = b.space() == proto::MEM_DEVICE && b.kind() != proto::BUF_CONSTANT;
    const int64_t limit = b.kind() == proto::BUF_CONSTANT ? constants
                          : on_device                     ? p.device_arena_size()
                                                          : p.arena_size();
    // Written as subtractions: a huge offset must not overflow.
    if (b.offset() < 0 || b.offset() > limit - bytes) {
      return InvalidArgument("plan: ", Name(p, i), " (", bytes, " bytes at ", b.offset(), ") lies outside its ",
                             b.kind() == proto::BUF_CONSTANT ? "constants"
                             : on_device                     ? "device arena"
                                                             : "arena",
                             " of ", limit, " bytes");
    }
    if (b.offset() % size != 0) {
      return InvalidArgument("plan: ", Name(p, i), " offset ", b.offset(), " is not a multiple of its element size");
    }
    if (b.kind() != proto::BUF_STATE && b.init_offset() != 0) {
      return InvalidArgument("plan: ", Name(p, i), " has an initial value but is not a state");
    }
    if (b.kind() == proto::BUF_STATE &&
        (b.init_offset() < 0 || b.init_offset() > constants - bytes || b.init_offset() % size != 0)) {
      return InvalidArgument("plan: state ", Name(p, i), " has its initial value (", bytes, " bytes at ",
                             b.init_offset(), ") outside the constants of ", constants, " bytes");
    }
  }
  return Status::Ok();
}

Status CheckIndex(const proto::Plan& p, int idx, const std::string& what) {
  if (idx < 0 || idx >= p.buffer_size()) {
    return InvalidArgument("plan: ", what, " refers to buffer ", idx, " of ", p.buffer_size());
  }
  return Status::Ok();
}

// Inputs, outputs, states and state updates: indices and roles.
Status CheckRoles(const proto::Plan& p, std::vector<BufferInfo>* info) {
  for (int idx : p.input()) {
    RETURN_IF_ERROR(CheckIndex(p, idx, "an input"));
    if (p.buffer(idx).kind() != proto::BUF_ARENA) {
      return InvalidArgument("plan: input ", Name(p, idx), " is a ",
                             p.buffer(idx).kind() == proto::BUF_CONSTANT ? "constant" : "state",
                             " (inputs must be arena buffers)");
    }
    if ((*info)[idx].is_input) return InvalidArgument("plan: ", Name(p, idx), " is listed twice as an input");
    (*info)[idx].is_input = true;
    (*info)[idx].producer = -1;
  }
  for (int idx : p.output()) RETURN_IF_ERROR(CheckIndex(p, idx, "an output"));
  for (int idx : p.state()) RETURN_IF_ERROR(CheckIndex(p, idx, "a state"));
  // What a caller reads and writes is host memory: copies to and from a device are steps.
  // States may live on the plan's device (a training step on a GPU): the session keeps a
  // host copy and moves them only when the caller reads or writes them (session.h).
  for (const auto* list : {&p.input(), &p.output()}) {
    for (int idx : *list) {
      if (p.buffer(idx).space() != proto::MEM_HOST) {
        return InvalidArgument("plan: ", Name(p, idx), " is an input or output in device memory");
      }
    }
  }
  for (int idx : p.state()) {
    if (p.buffer(idx).kind() != proto::BUF_STATE) {
      return InvalidArgument("plan: state ", Name(p, idx), " is not a state buffer");
    }
    if ((*info)[idx].is_state) return InvalidArgument("plan: ", Name(p, idx), " is listed twice as a state");
    (*info)[idx].is_state = true;
    (*info)[idx].producer = -1;
  }
  for (int i = 0; i < p.buffer_size(); ++i) {
    // Its initial value is copied in only for listed states.
    if (p.buffer(i).kind() == proto::BUF_STATE && !(*info)[i].is_state) {
      return InvalidArgument("plan: state buffer ", Name(p, i), " is not listed as a state");
    }
  }
  std::vector<bool> updated(p.buffer_size(), false);
  for (const proto::StateUpdate& su : p.state_update()) {
    RETURN_IF_ERROR(CheckIndex(p, su.state(), "a state update"));
    RETURN_IF_ERROR(CheckIndex(p, su.update(), "a state update"));
    const proto::Buffer &state = p.buffer(su.state()), &update = p.buffer(su.update());
    if (state.kind() != proto::BUF_STATE || state.dtype() != update.dtype() ||
        !std::equal(state.dims().begin(), state.dims().end(), update.dims().begin(), update.dims().end())) {
      return InvalidArgument("plan: state ", Name(p, su.state()), " and its update ", Name(p, su.update()),
                             " do not match");
    }
    if (updated[su.state()]) return InvalidArgument("plan: state ", Name(p, su.state()), " has two updates");
    updated[su.state()] = true;
  }
  return Status::Ok();
}

std::string StepLabel(const proto::Step& step) { return "plan: " + step.name() + " (" + step.op_type() + ")"; }

// The op registry's rules (the compiler's own) applied to one step's buffers.
Status CheckStepOp(const proto::Plan& p, const proto::Step& step) {
  const std::string label = StepLabel(step);
  const OpDef* def = FindOpDef(step.op_type());
  if (!def) return InvalidArgument(label, ": unknown op '", step.op_type(), "'");
  if (!KernelRegistry::Global().Has(step.kernel(), step.op_type())) {
    return InvalidArgument(label, ": no '", step.kernel(), "' kernel for this op");
  }
  Attrs attrs(step.attribute());
  if (step.kernel() == "jit") {
    // The compiler's additions for generated code (runtime/compiled_kernels.cc checks their values).
    const proto::Attribute* symbol = attrs.Find("symbol");
    const proto::Attribute* iterations = attrs.Find("iterations");
    if ((symbol && symbol->value_case() != proto::Attribute::kS) ||
        (iterations && iterations->value_case() != proto::Attribute::kI)) {
      return InvalidArgument(label, ": attributes 'symbol' and 'iterations' must be a string and an int");
    }
    attrs.Erase("symbol");
    attrs.Erase("iterations");
  }
  if (PlanUsesDevice(p) && step.kernel() == p.device()) {
    // The compiler's additions for device steps (the device's kernels check their values).
    // (FusedElementwise launches: symbol, args, elements; generated kernel kinds: symbol, launch_*,
    // kernel_*; the edge copies: direction.)
    for (const char* name : {"symbol", "args", "elements", "direction", "launch_grid", "launch_block", "kernel_inputs",
                             "kernel_shapes", "kernel_dtypes"}) {
      attrs.Erase(name);
    }
  }
  // Small constant inputs, for ops whose shapes depend on them (Reshape's shape); larger ones (weights) never do.
  constexpr int64_t kMaxValueBytes = 64 << 10;
  std::vector<Tensor> values(step.input_size());
  std::vector<ShapeInput> inputs(step.input_size());
  for (int i = 0; i < step.input_size(); ++i) {
    const int idx = step.input(i);
    if (idx == -1) continue;
    const proto::Buffer& b = p.buffer(idx);
    inputs[i].present = true;
    inputs[i].type = TensorType{b.dtype(), Dims(b.dims().begin(), b.dims().end())};
    const int64_t bytes = DTypeSize(b.dtype()) * ElementCount(inputs[i].type.dims);
    if (b.kind() == proto::BUF_CONSTANT && bytes <= kMaxValueBytes) {
      auto t = Tensor::FromBytes(b.dtype(), inputs[i].type.dims, p.constants().data() + b.offset(),
                                 static_cast<size_t>(bytes));
      if (!t.ok()) return t.status().WithContext(label);
      values[i] = std::move(t).value();
      inputs[i].value = &values[i];
    }
  }
  ASSIGN_OR_RETURN(std::vector<TensorType> types,
                   InferOpTypes(*def, label, attrs, std::move(inputs), step.output_size()));
  for (int i = 0; i < step.output_size(); ++i) {
    const TensorType& want = types[i];
    if (want.dtype == proto::DT_UNDEFINED) continue;  // an optional output the op leaves free (scratch)
    const proto::Buffer& b = p.buffer(step.output(i));
    bool same = b.dtype() == want.dtype && b.dims_size() == static_cast<int>(want.dims.size());
    for (int d = 0; same && d < b.dims_size(); ++d) {
      same = want.dims[d] < 0 || want.dims[d] == b.dims(d);  // < 0: data-dependent, the kernel checks it
    }
    if (!same) {
      return InvalidArgument(label, ": output ", i, " ", Name(p, step.output(i)), " is ", DTypeName(b.dtype()),
                             DimsToString(Dims(b.dims().begin(), b.dims().end())), " but the op gives ",
                             DTypeName(want.dtype), DimsToString(want.dims));
    }
  }
  return Status::Ok();
}

// Operands: indices, roles, and that every read sees a value.
Status CheckStepOperands(const proto::Plan& p, int s, std::vector<BufferInfo>* info) {
  const proto::Step& step = p.step(s);
  const std::string label = StepLabel(step);
  for (int i = 0; i < step.input_size(); ++i) {
    const int idx = step.input(i);
    if (idx == -1) continue;
    RETURN_IF_ERROR(CheckIndex(p, idx, step.name() + " input " + std::to_string(i)));
    BufferInfo& b = (*info)[idx];
    if (p.buffer(idx).kind() != proto::BUF_CONSTANT && b.producer == -2) {
      return InvalidArgument(label, ": input ", i, " ", Name(p, idx), " is read before any step writes it");
    }
    b.used = true;
    b.last = std::max(b.last, s);
    b.last_read = s;
  }
  for (int i = 0; i < step.output_size(); ++i) {
    const int idx = step.output(i);
    RETURN_IF_ERROR(CheckIndex(p, idx, step.name() + " output " + std::to_string(i)));
    BufferInfo& b = (*info)[idx];
    if (p.buffer(idx).kind() != proto::BUF_ARENA || b.is_input) {
      return InvalidArgument(label, ": output ", i, " ", Name(p, idx), " is ",
                             b.is_input                                    ? "an input"
                             : p.buffer(idx).kind() == proto::BUF_CONSTANT ? "a constant"
                                                                           : "a state",
                             " (steps write only intermediate buffers)");
    }
    if (b.producer != -2) return InvalidArgument(label, ": output ", i, " ", Name(p, idx), " is written twice");
    if (std::count(step.input().begin(), step.input().end(), idx)) {
      return InvalidArgument(label, ": ", Name(p, idx), " is both an input and an output");
    }
    b.producer = s;
    b.used = true;
    b.first = s;
    b.last = s;
  }
  return Status::Ok();
}

// Host kernels see host memory only; a device's kernels its memory, but for the copies at the
// plan's edges (Identity, attribute "direction": "to_device" from host to device, "to_host" back).
Status CheckStepSpaces(const proto::Plan& p, const proto::Step& step) {
  const bool device_step = PlanUsesDevice(p) && step.kernel() == p.device();
  const std::string direction = device_step ? Attrs(step.attribute()).GetString("direction", "") : "";
  auto check = [&](int idx, bool is_input) -> Status {
    if (idx < 0) return Status::Ok();
    proto::MemorySpace want = device_step ? proto::MEM_DEVICE : proto::MEM_HOST;
    if ((direction == "to_device" && is_input) || (direction == "to_host" && !is_input)) want = proto::MEM_HOST;
    if (p.buffer(idx).space() == want) return Status::Ok();
    return InvalidArgument(StepLabel(step), ": its '", step.kernel(), "' kernel needs ", Name(p, idx), " in ",
                           want == proto::MEM_HOST ? "host" : "device", " memory");
  };
  for (int idx : step.input()) RETURN_IF_ERROR(check(idx, true));
  for (int idx : step.output()) RETURN_IF_ERROR(check(idx, false));
  return Status::Ok();
}

// The check of CheckOverlaps over the buffers `order` of one arena. A sweep over time (O(n log n), so a
// plan of many buffers cannot make this slow): `live` holds the buffers live at the current step by
// offset, never overlapping; each buffer that becomes live is checked against its neighbours there.
Status CheckOverlapsIn(const proto::Plan& p, const std::vector<BufferInfo>& in, const std::map<int, int>& in_place,
                       const std::map<int, int>& views, const std::map<int, int>& residuals, std::vector<int> order) {
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    return in[a].first != in[b].first ? in[a].first < in[b].first : p.buffer(a).offset() < p.buffer(b).offset();
  });
  std::map<int64_t, int> live;       // offset -> buffer
  std::multimap<int, int> retiring;  // last step -> buffer
  std::map<int, int> chain_last;     // a buffer in `live` sharing earlier ones' bytes -> the last read of any
  auto overlap = [&](int a, int b) {
    return InvalidArgument("plan: ", Name(p, a), " and ", Name(p, b), " share arena bytes while both are live (steps ",
                           std::max(in[a].first, in[b].first), "..", std::min(in[a].last, in[b].last), ")");
  };
  for (int b : order) {
    while (!retiring.empty() && retiring.begin()->first < in[b].first) {
      auto at = live.find(p.buffer(retiring.begin()->second).offset());
      if (at != live.end() && at->second == retiring.begin()->second) live.erase(at);  // not a view's
      retiring.erase(retiring.begin());
    }
    const int64_t begin = p.buffer(b).offset(), end = begin + in[b].bytes;
    auto it = in_place.find(b);
    // An in-place update takes its state's bytes when its producer reads the state last (nothing later
    // sees the state's old value); the state is live for the whole run, so it stands for both.
    if (it != in_place.end() && in[it->second].last_read <= in[b].producer) continue;
    // A view (a reshape-like step's output at its input's bytes) holds the same bytes as the value it
    // reshapes, which is live when the view is made: the bytes stay taken until both are dead.
    // A FusedConv's output at its residual's bytes, when nothing reads those bytes after the
    // step (through the residual or any buffer sharing them): its kernels read the residual
    // before writing the output.
    auto shares = [&](const std::map<int, int>& kind) -> std::optional<int> {
      auto from = kind.find(b);
      if (from == kind.end()) return std::nullopt;
      auto at = live.find(begin);
      if (at == live.end() || at->second != from->second) return std::nullopt;
      auto chain = chain_last.find(from->second);
      return chain == chain_last.end() ? in[from->second].last : chain->second;
    };
    const std::optional<int> viewed_until = shares(views), residual_until = shares(residuals);
    if (viewed_until || (residual_until && *residual_until <= in[b].producer)) {
      const int until = std::max(in[b].last, viewed_until ? *viewed_until : in[b].last);
      live[begin] = b;
      chain_last[b] = until;
      retiring.emplace(until, b);
      continue;
    }
    auto next = live.lower_bound(begin);
    if (next != live.end() && next->first < end) return overlap(next->second, b);
    if (next != live.begin() &&
        p.buffer(std::prev(next)->second).offset() + in[std::prev(next)->second].bytes > begin) {
      return overlap(std::prev(next)->second, b);
    }
    live[begin] = b;
    retiring.emplace(in[b].last, b);
  }
  return Status::Ok();
}

// Arena buffers live at the same time must not share bytes (each memory space is its own arena).
Status CheckOverlaps(const proto::Plan& p, std::vector<BufferInfo>* info) {
  const int end = p.step_size();
  for (int idx : p.output()) {
    BufferInfo& b = (*info)[idx];
    if (p.buffer(idx).kind() != proto::BUF_CONSTANT && b.producer == -2) {
      return InvalidArgument("plan: output ", Name(p, idx), " is never written");
    }
    b.used = true;
    b.last = end;
  }
  std::map<int, int> in_place;  // update -> state: may share the state's bytes
  for (const proto::StateUpdate& su : p.state_update()) {
    BufferInfo& u = (*info)[su.update()];
    if (p.buffer(su.update()).kind() != proto::BUF_CONSTANT && u.producer == -2) {
      return InvalidArgument("plan: update ", Name(p, su.update()), " of state ", Name(p, su.state()),
                             " is never written");
    }
    u.used = true;
    u.last = end;
    if (p.buffer(su.update()).offset() == p.buffer(su.state()).offset()) in_place[su.update()] = su.state();
  }
  // Views: a reshape-like step's output at exactly its input's bytes (compiler/memory_planner.h).
  std::map<int, int> views;  // view -> the buffer it reshapes
  for (const proto::Step& step : p.step()) {
    if (!IsViewOp(step.op_type()) || step.input_size() < 1 || step.output_size() != 1) continue;
    const int a = step.input(0), b = step.output(0);
    if (a < 0 || b < 0 || a == b || p.buffer(a).kind() == proto::BUF_CONSTANT) continue;
    const proto::Buffer &from = p.buffer(a), &to = p.buffer(b);
    if (from.offset() == to.offset() && from.space() == proto::MEM_HOST && to.space() == proto::MEM_HOST &&
        (*info)[a].bytes == (*info)[b].bytes && from.layout() == proto::LAYOUT_PLAIN &&
        to.layout() == proto::LAYOUT_PLAIN) {
      views[b] = a;
    }
  }
  // A FusedConv's output at its residual's bytes (compiler/memory_planner.h), where no other
  // input of the step touches those bytes; CheckOverlapsIn checks nothing reads them later.
  std::map<int, int> residuals;  // output -> the residual whose bytes it takes
  for (const proto::Step& step : p.step()) {
    if (step.op_type() != "FusedConv" || step.input_size() <= kFusedResidualInput || step.output_size() != 1) continue;
    const int a = step.input(kFusedResidualInput), b = step.output(0);
    if (a < 0 || b < 0 || a == b || p.buffer(a).kind() != proto::BUF_ARENA || p.buffer(b).kind() != proto::BUF_ARENA)
      continue;
    const proto::Buffer &from = p.buffer(a), &to = p.buffer(b);
    if (from.offset() != to.offset() || from.space() != proto::MEM_HOST || to.space() != proto::MEM_HOST ||
        (*info)[a].bytes != (*info)[b].bytes || from.layout() != to.layout() || from.dtype() != to.dtype()) {
      continue;
    }
    bool touched = false;
    for (int k = 0; k < step.input_size(); ++k) {
      const int c = step.input(k);
      if (k == kFusedResidualInput || c < 0 || p.buffer(c).kind() != proto::BUF_ARENA ||
          p.buffer(c).space() != from.space()) {
        continue;
      }
      touched |= p.buffer(c).offset() < from.offset() + (*info)[a].bytes &&
                 from.offset() < p.buffer(c).offset() + (*info)[c].bytes;
    }
    if (!touched) residuals[b] = a;
  }
  for (int i = 0; i < p.buffer_size(); ++i) {
    BufferInfo& b = (*info)[i];
    if (b.is_input || b.is_state) {
      b.used = true;
      b.first = -1;
      b.last = end;
    }
  }
  const std::vector<BufferInfo>& in = *info;
  for (proto::MemorySpace space : {proto::MEM_HOST, proto::MEM_DEVICE}) {
    std::vector<int> order;
    for (int i = 0; i < p.buffer_size(); ++i) {
      if (p.buffer(i).kind() != proto::BUF_CONSTANT && p.buffer(i).space() == space && in[i].used && in[i].bytes > 0)
        order.push_back(i);
    }
    RETURN_IF_ERROR(CheckOverlapsIn(p, in, in_place, views, residuals, std::move(order)));
  }
  return Status::Ok();
}

// A non-plain layout: only intermediate float tensors between oneDNN steps and direct
// convolutions (whose factories refuse a layout they cannot bind); what a caller sees stays plain.
Status CheckLayouts(const proto::Plan& p) {
  std::vector<bool> boundary(p.buffer_size(), false);
  for (int idx : p.input()) boundary[idx] = true;
  for (int idx : p.output()) boundary[idx] = true;
  for (int i = 0; i < p.buffer_size(); ++i) {
    const proto::Buffer& b = p.buffer(i);
    if (!proto::Layout_IsValid(b.layout()))
      return InvalidArgument("plan: ", Name(p, i), " has unknown layout ", b.layout());
    if (b.layout() == proto::LAYOUT_PLAIN) continue;
    if (b.kind() != proto::BUF_ARENA || boundary[i] || b.dtype() != proto::DT_FLOAT || b.dims_size() < 3) {
      return InvalidArgument("plan: ", Name(p, i), " has layout ", LayoutName(b.layout()),
                             " but is not an intermediate float tensor of rank >= 3");
    }
  }
  for (const proto::Step& step : p.step()) {
    if (step.kernel() == "onednn" || step.kernel() == "dconv" || step.kernel() == kWinogradKernel ||
        step.kernel() == kWinogradF23Kernel || step.kernel() == kIm2colConvKernel)
      continue;  // bind the layouts they are given
    for (const auto* list : {&step.input(), &step.output()}) {
      for (int idx : *list) {
        if (idx >= 0 && p.buffer(idx).layout() != proto::LAYOUT_PLAIN) {
          return InvalidArgument(StepLabel(step), ": its '", step.kernel(), "' kernel takes plain tensors but ",
                                 Name(p, idx), " has layout ", LayoutName(p.buffer(idx).layout()));
        }
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Status ValidatePlan(const proto::Plan& p) {
  if (p.arena_size() < 0 || p.arena_size() > kMaxArenaBytes) {
    return InvalidArgument("plan: arena size ", p.arena_size(), " is out of range");
  }
  if (p.device_arena_size() < 0 || p.device_arena_size() > kMaxArenaBytes) {
    return InvalidArgument("plan: device arena size ", p.device_arena_size(), " is out of range");
  }
  if (PlanUsesDevice(p) && !FindDeviceRuntime(p.device())) RETURN_IF_ERROR(DeviceAvailable(p.device()));
  std::vector<BufferInfo> info(p.buffer_size());
  RETURN_IF_ERROR(CheckBuffers(p, &info));
  RETURN_IF_ERROR(CheckRoles(p, &info));
  for (int s = 0; s < p.step_size(); ++s) {
    RETURN_IF_ERROR(CheckStepOperands(p, s, &info));
    RETURN_IF_ERROR(CheckStepOp(p, p.step(s)));
    RETURN_IF_ERROR(CheckStepSpaces(p, p.step(s)));
  }
  RETURN_IF_ERROR(CheckOverlaps(p, &info));
  RETURN_IF_ERROR(CheckLayouts(p));
  // The arena holds the buffers and no more (each placed at a 64-byte boundary, at least 1 byte, as the
  // compiler's memory planner does): a plan cannot make a session allocate memory nothing uses.
  int64_t needed[2] = {0, 0};  // per memory space
  for (int i = 0; i < p.buffer_size(); ++i) {
    if (p.buffer(i).kind() == proto::BUF_CONSTANT) continue;
    int64_t& n = needed[p.buffer(i).space() == proto::MEM_DEVICE];
    n = std::max(n, (p.buffer(i).offset() + std::max<int64_t>(info[i].bytes, 1) + 63) / 64 * 64);
  }
  if (p.arena_size() > needed[0]) {
    return InvalidArgument("plan: arena size ", p.arena_size(), " is more than its buffers use (", needed[0], ")");
  }
  if (p.device_arena_size() > needed[1]) {
    return InvalidArgument("plan: device arena size ", p.device_arena_size(), " is more than its buffers use (",
                           needed[1], ")");
  }
  return Status::Ok();
}

}  // namespace kiln::runtime
