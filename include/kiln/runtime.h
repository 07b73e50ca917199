/* Kiln runtime C API: load a compiled Plan (a file from `kiln compile --emit plan`, or the
 * bytes an object/library from `kiln compile` embeds), create sessions, set inputs, run,
 * read outputs; for training plans, read and write the persistent states and checkpoints.
 *
 * C99 and C++. Link libkiln_runtime (shared or static; see docs/aot.md).
 *
 * Conventions:
 *  - Every function that can fail returns a kiln_status (KILN_OK == 0). On failure,
 *    kiln_last_error() returns a one-line message; it is thread-local and stays valid
 *    until the next failing call on the same thread.
 *  - Out-pointers are written only on success.
 *  - Strings and dims returned by *_info functions belong to the plan/session and stay
 *    valid for its lifetime.
 *
 * Thread safety: a kiln_plan is immutable once loaded and may be shared by any number
 * of threads (e.g. to create sessions concurrently). A kiln_session is NOT thread-safe:
 * use it from one thread at a time. Distinct sessions may run concurrently on distinct
 * threads (each one's thread count applies to the thread that runs it).
 */
#ifndef KILN_RUNTIME_H_
#define KILN_RUNTIME_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KILN_RUNTIME_API_VERSION 2 /* 2: devices (kiln_plan_device, ...) */

typedef enum kiln_status {
  KILN_OK = 0,
  KILN_ERROR_INVALID_ARGUMENT = 1, /* bad argument, malformed plan, size mismatch */
  KILN_ERROR_NOT_FOUND = 2,        /* missing file, unknown name */
  KILN_ERROR_OUT_OF_RANGE = 3,     /* index out of range */
  KILN_ERROR_UNSUPPORTED = 4,      /* feature not available in this build */
  KILN_ERROR_INTERNAL = 5          /* kernel failure, allocation failure */
} kiln_status;

/* Element types; the values match Kiln's DataType (ir/kiln.proto). */
typedef enum kiln_dtype {
  KILN_DTYPE_UNDEFINED = 0,
  KILN_DTYPE_FLOAT32 = 1,
  KILN_DTYPE_UINT8 = 2,
  KILN_DTYPE_INT8 = 3,
  KILN_DTYPE_INT32 = 4,
  KILN_DTYPE_INT64 = 5,
  KILN_DTYPE_BOOL = 6,
  KILN_DTYPE_FLOAT64 = 7,
  KILN_DTYPE_FLOAT16 = 8
} kiln_dtype;

typedef struct kiln_plan kiln_plan;       /* a loaded Plan (immutable, shareable) */
typedef struct kiln_session kiln_session; /* an executable instance of a plan */

/* A compiled (LLVM-generated) kernel, as tabulated by `kiln compile` objects.
 * Layout-compatible with kiln::runtime::KernelTableEntry (runtime/compiled_kernels.h). */
typedef void (*kiln_kernel_fn)(void* const* buffers, int64_t begin, int64_t end);
typedef struct kiln_kernel_entry {
  const char* symbol;
  kiln_kernel_fn fn;
} kiln_kernel_entry;

typedef struct kiln_session_options {
  int num_threads;                  /* 0: all cores (or OMP_NUM_THREADS) */
  const kiln_kernel_entry* kernels; /* compiled-kernel table, or NULL */
  size_t num_kernels;
} kiln_session_options;

/* Describes an input, output or state. */
typedef struct kiln_tensor_info {
  const char* name;
  kiln_dtype dtype;
  int rank;
  const int64_t* dims; /* rank entries */
  size_t num_elements;
  size_t size_bytes;
} kiln_tensor_info;

/* The last error on this thread ("" if none). */
const char* kiln_last_error(void);
/* "0.1.0" */
const char* kiln_version(void);
/* "float32", "int64", ... */
const char* kiln_dtype_name(kiln_dtype dtype);
size_t kiln_dtype_size(kiln_dtype dtype);

/* ---- Plans ---- */
kiln_status kiln_plan_load_file(const char* path, kiln_plan** out);
/* Parses `size` bytes (copied; the caller's memory may be freed afterwards). */
kiln_status kiln_plan_load_memory(const void* data, size_t size, kiln_plan** out);
void kiln_plan_free(kiln_plan* plan);

