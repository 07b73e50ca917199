#include "compiler/greedy_decoder.h"

#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/pass.h"

namespace kiln {
namespace {

constexpr int64_t kOnnxFloat = 1;  // TensorProto.FLOAT, Cast's `to`

class DecoderBuilder {
 public:
  explicit DecoderBuilder(Graph& g) : g_(g) {}

  Value* Op(const std::string& op, const std::string& name, const std::vector<Value*>& inputs, Attrs attrs = {}) {
    return g_.AddNode(op, name, inputs, 1, std::move(attrs))->output(0);
  }
  Value* Float(const std::string& name, float v) {
    return g_.AddConstant("greedy/" + name, Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v}));
  }
  Value* Ints(const std::string& name, std::vector<int64_t> v) {
    const int64_t n = static_cast<int64_t>(v.size());
    return g_.AddConstant("greedy/" + name, Tensor::FromVector(proto::DT_INT64, {n}, std::move(v)));
  }
  // x[:, begin:end] of a rank-2 or x[:, begin:end, :] of a rank-3 value (axis 1).
  Value* Columns(const std::string& name, Value* x, int64_t begin, int64_t end) {
    return Op("Slice", name,
              {x, Ints(name + "_starts", {begin}), Ints(name + "_ends", {end}), Ints(name + "_axes", {1})});
  }

 private:
  Graph& g_;
};

// A copy with every value's shape at batch 1 (a loaded model's outputs may have none yet).
StatusOr<std::unique_ptr<Graph>> TypedAtBatchOne(const Graph& model) {
  std::unique_ptr<Graph> typed = model.Clone();
  PassOptions options;
  options.batch_size = 1;
  RETURN_IF_ERROR(RunPipeline(*typed, {{"resolve-symbolic-dims"}, {"infer-shapes"}}, options));
  return typed;
}

}  // namespace

StatusOr<int64_t> GreedyDecodingClasses(const Graph& model, const proto::GreedyDecoding& decoding) {
  if (model.inputs().size() != 1 || model.outputs().empty() || model.inputs()[0]->dims().size() != 2) {
    return InvalidArgument("greedy decoding needs a model with one [batch, length] input and an output");
  }
  const int64_t steps = model.inputs()[0]->dims()[1] - decoding.decoder_offset();
  ASSIGN_OR_RETURN(std::unique_ptr<Graph> typed, TypedAtBatchOne(model));
  int64_t per_sample = 1;
  for (int64_t d : typed->outputs()[0]->dims()) per_sample *= d;
  if (steps <= 0 || per_sample % steps != 0) {
    return InvalidArgument("greedy decoding: the output's ", per_sample, " values per sample are not ", steps,
                           " steps of classes");
  }
  return per_sample / steps;
}

