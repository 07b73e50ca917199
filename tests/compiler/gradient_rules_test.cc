// Every gradient rule checked by finite differences: one tiny float32 model per
// rule and configuration, run through RunGradcheck (float64, reference kernels,
// central differences with h = 1e-4) against autodiff. A rule without a case
// fails GradientRulesCoverage. KILN_GRADCHECK_VERBOSE=1 prints every parameter's errors.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "compiler/autodiff.h"
#include "compiler/gradcheck.h"
#include "compiler/training.h"
#include "ir/core/ops/recurrent.h"
#include "ir/graph.h"
#include "tests/test_util.h"

namespace kiln {
namespace {

// Builds a model graph: float32 inputs, seeded random parameters, constants.
class ModelBuilder {
 public:
  explicit ModelBuilder(uint64_t seed) : graph_(std::make_unique<Graph>()), rng_(seed) {}

  Graph& graph() { return *graph_; }
  std::unique_ptr<Graph> Take() { return std::move(graph_); }

  // A float32 model input (gradcheck fills it with standard normal values).
  Value* Input(const Dims& dims) {
    return graph_->AddInput("x" + std::to_string(num_inputs_++), TensorType{proto::DT_FLOAT, dims});
  }
  // A trainable parameter with values uniform in [lo, hi).
  Value* Param(const Dims& dims, float lo = -1.0f, float hi = 1.0f) {
    Value* v = graph_->AddConstant("p" + std::to_string(num_params_++), Random(dims, lo, hi));
    v->set_parameter(true);
    return v;
  }
  // A parameter with |value| in [lo, hi) and a random sign: away from the kink at 0.
  Value* ParamAwayFromZero(const Dims& dims, float lo = 0.2f, float hi = 1.0f) {
    Tensor t = Random(dims, lo, hi);
    std::bernoulli_distribution flip(0.5);
    for (int64_t i = 0; i < t.num_elements(); ++i) {
      if (flip(rng_)) t.mutable_data_as<float>()[i] *= -1.0f;
    }
    Value* v = graph_->AddConstant("p" + std::to_string(num_params_++), std::move(t));
    v->set_parameter(true);
    return v;
  }
  // A fixed (non-trainable) float constant.
  Value* Const(const Dims& dims, float lo = -1.0f, float hi = 1.0f) {
    return graph_->AddConstant("c", Random(dims, lo, hi));
  }
  Value* Scalar(float v) {
    return graph_->AddConstant("c", Tensor::FromVector(proto::DT_FLOAT, {}, std::vector<float>{v}));
  }
  Value* Ints(const std::vector<int64_t>& v) {
    return graph_->AddConstant("ints", Tensor::FromVector(proto::DT_INT64, {static_cast<int64_t>(v.size())}, v));
  }
  Value* Ints(const Dims& dims, const std::vector<int64_t>& v) {
    return graph_->AddConstant("ints", Tensor::FromVector(proto::DT_INT64, dims, v));
  }

  Node* AddNode(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs = {}, int num_outputs = 1) {
    return graph_->AddNode(op, op, inputs, num_outputs, std::move(attrs));
  }
  Value* Op(const std::string& op, const std::vector<Value*>& inputs, Attrs attrs = {}) {
    return AddNode(op, inputs, std::move(attrs))->output(0);
  }
  // Data made strictly positive: x * x + 0.5 (no parameter on that path).
  Value* Positive(Value* x) { return Op("Add", {Op("Mul", {x, x}), Scalar(0.5f)}); }
  void Output(Value* v) { graph_->AddOutput(v); }

 private:
  Tensor Random(const Dims& dims, float lo, float hi) {
    Tensor t(proto::DT_FLOAT, dims);
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t i = 0; i < t.num_elements(); ++i) t.mutable_data_as<float>()[i] = dist(rng_);
    return t;
  }

