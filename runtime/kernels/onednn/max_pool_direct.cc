// The direct MaxPool / MaxPoolGrad kernels (max_pool_direct.h). The gradient, for windows
// that do not overlap (stride >= kernel): one pass per plane finds each window's first maximal
// x (the element MaxPool reports, as the reference kernel does) and writes dY there and 0 over
// the rest of the window. The forward, for 2x2/2 windows, X and Y each NCHW or channels-last:
// each output the first maximum of its four inputs.
// The bench CNN's training step spent 2.7 ms in oneDNN's pooling gradients (forward re-run,
// reorders to a blocked layout and back) and 1.3 ms in its plain-layout pooling.
#include "runtime/kernels/onednn/max_pool_direct.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/kernels/onednn/simd_vec.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

// The threads a direct kernel splits its planes over: one for work too small to repay waking
// another (OneDnnKernelRunsOnOneThread), else the session's (SessionThreads).
int ThreadsFor(const KernelSpec& spec) { return OneDnnKernelRunsOnOneThread(spec) ? 1 : SessionThreads(spec); }

struct PoolPlane {
  int64_t h, w, oh, ow, kh, kw, sh, sw, pad_top, pad_left;
};

// 2x2 windows with stride 2 and no padding: the first maximum of (a, b, c, d) without
// branches (random activations make a compare-and-branch mispredict every other window).
// A later element wins only when strictly greater than every earlier one; comparisons with
// NaN are false, so a NaN wins only in front, as in the reference.
void Plane2x2(const PoolPlane& g, const float* x, const float* dy, float* dx) {
  for (int64_t i = 0; i < g.oh; ++i) {
    const float* top = x + 2 * i * g.w;
    const float* bottom = top + g.w;
    float* dtop = dx + 2 * i * g.w;
    float* dbottom = dtop + g.w;
    const float* grad = dy + i * g.ow;
    for (int64_t j = 0; j < g.ow; ++j) {
      const float a = top[2 * j], b = top[2 * j + 1], c = bottom[2 * j], d = bottom[2 * j + 1];
      const bool wb = b > a;
      const float ab = wb ? b : a;
      const bool wc = c > ab;
      const float abc = wc ? c : ab;
      const bool wd = d > abc;
      const float v = grad[j];
      dbottom[2 * j + 1] = wd ? v : 0.f;
      dbottom[2 * j] = !wd && wc ? v : 0.f;
      dtop[2 * j + 1] = !wd && !wc && wb ? v : 0.f;
      dtop[2 * j] = !wd && !wc && !wb ? v : 0.f;
    }
    // An odd last column or row (floor windows) is not in any window.
    if (g.w > 2 * g.ow) dtop[g.w - 1] = dbottom[g.w - 1] = 0.f;
  }
  if (g.h > 2 * g.oh) std::memset(dx + 2 * g.oh * g.w, 0, static_cast<size_t>((g.h - 2 * g.oh) * g.w) * sizeof(float));
}

// dX of one plane. Rows and columns no window reaches (the input's bottom/right rest under
// floor windows) get 0.
void PlaneGrad(const PoolPlane& g, const float* x, const float* dy, float* dx) {
  if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.pad_top == 0 && g.pad_left == 0 && 2 * g.oh <= g.h &&
      2 * g.ow <= g.w) {
    Plane2x2(g, x, dy, dx);
    return;
  }
  std::memset(dx, 0, static_cast<size_t>(g.h * g.w) * sizeof(float));
  for (int64_t i = 0; i < g.oh; ++i) {
    const int64_t r0 = std::max<int64_t>(0, i * g.sh - g.pad_top);
    const int64_t r1 = std::min<int64_t>(g.h, i * g.sh - g.pad_top + g.kh);
    for (int64_t j = 0; j < g.ow; ++j) {
      const int64_t c0 = std::max<int64_t>(0, j * g.sw - g.pad_left);
      const int64_t c1 = std::min<int64_t>(g.w, j * g.sw - g.pad_left + g.kw);
      int64_t best = -1;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) {
          const int64_t at = r * g.w + c;
          if (best < 0 || x[at] > x[best]) best = at;
        }
      }
      if (best >= 0) dx[best] = dy[i * g.ow + j];
    }
  }
}

class MaxPoolGradKernel final : public Kernel {
 public:
  MaxPoolGradKernel(const PoolPlane& g, int64_t planes, bool share_team, int threads)
      : g_(g), planes_(planes), share_team_(share_team), threads_(threads) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    const float* dy = in[0].as<float>();
    const float* x = in[1].as<float>();
    float* dx = out[0].as<float>();
    const int64_t in_plane = g_.h * g_.w, out_plane = g_.oh * g_.ow;
    RunParts(planes_, threads_, share_team_, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) PlaneGrad(g_, x + p * in_plane, dy + p * out_plane, dx + p * in_plane);
    });
    return Status::Ok();
  }

 private:
  PoolPlane g_;
  int64_t planes_;
  bool share_team_;
  int threads_;
};

