#include "tools/kiln/predict_text.h"

#include <algorithm>
#include <cstdio>

#include "compiler/load.h"
#include "frontends/load_model.h"
#include "runtime/data/token_text.h"
#include "runtime/session.h"

namespace kiln::cli {
namespace {

// The decoder's output holding per-step weights over the encoder's positions, or -1.
int AttentionOutput(const runtime::Session& s, int64_t batch, int64_t steps, int64_t length) {
  for (int i = 1; i < s.num_outputs(); ++i) {
    const TensorRef o = s.output(i);
    if (o.dtype == proto::DT_FLOAT && o.dims.size() == 3 && o.dims[0] == batch && o.dims[1] == steps &&
        o.dims[2] == length) {
      return i;
    }
  }
  return -1;
}

// Rows: the decoder's steps up to its stop token (named by their tokens); columns: the
// question's characters.
void PrintAttention(const float* w, int64_t steps, int64_t length, const std::string& text, const float* decoded,
                    const data::CharacterVocabulary& vocabulary) {
  std::printf("  attention (rows: answer tokens, columns: question characters)\n  %-7s", "");
  for (char c : text) std::printf(" %5c", c);
  std::printf("\n");
  for (int64_t t = 0; t < steps; ++t) {
    const int64_t id = static_cast<int64_t>(decoded[t]);
    std::printf("  %-7s", vocabulary.token(id).c_str());
    for (size_t j = 0; j < text.size(); ++j) std::printf(" %5.3f", w[t * length + static_cast<int64_t>(j)]);
    std::printf("\n");
    if (id == vocabulary.stop()) break;
  }
}

}  // namespace

Status PredictText(const std::string& model_path, const TextPredictOptions& o) {
  ASSIGN_OR_RETURN(Model model, LoadModel(model_path));
  Graph& g = *model.graph;
  const bool is_decoder = model.training.has_greedy_decoding() && g.inputs().size() == 1 &&
                          g.inputs()[0]->name() == "encoder_ids" && !g.outputs().empty() &&
                          g.outputs()[0]->name() == "decoded";
  if (!is_decoder) {
    return InvalidArgument(model_path,
                           model.training.has_greedy_decoding()
                               ? ": a trained seq2seq model, not its greedy decoder: --text needs the decoder that "
                                 "`kiln train --decoder-out FILE` writes"
                               : ": not a greedy decoder (input encoder_ids, output decoded): --text needs the "
                                 "decoder that `kiln train --decoder-out FILE` writes");
  }
  auto vocabulary = data::CharacterVocabulary::Create(model.training.greedy_decoding());
  if (!vocabulary.ok()) return vocabulary.status().WithContext(model_path);
  const Dims& enc = g.inputs()[0]->dims();
  if (enc.size() != 2 || enc[1] <= 0) return InvalidArgument(model_path, ": encoder_ids is not [batch, length]");
  const int64_t length = enc[1];
  const int64_t n = static_cast<int64_t>(o.texts.size());
  std::vector<float> ids;
  for (const std::string& text : o.texts) {  // every text is checked before compiling
    auto encoded = vocabulary->Encode(text, length);
    if (!encoded.ok()) return encoded.status().WithContext(model_path);
    ids.insert(ids.end(), encoded->begin(), encoded->end());
  }

  CompileOptions options;
  options.batch_size = enc[0] > 0 ? enc[0] : n;
  options.use_onednn = o.use_onednn;
  options.device = o.device;
  options.cpu_fallback = o.cpu_fallback;
  auto created = CompileAndLoad(g, options);
  if (!created.ok()) return created.status().WithContext(model_path);
  runtime::Session& s = **created;
  const int64_t batch = options.batch_size;
  const TensorRef decoded = s.output(0);
  const int64_t steps = decoded.num_elements() / batch;
  const int attention = o.attention ? AttentionOutput(s, batch, steps, length) : -1;
  if (o.attention && attention < 0) {
    return InvalidArgument(model_path, ": --attention needs a decoder output of attention weights [batch, ", steps,
                           ", ", length, "] (a model output of shape [batch, steps, encoder length])");
  }
  for (int64_t first = 0; first < n; first += batch) {
    const int64_t rows = std::min(batch, n - first);
    float* in = static_cast<float*>(s.input(0).data);
    for (int64_t r = 0; r < batch; ++r) {  // a final partial batch repeats its last text
      const int64_t src = first + std::min(r, rows - 1);
      std::copy_n(ids.data() + src * length, length, in + r * length);
    }
    RETURN_IF_ERROR(s.Run().WithContext(model_path));
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = decoded.as<float>() + r * steps;
      auto answer = vocabulary->Decode(row, steps);
      if (!answer.ok()) return answer.status().WithContext(model_path);
      std::printf("%s\n", answer->c_str());
      if (attention >= 0) {
        PrintAttention(s.output(attention).as<float>() + r * steps * length, steps, length, o.texts[first + r], row,
                       *vocabulary);
      }
    }
  }
  return Status::Ok();
}

}  // namespace kiln::cli
