#include "tests/test_util.h"

#include <gtest/gtest.h>
#include <png.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "compiler/backends/cpu/cpu_backend.h"
#include "compiler/training.h"
#include "frontends/load_model.h"
#include "ir/core/layout.h"
#include "runtime/session.h"

namespace kiln::testing {

std::string SourcePath(const std::string& relative) { return std::string(KILN_SOURCE_DIR) + "/" + relative; }

bool StopsForMissingNvrtc(const Status& compiled) {
#if KILN_HAVE_CUDA_TOOLKIT
  (void)compiled;
  return false;
#else
  if (compiled.ok() || compiled.message().find("no NVRTC library found") == std::string::npos) return false;
  EXPECT_EQ(compiled.message().find("cuda: no NVRTC library found ("), 0u) << compiled.message();
  EXPECT_EQ(compiled.message().find('\n'), std::string::npos) << compiled.message();
  return true;
#endif
}
std::string BinaryPath(const std::string& relative) { return std::string(KILN_BINARY_DIR) + "/" + relative; }

namespace {
void AppendPngBytes(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<char*>(data), n);
}
}  // namespace

std::string EncodePng(const PngSpec& s, const std::vector<std::vector<uint8_t>>& rows) {
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png_create_info_struct(png);
  std::vector<png_color> palette;
  std::vector<png_bytep> ptrs;
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return "";
  }
  png_set_write_fn(png, &out, AppendPngBytes, nullptr);
  png_set_IHDR(png, info, s.width, s.height, s.bit_depth, s.color_type,
               s.interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  for (size_t i = 0; i + 2 < s.palette.size(); i += 3)
    palette.push_back({s.palette[i], s.palette[i + 1], s.palette[i + 2]});
  if (!palette.empty()) png_set_PLTE(png, info, palette.data(), static_cast<int>(palette.size()));
  if (!s.trns.empty()) png_set_tRNS(png, info, s.trns.data(), static_cast<int>(s.trns.size()), nullptr);
  png_write_info(png, info);
  for (const auto& r : rows) ptrs.push_back(const_cast<png_bytep>(r.data()));
  png_write_image(png, ptrs.data());
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

KilnResult RunShell(const std::string& command) {
  KilnResult r;
  r.code = RunCommand(command, &r.output);
  return r;
}

KilnResult RunKiln(const std::string& args) { return RunShell(std::string(KILN_TOOL_PATH) + " " + args); }

KilnResult RunKilnInSourceTree(const std::string& args) {
  return RunShell("cd '" + SourcePath("") + "' && " + KILN_TOOL_PATH + " " + args);
}

StatusOr<std::vector<Tensor>> RunOnce(runtime::Session& session, const std::vector<Tensor>& inputs) {
  for (size_t i = 0; i < inputs.size(); ++i) {
    RETURN_IF_ERROR(session.SetInput(static_cast<int>(i), inputs[i].data(), inputs[i].num_bytes()));
  }
  RETURN_IF_ERROR(session.Run());
  std::vector<Tensor> outputs;
  for (int i = 0; i < session.num_outputs(); ++i) {
    const TensorRef r = session.output(i);
    ASSIGN_OR_RETURN(Tensor t, Tensor::FromBytes(r.dtype, r.dims, r.data, r.num_bytes()));
    outputs.push_back(std::move(t));
  }
  return outputs;
}

std::string MakeTempDir() {
  char tmpl[] = "/tmp/kiln_test_XXXXXX";
  char* dir = mkdtemp(tmpl);
  return dir ? std::string(dir) : std::string("/tmp");
}

Tensor Relayout(const Tensor& t, Layout from, Layout to) {
  Tensor out(proto::DT_FLOAT, t.dims());
  const Dims& d = t.dims();
  const Dims fs = LayoutStrides(d, from), ts = LayoutStrides(d, to);
  const float* src = t.data_as<float>();
  float* dst = out.mutable_data_as<float>();
  for (int64_t n = 0; n < d[0]; ++n)
    for (int64_t c = 0; c < d[1]; ++c)
      for (int64_t h = 0; h < d[2]; ++h)
        for (int64_t w = 0; w < d[3]; ++w)
          dst[n * ts[0] + c * ts[1] + h * ts[2] + w * ts[3]] = src[n * fs[0] + c * fs[1] + h * fs[2] + w * fs[3]];
  return out;
}

Tensor RandomTensor(const Dims& dims, uint32_t seed, float lo, float hi) {
  Tensor t(proto::DT_FLOAT, dims);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.mutable_data_as<float>();
  for (int64_t i = 0; i < t.num_elements(); ++i) p[i] = dist(rng);
  return t;
}

std::string CompareTensors(const Tensor& actual, const Tensor& expected, double atol, double rtol) {
  std::ostringstream os;
  if (actual.dtype() != expected.dtype() || actual.dims() != expected.dims()) {
    os << "type mismatch: got " << DTypeName(actual.dtype()) << DimsToString(actual.dims()) << ", expected "
       << DTypeName(expected.dtype()) << DimsToString(expected.dims());
    return os.str();
  }
  for (int64_t i = 0; i < actual.num_elements(); ++i) {
    const double a = actual.GetAsDouble(i), e = expected.GetAsDouble(i);
    if ((std::isnan(e) && std::isnan(a)) || a == e) continue;  // NaN matches NaN, an infinity itself
    if (!(std::fabs(a - e) <= atol + rtol * std::fabs(e))) {
      os << "element " << i << ": got " << a << ", expected " << e;
      return os.str();
    }
  }
  return "";
}

int RunCommand(const std::string& command, std::string* output) {
  std::string full = command + " 2>&1";
  FILE* pipe = popen(full.c_str(), "r");
  if (!pipe) return -1;
  std::array<char, 4096> buf;
  std::string out;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  int rc = pclose(pipe);
  if (output) *output = out;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

StatusOr<proto::Plan> CompileTrainingStep(const Graph& graph, int64_t batch, const std::string& optimizer,
                                          const std::string& passes_for) {
  TrainingConfig config;
  config.device = passes_for;
  config.batch_size = batch;
  config.optimizer = OptimizerConfig::For(optimizer);
  config.optimizer.hyper.lr = 0.01f;
  ASSIGN_OR_RETURN(TrainingProgram program, BuildTrainingProgram(graph, config));
  return CompileForCpu(*program.step, CpuCompileOptions{});
}

StatusOr<proto::Plan> CompileTrainingStep(const std::string& relative, int64_t batch, const std::string& optimizer,
                                          const std::string& passes_for) {
  ASSIGN_OR_RETURN(Model model, LoadModel(SourcePath(relative)));
  return CompileTrainingStep(*model.graph, batch, optimizer, passes_for);
}

int CountLines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

void ExpectOneLineError(int exit_code, const std::string& output, int code, const std::string& prefix,
                        const std::string& needle) {
  EXPECT_EQ(exit_code, code) << output;
  EXPECT_EQ(output.rfind(prefix, 0), 0u) << output;
  EXPECT_EQ(CountLines(output), 1) << output;
  EXPECT_NE(output.find(needle), std::string::npos) << "expected '" << needle << "' in: " << output;
}

void ExpectOneLineError(const KilnResult& r, int code, const std::string& needle) {
  ExpectOneLineError(r.code, r.output, code, "kiln: ", needle);
}

}  // namespace kiln::testing