// The first maximum of a 2x2 window as MaxPool reports it (a later element only when strictly
// greater; comparisons with NaN are false, so a NaN is kept only in front).
inline float FirstMax(float a, float b, float c, float d) {
  float m = b > a ? b : a;
  m = c > m ? c : m;
  return d > m ? d : m;
}

// FirstMax of four vectors of 4 floats, lane by lane (vector selects: maxps).
inline FloatVec<4> FirstMax4(const float* a, const float* b, const float* c, const float* d) {
  const FloatVec<4> va = LoadVec<4>(a), vb = LoadVec<4>(b), vc = LoadVec<4>(c), vd = LoadVec<4>(d);
  FloatVec<4> m = vb > va ? vb : va;
  m = vc > m ? vc : m;
  return vd > m ? vd : m;
}

// y [N, C, oh, ow] from x [N, C, h, w], each plain NCHW or channels-last (NHWC). A unit of
// work is one output row of one image (NHWC) or of one plane (NCHW). Channels-last rows read
// the two pixels of each window as 2C contiguous floats: oneDNN 2.6's channels-last pooling
// took 0.33 ms for LeNet-5's first pooling at batch 64 (6 channels) on a 2-core AVX2 EPYC,
// this loop 0.03 ms. (On an AVX-512 Xeon oneDNN's had beaten the plane loop below applied
// to NHWC input, 0.111 vs 0.127 ms.)
class MaxPool2x2Kernel final : public Kernel {
 public:
  MaxPool2x2Kernel(const Dims& x, bool in_channels_last, bool out_channels_last, bool share_team, int threads)
      : n_(x[0]),
        c_(x[1]),
        h_(x[2]),
        w_(x[3]),
        oh_(x[2] / 2),
        ow_(x[3] / 2),
        in_cl_(in_channels_last),
        out_cl_(out_channels_last),
        share_team_(share_team),
        threads_(threads) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    const float* x = in[0].as<float>();
    float* y = out[0].as<float>();
    if (!in_cl_ && !out_cl_) {
      RunParts(n_ * c_ * oh_, threads_, share_team_, [&](int64_t r0, int64_t r1) { PlainRows(x, y, r0, r1); });
    } else {
      RunParts(n_ * oh_, threads_, share_team_, [&](int64_t r0, int64_t r1) { PixelRows(x, y, r0, r1); });
    }
    return Status::Ok();
  }

 private:
  // Rows [r0, r1) of planes [n * C + c] (both tensors NCHW).
  void PlainRows(const float* x, float* y, int64_t r0, int64_t r1) const {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = r / oh_, i = r % oh_;
      const float* top = x + (p * h_ + 2 * i) * w_;
      const float* bottom = top + w_;
      float* dst = y + (p * oh_ + i) * ow_;
      for (int64_t j = 0; j < ow_; ++j) dst[j] = FirstMax(top[2 * j], top[2 * j + 1], bottom[2 * j], bottom[2 * j + 1]);
    }
  }

  // Output rows [r0, r1) of images [n], all channels; either side may be channels-last.
  void PixelRows(const float* x, float* y, int64_t r0, int64_t r1) const {
    const int64_t c = c_;
    // Strides of x in floats: channel, row, column.
    const int64_t xc = in_cl_ ? 1 : h_ * w_, xh = in_cl_ ? w_ * c : w_, xw = in_cl_ ? c : 1;
    const int64_t yc = out_cl_ ? 1 : oh_ * ow_, yh = out_cl_ ? ow_ * c : ow_, yw = out_cl_ ? c : 1;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / oh_, i = r % oh_;
      const float* top = x + n * c * h_ * w_ + 2 * i * xh;
      const float* bottom = top + xh;
      float* dst = y + n * c * oh_ * ow_ + i * yh;
      for (int64_t j = 0; j < ow_; ++j) {
        const float* a = top + 2 * j * xw;
        const float* b = bottom + 2 * j * xw;
        float* d = dst + j * yw;
        if (in_cl_ && out_cl_) {  // unit strides: four channels at a time
          int64_t k = 0;
          for (; k + 4 <= c; k += 4) StoreVec<4>(d + k, FirstMax4(a + k, a + c + k, b + k, b + c + k));
          // The last few channels as four too, but at a row's last pixel: the store runs on into
          // the next pixel's first channels (written after), the loads into the next window.
          if (k < c && j + 1 < ow_) {
            StoreVec<4>(d + k, FirstMax4(a + k, a + c + k, b + k, b + c + k));
            continue;
          }
          for (; k < c; ++k) d[k] = FirstMax(a[k], a[c + k], b[k], b[c + k]);
        } else {
          for (int64_t k = 0; k < c; ++k) d[k * yc] = FirstMax(a[k * xc], a[xw + k * xc], b[k * xc], b[xw + k * xc]);
        }
      }
    }
  }

  int64_t n_, c_, h_, w_, oh_, ow_;
  bool in_cl_, out_cl_, share_team_;
  int threads_;
};