  std::unique_ptr<Graph> graph_;
  std::mt19937_64 rng_;
  int num_inputs_ = 0;
  int num_params_ = 0;
};

Attrs A() { return Attrs{}; }
Attrs WithInt(Attrs a, const std::string& n, int64_t v) {
  a.SetInt(n, v);
  return a;
}
Attrs WithFloat(Attrs a, const std::string& n, float v) {
  a.SetFloat(n, v);
  return a;
}
Attrs WithInts(Attrs a, const std::string& n, const std::vector<int64_t>& v) {
  a.SetInts(n, v);
  return a;
}

struct RuleCase {
  std::string name;
  // The ops whose gradient rules this case exercises (they must appear in the loss graph).
  std::vector<std::string> covers;
  std::function<void(ModelBuilder&)> build;
  std::string loss = "mse";
  int64_t batch_size = 2;
  bool training_mode = true;
  double tolerance = 1e-5;  // max relative error per parameter; loosen only with a written reason here
};

using Build = std::function<void(ModelBuilder&)>;

// ---------------------------------------------------------------------------
// Elementwise arithmetic with numpy broadcasting.

// Y = op(data, param) or op(param, data), broadcasting whichever is smaller.
// `positive_first` / `positive_second` keep an operand > 0 (Div denominators, Pow bases).
Build Binary(const std::string& op, const Dims& x_dims, const Dims& p_dims, bool param_first, bool positive_first,
             bool positive_second) {
  return [=](ModelBuilder& b) {
    Value* x = b.Input(x_dims);
    const bool positive_param = param_first ? positive_first : positive_second;
    const bool positive_data = param_first ? positive_second : positive_first;
    Value* p = positive_param ? b.Param(p_dims, 0.5f, 1.5f) : b.Param(p_dims);
    if (positive_data) x = b.Positive(x);
    b.Output(param_first ? b.Op(op, {p, x}) : b.Op(op, {x, p}));
  };
}

void AddBinaryCases(std::vector<RuleCase>& cases) {
  struct OpInfo {
    const char* op;
    bool positive_first, positive_second;
  };
  const OpInfo ops[] = {
      {"Add", false, false}, {"Sub", false, false}, {"Mul", false, false}, {"Div", false, true}, {"Pow", true, false}};
  struct Shapes {
    const char* name;
    Dims x, p;
  };
  const Shapes shapes[] = {
      {"ParamBroadcastToData", {2, 3, 4}, {3, 1}},
      {"DataBroadcastToParam", {2, 1, 4}, {2, 3, 4}},
      {"BothBroadcast", {2, 1, 4}, {3, 1}},
  };
  for (const OpInfo& o : ops) {
    for (const Shapes& s : shapes) {
      for (bool param_first : {false, true}) {
        cases.push_back({std::string(o.op) + "_" + s.name + (param_first ? "_ParamFirst" : "_ParamSecond"),
                         {o.op},
                         Binary(o.op, s.x, s.p, param_first, o.positive_first, o.positive_second)});
      }
    }
  }
  cases.push_back({"Sum_Variadic", {"Sum"}, [](ModelBuilder& b) {
                     Value* x = b.Input({2, 3, 4});
                     b.Output(b.Op("Sum", {b.Param({3, 1}), x, b.Param({4}), b.Param({2, 3, 4})}));
                   }});
  cases.push_back({"Sum_SameParamTwice", {"Sum"}, [](ModelBuilder& b) {
                     Value* p = b.Param({3, 4});
                     b.Output(b.Op("Sum", {p, b.Input({2, 3, 4}), p}));
                   }});
  cases.push_back({"Mean_Variadic", {"Mean"}, [](ModelBuilder& b) {
                     Value* x = b.Input({2, 3, 4});
                     b.Output(b.Op("Mean", {b.Param({3, 1}), x, b.Param({2, 3, 4})}));
                   }});
  // Einsum's rule (an Einsum per operand): the data operand first where its leading dim is the batch.
  struct EinsumCase {
    const char* equation;
    Dims first, second;
    bool param_first;
  };
  for (const EinsumCase& e : {EinsumCase{"bij,bjk->bik", {2, 3, 4}, {2, 4, 2}, true},
                              EinsumCase{"ij,jk", {2, 3}, {3, 4}, false}, EinsumCase{"i,j->ij", {2}, {3}, false}}) {
    cases.push_back({std::string("Einsum_") + e.equation, {"Einsum"}, [e](ModelBuilder& b) {
                       Attrs a;
                       a.SetString("equation", e.equation);
                       Value* first = e.param_first ? b.Param(e.first) : b.Input(e.first);
                       Value* second = e.param_first ? b.Input(e.second) : b.Param(e.second);
                       b.Output(b.Op("Einsum", {first, second}, a));
                     }});
  }
  cases.push_back({"Einsum_Transpose", {"Einsum"}, [](ModelBuilder& b) {
                     Attrs a;
                     a.SetString("equation", "ij->ji");
                     b.Output(b.Op("Mul", {b.Op("Einsum", {b.Param({3, 2})}, a), b.Input({2, 3})}));
                   }});
  cases.push_back({"Neg", {"Neg"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Mul", {b.Op("Neg", {b.Param({2, 3})}), b.Input({2, 3})}));
                   }});
  cases.push_back({"Identity", {"Identity"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Mul", {b.Op("Identity", {b.Param({2, 3})}), b.Input({2, 3})}));
                   }});
}

// ---------------------------------------------------------------------------
// Unary activations: Y = op(x + p), or op(x*x + p) with p > 0 for Log/Sqrt.

Build Unary(const std::string& op, Attrs attrs = {}, bool positive = false) {
  return [=](ModelBuilder& b) {
    Value* x = b.Input({2, 3, 4});
    Value* in = positive ? b.Op("Add", {b.Op("Mul", {x, x}), b.Param({2, 3, 4}, 0.5f, 1.5f)})
                         : b.Op("Add", {x, b.ParamAwayFromZero({2, 3, 4})});
    b.Output(b.Op(op, {in}, attrs));
  };
}

void AddUnaryCases(std::vector<RuleCase>& cases) {
  for (const char* op : {"Relu", "Softplus", "Softsign", "Mish", "Erf", "Abs", "Sigmoid", "Tanh", "Exp", "HardSigmoid",
                         "HardSwish", "ThresholdedRelu", "Shrink", "Celu"}) {
    cases.push_back({op, {op}, Unary(op)});
  }
  cases.push_back({"LeakyRelu_DefaultAlpha", {"LeakyRelu"}, Unary("LeakyRelu")});
  cases.push_back({"LeakyRelu_Alpha", {"LeakyRelu"}, Unary("LeakyRelu", WithFloat(A(), "alpha", 0.2f))});
  cases.push_back({"Elu_DefaultAlpha", {"Elu"}, Unary("Elu")});
  cases.push_back({"Elu_Alpha", {"Elu"}, Unary("Elu", WithFloat(A(), "alpha", 0.7f))});
  cases.push_back({"Selu_Default", {"Selu"}, Unary("Selu")});
  cases.push_back(
      {"Selu_AlphaGamma", {"Selu"}, Unary("Selu", WithFloat(WithFloat(A(), "alpha", 1.2f), "gamma", 0.8f))});
  for (const char* op : {"Sin", "Cos", "Atan", "Sinh", "Cosh", "Asinh", "Gelu", "GeluTanh", "Swish"}) {
    cases.push_back({op, {op}, Unary(op)});
  }
  cases.push_back({"Swish_Alpha", {"Swish"}, Unary("Swish", WithFloat(A(), "alpha", 0.6f))});
  // Inside the domain: op(0.8 tanh(x + p)), op(1.2 tanh(x + p)) for Tan, op((x + p)^2 + 1.5) for Acosh.
  const auto bounded = [](const char* op, float scale) {
    return [=](ModelBuilder& b) {
      Value* t = b.Op("Tanh", {b.Op("Add", {b.Input({2, 3, 4}), b.Param({2, 3, 4})})});
      b.Output(b.Op(op, {b.Op("Mul", {t, b.Scalar(scale)})}));
    };
  };
  for (const char* op : {"Asin", "Acos", "Atanh"}) cases.push_back({op, {op}, bounded(op, 0.8f)});
  cases.push_back({"Tan", {"Tan"}, bounded("Tan", 1.2f)});
  cases.push_back({"Acosh", {"Acosh"}, [](ModelBuilder& b) {
                     Value* y = b.Op("Add", {b.Input({2, 3, 4}), b.Param({2, 3, 4})});
                     b.Output(b.Op("Acosh", {b.Op("Add", {b.Op("Mul", {y, y}), b.Scalar(1.5f)})}));
                   }});
  // Piecewise constant: op(y) * y with y = x + p, so the gradient is op(y) (op's own is 0).
  for (const char* op : {"Floor", "Ceil", "Round"}) {
    cases.push_back({op, {op}, [=](ModelBuilder& b) {
                       Value* y = b.Op("Add", {b.Op("Mul", {b.Input({2, 3, 4}), b.Scalar(2.0f)}), b.Param({2, 3, 4})});
                       b.Output(b.Op("Mul", {b.Op(op, {y}), y}));
                     }});
  }
  cases.push_back({"Log", {"Log"}, Unary("Log", {}, true)});
  cases.push_back({"Sqrt", {"Sqrt"}, Unary("Sqrt", {}, true)});
  cases.push_back({"Reciprocal", {"Reciprocal"}, Unary("Reciprocal", {}, true)});
  // Where with a constant mask; X broadcasts.
  cases.push_back({"Where", {"Where"}, [](ModelBuilder& b) {
                     Value* mask = b.Op("Less", {b.Const({2, 3, 4}, -1.0f, 1.0f), b.Const({}, 0.0f, 0.0f)});
                     Value* x = b.Op("Add", {b.Input({2, 3, 4}), b.Param({2, 3, 4})});
                     b.Output(b.Op("Where", {mask, x, b.Param({4})}));
                   }});
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int64_t axis : {1, -1}) {
      // The model does not end in the loss's activation with mse, so the rule itself is used.
      cases.push_back(
          {std::string(op) + (axis == 1 ? "_Axis1" : "_AxisMinus1"), {op}, [=](ModelBuilder& b) {
             Value* y = b.Op(op, {b.Op("Add", {b.Input({2, 3, 4}), b.Param({2, 3, 4})})}, WithInt(A(), "axis", axis));
             b.Output(b.Op("Mul", {y, b.Const({2, 3, 4}, 0.5f, 2.0f)}));
           }});
    }
  }
}

// ---------------------------------------------------------------------------
// Linear algebra.

void AddLinalgCases(std::vector<RuleCase>& cases) {
  // Y = alpha op(A) op(B) + beta C with M = 2, K = 3, N = 4.
  for (int ta = 0; ta < 2; ++ta) {
    for (int tb = 0; tb < 2; ++tb) {
      const std::string name = "Gemm_TransA" + std::to_string(ta) + "_TransB" + std::to_string(tb);
      cases.push_back({name, {"Gemm"}, [=](ModelBuilder& b) {
                         Value* x = b.Input({2, 4});
                         Value* a = b.Param(ta ? Dims{3, 2} : Dims{2, 3});
                         Value* bm = b.Param(tb ? Dims{4, 3} : Dims{3, 4});
                         Value* c = b.Param({4});  // broadcast over rows
                         Attrs at = WithFloat(
                             WithFloat(WithInt(WithInt(A(), "transA", ta), "transB", tb), "alpha", 0.5f), "beta", 1.5f);
                         b.Output(b.Op("Mul", {b.Op("Gemm", {a, bm, c}, at), x}));
                       }});
    }
  }
  cases.push_back(
      {"Gemm_DataA_ColumnC", {"Gemm"}, [](ModelBuilder& b) {
         // A is data (the usual dense layer), C broadcast over columns, default alpha/beta.
         Value* y = b.Op("Gemm", {b.Input({2, 3}), b.Param({4, 3}), b.Param({2, 1})}, WithInt(A(), "transB", 1));
         b.Output(y);
       }});
  cases.push_back({"Gemm_NoC", {"Gemm"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Gemm", {b.Input({2, 3}), b.Param({3, 4})}, WithFloat(A(), "alpha", -0.75f)));
                   }});

  struct MatMulCase {
    const char* name;
    Dims a, b;
    bool a_param, b_param;
  };
  const MatMulCase mm[] = {
      {"MatMul_2D", {2, 3}, {3, 4}, true, true},
      {"MatMul_3Dx2D", {2, 3, 4}, {4, 5}, true, true},
      {"MatMul_2Dx3D", {3, 4}, {2, 4, 5}, true, true},
      {"MatMul_3Dx3D_BroadcastBatch", {2, 3, 4}, {1, 4, 5}, true, true},
      {"MatMul_4Dx3D_BroadcastBatch", {2, 1, 3, 4}, {3, 4, 2}, true, true},
      {"MatMul_1Dx2D", {4}, {4, 3}, true, true},
      {"MatMul_2Dx1D", {3, 4}, {4}, true, true},
      {"MatMul_3Dx1D", {2, 3, 4}, {4}, true, true},
      {"MatMul_1Dx1D", {4}, {4}, true, true},
  };
  for (const MatMulCase& m : mm) {
    cases.push_back({m.name, {"MatMul"}, [m](ModelBuilder& b) {
                       Value* y = b.Op("MatMul", {b.Param(m.a), b.Param(m.b)});
                       b.Output(y);
                     }});
  }
  cases.push_back({"MatMul_DataTimesWeight", {"MatMul"}, [](ModelBuilder& b) {
                     b.Output(b.Op("MatMul", {b.Input({2, 3, 4}), b.Param({4, 5})}));
                   }});
}

