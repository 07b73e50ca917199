#include "tools/kiln/greedy_decoding.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "compiler/compile.h"
#include "compiler/greedy_decoder.h"
#include "compiler/load.h"
#include "frontends/load_model.h"
#include "runtime/data/token_text.h"

namespace kiln::cli {
namespace {

// Row `row`'s expected tokens: per step the hot class, pad_token for an all-zero row.
std::vector<int64_t> ExpectedTokens(const data::Dataset& test, int64_t row, int64_t steps, int64_t pad) {
  const int64_t width = test.label_row_elements(), vocabulary = width / steps;
  const float* y = test.labels.data_as<float>() + row * width;
  std::vector<int64_t> tokens;
  for (int64_t s = 0; s < steps; ++s) {
    const float* p = y + s * vocabulary;
    const float* top = std::max_element(p, p + vocabulary);
    tokens.push_back(*top > 0.0f ? top - p : pad);
  }
  return tokens;
}

std::string Ids(const float* v, int64_t n) {
  std::string s;
  for (int64_t i = 0; i < n; ++i) s += (i ? " " : "") + std::to_string(static_cast<int64_t>(v[i]));
  return s;
}

}  // namespace

Status CheckDecoderVocabulary(const Graph& model, const proto::GreedyDecoding& decoding) {
  if (decoding.tokens_size() == 0) return Status::Ok();
  ASSIGN_OR_RETURN(int64_t classes, GreedyDecodingClasses(model, decoding));
  return data::CharacterVocabulary::Create(decoding, classes).status();
}

Status ReportGreedyDecoding(const Graph& trained, const proto::GreedyDecoding& decoding, const data::Dataset* test,
                            int64_t batch, int threads, const std::string& decoder_out, const WriteOptions& write) {
  ASSIGN_OR_RETURN(std::unique_ptr<Graph> decoder, BuildGreedyDecoder(trained, decoding));
  const int64_t offset = decoding.decoder_offset();
  const int64_t steps = trained.inputs()[0]->dims()[1] - offset;
  if (!decoder_out.empty()) {
    proto::TrainingSpec decoder_spec;  // what `kiln predict --text` reads: the ids and their text
    *decoder_spec.mutable_greedy_decoding() = decoding;
    ASSIGN_OR_RETURN(std::string bytes, SerializeModel(*decoder, decoder_spec, decoder_out));
    RETURN_IF_ERROR(WriteFileAtomically(decoder_out, bytes, write));
    std::printf("Wrote the greedy decoder (%lld steps) to %s\n", static_cast<long long>(steps), decoder_out.c_str());
  }
  if (!test) return Status::Ok();
  if (test->has_class_labels() || test->label_row_elements() % steps != 0) {
    return InvalidArgument("greedy decoding: the test targets must be one-hot rows, one per decoder step (", steps,
                           "), got ", test->label_row_elements(), " values per sample");
  }
  CompileOptions options;
  options.batch_size = batch;
  runtime::SessionOptions session_options;
  session_options.num_threads = threads;
  ASSIGN_OR_RETURN(std::unique_ptr<runtime::Session> session, CompileAndLoad(*decoder, options, session_options));
  const auto start = std::chrono::steady_clock::now();
  const int64_t n = test->size(), row = test->feature_row_elements();
  const float* x = test->features.data_as<float>();
  std::vector<float> in(static_cast<size_t>(batch * offset));
  int64_t exact = 0;
  std::vector<std::string> wrong;
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t valid = std::min(batch, n - first);
    for (int64_t i = 0; i < batch; ++i) {
      const int64_t r = first + std::min(i, valid - 1);  // a partial batch repeats its last row
      std::copy(x + r * row, x + r * row + offset, in.begin() + i * offset);
    }
    RETURN_IF_ERROR(session->SetInput(0, in.data(), in.size() * sizeof(float)));
    RETURN_IF_ERROR(session->Run());
    const float* decoded = session->output(0).as<float>();
    for (int64_t i = 0; i < valid; ++i) {
      const std::vector<int64_t> want = ExpectedTokens(*test, first + i, steps, decoding.pad_token());
      bool same = true;
      for (int64_t s = 0; s < steps; ++s) same &= static_cast<int64_t>(decoded[i * steps + s]) == want[s];
      exact += same;
      if (!same && wrong.size() < 3) {
        std::vector<float> w(want.begin(), want.end());
        wrong.push_back("  #" + std::to_string(first + i) + " encoder ids " + Ids(x + (first + i) * row, offset) +
                        ": decoded " + Ids(decoded + i * steps, steps) + ", expected " + Ids(w.data(), steps));
      }
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("Greedy decoding (compiled, %lld steps): exact match %.4f (%lld/%lld) on the test set in %.2fs\n",
              static_cast<long long>(steps), static_cast<double>(exact) / static_cast<double>(n),
              static_cast<long long>(exact), static_cast<long long>(n), seconds);
  for (const std::string& w : wrong) std::printf("%s\n", w.c_str());
  return Status::Ok();
}

}  // namespace kiln::cli
