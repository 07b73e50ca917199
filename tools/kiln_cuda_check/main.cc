// kiln_cuda_check: the CUDA backend's checks, in one small binary that links
// no LLVM or oneDNN so it can travel to a GPU machine (scripts/make_cuda_bundle.sh).
//   --emulate   render every case, compile the CUDA C with the host compiler
//               (prelude: __global__, threadIdx, ... blocks one after another), run, compare
//   --ptx       NVRTC to PTX for compute_80 and compute_90, ptxas -arch=sm_90 each
//   --gpu       NVRTC, load and run on device 0 through the driver, compare (exit 77: no CUDA driver)
//   --bench N,N benchmark the chains "gelu8" and "bwd" (median of --reps CUDA-event timings)
//   --bench-kinds  benchmark the kernel kinds at network sizes (BENCHKIND lines)
//   --programs FILE  more programs, one text form a line (e.g. from the examples' models)
//   --kinds FILE / --write-kinds FILE  the generated kernel kinds' cases (kinds.h) from / to a file
//   --kinds-only  only the given cases, a subset: the kinds' file and the --programs (no built-in
//                 fused-program cases, no coverage requirement)
// The kernel kinds (compiler/backends/cuda/cuda_kinds.h) run in every mode but --bench,
// compared with the reference kernels' outputs.
// Each case is compared with the reference interpreter's arithmetic (fused_evaluate.h)
// on random inputs with NaN, +-Inf and signed zeros, within 1e-4 (as the oneDNN-vs-reference tests).
#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "compiler/backends/cuda/cuda_codegen.h"
#include "compiler/backends/cuda/nvrtc.h"
#include "runtime/kernels/cuda/cuda_driver.h"
#include "runtime/kernels/reference/fused_evaluate.h"
#include "tools/kiln_cuda_check/check_util.h"
#include "tools/kiln_cuda_check/kinds.h"