// ---------------------------------------------------------------------------
// Convolution and pooling. A parameter in front of the op (x + p, p without the
// batch dim) checks the gradient with respect to the op's input as well.

Value* DataPlusParam(ModelBuilder& b, const Dims& dims) {
  Dims p_dims = dims;
  p_dims[0] = 1;
  return b.Op("Add", {b.Input(dims), b.ParamAwayFromZero(p_dims, 0.0f, 1.0f)});
}

void AddConvCases(std::vector<RuleCase>& cases) {
  cases.push_back({"Conv_1D_StridePadsDilationBias", {"Conv"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 2, 9});
                     Attrs a = WithInts(WithInts(WithInts(A(), "strides", {2}), "pads", {1, 2}), "dilations", {2});
                     a.SetInts("kernel_shape", {3});
                     b.Output(b.Op("Conv", {x, b.Param({3, 2, 3}), b.Param({3})}, a));
                   }});
  cases.push_back({"Conv_2D_Plain", {"Conv"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 2, 5, 5});
                     b.Output(b.Op("Conv", {x, b.Param({3, 2, 3, 3})}));
                   }});
  cases.push_back(
      {"Conv_2D_StridePadsDilationGroupsBias", {"Conv"}, [](ModelBuilder& b) {
         Value* x = DataPlusParam(b, {2, 4, 7, 6});
         Attrs a = WithInts(WithInts(WithInts(A(), "strides", {2, 1}), "pads", {1, 0, 2, 1}), "dilations", {1, 2});
         a.SetInt("group", 2);
         b.Output(b.Op("Conv", {x, b.Param({6, 2, 3, 2}), b.Param({6})}, a));
       }});
  cases.push_back({"Conv_2D_Depthwise", {"Conv"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 3, 5, 5});
                     Attrs a = WithInts(WithInt(A(), "group", 3), "pads", {1, 1, 1, 1});
                     b.Output(b.Op("Conv", {x, b.Param({3, 1, 3, 3}), b.Param({3})}, a));
                   }});
  cases.push_back({"ConvTranspose_2D_StridePadsBias", {"ConvTranspose"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 3, 3, 4});
                     Attrs a = WithInts(WithInts(A(), "strides", {2, 2}), "pads", {1, 0, 1, 1});
                     b.Output(b.Op("ConvTranspose", {x, b.Param({3, 2, 3, 3}), b.Param({2})}, a));
                   }});
  cases.push_back({"ConvTranspose_1D_Plain", {"ConvTranspose"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 2, 5});
                     b.Output(b.Op("ConvTranspose", {x, b.Param({2, 3, 2})}));
                   }});
  cases.push_back({"ConvTranspose_2D_Groups", {"ConvTranspose"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 4, 3, 3});
                     Attrs a = WithInts(WithInt(A(), "group", 2), "strides", {2, 1});
                     b.Output(b.Op("ConvTranspose", {x, b.Param({4, 1, 2, 3}), b.Param({2})}, a));
                   }});

  cases.push_back(
      {"MaxPool_StridePads", {"MaxPool"}, [](ModelBuilder& b) {
         Value* x = DataPlusParam(b, {2, 2, 5, 5});
         Attrs a = WithInts(WithInts(WithInts(A(), "kernel_shape", {3, 3}), "strides", {2, 2}), "pads", {1, 1, 1, 1});
         b.Output(b.Op("MaxPool", {x}, a));
       }});
  cases.push_back({"MaxPool_Overlapping_1D", {"MaxPool"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 3, 8});
                     b.Output(b.Op("MaxPool", {x}, WithInts(A(), "kernel_shape", {3})));
                   }});
  for (int include : {0, 1}) {
    cases.push_back(
        {"AveragePool_Pads_CountIncludePad" + std::to_string(include), {"AveragePool"}, [include](ModelBuilder& b) {
           Value* x = DataPlusParam(b, {2, 2, 5, 6});
           Attrs a = WithInts(WithInts(WithInts(A(), "kernel_shape", {3, 2}), "strides", {2, 2}), "pads", {1, 0, 1, 1});
           a.SetInt("count_include_pad", include);
           b.Output(b.Op("AveragePool", {x}, a));
         }});
  }
  cases.push_back({"AveragePool_Dilations", {"AveragePool"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 2, 6, 7});
                     Attrs a = WithInts(WithInts(A(), "kernel_shape", {2, 3}), "dilations", {2, 2});
                     b.Output(b.Op("AveragePool", {x}, WithInts(a, "pads", {1, 0, 0, 1})));
                   }});
  cases.push_back({"GlobalAveragePool", {"GlobalAveragePool"}, [](ModelBuilder& b) {
                     b.Output(b.Op("GlobalAveragePool", {DataPlusParam(b, {2, 3, 4, 5})}));
                   }});
}

// ---------------------------------------------------------------------------
// Normalization and dropout.

// x * p -> BatchNormalization(scale, bias params; statistics constants) -> * c.
Build BatchNorm(const Dims& dims) {
  return [=](ModelBuilder& b) {
    const int64_t c = dims[1];
    Dims p_dims = dims;
    p_dims[0] = 1;
    Value* x = b.Op("Mul", {b.Input(dims), b.Param(p_dims, 0.5f, 1.5f)});
    Value* mean = b.Const({c}, -0.5f, 0.5f);
    Value* var = b.Const({c}, 0.5f, 1.5f);
    Value* y = b.AddNode("BatchNormalization", {x, b.Param({c}, 0.5f, 1.5f), b.Param({c}), mean, var},
                         WithFloat(A(), "epsilon", 1e-3f))
                   ->output(0);
    // Without the fixed weights, mse of a batch-normalized output hardly depends on x.
    b.Output(b.Op("Mul", {y, b.Const(dims, 0.5f, 2.0f)}));
  };
}