/* ---- Devices ----
 * A plan is compiled for one device (`kiln compile --device cpu|cuda`): its kernels are that
 * device's. A session runs it there; a device plan's driver is opened when the session is
 * created (the library has no link-time dependency on it). */
/* The device the plan needs: "cpu" (host only) or a device name, e.g. "cuda". */
const char* kiln_plan_device(const kiln_plan* plan);
/* Whether `device` can run plans on this machine: KILN_OK; KILN_ERROR_NOT_FOUND when its
 * driver or device is missing (kiln_last_error(), one line: e.g. "cuda: no CUDA driver found
 * (...)"); KILN_ERROR_INVALID_ARGUMENT for an unknown name. */
kiln_status kiln_device_available(const char* device);

/* ---- Sessions ---- */
void kiln_session_options_init(kiln_session_options* options);
/* `options` may be NULL (defaults). The plan may be freed after this call. Every field of
 * the plan is checked first (operands, shapes and types against each op's rules, buffer
 * bounds and lifetimes): a malformed or hostile plan gives KILN_ERROR_INVALID_ARGUMENT,
 * never a crash. Inputs start as zeros. */
kiln_status kiln_session_create(const kiln_plan* plan, const kiln_session_options* options, kiln_session** out);
/* kiln_session_create on the device the caller asks for ("cpu", "cuda"; NULL: the plan's):
 * KILN_ERROR_INVALID_ARGUMENT when the plan was compiled for another device (the message names
 * both), else as kiln_device_available when the device cannot run here, else as
 * kiln_session_create. */
kiln_status kiln_session_create_on_device(const kiln_plan* plan, const kiln_session_options* options,
                                          const char* device, kiln_session** out);
void kiln_session_free(kiln_session* session);

kiln_status kiln_session_num_inputs(const kiln_session* session, int* count);
kiln_status kiln_session_num_outputs(const kiln_session* session, int* count);
kiln_status kiln_session_num_states(const kiln_session* session, int* count);
kiln_status kiln_session_input_info(const kiln_session* session, int index, kiln_tensor_info* info);
kiln_status kiln_session_output_info(const kiln_session* session, int index, kiln_tensor_info* info);
kiln_status kiln_session_state_info(const kiln_session* session, int index, kiln_tensor_info* info);
/* Index by name; KILN_ERROR_NOT_FOUND (message lists the names) if there is none. */
kiln_status kiln_session_find_input(const kiln_session* session, const char* name, int* index);
kiln_status kiln_session_find_output(const kiln_session* session, const char* name, int* index);
kiln_status kiln_session_find_state(const kiln_session* session, const char* name, int* index);

/* Copies `size` bytes into input `index`; `size` must equal the input's size_bytes. */
kiln_status kiln_session_set_input(kiln_session* session, int index, const void* data, size_t size);
/* The input's own buffer, to fill in place (valid for the session's life; inputs keep
 * their values across runs). */
kiln_status kiln_session_input_buffer(kiln_session* session, int index, void** data, size_t* size);
/* Runs the plan once. For a training plan a run is one training step (the states are updated). */
kiln_status kiln_session_run(kiln_session* session);
/* Output `index` after a run: valid until the next run or the session's destruction. */
kiln_status kiln_session_output(const kiln_session* session, int index, const void** data, size_t* size);

/* ---- States (training plans: parameters, optimizer moments, counters) ---- */
kiln_status kiln_session_state(kiln_session* session, int index, void** data, size_t* size);
kiln_status kiln_session_set_state(kiln_session* session, int index, const void* data, size_t size);
/* Every state back to the plan's initial value. */
kiln_status kiln_session_reset_states(kiln_session* session);
/* Checkpoints are the files of `kiln train --checkpoint` (a KILNCKPT header with version and CRC-32, then a
 * kiln.proto.Checkpoint), written atomically. Loading checks the header and that every state of the plan is
 * there exactly once with its dtype and shape (finite values) before any state changes. */
kiln_status kiln_session_save_checkpoint(const kiln_session* session, const char* path);
kiln_status kiln_session_load_checkpoint(kiln_session* session, const char* path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KILN_RUNTIME_H_ */
