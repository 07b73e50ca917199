// MaxPoolGrad for windows that do not overlap (stride >= kernel, every CNN's 2x2/2 pooling),
// plain NCHW float32: one pass per plane that finds each window's first maximal x (the
// element MaxPool reports, as the reference kernel does) and writes dY there and 0 over the
// rest of the window. oneDNN's pooling backward needs the forward's workspace, which Kiln
// does not keep: its kernel re-runs the forward and reorders x, dY and dX to a blocked layout
// and back, five passes over the activations where this takes one (the bench CNN's training
// step: 2.7 ms of pooling gradients on 2 cores, docs/benchmarks.md).
#include "runtime/kernels/onednn/max_pool_grad.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "ir/core/shape_util.h"
#include "runtime/kernels/onednn/onednn_common.h"
#include "runtime/share_team.h"

namespace kiln::runtime::onednn {
namespace {

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
    auto planes = [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) PlaneGrad(g_, x + p * in_plane, dy + p * out_plane, dx + p * in_plane);
    };
    const int parts = static_cast<int>(std::min<int64_t>(threads_, planes_));
    if (parts <= 1) {
      planes(0, planes_);
    } else if (share_team_) {
      RunShares(parts, [&](int t) { planes(planes_ * t / parts, planes_ * (t + 1) / parts); });
    } else {  // training plans: OpenMP's threads, as the oneDNN kernels around it use
#pragma omp parallel for num_threads(parts) schedule(static)
      for (int t = 0; t < parts; ++t) planes(planes_ * t / parts, planes_ * (t + 1) / parts);
    }
    return Status::Ok();
  }

 private:
  PoolPlane g_;
  int64_t planes_;
  bool share_team_;
  int threads_;
};

}  // namespace

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
  const bool one_thread = OneDnnKernelRunsOnOneThread(spec);
  const bool share_team = spec.env == nullptr || spec.env->use_share_team;
  return std::unique_ptr<Kernel>(
      std::make_unique<MaxPoolGradKernel>(plane, x[0] * x[1], share_team, one_thread ? 1 : omp_get_max_threads()));
}

}  // namespace kiln::runtime::onednn
