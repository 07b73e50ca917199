#include "runtime/kernels/cuda/cuda_driver.h"

#include <dlfcn.h>

#include <mutex>

namespace kiln::cuda {
namespace {

// The driver entry points used, declared here so no CUDA header is needed
// (CUresult: int; handles: opaque pointers; CUdeviceptr: 64 bits).
struct Driver {
  void* handle = nullptr;
  std::string error;
  int (*Init)(unsigned);
  int (*DriverGetVersion)(int*);
  int (*DeviceGet)(int*, int);
  int (*DeviceGetCount)(int*);
  int (*DeviceGetName)(char*, int, int);
  int (*DeviceGetAttribute)(int*, int, int);
  int (*DeviceTotalMem)(size_t*, int);
  int (*DevicePrimaryCtxRetain)(void**, int);
  int (*DevicePrimaryCtxRelease)(int);
  int (*CtxSetCurrent)(void*);
  int (*CtxSynchronize)();
  int (*ModuleLoadData)(void**, const void*);
  int (*ModuleUnload)(void*);
  int (*ModuleGetFunction)(void**, void*, const char*);
  int (*LaunchKernel)(void*, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, void*, void**,
                      void**);
  int (*MemAlloc)(DevicePtr*, size_t);
  int (*MemFree)(DevicePtr);
  int (*MemcpyHtoD)(DevicePtr, const void*, size_t);
  int (*MemcpyDtoH)(void*, DevicePtr, size_t);
  int (*MemcpyDtoDAsync)(DevicePtr, DevicePtr, size_t, void*);
  int (*MemcpyHtoDAsync)(DevicePtr, const void*, size_t, void*);
  int (*MemcpyDtoHAsync)(void*, DevicePtr, size_t, void*);
  int (*MemHostAlloc)(void**, size_t, unsigned);
  int (*MemFreeHost)(void*);
  int (*StreamCreate)(void**, unsigned);
  int (*StreamDestroy)(void*);
  int (*StreamSynchronize)(void*);
  int (*EventCreate)(void**, unsigned);
  int (*EventRecord)(void*, void*);
  int (*EventSynchronize)(void*);
  int (*EventElapsedTime)(float*, void*, void*);
  int (*EventDestroy)(void*);
  int (*StreamBeginCapture)(void*, int);
  int (*StreamEndCapture)(void*, void**);
  int (*GraphInstantiateWithFlags)(void**, void*, unsigned long long);
  int (*GraphLaunch)(void*, void*);
  int (*GraphExecDestroy)(void*);
  int (*GraphDestroy)(void*);
  int (*GetErrorString)(int, const char**);
};

template <typename F>
bool Bind(void* handle, std::initializer_list<const char*> names, F* fn, std::string* missing) {
  for (const char* name : names) {
    *fn = reinterpret_cast<F>(dlsym(handle, name));
    if (*fn != nullptr) return true;
  }
  *missing = *names.begin();
  return false;
}

const Driver& Load() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
    d.handle = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (d.handle == nullptr) {
      const char* why = dlerror();
      d.error = std::string("cuda: no CUDA driver found (") + (why ? why : "libcuda.so.1") + ")";
      return;
    }
    std::string m;
    void* h = d.handle;
    const bool ok =
        Bind(h, {"cuInit"}, &d.Init, &m) && Bind(h, {"cuDriverGetVersion"}, &d.DriverGetVersion, &m) &&
        Bind(h, {"cuDeviceGet"}, &d.DeviceGet, &m) && Bind(h, {"cuDeviceGetCount"}, &d.DeviceGetCount, &m) &&
        Bind(h, {"cuDeviceGetName"}, &d.DeviceGetName, &m) &&
        Bind(h, {"cuDeviceGetAttribute"}, &d.DeviceGetAttribute, &m) &&
        Bind(h, {"cuDeviceTotalMem_v2"}, &d.DeviceTotalMem, &m) &&
        Bind(h, {"cuDevicePrimaryCtxRetain"}, &d.DevicePrimaryCtxRetain, &m) &&
        Bind(h, {"cuDevicePrimaryCtxRelease_v2", "cuDevicePrimaryCtxRelease"}, &d.DevicePrimaryCtxRelease, &m) &&
        Bind(h, {"cuCtxSetCurrent"}, &d.CtxSetCurrent, &m) && Bind(h, {"cuCtxSynchronize"}, &d.CtxSynchronize, &m) &&
        Bind(h, {"cuModuleLoadData"}, &d.ModuleLoadData, &m) && Bind(h, {"cuModuleUnload"}, &d.ModuleUnload, &m) &&
        Bind(h, {"cuModuleGetFunction"}, &d.ModuleGetFunction, &m) &&
        Bind(h, {"cuLaunchKernel"}, &d.LaunchKernel, &m) && Bind(h, {"cuMemAlloc_v2"}, &d.MemAlloc, &m) &&
        Bind(h, {"cuMemFree_v2"}, &d.MemFree, &m) && Bind(h, {"cuMemcpyHtoD_v2"}, &d.MemcpyHtoD, &m) &&
        Bind(h, {"cuMemcpyDtoH_v2"}, &d.MemcpyDtoH, &m) && Bind(h, {"cuMemcpyDtoDAsync_v2"}, &d.MemcpyDtoDAsync, &m) &&
        Bind(h, {"cuStreamCreate"}, &d.StreamCreate, &m) &&
        Bind(h, {"cuStreamDestroy_v2", "cuStreamDestroy"}, &d.StreamDestroy, &m) &&
        Bind(h, {"cuStreamSynchronize"}, &d.StreamSynchronize, &m) && Bind(h, {"cuEventCreate"}, &d.EventCreate, &m) &&
        Bind(h, {"cuEventRecord"}, &d.EventRecord, &m) && Bind(h, {"cuEventSynchronize"}, &d.EventSynchronize, &m) &&
        Bind(h, {"cuEventElapsedTime_v2", "cuEventElapsedTime"}, &d.EventElapsedTime, &m) &&
        Bind(h, {"cuEventDestroy_v2", "cuEventDestroy"}, &d.EventDestroy, &m) &&
        Bind(h, {"cuStreamBeginCapture_v2", "cuStreamBeginCapture"}, &d.StreamBeginCapture, &m) &&
        Bind(h, {"cuStreamEndCapture"}, &d.StreamEndCapture, &m) &&
        Bind(h, {"cuGraphInstantiateWithFlags"}, &d.GraphInstantiateWithFlags, &m) &&
        Bind(h, {"cuGraphLaunch"}, &d.GraphLaunch, &m) && Bind(h, {"cuGraphExecDestroy"}, &d.GraphExecDestroy, &m) &&
        Bind(h, {"cuGraphDestroy"}, &d.GraphDestroy, &m) && Bind(h, {"cuGetErrorString"}, &d.GetErrorString, &m);
    if (!ok) {
      d.error = "cuda: the CUDA driver lacks " + m;
      dlclose(d.handle);
      d.handle = nullptr;
      return;
    }
    if (int rc = d.Init(0); rc != 0) {
      const char* s = nullptr;
      d.GetErrorString(rc, &s);
      d.error = std::string("cuda: cuInit failed: ") + (s ? s : std::to_string(rc));
      d.handle = nullptr;  // unusable; the library stays loaded
    }
  });
  return d;
}

