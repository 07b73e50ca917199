// The C API (include/kiln/runtime.h) over runtime::Session.
#include <cstddef>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>
#include <vector>

#include "ir/core/file_io.h"
#include "ir/core/resource_limits.h"
#include "kiln/runtime.h"
#include "runtime/checkpoint.h"
#include "runtime/compiled_kernels.h"
#include "runtime/device.h"
#include "runtime/session.h"

#ifndef KILN_VERSION
#define KILN_VERSION "0.1.0"
#endif

struct kiln_plan {
  kiln::proto::Plan plan;
};

struct kiln_session {
  std::unique_ptr<kiln::runtime::Session> session;
  // Descriptions handed out by the *_info functions (stable for the session's life).
  struct Desc {
    std::string name;
    std::vector<int64_t> dims;
  };
  std::vector<Desc> inputs, outputs, states;
};

namespace {

using kiln::Status;
using kiln::StatusCode;

thread_local std::string last_error;

kiln_status Fail(kiln_status code, std::string message) {
  last_error = std::move(message);
  return code;
}

kiln_status Fail(const Status& status) {
  kiln_status code = KILN_ERROR_INTERNAL;
  switch (status.code()) {
    case StatusCode::kOk: return KILN_OK;
    case StatusCode::kInvalidArgument: code = KILN_ERROR_INVALID_ARGUMENT; break;
    case StatusCode::kNotFound: code = KILN_ERROR_NOT_FOUND; break;
    case StatusCode::kOutOfRange: code = KILN_ERROR_OUT_OF_RANGE; break;
    case StatusCode::kUnimplemented: code = KILN_ERROR_UNSUPPORTED; break;
    case StatusCode::kInternal: code = KILN_ERROR_INTERNAL; break;
  }
  std::string message = status.message();
  for (char& c : message) {
    if (c == '\n') c = ';';
  }
  return Fail(code, std::move(message));
}

// The last resort when an allocation fails despite the size limits (ir/core/resource_limits.h).
kiln_status OutOfMemory(const char* func) { return Fail(KILN_ERROR_INTERNAL, kiln::OutOfMemoryMessage(func)); }

#define KILN_REQUIRE(cond, what) \
  if (!(cond)) return Fail(KILN_ERROR_INVALID_ARGUMENT, std::string(__func__) + ": " + (what))

kiln_status CheckIndex(const char* func, const char* what, int index, int count) {
  if (index < 0 || index >= count) {
    return Fail(KILN_ERROR_OUT_OF_RANGE, std::string(func) + ": " + what + " index " + std::to_string(index) +
                                             " out of range (the plan has " + std::to_string(count) + ")");
  }
  return KILN_OK;
}

void Describe(const kiln::proto::Buffer& b, kiln_session::Desc* d) {
  d->name = b.name();
  d->dims.assign(b.dims().begin(), b.dims().end());
}

void FillInfo(const kiln_session::Desc& d, const kiln::proto::Buffer& b, kiln_tensor_info* info) {
  info->name = d.name.c_str();
  info->dtype = static_cast<kiln_dtype>(b.dtype());
  info->rank = static_cast<int>(d.dims.size());
  info->dims = d.dims.data();
  size_t n = 1;
  for (int64_t v : d.dims) n *= static_cast<size_t>(v);
  info->num_elements = n;
  info->size_bytes = n * static_cast<size_t>(kiln::DTypeSize(static_cast<kiln::DType>(b.dtype())));
}

kiln_status FindByName(const char* func, const char* what, const std::vector<kiln_session::Desc>& descs,
                       const char* name, int* index) {
  KILN_REQUIRE(name && index, "name and index must not be NULL");
  std::string names;
  for (size_t i = 0; i < descs.size(); ++i) {
    if (descs[i].name == name) {
      *index = static_cast<int>(i);
      return KILN_OK;
    }
    names += (names.empty() ? "" : ", ") + descs[i].name;
  }
  return Fail(KILN_ERROR_NOT_FOUND, std::string(func) + ": no " + what + " named '" + name + "' (" + what +
                                        "s: " + (names.empty() ? "none" : names) + ")");
}

}  // namespace

