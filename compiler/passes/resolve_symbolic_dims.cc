// resolve-symbolic-dims: the symbolic batch dimension of every graph input (an ONNX
// dim_param such as "batch") becomes PassOptions::batch_size; any other symbolic
// dimension is an error naming the input.
#include "compiler/pass.h"

namespace kiln {
namespace {

class ResolveSymbolicDimsPass : public Pass {
 public:
  std::string name() const override { return "resolve-symbolic-dims"; }
  StatusOr<bool> Run(Graph& graph, const PassOptions& options) override {
    bool changed = false;
    for (Value* in : graph.inputs()) {
      TensorType t = in->type();
      for (size_t i = 0; i < t.dims.size(); ++i) {
        if (t.dims[i] >= 0) continue;
        if (i != 0) {
          std::string symbol = "?";
          for (auto& [idx, sym] : in->symbolic_dims()) {
            if (idx == static_cast<int>(i)) symbol = sym;
          }
          return InvalidArgument("input '", in->name(), "': dimension ", i, " is symbolic ('", symbol,
                                 "'); only the batch dimension (0) may be, and it is fixed by --batch");
        }
        t.dims[i] = options.batch_size;
        changed = true;
      }
      in->set_type(t);
      in->symbolic_dims().clear();
    }
    return changed;
  }
};

}  // namespace

std::unique_ptr<Pass> CreateResolveSymbolicDimsPass() { return std::make_unique<ResolveSymbolicDimsPass>(); }

}  // namespace kiln