void AddNormalizationCases(std::vector<RuleCase>& cases) {
  // Training mode (BatchNormTraining): batch statistics, so batches of 4 to keep the
  // normalized values from being ±1 as with 2 samples.
  RuleCase bn2{"BatchNormalization_Training_2D", {"BatchNormTraining"}, BatchNorm({4, 3})};
  bn2.batch_size = 4;
  cases.push_back(bn2);
  RuleCase bn4{"BatchNormalization_Training_4D", {"BatchNormTraining"}, BatchNorm({2, 3, 2, 3})};
  cases.push_back(bn4);
  RuleCase bn_inf{"BatchNormalization_Inference_4D", {"BatchNormalization"}, BatchNorm({2, 3, 2, 3})};
  bn_inf.training_mode = false;
  cases.push_back(bn_inf);
  RuleCase bn_inf2{"BatchNormalization_Inference_2D", {"BatchNormalization"}, BatchNorm({4, 3})};
  bn_inf2.training_mode = false;
  cases.push_back(bn_inf2);

  // LayerNormalization: over the last dim (Scale and B per feature) and over the last two
  // (axis 1 of a 3-D input, no B; Scale broadcast from one dim), with the output weighted.
  cases.push_back({"LayerNormalization_LastAxis", {"LayerNormalization"}, [](ModelBuilder& b) {
                     Value* x = b.Op("Mul", {b.Input({2, 3, 5}), b.Param({3, 5}, 0.5f, 1.5f)});
                     Value* y = b.Op("LayerNormalization", {x, b.Param({5}, 0.5f, 1.5f), b.Param({5})},
                                     WithFloat(A(), "epsilon", 1e-3f));
                     b.Output(b.Op("Mul", {y, b.Const({2, 3, 5}, 0.5f, 2.0f)}));
                   }});
  cases.push_back({"LayerNormalization_Axis1_NoBias", {"LayerNormalization"}, [](ModelBuilder& b) {
                     Value* x = b.Op("Mul", {b.Input({2, 3, 4}), b.Param({3, 4}, 0.5f, 1.5f)});
                     Value* y = b.Op("LayerNormalization", {x, b.Param({4}, 0.5f, 1.5f)}, WithInt(A(), "axis", 1));
                     b.Output(b.Op("Mul", {y, b.Const({2, 3, 4}, 0.5f, 2.0f)}));
                   }});

  auto dropout = [](ModelBuilder& b) {
    Value* x = b.Op("Mul", {b.Input({2, 5, 6}), b.Param({5, 6})});
    b.Output(b.AddNode("Dropout", {x, b.Scalar(0.3f)})->output(0));
  };
  cases.push_back({"Dropout_Training_Ratio0.3", {"DropoutTraining"}, dropout});
  RuleCase drop_inf{"Dropout_Inference", {"Dropout"}, dropout};
  drop_inf.training_mode = false;
  cases.push_back(drop_inf);
}

// ---------------------------------------------------------------------------
// Shape and data movement. Each moves (x * p) around; the mse target is random,
// so dY differs per element and a misplaced gradient shows.

Value* Scaled(ModelBuilder& b, const Dims& dims) { return b.Op("Mul", {b.Input(dims), b.Param(dims)}); }

void AddShapeCases(std::vector<RuleCase>& cases) {
  cases.push_back({"Flatten_Axis2", {"Flatten"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Flatten", {Scaled(b, {2, 3, 2, 2})}, WithInt(A(), "axis", 2)));
                   }});
  cases.push_back({"Reshape", {"Reshape"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Reshape", {Scaled(b, {2, 3, 4}), b.Ints({4, -1})}));
                   }});
  cases.push_back({"Squeeze", {"Squeeze"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Squeeze", {Scaled(b, {2, 1, 3, 1}), b.Ints({1, -1})}));
                   }});
  cases.push_back({"Unsqueeze", {"Unsqueeze"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Unsqueeze", {Scaled(b, {2, 3}), b.Ints({0, 3})}));
                   }});
  cases.push_back({"Transpose_Perm", {"Transpose"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Transpose", {Scaled(b, {2, 3, 4})}, WithInts(A(), "perm", {1, 2, 0})));
                   }});
  cases.push_back({"Transpose_DefaultPerm", {"Transpose"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Transpose", {Scaled(b, {2, 3, 4})}));
                   }});
  cases.push_back({"Concat_Axis1_ThreeInputs", {"Concat"}, [](ModelBuilder& b) {
                     Value* x = b.Input({2, 2, 3});
                     b.Output(b.Op("Concat", {b.Param({2, 3, 3}), x, Scaled(b, {2, 1, 3})}, WithInt(A(), "axis", 1)));
                   }});
  cases.push_back(
      {"Split_UnusedOutputs", {"Split", "Concat"}, [](ModelBuilder& b) {
         Node* s = b.AddNode("Split", {Scaled(b, {2, 6, 3}), b.Ints({2, 3, 1})}, WithInt(A(), "axis", 1), 3);
         b.Output(b.Op("Concat", {s->output(2), s->output(0)}, WithInt(A(), "axis", 1)));
       }});
  cases.push_back({"Split_EqualParts_LastAxis", {"Split"}, [](ModelBuilder& b) {
                     Node* s = b.AddNode("Split", {Scaled(b, {2, 3, 4})}, WithInt(A(), "axis", -1), 2);
                     b.Output(s->output(1));
                   }});
  cases.push_back({"Slice_StepsNegativeIndices", {"Slice"}, [](ModelBuilder& b) {
                     // axis 1: 7 downto 1 by -2 -> {7, 5, 3, 1}... of 8; axis 2: -4..end by 2.
                     Value* y = b.Op("Slice", {Scaled(b, {2, 8, 6}), b.Ints({-1, -4}), b.Ints({0, 100}), b.Ints({1, 2}),
                                               b.Ints({-2, 2})});
                     b.Output(y);
                   }});
  cases.push_back({"Slice_DefaultAxes", {"Slice"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Slice", {Scaled(b, {2, 5}), b.Ints({0, 1}), b.Ints({1, -1})}));
                   }});
  cases.push_back({"Gather_Axis0_RepeatedIndices", {"Gather"}, [](ModelBuilder& b) {
                     Value* g = b.Op("Gather", {b.Param({5, 3}), b.Ints({2, 2}, {0, 3, -1, 0})});
                     b.Output(b.Op("Mul", {g, b.Input({2, 2, 3})}));
                   }});
  cases.push_back({"Gather_Axis1", {"Gather"}, [](ModelBuilder& b) {
                     Value* g = b.Op("Gather", {b.Param({3, 5}), b.Ints({1, -1, 1, 2})}, WithInt(A(), "axis", 1));
                     b.Output(b.Op("Mul", {g, b.Input({2, 3, 4})}));
                   }});
  cases.push_back({"Pad_Constant", {"Pad"}, [](ModelBuilder& b) {
                     Value* y = b.Op("Pad", {Scaled(b, {2, 3, 4}), b.Ints({0, 1, 2, 0, 2, 1}), b.Scalar(0.25f)});
                     b.Output(y);
                   }});
  for (int keep : {0, 1}) {
    cases.push_back(
        {"ReduceSum_Axes_Keepdims" + std::to_string(keep), {"ReduceSum"}, [keep](ModelBuilder& b) {
           b.Output(b.Op("ReduceSum", {Scaled(b, {2, 3, 4}), b.Ints({-1, 1})}, WithInt(A(), "keepdims", keep)));
         }});
  }
  cases.push_back({"ReduceSum_AllAxes", {"ReduceSum"}, [](ModelBuilder& b) {
                     b.Output(b.Op("ReduceSum", {Scaled(b, {2, 3})}, WithInt(A(), "keepdims", 0)));
                   }});
  for (int keep : {0, 1}) {
    cases.push_back(
        {"ReduceMean_Keepdims" + std::to_string(keep), {"ReduceMean"}, [keep](ModelBuilder& b) {
           b.Output(b.Op("ReduceMean", {Scaled(b, {2, 3, 4})}, WithInt(WithInts(A(), "axes", {1}), "keepdims", keep)));
         }});
    cases.push_back({"ReduceMax_Keepdims" + std::to_string(keep), {"ReduceMax"}, [keep](ModelBuilder& b) {
                       b.Output(b.Op("ReduceMax", {Scaled(b, {2, 3, 4})},
                                     WithInt(WithInts(A(), "axes", {0, 2}), "keepdims", keep)));
                     }});
  }
  cases.push_back({"ReduceMean_AllAxes", {"ReduceMean"}, [](ModelBuilder& b) {
                     b.Output(b.Op("ReduceMean", {Scaled(b, {2, 3})}));
                   }});
  cases.push_back({"Expand", {"Expand"}, [](ModelBuilder& b) {
                     Value* y = b.Op("Expand", {b.Param({3, 1}), b.Ints({2, 3, 4})});
                     b.Output(b.Op("Mul", {y, b.Input({2, 3, 4})}));
                   }});
  cases.push_back({"Cast_FloatToFloat", {"Cast"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Cast", {Scaled(b, {2, 3})}, WithInt(A(), "to", 1)));
                   }});
}

