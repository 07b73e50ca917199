#include "runtime/kernel_choice.h"

#include <elf.h>
#include <immintrin.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>

#include "dnnl.hpp"
#include "runtime/kernels/onednn/conv_grad_weight_product.h"
#include "runtime/kernels/onednn/im2col_conv.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/simd_level.h"
#include "runtime/kernels/onednn/small_conv.h"
#include "runtime/kernels/onednn/small_matmul.h"
#include "runtime/kernels/onednn/winograd_f23.h"
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

namespace kiln::runtime {

std::string SmallProductUnsupportedReason(const KernelSpec& spec) { return onednn::SmallMatMulUnsupportedReason(spec); }
int64_t SmallProductRows(const KernelSpec& spec) { return onednn::SmallMatMulRows(spec); }
int64_t SmallProductMaxRows() { return onednn::kSmallMatMulMaxRows; }
std::string BlockedProductUnsupportedReason(const KernelSpec& spec) {
  return onednn::BlockedMatMulUnsupportedReason(spec);
}
std::string SmallConvUnsupportedReason(const KernelSpec& spec) { return onednn::SmallConvUnsupportedReason(spec); }
double SmallConvMacs(const KernelSpec& spec) { return onednn::SmallConvMacs(spec); }
double SmallConvMaxMacs() { return onednn::kSmallConvMaxMacs; }
int64_t SmallConvMaxChannels() { return onednn::kSmallConvMaxChannels; }
std::string WinogradUnsupportedReason(const KernelSpec& spec) { return onednn::WinogradConvUnsupportedReason(spec); }
std::string WinogradF23UnsupportedReason(const KernelSpec& spec) { return onednn::WinogradF23UnsupportedReason(spec); }
std::string Im2colConvUnsupportedReason(const KernelSpec& spec) { return onednn::Im2colConvUnsupportedReason(spec); }
std::string ConvGradWeightProductUnsupportedReason(const KernelSpec& spec) {
  return onednn::ConvGradWeightProductUnsupportedReason(spec);
}

namespace {

// Evicts [data, data + bytes) from every cache level.
void Flush(const void* data, size_t bytes) {
  constexpr size_t kLine = 64;
  const auto* p = static_cast<const char*>(data);
  for (size_t i = 0; i < bytes; i += kLine) _mm_clflush(p + i);
  if (bytes > 0) _mm_clflush(p + bytes - 1);
}

StatusOr<std::vector<KernelTiming>> TimeKernelsIn(ExecEnv& env, const std::vector<std::string>& backends,
                                                  const KernelSpec& spec, double budget_ms, bool cold_constants) {
  KernelSpec bound = spec;
  bound.env = &env;
  // Where the kernels keep the constants they reorder (weights in a blocked layout).
  env.reordered_constants = std::make_shared<ReorderedConstants>();
  // Buffers for the inputs without data and for the outputs; the values are fixed (the
  // same on every compile) and finite.
  std::vector<std::vector<float>> storage;
  auto fill = [&](TensorRef& t) -> Status {
    if (t.dtype == proto::DT_UNDEFINED || t.data) return Status::Ok();
    if (t.dtype != proto::DT_FLOAT) return Unimplemented("timing takes float32 tensors");
    std::vector<float>& data = storage.emplace_back(static_cast<size_t>(t.num_elements()));
    uint32_t state = 12345;
    for (float& v : data) {
      state = state * 1664525u + 1013904223u;
      v = static_cast<float>(state >> 8) / static_cast<float>(1u << 23) - 1.0f;
    }
    t.data = data.data();
    return Status::Ok();
  };
  for (TensorRef& t : bound.inputs) RETURN_IF_ERROR(fill(t));
  for (TensorRef& t : bound.outputs) RETURN_IF_ERROR(fill(t));
  std::vector<std::unique_ptr<Kernel>> kernels;
  for (const std::string& backend : backends) {
    ASSIGN_OR_RETURN(auto kernel, KernelRegistry::Global().Create(backend, bound));
    kernels.push_back(std::move(kernel));
  }
  if (!env.AllocateScratch()) return Internal("cannot allocate ", env.scratch_bytes, " bytes of scratch");
  using Clock = std::chrono::steady_clock;
  auto flush_constants = [&] {
    for (size_t i = 0; i < bound.inputs.size(); ++i) {
      if (spec.is_constant_input(static_cast<int>(i)) && bound.inputs[i].data)
        Flush(bound.inputs[i].data, static_cast<size_t>(bound.inputs[i].num_bytes()));
    }
    for (const auto& [source, reordered] : env.reordered_constants->entries)
      Flush(reordered.get_data_handle(), reordered.get_desc().get_size());
    for (const auto& kernel : kernels) {
      for (const Kernel::ConstantSpan& packed : kernel->PackedConstants()) Flush(packed.data, packed.bytes);
    }
    _mm_mfence();
  };
  // Each run timed alone, so a flush before it is not counted.
  auto run = [&](size_t i, int times) -> StatusOr<double> {
    double ms = 0;
    for (int r = 0; r < times; ++r) {
      if (cold_constants) flush_constants();
      const auto start = Clock::now();
      RETURN_IF_ERROR(kernels[i]->Run(bound.inputs, bound.outputs));
      ms += std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    }
    return ms / times;
  };
  // Warm-up (first-touch, caches, thread start) sizes the rounds: each kernel's share of a
  // round is about a tenth of the budget over the kernels.
  std::vector<int> reps(kernels.size(), 1);
  for (size_t i = 0; i < kernels.size(); ++i) {
    ASSIGN_OR_RETURN(double ms, run(i, 2));
    const double share = budget_ms / 10 / static_cast<double>(kernels.size());
    reps[i] = static_cast<int>(std::clamp(share / std::max(ms, 1e-4), 1.0, 1000.0));
  }
  std::vector<std::vector<double>> rounds(kernels.size());
  const auto deadline = Clock::now() + std::chrono::duration<double, std::milli>(budget_ms);
  for (int round = 0; round < 3 || (round < 15 && Clock::now() < deadline); ++round) {
    for (size_t i = 0; i < kernels.size(); ++i) {
      ASSIGN_OR_RETURN(double ms, run(i, reps[i]));
      rounds[i].push_back(ms);
    }
  }
  std::vector<KernelTiming> timings;
  for (std::vector<double>& r : rounds) {
    std::sort(r.begin(), r.end());
    timings.push_back({r.front(), r[r.size() / 2]});
  }
  return timings;
}

}  // namespace

StatusOr<std::vector<KernelTiming>> TimeKernels(const std::vector<std::string>& backends, const KernelSpec& spec,
                                                double budget_ms, bool cold_constants) {
  StatusOr<std::vector<KernelTiming>> result = Internal("not timed");
  onednn::WithPrivateEnv([&](ExecEnv& env) { result = TimeKernelsIn(env, backends, spec, budget_ms, cold_constants); });
  return result;
}

// The CPU's model name (/proc/cpuinfo, read once per process).
const std::string& CpuModelName() {
  static const std::string model = [] {
    std::ifstream cpuinfo("/proc/cpuinfo");
    for (std::string line; std::getline(cpuinfo, line);) {
      if (line.rfind("model name", 0) != 0) continue;
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
      break;
    }
    return std::string("unknown CPU");
  }();
  return model;
}

namespace {

// The GNU build id of the binary (program or shared library) that holds the kernels, in hex:
// any rebuild changes it, so a measurement never outlives the code it timed. "" when the
// linker wrote none.
int FindBuildId(struct dl_phdr_info* info, size_t, void* data) {
  auto* out = static_cast<std::pair<uintptr_t, std::string>*>(data);
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    const uintptr_t start = info->dlpi_addr + ph.p_vaddr;
    if (ph.p_type == PT_LOAD && out->first >= start && out->first < start + ph.p_memsz) {
      for (int j = 0; j < info->dlpi_phnum; ++j) {
        const ElfW(Phdr)& note = info->dlpi_phdr[j];
        if (note.p_type != PT_NOTE) continue;
        const char* p = reinterpret_cast<const char*>(info->dlpi_addr + note.p_vaddr);
        const char* end = p + note.p_memsz;
        while (p + sizeof(ElfW(Nhdr)) <= end) {
          const auto* n = reinterpret_cast<const ElfW(Nhdr)*>(p);
          const char* desc = p + sizeof(ElfW(Nhdr)) + ((n->n_namesz + 3) & ~3u);
          if (n->n_type == NT_GNU_BUILD_ID && desc + n->n_descsz <= end) {
            static const char kHex[] = "0123456789abcdef";
            for (uint32_t k = 0; k < n->n_descsz; ++k) {
              const auto byte = static_cast<unsigned char>(desc[k]);
              out->second += kHex[byte >> 4];
              out->second += kHex[byte & 15];
            }
            return 1;
          }
          p = desc + ((n->n_descsz + 3) & ~3u);
        }
      }
      return 1;
    }
  }
  return 0;
}

const std::string& KernelsBuildId() {
  static const std::string id = [] {
    std::pair<uintptr_t, std::string> found{reinterpret_cast<uintptr_t>(&MeasurementContext), ""};
    dl_iterate_phdr(FindBuildId, &found);
    return found.second;
  }();
  return id;
}

int MeasurementThreads() {
  int threads = 1;
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  threads = omp_get_max_threads();
#endif
  return threads;
}

}  // namespace

int64_t CachedConstantBytes() {
  constexpr int64_t kFallbackL2 = 1 << 20;  // where the system does not say
  const long l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
  return (l2 > 0 ? l2 : kFallbackL2) * MeasurementThreads();
}

std::string MeasurementContext() {
  const std::string& model = CpuModelName();
  const char* isa = "x86-64";
  switch (onednn::BestSimdLevel()) {
    case onednn::SimdLevel::kAvx512: isa = "avx512"; break;
    case onednn::SimdLevel::kAvx2: isa = "avx2"; break;
    case onednn::SimdLevel::kGeneric: break;
  }
  const std::string& build = KernelsBuildId();
  return model + ", " + isa + ", " + std::to_string(MeasurementThreads()) + " threads" +
         (build.empty() ? "" : ", build " + build);
}

}  // namespace kiln::runtime
