#include "compiler/training.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "compiler/autodiff.h"
#include "compiler/backend.h"
#include "compiler/pass.h"
#include "ir/core/op_registry.h"
#include "ir/core/shape_util.h"
#include "runtime/session.h"

namespace kiln {
namespace {

Status InferNode(Node* n) {
  ASSIGN_OR_RETURN(std::vector<TensorType> types, InferNodeTypes(*n));
  for (int i = 0; i < n->num_outputs(); ++i) n->output(i)->set_type(types[i]);
  return Status::Ok();
}

StatusOr<Value*> Emit(Graph& g, const std::string& op, const std::string& name, const std::vector<Value*>& inputs,
                      Attrs attrs = {}, int num_outputs = 1, Node** node = nullptr) {
  Node* n = g.AddNode(op, name, inputs, num_outputs, std::move(attrs));
  RETURN_IF_ERROR(InferNode(n));
  if (node) *node = n;
  return n->output(0);
}

// Replaces `old` by a node of `op_type` with the same name, inputs and outputs
// (plus `extra_outputs` new ones), keeping the topological position.
Node* ReplaceNode(Graph& g, Node* old, const std::string& op_type, std::vector<Value*> inputs, Attrs attrs,
                  int num_outputs) {
  Node* n = g.InsertNodeBefore(old, op_type, old->name() + "/train", inputs, num_outputs, std::move(attrs));
  for (int i = 0; i < old->num_outputs() && i < num_outputs; ++i) g.ReplaceAllUsesWith(old->output(i), n->output(i));
  g.RemoveNode(old);
  return n;
}

uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// BatchNormalization -> BatchNormTraining (batch statistics; running statistics
// become state updated every step), Dropout -> DropoutTraining (seeded masks
// that depend on the step counter).
Status RewriteForTraining(Graph& g, Value* step, uint64_t seed, std::vector<std::pair<Value*, Value*>>* updates) {
  int dropout_index = 0;
  for (Node* n : g.NodeList()) {
    if (n->op_type() == "BatchNormalization") {
      if (n->attrs().GetInt("training_mode", 0)) {
        return Unimplemented(n->Label(), ": training_mode=1 models are not supported; export in inference mode");
      }
      const float epsilon = n->attrs().GetFloat("epsilon", 1e-5f), momentum = n->attrs().GetFloat("momentum", 0.9f);
      if (!(epsilon > 0.0f && std::isfinite(epsilon)))
        return InvalidArgument(n->Label(), ": epsilon must be > 0, got ", epsilon);
      if (!(momentum >= 0.0f && momentum <= 1.0f)) {
        return InvalidArgument(n->Label(), ": momentum must be in [0, 1], got ", momentum);
      }
      Attrs a;
      a.SetFloat("epsilon", epsilon);
      a.SetFloat("momentum", momentum);
      std::vector<Value*> ins = n->inputs();
      Node* t = ReplaceNode(g, n, "BatchNormTraining", ins, a, 5);
      updates->push_back({ins[3], t->output(1)});
      updates->push_back({ins[4], t->output(2)});
    } else if (n->op_type() == "Dropout") {
      float ratio = 0.5f;
      if (n->num_inputs() > 1 && n->input(1)) {
        if (!n->input(1)->is_constant()) return Unimplemented(n->Label(), ": the dropout ratio must be a constant");
        if (n->input(1)->constant().num_elements() != 1)
          return InvalidArgument(n->Label(), ": the dropout ratio must be a scalar");
        ratio = static_cast<float>(n->input(1)->constant().GetAsDouble(0));
      }
      if (!(ratio >= 0.0f && ratio < 1.0f))
        return InvalidArgument(n->Label(), ": dropout ratio must be in [0, 1), got ", ratio);
      if (n->num_outputs() > 1 && g.NumUses(n->output(1)) > 0) {
        return Unimplemented(n->Label(), ": the mask output is used by the model");
      }
      Attrs a;
      a.SetFloat("ratio", ratio);
      a.SetInt("seed", static_cast<int64_t>(Mix(seed + static_cast<uint64_t>(dropout_index++)) >> 1));
      ReplaceNode(g, n, "DropoutTraining", {n->input(0), step}, a, 2);
    }
  }
  return Status::Ok();
}

Tensor Zeros(const Value* like) { return Tensor(like->dtype(), like->dims()); }

struct LossChoice {
  std::string op;
  Value* pred;
  bool sparse;
};

// Picks the loss op; from logits when the model's last op is the matching activation.
StatusOr<LossChoice> ChooseLoss(const std::string& loss, Value* out) {
  const Node* last = out->producer();
  const int rank = static_cast<int>(out->dims().size());
  auto last_axis = [&](const Node* n) {
    const int64_t axis = n->attrs().GetInt("axis", -1);
    return axis == -1 || axis == rank - 1;
  };
  if (loss == "categorical_crossentropy" || loss == "sparse_categorical_crossentropy") {
    const bool sparse = loss[0] == 's';
    if (rank != 2)
      return InvalidArgument("loss ", loss, " needs a [batch, classes] output, got ", out->type().ToString());
    if (last && (last->op_type() == "Softmax" || last->op_type() == "LogSoftmax") && last_axis(last)) {
      return LossChoice{"SoftmaxCrossEntropy", last->input(0), sparse};
    }
    return LossChoice{"CrossEntropy", out, sparse};
  }
  if (loss == "binary_crossentropy") {
    if (last && last->op_type() == "Sigmoid") return LossChoice{"SigmoidCrossEntropy", last->input(0), false};
    return LossChoice{"BinaryCrossEntropy", out, false};
  }
  return LossChoice{"MeanSquaredError", out, false};
}

}  // namespace

OptimizerConfig OptimizerConfig::For(const std::string& name) {
  OptimizerConfig c;
  c.name = name;
  if (const OptimizerDef* def = FindOptimizer(name)) c.hyper = def->defaults;
  return c;
}

OptimizerConfig OptimizerFromSpec(const proto::TrainingSpec& s) {
  std::string name = s.optimizer().empty() ? kDefaultOptimizer : s.optimizer();
  if (name == "sgd" && s.has_momentum() && s.momentum() > 0) name = "momentum";  // Keras style
  OptimizerConfig o = OptimizerConfig::For(name);
  OptimizerHyperparams& h = o.hyper;
  if (s.has_learning_rate()) h.lr = s.learning_rate();  // ValidateTrainingSpec: > 0
  if (s.has_momentum()) h.momentum = s.momentum();
  h.nesterov = h.nesterov || s.nesterov();
  if (s.has_beta1()) h.beta1 = s.beta1();
  if (s.has_beta2()) h.beta2 = s.beta2();
  if (s.has_epsilon()) h.epsilon = s.epsilon();
  if (s.has_rho()) h.rho = s.rho();
  h.weight_decay = s.weight_decay();
  o.clip_norm = s.clip_norm();
  o.learning_rate_state = s.has_reduce_lr_on_plateau();
  return o;
}

namespace {

// One row per numeric hyperparameter: the one place its valid range is stated.
struct Range {
  const char* field;  // the training block's name
  const char* flag;   // the `kiln train` option
  double lo, hi;
  bool lo_open, hi_open;
};

std::string RangeText(const Range& r) {
  auto num = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", v);
    return std::string(b);
  };
  if (r.hi == HUGE_VAL) return std::string(r.lo_open ? "> " : ">= ") + num(r.lo);
  return std::string(r.lo_open ? "in (" : "in [") + num(r.lo) + ", " + num(r.hi) + (r.hi_open ? ")" : "]");
}

Status CheckRange(const Range& r, bool present, double v) {
  if (!present) return Status::Ok();
  const bool ok = std::isfinite(v) && (r.lo_open ? v > r.lo : v >= r.lo) && (r.hi_open ? v < r.hi : v <= r.hi);
  if (ok) return Status::Ok();
  char got[32];
  std::snprintf(got, sizeof got, "%g", v);
  return InvalidArgument(r.field, " (", r.flag, ") must be ", RangeText(r), ", got ", got);
}

}  // namespace

