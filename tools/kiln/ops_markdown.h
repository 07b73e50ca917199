// docs/ops.md, generated from the op registry: `kiln dump --ops --format markdown`.
#pragma once

#include <string>

namespace kiln::cli {

/// Every IR op: inputs, outputs, attributes, the dtypes its shape inference accepts, and
/// the ONNX versions the importer maps onto it.
std::string OpsMarkdown();

}  // namespace kiln::cli
