// KernelsFromTable, and the "jit" kernel family: a step whose code the compiler
// generated (FusedElementwise and FusedReduction; FusedSoftmaxCrossEntropy at the end). It
// splits the step's rows across the session's threads; without the compiled function (a plan
// run by a runtime that lacks its code) it runs the reference interpreter instead, with the
// same results.
#include "runtime/compiled_kernels.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

#include "ir/core/fused_program.h"
#include "ir/core/shape_util.h"
#include "runtime/kernel.h"
#include "runtime/share_team.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace kiln::runtime {
namespace {

class TableKernels : public CompiledKernels {
 public:
  TableKernels(const KernelTableEntry* entries, size_t count) {
    for (size_t i = 0; i < count; ++i) by_symbol_[entries[i].symbol] = entries[i].fn;
  }
  KilnKernelFn Find(const std::string& symbol) const override {
    auto it = by_symbol_.find(symbol);
    return it == by_symbol_.end() ? nullptr : it->second;
  }

 private:
  std::unordered_map<std::string, KilnKernelFn> by_symbol_;
};

// Below this many elements per step a second thread costs more than it saves.
constexpr int64_t kMinElementsPerThread = 16384;

class CompiledStepKernel : public Kernel {
 public:
  CompiledStepKernel(KilnKernelFn fn, int64_t iterations, int64_t elements, int num_threads, bool share_team)
      : fn_(fn), iterations_(iterations), elements_(elements), num_threads_(num_threads), share_team_(share_team) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    buffers_.clear();
    for (const TensorRef& t : in) buffers_.push_back(t.data);
    for (const TensorRef& t : out) buffers_.push_back(t.data);
    void* const* buffers = buffers_.data();
    int threads = 1;
#ifdef _OPENMP
    threads = num_threads_ > 0 ? num_threads_ : omp_get_max_threads();
#endif
    threads = static_cast<int>(std::min<int64_t>({threads, iterations_, elements_ / kMinElementsPerThread}));
    if (threads <= 1) {
      if (iterations_ > 0) fn_(buffers, 0, iterations_);
      return Status::Ok();
    }
    // On Kiln's share team where the session uses it (the oneDNN steps around split there
    // too, runtime/share_team.h; its helpers do not depend on OMP_WAIT_POLICY), else in an
    // OpenMP region like the oneDNN steps of a training plan.
    const int64_t rows = iterations_;
    KilnKernelFn fn = fn_;
    if (share_team_) {
      RunShares(threads, [&](int t) { fn(buffers, rows * t / threads, rows * (t + 1) / threads); });
      return Status::Ok();
    }
#ifdef _OPENMP
#pragma omp parallel num_threads(threads)
    {
      const int64_t t = omp_get_thread_num(), n = omp_get_num_threads();
      fn(buffers, rows * t / n, rows * (t + 1) / n);
    }
#endif
    return Status::Ok();
  }

 private:
  KilnKernelFn fn_;
  int64_t iterations_, elements_;
  int num_threads_;
  bool share_team_;
  std::vector<void*> buffers_;
};

// The step's generated function; null when the session lacks its code.
KilnKernelFn GeneratedFunction(const KernelSpec& spec) {
  const std::string symbol = spec.attrs.GetString("symbol", "");
  const CompiledKernels* compiled = spec.env ? spec.env->compiled_kernels : nullptr;
  return compiled && !symbol.empty() ? compiled->Find(symbol) : nullptr;
}