// ---------------------------------------------------------------------------
// Losses: a dense layer in front of each.

Value* Dense(ModelBuilder& b, int64_t in, int64_t out) {
  return b.Op("Gemm", {b.Input({2, in}), b.Param({in, out}), b.Param({out})});
}

void AddLossCases(std::vector<RuleCase>& cases) {
  for (const char* act : {"Softmax", "LogSoftmax"}) {
    for (const char* loss : {"sparse_categorical_crossentropy", "categorical_crossentropy"}) {
      const std::string name =
          std::string("SoftmaxCrossEntropy_") + (loss[0] == 's' ? "Sparse" : "Dense") + "_From" + act;
      cases.push_back(
          {name, {"SoftmaxCrossEntropy"}, [=](ModelBuilder& b) { b.Output(b.Op(act, {Dense(b, 3, 4)})); }, loss});
    }
  }
  for (const char* loss : {"sparse_categorical_crossentropy", "categorical_crossentropy"}) {
    // Softmax then Identity: the model does not end in Softmax, so the loss takes probabilities.
    const std::string name = std::string("CrossEntropy_") + (loss[0] == 's' ? "Sparse" : "Dense");
    cases.push_back({name,
                     {"CrossEntropy", "Softmax"},
                     [](ModelBuilder& b) { b.Output(b.Op("Identity", {b.Op("Softmax", {Dense(b, 3, 4)})})); },
                     loss});
  }
  cases.push_back({"SigmoidCrossEntropy",
                   {"SigmoidCrossEntropy"},
                   [](ModelBuilder& b) { b.Output(b.Op("Sigmoid", {Dense(b, 3, 4)})); },
                   "binary_crossentropy"});
  cases.push_back({"BinaryCrossEntropy",
                   {"BinaryCrossEntropy", "Sigmoid"},
                   [](ModelBuilder& b) { b.Output(b.Op("Identity", {b.Op("Sigmoid", {Dense(b, 3, 4)})})); },
                   "binary_crossentropy"});
  cases.push_back(
      {"MeanSquaredError_Mean", {"MeanSquaredError"}, [](ModelBuilder& b) { b.Output(Dense(b, 3, 4)); }, "mse"});
  cases.push_back({"MeanSquaredError_HalfSum",
                   {"MeanSquaredError"},
                   [](ModelBuilder& b) { b.Output(Dense(b, 3, 4)); },
                   "half_sse"});
}

// ---------------------------------------------------------------------------
// Compositions: a parameter used twice (gradients summed) and a small network.

void AddCompositionCases(std::vector<RuleCase>& cases) {
  cases.push_back({"Mlp_ReluSoftmax",
                   {"Gemm", "Relu", "Add"},
                   [](ModelBuilder& b) {
                     Value* h = b.Op("Relu", {b.Op("Add", {Dense(b, 3, 5), b.ParamAwayFromZero({5}, 0.1f, 0.5f)})});
                     b.Output(b.Op("Softmax", {b.Op("Gemm", {h, b.Param({5, 4}), b.Param({4})})}));
                   },
                   "sparse_categorical_crossentropy"});
  cases.push_back({"ParamUsedTwice", {"Mul", "Tanh"}, [](ModelBuilder& b) {
                     Value* p = b.Param({2, 3});
                     b.Output(b.Op("Mul", {b.Op("Tanh", {p}), b.Op("Mul", {p, b.Input({2, 3})})}));
                   }});
}

// ---------------------------------------------------------------------------
// Further configurations of the window ops and the shape ops: auto_pad,
// ceil_mode, dilations, 3-D, scalar and default inputs.

Attrs Window(const std::vector<int64_t>& kernel, const std::vector<int64_t>& strides,
             const std::string& auto_pad = "") {
  Attrs a = WithInts(WithInts(A(), "kernel_shape", kernel), "strides", strides);
  if (!auto_pad.empty()) a.SetString("auto_pad", auto_pad);
  return a;
}

void AddMoreWindowCases(std::vector<RuleCase>& cases) {
  for (const char* pad : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    cases.push_back({std::string("Conv_2D_AutoPad_") + pad, {"Conv"}, [=](ModelBuilder& b) {
                       Value* x = DataPlusParam(b, {2, 2, 5, 6});
                       b.Output(b.Op("Conv", {x, b.Param({3, 2, 3, 2}), b.Param({3})}, Window({3, 2}, {2, 2}, pad)));
                     }});
  }
  cases.push_back({"Conv_3D_StridePads", {"Conv"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 2, 4, 3, 4});
                     Attrs a = WithInts(A(), "strides", {2, 1, 2});
                     a.SetInts("pads", {1, 0, 1, 0, 1, 0});
                     b.Output(b.Op("Conv", {x, b.Param({2, 2, 2, 2, 3}), b.Param({2})}, a));
                   }});
  cases.push_back({"ConvTranspose_2D_Dilations", {"ConvTranspose"}, [](ModelBuilder& b) {
                     Value* x = DataPlusParam(b, {2, 2, 3, 3});
                     Attrs a = WithInts(WithInts(A(), "dilations", {2, 1}), "pads", {1, 1, 0, 0});
                     b.Output(b.Op("ConvTranspose", {x, b.Param({2, 3, 2, 3}), b.Param({3})}, a));
                   }});
  for (const char* pad : {"SAME_UPPER", "SAME_LOWER"}) {
    cases.push_back({std::string("ConvTranspose_2D_AutoPad_") + pad, {"ConvTranspose"}, [=](ModelBuilder& b) {
                       Value* x = DataPlusParam(b, {2, 2, 3, 3});
                       Attrs a = WithInts(A(), "strides", {2, 2});
                       a.SetString("auto_pad", pad);
                       b.Output(b.Op("ConvTranspose", {x, b.Param({2, 2, 3, 2})}, a));
                     }});
  }
  cases.push_back({"MaxPool_CeilMode", {"MaxPool"}, [](ModelBuilder& b) {
                     Attrs a = WithInt(Window({2, 3}, {2, 2}), "ceil_mode", 1);
                     b.Output(b.Op("MaxPool", {DataPlusParam(b, {2, 2, 5, 6})}, a));
                   }});
  cases.push_back({"MaxPool_Dilations", {"MaxPool"}, [](ModelBuilder& b) {
                     Attrs a = WithInts(Window({2, 2}, {1, 1}), "dilations", {2, 1});
                     b.Output(b.Op("MaxPool", {DataPlusParam(b, {2, 2, 5, 4})}, a));
                   }});
  cases.push_back({"MaxPool_AutoPad_SAME_UPPER", {"MaxPool"}, [](ModelBuilder& b) {
                     b.Output(b.Op("MaxPool", {DataPlusParam(b, {2, 2, 5, 5})}, Window({3, 3}, {2, 2}, "SAME_UPPER")));
                   }});
  for (int include : {0, 1}) {
    cases.push_back(
        {"AveragePool_CeilMode_CountIncludePad" + std::to_string(include), {"AveragePool"}, [include](ModelBuilder& b) {
           Attrs a = WithInt(WithInt(Window({3, 2}, {2, 2}), "ceil_mode", 1), "count_include_pad", include);
           a.SetInts("pads", {1, 0, 0, 1});
           b.Output(b.Op("AveragePool", {DataPlusParam(b, {2, 2, 6, 5})}, a));
         }});
  }
  cases.push_back(
      {"AveragePool_AutoPad_SAME_LOWER", {"AveragePool"}, [](ModelBuilder& b) {
         b.Output(b.Op("AveragePool", {DataPlusParam(b, {2, 2, 5, 5})}, Window({2, 2}, {2, 2}, "SAME_LOWER")));
       }});
  cases.push_back({"AveragePool_1D", {"AveragePool"}, [](ModelBuilder& b) {
                     b.Output(b.Op("AveragePool", {DataPlusParam(b, {2, 3, 7})}, Window({3}, {2})));
                   }});
  cases.push_back({"GlobalAveragePool_1D", {"GlobalAveragePool"}, [](ModelBuilder& b) {
                     b.Output(b.Op("GlobalAveragePool", {DataPlusParam(b, {2, 3, 5})}));
                   }});
  RuleCase bn3{"BatchNormalization_Training_3D", {"BatchNormTraining"}, BatchNorm({2, 3, 4})};
  cases.push_back(bn3);
}