extern "C" {

const char* kiln_last_error(void) { return last_error.c_str(); }

const char* kiln_version(void) { return KILN_VERSION; }

const char* kiln_dtype_name(kiln_dtype dtype) {
  static const char* const kNames[] = {"undefined", "float32", "uint8",   "int8",   "int32",
                                       "int64",     "bool",    "float64", "float16"};
  const int i = static_cast<int>(dtype);
  return i >= 0 && i < static_cast<int>(sizeof(kNames) / sizeof(kNames[0])) ? kNames[i] : "unknown";
}

size_t kiln_dtype_size(kiln_dtype dtype) {
  return static_cast<size_t>(kiln::DTypeSize(static_cast<kiln::DType>(dtype)));
}

kiln_status kiln_plan_load_file(const char* path, kiln_plan** out) try {
  KILN_REQUIRE(path && out, "path and out must not be NULL");
  auto plan = kiln::runtime::Session::ReadPlanFile(path);
  if (!plan.ok()) return Fail(plan.status());
  *out = new kiln_plan{std::move(plan).value()};
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_plan_load_file");
}

kiln_status kiln_plan_load_memory(const void* data, size_t size, kiln_plan** out) try {
  KILN_REQUIRE(data && out, "data and out must not be NULL");
  KILN_REQUIRE(size <= static_cast<size_t>(INT32_MAX), "a serialized plan is limited to 2 GiB");
  auto plan = std::make_unique<kiln_plan>();
  if (!plan->plan.ParseFromArray(data, static_cast<int>(size))) {
    return Fail(KILN_ERROR_INVALID_ARGUMENT, "kiln_plan_load_memory: " + std::to_string(size) +
                                                 " bytes are not a valid Kiln plan (corrupt or truncated)");
  }
  *out = plan.release();
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_plan_load_memory");
}

void kiln_plan_free(kiln_plan* plan) { delete plan; }

namespace {
// "" and "cpu" are the host; a plan's device otherwise (runtime/device.h).
const char* PlanDevice(const kiln::proto::Plan& plan) {
  return kiln::runtime::PlanUsesDevice(plan) ? plan.device().c_str() : "cpu";
}
}  // namespace

const char* kiln_plan_device(const kiln_plan* plan) { return plan ? PlanDevice(plan->plan) : "cpu"; }

kiln_status kiln_device_available(const char* device) try {
  KILN_REQUIRE(device, "device must not be NULL");
  const Status st = kiln::runtime::DeviceAvailable(device);
  return st.ok() ? KILN_OK : Fail(st);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_device_available");
}

kiln_status kiln_session_create_on_device(const kiln_plan* plan, const kiln_session_options* options,
                                          const char* device, kiln_session** out) try {
  KILN_REQUIRE(plan && out, "plan and out must not be NULL");
  if (device) {
    const std::string wanted = *device ? device : "cpu";
    if (wanted != PlanDevice(plan->plan)) {
      if (const Status known = kiln::runtime::DeviceAvailable(wanted);
          !known.ok() && known.code() == StatusCode::kInvalidArgument) {
        return Fail(known);  // an unknown device name
      }
      return Fail(KILN_ERROR_INVALID_ARGUMENT,
                  std::string("kiln_session_create_on_device: the plan was compiled for ") + PlanDevice(plan->plan) +
                      ", not " + wanted + " (kiln compile --device " + wanted + ")");
    }
  }
  // The device first: a missing driver is its one line, before anything is allocated.
  if (const Status st = kiln::runtime::DeviceAvailable(PlanDevice(plan->plan)); !st.ok()) return Fail(st);
  return kiln_session_create(plan, options, out);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_create_on_device");
}

void kiln_session_options_init(kiln_session_options* options) {
  if (options) std::memset(options, 0, sizeof(*options));
}

static_assert(sizeof(kiln_kernel_entry) == sizeof(kiln::runtime::KernelTableEntry) &&
                  offsetof(kiln_kernel_entry, fn) == offsetof(kiln::runtime::KernelTableEntry, fn),
              "kiln_kernel_entry must match runtime::KernelTableEntry");

kiln_status kiln_session_create(const kiln_plan* plan, const kiln_session_options* options, kiln_session** out) try {
  KILN_REQUIRE(plan && out, "plan and out must not be NULL");
  kiln_session_options defaults;
  kiln_session_options_init(&defaults);
  if (!options) options = &defaults;
  KILN_REQUIRE(options->num_threads >= 0, "num_threads must be >= 0");
  kiln::runtime::SessionOptions session_options;
  session_options.num_threads = options->num_threads;
  if (options->kernels && options->num_kernels > 0) {
    // kiln_kernel_entry is layout-compatible with runtime::KernelTableEntry (static_assert below).
    session_options.compiled_kernels = kiln::runtime::KernelsFromTable(
        reinterpret_cast<const kiln::runtime::KernelTableEntry*>(options->kernels), options->num_kernels);
  }
  auto session = kiln::runtime::Session::Create(plan->plan, session_options);
  if (!session.ok()) return Fail(session.status());
  auto s = std::make_unique<kiln_session>();
  s->session = std::move(session).value();
  const kiln::runtime::Session& r = *s->session;
  s->inputs.resize(r.num_inputs());
  for (int i = 0; i < r.num_inputs(); ++i) Describe(r.input_desc(i), &s->inputs[i]);
  s->outputs.resize(r.num_outputs());
  for (int i = 0; i < r.num_outputs(); ++i) Describe(r.output_desc(i), &s->outputs[i]);
  s->states.resize(r.num_states());
  for (int i = 0; i < r.num_states(); ++i) Describe(r.state_desc(i), &s->states[i]);
  *out = s.release();
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_create");
}

void kiln_session_free(kiln_session* session) { delete session; }

kiln_status kiln_session_num_inputs(const kiln_session* session, int* count) try {
  KILN_REQUIRE(session && count, "session and count must not be NULL");
  *count = session->session->num_inputs();
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_num_inputs");
}

kiln_status kiln_session_num_outputs(const kiln_session* session, int* count) try {
  KILN_REQUIRE(session && count, "session and count must not be NULL");
  *count = session->session->num_outputs();
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_num_outputs");
}

kiln_status kiln_session_num_states(const kiln_session* session, int* count) try {
  KILN_REQUIRE(session && count, "session and count must not be NULL");
  *count = session->session->num_states();
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_num_states");
}

kiln_status kiln_session_input_info(const kiln_session* session, int index, kiln_tensor_info* info) try {
  KILN_REQUIRE(session && info, "session and info must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "input", index, session->session->num_inputs())) return st;
  FillInfo(session->inputs[index], session->session->input_desc(index), info);
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_input_info");
}

kiln_status kiln_session_output_info(const kiln_session* session, int index, kiln_tensor_info* info) try {
  KILN_REQUIRE(session && info, "session and info must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "output", index, session->session->num_outputs())) return st;
  FillInfo(session->outputs[index], session->session->output_desc(index), info);
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_output_info");
}

kiln_status kiln_session_state_info(const kiln_session* session, int index, kiln_tensor_info* info) try {
  KILN_REQUIRE(session && info, "session and info must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "state", index, session->session->num_states())) return st;
  FillInfo(session->states[index], session->session->state_desc(index), info);
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_state_info");
}

kiln_status kiln_session_find_input(const kiln_session* session, const char* name, int* index) try {
  KILN_REQUIRE(session, "session must not be NULL");
  return FindByName(__func__, "input", session->inputs, name, index);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_find_input");
}

kiln_status kiln_session_find_output(const kiln_session* session, const char* name, int* index) try {
  KILN_REQUIRE(session, "session must not be NULL");
  return FindByName(__func__, "output", session->outputs, name, index);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_find_output");
}

kiln_status kiln_session_find_state(const kiln_session* session, const char* name, int* index) try {
  KILN_REQUIRE(session, "session must not be NULL");
  return FindByName(__func__, "state", session->states, name, index);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_find_state");
}

kiln_status kiln_session_set_input(kiln_session* session, int index, const void* data, size_t size) try {
  KILN_REQUIRE(session && (data || size == 0), "session and data must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "input", index, session->session->num_inputs())) return st;
  const Status status = session->session->SetInput(index, data, size);
  return status.ok() ? KILN_OK : Fail(status);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_set_input");
}

kiln_status kiln_session_input_buffer(kiln_session* session, int index, void** data, size_t* size) try {
  KILN_REQUIRE(session && data && size, "session, data and size must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "input", index, session->session->num_inputs())) return st;
  const kiln::TensorRef ref = session->session->input(index);
  *data = ref.data;
  *size = static_cast<size_t>(ref.num_bytes());
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_input_buffer");
}

kiln_status kiln_session_run(kiln_session* session) try {
  KILN_REQUIRE(session, "session must not be NULL");
  const Status status = session->session->Run();
  return status.ok() ? KILN_OK : Fail(status);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_run");
}

kiln_status kiln_session_output(const kiln_session* session, int index, const void** data, size_t* size) try {
  KILN_REQUIRE(session && data && size, "session, data and size must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "output", index, session->session->num_outputs())) return st;
  const kiln::TensorRef ref = session->session->output(index);
  *data = ref.data;
  *size = static_cast<size_t>(ref.num_bytes());
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_output");
}

kiln_status kiln_session_state(kiln_session* session, int index, void** data, size_t* size) try {
  KILN_REQUIRE(session && data && size, "session, data and size must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "state", index, session->session->num_states())) return st;
  const kiln::TensorRef ref = session->session->state(index);
  *data = ref.data;
  *size = static_cast<size_t>(ref.num_bytes());
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_state");
}

kiln_status kiln_session_set_state(kiln_session* session, int index, const void* data, size_t size) try {
  KILN_REQUIRE(session && (data || size == 0), "session and data must not be NULL");
  if (kiln_status st = CheckIndex(__func__, "state", index, session->session->num_states())) return st;
  const Status status = session->session->SetState(index, data, size);
  return status.ok() ? KILN_OK : Fail(status);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_set_state");
}

kiln_status kiln_session_reset_states(kiln_session* session) try {
  KILN_REQUIRE(session, "session must not be NULL");
  session->session->ResetStates();
  return KILN_OK;
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_reset_states");
}

kiln_status kiln_session_save_checkpoint(const kiln_session* session, const char* path) try {
  KILN_REQUIRE(session && path, "session and path must not be NULL");
  const Status status = kiln::runtime::WriteCheckpoint(path, kiln::runtime::SessionCheckpoint(*session->session));
  return status.ok() ? KILN_OK : Fail(status);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_save_checkpoint");
}

kiln_status kiln_session_load_checkpoint(kiln_session* session, const char* path) try {
  KILN_REQUIRE(session && path, "session and path must not be NULL");
  kiln::runtime::Session& s = *session->session;
  // Checked against the plan before anything changes: a bad checkpoint leaves the session as it was.
  auto ckpt = kiln::runtime::ReadCheckpoint(path, kiln::runtime::CheckpointStates(s));
  if (!ckpt.ok()) return Fail(ckpt.status());
  const Status status = kiln::runtime::RestoreStates(s, ckpt->state());
  return status.ok() ? KILN_OK : Fail(status);
} catch (const std::bad_alloc&) {
  return OutOfMemory("kiln_session_load_checkpoint");
}

}  // extern "C"
