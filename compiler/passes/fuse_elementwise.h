// fuse-elementwise: greedy grouping of float32 elementwise ops into
// FusedElementwise nodes (ir/core/fused_program.h), and the record of why each node
// was or was not fused (`kiln dump --explain-fusion`).
#pragma once

#include <string>
#include <vector>

namespace kiln {

/// The pass's verdict on one node.
struct FusionDecision {
  std::string node;    // the node's name before fusion
  std::string op;      // its op type
  std::string group;   // the FusedElementwise node it went into; empty when not fused
  std::string reason;  // why (not) fused
};

/// One line per decision plus a summary line, for `kiln dump --explain-fusion`.
std::string FormatFusionDecisions(const std::vector<FusionDecision>& decisions);

}  // namespace kiln
