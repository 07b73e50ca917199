// Kiln runtime, C++17: a header-only RAII wrapper over the C API (kiln/runtime.h).
// Failures throw kiln::Error (a std::runtime_error carrying the kiln_status).
//
//   kiln::Plan plan = kiln::Plan::FromFile("mlp.plan");
//   kiln::Session session(plan, /*num_threads=*/1);
//   session.SetInput(0, pixels.data(), pixels.size() * sizeof(float));
//   session.Run();
//   const float* scores = session.Output<float>(0);
//
// Thread safety is the C API's: one Session per thread; Plans may be shared.
#ifndef KILN_RUNTIME_HPP_
#define KILN_RUNTIME_HPP_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kiln/runtime.h"

namespace kiln {

class Error : public std::runtime_error {
 public:
  Error(kiln_status code, const std::string& message) : std::runtime_error(message), code_(code) {}
  kiln_status code() const { return code_; }

 private:
  kiln_status code_;
};

/// Throws kiln::Error with kiln_last_error() unless `status` is KILN_OK.
inline void Check(kiln_status status) {
  if (status != KILN_OK) throw Error(status, kiln_last_error());
}

/// An input, output or state: name, dtype, dims, size.
struct TensorInfo {
  std::string name;
  kiln_dtype dtype = KILN_DTYPE_UNDEFINED;
  std::vector<int64_t> dims;
  size_t num_elements = 0;
  size_t size_bytes = 0;

  static TensorInfo From(const kiln_tensor_info& c) {
    TensorInfo t;
    t.name = c.name;
    t.dtype = c.dtype;
    t.dims.assign(c.dims, c.dims + c.rank);
    t.num_elements = c.num_elements;
    t.size_bytes = c.size_bytes;
    return t;
  }
};

class Plan {
 public:
  static Plan FromFile(const std::string& path) {
    kiln_plan* p = nullptr;
    Check(kiln_plan_load_file(path.c_str(), &p));
    return Plan(p);
  }
  static Plan FromMemory(const void* data, size_t size) {
    kiln_plan* p = nullptr;
    Check(kiln_plan_load_memory(data, size, &p));
    return Plan(p);
  }
  const kiln_plan* get() const { return plan_.get(); }

 private:
  explicit Plan(kiln_plan* p) : plan_(p, &kiln_plan_free) {}
  std::shared_ptr<kiln_plan> plan_;
};

class Session {
 public:
  explicit Session(const Plan& plan, int num_threads = 0, const kiln_kernel_entry* kernels = nullptr,
                   size_t num_kernels = 0) {
    kiln_session_options options;
    kiln_session_options_init(&options);
    options.num_threads = num_threads;
    options.kernels = kernels;
    options.num_kernels = num_kernels;
    kiln_session* s = nullptr;
    Check(kiln_session_create(plan.get(), &options, &s));
    session_.reset(s);
  }

  int num_inputs() const { return Count(kiln_session_num_inputs); }
  int num_outputs() const { return Count(kiln_session_num_outputs); }
  int num_states() const { return Count(kiln_session_num_states); }
  TensorInfo input_info(int i) const { return Info(kiln_session_input_info, i); }
  TensorInfo output_info(int i) const { return Info(kiln_session_output_info, i); }
  TensorInfo state_info(int i) const { return Info(kiln_session_state_info, i); }
  int FindInput(const std::string& name) const { return Find(kiln_session_find_input, name); }
  int FindOutput(const std::string& name) const { return Find(kiln_session_find_output, name); }
  int FindState(const std::string& name) const { return Find(kiln_session_find_state, name); }

  void SetInput(int i, const void* data, size_t size) { Check(kiln_session_set_input(get(), i, data, size)); }
  template <typename T>
  void SetInput(int i, const std::vector<T>& values) {
    SetInput(i, values.data(), values.size() * sizeof(T));
  }
  void SetInput(const std::string& name, const void* data, size_t size) { SetInput(FindInput(name), data, size); }
  /// The input's own buffer (fill it in place instead of SetInput).
  template <typename T = void>
  T* InputBuffer(int i) {
    void* data = nullptr;
    size_t size = 0;
    Check(kiln_session_input_buffer(get(), i, &data, &size));
    return static_cast<T*>(data);
  }

  void Run() { Check(kiln_session_run(get())); }

  template <typename T = void>
  const T* Output(int i, size_t* size = nullptr) const {
    const void* data = nullptr;
    size_t bytes = 0;
    Check(kiln_session_output(get(), i, &data, &bytes));
    if (size) *size = bytes;
    return static_cast<const T*>(data);
  }
  template <typename T>
  std::vector<T> OutputVector(int i) const {
    size_t bytes = 0;
    const T* data = Output<T>(i, &bytes);
    return std::vector<T>(data, data + bytes / sizeof(T));
  }

  void SetState(int i, const void* data, size_t size) { Check(kiln_session_set_state(get(), i, data, size)); }
  void ResetStates() { Check(kiln_session_reset_states(get())); }
  void SaveCheckpoint(const std::string& path) const { Check(kiln_session_save_checkpoint(get(), path.c_str())); }
  void LoadCheckpoint(const std::string& path) { Check(kiln_session_load_checkpoint(get(), path.c_str())); }

  kiln_session* get() const { return session_.get(); }

 private:
  struct Deleter {
    void operator()(kiln_session* s) const { kiln_session_free(s); }
  };
  template <typename F>
  TensorInfo Info(F f, int i) const {
    kiln_tensor_info info;
    Check(f(get(), i, &info));
    return TensorInfo::From(info);
  }
  template <typename F>
  int Count(F f) const {
    int n = 0;
    Check(f(get(), &n));
    return n;
  }
  template <typename F>
  int Find(F f, const std::string& name) const {
    int index = -1;
    Check(f(get(), name.c_str(), &index));
    return index;
  }
  std::unique_ptr<kiln_session, Deleter> session_;
};

}  // namespace kiln

#endif  // KILN_RUNTIME_HPP_