namespace kiln::cuda {
namespace {

struct Case {
  std::string name;
  FusedProgram program;
  std::vector<Dims> inputs;
  Dims output;
};

int64_t Count(const Dims& d) {
  int64_t n = 1;
  for (int64_t x : d) n *= x;
  return n;
}

// Independent of FusedGeometry on purpose: plain numpy broadcasting per element.
std::vector<std::vector<float>> Oracle(const Case& c, const std::vector<std::vector<float>>& in) {
  const int64_t n = Count(c.output);
  std::vector<std::vector<float>> out(c.program.outputs.size(), std::vector<float>(n));
  std::vector<float> temps(c.program.instrs.size());
  Dims index(c.output.size());
  for (int64_t e = 0; e < n; ++e) {
    int64_t rest = e;
    for (int d = int(c.output.size()) - 1; d >= 0; --d) {
      index[d] = rest % c.output[d];
      rest /= c.output[d];
    }
    std::vector<float> x(in.size());
    for (size_t k = 0; k < in.size(); ++k) {
      const Dims& dims = c.inputs[k];
      int64_t off = 0;
      for (size_t d = 0; d < dims.size(); ++d) {
        const int64_t i = index[c.output.size() - dims.size() + d];
        off = off * dims[d] + (dims[d] == 1 ? 0 : i);
      }
      x[k] = in[k][off];
    }
    for (size_t t = 0; t < c.program.instrs.size(); ++t) {
      const FusedInstr& instr = c.program.instrs[t];
      double a[4];
      for (size_t j = 0; j < instr.args.size(); ++j) {
        const FusedOperand& o = instr.args[j];
        a[j] = o.kind == FusedOperand::kInput ? x[o.index] : o.kind == FusedOperand::kTemp ? temps[o.index] : o.value;
      }
      temps[t] = static_cast<float>(runtime::ref::EvaluateFusedOp(instr.op, a));
    }
    for (size_t o = 0; o < out.size(); ++o) out[o][e] = temps[c.program.outputs[o]];
  }
  return out;
}

std::vector<float> RandomData(int64_t n, std::mt19937& rng, bool specials) {
  std::uniform_real_distribution<float> value(-3.f, 3.f);
  std::uniform_int_distribution<int> pick(0, 39);
  const float kSpecial[] = {NAN, INFINITY, -INFINITY, 0.f, -0.f};
  std::vector<float> v(n);
  for (auto& x : v) {
    const int p = pick(rng);
    x = specials && p < 5 ? kSpecial[p] : value(rng);
  }
  return v;
}

// One case per instruction kind (FusedOps(): a new op is covered without an edit
// here), then multi-op chains, multiple outputs and the broadcasting the CPU path supports.
std::vector<Case> BuiltinCases() {
  std::vector<std::pair<std::string, std::string>> texts;
  const std::map<std::string, std::vector<std::string>> immediates = {
      {"Pow", {"3"}},        {"LeakyRelu", {"0.1"}},     {"Elu", {"1.5"}},    {"Selu", {"1.6732632", "1.050701"}},
      {"Clip", {"-1", "2"}}, {"LeakyReluGrad", {"0.2"}}, {"EluGrad", {"0.7"}}};
  for (const FusedOpInfo& info : FusedOps()) {
    std::string args;
    for (int k = 0; k < info.tensor_args; ++k) args += (k ? ",i" : "i") + std::to_string(k);
    auto it = immediates.find(info.name);
    for (int k = 0; k < info.immediate_args; ++k) {
      args += "," + (it != immediates.end() && k < int(it->second.size()) ? it->second[k] : std::string("0.5"));
    }
    texts.push_back({std::string("op_") + info.name, "t0=" + std::string(info.name) + "(" + args + "); o0=t0"});
  }
  texts.push_back({"pow_half", "t0=Pow(i0,0.5); o0=t0"});
  texts.push_back({"clip_inverted", "t0=Clip(i0,2,-1); o0=t0"});
  std::vector<Case> cases;
  const Dims shape = {7, 151};
  for (const auto& [name, text] : texts) {
    auto p = ParseFusedProgram(text);
    if (!p.ok()) {
      std::fprintf(stderr, "kiln_cuda_check: %s: %s\n", name.c_str(), p.status().message().c_str());
      std::exit(1);
    }
    cases.push_back({name, *p, std::vector<Dims>(p->num_inputs, shape), shape});
  }
  auto add = [&](const std::string& name, const std::string& text, std::vector<Dims> in, Dims out) {
    auto p = ParseFusedProgram(text);
    if (!p.ok()) {
      std::fprintf(stderr, "kiln_cuda_check: %s: %s\n", name.c_str(), p.status().message().c_str());
      std::exit(1);
    }
    cases.push_back({name, *p, std::move(in), std::move(out)});
  };
  const std::string gelu8 =
      "t0=Pow(i0,3); t1=Mul(t0,0.044715); t2=Add(i0,t1); t3=Mul(t2,0.7978846); t4=Tanh(t3); t5=Add(t4,1); "
      "t6=Mul(t5,0.5); t7=Mul(t6,i0); o0=t7";
  const std::string bwd = "t0=Tanh(i1); t1=TanhGrad(i0,t0); t2=Mul(t1,i2); t3=ReluGrad(t2,i1); o0=t3; o1=t1";
  add("gelu8", gelu8, {{3, 1000}}, {3, 1000});
  add("bwd", bwd, {{3, 1000}, {3, 1000}, {3, 1000}}, {3, 1000});
  add("bias_chain", "t0=Add(i0,i1); t1=Relu(t0); t2=Exp(t1); t3=Sigmoid(t2); o0=t3; o1=t0",
      {{2, 3, 5, 7}, {2, 3, 1, 1}}, {2, 3, 5, 7});
  add("outer_broadcast", "t0=Mul(i0,i1); t1=Sub(t0,i2); o0=t1", {{4, 1, 6}, {5, 1}, {}}, {4, 5, 6});
  add("row_broadcast", "t0=Max(i0,i1); t1=Min(t0,i1); o0=t1", {{9, 33}, {33}}, {9, 33});
  add("high_rank", "t0=Add(i0,i1); o0=t0", {{2, 1, 3, 4, 5}, {3, 1, 5}}, {2, 2, 3, 4, 5});
  add("empty", "t0=Relu(i0); o0=t0", {{0, 3}}, {0, 3});
  add("scalar", "t0=Neg(i0); t1=Add(t0,i1); o0=t1", {{}, {}}, {});
  add("immediate_only_input_twice", "t0=Div(i0,i0); t1=Add(t0,-0.25); o0=t1; o1=t0", {{129}}, {129});
  return cases;
}

std::vector<Case> FileCases(const std::string& path) {
  std::vector<Case> cases;
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "kiln_cuda_check: %s: cannot open\n", path.c_str());
    std::exit(1);
  }
  std::string line;
  for (int n = 1; std::getline(f, line); ++n) {
    if (line.empty() || line[0] == '#') continue;
    auto p = ParseFusedProgram(line);
    if (!p.ok()) {
      std::fprintf(stderr, "kiln_cuda_check: %s:%d: %s\n", path.c_str(), n, p.status().message().c_str());
      std::exit(1);
    }
    const Dims shape = {5, 67};
    cases.push_back({"file" + std::to_string(n), *p, std::vector<Dims>(p->num_inputs, shape), shape});
  }
  return cases;
}

