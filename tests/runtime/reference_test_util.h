// Helpers for the reference kernel tests: build tensors, run one "ref" kernel
// through runtime::RunReferenceOp, compare with expected values.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ir/core/attrs.h"
#include "ir/core/tensor.h"
#include "runtime/kernel.h"
#include "tests/test_util.h"

namespace kiln::reftest {

inline Tensor F(const Dims& dims, const std::vector<float>& v) { return Tensor::FromVector(proto::DT_FLOAT, dims, v); }
inline Tensor D(const Dims& dims, const std::vector<double>& v) {
  return Tensor::FromVector(proto::DT_DOUBLE, dims, v);
}
inline Tensor I64(const Dims& dims, const std::vector<int64_t>& v) {
  return Tensor::FromVector(proto::DT_INT64, dims, v);
}
inline Tensor I32(const Dims& dims, const std::vector<int32_t>& v) {
  return Tensor::FromVector(proto::DT_INT32, dims, v);
}
/// A 1-D int64 tensor (shape / axes / pads inputs).
inline Tensor Ints(const std::vector<int64_t>& v) { return I64({static_cast<int64_t>(v.size())}, v); }
/// 0, 1, 2, ... as float32.
inline Tensor Iota(const Dims& dims, float start = 0, float step = 1) {
  std::vector<float> v(ElementCount(dims));
  for (size_t i = 0; i < v.size(); ++i) v[i] = start + step * static_cast<float>(i);
  return F(dims, v);
}

/// Ops the compiler always rewrites before lowering, so no kernel ever sees them:
/// Gradient (the expand-gradients pass replaces it by autodiff's backward graph).
inline bool RewrittenBeforeLowering(const std::string& op) { return op == "Gradient"; }

struct OutSpec {
  DType dtype;
  Dims dims;
};

/// Runs the reference kernel of `op` once. An empty Tensor stands for an omitted optional input.
inline StatusOr<std::vector<Tensor>> RunRef(const std::string& op, const Attrs& attrs,
                                            const std::vector<Tensor>& inputs, const std::vector<OutSpec>& outputs) {
  std::vector<TensorRef> ins, outs;
  for (const Tensor& t : inputs) ins.push_back(t.empty() && t.dtype() == proto::DT_UNDEFINED ? TensorRef{} : t.ref());
  std::vector<Tensor> results;
  for (const OutSpec& o : outputs) results.emplace_back(o.dtype, o.dims);
  for (const Tensor& t : results) outs.push_back(t.ref());
  RETURN_IF_ERROR(runtime::RunReferenceOp(op, "n", attrs, ins, outs));
  return results;
}

/// Runs `op` with one float32 output of `dims` and expects `expected` (abs/rel tolerance `tol`).
inline void ExpectRef(const std::string& op, const Attrs& attrs, const std::vector<Tensor>& inputs, const Dims& dims,
                      const std::vector<float>& expected, double tol = 1e-5) {
  auto result = RunRef(op, attrs, inputs, {{proto::DT_FLOAT, dims}});
  ASSERT_OK(result.status());
  ASSERT_EQ(static_cast<size_t>((*result)[0].num_elements()), expected.size()) << op;
  const std::string diff = testing::CompareTensors((*result)[0], F(dims, expected), tol, tol);
  EXPECT_TRUE(diff.empty()) << op << ": " << diff;
}

template <typename T>
std::vector<T> Values(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.num_elements());
}

inline Attrs IntsAttr(const std::string& name, const std::vector<int64_t>& v, Attrs a = {}) {
  a.SetInts(name, v);
  return a;
}
inline Attrs IntAttr(const std::string& name, int64_t v, Attrs a = {}) {
  a.SetInt(name, v);
  return a;
}
inline Attrs FloatAttr(const std::string& name, float v, Attrs a = {}) {
  a.SetFloat(name, v);
  return a;
}

}  // namespace kiln::reftest