Status ValidateTrainingSpec(const proto::TrainingSpec& s) {
  constexpr double kInf = HUGE_VAL;
  const proto::EarlyStopping& e = s.early_stopping();
  const proto::ReduceLROnPlateau& r = s.reduce_lr_on_plateau();
  const std::pair<Range, std::pair<bool, double>> checks[] = {
      {{"learning_rate", "--lr", 0, kInf, true, false}, {s.has_learning_rate(), s.learning_rate()}},
      {{"momentum", "--momentum", 0, 1, false, true}, {s.has_momentum(), s.momentum()}},
      {{"beta1", "--beta1", 0, 1, false, true}, {s.has_beta1(), s.beta1()}},
      {{"beta2", "--beta2", 0, 1, false, true}, {s.has_beta2(), s.beta2()}},
      {{"epsilon", "--epsilon", 0, kInf, true, false}, {s.has_epsilon(), s.epsilon()}},
      {{"rho", "--rho", 0, 1, false, true}, {s.has_rho(), s.rho()}},
      {{"weight_decay", "--weight-decay", 0, kInf, false, false}, {s.has_weight_decay(), s.weight_decay()}},
      {{"clip_norm", "--clip-norm", 0, kInf, false, false}, {s.has_clip_norm(), s.clip_norm()}},
      {{"batch_size", "--batch", 1, 1 << 30, false, false}, {s.has_batch_size(), static_cast<double>(s.batch_size())}},
      {{"epochs", "--epochs", 1, 1e9, false, false}, {s.has_epochs(), static_cast<double>(s.epochs())}},
      {{"validation_split", "--validation-split", 0, 1, false, true}, {s.has_validation_split(), s.validation_split()}},
      {{"test_split", "--test-split", 0, 1, false, true}, {s.has_test_split(), s.test_split()}},
      {{"checkpoint_every", "--checkpoint-every", 1, 1e9, false, false},
       {s.has_checkpoint_every(), static_cast<double>(s.checkpoint_every())}},
      {{"early_stopping.patience", "--patience", 0, 1e9, false, false},
       {e.has_patience(), static_cast<double>(e.patience())}},
      {{"early_stopping.min_delta", "--min-delta", 0, kInf, false, false}, {e.has_min_delta(), e.min_delta()}},
      {{"reduce_lr_on_plateau.factor", "--reduce-lr-factor", 0, 1, true, true}, {r.has_factor(), r.factor()}},
      {{"reduce_lr_on_plateau.patience", "--reduce-lr-patience", 1, 1e9, false, false},
       {r.has_patience(), static_cast<double>(r.patience())}},
      {{"reduce_lr_on_plateau.min_lr", "--reduce-lr-min", 0, kInf, false, false}, {r.has_min_lr(), r.min_lr()}},
      {{"reduce_lr_on_plateau.min_delta", "--reduce-lr-min-delta", 0, kInf, false, false},
       {r.has_min_delta(), r.min_delta()}},
  };
  for (const auto& [range, value] : checks) RETURN_IF_ERROR(CheckRange(range, value.first, value.second));
  if (s.validation_split() + s.test_split() >= 1.0f) {
    return InvalidArgument("validation_split + test_split must be < 1, got ", s.validation_split() + s.test_split());
  }
  return Status::Ok();
}

