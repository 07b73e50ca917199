#include "frontends/text/layers.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <vector>

#include "frontends/text/layer_builder.h"

namespace kiln::text {

std::string LayerKindName(const proto::Layer& layer) {
  switch (layer.kind_case()) {
    case proto::Layer::kDense: return "Dense";
    case proto::Layer::kConv2D: return "Conv2D";
    case proto::Layer::kMaxPool2D: return "MaxPool2D";
    case proto::Layer::kAvgPool2D: return "AvgPool2D";
    case proto::Layer::kFlatten: return "Flatten";
    case proto::Layer::kDropout: return "Dropout";
    case proto::Layer::kBatchNorm: return "BatchNorm";
    case proto::Layer::kActivation: return "Activation";
    case proto::Layer::kEmbedding: return "Embedding";
    case proto::Layer::kSimpleRnn: return "SimpleRNN";
    case proto::Layer::kLstm: return "LSTM";
    case proto::Layer::kGru: return "GRU";
    case proto::Layer::kBidirectional: return "Bidirectional";
    case proto::Layer::kSlice: return "Slice";
    case proto::Layer::kConcatenate: return "Concatenate";
    case proto::Layer::kAttention: return "Attention";
    case proto::Layer::KIND_NOT_SET: return "";
  }
  return "";
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

namespace {

// An activation function name -> IR op and attributes. "" and "linear" mean none.
struct ActivationOp {
  std::string op;
  Attrs attrs;
};
StatusOr<ActivationOp> ParseActivation(const std::string& function) {
  std::string f = Lower(function);
  f.erase(std::remove(f.begin(), f.end(), '_'), f.end());
  ActivationOp a;
  if (f.empty() || f == "linear") return a;
  if (f == "relu") a.op = "Relu";
  if (f == "sigmoid") a.op = "Sigmoid";
  if (f == "tanh") a.op = "Tanh";
  if (f == "softplus") a.op = "Softplus";
  if (f == "softsign") a.op = "Softsign";
  if (f == "selu") a.op = "Selu";
  if (f == "elu") a.op = "Elu";
  if (f == "softmax" || f == "logsoftmax") {
    a.op = f == "softmax" ? "Softmax" : "LogSoftmax";
    a.attrs.SetInt("axis", -1);
  }
  if (f == "leakyrelu") {
    a.op = "LeakyRelu";
    a.attrs.SetFloat("alpha", 0.2f);  // Keras' default negative slope
  }
  if (a.op.empty()) {
    return InvalidArgument("unknown activation '", function,
                           "' (expected relu, sigmoid, tanh, softmax, log_softmax, elu, selu, softplus, softsign, "
                           "leaky_relu or linear)");
  }
  return a;
}

// "same"/"valid" padding, resolved to explicit ONNX pads so backends need no auto_pad.
enum class Padding { kValid, kSame };
StatusOr<Padding> ParsePadding(const std::string& s) {
  std::string p = Lower(s);
  if (p.empty() || p == "valid") return Padding::kValid;
  if (p == "same") return Padding::kSame;
  return InvalidArgument("padding must be \"valid\" or \"same\", got \"", s, "\"");
}

// Expands [k] to [k, k]; empty -> fallback; anything else but 2 values is an error.
StatusOr<std::vector<int64_t>> Pair(const google::protobuf::RepeatedField<int64_t>& values, const char* what,
                                    std::vector<int64_t> fallback) {
  std::vector<int64_t> v(values.begin(), values.end());
  if (v.empty()) v = std::move(fallback);
  if (v.size() == 1) v.push_back(v[0]);
  if (v.size() != 2) return InvalidArgument(what, " needs 1 or 2 values, got ", values.size());
  for (int64_t x : v) {
    if (x <= 0) return InvalidArgument(what, " must be positive, got ", x);
  }
  return v;
}

}  // namespace

StatusOr<Value*> Builder::Activate(Value* x, const std::string& function) {
  auto act = ParseActivation(function);
  if (!act.ok()) return Wrap(act.status());
  if (act->op.empty()) return x;
  return Emit(act->op, act->op, {x}, act->attrs, true);
}

namespace {

InitSpec Fixed(InitKind kind) {
  InitSpec spec;
  spec.kind = kind;
  return spec;
}

// A layer's kernel and bias initializers. The `kernel_init` message wins over
// the older `kernel_initializer` string, which still gives its default kind
// (so `kernel_init { seed: 7 }` reseeds the string's choice).
struct KernelAndBias {
  InitSpec kernel, bias;
};
template <typename LayerProto>
StatusOr<KernelAndBias> LayerInits(Builder& b, const LayerProto& layer) {
  auto kind = ParseInitKind(layer.kernel_initializer());
  if (!kind.ok()) return b.Wrap(kind.status());
  auto kernel = ResolveInitializer(layer.kernel_init(), *kind, "kernel_init");
  if (!kernel.ok()) return b.Wrap(kernel.status());
  if (layer.no_bias() && layer.has_bias_init()) return b.Error("bias_init is set but no_bias is true");
  auto bias = ResolveInitializer(layer.bias_init(), InitKind::kZeros, "bias_init");
  if (!bias.ok()) return b.Wrap(bias.status());
  return KernelAndBias{*kernel, *bias};
}

bool HasActivation(const std::string& function) {
  auto act = ParseActivation(function);
  return !act.ok() || !act->op.empty();  // an invalid name fails in Activate
}

StatusOr<Value*> ExpandDense(Builder& b, const proto::Dense& d, Value* x) {
  if (d.units() <= 0) return b.Error("units must be positive, got ", d.units());
  if (x->dims().empty()) return b.Error("needs an input of rank >= 1, got a scalar");
  ASSIGN_OR_RETURN(KernelAndBias init, LayerInits(b, d));
  const int64_t in_features = x->dims().back();
  const bool act = HasActivation(d.activation());
  ASSIGN_OR_RETURN(Value * kernel, b.Weight("kernel", {in_features, d.units()}, init.kernel, in_features, d.units()));
  ASSIGN_OR_RETURN(Value * y, b.Emit("MatMul", "MatMul", {x, kernel}, {}, d.no_bias() && !act));
  if (!d.no_bias()) {
    ASSIGN_OR_RETURN(Value * bias, b.Weight("bias", {d.units()}, init.bias, d.units(), d.units()));
    ASSIGN_OR_RETURN(y, b.Emit("Add", "BiasAdd", {y, bias}, {}, !act));
  }
  return b.Activate(y, d.activation());
}

// ONNX pads [h_begin, w_begin, h_end, w_end] for TF-style "same" (extra padding at the end).
std::vector<int64_t> SamePads(const Dims& x, const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
                              const std::vector<int64_t>& dilations) {
  std::vector<int64_t> pads(4, 0);
  for (int i = 0; i < 2; ++i) {
    const int64_t in = x[2 + i], out = (in + strides[i] - 1) / strides[i];
    const int64_t effective = (kernel[i] - 1) * dilations[i] + 1;
    const int64_t total = std::max<int64_t>((out - 1) * strides[i] + effective - in, 0);
    pads[i] = total / 2;
    pads[i + 2] = total - total / 2;
  }
  return pads;
}

// For "valid" padding: the window must fit in the input.
Status CheckWindowFits(Builder& b, const Dims& x, const std::vector<int64_t>& kernel,
                       const std::vector<int64_t>& dilations) {
  for (int i = 0; i < 2; ++i) {
    const int64_t effective = (kernel[i] - 1) * dilations[i] + 1;
    if (effective > x[2 + i]) {
      return b.Error("window ", kernel[0], "x", kernel[1], " does not fit the input's spatial size ", x[2], "x", x[3],
                     " with \"valid\" padding");
    }
  }
  return Status::Ok();
}

StatusOr<Value*> ExpandConv2D(Builder& b, const proto::Conv2D& c, Value* x) {
  if (c.filters() <= 0) return b.Error("filters must be positive, got ", c.filters());
  if (x->dims().size() != 4) return b.Error("needs an NCHW input of rank 4, got ", x->type().ToString());
  if (c.kernel_size().empty()) return b.Error("kernel_size is required");
  auto kernel = Pair(c.kernel_size(), "kernel_size", {});
  auto strides = Pair(c.strides(), "strides", {1, 1});
  auto dilations = Pair(c.dilations(), "dilations", {1, 1});
  auto padding = ParsePadding(c.padding());
  auto init = LayerInits(b, c);
  for (const Status* s : {&kernel.status(), &strides.status(), &dilations.status(), &padding.status()}) {
    if (!s->ok()) return b.Wrap(*s);
  }
  if (!init.ok()) return init.status();  // already names the layer
  const int64_t groups = c.groups() == 0 ? 1 : c.groups();
  const int64_t channels = x->dims()[1];
  if (groups < 0 || channels % groups != 0 || c.filters() % groups != 0) {
    return b.Error("groups ", groups, " must divide both the input channels (", channels, ") and filters (",
                   c.filters(), ")");
  }
  if (*padding == Padding::kValid) RETURN_IF_ERROR(CheckWindowFits(b, x->dims(), *kernel, *dilations));

  const int64_t receptive = (*kernel)[0] * (*kernel)[1];
  const Dims weight_dims = {c.filters(), channels / groups, (*kernel)[0], (*kernel)[1]};
  ASSIGN_OR_RETURN(Value * weight, b.Weight("kernel", weight_dims, init->kernel, channels / groups * receptive,
                                            c.filters() / groups * receptive));
  std::vector<Value*> inputs = {x, weight};
  if (!c.no_bias()) {
    ASSIGN_OR_RETURN(Value * bias, b.Weight("bias", {c.filters()}, init->bias, c.filters(), c.filters()));
    inputs.push_back(bias);
  }
  Attrs attrs;
  attrs.SetInts("kernel_shape", *kernel);
  attrs.SetInts("strides", *strides);
  attrs.SetInts("dilations", *dilations);
  attrs.SetInts("pads", *padding == Padding::kSame ? SamePads(x->dims(), *kernel, *strides, *dilations)
                                                   : std::vector<int64_t>(4, 0));
  if (groups != 1) attrs.SetInt("group", groups);
  ASSIGN_OR_RETURN(Value * y, b.Emit("Conv", "Conv", inputs, attrs, !HasActivation(c.activation())));
  return b.Activate(y, c.activation());
}

StatusOr<Value*> ExpandPool(Builder& b, const proto::Pool2D& p, bool is_max, Value* x) {
  if (x->dims().size() != 4) return b.Error("needs an NCHW input of rank 4, got ", x->type().ToString());
  auto pool = Pair(p.pool_size(), "pool_size", {2, 2});
  if (!pool.ok()) return b.Wrap(pool.status());
  auto strides = Pair(p.strides(), "strides", *pool);
  auto padding = ParsePadding(p.padding());
  if (!strides.ok()) return b.Wrap(strides.status());
  if (!padding.ok()) return b.Wrap(padding.status());
  const std::vector<int64_t> ones = {1, 1};
  if (*padding == Padding::kValid) RETURN_IF_ERROR(CheckWindowFits(b, x->dims(), *pool, ones));
  Attrs attrs;
  attrs.SetInts("kernel_shape", *pool);
  attrs.SetInts("strides", *strides);
  attrs.SetInts("pads",
                *padding == Padding::kSame ? SamePads(x->dims(), *pool, *strides, ones) : std::vector<int64_t>(4, 0));
  // Keras averages over the valid window only; ONNX's count_include_pad=0 is the same rule.
  const std::string op = is_max ? "MaxPool" : "AveragePool";
  return b.Emit(op, op, {x}, attrs, true);
}

StatusOr<Value*> ExpandBatchNorm(Builder& b, Graph& graph, const proto::BatchNorm& bn, Value* x) {
  if (x->dims().size() < 2)
    return b.Error("needs an input of rank >= 2 (channels on axis 1), got ", x->type().ToString());
  const int64_t channels = x->dims()[1];
  // Unset means the Keras default; a given value is used as it is or refused.
  const float epsilon = bn.has_epsilon() ? bn.epsilon() : 1e-3f;
  const float momentum = bn.has_momentum() ? bn.momentum() : 0.99f;
  if (!(epsilon > 0.0f && std::isfinite(epsilon))) return b.Error("epsilon must be > 0, got ", epsilon);
  if (!(momentum >= 0.0f && momentum <= 1.0f)) return b.Error("momentum must be in [0, 1], got ", momentum);
  auto gamma_init = ResolveInitializer(bn.gamma_init(), InitKind::kOnes, "gamma_init");
  if (!gamma_init.ok()) return b.Wrap(gamma_init.status());
  auto beta_init = ResolveInitializer(bn.beta_init(), InitKind::kZeros, "beta_init");
  if (!beta_init.ok()) return b.Wrap(beta_init.status());
  ASSIGN_OR_RETURN(Value * gamma, b.Weight("gamma", {channels}, *gamma_init, channels, channels));
  ASSIGN_OR_RETURN(Value * beta, b.Weight("beta", {channels}, *beta_init, channels, channels));
  ASSIGN_OR_RETURN(Value * mean,
                   b.Weight("moving_mean", {channels}, Fixed(InitKind::kZeros), 0, 0, /*trainable=*/false));
  ASSIGN_OR_RETURN(Value * var,
                   b.Weight("moving_variance", {channels}, Fixed(InitKind::kOnes), 0, 0, /*trainable=*/false));
  Attrs attrs;
  attrs.SetFloat("epsilon", epsilon);
  attrs.SetFloat("momentum", momentum);
  return b.Emit("BatchNormalization", "BatchNormalization", {x, gamma, beta, mean, var}, attrs, true);
}

StatusOr<Value*> ExpandDropout(Builder& b, Graph& graph, const proto::Dropout& d, Value* x) {
  if (!(d.rate() >= 0.0f && d.rate() < 1.0f)) return b.Error("rate must be in [0, 1), got ", d.rate());
  std::vector<Value*> inputs = {x};
  if (d.rate() > 0.0f) {
    // The ratio is a hyperparameter, not a weight: a constant that training does not update.
    inputs.push_back(
        graph.AddConstant(b.name() + "/ratio", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{d.rate()})));
  }
  return b.Emit("Dropout", "Dropout", inputs, {}, true);
}

// input[..., begin:end, ...] along one axis after the batch axis.
StatusOr<Value*> ExpandSlice(Builder& b, const proto::Slice& s, Value* x) {
  const int64_t rank = static_cast<int64_t>(x->dims().size());
  const int64_t axis = s.axis() < 0 ? s.axis() + rank : s.axis();
  if (axis < 1 || axis >= rank) {
    return b.Error("axis ", s.axis(), " is not an axis after the batch axis of ", x->type().ToString());
  }
  const int64_t size = x->dims()[axis];
  const int64_t end = s.has_end() ? s.end() : size;
  if (s.begin() < 0 || end > size || s.begin() >= end) {
    return b.Error("begin ", s.begin(), " and end ", end, " must satisfy 0 <= begin < end <= ", size, " (axis ", axis,
                   " of ", x->type().ToString(), ")");
  }
  auto ints = [&](const std::string& suffix, int64_t v) {
    return b.Constant(suffix, Tensor::FromVector(proto::DT_INT64, {1}, std::vector<int64_t>{v}));
  };
  return b.Emit("Slice", "Slice", {x, ints("starts", s.begin()), ints("ends", end), ints("axes", axis)}, {}, true);
}

StatusOr<Value*> ExpandConcatenate(Builder& b, const proto::Concatenate& c, const std::vector<Value*>& inputs) {
  const int64_t rank = static_cast<int64_t>(inputs[0]->dims().size());
  const int64_t axis = c.has_axis() ? c.axis() : -1;
  if (axis < -rank || axis >= rank || axis == 0 || axis == -rank) {
    return b.Error("axis ", axis, " is not an axis after the batch axis of ", inputs[0]->type().ToString());
  }
  const int64_t a = axis < 0 ? axis + rank : axis;
  for (const Value* v : inputs) {
    bool fits = static_cast<int64_t>(v->dims().size()) == rank && v->dtype() == inputs[0]->dtype();
    for (int64_t i = 0; fits && i < rank; ++i) fits = i == a || v->dims()[i] == inputs[0]->dims()[i];
    if (!fits) {
      return b.Error("input '", v->name(), "' ", v->type().ToString(), " does not match '", inputs[0]->name(), "' ",
                     inputs[0]->type().ToString(), " outside axis ", axis);
    }
  }
  Attrs attrs;
  attrs.SetInt("axis", a);
  return b.Emit("Concat", "Concat", inputs, attrs, true);
}

// How many values a layer kind consumes: [min, max].
std::pair<int, int> InputArity(proto::Layer::KindCase kind) {
  if (kind == proto::Layer::kConcatenate) return {2, 64};
  if (kind == proto::Layer::kAttention) return {2, 3};
  return {1, 1};
}

}  // namespace

StatusOr<Value*> LayerExpander::Resolve(const Builder& b, const std::string& name) const {
  if (name == b.name()) return b.Error("input '", name, "' is the layer itself (a cycle)");
  Value* v = graph_.FindValue(name);
  if (!v) {
    // "dec/state_h" belongs to layer "dec".
    const std::string owner = name.substr(0, name.find('/'));
    if (all_layers_.count(owner) && !names_.count(owner)) {
      return b.Error("input '", name, "' comes from layer '", owner,
                     "', which is defined later (layers may only consume earlier ones: a cycle or a misordering)");
    }
    return b.Error("unknown input '", name, "' (not a graph input, nor an earlier layer or one of its values)");
  }
  if (!v->has_type()) return b.Error("its input '", name, "' has no declared type");
  return v;
}

Status LayerExpander::Expand(const proto::Layer& layer, const std::string& name) {
  const std::string kind = LayerKindName(layer);
  if (kind.empty()) {
    return InvalidArgument(
        "layer '", name,
        "': no layer kind set (dense, conv2d, max_pool2d, avg_pool2d, flatten, dropout, "
        "batch_norm, activation, embedding, simple_rnn, lstm, gru, bidirectional, slice, concatenate or "
        "attention)");
  }
  if (!names_.insert(name).second) {
    return InvalidArgument("layer '", name, "' (", kind, "): the name is used by an earlier layer");
  }
  Builder b(graph_, name, kind);
  std::vector<Value*> inputs;
  for (const std::string& in : layer.inputs()) {
    ASSIGN_OR_RETURN(Value * v, Resolve(b, in));
    inputs.push_back(v);
  }
  if (inputs.empty()) {
    if (!current_) return b.Error("the graph has no input to start from");
    if (!current_->has_type()) return b.Error("its input '", current_->name(), "' has no declared type");
    inputs.push_back(current_);
  }
  const auto [min_inputs, max_inputs] = InputArity(layer.kind_case());
  if (static_cast<int>(inputs.size()) < min_inputs || static_cast<int>(inputs.size()) > max_inputs) {
    return b.Error("takes ", min_inputs == max_inputs ? "" : "from ", min_inputs,
                   min_inputs == max_inputs ? "" : " to " + std::to_string(max_inputs), " input",
                   max_inputs == 1 ? "" : "s", ", got ", inputs.size());
  }
  std::vector<Value*> initial_state;
  for (const std::string& in : layer.initial_state()) {
    ASSIGN_OR_RETURN(Value * v, Resolve(b, in));
    initial_state.push_back(v);
  }
  const bool recurrent = layer.kind_case() == proto::Layer::kSimpleRnn || layer.kind_case() == proto::Layer::kLstm ||
                         layer.kind_case() == proto::Layer::kGru;
  if (!initial_state.empty() && !recurrent) return b.Error("initial_state applies to simple_rnn, lstm and gru only");
  Value* const x = inputs[0];
  StatusOr<Value*> out = Status::Ok();
  switch (layer.kind_case()) {
    case proto::Layer::kDense: out = ExpandDense(b, layer.dense(), x); break;
    case proto::Layer::kConv2D: out = ExpandConv2D(b, layer.conv2d(), x); break;
    case proto::Layer::kMaxPool2D: out = ExpandPool(b, layer.max_pool2d(), true, x); break;
    case proto::Layer::kAvgPool2D: out = ExpandPool(b, layer.avg_pool2d(), false, x); break;
    case proto::Layer::kFlatten: {
      Attrs attrs;
      attrs.SetInt("axis", 1);
      out = b.Emit("Flatten", "Flatten", {x}, attrs, true);
      break;
    }
    case proto::Layer::kDropout: out = ExpandDropout(b, graph_, layer.dropout(), x); break;
    case proto::Layer::kBatchNorm: out = ExpandBatchNorm(b, graph_, layer.batch_norm(), x); break;
    case proto::Layer::kActivation: {
      if (layer.activation().function().empty()) return b.Error("function is required (e.g. \"relu\")");
      auto act = ParseActivation(layer.activation().function());
      if (!act.ok()) return b.Wrap(act.status());
      // "linear" still produces a value named after the layer.
      out = act->op.empty() ? b.Emit("Identity", "Identity", {x}, {}, true)
                            : b.Emit(act->op, act->op, {x}, act->attrs, true);
      break;
    }
    case proto::Layer::kEmbedding: out = ExpandEmbedding(b, layer.embedding(), x); break;
    case proto::Layer::kSimpleRnn:
      out = ExpandRecurrent(b, layer.kind_case(), layer.simple_rnn(), x, initial_state);
      break;
    case proto::Layer::kLstm: out = ExpandRecurrent(b, layer.kind_case(), layer.lstm(), x, initial_state); break;
    case proto::Layer::kGru: out = ExpandRecurrent(b, layer.kind_case(), layer.gru(), x, initial_state); break;
    case proto::Layer::kBidirectional: out = ExpandBidirectional(b, layer.bidirectional(), x); break;
    case proto::Layer::kSlice: out = ExpandSlice(b, layer.slice(), x); break;
    case proto::Layer::kConcatenate: out = ExpandConcatenate(b, layer.concatenate(), inputs); break;
    case proto::Layer::kAttention: out = ExpandAttention(b, graph_, layer.attention(), inputs); break;
    case proto::Layer::KIND_NOT_SET: break;
  }
  if (!out.ok()) return out.status();
  current_ = *out;
  return Status::Ok();
}

}  // namespace kiln::text
