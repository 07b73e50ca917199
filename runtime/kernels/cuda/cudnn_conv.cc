#include "runtime/kernels/cuda/cudnn_conv.h"

#include <dlfcn.h>

#include <algorithm>
#include <mutex>

#include "ir/core/file_io.h"
#include "ir/core/shape_util.h"

namespace kiln::cuda {
namespace {

// cuDNN 9's values (cudnn_graph_v9.h, cudnn_ops_v9.h, cudnn_cnn_v9.h), declared here.
constexpr int kDataFloat = 0;         // CUDNN_DATA_FLOAT
constexpr int kTensorNchw = 0;        // CUDNN_TENSOR_NCHW
constexpr int kCrossCorrelation = 1;  // CUDNN_CROSS_CORRELATION (what ONNX's Conv computes)
constexpr int kFmaMath = 3;           // CUDNN_FMA_MATH: FP32 FMA kernels only, no TF32
constexpr int kActivationRelu = 1;    // CUDNN_ACTIVATION_RELU
constexpr int kPropagateNan = 1;      // CUDNN_PROPAGATE_NAN (the reference's Relu passes NaN)
constexpr int kAlgoCount = 8;         // CUDNN_CONVOLUTION_FWD_ALGO_COUNT
constexpr size_t kMaxWorkspace = size_t{256} << 20;

struct AlgoPerf {  // cudnnConvolutionFwdAlgoPerf_t
  int algo;
  int status;
  float time;
  size_t memory;
  int determinism;
  int math_type;
  int reserved[3];
};

struct Library {
  void* handle = nullptr;
  std::string path, error;
  size_t version = 0;
  size_t (*GetVersion)();
  const char* (*GetErrorString)(int);
  int (*Create)(void**);
  int (*Destroy)(void*);
  int (*SetStream)(void*, void*);
  int (*CreateTensor)(void**);
  int (*SetTensor4d)(void*, int, int, int, int, int, int);
  int (*DestroyTensor)(void*);
  int (*CreateFilter)(void**);
  int (*SetFilter4d)(void*, int, int, int, int, int, int);
  int (*DestroyFilter)(void*);
  int (*CreateConv)(void**);
  int (*SetConv2d)(void*, int, int, int, int, int, int, int, int);
  int (*SetConvGroupCount)(void*, int);
  int (*SetConvMathType)(void*, int);
  int (*DestroyConv)(void*);
  int (*CreateActivation)(void**);
  int (*SetActivation)(void*, int, int, double);
  int (*DestroyActivation)(void*);
  int (*FindForward)(void*, void*, void*, void*, void*, int, int*, AlgoPerf*);
  int (*Forward)(void*, const void*, void*, const void*, void*, const void*, void*, int, void*, size_t, const void*,
                 void*, void*);
  int (*BiasActivationForward)(void*, const void*, void*, const void*, void*, const void*, void*, int, void*, size_t,
                               const void*, void*, const void*, void*, const void*, void*, void*, void*);
  int (*AddTensor)(void*, const void*, void*, const void*, const void*, void*, void*);
};

const Library& Load() {
  static Library lib;
  static std::once_flag once;
  std::call_once(once, [] {
    const OpenedLibrary opened = OpenCudaLibrary("cuDNN", "KILN_CUDNN_LIBRARY", {"libcudnn.so.9", "libcudnn.so"},
                                                 {"nvidia/cudnn/lib/libcudnn.so*", "nvidia/cu13/lib/libcudnn.so*"});
    lib.handle = opened.handle;
    lib.path = opened.path;
    if (lib.handle == nullptr) {
      lib.error = opened.error;
      return;
    }
    void* h = lib.handle;
    const bool ok = BindSymbol(h, "cudnnGetVersion", &lib.GetVersion) &&
                    BindSymbol(h, "cudnnGetErrorString", &lib.GetErrorString) &&
                    BindSymbol(h, "cudnnCreate", &lib.Create) && BindSymbol(h, "cudnnDestroy", &lib.Destroy) &&
                    BindSymbol(h, "cudnnSetStream", &lib.SetStream) &&
                    BindSymbol(h, "cudnnCreateTensorDescriptor", &lib.CreateTensor) &&
                    BindSymbol(h, "cudnnSetTensor4dDescriptor", &lib.SetTensor4d) &&
                    BindSymbol(h, "cudnnDestroyTensorDescriptor", &lib.DestroyTensor) &&
                    BindSymbol(h, "cudnnCreateFilterDescriptor", &lib.CreateFilter) &&
                    BindSymbol(h, "cudnnSetFilter4dDescriptor", &lib.SetFilter4d) &&
                    BindSymbol(h, "cudnnDestroyFilterDescriptor", &lib.DestroyFilter) &&
                    BindSymbol(h, "cudnnCreateConvolutionDescriptor", &lib.CreateConv) &&
                    BindSymbol(h, "cudnnSetConvolution2dDescriptor", &lib.SetConv2d) &&
                    BindSymbol(h, "cudnnSetConvolutionGroupCount", &lib.SetConvGroupCount) &&
                    BindSymbol(h, "cudnnSetConvolutionMathType", &lib.SetConvMathType) &&
                    BindSymbol(h, "cudnnDestroyConvolutionDescriptor", &lib.DestroyConv) &&
                    BindSymbol(h, "cudnnCreateActivationDescriptor", &lib.CreateActivation) &&
                    BindSymbol(h, "cudnnSetActivationDescriptor", &lib.SetActivation) &&
                    BindSymbol(h, "cudnnDestroyActivationDescriptor", &lib.DestroyActivation) &&
                    BindSymbol(h, "cudnnFindConvolutionForwardAlgorithm", &lib.FindForward) &&
                    BindSymbol(h, "cudnnConvolutionForward", &lib.Forward) &&
                    BindSymbol(h, "cudnnConvolutionBiasActivationForward", &lib.BiasActivationForward) &&
                    BindSymbol(h, "cudnnAddTensor", &lib.AddTensor);
    if (!ok) {
      lib.error = "cuda: " + lib.path + " lacks a cuDNN entry point";
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
  const char* s = Load().GetErrorString ? Load().GetErrorString(rc) : nullptr;
  return Internal("cuda: ", what, ": ", s ? s : "error", " (", rc, ")");
}

Status No(const std::string& op, const std::string& why) {
  return Unimplemented("cuda: cuDNN cannot compute this ", op, ": ", why);
}

bool FitsInt(int64_t v) { return v >= 0 && v <= (int64_t{1} << 31) - 1; }

}  // namespace

StatusOr<DnnConvStep> CudnnConvStepFor(const std::string& op_type, const Attrs& attrs, const std::vector<Dims>& inputs,
                                       const Dims& output) {
  if (op_type != "Conv" && op_type != "FusedConv") return No(op_type, "not a convolution");
  if (inputs.size() < 2) return No(op_type, "fewer than 2 inputs");
  const Dims& x = inputs[0];
  const Dims& w = inputs[1];
  if (x.size() != 4 || w.size() != 4 || output.size() != 4) return No(op_type, "not a 2-D convolution (NCHW)");
  auto geometry = ComputeWindowGeometry({x[2], x[3]}, {w[2], w[3]}, attrs);
  if (!geometry.ok()) return No(op_type, geometry.status().message());
  const WindowGeometry& g = *geometry;
  if (g.pads[0] != g.pads[2] || g.pads[1] != g.pads[3]) return No(op_type, "asymmetric pads");
  DnnConvStep s;
  DnnConv& c = s.conv;
  c.n = x[0];
  c.c = x[1];
  c.h = x[2];
  c.w = x[3];
  c.oc = w[0];
  c.kh = w[2];
  c.kw = w[3];
  c.group = attrs.GetInt("group", 1);
  c.pad_h = g.pads[0];
  c.pad_w = g.pads[1];
  c.stride_h = g.strides[0];
  c.stride_w = g.strides[1];
  c.dilation_h = g.dilations[0];
  c.dilation_w = g.dilations[1];
  c.oh = g.output[0];
  c.ow = g.output[1];
  if (c.group < 1 || c.c % c.group != 0 || c.oc % c.group != 0 || w[1] != c.c / c.group) {
    return No(op_type, "input channels that do not match the weights and groups");
  }
  if (output != Dims{c.n, c.oc, c.oh, c.ow}) return No(op_type, "an output of other dims");
  for (int64_t v : {c.n, c.c, c.h, c.w, c.oc, c.oh, c.ow, ElementCount(x), ElementCount(output), ElementCount(w)}) {
    if (!FitsInt(v) || v == 0) return No(op_type, "an empty tensor or one of 2^31 elements or more");
  }
  const size_t max_inputs = op_type == "FusedConv" ? 4 : 3;
  if (inputs.size() > max_inputs) return No(op_type, "more than " + std::to_string(max_inputs) + " inputs");
  if (inputs.size() > 2) {
    if (inputs[2] != Dims{c.oc}) return No(op_type, "a bias that is not one value per output channel");
    s.bias = 2;
    c.bias = true;
  }
  if (inputs.size() > 3) {
    if (inputs[3] != output) return No(op_type, "a residual of other dims than the output");
    s.residual = 3;
    c.residual = true;
  }
  if (op_type == "FusedConv") {
    const std::string act = attrs.GetString("activation", "");
    if (!act.empty() && act != "Relu") return No(op_type, "the activation " + act);
    c.relu = act == "Relu";
  }
  return s;
}

StatusOr<std::string> CudnnDescription() {
  const Library& lib = Load();
  if (lib.handle == nullptr) return NotFound(lib.error);
  return lib.path + " (cuDNN " + std::to_string(lib.version) + ")";
}

StatusOr<std::unique_ptr<CudnnConv>> CudnnConv::Create(const DnnConv& c, CudaDevice& device) {
  const Library& lib = Load();
  if (lib.handle == nullptr) return NotFound(lib.error);
  std::unique_ptr<CudnnConv> conv(new CudnnConv(c, device));
  auto i = [](int64_t v) { return static_cast<int>(v); };
  RETURN_IF_ERROR(Check(lib.Create(&conv->handle_), "cudnnCreate"));
  for (void** d : {&conv->x_desc_, &conv->y_desc_, &conv->bias_desc_}) {
    RETURN_IF_ERROR(Check(lib.CreateTensor(d), "cudnnCreateTensorDescriptor"));
  }
  RETURN_IF_ERROR(Check(lib.SetTensor4d(conv->x_desc_, kTensorNchw, kDataFloat, i(c.n), i(c.c), i(c.h), i(c.w)), "x"));
  RETURN_IF_ERROR(
      Check(lib.SetTensor4d(conv->y_desc_, kTensorNchw, kDataFloat, i(c.n), i(c.oc), i(c.oh), i(c.ow)), "y"));
  RETURN_IF_ERROR(Check(lib.SetTensor4d(conv->bias_desc_, kTensorNchw, kDataFloat, 1, i(c.oc), 1, 1), "bias"));
  RETURN_IF_ERROR(Check(lib.CreateFilter(&conv->w_desc_), "cudnnCreateFilterDescriptor"));
  RETURN_IF_ERROR(
      Check(lib.SetFilter4d(conv->w_desc_, kDataFloat, kTensorNchw, i(c.oc), i(c.c / c.group), i(c.kh), i(c.kw)), "w"));
  RETURN_IF_ERROR(Check(lib.CreateConv(&conv->conv_desc_), "cudnnCreateConvolutionDescriptor"));
  RETURN_IF_ERROR(Check(lib.SetConv2d(conv->conv_desc_, i(c.pad_h), i(c.pad_w), i(c.stride_h), i(c.stride_w),
                                      i(c.dilation_h), i(c.dilation_w), kCrossCorrelation, kDataFloat),
                        "cudnnSetConvolution2dDescriptor"));
  RETURN_IF_ERROR(Check(lib.SetConvGroupCount(conv->conv_desc_, i(c.group)), "cudnnSetConvolutionGroupCount"));
  RETURN_IF_ERROR(Check(lib.SetConvMathType(conv->conv_desc_, kFmaMath), "cudnnSetConvolutionMathType"));
  if (c.relu) {
    RETURN_IF_ERROR(Check(lib.CreateActivation(&conv->act_desc_), "cudnnCreateActivationDescriptor"));
    RETURN_IF_ERROR(Check(lib.SetActivation(conv->act_desc_, kActivationRelu, kPropagateNan, 0.0), "activation"));
  }
  // cuDNN times every algorithm on scratch buffers of its own and returns them fastest first;
  // the first that succeeded with FMA math (no TF32) and a bounded workspace is kept.
  AlgoPerf perf[kAlgoCount] = {};
  int found = 0;
  RETURN_IF_ERROR(Check(lib.FindForward(conv->handle_, conv->x_desc_, conv->w_desc_, conv->conv_desc_, conv->y_desc_,
                                        kAlgoCount, &found, perf),
                        "cudnnFindConvolutionForwardAlgorithm"));
  const AlgoPerf* chosen = nullptr;
  for (int k = 0; k < found && chosen == nullptr; ++k) {
    if (perf[k].status == 0 && perf[k].math_type == kFmaMath && perf[k].memory <= kMaxWorkspace) chosen = &perf[k];
  }
  if (chosen == nullptr) return Unimplemented("cuda: cuDNN has no FP32 algorithm for this convolution");
  conv->algo_ = chosen->algo;
  conv->workspace_size_ = chosen->memory;
  if (conv->workspace_size_ > 0) {
    ASSIGN_OR_RETURN(conv->workspace_, device.Alloc(conv->workspace_size_));
  }
  if (c.relu && !c.bias) {  // the fused call always adds a bias
    const std::vector<float> zeros(static_cast<size_t>(c.oc), 0.f);
    ASSIGN_OR_RETURN(conv->zero_bias_, device.Alloc(zeros.size() * sizeof(float)));
    RETURN_IF_ERROR(device.CopyToDevice(conv->zero_bias_, zeros.data(), zeros.size() * sizeof(float)));
  }
  return conv;
}

CudnnConv::~CudnnConv() {
  const Library& lib = Load();
  if (lib.handle == nullptr) return;
  if (workspace_) (void)device_.Free(workspace_);
  if (zero_bias_) (void)device_.Free(zero_bias_);
  for (void* d : {x_desc_, y_desc_, bias_desc_}) {
    if (d) lib.DestroyTensor(d);
  }
  if (w_desc_) lib.DestroyFilter(w_desc_);
  if (conv_desc_) lib.DestroyConv(conv_desc_);
  if (act_desc_) lib.DestroyActivation(act_desc_);
  if (handle_) lib.Destroy(handle_);
}

// Relu: one fused call, y = relu(conv(x, w) + residual + bias). Otherwise the convolution,
// then the bias and the residual added in place (cudnnAddTensor: y = 1 * t + 1 * y).
Status CudnnConv::Run(DevicePtr x, DevicePtr w, DevicePtr bias, DevicePtr residual, DevicePtr y, void* stream) {
  const Library& lib = Load();
  auto ptr = [](DevicePtr p) { return reinterpret_cast<void*>(p); };
  RETURN_IF_ERROR(Check(lib.SetStream(handle_, stream), "cudnnSetStream"));
  const float one = 1.f, zero = 0.f;
  if (conv_.relu) {
    const float alpha2 = conv_.residual ? 1.f : 0.f;
    return Check(
        lib.BiasActivationForward(handle_, &one, x_desc_, ptr(x), w_desc_, ptr(w), conv_desc_, algo_, ptr(workspace_),
                                  workspace_size_, &alpha2, y_desc_, ptr(conv_.residual ? residual : y), bias_desc_,
                                  ptr(conv_.bias ? bias : zero_bias_), act_desc_, y_desc_, ptr(y)),
        "cudnnConvolutionBiasActivationForward");
  }
  RETURN_IF_ERROR(Check(lib.Forward(handle_, &one, x_desc_, ptr(x), w_desc_, ptr(w), conv_desc_, algo_, ptr(workspace_),
                                    workspace_size_, &zero, y_desc_, ptr(y)),
                        "cudnnConvolutionForward"));
  if (conv_.bias) {
    RETURN_IF_ERROR(
        Check(lib.AddTensor(handle_, &one, bias_desc_, ptr(bias), &one, y_desc_, ptr(y)), "cudnnAddTensor (bias)"));
  }
  if (conv_.residual) {
    RETURN_IF_ERROR(Check(lib.AddTensor(handle_, &one, y_desc_, ptr(residual), &one, y_desc_, ptr(y)),
                          "cudnnAddTensor (residual)"));
  }
  return Status::Ok();
}

}  // namespace kiln::cuda