// Any window (no dilation) with X and Y channels-last: each output pixel the first maximum, per
// channel, of its window's pixels inside the image (the padding adds nothing, as in the
// reference), C contiguous floats at a time (GCC makes the select a vector max). oneDNN 2.6's
// channels-last pooling took 0.62 ms for ResNet-50's 3x3/2 pooling at batch 1 (2-core AVX2
// EPYC), about 5 GB/s; ONNX Runtime's 0.13 ms.
class MaxPoolWindowKernel final : public Kernel {
 public:
  MaxPoolWindowKernel(const Dims& x, const WindowGeometry& g, bool share_team, int threads)
      : n_(x[0]), c_(x[1]), h_(x[2]), w_(x[3]), g_(g), share_team_(share_team), threads_(threads) {}

  Status Run(const std::vector<TensorRef>& in, const std::vector<TensorRef>& out) override {
    const float* x = in[0].as<float>();
    float* y = out[0].as<float>();
    RunParts(n_ * g_.output[0], threads_, share_team_, [&](int64_t r0, int64_t r1) { Rows(x, y, r0, r1); });
    return Status::Ok();
  }

 private:
  void Rows(const float* x, float* y, int64_t r0, int64_t r1) const {
    const int64_t c = c_, oh = g_.output[0], ow = g_.output[1];
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t n = r / oh, i = r % oh;
      const int64_t top = std::max<int64_t>(0, i * g_.strides[0] - g_.pads[0]);
      const int64_t bottom = std::min(h_, i * g_.strides[0] - g_.pads[0] + g_.kernel[0]);
      const float* image = x + n * h_ * w_ * c;
      float* dst = y + (n * oh + i) * ow * c;
      for (int64_t j = 0; j < ow; ++j) {
        const int64_t left = std::max<int64_t>(0, j * g_.strides[1] - g_.pads[1]);
        const int64_t right = std::min(w_, j * g_.strides[1] - g_.pads[1] + g_.kernel[1]);
        float* d = dst + j * c;
        std::memcpy(d, image + (top * w_ + left) * c, static_cast<size_t>(c) * sizeof(float));
        for (int64_t row = top; row < bottom; ++row) {
          for (int64_t col = row == top ? left + 1 : left; col < right; ++col) {
            const float* v = image + (row * w_ + col) * c;
            for (int64_t k = 0; k < c; ++k) d[k] = v[k] > d[k] ? v[k] : d[k];
          }
        }
      }
    }
  }

  int64_t n_, c_, h_, w_;
  WindowGeometry g_;
  bool share_team_;
  int threads_;
};

// Whether X and Y are both channels-last: MaxPoolWindowKernel takes any window then.
bool AnyWindow(const KernelSpec& spec) {
  return spec.inputs[0].layout == proto::LAYOUT_CHANNELS_LAST && spec.outputs[0].layout == proto::LAYOUT_CHANNELS_LAST;
}

}  // namespace

std::string DirectMaxPoolUnsupportedReason(const KernelSpec& spec) {
  if (spec.inputs.size() != 1 || spec.outputs.size() != 1) return "not X -> Y (an Indices output)";
  const Dims& x = spec.inputs[0].dims;
  if (x.size() != 4) return "not 2-D pooling";
  for (const TensorRef* t : {&spec.inputs[0], &spec.outputs[0]}) {
    if (t->dtype != proto::DT_FLOAT) return "not float32";
    if (t->layout != proto::LAYOUT_PLAIN && t->layout != proto::LAYOUT_CHANNELS_LAST)
      return "neither plain NCHW nor channels-last";
  }
  auto geometry = ComputePoolGeometry({x[2], x[3]}, spec.attrs.GetInts("kernel_shape"), spec.attrs);
  if (!geometry.ok()) return geometry.status().message();
  const WindowGeometry& g = *geometry;
  if (spec.outputs[0].dims != Dims{x[0], x[1], g.output[0], g.output[1]}) return "Y is not the pooling output";
  if (spec.attrs.GetInt("storage_order", 0) != 0) return "storage_order";
  if (g.dilations != Dims{1, 1}) return "dilations";
  const bool empty_windows = g.pads[0] >= g.kernel[0] || g.pads[1] >= g.kernel[1] || g.pads[2] >= g.kernel[0] ||
                             g.pads[3] >= g.kernel[1];  // a window in the padding alone
  if (AnyWindow(spec) && !empty_windows) return "";
  if (g.kernel != Dims{2, 2} || g.strides != Dims{2, 2}) return "not 2x2 windows, stride 2, nor channels-last";
  if (g.pads != Dims{0, 0, 0, 0}) return "padding, not channels-last";
  if (g.output != Dims{x[2] / 2, x[3] / 2}) return "ceil_mode windows past the input";
  return "";
}