struct Data {
  std::vector<std::vector<float>> in, want;
};
Data MakeData(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  Data d;
  for (const Dims& dims : c.inputs) d.in.push_back(RandomData(Count(dims), rng, true));
  d.want = Oracle(c, d.in);
  return d;
}

const char* MathName(CudaMath m) { return m == CudaMath::kDouble ? "f64" : "f32"; }
// The fast float variant rounds each transcendental once more: a looser bound.
double Tolerance(CudaMath m) { return m == CudaMath::kDouble ? 1e-4 : 1e-3; }

// ---- Emulation ---------------------------------------------------------------------------------
const char* kEmulationPrelude = R"(// Kiln's CUDA emulation prelude: blocks and threads run one after another.
#include <math.h>
#define KILN_EMULATION 1
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
struct kiln_dim3 { unsigned x = 0, y = 0, z = 0; };
static kiln_dim3 threadIdx, blockIdx, blockDim, gridDim;
#define __syncthreads() static_assert(false, "__syncthreads needs real concurrent threads")
)";

int RunEmulation(const std::vector<Case>& cases, bool coverage = true) {
  char dir_template[] = "/tmp/kiln_cuda_emulation.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) {
    std::printf("FAIL emulation: cannot make a temp dir\n");
    return 1;
  }
  int failures = 0;
  std::set<FusedOp> covered;
  for (CudaMath math : {CudaMath::kDouble, CudaMath::kFloat}) {
    std::string source = kEmulationPrelude;
    std::vector<CudaKernel> kernels;
    std::set<std::string> rendered;  // cases may share a program (a name): define it once
    for (const Case& c : cases) {
      auto k = RenderCudaKernel(c.program, math);
      if (!k.ok()) {
        std::printf("FAIL emulate %s: %s\n", c.name.c_str(), k.status().message().c_str());
        return 1;
      }
      if (rendered.insert(k->name).second) source += k->source;
      kernels.push_back(*k);
    }
    void* so = HostCompileAndLoad(source, std::string(dir) + "/kernels_" + MathName(math), "emulation");
    if (so == nullptr) return 1;
    for (size_t i = 0; i < cases.size(); ++i) {
      const Case& c = cases[i];
      using Emulate = void (*)(const void*, unsigned, unsigned);
      auto fn = reinterpret_cast<Emulate>(dlsym(so, (kernels[i].name + "_emulate").c_str()));
      Data d = MakeData(c, 1234 + i);
      std::vector<std::vector<float>> got(d.want.size(), std::vector<float>(Count(c.output), -12345.f));
      std::vector<uint64_t> in_ptrs, out_ptrs;
      for (auto& v : d.in) in_ptrs.push_back(reinterpret_cast<uint64_t>(v.data()));
      for (auto& v : got) out_ptrs.push_back(reinterpret_cast<uint64_t>(v.data()));
      int64_t total = 0;
      auto args = PackCudaKernelArgs(c.program, c.inputs, c.output, in_ptrs, out_ptrs, &total);
      std::string diff;
      if (fn == nullptr)
        diff = "no symbol " + kernels[i].name + "_emulate";
      else if (!args.ok())
        diff = args.status().message();
      else {
        fn(args->data(), 3, 32);  // a grid smaller than most cases: the grid-stride loop is exercised
        for (size_t o = 0; o < got.size() && diff.empty(); ++o) {
          diff = Compare(got[o], d.want[o], Tolerance(math));
          if (!diff.empty()) diff = "output " + std::to_string(o) + " " + diff;
        }
      }
      if (!diff.empty()) {
        ++failures;
        std::printf("FAIL emulate %s %s (%s): %s\n", MathName(math), c.name.c_str(), kernels[i].name.c_str(),
                    diff.c_str());
      } else {
        for (const FusedInstr& instr : c.program.instrs) covered.insert(instr.op);
      }
    }
    dlclose(so);
  }
  // Coverage: every instruction kind the code generator renders has an emulated case that passed.
  for (const FusedOpInfo& info : FusedOps()) {
    if (coverage && !covered.count(info.op)) {
      ++failures;
      std::printf("FAIL emulation coverage: no passing emulated case uses %s\n", info.name);
    }
  }
  std::string rm = std::string("rm -rf ") + dir;
  if (failures == 0) (void)!std::system(rm.c_str());
  std::printf("%s emulation: %zu cases x 2 precisions, %zu/%zu op kinds covered\n", failures ? "FAIL" : "PASS",
              cases.size(), covered.size(), FusedOps().size());
  return failures ? 1 : 0;
}