void AddMoreShapeCases(std::vector<RuleCase>& cases) {
  cases.push_back({"Softmax_2D_Axis0", {"Softmax"}, [](ModelBuilder& b) {
                     Value* y = b.Op("Softmax", {Scaled(b, {2, 3})}, WithInt(A(), "axis", 0));
                     b.Output(b.Op("Mul", {y, b.Const({2, 3}, 0.5f, 2.0f)}));
                   }});
  cases.push_back(
      {"Gemm_ScalarC_Beta", {"Gemm"}, [](ModelBuilder& b) {
         b.Output(b.Op("Gemm", {b.Input({2, 3}), b.Param({3, 4}), b.Param({})}, WithFloat(A(), "beta", -2.0f)));
       }});
  cases.push_back({"MatMul_3Dx3D_BroadcastFirstBatch", {"MatMul"}, [](ModelBuilder& b) {
                     b.Output(b.Op("MatMul", {b.Param({1, 3, 4}), b.Param({2, 4, 5})}));
                   }});
  cases.push_back(
      {"Pow_ScalarConstantExponent", {"Pow"}, [](ModelBuilder& b) {
         b.Output(b.Op("Pow", {b.Op("Add", {b.Input({2, 3}), b.ParamAwayFromZero({2, 3})}), b.Scalar(3.0f)}));
       }});
  cases.push_back({"Div_ParamBothSides", {"Div"}, [](ModelBuilder& b) {
                     Value* p = b.Param({2, 3}, 0.5f, 1.5f);
                     b.Output(b.Op("Div", {b.Op("Mul", {p, b.Input({2, 3})}), p}));
                   }});
  cases.push_back({"ReduceSum_NoopWithEmptyAxes", {"ReduceSum"}, [](ModelBuilder& b) {
                     b.Output(b.Op("ReduceSum", {Scaled(b, {2, 3})}, WithInt(A(), "noop_with_empty_axes", 1)));
                   }});
  cases.push_back({"Squeeze_NoAxes", {"Squeeze"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Squeeze", {Scaled(b, {2, 1, 3, 1})}));
                   }});
  cases.push_back({"Gather_ScalarIndex_Axis1", {"Gather"}, [](ModelBuilder& b) {
                     Value* g = b.Op("Gather", {b.Param({2, 4, 3}), b.Ints({}, {-2})}, WithInt(A(), "axis", 1));
                     b.Output(b.Op("Mul", {g, b.Input({2, 3})}));
                   }});
  cases.push_back({"Slice_NegativeAxes", {"Slice"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Slice", {Scaled(b, {2, 5, 4}), b.Ints({1, 0}), b.Ints({4, -1}), b.Ints({-2, -1})}));
                   }});
  cases.push_back({"Concat_NegativeAxis", {"Concat"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Concat", {Scaled(b, {2, 3}), b.Param({2, 2})}, WithInt(A(), "axis", -1)));
                   }});
  cases.push_back({"Flatten_Axis0", {"Flatten"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Flatten", {Scaled(b, {2, 3, 2})}, WithInt(A(), "axis", 0)));
                   }});
  cases.push_back({"Transpose_4D", {"Transpose"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Transpose", {Scaled(b, {2, 3, 1, 4})}, WithInts(A(), "perm", {0, 3, 1, 2})));
                   }});
  cases.push_back({"Expand_ShapeOfSmallerRank", {"Expand"}, [](ModelBuilder& b) {
                     Value* y = b.Op("Expand", {b.Param({2, 1, 4}), b.Ints({3, 1})});
                     b.Output(b.Op("Mul", {y, b.Input({2, 3, 4})}));
                   }});
  cases.push_back({"Cast_FloatToDouble", {"Cast"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Cast", {Scaled(b, {2, 3})}, WithInt(A(), "to", 11)));
                   }});
}

// ---------------------------------------------------------------------------
// Recurrent ops (BPTT): batch-first data [N=2, T=3, I=2], hidden 3; every weight,
// bias, initial state and peephole a parameter.

struct RecurrentSpec {
  std::string op;
  int gates;
  Attrs attrs;
  int output = 0;          // which output is the model's: Y (0), Y_h (1), Y_c (2)
  bool lengths = false;    // sequence_lens {3, 2}
  bool peepholes = false;  // LSTM's P
};

Build Recurrent(RecurrentSpec spec) {
  return [=](ModelBuilder& b) {
    constexpr int64_t N = 2, T = 3, I = 2, H = 3;
    const bool batch_first = spec.attrs.GetInt("layout", 0) == 1;
    const int64_t D = spec.attrs.GetString("direction", "forward") == "bidirectional" ? 2 : 1;
    Value* x = b.Input({N, T, I});
    if (!batch_first) x = b.Op("Transpose", {x}, WithInts(A(), "perm", {1, 0, 2}));
    const Dims state = batch_first ? Dims{N, D, H} : Dims{D, N, H};
    std::vector<Value*> in = {x,
                              b.Param({D, spec.gates * H, I}),
                              b.Param({D, spec.gates * H, H}),
                              b.Param({D, 2 * spec.gates * H}),
                              spec.lengths ? b.Ints({3, 2}) : nullptr,
                              b.Param(state)};
    if (spec.op == "LSTM") {
      in.push_back(b.Param(state));
      if (spec.peepholes) in.push_back(b.Param({D, 3 * H}));
    }
    Value* y = b.AddNode(spec.op, in, spec.attrs, spec.op == "LSTM" ? 3 : 2)->output(spec.output);
    // Batch first for the loss: Y [T, D, N, H] -> [N, T, D, H], states [D, N, H] -> [N, D, H].
    if (!batch_first) {
      y = b.Op(
          "Transpose", {y},
          WithInts(A(), "perm", spec.output == 0 ? std::vector<int64_t>{2, 0, 1, 3} : std::vector<int64_t>{1, 0, 2}));
    }
    b.Output(y);
  };
}

Attrs WithString(Attrs a, const std::string& n, const std::string& v) {
  a.SetString(n, v);
  return a;
}
Attrs WithStrings(Attrs a, const std::string& n, const std::vector<std::string>& v) {
  a.SetStrings(n, v);
  return a;
}

void AddRecurrentCases(std::vector<RuleCase>& cases) {
  const Attrs bidirectional = WithString(A(), "direction", "bidirectional");
  const Attrs reverse = WithString(A(), "direction", "reverse");
  const Attrs batch_first = WithInt(A(), "layout", 1);
  RuleCase rnn{"RNN_Forward_Y", {"RNN"}, Recurrent({"RNN", 1, A()})};
  // One element of dL/d(initial_h) is ~1.5e-5 with this seed: its finite-difference
  // noise (abs 8e-10, as for every other parameter) is 5e-5 of it.
  rnn.tolerance = 1e-4;
  cases.push_back(rnn);
  cases.push_back({"RNN_Bidirectional_BatchFirst_SequenceLens_Yh",
                   {"RNN"},
                   Recurrent({"RNN", 1, WithInt(bidirectional, "layout", 1), 1, true})});
  Attrs scaled_tanh = WithStrings(reverse, "activations", {"ScaledTanh"});
  scaled_tanh.SetFloats("activation_alpha", {1.5f});
  scaled_tanh.SetFloats("activation_beta", {0.7f});
  cases.push_back({"RNN_Reverse_ScaledTanh_Y", {"RNN"}, Recurrent({"RNN", 1, scaled_tanh})});
  cases.push_back({"GRU_Forward_Y", {"GRU"}, Recurrent({"GRU", 3, A()})});
  cases.push_back({"GRU_LinearBeforeReset_Reverse_BatchFirst_SequenceLens_Y",
                   {"GRU"},
                   Recurrent({"GRU", 3, WithInt(WithInt(reverse, "linear_before_reset", 1), "layout", 1), 0, true})});
  cases.push_back({"GRU_Bidirectional_Yh", {"GRU"}, Recurrent({"GRU", 3, bidirectional, 1})});
  cases.push_back({"LSTM_Forward_Peepholes_Y", {"LSTM"}, Recurrent({"LSTM", 4, A(), 0, false, true})});
  cases.push_back({"LSTM_Bidirectional_BatchFirst_SequenceLens_Peepholes_Yh",
                   {"LSTM"},
                   Recurrent({"LSTM", 4, WithInt(bidirectional, "layout", 1), 1, true, true})});
  Attrs coupled = WithStrings(WithInt(batch_first, "input_forget", 1), "activations", {"Sigmoid", "Softsign", "Elu"});
  cases.push_back({"LSTM_InputForget_SoftsignElu_Yc", {"LSTM"}, Recurrent({"LSTM", 4, coupled, 2, false, true})});
}

