// resolve-symbolic-dims: the symbolic batch dimensions of the graph inputs (an ONNX
// dim_param such as "batch"; IsBatchDim in ir/graph.h says which) become
// PassOptions::batch_size; any other symbolic dimension is an error naming the input.
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
        if (!IsBatchDim(graph, *in, static_cast<int>(i))) {
          return InvalidArgument("input '", in->name(), "': dimension ", i, " is symbolic ('", in->DimSymbol(i),
                                 "'); only the batch may be (dimension 0, or every symbolic dimension when all "
                                 "have one name), and it is fixed by --batch");
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