StatusOr<std::unique_ptr<Graph>> BuildGreedyDecoder(const Graph& model, const proto::GreedyDecoding& decoding) {
  if (model.inputs().size() != 1 || model.outputs().empty()) {
    return InvalidArgument(
        "greedy decoding needs a model with one input ([encoder ids | decoder ids]) and an output, "
        "got ",
        model.inputs().size(), " inputs");
  }
  const Value* row = model.inputs()[0];
  if (row->dtype() != proto::DT_FLOAT || row->dims().size() != 2 || row->dims()[1] < 2) {
    return InvalidArgument("greedy decoding needs a float32 [batch, length] input row, got '", row->name(), "' ",
                           row->type().ToString());
  }
  const int64_t length = row->dims()[1], offset = decoding.decoder_offset();
  if (offset <= 0 || offset >= length) {
    return InvalidArgument("greedy decoding: decoder_offset ", offset, " must lie in [1, ", length - 1,
                           "] (the input row has ", length, " ids)");
  }
  const int64_t steps = length - offset;

  auto g = std::make_unique<Graph>();
  g->set_name(model.name() + "_greedy");
  DecoderBuilder b(*g);
  TensorType enc_type = row->type();
  enc_type.dims[1] = offset;
  Value* encoder_ids = g->AddInput("encoder_ids", enc_type);
  for (const auto& [axis, symbol] : row->symbolic_dims()) {
    if (axis == 0) encoder_ids->symbolic_dims().push_back({axis, symbol});
  }
  // Every constant of the model once, under its own name: the copies share the weights.
  std::unordered_map<const Value*, Value*> shared;
  for (const Value* c : model.constants()) {
    Value* v = g->AddConstant(c->name(), c->constant());
    v->set_parameter(c->is_parameter());
    shared[c] = v;
  }
  Value* zero = b.Float("zero", 0.0f);
  Value* one = b.Float("one", 1.0f);
  Value* pad = b.Float("pad", static_cast<float>(decoding.pad_token()));
  Value* stop = b.Float("stop", static_cast<float>(decoding.stop_token()));
  // [batch, 1] zeros and ones shaped by the batch of encoder_ids.
  Value* zeros = b.Op("Mul", "greedy/Zeros", {b.Columns("greedy/FirstId", encoder_ids, 0, 1), zero});
  Value* ones = b.Op("Add", "greedy/Ones", {zeros, one});
  std::vector<float> first_row(static_cast<size_t>(steps), static_cast<float>(decoding.pad_token()));
  first_row[0] = static_cast<float>(decoding.start_token());
  Value* first = g->AddConstant("greedy/first_decoder_ids", Tensor::FromVector(proto::DT_FLOAT, {1, steps}, first_row));
  Attrs axis1;
  axis1.SetInt("axis", 1);
  Value* tokens =
      b.Op("Concat", "greedy/Tokens_0", {encoder_ids, b.Op("MatMul", "greedy/FirstDecoderIds", {ones, first})}, axis1);
  Value* stopped = zeros;  // 1 once a sequence has chosen the stop token
  std::vector<Value*> chosen;
  // Per-step outputs over the encoder's positions ([batch, steps, offset], e.g. attention
  // weights): the decoder outputs step t of copy t, under the model output's name.
  std::vector<const Value*> per_position;
  if (model.outputs().size() > 1) {
    ASSIGN_OR_RETURN(std::unique_ptr<Graph> typed, TypedAtBatchOne(model));
    for (size_t k = 1; k < typed->outputs().size(); ++k) {
      const Dims& d = typed->outputs()[k]->dims();
      if (d.size() == 3 && d[1] == steps && d[2] == offset) per_position.push_back(model.outputs()[k]);
    }
  }
  std::vector<std::vector<Value*>> per_position_rows(per_position.size());
  for (int64_t t = 0; t < steps; ++t) {
    const std::string step = "step" + std::to_string(t) + "/";
    std::unordered_map<const Value*, Value*> map = shared;
    map[row] = tokens;
    for (const auto& node : model.nodes()) {
      std::vector<Value*> inputs;
      for (Value* in : node->inputs()) inputs.push_back(in ? map.at(in) : nullptr);
      std::vector<std::string> names;
      for (const Value* out : node->outputs()) names.push_back(step + out->name());
      Node* copy = g->AddNode(node->op_type(), step + node->name(), inputs, node->num_outputs(), node->attrs(), names);
      for (int i = 0; i < node->num_outputs(); ++i) map[node->output(i)] = copy->output(i);
    }
    for (size_t k = 0; k < per_position.size(); ++k) {
      per_position_rows[k].push_back(
          b.Columns(step + "greedy/" + per_position[k]->name(), map.at(per_position[k]), t, t + 1));
    }
    Value* out = map.at(model.outputs()[0]);
    Value* per_step = b.Op("Reshape", step + "greedy/PerStep", {out, b.Ints(step + "per_step_shape", {0, steps, -1})});
    Attrs argmax;
    argmax.SetInt("axis", 2);
    argmax.SetInt("keepdims", 0);
    Value* best = b.Op("ArgMax", step + "greedy/ArgMax", {b.Columns(step + "greedy/Step", per_step, t, t + 1)}, argmax);
    Attrs to_float;
    to_float.SetInt("to", kOnnxFloat);
    Value* token = b.Op("Cast", step + "greedy/Token", {best}, to_float);  // [batch, 1]
    // After the stop token: pad.
    Value* running = b.Op("Sub", step + "greedy/Running", {one, stopped});
    token = b.Op(
        "Add", step + "greedy/Chosen",
        {b.Op("Mul", step + "greedy/Kept", {token, running}), b.Op("Mul", step + "greedy/Padded", {stopped, pad})});
    chosen.push_back(token);
    Value* is_stop =
        b.Op("Cast", step + "greedy/IsStopFloat", {b.Op("Equal", step + "greedy/IsStop", {token, stop})}, to_float);
    stopped = b.Op("Add", step + "greedy/Stopped", {stopped, b.Op("Mul", step + "greedy/NewStop", {running, is_stop})});
    if (t + 1 == steps) break;
    // The next copy reads this token as its decoder input t + 1.
    std::vector<Value*> parts = {b.Columns(step + "greedy/Before", tokens, 0, offset + t + 1), token};
    if (offset + t + 2 < length) parts.push_back(b.Columns(step + "greedy/After", tokens, offset + t + 2, length));
    tokens = b.Op("Concat", "step" + std::to_string(t + 1) + "/greedy/Tokens", parts, axis1);
  }
  Node* decoded = g->AddNode("Concat", "greedy/Decoded", chosen, 1, axis1, {"decoded"});
  g->AddOutput(decoded->output(0));
  for (size_t k = 0; k < per_position.size(); ++k) {
    const std::string& name = per_position[k]->name();
    g->AddOutput(g->AddNode("Concat", "greedy/" + name, per_position_rows[k], 1, axis1, {name})->output(0));
  }
  return g;
}

}  // namespace kiln