Status Check(int rc, const char* what) {
  if (rc == 0) return Status::Ok();
  const char* s = nullptr;
  Load().GetErrorString(rc, &s);
  return Internal("cuda: ", what, ": ", s ? s : "error", " (", rc, ")");
}

#define CU(call, what) RETURN_IF_ERROR(Check(Load().call, what))

}  // namespace

Status CudaDriverAvailable() {
  const Driver& d = Load();
  if (d.handle == nullptr) return NotFound(d.error);
  int count = 0;
  RETURN_IF_ERROR(Check(d.DeviceGetCount(&count), "cuDeviceGetCount"));
  if (count == 0) return NotFound("cuda: the CUDA driver sees no device");
  return Status::Ok();
}

StatusOr<std::unique_ptr<CudaDevice>> CudaDevice::Open(int ordinal) {
  RETURN_IF_ERROR(CudaDriverAvailable());
  const Driver& d = Load();
  std::unique_ptr<CudaDevice> dev(new CudaDevice());
  int device = 0;
  CU(DeviceGet(&device, ordinal), "cuDeviceGet");
  char name[256] = {};
  CU(DeviceGetName(name, sizeof(name) - 1, device), "cuDeviceGetName");
  dev->info_.ordinal = ordinal;
  dev->info_.name = name;
  CU(DeviceGetAttribute(&dev->info_.major, 75, device), "cuDeviceGetAttribute(major)");
  CU(DeviceGetAttribute(&dev->info_.minor, 76, device), "cuDeviceGetAttribute(minor)");
  CU(DeviceGetAttribute(&dev->info_.multiprocessors, 16, device), "cuDeviceGetAttribute(SMs)");
  CU(DeviceTotalMem(&dev->info_.total_memory, device), "cuDeviceTotalMem");
  CU(DriverGetVersion(&dev->info_.driver_version), "cuDriverGetVersion");
  CU(DevicePrimaryCtxRetain(&dev->context_, device), "cuDevicePrimaryCtxRetain");
  if (int rc = d.CtxSetCurrent(dev->context_); rc != 0) {
    d.DevicePrimaryCtxRelease(device);
    dev->context_ = nullptr;
    return Check(rc, "cuCtxSetCurrent");
  }
  return dev;
}