// ---- NVRTC + ptxas ------------------------------------------------------------------------------
int RunPtx(const std::vector<Case>& cases, const std::vector<KindCase>& kinds) {
  auto lib = NvrtcDescription();
  if (!lib.ok()) {
    std::printf("FAIL ptx: %s\n", lib.status().message().c_str());
    return 1;
  }
  std::printf("nvrtc: %s\n", lib->c_str());
  std::string ptxas = std::getenv("KILN_PTXAS") ? std::getenv("KILN_PTXAS") : "/usr/local/cuda/bin/ptxas";
  if (access(ptxas.c_str(), X_OK) != 0) {
    std::printf("FAIL ptx: no ptxas at %s (set KILN_PTXAS)\n", ptxas.c_str());
    return 1;
  }
  char dir_template[] = "/tmp/kiln_cuda_ptx.XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return 1;
  // Every kernel: the fused cases in both precisions, then one per kind case.
  int failures = 0;
  std::vector<CudaKernel> kernels;
  for (const Case& c : cases) {
    for (CudaMath math : {CudaMath::kDouble, CudaMath::kFloat}) {
      auto k = RenderCudaKernel(c.program, math);
      if (!k.ok()) {
        ++failures;
        std::printf("FAIL ptx %s: %s\n", c.name.c_str(), k.status().message().c_str());
      } else {
        kernels.push_back(*k);
      }
    }
  }
  const size_t fused = kernels.size();
  for (const KindCase& c : kinds) {
    auto k = RenderCudaKind(c.desc);
    if (!k.ok()) {
      ++failures;
      std::printf("FAIL ptx %s: %s\n", c.name.c_str(), k.status().message().c_str());
    } else {
      kernels.push_back(k->kernel);
    }
  }
  int compiled = 0;
  for (const CudaKernel& k : kernels) {
    for (int arch : {80, 90}) {
      auto r = NvrtcCompile(k.source, k.name, {arch / 10, arch % 10, false});
      if (!r.ok()) {
        ++failures;
        std::printf("FAIL nvrtc %s: %s\n", k.name.c_str(), r.status().message().c_str());
        continue;
      }
      ++compiled;
      std::ofstream(std::string(dir) + "/" + k.name + "_" + std::to_string(arch) + ".ptx") << r->image;
    }
  }
  // ptxas on every file, a process per file, 2 at a time; the failed files are listed.
  const std::string failed = std::string(dir) + "/ptxas_failed.txt";
  const std::string cmd = "cd " + std::string(dir) + " && ls | grep '\\.ptx$' | xargs -P 2 -n 1 sh -c '\"" + ptxas +
                          "\" -arch=sm_90 -o /dev/null \"$0\" > \"$0.log\" 2>&1 || echo \"$0\"' > " + failed;
  if (compiled > 0 && std::system(cmd.c_str()) != 0) {
    ++failures;
    std::printf("FAIL ptxas: %s\n", cmd.c_str());
  }
  std::ifstream failed_list(failed);
  for (std::string file; std::getline(failed_list, file);) {
    ++failures;
    std::ifstream log(std::string(dir) + "/" + file + ".log");
    std::string first;
    std::getline(log, first);
    std::printf("FAIL ptxas %s: %s\n", file.c_str(), first.c_str());
  }
  std::printf("ptx: %zu fused-program kernels, %zu kernel-kind kernels\n", fused, kernels.size() - fused);
  if (failures == 0) (void)!std::system((std::string("rm -rf ") + dir).c_str());
  std::printf("%s ptx: %d kernels compiled by NVRTC (compute_80, compute_90) and assembled by ptxas -arch=sm_90\n",
              failures ? "FAIL" : "PASS", compiled);
  return failures ? 1 : 0;
}

