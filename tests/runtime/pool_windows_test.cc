// Issue 10 (9a): pooling never yields -FLT_MAX or NaN. Every window configuration
// shape inference accepts (pads < kernel, ceil_mode's last window starting inside the
// input or its begin padding) covers at least one input element, on the oneDNN and the
// reference kernels alike; every configuration it rejects is an error naming the node.
#include <gtest/gtest.h>

#include <cmath>

#include "compiler/compile.h"
#include "runtime/session.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

TEST(PoolWindowsTest, AcceptedWindowsAlwaysCoverTheInput) {
  int accepted = 0, rejected = 0;
  for (const char* op : {"MaxPool", "AveragePool"}) {
    for (bool onednn : {true, false}) {
      for (int64_t in = 2; in <= 5; ++in) {
        for (int64_t k = 1; k <= 3; ++k) {
          for (int64_t s = 1; s <= 3; ++s) {
            for (int64_t pb = 0; pb <= 2; ++pb) {
              for (int64_t pe = 0; pe <= 2; ++pe) {
                for (int64_t ceil : {0, 1}) {
                  SCOPED_TRACE(std::string(op) + (onednn ? " onednn" : " ref") + " in " + std::to_string(in) + " k " +
                               std::to_string(k) + " s " + std::to_string(s) + " pads " + std::to_string(pb) + "," +
                               std::to_string(pe) + " ceil " + std::to_string(ceil));
                  Graph g;
                  Value* x = g.AddInput("x", {proto::DT_FLOAT, {1, 2, in}});
                  Attrs a;
                  a.SetInts("kernel_shape", {k});
                  a.SetInts("strides", {s});
                  a.SetInts("pads", {pb, pe});
                  a.SetInt("ceil_mode", ceil);
                  Node* n = g.AddNode(op, "pool", {x}, 1, a);
                  g.AddOutput(n->output(0));
                  CompileOptions options;
                  options.use_onednn = onednn;
                  auto plan = CompileToPlan(g, options);
                  if (!plan.ok()) {
                    EXPECT_NE(plan.status().message().find("pool (" + std::string(op) + ")"), std::string::npos)
                        << plan.status().message();
                    ++rejected;
                    continue;
                  }
                  ++accepted;
                  EXPECT_EQ(pb < k && pe < k, true) << "pads >= kernel accepted";
                  auto session = runtime::Session::Create(*plan);
                  ASSERT_OK(session.status());
                  // Negative inputs: an all-padding max window would show as -FLT_MAX, an average one as NaN.
                  auto out = testing::RunOnce(**session, {testing::RandomTensor({1, 2, in}, 7, -2.0f, -1.0f)});
                  ASSERT_OK(out.status());
                  const Tensor& y = (*out)[0];
                  for (int64_t i = 0; i < y.num_elements(); ++i) {
                    const float v = y.data_as<float>()[i];
                    ASSERT_TRUE(std::isfinite(v) && v >= -2.0f && v <= 0.0f) << "output " << i << " = " << v;
                  }
                }
              }
            }
          }
        }
      }
    }
  }
  std::printf("%d window configurations accepted and checked, %d rejected\n", accepted, rejected);
  EXPECT_GT(accepted, 300);
  EXPECT_GT(rejected, 100);
}

}  // namespace
}  // namespace kiln
