// A Session executes a Plan: one arena allocation, kernels created once, a flat
// loop over steps per run.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "runtime/compiled_kernels.h"
#include "runtime/device.h"
#include "runtime/kernel.h"
#include "runtime/plan.pb.h"

namespace kiln::runtime {

struct SessionOptions {
  int num_threads = 0;  // 0: oneDNN's default (all cores; OMP_NUM_THREADS)
  /// Time every step of every Run (also on when the environment sets KILN_PROFILE=1;
  /// then the session prints ProfileReport() to stderr when it is destroyed).
  bool profile = false;
  /// Generated code for the plan's "jit" steps (kept alive by the session); without
  /// it, or for a symbol it lacks, those steps run the reference interpreter.
  std::shared_ptr<const CompiledKernels> compiled_kernels;
  /// Called after each step of Run with its bound buffers (kiln run --check-numerics);
  /// an error stops the run and is returned as is. Unset: no per-step cost.
  std::function<Status(const proto::Step& step, const std::vector<TensorRef>& inputs,
                       const std::vector<TensorRef>& outputs)>
      after_step;
};

class Session {
 public:
  ~Session();
  /// Validates the plan (ValidatePlan, runtime/plan_validator.h: a bad plan is an error, never a
  /// crash), allocates the zeroed arena (inputs start as zeros) and creates every kernel. A plan
  /// for a device (plan.device(), runtime/device.h) opens it first: a missing driver is a one-line
  /// error; its device arena is allocated and its device constants uploaded once.
  static StatusOr<std::unique_ptr<Session>> Create(proto::Plan plan, const SessionOptions& options = {});
  /// Reads a serialized Plan file.
  static StatusOr<proto::Plan> ReadPlanFile(const std::string& path);

  int num_inputs() const { return plan_.input_size(); }
  int num_outputs() const { return plan_.output_size(); }
  const proto::Buffer& input_desc(int i) const { return plan_.buffer(plan_.input(i)); }
  const proto::Buffer& output_desc(int i) const { return plan_.buffer(plan_.output(i)); }
  /// Index of the input/output named `name`, or -1.
  int FindInput(const std::string& name) const;
  int FindOutput(const std::string& name) const;

  /// Copies `size` bytes into input i; the size must match the input exactly.
  Status SetInput(int i, const void* data, size_t size);
  /// The buffer of input i, to fill in place (avoids the copy of SetInput).
  TensorRef input(int i) const { return buffers_[plan_.input(i)]; }
  /// Runs every step: Start() then Finish().
  Status Run();
  /// A run in two halves, so the caller can write the next run's inputs while a device works
  /// (the trainer's double-buffered batches). Start returns once the inputs have been read:
  /// a device plan whose steps end in a replayed CUDA graph returns as soon as the graph is
  /// enqueued (its inputs already copied into the pinned staging buffers); any other plan runs
  /// to the end. Between the two only the inputs may be written (`input(i)`, SetInput); Finish
  /// waits for the device and makes the outputs and states readable.
  Status Start();
  Status Finish();
  /// A view of output i, valid until the next Run.
  TensorRef output(int i) const { return buffers_[plan_.output(i)]; }

  /// Persistent state (parameters, optimizer state, counters): kept across runs,
  /// set to the plan's initial values on creation and by ResetStates.
  /// States in device memory (a training step on a GPU) stay there between runs: each has a
  /// host copy, which `state`, `SetState` and `ResetStates` use. The first of them after a
  /// run downloads every device state; the next run uploads them again (the caller may have
  /// written through `state(i).data`). So a trainer that reads states once per epoch moves
  /// them once per epoch, not per step.
  int num_states() const { return plan_.state_size(); }
  const proto::Buffer& state_desc(int i) const { return plan_.buffer(plan_.state(i)); }
  /// A host view of state i (read or write it for checkpoints; valid for the session's life).
  TensorRef state(int i) const;
  int FindState(const std::string& name) const;
  /// Overwrites state i; the size must match exactly.
  Status SetState(int i, const void* data, size_t size);
  void ResetStates();

  /// Bytes of the arena (the session's one allocation for intermediate values).
  int64_t arena_size() const { return plan_.arena_size(); }
  /// Bytes of the one scratch buffer the session's kernels share (oneDNN layout
  /// copies of activations), allocated once after the kernels are created.
  int64_t scratch_size() const;
  const proto::Plan& plan() const { return plan_; }

  /// With profiling on: the steps by total time (name, op, kernel, ms, share), at most `top`
  /// rows, then the time by op type and kernel.
  std::string ProfileReport(int top = 25) const;
  /// With profiling on: milliseconds per run spent inside the steps' kernels (the rest of a
  /// run's time is the runtime's own dispatch).
  double KernelMsPerRun() const;
  /// Forgets the profile so far (e.g. warm-up runs).
  void ResetProfile();
  /// Per step (plan order): the layout conversions its kernel makes on every run
  /// (reorders of activations between layouts; kiln dump --layouts).
  std::vector<int> LayoutConversionsPerStep() const;

 private:
  Session() = default;
  Status CopyIntoBuffer(const char* what, int i, int count, int index, const void* data, size_t size);
  // Device states: the host copies current (downloads once after a run; an error is kept for
  // the next Run), and the device current again before a run.
  void DownloadStates() const;
  Status UploadStates();
  void ApplyThreadCount() const;
  struct BoundStep {
    std::unique_ptr<Kernel> kernel;
    std::vector<TensorRef> inputs;
    std::vector<TensorRef> outputs;
    const proto::Step* step;
    double seconds = 0;  // profiling: total time in Run
  };
  proto::Plan plan_;
  std::shared_ptr<void> arena_;
  std::unique_ptr<Device> device_;  // before steps_: their kernels use it until destroyed
  std::vector<TensorRef> buffers_;
  std::vector<BoundStep> steps_;
  struct Env;
  std::unique_ptr<Env> env_;
  std::shared_ptr<const CompiledKernels> compiled_kernels_;
  decltype(SessionOptions::after_step) after_step_;
  bool profile_ = false, profile_on_exit_ = false;
  int64_t runs_ = 0;
  Status RunStep(size_t i);
  // Start's work: every step, a deferred last graph replay left for Finish (pending_).
  Status Enqueue();
  // Device graphs: from the second run on (the first makes the kernels' own first-run choices,
  // e.g. cuBLASLt or not), each segment of device steps is captured once and then replayed.
  std::vector<DeviceSegment> segments_;
  std::vector<bool> captured_;
  bool graphs_ = false;
  bool started_ = false;  // Start called, Finish not yet
  bool pending_ = false;  // Start enqueued a graph whose outputs Finish has not collected
  // Per state: its host copy when the state lives in device memory (else empty).
  std::vector<std::vector<uint8_t>> state_host_;
  mutable bool states_on_host_ = true;         // the host copies hold the current values
  mutable bool states_on_device_ = false;      // the device holds them
  mutable Status state_error_ = Status::Ok();  // a failed download, reported by the next Run
};

}  // namespace kiln::runtime
