// kiln.InferenceSession: a model compiled for the CPU, run with the ONNX Runtime calling
// convention. One plan is compiled per batch size the inputs bring (the first at
// construction, so a bad model fails there); runs of one plan are serialized, with the
// GIL released while the plan runs.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "ir/graph.h"
#include "python/src/convert.h"
#include "runtime/session.h"

namespace kiln::python {

/// A model input or output as ONNX Runtime describes it (NodeArg).
struct TensorInfo {
  std::string name;
  std::string dtype;                                      // "float32"
  std::vector<std::variant<int64_t, std::string>> shape;  // symbolic dims by name ("batch")
};

class InferenceSession {
 public:
  /// `graph` is never modified: each batch size compiles a clone. `source` names the model in messages.
  InferenceSession(std::unique_ptr<Graph> graph, std::string source, int threads);
  static std::unique_ptr<InferenceSession> FromPath(const std::string& path, int threads);
  static std::unique_ptr<InferenceSession> FromBytes(const std::string& bytes, int threads);

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  /// The requested outputs (all when `names` is empty/None) for `feeds` {input name: array}.
  std::vector<OutputArray> Run(const std::optional<std::vector<std::string>>& names, const nb::dict& feeds);

 private:
  struct Compiled {
    std::unique_ptr<runtime::Session> session;
    std::mutex mutex;  // one run at a time: the plan's arena is shared
  };
  StatusOr<Compiled*> ForBatch(int64_t batch);
  void Describe();

  std::unique_ptr<Graph> graph_;
  std::string source_;
  int threads_;
  std::vector<TensorInfo> inputs_, outputs_;
  std::mutex cache_mutex_;
  std::map<int64_t, std::unique_ptr<Compiled>> compiled_;
};

void BindInference(nb::module_& m);

}  // namespace kiln::python