// ---- GPU ----------------------------------------------------------------------------------------
struct GpuKernel {
  void* function = nullptr;
  std::string name;
};

StatusOr<GpuKernel> Build(CudaDevice& dev, const FusedProgram& program, CudaMath math) {
  ASSIGN_OR_RETURN(CudaKernel k, RenderCudaKernel(program, math));
  // sm_XY cubin when this NVRTC knows the device's arch, else compute_XY PTX the driver JITs.
  const int major = dev.info().major, minor = dev.info().minor;
  const bool cubin = NvrtcSupportsArch(major, minor);
  ASSIGN_OR_RETURN(NvrtcResult r, NvrtcCompile(k.source, k.name, {major, minor, cubin}));
  ASSIGN_OR_RETURN(void* fn, dev.LoadKernel(r.image, k.name));
  return GpuKernel{fn, k.name};
}

unsigned GridFor(const CudaDevice& dev, int64_t total, unsigned block) {
  const int64_t blocks = (total + block - 1) / block;
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>(blocks, int64_t(dev.info().multiprocessors) * 32)));
}

Status RunOnGpu(CudaDevice& dev, const Case& c, CudaMath math, const Data& d, bool graph, std::string* diff) {
  ASSIGN_OR_RETURN(GpuKernel k, Build(dev, c.program, math));
  const int64_t n = Count(c.output);
  std::vector<DevicePtr> in, out;
  auto release = [&] {
    for (DevicePtr p : in) (void)dev.Free(p);
    for (DevicePtr p : out) (void)dev.Free(p);
  };
  Status st = Status::Ok();
  for (const auto& v : d.in) {
    auto p = dev.Alloc(v.size() * 4);
    if (!p.ok())
      st = p.status();
    else {
      in.push_back(*p);
      if (st.ok()) st = dev.CopyToDevice(*p, v.data(), v.size() * 4);
    }
  }
  for (size_t o = 0; o < d.want.size() && st.ok(); ++o) {
    auto p = dev.Alloc(n * 4);
    if (!p.ok())
      st = p.status();
    else
      out.push_back(*p);
  }
  int64_t total = 0;
  StatusOr<std::vector<uint64_t>> args = st.ok() ? PackCudaKernelArgs(c.program, c.inputs, c.output, in, out, &total)
                                                 : StatusOr<std::vector<uint64_t>>(st);
  if (!args.ok()) {
    release();
    return args.status();
  }
  void* params[] = {args->data()};
  const unsigned block = 256, grid = GridFor(dev, total, block);
  if (total > 0) {
    if (graph) {
      auto stream = dev.CreateStream();
      if (!stream.ok()) st = stream.status();
      if (st.ok()) {
        auto exec = dev.CaptureGraph(*stream, [&] { return dev.Launch(k.function, grid, block, params, *stream); });
        if (!exec.ok())
          st = exec.status();
        else {
          st = dev.LaunchGraph(*exec, *stream);
          if (st.ok()) st = dev.LaunchGraph(*exec, *stream);  // replay: the same result again
          if (st.ok()) st = dev.Synchronize(*stream);
          (void)dev.DestroyGraph(*exec);
        }
        (void)dev.DestroyStream(*stream);
      }
    } else {
      st = dev.Launch(k.function, grid, block, params);
      if (st.ok()) st = dev.Synchronize();
    }
  }
  for (size_t o = 0; o < out.size() && st.ok(); ++o) {
    std::vector<float> got(n);
    st = dev.CopyToHost(got.data(), out[o], n * 4);
    if (st.ok() && diff->empty()) {
      *diff = Compare(got, d.want[o], Tolerance(math));
      if (!diff->empty()) *diff = k.name + " output " + std::to_string(o) + " " + *diff;
    }
  }
  release();
  return st;
}

