#include "runtime/kernels/cuda/cublaslt.h"

#include <dlfcn.h>

#include <algorithm>
#include <mutex>

#include "ir/core/file_io.h"

namespace kiln::cuda {
namespace {

// cublasLt.h's values, declared here (no CUDA header is needed to build).
constexpr int kCudaR32F = 0;       // cudaDataType CUDA_R_32F
constexpr int kComputeF32 = 68;    // cublasComputeType_t CUBLAS_COMPUTE_32F (no TF32)
constexpr int kOpN = 0, kOpT = 1;  // cublasOperation_t
constexpr int kDescTransA = 3, kDescTransB = 4, kDescEpilogue = 7, kDescBiasPointer = 8;
constexpr int kLayoutBatchCount = 5, kLayoutBatchStride = 6;
constexpr int kPrefMaxWorkspace = 1;
constexpr uint32_t kEpilogueDefault = 1, kEpilogueRelu = 2, kEpilogueBias = 4;
constexpr size_t kMaxWorkspace = size_t{32} << 20;

struct HeuristicResult {  // cublasLtMatmulHeuristicResult_t
  uint64_t algo[8];
  size_t workspace_size;
  int state;
  float waves;
  int reserved[4];
};

struct Library {
  void* handle = nullptr;
  std::string path, error;
  size_t version = 0;
  size_t (*GetVersion)();
  const char* (*GetStatusString)(int);
  int (*Create)(void**);
  int (*Destroy)(void*);
  int (*DescCreate)(void**, int, int);
  int (*DescDestroy)(void*);
  int (*DescSetAttribute)(void*, int, const void*, size_t);
  int (*LayoutCreate)(void**, int, uint64_t, uint64_t, int64_t);
  int (*LayoutDestroy)(void*);
  int (*LayoutSetAttribute)(void*, int, const void*, size_t);
  int (*PreferenceCreate)(void**);
  int (*PreferenceDestroy)(void*);
  int (*PreferenceSetAttribute)(void*, int, const void*, size_t);
  int (*AlgoGetHeuristic)(void*, void*, void*, void*, void*, void*, void*, int, HeuristicResult*, int*);
  int (*Matmul)(void*, void*, const void*, const void*, void*, const void*, void*, const void*, const void*, void*,
                void*, void*, const void*, void*, size_t, void*);
};

const Library& Load() {
  static Library lib;
  static std::once_flag once;
  std::call_once(once, [] {
    const OpenedLibrary opened =
        OpenCudaLibrary("cuBLASLt", "KILN_CUBLASLT_LIBRARY", {"libcublasLt.so.13", "libcublasLt.so"},
                        {"nvidia/cu13/lib/libcublasLt.so*", "nvidia/cublas/lib/libcublasLt.so*"});
    lib.handle = opened.handle;
    lib.path = opened.path;
    if (lib.handle == nullptr) {
      lib.error = opened.error;
      return;
    }
    void* h = lib.handle;
    const bool ok = BindSymbol(h, "cublasLtGetVersion", &lib.GetVersion) &&
                    BindSymbol(h, "cublasLtGetStatusString", &lib.GetStatusString) &&
                    BindSymbol(h, "cublasLtCreate", &lib.Create) && BindSymbol(h, "cublasLtDestroy", &lib.Destroy) &&
                    BindSymbol(h, "cublasLtMatmulDescCreate", &lib.DescCreate) &&
                    BindSymbol(h, "cublasLtMatmulDescDestroy", &lib.DescDestroy) &&
                    BindSymbol(h, "cublasLtMatmulDescSetAttribute", &lib.DescSetAttribute) &&
                    BindSymbol(h, "cublasLtMatrixLayoutCreate", &lib.LayoutCreate) &&
                    BindSymbol(h, "cublasLtMatrixLayoutDestroy", &lib.LayoutDestroy) &&
                    BindSymbol(h, "cublasLtMatrixLayoutSetAttribute", &lib.LayoutSetAttribute) &&
                    BindSymbol(h, "cublasLtMatmulPreferenceCreate", &lib.PreferenceCreate) &&
                    BindSymbol(h, "cublasLtMatmulPreferenceDestroy", &lib.PreferenceDestroy) &&
                    BindSymbol(h, "cublasLtMatmulPreferenceSetAttribute", &lib.PreferenceSetAttribute) &&
                    BindSymbol(h, "cublasLtMatmulAlgoGetHeuristic", &lib.AlgoGetHeuristic) &&
                    BindSymbol(h, "cublasLtMatmul", &lib.Matmul);
    if (!ok) {
      lib.error = "cuda: " + lib.path + " lacks a cuBLASLt entry point";
      dlclose(lib.handle);
      lib.handle = nullptr;
      return;
    }
    lib.version = lib.GetVersion();
  });
  return lib;
}

Status Check(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  const char* s = Load().GetStatusString ? Load().GetStatusString(rc) : nullptr;
  return Internal("cuda: ", what, ": ", s ? s : "error", " (", rc, ")");
}

Status No(const std::string& op, const std::string& why) {
  return Unimplemented("cuda: cuBLASLt cannot compute this ", op, ": ", why);
}

// A bias cuBLASLt's epilogue adds: one value per output column ([n], [1, n], ...).
bool IsColumnBias(const Dims& d, int64_t n) {
  if (d.empty() || d.back() != n) return false;
  for (size_t i = 0; i + 1 < d.size(); ++i) {
    if (d[i] != 1) return false;
  }
  return true;
}

}  // namespace

StatusOr<LtStep> CublasLtStepFor(const std::string& op_type, const Attrs& attrs, const std::vector<Dims>& inputs,
                                 const Dims& output) {
  auto present = [&](size_t i) { return i < inputs.size(); };
  if (inputs.size() < 2) return No(op_type, "fewer than 2 inputs");
  const Dims& a = inputs[0];
  const Dims& b = inputs[1];
  if (a.size() < 2 || b.size() < 2) return No(op_type, "a 1-D operand");
  LtStep s;
  LtGemm& g = s.gemm;
  if (op_type == "Gemm") {
    if (a.size() != 2 || b.size() != 2) return No(op_type, "operands that are not 2-D");
    g.trans_a = attrs.GetInt("transA", 0) != 0;
    g.trans_b = attrs.GetInt("transB", 0) != 0;
    g.alpha = attrs.GetFloat("alpha", 1.f);
    g.m = g.trans_a ? a[1] : a[0];
    g.k = g.trans_a ? a[0] : a[1];
    g.n = g.trans_b ? b[0] : b[1];
    if (present(2)) {
      const float beta = attrs.GetFloat("beta", 1.f);
      if (inputs[2] == Dims{g.m, g.n}) {
        s.c = 2;
        g.beta = beta;
      } else if (IsColumnBias(inputs[2], g.n) && beta == 1.f) {
        s.bias = 2;
        g.bias = true;
      } else {
        return No(op_type, "a C that is neither [M, N] nor a column bias with beta 1");
      }
    }
  } else if (op_type == "MatMul" || op_type == "FusedMatMul") {
    g.k = a.back();
    g.n = b.back();
    const Dims ab(a.begin(), a.end() - 2), bb(b.begin(), b.end() - 2);
    if (ElementCount(bb) == 1) {
      g.m = g.n == 0 ? 0 : ElementCount(output) / g.n;  // A's batch folded into its rows
    } else {
      Dims padded(ab.size() < bb.size() ? bb.size() - ab.size() : 0, 1);
      padded.insert(padded.end(), ab.begin(), ab.end());
      Dims bpadded(bb.size() < ab.size() ? ab.size() - bb.size() : 0, 1);
      bpadded.insert(bpadded.end(), bb.begin(), bb.end());
      if (padded != bpadded) return No(op_type, "broadcast batch dims");
      g.m = a[a.size() - 2];
      g.batch = ElementCount(ab);
    }
    if (op_type == "FusedMatMul") {
      const std::string act = attrs.GetString("activation", "");
      if (!act.empty() && act != "Relu") return No(op_type, "the activation " + act);
      g.relu = act == "Relu";
      if (present(2)) {
        if (!IsColumnBias(inputs[2], g.n)) return No(op_type, "a bias that is not one value per column");
        s.bias = 2;
        g.bias = true;
      }
      if (present(3)) {
        if (inputs[3] != output) return No(op_type, "a residual of other dims than the output");
        s.c = 3;
        g.beta = 1.f;
      }
    } else if (inputs.size() > 2) {
      return No(op_type, "more than 2 inputs");
    }
  } else {
    return No(op_type, "not a product");
  }
  if (g.m * g.n * g.batch != ElementCount(output)) return No(op_type, "an output of other dims");
  return s;
}

StatusOr<std::string> CublasLtDescription() {
  const Library& lib = Load();
  if (lib.handle == nullptr) return NotFound(lib.error);
  return lib.path + " (cuBLASLt " + std::to_string(lib.version) + ")";
}

// Row-major D [m, n] is column-major D' [n, m] with ld n, so D' = op(B)' op(A)': cuBLASLt's
// A is our B (op T when trans_b), its B our A (op T when trans_a).
StatusOr<std::unique_ptr<CublasLtMatmul>> CublasLtMatmul::Create(const LtGemm& g, CudaDevice& device) {
  const Library& lib = Load();
  if (lib.handle == nullptr) return NotFound(lib.error);
  std::unique_ptr<CublasLtMatmul> mm(new CublasLtMatmul(g, device));
  RETURN_IF_ERROR(Check(lib.Create(&mm->handle_), "cublasLtCreate"));
  RETURN_IF_ERROR(Check(lib.DescCreate(&mm->desc_, kComputeF32, kCudaR32F), "cublasLtMatmulDescCreate"));
  const int32_t op_a = g.trans_b ? kOpT : kOpN, op_b = g.trans_a ? kOpT : kOpN;
  RETURN_IF_ERROR(Check(lib.DescSetAttribute(mm->desc_, kDescTransA, &op_a, sizeof(op_a)), "transa"));
  RETURN_IF_ERROR(Check(lib.DescSetAttribute(mm->desc_, kDescTransB, &op_b, sizeof(op_b)), "transb"));
  const uint32_t epilogue =
      g.bias ? (g.relu ? kEpilogueRelu | kEpilogueBias : kEpilogueBias) : (g.relu ? kEpilogueRelu : kEpilogueDefault);
  RETURN_IF_ERROR(Check(lib.DescSetAttribute(mm->desc_, kDescEpilogue, &epilogue, sizeof(epilogue)), "epilogue"));
  struct Shape {
    int64_t rows, cols, ld, stride;
  };
  const Shape shapes[4] = {g.trans_b ? Shape{g.k, g.n, g.k, g.k * g.n} : Shape{g.n, g.k, g.n, g.k * g.n},  // our B
                           g.trans_a ? Shape{g.m, g.k, g.m, g.m * g.k} : Shape{g.k, g.m, g.k, g.m * g.k},  // our A
                           {g.n, g.m, g.n, g.m * g.n},                                                     // C
                           {g.n, g.m, g.n, g.m * g.n}};                                                    // D
  for (int i = 0; i < 4; ++i) {
    const Shape& s = shapes[i];
    RETURN_IF_ERROR(Check(
        lib.LayoutCreate(&mm->layouts_[i], kCudaR32F, uint64_t(s.rows), uint64_t(s.cols), std::max<int64_t>(1, s.ld)),
        "cublasLtMatrixLayoutCreate"));
    if (g.batch > 1) {
      const int32_t count = static_cast<int32_t>(g.batch);
      const int64_t stride = s.stride;
      RETURN_IF_ERROR(
          Check(lib.LayoutSetAttribute(mm->layouts_[i], kLayoutBatchCount, &count, sizeof(count)), "batch"));
      RETURN_IF_ERROR(
          Check(lib.LayoutSetAttribute(mm->layouts_[i], kLayoutBatchStride, &stride, sizeof(stride)), "batch stride"));
    }
  }
  void* pref = nullptr;
  RETURN_IF_ERROR(Check(lib.PreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate"));
  const size_t max_workspace = kMaxWorkspace;
  Status st = Check(lib.PreferenceSetAttribute(pref, kPrefMaxWorkspace, &max_workspace, sizeof(max_workspace)),
                    "workspace preference");
  HeuristicResult result{};
  int found = 0;
  if (st.ok()) {
    st = Check(lib.AlgoGetHeuristic(mm->handle_, mm->desc_, mm->layouts_[0], mm->layouts_[1], mm->layouts_[2],
                                    mm->layouts_[3], pref, 1, &result, &found),
               "cublasLtMatmulAlgoGetHeuristic");
  }
  lib.PreferenceDestroy(pref);
  RETURN_IF_ERROR(st);
  if (found < 1 || result.state != 0) return Unimplemented("cuda: cuBLASLt has no algorithm for this product");
  std::copy(result.algo, result.algo + 8, mm->algo_);
  mm->workspace_size_ = result.workspace_size;
  if (mm->workspace_size_ > 0) {
    ASSIGN_OR_RETURN(mm->workspace_, device.Alloc(mm->workspace_size_));
  }
  return mm;
}

CublasLtMatmul::~CublasLtMatmul() {
  const Library& lib = Load();
  if (lib.handle == nullptr) return;
  if (workspace_) (void)device_.Free(workspace_);
  for (void* l : layouts_) {
    if (l) lib.LayoutDestroy(l);
  }
  if (desc_) lib.DescDestroy(desc_);
  if (handle_) lib.Destroy(handle_);
}

Status CublasLtMatmul::Run(DevicePtr a, DevicePtr b, DevicePtr c, DevicePtr d, DevicePtr bias, void* stream) {
  const Library& lib = Load();
  if (gemm_.bias) {
    void* p = reinterpret_cast<void*>(bias);
    RETURN_IF_ERROR(Check(lib.DescSetAttribute(desc_, kDescBiasPointer, &p, sizeof(p)), "bias pointer"));
  }
  const float alpha = gemm_.alpha, beta = c ? gemm_.beta : 0.f;
  auto ptr = [](DevicePtr p) { return reinterpret_cast<void*>(p); };
  return Check(lib.Matmul(handle_, desc_, &alpha, ptr(b), layouts_[0], ptr(a), layouts_[1], &beta, ptr(c ? c : d),
                          layouts_[2], ptr(d), layouts_[3], algo_, ptr(workspace_), workspace_size_, stream),
               "cublasLtMatmul");
}

}  // namespace kiln::cuda