StatusOr<std::string> CanonicalLossName(const std::string& name) {
  static const std::pair<const char*, const char*> kNames[] = {
      {"categorical_crossentropy", "categorical_crossentropy"},
      {"cce", "categorical_crossentropy"},
      {"sparse_categorical_crossentropy", "sparse_categorical_crossentropy"},
      {"scce", "sparse_categorical_crossentropy"},
      {"binary_crossentropy", "binary_crossentropy"},
      {"bce", "binary_crossentropy"},
      {"mse", "mse"},
      {"mean_squared_error", "mse"},
      {"half_sse", "half_sse"},
      {"half_sum_squared_error", "half_sse"},
  };
  for (const auto& [alias, canonical] : kNames) {
    if (name == alias) return std::string(canonical);
  }
  return InvalidArgument("unknown loss '", name,
                         "' (expected categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy, "
                         "mse or half_sse)");
}

static Status TypeGraph(Graph& g, int64_t batch_size) {
  PassOptions options;
  options.batch_size = batch_size;
  return RunPipeline(g, TrainingTypingPipeline(), options);
}

// The step and the evaluation graph end alike; the fusion decisions are the step's.
static Status FinishTrainingGraph(Graph& g, const TrainingConfig& config, bool record_fusion) {
  PassOptions options;
  if (record_fusion) options.fusion_decisions = config.fusion_decisions;
  ASSIGN_OR_RETURN(const Backend* backend, FindBackend(config.device));
  options.target = &backend->target();
  return RunPipeline(g, TrainingFinishPipeline(config.fuse_elementwise), options);
}

static void PromoteParameters(Graph& g) {
  for (Value* v : g.values()) {
    if (v->is_parameter() && v->is_constant() && !v->producer() && IsFloatingType(v->dtype())) g.PromoteToState(v);
  }
}

// Batch norm running statistics change during training: state in both graphs,
// so the trained values reach evaluation and the written model.
static void PromoteBatchNormStatistics(Graph& g) {
  for (Node* n : g.NodeList()) {
    if (n->op_type() != "BatchNormalization" && n->op_type() != "BatchNormTraining") continue;
    for (int i : {3, 4}) {
      Value* v = n->input(i);
      if (v && v->is_constant() && !v->producer() && IsFloatingType(v->dtype())) g.PromoteToState(v);
    }
  }
}

