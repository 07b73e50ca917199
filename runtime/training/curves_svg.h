// `kiln train --plot curves.svg`: the loss and accuracy curves of a run as one
// self-contained SVG document (two panels, train and validation).
#pragma once

#include <string>
#include <vector>

#include "runtime/training/trainer.h"

namespace kiln::runtime {

/// An SVG document plotting `history` (loss panel; accuracy panel when the run has
/// accuracies). `title` is shown above the panels (escaped).
std::string TrainingCurvesSvg(const std::vector<EpochStats>& history, const std::string& title);

}  // namespace kiln::runtime