int NoDriver(const Status& st) {
  std::printf("SKIP: no CUDA driver: %s\n", st.message().c_str());
  return 77;
}

int RunGpu(const std::vector<Case>& cases, const std::vector<KindCase>& kinds) {
  auto dev = CudaDevice::Open(0);
  if (!dev.ok()) return NoDriver(dev.status());
  const DeviceInfo& info = (*dev)->info();
  auto lib = NvrtcDescription();
  std::printf("device: %s, sm_%d%d, %d SMs, %.1f GiB, driver %d; nvrtc: %s; image: %s\n", info.name.c_str(), info.major,
              info.minor, info.multiprocessors, info.total_memory / 1073741824.0, info.driver_version,
              lib.ok() ? lib->c_str() : lib.status().message().c_str(),
              NvrtcSupportsArch(info.major, info.minor) ? "sm cubin" : "compute PTX");
  int failures = 0, passed = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const Data d = MakeData(cases[i], 1234 + i);
    for (CudaMath math : {CudaMath::kDouble, CudaMath::kFloat}) {
      std::string diff;
      const Status st = RunOnGpu(**dev, cases[i], math, d, /*graph=*/false, &diff);
      if (!st.ok() || !diff.empty()) {
        ++failures;
        std::printf("FAIL gpu %s %s: %s\n", MathName(math), cases[i].name.c_str(),
                    st.ok() ? diff.c_str() : st.message().c_str());
      } else {
        ++passed;
      }
    }
  }
  // CUDA graph capture and replay of a generated kernel.
  for (const Case& c : cases) {
    if (c.name != "bias_chain") continue;
    std::string diff;
    const Status st = RunOnGpu(**dev, c, CudaMath::kFloat, MakeData(c, 99), /*graph=*/true, &diff);
    if (!st.ok() || !diff.empty()) {
      ++failures;
      std::printf("FAIL gpu graph %s: %s\n", c.name.c_str(), st.ok() ? diff.c_str() : st.message().c_str());
    } else {
      ++passed;
      std::printf("PASS gpu graph capture+replay %s\n", c.name.c_str());
    }
  }
  std::printf("%s gpu: %d runs passed, %d failed\n", failures ? "FAIL" : "PASS", passed, failures);
  if (RunKindsGpu(**dev, kinds) != 0) ++failures;
  return failures ? 1 : 0;
}