StatusOr<std::unique_ptr<Kernel>> CreateCompiledStepKernel(const KernelSpec& spec) {
  KilnKernelFn fn = GeneratedFunction(spec);
  if (!fn) return KernelRegistry::Global().Create("ref", spec);
  const std::string symbol = spec.attrs.GetString("symbol", "");
  // The generated code assumes the geometry it was compiled for: check the plan agrees.
  std::vector<Dims> input_dims;
  for (const TensorRef& t : spec.inputs) input_dims.push_back(t.dims);
  if (spec.outputs.empty()) return InvalidArgument(spec.Label(), ": a compiled step needs an output");
  auto step_rows = ComputeFusedStepRows(spec.op_type, spec.attrs, input_dims, spec.outputs[0].dims);
  if (!step_rows.ok()) return step_rows.status().WithContext(spec.Label());
  const int64_t rows = step_rows->rows;
  int64_t elements = spec.outputs[0].num_elements();
  if (const auto& reduction = step_rows->reduction) {
    if (spec.outputs.size() != step_rows->program.outputs.size() + 1 || spec.outputs.back().dims != reduction->output) {
      return InvalidArgument(spec.Label(), ": the outputs do not match the program and its reduction");
    }
    // A softmax passes over its row three times and takes an exponential per element: worth a
    // second thread at a quarter of an elementwise kernel's size.
    const bool softmax = reduction->kind != FusedReduceKind::kSum;
    elements = ElementCount(reduction->iteration) * (softmax ? 4 : 1);
  }
  const int64_t iterations = spec.attrs.GetInt("iterations", -1);
  if (iterations != rows) {
    return InvalidArgument(spec.Label(), ": kernel ", symbol, " was compiled for ", iterations,
                           " rows but the buffers give ", rows);
  }
  return std::unique_ptr<Kernel>(new CompiledStepKernel(fn, iterations, elements, spec.env ? spec.env->num_threads : 0,
                                                        !spec.env || spec.env->use_share_team));
}

// A FusedSoftmaxCrossEntropy's generated kernel: one row, every sample on the calling thread
// (the loss adds the samples in order). Sparse labels are checked here, which the generated
// code, with no way to fail, relies on.
class CompiledLossKernel : public Kernel {
 public:
  CompiledLossKernel(KilnKernelFn fn, FusedLossGeometry geometry, std::string label)
      : fn_(fn), geometry_(geometry), label_(std::move(label)) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    if (geometry_.sparse) {
      const int64_t* labels = in[2].as<int64_t>();
      for (int64_t n = 0; n < geometry_.batch; ++n) {
        if (labels[n] < 0 || labels[n] >= geometry_.classes) {
          return InvalidArgument(label_, ": label ", labels[n], " of sample ", n, " is out of range [0, ",
                                 geometry_.classes, ")");
        }
      }
    }
    buffers_.clear();
    for (const TensorRef& t : in) buffers_.push_back(t.data);
    for (const TensorRef& t : out) buffers_.push_back(t.data);
    fn_(buffers_.data(), 0, 1);
    return Status::Ok();
  }

 private:
  KilnKernelFn fn_;
  FusedLossGeometry geometry_;
  std::string label_;
  std::vector<void*> buffers_;
};

StatusOr<std::unique_ptr<Kernel>> CreateCompiledLossKernel(const KernelSpec& spec) {
  KilnKernelFn fn = GeneratedFunction(spec);
  if (!fn) return KernelRegistry::Global().Create("ref", spec);
  // The generated code assumes the shapes it was compiled for: check the plan agrees.
  std::vector<TensorType> inputs, outputs;
  for (const TensorRef& t : spec.inputs) inputs.push_back(TensorType{t.dtype, t.dims});
  for (const TensorRef& t : spec.outputs) outputs.push_back(TensorType{t.dtype, t.dims});
  auto geometry = ComputeFusedLossGeometry(spec.attrs, inputs, outputs);
  if (!geometry.ok()) return geometry.status().WithContext(spec.Label());
  if (spec.attrs.GetInt("iterations", -1) != 1) {
    return InvalidArgument(spec.Label(), ": kernel ", spec.attrs.GetString("symbol", ""),
                           " was not compiled as a fused loss (one row)");
  }
  return std::unique_ptr<Kernel>(new CompiledLossKernel(fn, *geometry, spec.Label()));
}

}  // namespace

std::shared_ptr<const CompiledKernels> KernelsFromTable(const KernelTableEntry* entries, size_t count) {
  return std::make_shared<TableKernels>(entries, count);
}

void RegisterCompiledKernels(KernelRegistry& r) {
  r.Register("jit", "FusedElementwise", CreateCompiledStepKernel);
  r.Register("jit", "FusedReduction", CreateCompiledStepKernel);
  r.Register("jit", "FusedSoftmaxCrossEntropy", CreateCompiledLossKernel);
}

}  // namespace kiln::runtime
