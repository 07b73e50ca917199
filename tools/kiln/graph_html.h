// `kiln dump --format html`: one self-contained page with the graph laid out by
// Graphviz (SVG inline), a details panel for the clicked node and a search box.
#pragma once

#include <string>

#include "compiler/memory_planner.h"
#include "ir/core/status.h"
#include "ir/graph.h"

namespace kiln::cli {

/// Larger graphs are refused (Graphviz's layout time grows fast); `--format dot` still works.
constexpr int64_t kMaxHtmlNodes = 5000;

/// The page for `graph`. `memory` (may be null): the plan's buffers, shown per value.
/// Runs Graphviz's `dot` ($KILN_DOT overrides the program).
StatusOr<std::string> GraphHtml(const Graph& graph, const MemoryReport* memory, const std::string& title);

}  // namespace kiln::cli