// ---- Benchmark ----------------------------------------------------------------------------------
int RunBench(const std::vector<Case>& cases, const std::vector<int64_t>& sizes, int reps) {
  auto dev = CudaDevice::Open(0);
  if (!dev.ok()) return NoDriver(dev.status());
  CudaDevice& g = **dev;
  int failures = 0;
  for (const std::string chain : {"gelu8", "bwd"}) {
    const Case* base = nullptr;
    for (const Case& c : cases) {
      if (c.name == chain) base = &c;
    }
    if (base == nullptr) continue;
    for (int64_t n : sizes) {
      Case c = *base;
      c.inputs.assign(c.program.num_inputs, Dims{n});
      c.output = {n};
      for (CudaMath math : {CudaMath::kFloat, CudaMath::kDouble}) {
        auto k = Build(g, c.program, math);
        if (!k.ok()) {
          ++failures;
          std::printf("FAIL bench %s: %s\n", chain.c_str(), k.status().message().c_str());
          continue;
        }
        std::vector<DevicePtr> in, out;
        Status st = Status::Ok();
        std::mt19937 rng(7);
        const std::vector<float> host = RandomData(n, rng, false);
        for (int k2 = 0; k2 < c.program.num_inputs && st.ok(); ++k2) {
          auto p = g.Alloc(n * 4);
          if (!p.ok())
            st = p.status();
          else {
            in.push_back(*p);
            st = g.CopyToDevice(*p, host.data(), n * 4);
          }
        }
        for (size_t o = 0; o < c.program.outputs.size() && st.ok(); ++o) {
          auto p = g.Alloc(n * 4);
          if (!p.ok())
            st = p.status();
          else
            out.push_back(*p);
        }
        int64_t total = 0;
        auto args = st.ok() ? PackCudaKernelArgs(c.program, c.inputs, c.output, in, out, &total)
                            : StatusOr<std::vector<uint64_t>>(st);
        std::vector<float> times;
        if (args.ok()) {
          void* params[] = {args->data()};
          const unsigned grid = GridFor(g, total, 256);
          for (int r = 0; r < reps + 3 && st.ok(); ++r) {
            auto ms = g.TimeMs(nullptr, [&] { return g.Launch(k->function, grid, 256, params); });
            if (!ms.ok())
              st = ms.status();
            else if (r >= 3)
              times.push_back(*ms);  // the first runs warm up
          }
        } else {
          st = args.status();
        }
        for (DevicePtr p : in) (void)g.Free(p);
        for (DevicePtr p : out) (void)g.Free(p);
        if (!st.ok() || times.empty()) {
          ++failures;
          std::printf("FAIL bench %s %lld: %s\n", chain.c_str(), (long long)n, st.message().c_str());
          continue;
        }
        std::sort(times.begin(), times.end());
        const double ms = times[times.size() / 2];
        const double bytes = 4.0 * n * (c.program.num_inputs + c.program.outputs.size());
        std::printf("BENCH kiln-%s %s %lld %.4f %.1f\n", MathName(math), chain.c_str(), (long long)n, ms,
                    bytes / ms / 1e6);
      }
    }
  }
  return failures ? 1 : 0;
}