// ONNX's class losses inside the model: scores [2, 3, 2] = x + p, fixed int64 targets
// (one ignored) and fixed class weights; a scalar loss is spread over a [2] input.
Value* Scores(ModelBuilder& b) { return b.Op("Add", {b.Input({2, 3, 2}), b.Param({2, 3, 2})}); }
Attrs ClassLossAttrs(const std::string& reduction) {
  Attrs a;
  a.SetString("reduction", reduction);
  a.SetInt("ignore_index", 2);
  return a;
}
Value* Spread(ModelBuilder& b, Value* loss, const std::string& reduction) {
  return reduction == "none" ? loss : b.Op("Mul", {loss, b.Input({2})});
}

void AddOnnxLossCases(std::vector<RuleCase>& cases) {
  for (const char* reduction : {"none", "sum", "mean"}) {
    cases.push_back(
        {std::string("NegativeLogLikelihoodLoss_") + reduction, {"NegativeLogLikelihoodLoss"}, [=](ModelBuilder& b) {
           Value* lp = b.Op("LogSoftmax", {Scores(b)}, WithInt(A(), "axis", 1));
           Value* target = b.Ints({2, 2}, {0, 2, 1, 0});
           b.Output(Spread(
               b, b.Op("NegativeLogLikelihoodLoss", {lp, target, b.Const({3}, 0.5f, 2.0f)}, ClassLossAttrs(reduction)),
               reduction));
         }});
  }
  for (const char* reduction : {"none", "mean"}) {
    cases.push_back(
        {std::string("SoftmaxCrossEntropyLoss_") + reduction, {"SoftmaxCrossEntropyLoss"}, [=](ModelBuilder& b) {
           b.Output(Spread(
               b, b.Op("SoftmaxCrossEntropyLoss", {Scores(b), b.Ints({2, 2}, {1, 0, 2, 1})}, ClassLossAttrs(reduction)),
               reduction));
         }});
  }
  // Both outputs reach the loss: the gradients of loss and log_prob add up.
  cases.push_back({"SoftmaxCrossEntropyLoss_LossAndLogProb", {"SoftmaxCrossEntropyLoss"}, [](ModelBuilder& b) {
                     Node* n = b.AddNode("SoftmaxCrossEntropyLoss",
                                         {Scores(b), b.Ints({2, 2}, {1, 0, 2, 1}), b.Const({3}, 0.5f, 2.0f)},
                                         ClassLossAttrs("sum"), 2);
                     b.Output(b.Op("Add", {b.Op("Mul", {n->output(0), b.Input({2, 3, 2})}), n->output(1)}));
                   }});
}

// The array ops (ir/gradients/array_grad.cc): data = x * p so that every parameter is used.
Value* Data(ModelBuilder& b, const Dims& dims) { return b.Op("Mul", {b.Input(dims), b.Param(dims)}); }

void AddArrayCases(std::vector<RuleCase>& cases) {
  for (int64_t exclusive : {0, 1}) {
    for (int64_t reverse : {0, 1}) {
      cases.push_back({"CumSum_Exclusive" + std::to_string(exclusive) + "_Reverse" + std::to_string(reverse),
                       {"CumSum"},
                       [=](ModelBuilder& b) {
                         b.Output(b.Op("CumSum", {Data(b, {2, 3, 4}), b.Ints({}, {1})},
                                       WithInt(WithInt(A(), "exclusive", exclusive), "reverse", reverse)));
                       }});
    }
  }
  for (const char* op : {"DepthToSpace", "SpaceToDepth"}) {
    for (const char* mode : {"DCR", "CRD"}) {
      cases.push_back({std::string(op) + "_" + mode, {op}, [=](ModelBuilder& b) {
                         Attrs a = WithInt(A(), "blocksize", 2);
                         a.SetString("mode", mode);
                         b.Output(b.Op(op, {Data(b, {2, 8, 2, 4})}, a));
                       }});
    }
  }
  // Opset-18 reductions: the axes as a constant input instead of the attribute.
  for (const char* op : {"ReduceMean", "ReduceMax"}) {
    cases.push_back({std::string(op) + "_AxesInput", {op}, [=](ModelBuilder& b) {
                       b.Output(b.Op(op, {Data(b, {2, 3, 4}), b.Ints({-1})}, WithInt(A(), "keepdims", 0)));
                     }});
  }
  cases.push_back({"Tile", {"Tile"}, [](ModelBuilder& b) {
                     b.Output(b.Op("Tile", {Data(b, {2, 3}), b.Ints({1, 2})}));
                   }});
  cases.push_back({"TopK_Values", {"TopK"}, [](ModelBuilder& b) {
                     Node* n = b.AddNode("TopK", {Data(b, {2, 5, 3}), b.Ints({2})}, WithInt(A(), "axis", 1), 2);
                     b.Output(n->output(0));
                   }});
  cases.push_back({"GatherND", {"GatherND"}, [](ModelBuilder& b) {
                     b.Output(b.Op("GatherND", {Data(b, {2, 3, 4}), b.Ints({3, 2}, {0, 1, 1, 2, 0, 1})}));
                   }});
  for (const char* reduction : {"none", "add"}) {
    Attrs a;
    a.SetString("reduction", reduction);
    cases.push_back({std::string("ScatterElements_") + reduction, {"ScatterElements"}, [=](ModelBuilder& b) {
                       b.Output(b.Op("ScatterElements",
                                     {Data(b, {2, 4, 3}), b.Ints({2, 2, 3}, {0, 2, 1, 3, 1, 0, 1, 0, 3, 2, 3, 1}),
                                      b.Param({2, 2, 3})},
                                     WithInt(a, "axis", 1)));
                     }});
    cases.push_back(
        {std::string("ScatterND_") + reduction, {"ScatterND"}, [=](ModelBuilder& b) {
           b.Output(b.Op("ScatterND", {Data(b, {2, 4, 3}), b.Ints({2, 2}, {0, 1, 1, 3}), b.Param({2, 3})}, a));
         }});
  }
}

std::vector<RuleCase> AllCases() {
  std::vector<RuleCase> cases;
  AddBinaryCases(cases);
  AddUnaryCases(cases);
  AddLinalgCases(cases);
  AddConvCases(cases);
  AddNormalizationCases(cases);
  AddShapeCases(cases);
  AddLossCases(cases);
  AddCompositionCases(cases);
  AddMoreWindowCases(cases);
  AddMoreShapeCases(cases);
  AddRecurrentCases(cases);
  AddOnnxLossCases(cases);
  AddArrayCases(cases);
  return cases;
}

const std::vector<RuleCase>& Cases() {
  static const std::vector<RuleCase> cases = AllCases();
  return cases;
}

// Seeds from the case's name, not its index: adding a case leaves the others' data alone.
uint64_t CaseSeed(const std::string& name) {
  uint64_t seed = 1469598103934665603ull;  // FNV-1a
  for (char ch : name) seed = (seed ^ static_cast<unsigned char>(ch)) * 1099511628211ull;
  return seed % 1000003;
}

std::unique_ptr<Graph> BuildModel(const RuleCase& c) {
  ModelBuilder b(0x5EED0000 + CaseSeed(c.name));
  c.build(b);
  return b.Take();
}

