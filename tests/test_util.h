// Helpers shared by the test binaries.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "ir/core/status.h"
#include "ir/core/tensor.h"
#include "ir/graph.h"
#include "runtime/plan.pb.h"

namespace kiln::runtime {
class Session;
}  // namespace kiln::runtime

namespace kiln::testing {

/// Sets the session's inputs in order, runs it once and copies every output.
StatusOr<std::vector<Tensor>> RunOnce(runtime::Session& session, const std::vector<Tensor>& inputs);

/// Path of a file in the source tree / build tree.
std::string SourcePath(const std::string& relative);

/// A CUDA plan needs NVRTC (it makes the kernel images). Built without the CUDA toolkit
/// (KILN_HAVE_CUDA_TOOLKIT=0), compiling for cuda fails for that reason: when `compiled` is
/// that failure, this checks it is the one-line "cuda: no NVRTC library found (...)" error and
/// returns true, and the test ends there. Otherwise (success, another error, or a build with
/// the toolkit, where NVRTC must load) it returns false and the test goes on.
bool StopsForMissingNvrtc(const Status& compiled);
std::string BinaryPath(const std::string& relative);
/// A fresh empty temporary directory.
std::string MakeTempDir();

/// Deterministic random float tensor in [lo, hi).
Tensor RandomTensor(const Dims& dims, uint32_t seed, float lo = -1.0f, float hi = 1.0f);
/// A 4-D float tensor's elements copied from layout `from` into layout `to` (e.g. plain to
/// channels-last), same logical dims.
Tensor Relayout(const Tensor& t, Layout from, Layout to);

/// Max |a-b| / (atol + rtol*|b|) style closeness; returns a message naming the
/// first mismatching index, or empty when close.
std::string CompareTensors(const Tensor& actual, const Tensor& expected, double atol, double rtol);

/// A PNG for tests of the image decoder and `kiln predict`, written by libpng.
/// color_type and bit_depth take libpng's values (0 gray, 2 RGB, 3 palette, 4 gray +
/// alpha, 6 RGBA); rows hold each row's raw sample bytes (16 bits big-endian).
struct PngSpec {
  int width = 3, height = 2;
  int color_type = 0;
  int bit_depth = 8;
  bool interlace = false;
  std::vector<uint8_t> palette;  // RGB triples
  std::vector<uint8_t> trns;     // palette alpha
};
std::string EncodePng(const PngSpec& spec, const std::vector<std::vector<uint8_t>>& rows);

/// `kiln ARGS` run in the source tree (examples name their data relative to it):
/// the exit code and stdout+stderr.
struct KilnResult {
  int code = 0;
  std::string output;
};
KilnResult RunKilnInSourceTree(const std::string& args);
/// `kiln ARGS` in the current directory.
KilnResult RunKiln(const std::string& args);
/// A shell command's exit code and stdout+stderr.
KilnResult RunShell(const std::string& command);

/// The training step of `graph` (batch `batch`, optimizer by name) lowered for the CPU; its
/// graph's passes are those of the `passes_for` backend ("cuda": the nodes the CUDA plan has).
StatusOr<proto::Plan> CompileTrainingStep(const Graph& graph, int64_t batch, const std::string& optimizer,
                                          const std::string& passes_for = "cpu");
/// The same for a model file in the source tree (e.g. "tests/data/training/mlp.onnx").
StatusOr<proto::Plan> CompileTrainingStep(const std::string& relative, int64_t batch, const std::string& optimizer,
                                          const std::string& passes_for = "cpu");

/// Number of '\n' in `s` (lines of a command's output).
int CountLines(const std::string& s);
/// A command-line failure as users must see it: exit code `code` and one line that
/// starts with `prefix` ("kiln: ") and contains `needle`.
void ExpectOneLineError(int exit_code, const std::string& output, int code, const std::string& prefix,
                        const std::string& needle);
/// The same for a `kiln` run: one line "kiln: ..." containing `needle`.
void ExpectOneLineError(const KilnResult& r, int code, const std::string& needle);

/// Runs a shell command; returns its exit code and captures stdout+stderr.
int RunCommand(const std::string& command, std::string* output);

}  // namespace kiln::testing

#define ASSERT_OK(expr)                     \
  do {                                      \
    const ::kiln::Status _st = (expr);      \
    ASSERT_TRUE(_st.ok()) << _st.message(); \
  } while (0)
#define EXPECT_OK(expr)                     \
  do {                                      \
    const ::kiln::Status _st = (expr);      \
    EXPECT_TRUE(_st.ok()) << _st.message(); \
  } while (0)