// The kinds' cases: built with the reference kernels, or (the GPU bundle's binary,
// which has none) read from --kinds FILE, by default kiln_cuda_kinds.bin beside the binary.
StatusOr<std::vector<KindCase>> LoadKinds(const std::string& file) {
  if (!file.empty()) return ReadKindCases(file);
#ifdef KILN_CUDA_CHECK_NO_REFERENCE
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  std::string dir = n > 0 ? std::string(exe, n) : std::string("./kiln_cuda_check");
  dir = dir.substr(0, dir.rfind('/') + 1);
  return ReadKindCases(dir + "kiln_cuda_kinds.bin");
#else
  return BuiltinKindCases();
#endif
}

int RunBenchKinds(int reps) {
  auto dev = CudaDevice::Open(0);
  if (!dev.ok()) return NoDriver(dev.status());
  return RunKindsBench(**dev, reps);
}

int Main(int argc, char** argv) {
  std::vector<std::string> modes;
  std::vector<int64_t> sizes = {1 << 20, 64 << 20};
  int reps = 20;
  std::string kinds_file, write_kinds;
  bool kinds_only = false;
  std::vector<Case> cases = BuiltinCases(), given;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--emulate" || a == "--ptx" || a == "--gpu" || a == "--bench-kinds")
      modes.push_back(a);
    else if (a == "--bench" && i + 1 < argc) {
      modes.push_back(a);
      sizes.clear();
      std::stringstream s(argv[++i]);
      for (std::string x; std::getline(s, x, ',');) sizes.push_back(std::atoll(x.c_str()));
    } else if (a == "--reps" && i + 1 < argc)
      reps = std::max(1, std::atoi(argv[++i]));
    else if (a == "--programs" && i + 1 < argc) {
      for (Case& c : FileCases(argv[++i])) given.push_back(std::move(c));
    } else if (a == "--kinds" && i + 1 < argc) {
      kinds_file = argv[++i];
    } else if (a == "--kinds-only") {
      kinds_only = true;
    } else if (a == "--write-kinds" && i + 1 < argc) {
      write_kinds = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: kiln_cuda_check [--emulate] [--ptx] [--gpu] [--bench N,N] [--bench-kinds] [--reps R] "
                   "[--programs FILE] "
                   "[--kinds FILE] [--kinds-only] [--write-kinds FILE]\n");
      return 2;
    }
  }
  std::vector<KindCase> kinds;
  const bool need_kinds =
      !write_kinds.empty() || modes.empty() ||
      std::any_of(modes.begin(), modes.end(), [](const std::string& m) { return m.rfind("--bench", 0) != 0; });
  if (need_kinds) {
    auto loaded = LoadKinds(kinds_file);
    if (!loaded.ok()) {
      std::printf("FAIL kinds: %s\n", loaded.status().message().c_str());
      return 1;
    }
    kinds = std::move(*loaded);
  }
  if (!write_kinds.empty()) {
    const Status st = WriteKindCases(kinds, write_kinds);
    std::printf("%s write-kinds: %zu cases to %s\n", st.ok() ? "PASS" : "FAIL", kinds.size(),
                st.ok() ? write_kinds.c_str() : st.message().c_str());
    if (!st.ok()) return 1;
    if (modes.empty()) return 0;
  }
  if (modes.empty()) modes = {"--emulate"};
  if (kinds_only) cases.clear();
  cases.insert(cases.end(), given.begin(), given.end());
  int rc = 0;
  for (const std::string& m : modes) {
    int r = m == "--emulate"
                ? std::max(cases.empty() ? 0 : RunEmulation(cases, !kinds_only), RunKindsEmulation(kinds, !kinds_only))
            : m == "--ptx"   ? RunPtx(cases, kinds)
            : m == "--gpu"   ? RunGpu(cases, kinds)
            : m == "--bench" ? RunBench(cases, sizes, reps)
                             : RunBenchKinds(reps);
    if (r == 77) return 77;
    rc = std::max(rc, r);
  }
  return rc;
}

}  // namespace
}  // namespace kiln::cuda

int main(int argc, char** argv) { return kiln::cuda::Main(argc, argv); }
