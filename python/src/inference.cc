#include "python/src/inference.h"

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/unique_ptr.h>
#include <nanobind/stl/variant.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <fstream>

#include "compiler/aot/compile_support.h"
#include "compiler/codegen/jit.h"
#include "compiler/compile.h"
#include "compiler/load.h"
#include "compiler/pass.h"
#include "frontends/load_model.h"
#include "tools/kiln/model_inputs.h"

namespace kiln::python {
namespace {

// A value's type as ONNX Runtime's NodeArg.shape: symbolic dims by name.
std::vector<std::variant<int64_t, std::string>> ShapeOf(Value* v) {
  std::vector<std::variant<int64_t, std::string>> shape;
  for (size_t i = 0; i < v->dims().size(); ++i) {
    if (v->dims()[i] >= 0) {
      shape.emplace_back(v->dims()[i]);
    } else {
      shape.emplace_back(v->DimSymbol(static_cast<int>(i)));
    }
  }
  return shape;
}

// The symbol of the graph's batch (IsBatchDim), or "" when it has none.
std::string BatchSymbol(const Graph& graph) {
  for (Value* v : graph.inputs()) {
    for (size_t i = 0; i < v->dims().size(); ++i) {
      if (IsBatchDim(graph, *v, static_cast<int>(i))) return v->DimSymbol(static_cast<int>(i));
    }
  }
  return "";
}

}  // namespace

InferenceSession::InferenceSession(std::unique_ptr<Graph> graph, std::string source, int threads)
    : graph_(std::move(graph)), source_(std::move(source)), threads_(threads) {
  Describe();
}

std::unique_ptr<InferenceSession> InferenceSession::FromPath(const std::string& path, int threads) {
  Model model;
  {
    nb::gil_scoped_release released;
    auto loaded = LoadModel(path);
    if (!loaded.ok()) {
      nb::gil_scoped_acquire held;
      Raise(loaded.status());
    }
    model = std::move(loaded).value();
  }
  return std::make_unique<InferenceSession>(std::move(model.graph), path, threads);
}

std::unique_ptr<InferenceSession> InferenceSession::FromBytes(const std::string& bytes, int threads) {
  // LoadModel reads files and picks the format by extension: the bytes are tried as each
  // format in turn (ONNX first: what torch.onnx.export writes to a buffer).
  aot::TempDir dir;
  if (!dir.ok()) Raise(Internal("cannot create a temporary directory for the model bytes"));
  std::string errors;
  for (const char* name : {"model.onnx", "model.kiln", "model.kiln.txt"}) {
    const std::string path = dir.path() + "/" + name;
    {
      std::ofstream out(path, std::ios::binary);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      if (!out.good()) Raise(Internal("cannot write the model bytes to ", path));
    }
    StatusOr<Model> model = Internal("not loaded");
    {
      nb::gil_scoped_release released;
      model = LoadModel(path);
    }
    if (model.ok()) return std::make_unique<InferenceSession>(std::move(model->graph), "<model bytes>", threads);
    std::string message = model.status().message();
    if (message.rfind(path, 0) == 0) message = message.substr(path.size() + 2);  // drop the temporary name
    errors += std::string(errors.empty() ? "" : "; ") + "as " + (name + 6) + ": " + message;
  }
  Raise(InvalidArgument("<model bytes>: not a model Kiln can read (", errors, ")"));
}

// Inputs from the graph as loaded; outputs from the plan of batch 1, compiled now so a
// model that cannot compile fails here. A dim that differs at batch 2 is the batch.
void InferenceSession::Describe() {
  for (Value* v : graph_->inputs()) inputs_.push_back({v->name(), DTypeName(v->dtype()), ShapeOf(v)});
  const std::string batch_symbol = BatchSymbol(*graph_);
  std::unique_ptr<Graph> at1 = graph_->Clone(), at2;
  Status status;
  {
    nb::gil_scoped_release released;
    auto plan = CompileToPlan(*at1, CompileOptions{.batch_size = 1});
    status = plan.status();
    if (plan.ok()) {
      runtime::SessionOptions options;
      options.num_threads = threads_;
      auto session = LoadPlan(std::move(plan).value(), options);
      status = session.status();
      if (session.ok()) {
        auto compiled = std::make_unique<Compiled>();
        compiled->session = std::move(session).value();
        compiled_[1] = std::move(compiled);
      }
    }
    if (status.ok() && !batch_symbol.empty()) {
      at2 = graph_->Clone();
      PassOptions pass_options;
      pass_options.batch_size = 2;
      status = PrepareForInference(*at2, pass_options);
    }
  }
  if (!status.ok()) Raise(status.WithContext(source_));
  for (size_t i = 0; i < at1->outputs().size(); ++i) {
    Value* v = at1->outputs()[i];
    TensorInfo info{v->name(), DTypeName(v->dtype()), ShapeOf(v)};
    for (size_t d = 0; at2 && d < info.shape.size() && d < at2->outputs()[i]->dims().size(); ++d) {
      if (at2->outputs()[i]->dims()[d] != v->dims()[d]) info.shape[d] = batch_symbol;
    }
    outputs_.push_back(std::move(info));
  }
}

StatusOr<InferenceSession::Compiled*> InferenceSession::ForBatch(int64_t batch) {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  auto found = compiled_.find(batch);
  if (found != compiled_.end()) return found->second.get();
  std::unique_ptr<Graph> graph = graph_->Clone();
  auto plan = CompileToPlan(*graph, CompileOptions{.batch_size = batch});
  if (!plan.ok()) return plan.status().WithContext(source_);
  runtime::SessionOptions options;
  options.num_threads = threads_;
  auto session = LoadPlan(std::move(plan).value(), options);
  if (!session.ok()) return session.status().WithContext(source_);
  auto compiled = std::make_unique<Compiled>();
  compiled->session = std::move(session).value();
  Compiled* result = compiled.get();
  compiled_[batch] = std::move(compiled);
  return result;
}

std::vector<OutputArray> InferenceSession::Run(const std::optional<std::vector<std::string>>& names,
                                               const nb::dict& feeds) {
  // Bind and check every input (the messages of `kiln run`) before anything runs.
  const std::vector<Value*>& graph_inputs = graph_->inputs();
  std::vector<InputArray> arrays(graph_inputs.size());
  std::vector<bool> given(graph_inputs.size(), false);
  for (const auto& [key, value] : feeds) {
    if (!nb::isinstance<nb::str>(key)) Raise(InvalidArgument("input names must be str"), PyExc_TypeError);
    const std::string name = nb::cast<std::string>(key);
    size_t index = 0;
    while (index < graph_inputs.size() && graph_inputs[index]->name() != name) ++index;
    if (index == graph_inputs.size()) Raise(cli::UnknownInputError(*graph_, name, source_));
    if (!nb::try_cast<InputArray>(value, arrays[index])) {
      Raise(InvalidArgument("input '", name, "': expected an array (numpy.ndarray), got ",
                            nb::cast<std::string>(nb::str(nb::handle(value.type()).attr("__name__")))),
            PyExc_TypeError);
    }
    given[index] = true;
  }
  cli::BatchBinding batch;
  for (size_t i = 0; i < graph_inputs.size(); ++i) {
    const Value& v = *graph_inputs[i];
    if (!given[i]) Raise(cli::MissingInputError(v, "pass it in the input feed dict"));
    const std::string where = "input '" + v.name() + "'";
    if (Status st = cli::CheckInputDType(v, ArrayDType(arrays[i], where), where); !st.ok()) Raise(st, PyExc_TypeError);
    Check(cli::CheckInputDims(*graph_, v, ArrayDims(arrays[i]), where, &batch));
  }
  std::vector<std::string> wanted;
  if (names && !names->empty()) {
    wanted = *names;
  } else {
    for (const TensorInfo& o : outputs_) wanted.push_back(o.name);
  }
  for (const std::string& name : wanted) {
    bool known = false;
    for (const TensorInfo& o : outputs_) known = known || o.name == name;
    if (!known) {
      std::string list;
      for (const TensorInfo& o : outputs_) list += (list.empty() ? "" : ", ") + o.name;
      Raise(InvalidArgument(source_, ": the model has no output named '", name, "' (outputs: ", list, ")"));
    }
  }

  struct Result {
    DType dtype;
    Dims dims;
    std::vector<uint8_t> bytes;
  };
  std::vector<Result> results;
  Status status;
  {
    nb::gil_scoped_release released;
    auto compiled = ForBatch(batch.size > 0 ? batch.size : 1);
    status = compiled.status();
    if (compiled.ok()) {
      std::lock_guard<std::mutex> lock((*compiled)->mutex);
      runtime::Session& s = *(*compiled)->session;
      for (size_t i = 0; i < graph_inputs.size() && status.ok(); ++i) {
        const int index = s.FindInput(graph_inputs[i]->name());
        status = index < 0 ? Internal(source_, ": compiled plan has no input '", graph_inputs[i]->name(), "'")
                           : s.SetInput(index, arrays[i].data(), arrays[i].nbytes())
                                 .WithContext("input '" + graph_inputs[i]->name() + "'");
      }
      if (status.ok()) status = s.Run().WithContext(source_);
      for (size_t i = 0; i < wanted.size() && status.ok(); ++i) {
        const int index = s.FindOutput(wanted[i]);
        if (index < 0) {
          status = Internal(source_, ": compiled plan has no output '", wanted[i], "'");
          break;
        }
        const TensorRef out = s.output(index);
        const auto* data = static_cast<const uint8_t*>(out.data);
        results.push_back({out.dtype, out.dims, std::vector<uint8_t>(data, data + out.num_bytes())});
      }
    }
  }
  Check(status);
  std::vector<OutputArray> arrays_out;
  for (Result& r : results) arrays_out.push_back(NewArray(r.dtype, r.dims, std::move(r.bytes)));
  return arrays_out;
}

void BindInference(nb::module_& m) {
  nb::class_<TensorInfo>(m, "NodeArg", "A model input or output: name, element type and shape.")
      .def_ro("name", &TensorInfo::name)
      .def_ro("dtype", &TensorInfo::dtype)
      .def_ro("shape", &TensorInfo::shape)
      .def_prop_ro("type",
                   [](const TensorInfo& t) {
                     // ONNX Runtime's spelling: tensor(float), tensor(int64), ...
                     const std::string d = t.dtype == "float32" ? "float" : t.dtype == "float64" ? "double" : t.dtype;
                     return "tensor(" + d + ")";
                   })
      .def("__repr__", [](const TensorInfo& t) {
        std::string shape;
        for (const auto& d : t.shape) {
          shape +=
              (shape.empty() ? "" : ", ") + (std::holds_alternative<int64_t>(d) ? std::to_string(std::get<int64_t>(d))
                                                                                : "'" + std::get<std::string>(d) + "'");
        }
        return "NodeArg(name='" + t.name + "', dtype='" + t.dtype + "', shape=[" + shape + "])";
      });
  nb::class_<InferenceSession>(m, "_InferenceSession")
      .def_static("from_path", &InferenceSession::FromPath, nb::arg("path"), nb::arg("threads"))
      .def_static(
          "from_bytes",
          [](nb::bytes b, int threads) {
            return InferenceSession::FromBytes(std::string(b.c_str(), b.size()), threads);
          },
          nb::arg("data"), nb::arg("threads"))
      .def_prop_ro("inputs", &InferenceSession::inputs)
      .def_prop_ro("outputs", &InferenceSession::outputs)
      .def("run", &InferenceSession::Run, nb::arg("output_names").none(), nb::arg("input_feed"));
}

}  // namespace kiln::python
