// Helpers shared by the test binaries.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "ir/status.h"
#include "ir/tensor.h"

namespace kiln::runtime {
class Session;
}  // namespace kiln::runtime

namespace kiln::testing {

/// Sets the session's inputs in order, runs it once and copies every output.
StatusOr<std::vector<Tensor>> RunOnce(runtime::Session& session, const std::vector<Tensor>& inputs);

/// Path of a file in the source tree / build tree.
std::string SourcePath(const std::string& relative);
std::string BinaryPath(const std::string& relative);
/// A fresh empty temporary directory.
std::string MakeTempDir();

/// Deterministic random float tensor in [lo, hi).
Tensor RandomTensor(const Dims& dims, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

/// Max |a-b| / (atol + rtol*|b|) style closeness; returns a message naming the
/// first mismatching index, or empty when close.
std::string CompareTensors(const Tensor& actual, const Tensor& expected, double atol, double rtol);

/// Runs a shell command; returns its exit code and captures stdout+stderr.
int RunCommand(const std::string& command, std::string* output);

}  // namespace kiln::testing

#define ASSERT_OK(expr)                                   \
  do {                                                    \
    const ::kiln::Status _st = (expr);                    \
    ASSERT_TRUE(_st.ok()) << _st.message();               \
  } while (0)
#define EXPECT_OK(expr)                                   \
  do {                                                    \
    const ::kiln::Status _st = (expr);                    \
    EXPECT_TRUE(_st.ok()) << _st.message();               \
  } while (0)
