// The optimizer table (ir/core/optimizer.h): every row names a registered update op whose
// schema has the row's attributes, and typed hyperparameters survive the round trip
// through a node's attributes (compiler writes, runtime kernel reads).
#include <gtest/gtest.h>

#include "ir/core/op_registry.h"
#include "ir/core/optimizer.h"

namespace kiln {
namespace {

TEST(OptimizerTableTest, RowsMatchTheUpdateOps) {
  ASSERT_EQ(AllOptimizers().size(), 7u);
  for (const OptimizerDef& def : AllOptimizers()) {
    const OpDef* op = FindOpDef(def.update_op);
    ASSERT_TRUE(op) << def.name << ": " << def.update_op;
    EXPECT_EQ(op->min_inputs, 2 + static_cast<int>(def.slots.size()) + (def.reads_step ? 1 : 0)) << def.name;
    EXPECT_EQ(op->min_outputs, 1 + static_cast<int>(def.slots.size())) << def.name;
    const Attrs attrs = UpdateAttrs(def, def.defaults);
    for (const auto& [name, attr] : attrs.all()) {
      bool declared = false;
      for (const AttrSpec& spec : op->attrs) declared = declared || spec.name == name;
      EXPECT_TRUE(declared) << def.update_op << " does not declare " << name;
    }
    EXPECT_GT(def.defaults.lr, 0.0f) << def.name;
    EXPECT_EQ(FindOptimizer(def.name), &def);
  }
  EXPECT_EQ(FindOptimizer("lbfgs"), nullptr);
  EXPECT_EQ(FindOptimizerByUpdateOp("MomentumUpdate")->name, "momentum");
  EXPECT_EQ(OptimizerNameList(), "sgd, momentum, nesterov, adagrad, adadelta, rmsprop or adam");
}

TEST(OptimizerTableTest, HyperparametersRoundTripThroughAttributes) {
  const OptimizerDef& adam = *FindOptimizer("adam");
  OptimizerHyperparams h = adam.defaults;
  h.lr = 0.25f;
  h.weight_decay = 0.5f;
  h.beta1 = 0.8f;
  h.epsilon = 1e-3f;
  const OptimizerHyperparams back = UpdateHyperparams(adam, UpdateAttrs(adam, h));
  EXPECT_EQ(back.lr, 0.25f);
  EXPECT_EQ(back.weight_decay, 0.5f);
  EXPECT_EQ(back.beta1, 0.8f);
  EXPECT_EQ(back.beta2, 0.999f);
  EXPECT_EQ(back.epsilon, 1e-3f);

  // Missing attributes read as the row's defaults; weight decay 0 is not written.
  const OptimizerDef& nesterov = *FindOptimizer("nesterov");
  Attrs only_lr;
  only_lr.SetFloat("lr", 0.1f);
  const OptimizerHyperparams read = UpdateHyperparams(*FindOptimizer("rmsprop"), only_lr);
  EXPECT_EQ(read.lr, 0.1f);
  EXPECT_EQ(read.rho, 0.99f);
  EXPECT_EQ(read.epsilon, 1e-8f);
  EXPECT_FALSE(UpdateAttrs(nesterov, nesterov.defaults).Has("weight_decay"));
  EXPECT_EQ(UpdateAttrs(nesterov, nesterov.defaults).GetInt("nesterov", 0), 1);
}

}  // namespace
}  // namespace kiln