StatusOr<std::unique_ptr<Graph>> BuildEvalGraph(const Graph& model, int64_t batch_size) {
  std::unique_ptr<Graph> g = model.Clone();
  PromoteParameters(*g);
  PromoteBatchNormStatistics(*g);
  RETURN_IF_ERROR(TypeGraph(*g, batch_size));
  RETURN_IF_ERROR(RunPipeline(*g, TrainingFinishPipeline(/*fuse_elementwise=*/false), PassOptions{}));
  return g;
}

StatusOr<std::unique_ptr<Graph>> BuildLossGraph(const Graph& model, const TrainingConfig& config,
                                                std::vector<Value*>* parameters, std::string* loss_name) {
  ASSIGN_OR_RETURN(std::string loss, CanonicalLossName(config.loss));
  if (loss_name) *loss_name = loss;
  if (model.outputs().empty()) return InvalidArgument("the model has no outputs to train");
  std::unique_ptr<Graph> g = model.Clone();
  Value* step = g->AddState("train/step", Tensor::FromVector(proto::DT_INT64, {}, std::vector<int64_t>{0}));
  std::vector<std::pair<Value*, Value*>> stat_updates;
  if (config.training_mode) {
    RETURN_IF_ERROR(RewriteForTraining(*g, step, config.seed, &stat_updates));
  }
  PromoteParameters(*g);
  // Inference mode keeps the statistics constant (they are not parameters either).
  if (config.training_mode) PromoteBatchNormStatistics(*g);
  RETURN_IF_ERROR(TypeGraph(*g, config.batch_size));
  for (auto& [state, update] : stat_updates) {
    if (!state->is_state()) {
      return InvalidArgument("batch norm statistics '", state->name(), "' must be initializers, not computed values");
    }
    g->SetStateUpdate(state, update);
  }

  Value* out = g->outputs()[0];
  ASSIGN_OR_RETURN(LossChoice choice, ChooseLoss(loss, out));
  TensorType target_type = out->type();
  if (choice.sparse) target_type = TensorType{proto::DT_INT64, {out->dims()[0]}};
  Value* target = g->AddInput("target", target_type);
  Attrs attrs;
  if (choice.op == "SoftmaxCrossEntropy" || choice.op == "CrossEntropy") attrs.SetInt("sparse", choice.sparse ? 1 : 0);
  if (choice.op == "MeanSquaredError") attrs.SetString("reduction", loss == "half_sse" ? "half_sum" : "mean");
  ASSIGN_OR_RETURN(Value * loss_value, Emit(*g, choice.op, "loss", {choice.pred, target}, attrs));
  g->SetOutputs({loss_value, out});
  parameters->clear();
  for (const StateVar& st : g->states()) {
    if (IsFloatingType(st.value->dtype()) && !st.update) parameters->push_back(st.value);
  }
  return g;
}

namespace {

struct OptimizerOp {
  const OptimizerDef* def;
  Attrs attrs;
};

StatusOr<OptimizerOp> MakeOptimizer(const OptimizerConfig& c) {
  const OptimizerDef* def = FindOptimizer(c.name);
  if (!def) return InvalidArgument("unknown optimizer '", c.name, "' (expected ", OptimizerNameList(), ")");
  return OptimizerOp{def, UpdateAttrs(*def, c.hyper)};
}

}  // namespace

