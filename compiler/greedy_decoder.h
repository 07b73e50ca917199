// Greedy decoding of a teacher-forced sequence-to-sequence model, compiled: the
// model unrolled into one graph of fixed maximum length that shares its weights.
#pragma once

#include <memory>

#include "ir/core/status.h"
#include "ir/graph.h"
#include "ir/kiln.pb.h"

namespace kiln {

/// `model` reads one row [batch, L] = [encoder ids | decoder input ids] (float ids,
/// decoder part from `decoding.decoder_offset`, steps = L - offset) and outputs per-step
/// token probabilities (or logits) [batch, steps, vocabulary] or [batch, steps * vocabulary],
/// step t depending on decoder inputs 0..t only (teacher forcing: input t is target t-1).
///
/// The result reads "encoder_ids" [batch, offset] and outputs "decoded" [batch, steps]:
/// copy t of the model (same weights, same names for every constant) reads the start
/// token followed by the tokens copies 0..t-1 chose, and chooses the argmax of its step
/// t; from the stop token on (itself included as chosen) every later step is pad_token.
/// Every further model output of shape [batch, steps, offset] (attention weights: per decoder
/// step, a weight per encoder position) becomes a decoder output of the same name holding
/// copy t's step t, i.e. the weights of the tokens actually chosen.
/// Each copy recomputes the encoder: steps x the model's work, no state carried
/// between copies, so any causal decoder works unchanged.
StatusOr<std::unique_ptr<Graph>> BuildGreedyDecoder(const Graph& model, const proto::GreedyDecoding& decoding);

/// The classes per decoder step of `model`'s first output (its vocabulary).
StatusOr<int64_t> GreedyDecodingClasses(const Graph& model, const proto::GreedyDecoding& decoding);

}  // namespace kiln
