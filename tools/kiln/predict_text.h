// `kiln predict DECODER --text TEXT ...`: answers questions with a greedy decoder written by
// `kiln train --decoder-out`, encoding and decoding with the character vocabulary the
// decoder carries (TrainingSpec.greedy_decoding.tokens).
#pragma once

#include <string>
#include <vector>

#include "ir/core/status.h"

namespace kiln::cli {

struct TextPredictOptions {
  std::vector<std::string> texts;
  bool attention = false;  // also print each answer's attention weights (a decoder output)
  bool use_onednn = true;
  std::string device = "cpu";  // --device
  bool cpu_fallback = false;   // --cpu-fallback
};

/// Prints one line per text: its decoded answer (with --attention, the weights matrix after it).
Status PredictText(const std::string& model_path, const TextPredictOptions& options);

}  // namespace kiln::cli