StatusOr<TrainingProgram> BuildTrainingProgram(const Graph& model, const TrainingConfig& config) {
  TrainingProgram program;
  ASSIGN_OR_RETURN(OptimizerOp opt, MakeOptimizer(config.optimizer));
  std::vector<Value*> params;
  ASSIGN_OR_RETURN(std::unique_ptr<Graph> g, BuildLossGraph(model, config, &params, &program.loss));
  ASSIGN_OR_RETURN(std::vector<Value*> grads, AppendGradients(*g, g->outputs()[0], params));

  std::vector<Value*> trained, trained_grads;
  for (size_t i = 0; i < params.size(); ++i) {
    if (grads[i]) {
      trained.push_back(params[i]);
      trained_grads.push_back(grads[i]);
    } else {
      g->DemoteToConstant(params[i]);  // not on a path to the loss (e.g. a Pad value): stays fixed
    }
  }
  if (trained.empty()) return InvalidArgument("the model has no parameters that affect the loss");
  if (config.gradient_outputs) {
    for (size_t i = 0; i < trained.size(); ++i) {
      const std::string name = trained[i]->name() + "/gradient";
      Node* n = g->AddNode("Identity", name, {trained_grads[i]}, 1, {}, {name});
      RETURN_IF_ERROR(InferNode(n));
      g->AddOutput(n->output(0));
    }
  }

  if (config.optimizer.clip_norm > 0) {
    Attrs a;
    a.SetFloat("max_norm", config.optimizer.clip_norm);
    Node* clip = g->AddNode("ClipByGlobalNorm", "optimizer/clip_by_global_norm", trained_grads,
                            static_cast<int>(trained_grads.size()), a);
    RETURN_IF_ERROR(InferNode(clip));
    trained_grads = clip->outputs();
  }
  Value* step = g->FindValue("train/step");
  Value* learning_rate = nullptr;  // an optional last input of every update
  if (config.optimizer.learning_rate_state) {
    learning_rate = g->AddState(kLearningRateState,
                                Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{config.optimizer.hyper.lr}));
  }
  for (size_t i = 0; i < trained.size(); ++i) {
    Value* p = trained[i];
    std::vector<Value*> ins = {p, trained_grads[i]};
    const std::vector<std::string>& slots = opt.def->slots;
    for (const std::string& slot : slots) ins.push_back(g->AddState(p->name() + "/" + slot, Zeros(p)));
    if (opt.def->reads_step) ins.push_back(step);
    if (learning_rate) ins.push_back(learning_rate);
    const int num_outputs = 1 + static_cast<int>(slots.size());
    Node* n = g->AddNode(opt.def->update_op, p->name() + "/update", ins, num_outputs, opt.attrs);
    RETURN_IF_ERROR(InferNode(n));
    g->SetStateUpdate(p, n->output(0));
    for (size_t s = 0; s < slots.size(); ++s) g->SetStateUpdate(ins[2 + s], n->output(1 + static_cast<int>(s)));
    program.parameters.push_back(p->name());
  }
  ASSIGN_OR_RETURN(
      Value * next_step,
      Emit(*g, "Add", "train/step/increment",
           {step, g->AddConstant("train/one", Tensor::FromVector(proto::DT_INT64, {}, std::vector<int64_t>{1}))}));
  g->SetStateUpdate(step, next_step);
  RETURN_IF_ERROR(FinishTrainingGraph(*g, config, /*record_fusion=*/true));
  program.step = std::move(g);
  ASSIGN_OR_RETURN(program.eval, BuildEvalGraph(model, config.batch_size));
  if (config.fuse_elementwise) RETURN_IF_ERROR(FinishTrainingGraph(*program.eval, config, /*record_fusion=*/false));
  return program;
}

StatusOr<std::string> DefaultLoss(const Graph& model) {
  ASSIGN_OR_RETURN(std::unique_ptr<Graph> typed, BuildEvalGraph(model, 1));
  if (typed->outputs().empty()) return InvalidArgument("the model has no outputs to train");
  const Value* out = typed->outputs()[0];
  const Dims& dims = out->dims();
  if (dims.size() == 2 && dims[1] > 1) return std::string("sparse_categorical_crossentropy");
  const int64_t width = dims.size() > 1 ? dims.back() : 1;
  if (width == 1 && out->producer() && out->producer()->op_type() == "Sigmoid") {
    return std::string("binary_crossentropy");
  }
  return std::string("mse");
}

StatusOr<TrainingConfig> TrainingConfigFromSpec(const proto::TrainingSpec& spec, const Graph& model) {
  RETURN_IF_ERROR(ValidateTrainingSpec(spec));
  TrainingConfig config;
  if (spec.loss().empty()) {
    ASSIGN_OR_RETURN(config.loss, DefaultLoss(model));
  } else {
    ASSIGN_OR_RETURN(config.loss, CanonicalLossName(spec.loss()));
  }
  config.batch_size = spec.has_batch_size() ? spec.batch_size() : kDefaultBatchSize;
  config.seed = spec.seed();
  config.optimizer = OptimizerFromSpec(spec);
  if (!FindOptimizer(config.optimizer.name)) {
    return InvalidArgument("unknown optimizer '", config.optimizer.name, "' (expected ", OptimizerNameList(), ")");
  }
  return config;
}

Status CopyStatesToGraph(const runtime::Session& session, Graph* graph) {
  for (int i = 0; i < session.num_states(); ++i) {
    Value* v = graph->FindValue(session.state_desc(i).name());
    if (!v || !v->is_constant()) continue;
    const TensorRef s = session.state(i);
    ASSIGN_OR_RETURN(Tensor t, Tensor::FromBytes(s.dtype, s.dims, s.data, static_cast<size_t>(s.num_bytes())));
    v->set_constant(std::move(t));
  }
  return Status::Ok();
}

}  // namespace kiln