CudaDevice::~CudaDevice() {
  if (context_ == nullptr) return;
  const Driver& d = Load();
  d.CtxSetCurrent(context_);
  for (void* m : modules_) d.ModuleUnload(m);
  int device = 0;
  if (d.DeviceGet(&device, info_.ordinal) == 0) d.DevicePrimaryCtxRelease(device);
}

StatusOr<void*> CudaDevice::LoadKernel(const std::string& image, const std::string& kernel) {
  CU(CtxSetCurrent(context_), "cuCtxSetCurrent");
  void* module = nullptr;
  CU(ModuleLoadData(&module, image.c_str()), ("cuModuleLoadData for " + kernel).c_str());
  modules_.push_back(module);
  void* function = nullptr;
  CU(ModuleGetFunction(&function, module, kernel.c_str()), ("cuModuleGetFunction " + kernel).c_str());
  return function;
}

Status CudaDevice::Launch(void* function, unsigned grid, unsigned block, void** params, void* stream) {
  CU(LaunchKernel(function, grid, 1, 1, block, 1, 1, 0, stream, params, nullptr), "cuLaunchKernel");
  return Status::Ok();
}

StatusOr<DevicePtr> CudaDevice::Alloc(size_t bytes) {
  CU(CtxSetCurrent(context_), "cuCtxSetCurrent");
  DevicePtr p = 0;
  CU(MemAlloc(&p, bytes == 0 ? 1 : bytes), "cuMemAlloc");
  return p;
}
Status CudaDevice::Free(DevicePtr ptr) { return Check(Load().MemFree(ptr), "cuMemFree"); }
Status CudaDevice::CopyToDevice(DevicePtr dst, const void* src, size_t bytes) {
  return bytes == 0 ? Status::Ok() : Check(Load().MemcpyHtoD(dst, src, bytes), "cuMemcpyHtoD");
}
Status CudaDevice::CopyToHost(void* dst, DevicePtr src, size_t bytes) {
  return bytes == 0 ? Status::Ok() : Check(Load().MemcpyDtoH(dst, src, bytes), "cuMemcpyDtoH");
}
Status CudaDevice::CopyToDeviceAsync(DevicePtr dst, const void* src, size_t bytes, void* stream) {
  return bytes == 0 ? Status::Ok() : Check(Load().MemcpyHtoDAsync(dst, src, bytes, stream), "cuMemcpyHtoDAsync");
}
Status CudaDevice::CopyToHostAsync(void* dst, DevicePtr src, size_t bytes, void* stream) {
  return bytes == 0 ? Status::Ok() : Check(Load().MemcpyDtoHAsync(dst, src, bytes, stream), "cuMemcpyDtoHAsync");
}
StatusOr<void*> CudaDevice::AllocPinned(size_t bytes) {
  CU(CtxSetCurrent(context_), "cuCtxSetCurrent");
  void* p = nullptr;
  CU(MemHostAlloc(&p, bytes == 0 ? 1 : bytes, 0), "cuMemHostAlloc");
  return p;
}
Status CudaDevice::FreePinned(void* p) { return p ? Check(Load().MemFreeHost(p), "cuMemFreeHost") : Status::Ok(); }
Status CudaDevice::CopyOnDevice(DevicePtr dst, DevicePtr src, size_t bytes, void* stream) {
  return bytes == 0 ? Status::Ok() : Check(Load().MemcpyDtoDAsync(dst, src, bytes, stream), "cuMemcpyDtoDAsync");
}

