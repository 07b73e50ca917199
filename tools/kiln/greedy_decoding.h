// `kiln train` for sequence-to-sequence models: the compiled greedy decoder
// (compiler/greedy_decoder.h) of the trained model, its exact-match rate on the
// test set and, on request, the decoder as a model file for kiln run / compile.
#pragma once

#include <string>

#include "ir/core/file_io.h"
#include "ir/graph.h"
#include "ir/kiln.pb.h"
#include "runtime/data/dataset.h"

namespace kiln::cli {

/// The token vocabulary (decoding.tokens, when given) against the model: one text per class
/// of the per-step output (data::CharacterVocabulary's checks). Checked before training.
Status CheckDecoderVocabulary(const Graph& model, const proto::GreedyDecoding& decoding);

/// Builds the greedy decoder of `trained`, runs it on `test` (when not null) at batch
/// `batch` and prints "Greedy decoding: exact match ..."; the targets of a test row are
/// one-hot rows per decoder step (an all-zero row: pad_token). Writes the decoder to
/// `decoder_out` when it is not empty.
Status ReportGreedyDecoding(const Graph& trained, const proto::GreedyDecoding& decoding, const data::Dataset* test,
                            int64_t batch, int threads, const std::string& decoder_out, const WriteOptions& write);

}  // namespace kiln::cli