StatusOr<std::unique_ptr<Kernel>> BuildDirectMaxPool(const KernelSpec& spec) {
  const std::string why = DirectMaxPoolUnsupportedReason(spec);
  if (!why.empty()) return Unimplemented("direct MaxPool: ", why);
  const Dims& x = spec.inputs[0].dims;
  const bool share_team = spec.env == nullptr || spec.env->use_share_team;
  ASSIGN_OR_RETURN(WindowGeometry g, ComputePoolGeometry({x[2], x[3]}, spec.attrs.GetInts("kernel_shape"), spec.attrs));
  const bool two_by_two = g.kernel == Dims{2, 2} && g.strides == Dims{2, 2} && g.pads == Dims{0, 0, 0, 0} &&
                          g.output == Dims{x[2] / 2, x[3] / 2};
  if (AnyWindow(spec) && !two_by_two)  // (the checks above: no window in the padding alone)
    return std::unique_ptr<Kernel>(std::make_unique<MaxPoolWindowKernel>(x, g, share_team, ThreadsFor(spec)));
  return std::unique_ptr<Kernel>(std::make_unique<MaxPool2x2Kernel>(
      x, spec.inputs[0].layout == proto::LAYOUT_CHANNELS_LAST, spec.outputs[0].layout == proto::LAYOUT_CHANNELS_LAST,
      share_team, ThreadsFor(spec)));
}

std::string DirectMaxPoolGradUnsupportedReason(const KernelSpec& spec) {
  if (spec.inputs.size() != 2 || spec.outputs.size() != 1) return "not dY, X -> dX";
  const Dims& x = spec.inputs[1].dims;
  const Dims& y = spec.inputs[0].dims;
  if (x.size() != 4) return "not 2-D pooling";
  for (const TensorRef* t : {&spec.inputs[0], &spec.inputs[1], &spec.outputs[0]}) {
    if (t->dtype != proto::DT_FLOAT) return "not float32";
    if (t->layout != proto::LAYOUT_PLAIN) return "not plain NCHW";
  }
  if (spec.outputs[0].dims != x) return "dX is not X's shape";
  auto geometry = ComputePoolGeometry({x[2], x[3]}, spec.attrs.GetInts("kernel_shape"), spec.attrs);
  if (!geometry.ok()) return geometry.status().message();
  const WindowGeometry& g = *geometry;
  if (g.dilations != Dims{1, 1}) return "dilations";
  if (g.strides[0] < g.kernel[0] || g.strides[1] < g.kernel[1]) return "overlapping windows";
  if (y != Dims{x[0], x[1], g.output[0], g.output[1]}) return "dY is not the pooling output";
  if (spec.attrs.GetInt("storage_order", 0) != 0) return "storage_order";
  return "";
}

StatusOr<std::unique_ptr<Kernel>> BuildDirectMaxPoolGrad(const KernelSpec& spec) {
  const std::string why = DirectMaxPoolGradUnsupportedReason(spec);
  if (!why.empty()) return Unimplemented("direct MaxPoolGrad: ", why);
  const Dims& x = spec.inputs[1].dims;
  ASSIGN_OR_RETURN(WindowGeometry g, ComputePoolGeometry({x[2], x[3]}, spec.attrs.GetInts("kernel_shape"), spec.attrs));
  const PoolPlane plane{x[2],        x[3],         g.output[0],  g.output[1], g.kernel[0],
                        g.kernel[1], g.strides[0], g.strides[1], g.pads[0],   g.pads[1]};
  const bool share_team = spec.env == nullptr || spec.env->use_share_team;
  return std::unique_ptr<Kernel>(std::make_unique<MaxPoolGradKernel>(plane, x[0] * x[1], share_team, ThreadsFor(spec)));
}

}  // namespace kiln::runtime::onednn