StatusOr<void*> CudaDevice::CreateStream() {
  CU(CtxSetCurrent(context_), "cuCtxSetCurrent");
  void* s = nullptr;
  CU(StreamCreate(&s, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
  return s;
}
Status CudaDevice::DestroyStream(void* stream) { return Check(Load().StreamDestroy(stream), "cuStreamDestroy"); }
Status CudaDevice::Synchronize(void* stream) {
  return stream ? Check(Load().StreamSynchronize(stream), "cuStreamSynchronize")
                : Check(Load().CtxSynchronize(), "cuCtxSynchronize");
}

StatusOr<void*> CudaDevice::CreateEvent() {
  void* e = nullptr;
  CU(EventCreate(&e, 0), "cuEventCreate");
  return e;
}
Status CudaDevice::RecordEvent(void* event, void* stream) {
  return Check(Load().EventRecord(event, stream), "cuEventRecord");
}
StatusOr<float> CudaDevice::ElapsedMs(void* start, void* end) {
  CU(EventSynchronize(end), "cuEventSynchronize");
  float ms = 0;
  CU(EventElapsedTime(&ms, start, end), "cuEventElapsedTime");
  return ms;
}
Status CudaDevice::DestroyEvent(void* event) { return Check(Load().EventDestroy(event), "cuEventDestroy"); }

StatusOr<void*> CudaDevice::CaptureGraph(void* stream, const std::function<Status()>& run) {
  CU(StreamBeginCapture(stream, 2 /* CU_STREAM_CAPTURE_MODE_RELAXED */), "cuStreamBeginCapture");
  const Status st = run();
  void* graph = nullptr;
  const int end = Load().StreamEndCapture(stream, &graph);
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(Check(end, "cuStreamEndCapture"));
  void* exec = nullptr;
  const int rc = Load().GraphInstantiateWithFlags(&exec, graph, 0);
  Load().GraphDestroy(graph);
  RETURN_IF_ERROR(Check(rc, "cuGraphInstantiate"));
  return exec;
}
Status CudaDevice::LaunchGraph(void* graph_exec, void* stream) {
  return Check(Load().GraphLaunch(graph_exec, stream), "cuGraphLaunch");
}
Status CudaDevice::DestroyGraph(void* graph_exec) {
  return Check(Load().GraphExecDestroy(graph_exec), "cuGraphExecDestroy");
}

}  // namespace kiln::cuda