std::string CaseName(const ::testing::TestParamInfo<size_t>& info) {
  std::string name = Cases()[info.param].name;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

class GradientRulesTest : public ::testing::TestWithParam<size_t> {};

TEST_P(GradientRulesTest, MatchesFiniteDifferences) {
  const RuleCase& c = Cases()[GetParam()];
  std::unique_ptr<Graph> model = BuildModel(c);
  int num_params = 0;
  for (Value* v : model->values()) num_params += v->is_parameter() ? 1 : 0;

  // The covered ops really are on the path of the loss graph gradcheck differentiates.
  TrainingConfig config;
  config.loss = c.loss;
  config.batch_size = c.batch_size;
  config.training_mode = c.training_mode;
  std::vector<Value*> params;
  auto loss_graph = BuildLossGraph(*model, config, &params);
  ASSERT_TRUE(loss_graph.ok()) << loss_graph.status().message();
  std::set<std::string> ops;
  for (Node* n : (*loss_graph)->NodeList()) ops.insert(n->op_type());
  for (const std::string& op : c.covers) EXPECT_TRUE(ops.count(op)) << op << " is not in the loss graph of " << c.name;

  GradcheckOptions options;
  options.loss = c.loss;
  options.batch_size = c.batch_size;
  options.seed = CaseSeed(c.name);
  options.training_mode = c.training_mode;
  auto report = RunGradcheck(*model, options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  EXPECT_EQ(static_cast<int>(report->size()), num_params) << "every parameter of " << c.name << " reaches the loss";
  for (const TensorGradcheck& r : *report) {
    EXPECT_GT(r.checked, 0) << r.parameter;
    if (std::getenv("KILN_GRADCHECK_VERBOSE")) {
      std::printf("%-45s %-6s %-14s checked %3lld  rel %.2e  abs %.2e\n", c.name.c_str(), r.parameter.c_str(),
                  DimsToString(r.dims).c_str(), static_cast<long long>(r.checked), r.max_rel_error, r.max_abs_error);
    }
    EXPECT_LT(r.max_rel_error, c.tolerance) << c.name << ": parameter " << r.parameter << " " << DimsToString(r.dims)
                                            << " (max abs error " << r.max_abs_error << ")";
  }
}

INSTANTIATE_TEST_SUITE_P(GradientRules, GradientRulesTest, ::testing::Range<size_t>(0, Cases().size()), CaseName);

TEST(GradientRulesCoverage, EveryRuleHasACase) {
  std::set<std::string> covered;
  std::set<std::string> names;
  for (const RuleCase& c : Cases()) {
    covered.insert(c.covers.begin(), c.covers.end());
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case name " << c.name;
  }
  for (const std::string& op : OpsWithGradientRules()) {
    EXPECT_TRUE(covered.count(op)) << "the gradient rule of " << op
                                   << " has no gradcheck case in gradient_rules_test.cc";
  }
}

// ---------------------------------------------------------------------------
// Autodiff's errors.

// The model's MSE loss graph at batch 2 with autodiff's gradients of its parameters.
struct Differentiated {
  std::unique_ptr<Graph> graph;  // null (and a test failure) when the loss graph cannot be built
  std::vector<Value*> params, grads;
  Status status;  // AppendGradients'
};
Differentiated Differentiate(const Graph& model) {
  TrainingConfig config;
  config.loss = "mse";
  config.batch_size = 2;
  Differentiated d;
  auto g = BuildLossGraph(model, config, &d.params);
  EXPECT_TRUE(g.ok()) << g.status().message();
  if (!g.ok()) return d;
  d.graph = std::move(g).value();
  auto grads = AppendGradients(*d.graph, d.graph->outputs()[0], d.params);
  d.status = grads.status();
  if (grads.ok()) d.grads = std::move(grads).value();
  return d;
}

TEST(GradientRulesAutodiff, OneErrorNamesEveryNodeWithoutARule) {
  ModelBuilder b(1);
  Value* x = b.Op("Mul", {b.Input({2, 3, 4, 4}), b.Param({1, 3, 4, 4})});
  Node* lrn = b.graph().AddNode("LRN", "my_lrn", {x}, 1, WithInt(A(), "size", 3));
  Node* prelu = b.graph().AddNode("PRelu", "my_prelu", {lrn->output(0), b.Const({3, 1, 1}, 0.1f, 0.3f)});
  b.Output(prelu->output(0));
  std::unique_ptr<Graph> model = b.Take();
  Differentiated d = Differentiate(*model);
  ASSERT_NE(d.graph, nullptr);
  ASSERT_FALSE(d.status.ok());
  const std::string& msg = d.status.message();
  EXPECT_NE(msg.find("2 node(s)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("my_lrn (LRN)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("my_prelu (PRelu)"), std::string::npos) << msg;

  // gradcheck reports the same single error.
  GradcheckOptions options;
  auto report = RunGradcheck(*model, options);
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("my_lrn (LRN)"), std::string::npos);
  EXPECT_NE(report.status().message().find("my_prelu (PRelu)"), std::string::npos);
}

// LSTM's workspace: autodiff adds it to the forward node and wires it into LSTMGrad; the
// model the loss graph was cloned from keeps ONNX's three outputs. X is data: no dX.
TEST(GradientRulesAutodiff, LstmGradReadsTheForwardsWorkspace) {
  ModelBuilder b(3);
  Recurrent({"LSTM", 4, WithInt(A(), "layout", 1), 1})(b);
  std::unique_ptr<Graph> model = b.Take();
  Differentiated d = Differentiate(*model);
  ASSERT_NE(d.graph, nullptr);
  ASSERT_TRUE(d.status.ok()) << d.status.message();
  const Node *lstm = nullptr, *grad = nullptr;
  for (const Node* n : d.graph->NodeList()) {
    if (n->op_type() == "LSTM") lstm = n;
    if (n->op_type() == "LSTMGrad") grad = n;
  }
  ASSERT_NE(lstm, nullptr);
  ASSERT_NE(grad, nullptr);
  ASSERT_EQ(lstm->num_outputs(), 4);
  Value* workspace = lstm->output(recurrent::kWorkspace);
  EXPECT_EQ(workspace->dims(), (Dims{1, 2, 3, recurrent::kWorkspaceParts * 3}));  // [D, N, T, 6H]: X is [N, T, I]
  EXPECT_EQ(grad->input(recurrent::GradWorkspaceInput()), workspace);
  // X is the model's input: no dX (an empty output 0).
  EXPECT_EQ(grad->attrs().GetInt("x_gradient", 1), 0);
  EXPECT_EQ(grad->output(0)->dims(), Dims{0});
  for (const Node* n : model->NodeList()) {
    if (n->op_type() == "LSTM") {
      EXPECT_EQ(n->num_outputs(), 3);
    }
  }
}

TEST(GradientRulesAutodiff, ParameterNotReachingTheLossGetsNoGradient) {
  ModelBuilder b(2);
  Value* used = b.Param({2, 3});
  Value* dead_end = b.Param({2, 3});  // feeds a node whose output is not used
  Value* unused = b.Param({4});       // feeds nothing
  Value* x = b.Input({2, 3});
  b.Op("Relu", {b.Op("Mul", {dead_end, x})});
  b.Output(b.Op("Mul", {used, x}));
  std::unique_ptr<Graph> model = b.Take();
  Differentiated d = Differentiate(*model);
  ASSERT_NE(d.graph, nullptr);
  ASSERT_TRUE(d.status.ok()) << d.status.message();
  ASSERT_EQ(d.params.size(), 3u);
  std::map<std::string, Value*> by_name;
  for (size_t i = 0; i < d.params.size(); ++i) by_name[d.params[i]->name()] = d.grads[i];
  EXPECT_NE(by_name.at(used->name()), nullptr);
  EXPECT_EQ(by_name.at(dead_end->name()), nullptr);
  EXPECT_EQ(by_name.at(unused->name()), nullptr);

  GradcheckOptions options;
  auto report = RunGradcheck(*model, options);
  ASSERT_TRUE(report.ok()) << report.status().message();
  ASSERT_EQ(report->size(), 1u);
  EXPECT_EQ((*report)[0].parameter, used->name());
  EXPECT_LT((*report)[0].max_rel_error, 1e-5);
}

}  // namespace
}  // namespace kiln
