#include "compiler/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "compiler/autodiff.h"
#include "compiler/load.h"
#include "ir/core/op_registry.h"
#include "runtime/session.h"

namespace kiln {
namespace {

Tensor ToDouble(const Tensor& t) {
  Tensor d(proto::DT_DOUBLE, t.dims());
  const float* src = t.data_as<float>();
  double* dst = d.mutable_data_as<double>();
  for (int64_t i = 0; i < t.num_elements(); ++i) dst[i] = src[i];
  return d;
}

// Deterministic data for the inputs: normal features, targets that suit the loss.
void FillRandom(const TensorRef& t, std::mt19937_64& rng, const std::string& role, const std::string& loss,
                int64_t classes) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_real_distribution<double> uniform(0.05, 0.95);
  const int64_t n = t.num_elements();
  if (t.dtype == proto::DT_INT64) {
    for (int64_t i = 0; i < n; ++i) t.as<int64_t>()[i] = static_cast<int64_t>(rng() % std::max<int64_t>(1, classes));
    return;
  }
  if (t.dtype != proto::DT_DOUBLE) return;
  double* p = t.as<double>();
  if (role == "target" && loss == "categorical_crossentropy") {
    // Rows of probabilities summing to 1.
    const int64_t width = t.dims.empty() ? 1 : t.dims.back();
    for (int64_t r = 0; r < n / width; ++r) {
      double sum = 0;
      for (int64_t c = 0; c < width; ++c) sum += p[r * width + c] = uniform(rng);
      for (int64_t c = 0; c < width; ++c) p[r * width + c] /= sum;
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    p[i] = role == "target" && loss == "binary_crossentropy" ? uniform(rng) : normal(rng);
  }
}

}  // namespace

void ConvertToFloat64(Graph& graph) {
  for (Value* v : graph.values()) {
    if (v->dtype() != proto::DT_FLOAT) continue;
    if (v->is_constant()) {
      const bool parameter = v->is_parameter();
      v->set_constant(ToDouble(v->constant()));
      v->set_parameter(parameter);
    } else {
      v->set_type(TensorType{proto::DT_DOUBLE, v->dims()});
    }
  }
  for (Node* n : graph.NodeList()) {
    if (n->op_type() == "Cast" && n->attrs().GetInt("to", 0) == 1) n->attrs().SetInt("to", 11);
    for (const char* name : {"value"}) {
      const proto::Tensor* t = n->attrs().GetTensor(name);
      if (!t || t->dtype() != proto::DT_FLOAT) continue;
      auto tensor = Tensor::FromProto(*t);
      if (!tensor.ok()) continue;
      proto::Tensor converted;
      ToDouble(*tensor).ToProto(&converted);
      n->attrs().SetTensor(name, converted);
    }
    for (Value* out : n->outputs()) out->set_type({});  // re-inferred
  }
}

StatusOr<std::vector<TensorGradcheck>> RunGradcheck(const Graph& model, const GradcheckOptions& options) {
  std::unique_ptr<Graph> model64 = model.Clone();
  ConvertToFloat64(*model64);
  TrainingConfig config;
  config.loss = options.loss;
  config.batch_size = options.batch_size;
  config.seed = options.seed;
  config.training_mode = options.training_mode;
  std::vector<Value*> params;
  ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, BuildLossGraph(*model64, config, &params));
  ASSIGN_OR_RETURN(std::vector<Value*> grads, AppendGradients(*g, g->outputs()[0], params));
  const int64_t classes = g->outputs()[1]->dims().empty() ? 1 : g->outputs()[1]->dims().back();
  std::vector<Value*> outputs = {g->outputs()[0]};
  std::vector<Value*> checked;
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i]) continue;
    checked.push_back(params[i]);
    outputs.push_back(grads[i]);
  }
  if (checked.empty()) return InvalidArgument("gradcheck: no parameter affects the loss");
  g->SetOutputs(outputs);
  // Running statistics would change between evaluations; the loss does not read them.
  for (const StateVar& st : g->states()) g->SetStateUpdate(st.value, nullptr);
  CompileOptions compile;
  compile.prepare_for_inference = false;  // the graph is checked as built
  compile.use_onednn = false;             // the reference kernels, in double where the graph is
  ASSIGN_OR_RETURN(std::unique_ptr<runtime::Session> session, CompileAndLoad(*g, compile));
  runtime::Session& s = *session;

  std::mt19937_64 rng(options.seed);
  for (int i = 0; i < s.num_inputs(); ++i) {
    FillRandom(s.input(i), rng, s.input_desc(i).name(), config.loss, classes);
  }
  auto loss = [&]() -> StatusOr<double> {
    RETURN_IF_ERROR(s.Run());
    return s.output(0).as<double>()[0];
  };
  RETURN_IF_ERROR(s.Run());
  std::vector<std::vector<double>> analytic;
  for (size_t k = 0; k < checked.size(); ++k) {
    const TensorRef g_ref = s.output(static_cast<int>(k) + 1);
    analytic.emplace_back(g_ref.as<double>(), g_ref.as<double>() + g_ref.num_elements());
  }
  std::vector<TensorGradcheck> report;
  for (size_t k = 0; k < checked.size(); ++k) {
    const int state = s.FindState(checked[k]->name());
    if (state < 0) return Internal("gradcheck: parameter '", checked[k]->name(), "' is not a state");
    double* p = s.state(state).as<double>();
    const int64_t n = s.state(state).num_elements();
    std::vector<int64_t> elements(n);
    for (int64_t i = 0; i < n; ++i) elements[i] = i;
    if (n > options.max_elements) {
      std::shuffle(elements.begin(), elements.end(), rng);
      elements.resize(options.max_elements);
    }
    TensorGradcheck r;
    r.parameter = checked[k]->name();
    r.dims = checked[k]->dims();
    for (int64_t i : elements) {
      const double saved = p[i];
      p[i] = saved + options.step;
      ASSIGN_OR_RETURN(double plus, loss());
      p[i] = saved - options.step;
      ASSIGN_OR_RETURN(double minus, loss());
      p[i] = saved;
      const double numeric = (plus - minus) / (2 * options.step);
      const double a = analytic[k][i];
      const double abs_err = std::fabs(a - numeric);
      const double rel = abs_err / std::max({std::fabs(a), std::fabs(numeric), 1e-6});
      r.max_rel_error = std::max(r.max_rel_error, rel);
      r.max_abs_error = std::max(r.max_abs_error, abs_err);
      ++r.checked;
    }
    report.push_back(r);
  }
  return report;
}

}  // namespace kiln
